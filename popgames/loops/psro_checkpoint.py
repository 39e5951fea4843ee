"""PSRO checkpoints: a :class:`~popgames.loops.psro.PsroState` as safetensors arrays plus JSON, and back.

:func:`state_arrays` gives what :meth:`popgames.runs.folder.RunFolder.save_checkpoint`
stores; :func:`state_from_arrays` rebuilds the state and refuses a checkpoint whose
populations, meta-game shapes and history disagree (a damaged file resumes with wrong
numbers otherwise).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from popgames.core.empirical_game import EmpiricalGame
from popgames.core.errors import PopgamesError
from popgames.core.protocols import Oracle
from popgames.loops.psro import PsroState


def state_arrays(state: PsroState, oracle: Oracle) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and JSON state for a checkpoint."""
    arrays: dict[str, np.ndarray] = {}
    for i, pop in enumerate(state.population):
        arrays.update(oracle.save(i, pop))
    arrays["meta_game"] = state.meta_game.payoffs
    if state.meta_game.variances is not None:
        arrays["meta_game_variances"] = state.meta_game.variances
        arrays["meta_game_counts"] = state.meta_game.counts
    meta = {"history": state.history, "elapsed": state.history[-1]["wall_time"] if state.history else 0.0}
    return arrays, meta


def state_from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                      oracle: Oracle) -> PsroState:
    """Inverse of :func:`state_arrays`, checking that the checkpoint is consistent.

    The populations, the meta-game's shape ``[n_players, *sizes]`` (and its variances' and
    counts', where sampled) and the population sizes the history records must agree: a
    damaged checkpoint raises :class:`~popgames.core.errors.PopgamesError` instead of resuming
    with wrong numbers.
    """
    n = oracle.n_players
    history, elapsed = _checked_history(meta, n)
    if "meta_game" not in arrays:
        raise PopgamesError("no 'meta_game' array")
    population = []
    for i in range(n):
        try:
            population.append(oracle.load(i, arrays))
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise PopgamesError(f"population {i} cannot be restored ({type(exc).__name__}: {exc})") from None
    sizes = tuple(len(p) for p in population)
    payoffs = np.array(arrays["meta_game"])
    _check_shape("meta_game", payoffs, (n, *sizes), sizes)
    if not np.isfinite(payoffs).all():
        raise PopgamesError("'meta_game' holds NaN or infinite entries")
    variances = counts = None
    if "meta_game_variances" in arrays or "meta_game_counts" in arrays:
        for key in ("meta_game_variances", "meta_game_counts"):
            if key not in arrays:
                raise PopgamesError(f"no '{key}' array (a sampled meta-game stores both)")
        variances, counts = np.array(arrays["meta_game_variances"]), np.array(arrays["meta_game_counts"])
        _check_shape("meta_game_variances", variances, payoffs.shape, sizes)
        _check_shape("meta_game_counts", counts, sizes, sizes)
    _check_growth(history, sizes)
    return PsroState(population, EmpiricalGame(payoffs, variances, counts), history, elapsed)


def _checked_history(meta: Mapping[str, Any], n: int) -> tuple[list[dict[str, Any]], float]:
    history, elapsed = meta.get("history"), meta.get("elapsed")
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise PopgamesError("the state has no history (a list of records)")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)):
        raise PopgamesError("the state has no elapsed time")
    for k, record in enumerate(history):
        size = record.get("population_size")
        if record.get("iteration") != k:
            raise PopgamesError(f"history record {k} is for iteration {record.get('iteration')!r}")
        if (not isinstance(size, list) or len(size) != n
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size)):
            raise PopgamesError(f"history record {k} has population_size {size!r}, not {n} sizes")
    return list(history), float(elapsed)


def _check_shape(name: str, array: np.ndarray, shape: tuple[int, ...], sizes: tuple[int, ...]) -> None:
    if array.shape != tuple(shape):
        raise PopgamesError(f"'{name}' has shape {array.shape}; populations of sizes {list(sizes)} "
                            f"need {tuple(shape)}")


def _check_growth(history: list[dict[str, Any]], sizes: tuple[int, ...]) -> None:
    """Every iteration adds one best response per player (JPSRO with CE: one per recommended
    policy, at least one), so each record's population sizes lead to the next's, the last
    to the populations themselves."""
    steps = [record["population_size"] for record in history] + [list(sizes)]
    for k, record in enumerate(history):
        grown = [after - before for before, after in zip(steps[k], steps[k + 1])]
        kind = record.get("exploitability_kind")
        one_each = isinstance(kind, str) and kind.removeprefix("approx_") != "ce_gap"
        if min(grown) < 1 or (one_each and max(grown) != 1):
            then = "the populations hold" if k + 1 == len(history) else f"iteration {k + 1} starts with"
            raise PopgamesError(f"the history ({len(history)} iterations) and the populations disagree: "
                                f"iteration {k} starts with population sizes {steps[k]}, {then} "
                                f"{steps[k + 1]}")
