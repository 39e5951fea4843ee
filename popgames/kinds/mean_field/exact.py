"""Exact mean-field machinery on finite games: distributions, values, best responses, exploitability.

A finite-horizon mean-field game has states ``x < X``, actions ``a < A``, decision times
``t < T``, an initial distribution ``mu_0`` and, at each time, transitions
``P_t(x' | x, a, mu_t)`` and rewards ``r_t(x, a, mu_t)`` that depend on the whole
distribution ``mu_t`` (``rules.transition(t, mu) -> [X, A, X]``, ``rules.reward(t, mu) ->
[X, A]``). A policy is an array ``pi[t, x, a]``. Graphon games add a leading axis over the
agents ``alpha`` to all of these (``mu0 [M, X]``, ``pi[alpha, t, x, a]``, ``P [M, X, A, X]``;
their rules see every agent's distribution and form the neighbourhood field themselves);
every function here works with or without that axis. Everything is vectorised over agents,
states and actions (one ``einsum`` per time step); the loops run over time only, which the
distribution's dependence on the past makes sequential.

Given ``mu`` (the distribution flow a policy induces), the representative agent faces a
finite MDP; its best response is found by backward induction, ties going to the lowest
action index. The exploitability of ``pi`` is ``max_pi' J(pi', mu^pi) - J(pi, mu^pi)``
with ``J(pi, mu) = sum_x mu_0(x) V_0^{pi, mu}(x)``: zero exactly at a mean-field Nash
equilibrium, and never negative.
"""

from __future__ import annotations

from typing import Any, Protocol

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
        """``()`` for one population, ``(M,)`` for a graphon game's agent grid."""
        ...


def policy_shape(rules: MeanFieldRules) -> tuple[int, ...]:
    """``(T, X, A)``, or ``(M, T, X, A)`` for a graphon game."""
    return (*rules.agents, rules.horizon, rules.n_states, rules.n_actions)


def uniform_policy(rules: MeanFieldRules) -> np.ndarray:
    """The uniformly random policy."""
    return np.full(policy_shape(rules), 1.0 / rules.n_actions)


def flow(rules: MeanFieldRules, policy: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The distribution flow ``mu [..., T + 1, X]`` of ``policy``, with the transitions ``P_t``
    and rewards ``r_t`` it induces (computed once, reused by evaluation and best responses)."""
    mu = np.empty((*rules.agents, rules.horizon + 1, rules.n_states))
    mu[..., 0, :] = rules.mu0
    transitions, rewards = [], []
    for t in range(rules.horizon):
        p, r = rules.transition(t, mu[..., t, :]), rules.reward(t, mu[..., t, :])
        transitions.append(p)
        rewards.append(r)
        mu[..., t + 1, :] = np.einsum("...x,...xa,...xay->...y", mu[..., t, :], policy[..., t, :, :], p)
    return mu, transitions, rewards


def q_functions(transitions: list[np.ndarray], rewards: list[np.ndarray],
                policy: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``Q[..., t, x, a]`` and ``V[..., t, x]`` (``V[..., T, :] = 0``) of ``policy`` in the MDP
    that a fixed flow induces, or of the optimum when ``policy`` is ``None``."""
    horizon = len(transitions)
    *agents, n_states, n_actions = rewards[0].shape
    q = np.empty((*agents, horizon, n_states, n_actions))
    value = np.zeros((*agents, horizon + 1, n_states))
    for t in range(horizon - 1, -1, -1):
        q[..., t, :, :] = rewards[t] + np.einsum("...xay,...y->...xa", transitions[t], value[..., t + 1, :])
        value[..., t, :] = (q[..., t, :, :].max(axis=-1) if policy is None
                            else (policy[..., t, :, :] * q[..., t, :, :]).sum(axis=-1))
    return q, value


def policy_values(policy: np.ndarray, transitions: list[np.ndarray], rewards: list[np.ndarray]
                  ) -> np.ndarray:
    """``V[..., t, x]`` of ``policy`` in the MDP that a fixed flow induces (``V[T] = 0``)."""
    return q_functions(transitions, rewards, policy)[1]


def greedy(q: np.ndarray) -> np.ndarray:
    """The deterministic policy taking, among actions within ``TIE_RTOL`` of the best, the lowest."""
    best = q.max(axis=-1, keepdims=True)
    tied = q >= best - TIE_RTOL * np.maximum(np.abs(best), 1e-300)
    return np.eye(q.shape[-1])[tied.argmax(axis=-1)]


def boltzmann(q: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(q / temperature)`` over actions; temperature 0 is :func:`greedy`."""
    if temperature == 0:
        return greedy(q)
    z = (q - q.max(axis=-1, keepdims=True)) / temperature
    weights = np.exp(z)
    return weights / weights.sum(axis=-1, keepdims=True)


def best_response(transitions: list[np.ndarray], rewards: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic best response ``[..., T, X, A]`` to a fixed flow (backward induction,
    ties to the lowest action, :func:`greedy`) and the optimal values ``V[..., T + 1, X]``."""
    q, value = q_functions(transitions, rewards)
    return greedy(q), value


def exploitability(rules: MeanFieldRules, policy: np.ndarray) -> dict[str, Any]:
    """``max_pi' J(pi', mu^pi) - J(pi, mu^pi)`` with the pieces it is made of.

    Returns a dict: ``exploitability`` (graphons: the mean over the agent grid),
    ``value`` (``J(pi, mu^pi)``, the same mean), ``best_value``, ``per_agent`` (graphons:
    each agent's exploitability ``[M]``; else ``[1]``), ``mu`` (the flow) and
    ``best_response``.
    """
    policy = check_policy(rules, policy)
    mu, transitions, rewards = flow(rules, policy)
    value = (rules.mu0 * policy_values(policy, transitions, rewards)[..., 0, :]).sum(axis=-1)
    response, best_values = best_response(transitions, rewards)
    best = (rules.mu0 * best_values[..., 0, :]).sum(axis=-1)
    gaps = np.maximum(np.atleast_1d(best - value), 0.0)   # >= 0 but for round-off
    return {"exploitability": float(gaps.mean()), "value": float(np.mean(value)),
            "best_value": float(np.mean(best)), "per_agent": gaps, "mu": mu,
            "best_response": response}


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
