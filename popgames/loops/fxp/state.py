"""Fictitious cross-play's state (populations, meta-games, history), its records, and its
checkpoint form.

A checkpoint holds no pickle: each population goes through the learner's
``to_array`` / ``from_array`` (one array per population), each meta-game as its
payoff tensor, and the history and flags as JSON. Generators are never stored:
every learner call draws from ``task_rng(seed, iteration, player, task)``, so a
restored state continues exactly as the uninterrupted run did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from popgames.core.empirical_game import EmpiricalGame
from popgames.core.errors import PopgamesError
from popgames.core.protocols import Entries, Learner, MetricsRecord
from popgames.core.randomness import task_rng
from popgames.loops.fxp.options import check_loop_options


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
class FxpRecord(MetricsRecord):
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


def grow(state: FxpState, learner: Learner, i: int, generator: np.random.Generator) -> None:
    """Evaluate the new entries of meta-game ``i`` (new main versions or counters)."""
    pops = state.side(i)
    state.meta_games[i].grow([len(p) for p in pops], lambda profiles: Entries(learner.payoffs(
        [(pops[0][a], pops[1][b]) for a, b in profiles], generator)))


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
        grow(state, learner, i, task_rng(seed, 0, i, 4))
    return state


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
    """Inverse of :func:`state_arrays`, checking that the checkpoint is consistent.

    Each iteration adds one main version and one counter per seat to the first of each,
    so a history of ``T`` iterations needs ``T + 1`` of both, and meta-game ``i`` has shape
    ``[2, *sizes of state.side(i)]``; a checkpoint where they disagree (or an array is
    missing) raises :class:`~popgames.core.errors.PopgamesError` instead of resuming with wrong
    numbers.
    """
    symmetric, history = meta.get("symmetric"), meta.get("history")
    elapsed = meta.get("elapsed")
    if not isinstance(symmetric, bool):
        raise PopgamesError("the state does not say whether the run is symmetric")
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise PopgamesError("the state has no history (a list of records)")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)):
        raise PopgamesError("the state has no elapsed time")
    versions = len(history) + 1
    for k, record in enumerate(history):
        if (record.get("iteration") != k or record.get("main_versions", k + 1) != k + 1
                or record.get("population_size", [k + 1] * 2) != [k + 1] * 2):
            raise PopgamesError(f"history record {k} (iteration {record.get('iteration')!r}, "
                                f"main_versions {record.get('main_versions')!r}, population_size "
                                f"{record.get('population_size')!r}) is out of sequence")
    seats = 1 if symmetric else 2

    def policies(name: str) -> list[Any]:
        if name not in arrays:
            raise PopgamesError(f"no '{name}' array")
        try:
            out = learner.from_array(arrays[name])
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise PopgamesError(f"'{name}' cannot be restored ({type(exc).__name__}: {exc})") from None
        if len(out) != versions:
            raise PopgamesError(f"'{name}' holds {len(out)} policies; the history ({len(history)} "
                                f"iterations) needs {versions}")
        return out

    mains = [policies(f"main_{i}") for i in range(seats)]
    counters = [policies(f"counter_{i}") for i in range(seats)]
    if symmetric:
        mains, counters = mains * 2, counters * 2
    state = FxpState(mains, counters, [], symmetric, list(history), float(elapsed))
    for i in range(seats):
        name = f"meta_game_{i}"
        if name not in arrays:
            raise PopgamesError(f"no '{name}' array")
        payoffs = np.array(arrays[name])
        shape = (2, *(len(p) for p in state.side(i)))
        if payoffs.shape != shape:
            raise PopgamesError(f"'{name}' has shape {payoffs.shape}; the populations need {shape}")
        if not np.isfinite(payoffs).all():
            raise PopgamesError(f"'{name}' holds NaN or infinite entries")
        state.meta_games.append(EmpiricalGame(payoffs))
    return state
