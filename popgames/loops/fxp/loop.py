"""Fictitious cross-play (FXP; Xu et al., AAMAS 2023) as a generator of per-iteration records.

Two-sided (two-player or two-team) games, zero-sum for the exact learners. FXP keeps, per seat, a *main*
policy with the list of its past versions, and a *counter population*. Each iteration:

1. per main seat ``i``, solve the meta-game "past versions of main ``i``" x "counters of
   the other seat ``o``" (any registry meta-solver; Nash by default);
2. a new counter for ``o`` is a best response to main ``i``'s past versions weighted by
   that meta-strategy (exact where the learner can: matrix argmax, OpenSpiel tree BR,
   team BR over joint team actions);
3. main ``i`` trains against its training mix: ``1 - cross_play`` of self-play (the other
   seat's current main, or with ``self_play="history"`` its past versions uniformly:
   fictitious self-play) and ``cross_play`` of cross-play against ``o``'s counters,
   weighted by ``cross_weights``: ``"exploit"`` (default) by how much each counter
   beats the current main -- the counters that exploit the main are the ones it must
   learn to meet; the meta-strategy when none does -- or ``"nash"`` (the meta-strategy)
   or ``"uniform"``;
4. the trained main is stored as a new version; new meta-game entries are evaluated.

``cross_play=0`` is plain self-play of the same learner (the counters then only watch).
In a symmetric game (``symmetric``: auto-detected by the learner) one main and one
counter population play both seats.

The *learner* does the training (:class:`~popgames.core.protocols.Learner`). Built in:
``"exact"`` (:class:`popgames.loops.fxp.exact_learner.ExactLearner`, matrix and OpenSpiel games: the
main takes a fictitious-play step toward the exact best response to its training mix),
``"team_pg"`` (:class:`popgames.loops.fxp.team_pg.TeamPGLearner`, decentralised Bernoulli agents
trained by exact-gradient policy gradient) and ``"ppo"``
(:class:`popgames.loops.fxp.ppo_learner.PpoLearner`, batched Markov games: PPO networks, meta-game
entries by simulation, no exploitability). Record ``t`` describes the start of iteration
``t``, as PSRO's do: its exploitability is the NashConv of main version ``t`` (joint team
deviations in team games), its meta-strategies those solved before the updates.

``for record in fxp(game, iterations=30): ...`` (``from popgames.fxp import fxp``);
``python -m popgames.fxp GAME_DIR`` (see :mod:`popgames.runs.driver`).
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Mapping

import numpy as np

from popgames.core.empirical_game import EmpiricalGame
from popgames.core.errors import PopgamesError
from popgames.core.payoff_tensor import joint_marginals
from popgames.core.protocols import Learner, TrainJob
from popgames.core.randomness import task_rng
from popgames.loops.fxp.options import check_loop_options, make_learner
from popgames.loops.fxp.state import FxpRecord, FxpState, grow, initial_state
from popgames.solvers import registry


def _cross_weights(kind: str, meta: EmpiricalGame, i: int, nash: np.ndarray,
                   main_value: float) -> np.ndarray:
    o = 1 - i
    if kind == "uniform":
        return np.full(len(nash), 1.0 / len(nash))
    if kind == "exploit":
        # What each counter earns against the current main, beyond what the other main earns.
        gains = np.maximum(np.take(meta.payoffs[o], -1, axis=i) - main_value, 0.0)
        if gains.sum() > 1e-12 * float(np.abs(meta.payoffs).max()):
            return gains / gains.sum()
    return nash


def fxp(game: Any, iterations: int | None = None, seed: int = 0, *, learner: Learner | str | None = None,
        learner_options: Mapping[str, Any] | None = None, cross_play: float = 0.75,
        cross_weights: str = "exploit", self_play: str = "latest", symmetric: bool | None = None,
        meta_solver: str = "nash", solver_options: Mapping[str, Any] | None = None,
        state: FxpState | None = None, stop_exploitability: float | None = None,
        device: str | None = None) -> Iterator[FxpRecord]:
    """Run fictitious cross-play, yielding one :class:`FxpRecord` per iteration.

    Parameters
    ----------
    game
        A loaded two-sided game: matrix, team matrix or OpenSpiel (zero-sum), or markov.
    iterations
        Total iterations including any already in ``state``; ``None`` runs until stopped.
    seed
        Root seed: random starts and every learner call draw from ``task_rng(seed, ...)``.
    learner, learner_options
        A :class:`Learner`, or a name for :func:`make_learner` with its options.
    cross_play
        Fraction of the main's training mix on the counter population (0: self-play).
    cross_weights
        ``"exploit"``, ``"nash"`` or ``"uniform"`` weights over the counters (module doc).
    self_play
        ``"latest"`` (the other seat's current main) or ``"history"`` (its past versions).
    symmetric
        One main and counter population for both seats; ``None``: when the learner says so.
    meta_solver, solver_options
        Registry solver of the main-history x counters meta-games.
    state
        A state to continue from (a resumed run); a fresh one otherwise.
    stop_exploitability
        Stop after an iteration whose exploitability is at most this (``None``: never).
    device
        Torch device of a learner made here by name (``ppo``; ``None``: ``cuda`` when present).
    """
    if learner is None or isinstance(learner, str):
        learner = make_learner(game, learner, learner_options, seed=seed, device=device)
    elif learner_options:
        raise PopgamesError("learner_options go with a learner name, not a Learner instance")
    check_loop_options(learner, cross_play=cross_play, cross_weights=cross_weights,
                       self_play=self_play, symmetric=symmetric)
    options = dict(solver_options or {})
    registry.check_options(meta_solver, options)
    state = state or initial_state(learner, seed, symmetric)
    sides = range(1 if state.symmetric else 2)
    started = time.perf_counter()
    def converged() -> bool:
        last = state.history[-1]["exploitability"] if state.history else None
        return stop_exploitability is not None and last is not None and last <= stop_exploitability

    while (iterations is None or state.iteration < iterations) and not converged():
        t = state.iteration
        sols = [registry.solve(state.meta_games[i].payoffs, meta_solver, **options) for i in sides]
        marg = [s.marginals if s.marginals is not None else joint_marginals(s.joint) for s in sols]
        profile = (state.mains[0][-1], state.mains[1][-1])
        main_values = learner.payoffs([profile], task_rng(seed, t, 0, 5))[0]
        expl = learner.exploitability(profile)
        jobs, used = [], {}
        for i in sides:
            o = 1 - i
            # Counter for seat o: respond to main i's past versions under the meta-strategy.
            versions = [(m, float(w)) for m, w in zip(state.mains[i], marg[i][i]) if w > 0]
            jobs.append(TrainJob(None, versions, o, task_rng(seed, t, o, 0), t))
            weights = _cross_weights(cross_weights, state.meta_games[i], i, marg[i][o], main_values[o])
            used[i] = weights
            own = state.mains[o][-1:] if self_play == "latest" else state.mains[o]
            mix = [(q, (1 - cross_play) / len(own)) for q in own] if cross_play < 1 else []
            mix += [(c, cross_play * float(w)) for c, w in zip(state.counters[o], weights)
                    if cross_play > 0 and w > 0]
            jobs.append(TrainJob(state.mains[i][-1], mix, i, task_rng(seed, t, i, 1), t))
        # Every counter and main of the iteration is independent of the others: trained at once.
        trained = learner.train_all(jobs)
        new_counters = {1 - i: trained[2 * k] for k, i in enumerate(sides)}
        new_mains = {i: trained[2 * k + 1] for k, i in enumerate(sides)}
        # Seat p's counters are scored in meta-game 1 - p (in the single one when symmetric).
        counter_nash = [marg[0][1]] * 2 if state.symmetric else [marg[1][0], marg[0][1]]
        metrics = {
            "iteration": t,
            "exploitability": None if expl is None else float(expl[0]),
            "exploitability_kind": None if expl is None else "nash_conv",
            "per_player": None if expl is None else [float(g) for g in expl[1]],
            "population_size": [len(c) for c in state.counters],
            "main_versions": len(state.mains[0]),
            "meta_strategy": [w.tolist() for w in counter_nash],
            "main_meta_strategy": [marg[i][i].tolist() for i in sides],
            "cross_play_weights": [used[i].tolist() for i in sides],
            "main_payoffs": [float(v) for v in main_values],
            "meta_payoffs": [float(sols[i].payoffs[i]) for i in sides],
            "meta_gap": max(float(s.gap) for s in sols),
            "meta_solver": sols[0].solver,
        }
        metrics.update(learner.describe(profile))
        for i in sides:
            state.mains[i].append(new_mains[i])
            state.counters[1 - i].append(new_counters[1 - i])
        for i in sides:
            grow(state, learner, i, task_rng(seed, t, i, 4))
        metrics["wall_time"] = state.elapsed + time.perf_counter() - started
        state.history.append(metrics)
        yield FxpRecord(metrics, state)

