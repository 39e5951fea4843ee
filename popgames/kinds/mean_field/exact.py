"""Exact mean-field machinery on finite games: distributions, values, best responses, exploitability.

A finite-horizon mean-field game has states ``x < X``, actions ``a < A``, decision times
``t < T``, an initial distribution ``mu_0`` and, at each time, transitions
``P_t(x' | x, a, mu_t)`` and rewards ``r_t(x, a, mu_t)`` that depend on the whole
distribution ``mu_t`` (``rules.transition(t, mu) -> [X, A, X]``, ``rules.reward(t, mu) ->
[X, A]``). A policy is an array ``pi[t, x, a]``. Games of several populations and graphon
games add a leading agent axis to all of these (``mu0 [K, X]``, ``pi[k, t, x, a]``,
``P [K, X, A, X]``); their rules see every population's (every grid agent's) distribution.
Populations' figures add up (OpenSpiel's multi-population NashConv is the sum over
populations), while a graphon's grid samples a continuum of agents ``alpha`` whose
figures are averaged: such rules declare :class:`AgentGrid`. Every function here works
with or without the agent axis. Everything is vectorised over agents,
states and actions (one ``einsum`` per time step); the loops run over time only, which the
distribution's dependence on the past makes sequential.

Given ``mu`` (the distribution flow a policy induces), the representative agent faces a
finite MDP; its best response is found by backward induction, ties going to the lowest
action index. The exploitability of ``pi`` is ``max_pi' J(pi', mu^pi) - J(pi, mu^pi)``
with ``J(pi, mu) = sum_x mu_0(x) V_0^{pi, mu}(x)``: zero exactly at a mean-field Nash
equilibrium, and never negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

#: Relative tolerance under which two action values count as tied (the lowest index wins).
TIE_RTOL = 1e-12


class MeanFieldRules(Protocol):
    """What a mean-field game's rules provide (built by its ``rules.py``)."""

    n_states: int
    n_actions: int
    horizon: int
    mu0: np.ndarray   # [X] (graphons: [M, X]), on the simplex

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        """``P[x, a, x']`` (graphons: ``[M, X, A, X]``) at time ``t`` given ``mu [X]`` (``[M, X]``)."""
        ...

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        """``r[x, a]`` (graphons: ``[M, X, A]``) at time ``t`` given ``mu [X]`` (``[M, X]``)."""
        ...

    @property
    def agents(self) -> tuple[int, ...]:
        """``()`` for one population, ``(K,)`` for ``K`` populations or a graphon's grid of ``K`` agents."""
        ...


class AgentGrid:
    """Declared (subclassed) by rules whose agent axis is a grid sampling a continuum of agents
    (a graphon game's ``alpha_i``), not a list of populations: their per-agent figures are
    averaged over the grid instead of added up."""


def combine(per_agent: np.ndarray, grid: bool) -> float:
    """One figure from per-agent ones: the mean over a ``grid``, else the sum over populations."""
    per_agent = np.atleast_1d(per_agent)
    return float(per_agent.mean() if grid else per_agent.sum())


def policy_shape(rules: MeanFieldRules) -> tuple[int, ...]:
    """``(T, X, A)``, or ``(M, T, X, A)`` for a graphon game."""
    return (*rules.agents, rules.horizon, rules.n_states, rules.n_actions)


def uniform_policy(rules: MeanFieldRules) -> np.ndarray:
    """The uniformly random policy."""
    return np.full(policy_shape(rules), 1.0 / rules.n_actions)


def flow(rules: MeanFieldRules, policy: np.ndarray, rewards: bool = True
         ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The distribution flow ``mu [..., T + 1, X]`` of ``policy``, with the transitions ``P_t``
    and rewards ``r_t`` it induces (computed once, reused by evaluation and best responses;
    ``rewards=False`` skips the rewards, for a flow alone)."""
    agents, n, a = tuple(rules.agents), rules.n_states, rules.n_actions
    # Time-major while filling (each step's slab contiguous), agents first on return.
    mu = np.empty((rules.horizon + 1, *agents, n))
    mu[0] = rules.mu0
    by_time = np.moveaxis(policy, -3, 0) if agents else policy
    transitions, payoffs = [], []
    for t in range(rules.horizon):
        now = mu[t]          # one object for both calls (a graphon's rules reuse its field)
        p = rules.transition(t, now)
        transitions.append(p)
        if rewards:
            payoffs.append(rules.reward(t, now))
        # mu'(y) = sum_{x, a} mu(x) pi(a | x) P(y | x, a): one batched matmul (einsum's
        # per-call overhead dominates on these small arrays).
        mass = (now[..., None] * by_time[t]).reshape(*agents, 1, n * a)
        mu[t + 1] = (mass @ p.reshape(*agents, n * a, n))[..., 0, :]
    return np.moveaxis(mu, 0, -2), transitions, payoffs


#: Up to this many actions, reductions over the action axis run as elementwise folds: numpy's
#: reduce along a short last axis costs several times more on these small arrays.
FOLD_ACTIONS = 8


def _action_max(q: np.ndarray) -> np.ndarray:
    """``q.max(axis=-1)``."""
    if q.shape[-1] > FOLD_ACTIONS:
        return q.max(axis=-1)
    out = q[..., 0]
    for a in range(1, q.shape[-1]):
        out = np.maximum(out, q[..., a])
    return out


def _action_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)``."""
    if x.shape[-1] > FOLD_ACTIONS:
        return x.sum(axis=-1)
    out = x[..., 0].copy()
    for a in range(1, x.shape[-1]):
        out += x[..., a]
    return out


def _backward(transitions: list[np.ndarray], rewards: list[np.ndarray], policy: np.ndarray | None
              ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray]:
    """One backward pass for ``policy`` (if given) and the optimum together: ``(Q^pi, V^pi,
    Q*, V*)``, each value ``[..., T + 1, X]`` with ``V[..., T, :] = 0``."""
    horizon = len(transitions)
    *agents, n, a = rewards[0].shape
    columns = 1 if policy is None else 2      # [optimal, policy] values side by side
    # Time-major while filling (each step's slab contiguous), agents first on return.
    q_all = np.empty((horizon, *agents, n, a, columns))
    v_all = np.empty((horizon + 1, *agents, n, columns))
    v_all[horizon] = 0.0
    for t in range(horizon - 1, -1, -1):
        # One batched matmul for both: E[..., x, a, c] = sum_y P(y | x, a) V_c(y).
        expected = (transitions[t].reshape(*agents, n * a, n) @ v_all[t + 1]).reshape(*agents, n, a, columns)
        q = np.add(rewards[t][..., None], expected, out=q_all[t])
        v_all[t, ..., 0] = _action_max(q[..., 0])
        if policy is not None:
            v_all[t, ..., 1] = _action_sum(policy[..., t, :, :] * q[..., 1])
    q_all, v_all = np.moveaxis(q_all, 0, -4), np.moveaxis(v_all, 0, -3)
    if policy is None:
        return None, None, q_all[..., 0], v_all[..., 0]
    return q_all[..., 1], v_all[..., 1], q_all[..., 0], v_all[..., 0]


def q_functions(transitions: list[np.ndarray], rewards: list[np.ndarray],
                policy: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``Q[..., t, x, a]`` and ``V[..., t, x]`` (``V[..., T, :] = 0``) of ``policy`` in the MDP
    that a fixed flow induces, or of the optimum when ``policy`` is ``None``."""
    q_pi, v_pi, q_best, v_best = _backward(transitions, rewards, policy)
    return (q_best, v_best) if policy is None else (q_pi, v_pi)


@dataclass(frozen=True)
class Evaluation:
    """Everything about one policy against its own flow, from one forward and one backward pass:
    the flow ``mu`` with its ``transitions`` and ``rewards``, the policy's ``q`` and the optimal
    ``q_best`` action values, and per agent ``value = J(pi, mu^pi)`` and ``best = max_pi' J``;
    ``grid`` says whether the agents are a graphon's grid (averaged) or populations (added)."""

    policy: np.ndarray
    mu: np.ndarray
    transitions: list[np.ndarray]
    rewards: list[np.ndarray]
    q: np.ndarray
    q_best: np.ndarray
    value: np.ndarray
    best: np.ndarray
    grid: bool = False

    @property
    def gaps(self) -> np.ndarray:
        """Each agent's exploitability (``[1]`` for one population), >= 0 but for round-off."""
        return np.maximum(np.atleast_1d(self.best - self.value), 0.0)


def evaluate(rules: MeanFieldRules, policy: np.ndarray, checked: bool = False) -> Evaluation:
    """The :class:`Evaluation` of ``policy`` (checked unless ``checked``: a loop's own iterates)."""
    policy = policy if checked else check_policy(rules, policy)
    mu, transitions, rewards = flow(rules, policy)
    q, v, q_best, v_best = _backward(transitions, rewards, policy)
    mu0 = np.asarray(rules.mu0)
    return Evaluation(policy, mu, transitions, rewards, q, q_best, (mu0 * v[..., 0, :]).sum(axis=-1),
                      (mu0 * v_best[..., 0, :]).sum(axis=-1), isinstance(rules, AgentGrid))


def policy_values(policy: np.ndarray, transitions: list[np.ndarray], rewards: list[np.ndarray]
                  ) -> np.ndarray:
    """``V[..., t, x]`` of ``policy`` in the MDP that a fixed flow induces (``V[T] = 0``)."""
    return q_functions(transitions, rewards, policy)[1]


def mix_policies(policies: Sequence[np.ndarray], flows: Sequence[np.ndarray], weights: Sequence[float]
                 ) -> np.ndarray:
    """The behaviour policy of a population in which a share ``weights[i]`` plays
    ``policies[i]`` (its flow ``flows[i]``, ``[..., T + 1, X]``): at each ``(t, x)`` the
    members' action distributions weighted by their shares of the mass there (Kuhn), so it
    induces the mixture's flow. Uniform where no member goes."""
    total = weighted = 0.0
    for policy, mu, weight in zip(policies, flows, weights):
        mass = weight * mu[..., :-1, :, None]
        total, weighted = total + mass, weighted + mass * policy
    return np.divide(weighted, total, out=np.full(np.shape(weighted), 1.0 / np.shape(weighted)[-1]),
                     where=total > 0)


def greedy(q: np.ndarray) -> np.ndarray:
    """The deterministic policy taking, among actions within ``TIE_RTOL`` of the best, the lowest."""
    best = q.max(axis=-1, keepdims=True)
    tied = q >= best - TIE_RTOL * np.maximum(np.abs(best), 1e-300)
    return np.eye(q.shape[-1])[tied.argmax(axis=-1)]


def boltzmann(q: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(q / temperature)`` over actions; temperature 0 is :func:`greedy`."""
    if temperature == 0:
        return greedy(q)
    weights = np.exp((q - _action_max(q)[..., None]) / temperature)
    return weights / _action_sum(weights)[..., None]


def best_response(transitions: list[np.ndarray], rewards: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic best response ``[..., T, X, A]`` to a fixed flow (backward induction,
    ties to the lowest action, :func:`greedy`) and the optimal values ``V[..., T + 1, X]``."""
    q, value = q_functions(transitions, rewards)
    return greedy(q), value


def exploitability(rules: MeanFieldRules, policy: np.ndarray) -> dict[str, Any]:
    """``max_pi' J(pi', mu^pi) - J(pi, mu^pi)`` with the pieces it is made of.

    Returns a dict: ``exploitability`` (graphons: the mean over the agent grid; several
    populations: the sum over them), ``value`` (``J(pi, mu^pi)``, combined alike),
    ``best_value``, ``per_agent`` (each population's or grid agent's exploitability
    ``[K]``; ``[1]`` for one population), ``mu`` (the flow) and ``best_response``.
    """
    evaluation = evaluate(rules, policy)
    return {**summary(evaluation), "best_response": greedy(evaluation.q_best)}


def summary(evaluation: Evaluation) -> dict[str, Any]:
    """The exploitability dict of :func:`exploitability` from an :class:`Evaluation`, without
    the best response (loops that do not need it skip building it)."""
    gaps, grid = evaluation.gaps, evaluation.grid
    return {"exploitability": combine(gaps, grid), "value": combine(evaluation.value, grid),
            "best_value": combine(evaluation.best, grid), "per_agent": gaps, "mu": evaluation.mu}


def check_policy(rules: MeanFieldRules, policy: Any, source: str = "<policy>") -> np.ndarray:
    """``policy`` as a float array of action distributions (:func:`policy_shape`); a bad one is
    a one-line error."""
    from popgames.core.errors import GameCardError

    policy = np.asarray(policy, dtype=np.float64)
    shape = policy_shape(rules)
    if policy.shape != shape:
        raise GameCardError(source, "policy", f"expected shape {shape} ({'M, ' if rules.agents else ''}"
                                              f"T, X, A), got {policy.shape}")
    if not np.isfinite(policy).all() or (policy < -1e-12).any() or \
            np.abs(policy.sum(axis=-1) - 1.0).max() > 1e-9:
        raise GameCardError(source, "policy", "rows are not probability distributions over actions")
    return policy
