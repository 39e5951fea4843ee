"""Per-player regrets and gaps of profiles in payoff tensors: the checks every solver's answer passes.

* NashConv (Lanctot et al. 2017): the sum over players of the gain from a best
  response to the others' mixed strategies.
* CCE / CE gap (Marris et al. 2021): the sum over players of the largest gain from
  an unconditional deviation (CCE) or, per recommended action, from a conditional
  one (CE).
* Risk-averse regret (Slumbers et al. 2023): each player minimises
  ``pi' Sigma pi - lambda mu' pi`` over its simplex; the Frank-Wolfe gap of that
  convex objective bounds the player's suboptimality from above and is zero
  exactly at its minimiser.

Every gap and regret returned here is >= 0 and zero exactly at the corresponding
equilibrium: a player may always keep to its strategy, so the best deviation
includes not deviating (for the CCE gap this is a real constraint, not only
round-off: a correlated joint can beat every unconditional deviation), and values
that are >= 0 mathematically are clipped so round-off never shows as -1e-17.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from popgames.core.errors import GameCardError
from popgames.core.payoff_tensor import (deviation_payoffs, num_actions, others_distribution,
                                         others_matrix)


def nash_regrets(payoffs: np.ndarray, marginals: Sequence[np.ndarray]) -> np.ndarray:
    """Per-player gain from deviating to a best response (>= 0)."""
    regrets = np.empty(payoffs.shape[0])
    for i, m in enumerate(marginals):
        dev = deviation_payoffs(payoffs, marginals, i)
        regrets[i] = dev.max() - dev @ np.asarray(m, dtype=np.float64)
    return np.maximum(regrets, 0.0)   # the mix's value can exceed the max by round-off


def cce_gaps(payoffs: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Per-player coarse-correlated-equilibrium gap of a joint distribution (>= 0).

    The largest gain of a deviation chosen before the recommendation is seen; not
    deviating is one of the choices, so a joint that beats every fixed action has gap 0.
    """
    joint = np.asarray(joint, dtype=np.float64)
    gaps = np.empty(payoffs.shape[0])
    for i in range(payoffs.shape[0]):
        cond = np.moveaxis(joint, i, 0).reshape(joint.shape[i], -1)
        table = others_matrix(payoffs, i)
        gaps[i] = (table @ cond.sum(axis=0)).max() - (cond * table).sum()
    return np.maximum(gaps, 0.0)


def ce_gaps(payoffs: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Per-player correlated-equilibrium gap: per recommendation, the best conditional gain (>= 0)."""
    joint = np.asarray(joint, dtype=np.float64)
    gaps = np.empty(payoffs.shape[0])
    for i in range(payoffs.shape[0]):
        cond = np.moveaxis(joint, i, 0).reshape(joint.shape[i], -1)
        # value[a, b]: expected payoff of playing b when a is recommended (unnormalised).
        value = cond @ others_matrix(payoffs, i).T
        gaps[i] = (value.max(axis=1) - np.diag(value)).sum()
    return np.maximum(gaps, 0.0)


def risk_moments(payoffs: np.ndarray, marginals: Sequence[np.ndarray], player: int,
                 entry_variances: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector and covariance matrix of ``player``'s pure-action payoffs.

    The randomness is the others' joint action drawn from their mixed strategies and,
    when ``entry_variances`` (same shape as ``payoffs``) is given, each entry's own
    outcome noise (sampled meta-games): by the law of total variance that adds
    ``diag(sum_b p(b) var[k, b])``, independent across the player's own actions.
    """
    table = others_matrix(payoffs, player)
    prob = others_distribution(marginals, player)
    mean = table @ prob
    centred = table - mean[:, None]
    cov = (centred * prob) @ centred.T
    if entry_variances is not None:
        cov = cov + np.diag(others_matrix(np.asarray(entry_variances, np.float64), player) @ prob)
    return mean, cov


def risk_averse_regrets(payoffs: np.ndarray, marginals: Sequence[np.ndarray],
                        mean_weight: float = 0.0, entry_variances: np.ndarray | None = None) -> np.ndarray:
    """Per-player Frank-Wolfe gap of ``pi' Sigma pi - mean_weight * mu' pi`` over the simplex (>= 0)."""
    regrets = np.empty(payoffs.shape[0])
    for i, m in enumerate(marginals):
        pi = np.asarray(m, dtype=np.float64)
        mean, cov = risk_moments(payoffs, marginals, i, entry_variances)
        grad = 2.0 * cov @ pi - mean_weight * mean
        regrets[i] = grad @ pi - grad.min()
    return np.maximum(regrets, 0.0)   # grad @ pi can fall below its min by round-off


def _check_distribution(x: np.ndarray, shape: tuple[int, ...], field: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.shape != shape:
        raise GameCardError("<profile>", field, f"expected shape {shape}, got {x.shape}")
    if not np.isfinite(x).all() or (x < -1e-9).any() or abs(x.sum() - 1.0) > 1e-6:
        raise GameCardError("<profile>", field, "not a probability distribution")
    return x


def profile_gaps(payoffs: np.ndarray, profile: Any, concept: str | None = None
                 ) -> tuple[float, np.ndarray, str]:
    """Exploitability of a profile in the payoff tensor ``payoffs``: ``(total, per player, kind)``.

    ``profile`` is per-player mixed strategies (-> NashConv, ``"nash_conv"``) or a joint
    distribution with shape ``(A_1, ..., A_n)`` (-> ``"cce_gap"`` by default, or with
    ``concept="ce"`` ``"ce_gap"``). A malformed profile is a one-line
    :class:`~popgames.core.errors.GameCardError`.
    """
    shape = num_actions(payoffs)
    if isinstance(profile, np.ndarray) and profile.shape == shape and (
            len(shape) > 1 or concept is not None):
        joint = _check_distribution(profile, shape, "joint")
        kind = concept or "cce"
        if kind not in ("ce", "cce"):
            raise GameCardError("<profile>", "concept", f"expected 'ce' or 'cce', got {kind!r}")
        gaps = ce_gaps(payoffs, joint) if kind == "ce" else cce_gaps(payoffs, joint)
        return float(gaps.sum()), gaps, f"{kind}_gap"
    if len(profile) != len(shape):
        raise GameCardError("<profile>", "marginals",
                            f"expected {len(shape)} per-player strategies, got {len(profile)}")
    marginals = [_check_distribution(m, (a,), f"marginals[{i}]")
                 for i, (m, a) in enumerate(zip(profile, shape))]
    regrets = nash_regrets(payoffs, marginals)
    return float(regrets.sum()), regrets, "nash_conv"
