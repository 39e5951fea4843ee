"""The N-agent check: does a mean-field policy give N finite agents what the limit promises?

``N`` agents play the policy for ``episodes`` episodes, batched. In a graphon game agent
``i`` sits at ``alpha_i`` (``"grid"``: ``i / N``; ``"uniform"``: drawn once per check),
plays the policy of the grid agent nearest to it, and sees the neighbourhood measure
``(1 / N) sum_j A_ij delta_{x_j}`` of a graph whose edges ``A_ij = A_ji ~
Bernoulli(W(alpha_i, alpha_j))``, ``i < j``, no self-loops, are drawn afresh every episode.
In a plain mean-field game every agent sees the empirical distribution of all ``N``
(complete graph; self included, so one field serves all agents); with ``K`` populations
there are ``N`` agents in each, and every agent sees each population's empirical
distribution (``alpha_i`` is then agent ``i``'s population). Each agent's mean return
``J_i^N`` is compared with the mean-field value ``J_{alpha_i}`` of its policy against the
policy's own flow: the report is ``max_i |J_i^N - J_{alpha_i}|`` with a simultaneous 95%
interval (Student-t, Bonferroni over the ``N`` agents, from the episodes' standard errors: a max over
many noisy estimates is biased up, and the interval says by how much), and the mean gap
``mean_i (J_i^N - J_{alpha_i})`` with its interval. Both shrink as ``N`` grows when the
policy's flow is the limit of the finite system.

A check is also a plain-data task (:class:`NAgentTask`: the card's path, the policy as an
array, ``N``, episodes, seed) run by :func:`run_n_agent_checks` through
:func:`popgames.core.parallel.run_tasks`, so ``use_backend`` (or a
``joblib.parallel_config``) spreads the sizes over local processes or a Ray cluster with no
change here. The simulation is batched numpy over episodes and agents:
the rules are numpy functions of the field, so torch would only add copies around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import stdtrit

from popgames.core.parallel import run_tasks
from popgames.kinds.mean_field.exact import AgentGrid, evaluate


def _sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``probs [..., K]`` (inverse CDF; rows sum to 1)."""
    cdf = probs.cumsum(axis=-1)
    u = rng.random(probs.shape[:-1] + (1,)) * cdf[..., -1:]
    return np.minimum((u > cdf).sum(axis=-1), probs.shape[-1] - 1)


def n_agent_check(game: Any, policy: np.ndarray, n: int, episodes: int = 200, seed: int = 0,
                  placement: str = "grid") -> dict[str, Any]:
    """Simulate ``n`` agents playing ``policy`` (module doc); returns ``n``, ``max_gap``, its
    95% ``interval``, and per agent ``alpha``, ``finite`` (``J_i^N``), ``limit`` (``J_{alpha_i}``)."""
    rules = game.rules
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(n,)))
    graphon = isinstance(rules, AgentGrid)
    evaluation = evaluate(rules, policy)
    states = rules.n_states
    if graphon:
        from popgames.kinds.graphon.graphons import graphon_values

        alpha = np.arange(n) / n if placement == "grid" else np.sort(rng.random(n))
        nearest = np.rint(alpha * (rules.agents[0] - 1)).astype(int)
        w = graphon_values(game.graphon, alpha)
        inner, pi, mu0 = rules.inner, evaluation.policy[nearest], np.asarray(rules.inner.mu0)
        limit, group = evaluation.value[nearest], np.zeros(n, dtype=int)
    else:   # n agents per population (one population: agents = ()); k_i is agent i's population
        k = rules.agents[0] if rules.agents else 1
        group = np.repeat(np.arange(k), n)
        alpha = group.astype(np.float64)
        pi = evaluation.policy.reshape(k, *evaluation.policy.shape[-3:])[group]
        mu0 = np.asarray(rules.mu0).reshape(k, states)[group]
        inner, limit = rules, np.atleast_1d(evaluation.value)[group]
    agents = np.arange(len(group))
    x = _sample(np.broadcast_to(mu0, (episodes, len(group), states)), rng)
    returns = np.zeros((episodes, len(group)))
    for t in range(rules.horizon):
        onehot = np.eye(states)[x]                                          # [E, N, X]
        a = _sample(pi[agents, t][agents, x], rng)                          # [E, N]
        e, i = np.indices(x.shape)
        if graphon:
            upper = np.triu(rng.random((episodes, n, n)) < w, k=1)
            adjacency = (upper | upper.transpose(0, 2, 1)).astype(np.float64)
            field = (adjacency @ onehot / n).reshape(episodes * n, states)
            p = inner.transition(t, field).reshape(episodes, n, states, -1, states)
            r = inner.reward(t, field).reshape(episodes, n, states, -1)
            probs, gains = p[e, i, x, a], r[e, i, x, a]
        else:
            # Each population's empirical distribution, episode by episode (rules take one field).
            fields = onehot.reshape(episodes, -1, n, states).mean(axis=2)     # [E, K, X]
            probs, gains = np.empty((episodes, len(group), states)), np.empty((episodes, len(group)))
            for ep in range(episodes):
                field = fields[ep] if rules.agents else fields[ep, 0]
                p = np.asarray(inner.transition(t, field)).reshape(-1, states, rules.n_actions, states)
                r = np.asarray(inner.reward(t, field)).reshape(-1, states, rules.n_actions)
                probs[ep] = p[group, x[ep], a[ep]]
                gains[ep] = r[group, x[ep], a[ep]]
        returns += gains
        x = _sample(probs, rng)
    finite = returns.mean(axis=0)
    error = returns.std(axis=0, ddof=1) / np.sqrt(episodes) if episodes > 1 else np.zeros(n)
    gap = np.abs(finite - limit)
    # Student-t quantiles (the errors are estimated from the episodes), simultaneous over the
    # n agents for the max (Bonferroni).
    z = float(stdtrit(max(episodes - 1, 1), 1.0 - 0.025 / len(group)))
    per_episode = (returns - limit).mean(axis=1)  # the mean gap, episode by episode
    mean_error = per_episode.std(ddof=1) / np.sqrt(episodes) if episodes > 1 else 0.0
    return {"n": n, "episodes": episodes, "max_gap": float(gap.max()),
            "interval": (float(np.maximum(gap - z * error, 0.0).max()), float((gap + z * error).max())),
            "mean_gap": float(per_episode.mean()),
            "mean_gap_error": float(stdtrit(max(episodes - 1, 1), 0.975) * mean_error),
            "alpha": alpha, "finite": finite, "limit": limit}


@dataclass(frozen=True)
class NAgentTask:
    """One N-agent check as plain data: a worker loads the card itself."""

    card: str
    policy: np.ndarray
    n: int
    episodes: int
    seed: int
    placement: str = "grid"


@lru_cache(maxsize=8)
def _load(card: str) -> Any:
    import popgames

    return popgames.load_game(card)


def run_n_agent(task: NAgentTask) -> dict[str, Any]:
    """:func:`n_agent_check` of a task (the card loaded once per worker)."""
    return n_agent_check(_load(task.card), task.policy, task.n, task.episodes, task.seed, task.placement)


def run_n_agent_checks(tasks: Sequence[NAgentTask]) -> list[dict[str, Any]]:
    """Run checks by :func:`popgames.core.parallel.run_tasks` (in this process unless a
    backend is configured); results in the order of ``tasks``."""
    return run_tasks(run_n_agent, tasks,
                     describe=lambda task: f"N-agent check N={task.n} of {task.card} (seed {task.seed})")
