"""Fictitious cross-play (FXP; Xu et al., AAMAS 2023) as a generator of per-iteration records.

Two-sided (two-player or two-team) zero-sum games. FXP keeps, per seat, a *main*
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

The *learner* does the training (:class:`Learner`). Built in: ``"exact"``
(:class:`popgames.fxp_learners.ExactLearner`, matrix and OpenSpiel games: the main
takes a fictitious-play step toward the exact best response to its training mix) and
``"team_pg"`` (:class:`popgames.team_game.TeamPGLearner`, decentralised Bernoulli agents
trained by exact-gradient policy gradient). Record ``t`` describes the start of iteration
``t``, as PSRO's do: its exploitability is the NashConv of main version ``t`` (joint team
deviations in team games), its meta-strategies those solved before the updates.

``for record in popgames.fxp(game, iterations=30): ...``; ``python -m popgames.fxp GAME_DIR``
(see :mod:`popgames.fxp_driver`).
"""

from __future__ import annotations

import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np

from popgames.empirical_game import EmpiricalGame
from popgames.errors import GameCardError, PopgamesError
from popgames.payoff_tensor import joint_marginals
from popgames.randomness import task_rng
from popgames.solvers import registry

Opponents = Sequence[tuple[Any, float]]  # (policy of the other seat, weight); weights sum to 1

LOOP_OPTIONS = ("cross_play", "cross_weights", "self_play", "symmetric")
CROSS_WEIGHTS = ("exploit", "nash", "uniform")


class Learner(Protocol):
    """What FXP asks of a learning method (two seats, policies are opaque objects)."""

    n_players: int
    symmetric: bool  # the game is symmetric and a policy can sit in either seat

    def initial_policy(self, player: int, generator: np.random.Generator) -> Any: ...

    def train(self, policy: Any, opponents: Opponents, player: int,
              generator: np.random.Generator, iteration: int) -> Any:
        """Improve ``policy`` (in seat ``player``) against the mixture ``opponents``."""

    def best_response(self, opponents: Opponents, player: int,
                      generator: np.random.Generator, iteration: int) -> Any:
        """A (counter) policy for seat ``player`` against the mixture ``opponents``."""

    def payoffs(self, profiles: Sequence[tuple[Any, Any]],
                generator: np.random.Generator | None = None) -> np.ndarray:
        """Expected payoffs ``[len(profiles), 2]`` of (seat-0 policy, seat-1 policy) pairs."""

    def exploitability(self, profile: tuple[Any, Any]) -> tuple[float, list[float]] | None:
        """NashConv and per-seat gains of a profile, or ``None`` where not computable."""

    def to_array(self, policies: Sequence[Any]) -> np.ndarray: ...

    def from_array(self, array: np.ndarray) -> list[Any]: ...


#: Keys of a card's ``[fxp]`` table and their types (loop options' values: see the loop).
CARD_KEYS: dict[str, type | tuple[type, ...]] = {
    "iterations": int, "seed": int, "learner": str, "meta_solver": str, "learner_options": dict,
    **{k: (bool, int, float, str) for k in LOOP_OPTIONS}}


def check_card_table(table: Mapping[str, Any], src: str) -> None:
    """Raise :class:`~popgames.errors.GameCardError` for a bad key or type in a card's ``[fxp]``."""
    from popgames.game_card import _typed

    for key, value in table.items():
        if key not in CARD_KEYS:
            raise GameCardError(src, f"fxp.{key}", f"unknown key (known: {', '.join(CARD_KEYS)})")
        _typed(value, CARD_KEYS[key], src, f"fxp.{key}")
    if table.get("iterations", 1) < 1:
        raise GameCardError(src, "fxp.iterations", "must be at least 1")


def check_loop_options(learner: Learner, **options: Any) -> None:
    """Raise :class:`PopgamesError` (one line) for a bad or unknown loop option."""
    for key in options:
        if key not in LOOP_OPTIONS:
            raise PopgamesError(f"unknown FXP option '{key}' (loop options: {', '.join(LOOP_OPTIONS)})")
    cross = options.get("cross_play", 0.75)
    if isinstance(cross, bool) or not isinstance(cross, (int, float)) or not 0.0 <= cross <= 1.0:
        raise PopgamesError(f"cross_play={cross!r}: expected a number in [0, 1]")
    if options.get("cross_weights", "exploit") not in CROSS_WEIGHTS:
        raise PopgamesError(f"cross_weights={options['cross_weights']!r}: expected one of "
                            f"{', '.join(CROSS_WEIGHTS)}")
    if options.get("self_play", "latest") not in ("latest", "history"):
        raise PopgamesError(f"self_play={options['self_play']!r}: expected 'latest' or 'history'")
    symmetric = options.get("symmetric")
    if symmetric not in (None, True, False):
        raise PopgamesError(f"symmetric={symmetric!r}: expected true or false")
    if symmetric and not learner.symmetric:
        raise PopgamesError("symmetric=true needs a symmetric game and seat-independent policies")


def default_learner(game: Any) -> str:
    """``team_pg`` for team games, ``exact`` otherwise."""
    from popgames.team_game import TeamMatrixGame

    return "team_pg" if isinstance(game, TeamMatrixGame) else "exact"


def make_learner(game: Any, name: str | None = None,
                 options: Mapping[str, Any] | None = None) -> Learner:
    """The learner ``name`` for ``game`` (default: ``team_pg`` for team games, else ``exact``)."""
    from popgames.fxp_learners import ExactLearner
    from popgames.team_game import TeamPGLearner

    learners = {"exact": ExactLearner, "team_pg": TeamPGLearner}
    name = name or default_learner(game)
    if name not in learners:
        raise PopgamesError(f"unknown FXP learner '{name}' (known: {', '.join(learners)})")
    return learners[name](game, **dict(options or {}))


@dataclass
class FxpState:
    """Everything the loop knows; enough to resume it exactly.

    ``mains[i]`` lists seat ``i``'s main versions (the last is the current main),
    ``counters[i]`` seat ``i``'s counter population; in a symmetric run both seats
    share the same lists. ``meta_games[i]`` is main ``i`` x counters of the other seat,
    in seat order (one meta-game when symmetric).
    """

    mains: list[list[Any]]
    counters: list[list[Any]]
    meta_games: list[EmpiricalGame]
    symmetric: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def iteration(self) -> int:
        return len(self.history)

    def side(self, i: int) -> list[list[Any]]:
        """Seat-ordered populations of meta-game ``i``: main ``i`` against the other's counters."""
        return [self.mains[0], self.counters[1]] if i == 0 else [self.counters[0], self.mains[1]]


@dataclass
class FxpRecord:
    """One iteration: the JSON-ready ``metrics`` plus the live ``state``.

    ``metrics`` (all at the start of the iteration): ``iteration``; ``exploitability`` and
    ``per_player`` (NashConv of the current mains and each seat's gain, ``None`` where the
    learner cannot compute it); ``population_size`` (counters per seat); ``main_versions``;
    ``meta_strategy`` (per seat, the meta-game Nash weights of its counters);
    ``main_meta_strategy`` (per meta-game, the weights of the main's versions);
    ``cross_play_weights`` (per main seat, the training weights over the counters);
    ``main_payoffs`` (main against main); ``meta_payoffs`` (per meta-game, the main's
    value); ``meta_gap``, ``meta_solver``; ``wall_time`` (seconds, resumed time included);
    and whatever the learner's optional ``describe(profile)`` adds.
    """

    metrics: dict[str, Any]
    state: FxpState

    def __getattr__(self, name: str) -> Any:  # record.exploitability, record.iteration, ...
        try:
            return self.__dict__["metrics"][name]
        except KeyError:
            raise AttributeError(name) from None


def _grow(state: FxpState, learner: Learner, i: int, generator: np.random.Generator) -> None:
    pops = state.side(i)
    state.meta_games[i].grow([len(p) for p in pops], lambda profiles: learner.payoffs(
        [(pops[0][a], pops[1][b]) for a, b in profiles], generator))


def initial_state(learner: Learner, seed: int = 0, symmetric: bool | None = None) -> FxpState:
    """Random (or the learner's) first main and first counter per seat."""
    symmetric = learner.symmetric if symmetric is None else symmetric
    check_loop_options(learner, symmetric=symmetric)
    seats = 1 if symmetric else 2
    mains = [[learner.initial_policy(i, task_rng(seed, 0, i, 2))] for i in range(seats)]
    counters = [[learner.initial_policy(1 - i, task_rng(seed, 0, 1 - i, 3))] for i in range(seats)]
    if symmetric:
        mains, counters = mains * 2, counters * 2  # the same lists in both seats
    else:
        counters.reverse()  # counters[o] was drawn for seat o
    state = FxpState(mains, counters, [EmpiricalGame.empty(2) for _ in range(seats)], symmetric)
    for i in range(seats):
        _grow(state, learner, i, task_rng(seed, 0, i, 4))
    return state


def _cross_weights(kind: str, meta: EmpiricalGame, i: int, nash: np.ndarray,
                   main_value: float) -> np.ndarray:
    o = 1 - i
    if kind == "uniform":
        return np.full(len(nash), 1.0 / len(nash))
    if kind == "exploit":
        # What each counter earns against the current main, beyond what the other main earns.
        gains = np.maximum(np.take(meta.payoffs[o], -1, axis=i) - main_value, 0.0)
        if gains.sum() > 1e-12 * max(1.0, float(np.abs(meta.payoffs).max())):
            return gains / gains.sum()
    return nash


def fxp(game: Any, iterations: int | None = None, seed: int = 0, *, learner: Learner | str | None = None,
        learner_options: Mapping[str, Any] | None = None, cross_play: float = 0.75,
        cross_weights: str = "exploit", self_play: str = "latest", symmetric: bool | None = None,
        meta_solver: str = "nash", solver_options: Mapping[str, Any] | None = None,
        state: FxpState | None = None, stop_exploitability: float | None = None) -> Iterator[FxpRecord]:
    """Run fictitious cross-play, yielding one :class:`FxpRecord` per iteration.

    Parameters
    ----------
    game
        A loaded two-player zero-sum game (matrix, team matrix or OpenSpiel).
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
    """
    if learner is None or isinstance(learner, str):
        learner = make_learner(game, learner, learner_options)
    elif learner_options:
        raise PopgamesError("learner_options go with a learner name, not a Learner instance")
    check_loop_options(learner, cross_play=cross_play, cross_weights=cross_weights,
                       self_play=self_play, symmetric=symmetric)
    if learner.n_players != 2:
        raise PopgamesError(f"FXP needs a two-sided game, not {learner.n_players} players")
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
        new_counters, new_mains, used = {}, {}, {}
        for i in sides:
            o = 1 - i
            # Counter for seat o: respond to main i's past versions under the meta-strategy.
            versions = [(m, float(w)) for m, w in zip(state.mains[i], marg[i][i]) if w > 0]
            new_counters[o] = learner.best_response(versions, o, task_rng(seed, t, o, 0), t)
            weights = _cross_weights(cross_weights, state.meta_games[i], i, marg[i][o], main_values[o])
            used[i] = weights
            own = state.mains[o][-1:] if self_play == "latest" else state.mains[o]
            mix = [(q, (1 - cross_play) / len(own)) for q in own] if cross_play < 1 else []
            mix += [(c, cross_play * float(w)) for c, w in zip(state.counters[o], weights)
                    if cross_play > 0 and w > 0]
            new_mains[i] = learner.train(state.mains[i][-1], mix, i, task_rng(seed, t, i, 1), t)
        # Seat p's counters are scored in meta-game 1 - p (in the single one when symmetric).
        counter_nash = [marg[0][1]] * 2 if state.symmetric else [marg[1][0], marg[0][1]]
        metrics = {
            "iteration": t,
            "exploitability": None if expl is None else float(expl[0]),
            "exploitability_kind": "nash_conv",
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
        if hasattr(learner, "describe"):
            metrics.update(learner.describe(profile))
        for i in sides:
            state.mains[i].append(new_mains[i])
            state.counters[1 - i].append(new_counters[1 - i])
        for i in sides:
            _grow(state, learner, i, task_rng(seed, t, i, 4))
        metrics["wall_time"] = state.elapsed + time.perf_counter() - started
        state.history.append(metrics)
        yield FxpRecord(metrics, state)


def state_arrays(state: FxpState, learner: Learner) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and JSON state for a checkpoint (no pickle: policies go through the learner)."""
    arrays: dict[str, np.ndarray] = {}
    for i in range(len(state.meta_games)):
        arrays[f"main_{i}"] = learner.to_array(state.mains[i])
        arrays[f"counter_{i}"] = learner.to_array(state.counters[i])
        arrays[f"meta_game_{i}"] = state.meta_games[i].payoffs
    meta = {"history": state.history, "symmetric": state.symmetric,
            "elapsed": state.history[-1]["wall_time"] if state.history else 0.0}
    return arrays, meta


def state_from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                      learner: Learner) -> FxpState:
    seats = 1 if meta["symmetric"] else 2
    mains = [learner.from_array(arrays[f"main_{i}"]) for i in range(seats)]
    counters = [learner.from_array(arrays[f"counter_{i}"]) for i in range(seats)]
    if meta["symmetric"]:
        mains, counters = mains * 2, counters * 2
    games = [EmpiricalGame(np.array(arrays[f"meta_game_{i}"])) for i in range(seats)]
    return FxpState(mains, counters, games, bool(meta["symmetric"]), list(meta["history"]),
                    float(meta["elapsed"]))


class _CallableModule(types.ModuleType):
    """``popgames.fxp`` is both this module (``python -m popgames.fxp``) and the loop."""

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[FxpRecord]:
        return fxp(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    from popgames.cli_common import run_main
    from popgames.fxp_driver import fxp_main

    sys.exit(run_main(fxp_main))
