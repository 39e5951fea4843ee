"""How the registry checks an answer: the gap tolerance, and the gap of a candidate.

:func:`verify` recomputes a backend's answer's gap with :mod:`popgames.core.regrets`
(code the backends do not share): NashConv for Nash-type concepts, the CE / CCE gap for
correlated ones, the summed risk-averse regret for ``rae``. :func:`tolerance` turns the
relative ``tol`` option into the absolute bound that gap is held to.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from popgames.core.errors import SolverError
from popgames.core.payoff_tensor import joint_marginals, outer
from popgames.core.regrets import cce_gaps, ce_gaps, nash_regrets, risk_averse_regrets

#: Default verification tolerance, relative to the payoff range.
DEFAULT_TOL = 1e-6
#: Gaps are recomputed in float64 from payoffs of magnitude M, so they carry round-off of a
#: few thousand ulps of M; a tolerance never goes below this times M.
ROUNDOFF = 1e-12


def tolerance(payoffs: np.ndarray, tol: float = DEFAULT_TOL, concept: str = "nash",
              mean_weight: float = 0.0) -> float:
    """Absolute gap tolerance: ``tol`` times the gap's natural scale, never below round-off.

    The scale is the payoff range ``R`` (NashConv, CE and CCE gaps are differences of
    payoffs), or ``R**2 + |mean_weight| R`` for the risk-averse gap (a variance minus
    ``mean_weight`` times a mean). Scaling every payoff by ``c`` scales the tolerance by
    ``c`` (``c**2``): a game in units of 1e-9 is held to the same relative standard.
    """
    span = float(payoffs.max() - payoffs.min())
    size = float(np.abs(payoffs).max())
    if concept == "rae":
        span, size = span * (span + abs(mean_weight)), size * (size + abs(mean_weight))
    if not (math.isfinite(span) and math.isfinite(size)):
        raise SolverError(concept, f"payoffs up to {float(np.abs(payoffs).max()):.3g} overflow "
                                   "the gap's scale in float64; rescale the game")
    return max(tol * span, ROUNDOFF * size)


def verify(payoffs: np.ndarray, marginals: Sequence[np.ndarray] | None, joint: np.ndarray | None,
           concept: str, options: Mapping[str, Any]
           ) -> tuple[list[np.ndarray] | None, np.ndarray, np.ndarray]:
    """Check a candidate's ``marginals`` and / or ``joint`` are distributions and compute its
    gap per player.

    Returns ``(marginals, joint, per_player_gap)``; raises :class:`SolverError`
    if the candidate is not a probability distribution of the right shape.
    """
    shape = payoffs.shape[1:]
    if marginals is not None:
        marginals = [np.asarray(m, dtype=np.float64) for m in marginals]
        if [m.shape for m in marginals] != [(a,) for a in shape]:
            raise SolverError(concept, f"marginal shapes {[m.shape for m in marginals]} != {shape}")
        for m in marginals:
            _check_simplex(m, concept)
        marginals = [np.clip(m, 0.0, None) / np.clip(m, 0.0, None).sum() for m in marginals]
    if joint is not None:
        joint = np.asarray(joint, dtype=np.float64).reshape(shape)
        _check_simplex(joint, concept)
        joint = np.clip(joint, 0.0, None) / np.clip(joint, 0.0, None).sum()
        if marginals is not None and any(np.abs(a - b).max() > 1e-9
                                         for a, b in zip(joint_marginals(joint), marginals)):
            raise SolverError(concept, "the marginals are not the joint's marginals")
    elif marginals is not None:
        joint = outer(marginals)
    else:
        raise SolverError(concept, "backend returned neither marginals nor joint")
    if concept == "ce":
        gaps = ce_gaps(payoffs, joint)
    elif concept == "cce":
        gaps = cce_gaps(payoffs, joint)
    else:
        profile = marginals if marginals is not None else joint_marginals(joint)
        gaps = (risk_averse_regrets(payoffs, profile, float(options.get("mean_weight", 0.0)),
                                    options.get("entry_variances"))
                if concept == "rae" else nash_regrets(payoffs, profile))
    return marginals, joint, np.maximum(gaps, 0.0)


def _check_simplex(x: np.ndarray, concept: str) -> None:
    if not np.isfinite(x).all() or x.min() < -1e-7 or abs(x.sum() - 1.0) > 1e-6:
        raise SolverError(concept, f"answer is not a probability distribution "
                                   f"(min {x.min():.3g}, sum {x.sum():.9g})")
