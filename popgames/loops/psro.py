"""PSRO and JPSRO, as a generator of per-iteration records.

Each iteration (Lanctot et al. 2017; Marris et al. 2021 for JPSRO):

1. solve the meta-game with any registry meta-solver (verified by the registry);
2. best-respond in the full game: per player to the others' part of the meta-strategy
   (Nash / risk-averse / alpha-rank: their product mix; CCE: the joint's marginal over
   the others; CE: the joint conditioned on each recommended policy);
3. the best-response values give the meta-strategy's exploitability in the full game
   (NashConv, CCE gap or CE gap) without a further pass;
4. add the new policies and evaluate only the new meta-game entries.

``for record in psro(game, meta_solver="nash", iterations=30): ...`` (``from popgames.psro
import psro``) -- ``record.state`` holds the population, the meta-game and the history at
that point. Run with ``python -m popgames.psro GAME_DIR`` (see :mod:`popgames.runs.driver`).
The oracle is any :class:`~popgames.core.protocols.Oracle`, by default the kind's
(:func:`popgames.kinds.registry.oracle_for`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from popgames.core.empirical_game import EmpiricalGame
from popgames.core.errors import PopgamesError
from popgames.core.payoff_tensor import joint_marginals, others_matrix, outer
from popgames.core.protocols import MetricsRecord, Oracle, OracleSettings
from popgames.kinds.registry import oracle_for
from popgames.solvers import registry


@dataclass
class PsroState:
    """Everything the loop knows; enough to resume it exactly."""

    population: list[list[Any]]
    meta_game: EmpiricalGame
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0  # wall-clock seconds spent in earlier sessions of this run

    @property
    def iteration(self) -> int:
        return len(self.history)


@dataclass
class PsroRecord(MetricsRecord):
    """One iteration: the JSON-ready ``metrics`` plus the live ``state``."""

    metrics: dict[str, Any]
    state: PsroState
    solution: registry.Solution
    full_game: Any = None   # the game itself, beside the meta-game (``record.game`` is a metric)

    def tabular_policy(self) -> Any:
        """The iteration's meta-strategy as one OpenSpiel ``TabularPolicy`` (OpenSpiel games).

        Each player's mixture of the population members the meta-strategy was solved
        over (this iteration's best responses excluded), as the behaviour policy
        realisation-equivalent to it (:func:`popgames.kinds.spiel.game.mixture_policy`). For
        Nash-type meta-solvers OpenSpiel's ``exploitability.nash_conv`` of it is
        ``self.exploitability``; for CE/CCE it is the product of the joint's marginals.
        """
        if self.full_game is None or self.full_game.kind != "openspiel":
            raise PopgamesError(f"tabular_policy: {type(self.full_game).__name__} is not an "
                                "OpenSpiel game")
        from popgames.kinds.spiel.game import mixture_policy

        sol = self.solution
        weights = sol.marginals if sol.marginals is not None else joint_marginals(sol.joint)
        return mixture_policy(self.full_game,
                              [pop[:len(w)] for pop, w in zip(self.state.population, weights)],
                              weights)


def initial_state(oracle: Oracle) -> PsroState:
    """Each player's seed policies (e.g. a markov game's reference policies) and their meta-game."""
    population = [list(oracle.initial_policies(i)) for i in range(oracle.n_players)]
    meta_game = EmpiricalGame.empty(oracle.n_players)
    meta_game.grow([len(p) for p in population], lambda p: oracle.evaluate(population, p))
    return PsroState(population, meta_game)


def _others(sol: registry.Solution, i: int, n: int) -> np.ndarray:
    """What player ``i`` best-responds to: the joint's marginal over the others (CCE) or
    the product of the others' marginals."""
    if sol.concept == "cce":
        return sol.joint.sum(axis=i)
    marginals = sol.marginals if sol.marginals is not None else joint_marginals(sol.joint)
    return outer([m for j, m in enumerate(marginals) if j != i]) if n > 1 else np.ones(())


def _best_responses(oracle: Oracle, state: PsroState, sol: registry.Solution
                    ) -> tuple[list[list[Any]], np.ndarray, list[dict[str, Any]]]:
    """New policies per player, each player's gain (its part of the exploitability), and
    the training stats of learned responses.

    Gains are returned as computed: an exact best response's is never below zero (up to
    round-off), a learned one's is when it falls short of the meta-strategy itself.
    """
    meta = state.meta_game.payoffs
    n = oracle.n_players
    if sol.concept != "ce":
        others = [_others(sol, i, n) for i in range(n)]
        # Parameter sharing: one network for every seat, trained against each seat's
        # opponents at once, joins every player's population. Else one response per
        # player, all requested at once (a learned oracle trains them in parallel tasks).
        responses = (oracle.shared_best_response(state.population, others) if oracle.shares_parameters
                     else oracle.best_responses(state.population, list(enumerate(others))))
        gains = np.array([r.value - float(sol.payoffs[i]) for i, r in enumerate(responses)])
        return [[r.policy] for r in responses], gains, [dict(r.stats) for r in responses if r.stats]
    # CE: one best response per recommended policy, against the others given the recommendation.
    requests, baselines = [], []
    for i in range(n):
        for k, weight in enumerate(joint_marginals(sol.joint)[i]):
            if weight > 1e-12:
                cond = np.take(sol.joint, k, axis=i) / weight
                requests.append((i, cond))
                baselines.append((weight, float((np.take(meta[i], k, axis=i) * cond).sum())))
    new: list[list[Any]] = [[] for _ in range(n)]
    gains = np.zeros(n)
    responses = oracle.best_responses(state.population, requests)
    for (i, _), (weight, baseline), response in zip(requests, baselines, responses):
        gains[i] += weight * (response.value - baseline)
        new[i].append(response.policy)
    return new, gains, [dict(r.stats) for r in responses if r.stats]


def _against_population(state: PsroState, sol: Any, gains: np.ndarray, stats: list[dict[str, Any]]
                        ) -> dict[str, list]:
    """A learned response measured against what the population already had: the 95%
    half-width of its estimated gain (from the oracle's ``value_se``), and the gain of the
    best existing member against the same mix (the meta-game's entries). A response whose
    gain falls below that member's beyond its interval is ``short_of_population``: the loop
    still adds it (PSRO's definition; the meta-solver gives it no weight if it is worse),
    and the report says so."""
    n = len(gains)
    errors = np.zeros(n)
    for entry in stats:
        if 0 <= entry.get("player", -1) < n:
            errors[entry["player"]] = 1.96 * float(entry.get("value_se", 0.0))
    if len(stats) == 1 and stats[0].get("player") == -1:   # one shared network, measured per seat
        errors[:] = 1.96 * np.asarray(stats[0].get("value_se_by_seat", np.zeros(n)), dtype=np.float64)
    member = np.zeros(n)
    # The meta-game has not grown yet: it is the one the solution answers.
    for i in range(n if sol.concept != "ce" else 0):   # CE: per recommendation, not measured here
        against = others_matrix(state.meta_game.payoffs, i) @ _others(sol, i, n).reshape(-1)
        member[i] = float(against.max() - float(sol.payoffs[i]))
    return {"best_response_gain_ci95": errors.tolist(), "best_member_gain": member.tolist(),
            "short_of_population": (gains + errors < member).tolist()}


def psro(game: Any, meta_solver: str = "nash", iterations: int | None = None, seed: int = 0,
         solver_options: Mapping[str, Any] | None = None, *, oracle: Oracle | None = None,
         state: PsroState | None = None, stop_exploitability: float | None = 1e-10,
         tie_break: str = "tremble", device: str | None = None,
         oracle_options: Mapping[str, Any] | None = None,
         oracle_name: str | None = None) -> Iterator[PsroRecord]:
    """Run (J)PSRO, yielding one :class:`PsroRecord` per iteration.

    Parameters
    ----------
    game
        A loaded game: matrix or OpenSpiel (exact oracle), or markov (PPO oracle,
        simulated meta-game; its exploitability is the PPO best responses' gain, a
        lower bound on NashConv).
    meta_solver, solver_options
        Registry name and its options (``ce``/``cce`` make it JPSRO).
    iterations
        Total iterations including any already in ``state``; ``None`` runs until stopped.
    seed
        Root seed; exact oracles are deterministic and do not draw from it, learned
        oracles derive every task's generator from it.
    state
        A state to continue from (a resumed run); a fresh one otherwise.
    stop_exploitability
        Stop after the first iteration whose exploitability is at most this: the
        meta-strategy is then an equilibrium of the full game, and further best
        responses would only add duplicates (which grow an N-player meta-game
        geometrically). ``None`` never stops early. Ignored for learned oracles: a PPO
        best response that gains nothing proves nothing.
    tie_break
        How the exact oracle picks among equally good best responses (ignored when
        ``oracle`` is given): ``"tremble"`` (default), the limit of best responses to
        opponents trembling with vanishing probability, or ``"lowest"``, the lowest
        action index. See :mod:`popgames.kinds.matrix.oracle`.
    device, oracle_options
        For learned oracles: torch device (``None``: ``cuda`` when present) and
        options over the card's ``[oracle]`` table (see :class:`popgames.kinds.markov.ppo.PpoConfig`).
    oracle_name
        Which of the kind's oracles (``None``: the card's ``[psro] oracle``, else the kind's
        default); ignored when ``oracle`` is given.
    """
    oracle = oracle or oracle_for(game, oracle_name, OracleSettings(
        seed=seed, device=device, tie_break=tie_break, options=dict(oracle_options or {})))
    exact = oracle.exact
    if not exact:
        stop_exploitability = None
    options = dict(solver_options or {})
    own_meta = oracle.solves_meta_game   # mean-field games: the oracle solves its restricted game
    if not own_meta:
        concept = registry.entry(meta_solver).concept
        registry.check_options(meta_solver, options)
    state = state or initial_state(oracle)
    started = time.perf_counter()
    def converged() -> bool:
        return (stop_exploitability is not None and bool(state.history)
                and state.history[-1]["exploitability"] <= stop_exploitability)

    while (iterations is None or state.iteration < iterations) and not converged():
        if own_meta:
            sol = oracle.solve_meta_game(state.population, meta_solver, options)
            concept, responses = sol.concept, oracle.meta_best_responses(state.population, sol)
            new, stats = [[r.policy] for r in responses], []
            raw_gains = np.array([r.value - float(sol.payoffs[i]) for i, r in enumerate(responses)])
        else:
            solve_options = dict(options)
            if concept == "rae" and state.meta_game.variances is not None:
                solve_options.setdefault("entry_variances", state.meta_game.variances)
            sol = registry.solve(state.meta_game.payoffs, meta_solver, **solve_options)
            new, raw_gains, stats = _best_responses(oracle, state, sol)
        gains = np.maximum(raw_gains, 0.0)
        kind = {"ce": "ce_gap", "cce": "cce_gap"}.get(concept, "nash_conv")
        metrics = {
            "iteration": state.iteration,
            "exploitability": float(gains.sum()),
            "exploitability_kind": kind if exact else f"approx_{kind}",
            "per_player": gains.tolist(),
            "population_size": [len(p) for p in state.population],
            "meta_strategy": ([m.tolist() for m in sol.marginals] if sol.marginals is not None
                              else sol.joint.tolist()),
            "meta_payoffs": sol.payoffs.tolist(),
            "meta_gap": sol.gap,
            "meta_solver": sol.solver,
        }
        if own_meta:   # each member's payoff against the solution (not a tensor's contraction)
            metrics["deviation_payoffs"] = [np.asarray(d).tolist() for d in sol.deviation_payoffs]
        if not exact:  # learned oracle: its raw gains, measured against the population
            metrics["best_response_gain"] = raw_gains.tolist()
            metrics.update(_against_population(state, sol, raw_gains, stats))
        if stats or not exact:   # what the responses cost (and, for an exact oracle, said)
            metrics["oracle"] = stats
        game_metrics = oracle.iteration_metrics(state.population, sol.joint, state.iteration)
        if game_metrics or not exact:   # the game's own metrics of the meta-strategy
            metrics["game"] = game_metrics
        for i, policies in enumerate(new):
            # Every best response joins, even one already present (PSRO's definition; it is
            # what moves uniform / fictitious-play weights); CE responses that coincide
            # within one iteration join once.
            for k, policy in enumerate(policies):
                if not any(oracle.same(policy, q) for q in policies[:k]):
                    state.population[i].append(policy)
        state.meta_game.grow([len(p) for p in state.population],
                             lambda profiles: oracle.evaluate(state.population, profiles))
        metrics["wall_time"] = state.elapsed + time.perf_counter() - started
        state.history.append(metrics)
        yield PsroRecord(metrics, state, sol, game)

