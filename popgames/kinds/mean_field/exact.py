"""Exact mean-field machinery on finite games: distributions, values, best responses, exploitability.

A finite-horizon mean-field game (one population) has states ``x < X``, actions ``a < A``,
decision times ``t < T``, an initial distribution ``mu_0`` and, at each time, transitions
``P_t(x' | x, a, mu_t)`` and rewards ``r_t(x, a, mu_t)`` that depend on the whole
distribution ``mu_t`` (``rules.transition(t, mu) -> [X, A, X]``, ``rules.reward(t, mu) ->
[X, A]``). A policy is an array ``pi[t, x, a]``. Everything below is vectorised over
states and actions (one ``einsum`` per time step); the loops run over time only, which
the distribution's dependence on the past makes sequential.

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
    mu0: np.ndarray   # [X], on the simplex

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        """``P[x, a, x']`` at time ``t`` given the distribution ``mu [X]``."""
        ...

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        """``r[x, a]`` at time ``t`` given the distribution ``mu [X]``."""
        ...


def uniform_policy(rules: MeanFieldRules) -> np.ndarray:
    """The uniformly random policy ``[T, X, A]``."""
    return np.full((rules.horizon, rules.n_states, rules.n_actions), 1.0 / rules.n_actions)


def flow(rules: MeanFieldRules, policy: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The distribution flow ``mu [T + 1, X]`` of ``policy``, with the transitions ``P_t`` and
    rewards ``r_t`` it induces (computed once, reused by evaluation and best responses)."""
    mu = np.empty((rules.horizon + 1, rules.n_states))
    mu[0] = rules.mu0
    transitions, rewards = [], []
    for t in range(rules.horizon):
        p, r = rules.transition(t, mu[t]), rules.reward(t, mu[t])
        transitions.append(p)
        rewards.append(r)
        mu[t + 1] = np.einsum("x,xa,xay->y", mu[t], policy[t], p)
    return mu, transitions, rewards


def policy_values(policy: np.ndarray, transitions: list[np.ndarray], rewards: list[np.ndarray]
                  ) -> np.ndarray:
    """``V[t, x]`` of ``policy`` in the MDP that a fixed flow induces (``V[T] = 0``)."""
    horizon, n_states = policy.shape[:2]
    value = np.zeros((horizon + 1, n_states))
    for t in range(horizon - 1, -1, -1):
        q = rewards[t] + transitions[t] @ value[t + 1]
        value[t] = (policy[t] * q).sum(axis=1)
    return value


def best_response(transitions: list[np.ndarray], rewards: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic best response ``[T, X, A]`` to a fixed flow and its values ``V[T + 1, X]``.

    Backward induction; among actions within ``TIE_RTOL`` of the best, the lowest index.
    """
    horizon = len(transitions)
    n_states, n_actions = rewards[0].shape
    value = np.zeros((horizon + 1, n_states))
    policy = np.zeros((horizon, n_states, n_actions))
    rows = np.arange(n_states)
    for t in range(horizon - 1, -1, -1):
        q = rewards[t] + transitions[t] @ value[t + 1]
        best = q.max(axis=1, keepdims=True)
        tied = q >= best - TIE_RTOL * np.maximum(np.abs(best), 1e-300)
        choice = tied.argmax(axis=1)    # the lowest tied action
        policy[t, rows, choice] = 1.0
        value[t] = q[rows, choice]
    return policy, value


def exploitability(rules: MeanFieldRules, policy: np.ndarray) -> dict[str, Any]:
    """``max_pi' J(pi', mu^pi) - J(pi, mu^pi)`` with the pieces it is made of.

    Returns a dict: ``exploitability``, ``value`` (``J(pi, mu^pi)``), ``best_value``,
    ``mu`` (the flow ``[T + 1, X]``) and ``best_response`` (``[T, X, A]``).
    """
    policy = check_policy(rules, policy)
    mu, transitions, rewards = flow(rules, policy)
    value = float(rules.mu0 @ policy_values(policy, transitions, rewards)[0])
    response, best_values = best_response(transitions, rewards)
    best = float(rules.mu0 @ best_values[0])
    return {"exploitability": max(best - value, 0.0), "value": value, "best_value": best,
            "mu": mu, "best_response": response}


def check_policy(rules: MeanFieldRules, policy: Any, source: str = "<policy>") -> np.ndarray:
    """``policy`` as a float array ``[T, X, A]`` of distributions; a bad one is a one-line error."""
    from popgames.core.errors import GameCardError

    policy = np.asarray(policy, dtype=np.float64)
    shape = (rules.horizon, rules.n_states, rules.n_actions)
    if policy.shape != shape:
        raise GameCardError(source, "policy", f"expected shape {shape} (T, X, A), got {policy.shape}")
    if not np.isfinite(policy).all() or (policy < -1e-12).any() or \
            np.abs(policy.sum(axis=2) - 1.0).max() > 1e-9:
        raise GameCardError(source, "policy", "rows are not probability distributions over actions")
    return policy
