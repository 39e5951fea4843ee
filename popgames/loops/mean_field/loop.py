"""The mean-field loops as one generator of per-iteration records.

``for record in mean_field(game, 100, algorithm="fp"): record.exploitability`` runs
fictitious play (``fp``), online mirror descent (``omd``), the Boltzmann fixed point
(``fixed_point``) or prior descent (``prior_descent``) -- one module per algorithm, each a
``step(rules, k, arrays, options, current) -> arrays`` on the exact machinery of
:mod:`popgames.kinds.mean_field.exact`, ``current`` the :class:`Evaluation` of the current
policy (its flow and its own and the optimal action values, computed once per iteration
and shared with the exploitability) -- on mean-field and graphon games alike. The
arrays (``policy`` and what the algorithm carries, e.g. OMD's cumulative values ``y``) are
the whole state, so a checkpoint of them resumes the run exactly. Record ``k`` describes
the policy after iteration ``k``: its exploitability (for graphons the mean over the
agent grid, ``per_agent`` each agent's), its value and its flow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from popgames.core.errors import PopgamesError
from popgames.core.protocols import MetricsRecord
from popgames.kinds.mean_field.exact import Evaluation, evaluate, summary, uniform_policy
from popgames.loops.mean_field import fictitious_play, fixed_point, mirror_descent, prior_descent

Step = Callable[[Any, int, Mapping[str, np.ndarray], Mapping[str, Any], Evaluation], dict[str, np.ndarray]]
#: Algorithm name -> its module (``step`` and default ``OPTIONS``).
ALGORITHMS = {"fp": fictitious_play, "omd": mirror_descent, "fixed_point": fixed_point,
              "prior_descent": prior_descent}


@dataclass
class MeanFieldState:
    """Everything the loop knows: the algorithm's arrays and the history; enough to resume."""

    arrays: dict[str, np.ndarray]
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def iteration(self) -> int:
        return len(self.history)


@dataclass
class MeanFieldRecord(MetricsRecord):
    """One iteration: the JSON-ready ``metrics``, the live ``state`` and the policy's flow ``mu``."""

    metrics: dict[str, Any]
    state: MeanFieldState
    mu: np.ndarray

    @property
    def policy(self) -> np.ndarray:
        return self.state.arrays["policy"]


def check_options(algorithm: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The algorithm's options over its defaults; an unknown name or a bad value is one line."""
    if algorithm not in ALGORITHMS:
        raise PopgamesError(f"unknown mean-field algorithm '{algorithm}' (known: {', '.join(ALGORITHMS)})")
    defaults = ALGORITHMS[algorithm].OPTIONS
    for key, value in options.items():
        if key not in defaults:
            raise PopgamesError(f"{algorithm}: unknown option '{key}' (known: {', '.join(defaults) or 'none'})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise PopgamesError(f"{algorithm}: option {key}={value!r} must be a number >= 0")
    merged = {**defaults, **options}
    if algorithm == "prior_descent" and (merged["temperature"] <= 0 or merged["inner"] < 1
                                         or merged["inner"] != int(merged["inner"])):
        raise PopgamesError("prior_descent: temperature must be > 0 and inner an integer >= 1")
    return merged


def mean_field(game: Any, iterations: int | None = None, options: Mapping[str, Any] | None = None,
               *, algorithm: str = "fp", state: MeanFieldState | None = None) -> Iterator[MeanFieldRecord]:
    """Run ``algorithm`` on a mean-field or graphon ``game``, one record per iteration.

    ``iterations`` counts those already in ``state`` (a resumed run); ``None`` runs until
    stopped. The start is the uniform policy.
    """
    rules = game.rules
    settings = check_options(algorithm, dict(options or {}))
    step: Step = ALGORITHMS[algorithm].step
    state = state or MeanFieldState({"policy": uniform_policy(rules)})
    started = time.perf_counter()
    current = evaluate(rules, state.arrays["policy"])
    while iterations is None or state.iteration < iterations:
        k = state.iteration
        state.arrays = step(rules, k, state.arrays, settings, current)
        current = evaluate(rules, state.arrays["policy"], checked=True)
        scored = summary(current)
        metrics = {"iteration": k, "exploitability": scored["exploitability"],
                   "exploitability_kind": "mean_field_exploitability", "value": scored["value"],
                   "best_value": scored["best_value"], "algorithm": algorithm}
        if rules.agents:   # graphons: every agent's exploitability, for the per-alpha curve
            metrics["per_agent"] = scored["per_agent"].tolist()
        metrics["wall_time"] = state.elapsed + time.perf_counter() - started
        state.history.append(metrics)
        yield MeanFieldRecord(metrics, state, scored["mu"])


def state_arrays(state: MeanFieldState, mu: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays (the algorithm's, plus the flow ``mu`` for the report) and JSON state of a checkpoint."""
    arrays = {**state.arrays, "mu": mu}
    return arrays, {"history": state.history, "elapsed": state.history[-1]["wall_time"] if state.history else 0.0}


def state_from_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], rules: Any) -> MeanFieldState:
    """Inverse of :func:`state_arrays`, refusing a checkpoint whose policy does not fit the game."""
    from popgames.kinds.mean_field.exact import check_policy

    if "policy" not in arrays:
        raise PopgamesError("no 'policy' array")
    history, elapsed = meta.get("history"), meta.get("elapsed")
    if not isinstance(history, list) or any(r.get("iteration") != k for k, r in enumerate(history)):
        raise PopgamesError("the state's history is not a list of records by iteration")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)):
        raise PopgamesError("the state has no elapsed time")
    kept = {k: np.array(v) for k, v in arrays.items() if k != "mu"}
    kept["policy"] = check_policy(rules, kept["policy"], "checkpoint")
    return MeanFieldState(kept, list(history), float(elapsed))
