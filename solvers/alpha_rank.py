"""alpha-Rank: evolutionary ranking of pure strategy profiles.

Omidshafiei et al., "alpha-Rank: Multi-Agent Evaluation by Evolution",
Scientific Reports 9 (2019), multi-population model. The states of a Markov
chain are the pure joint profiles. From profile ``s`` one player ``k`` at a time
considers a mutant action: the chain moves to the profile ``r`` that differs from
``s`` in player ``k``'s action with probability ``eta * rho``, where
``eta = 1 / sum_k (|S_k| - 1)`` and ``rho`` is the probability that the mutant
fixates in player ``k``'s population of ``m`` individuals,

    rho = (1 - exp(-u)) / (1 - exp(-m u)),   u = alpha * (f_k(r) - f_k(s)),

and ``rho = 1/m`` on a tie (neutral drift). The stationary distribution of the
chain ranks the profiles; its per-player marginals rank each player's actions.

The infinite-alpha limit follows OpenSpiel's epsilon-perturbed chain
(``open_spiel/python/egt/alpharank.py``, ``use_inf_alpha``): a transition goes with
``eta * (1 - eps)`` when it improves the mover's payoff, ``eta * eps`` when it
worsens it and ``eta / 2`` on a tie.

Numerics. ``rho`` is evaluated in log space from ``expm1`` forms, so large
``alpha`` neither overflows nor divides 0 by 0. With the default ``alpha = 100``
and ``m = 50`` (OpenSpiel's defaults) most worsening moves have probabilities like
``exp(-2000)``: they underflow, and the stationary distribution is decided by
ratios of such numbers. So:

* when the transitions with ``rho >= 1e-6`` already connect every profile to
  every other, the chain is well conditioned and a sparse LU solve of
  ``pi Q = 0, sum pi = 1`` answers (``Q`` is built with diagonal ``-sum of the
  row``, not ``1 - sum``, so no small rate is lost to cancellation);
* otherwise the Grassmann-Taksar-Heyman state reduction runs in log space. It
  uses no subtraction, so every stationary probability comes out with full
  relative accuracy even where OpenSpiel's eigen-solver reports "multiple
  stationary distributions". It is dense, ``O(states^3)``: about 0.03 s for 125
  profiles and 4 s for 1,000, so chains above ``_DENSE_LIMIT`` profiles in this
  regime raise :class:`~popgames.errors.SolverError` (use a smaller ``alpha``
  or ``alpha="inf"``).

Ties (finite alpha): ``|u| <= 1e-14`` as in OpenSpiel. Ties (infinite alpha):
``|f_k(r) - f_k(s)| <= 1e-12 * max(1, payoff range)`` -- OpenSpiel compares with
``numpy.isclose`` (relative tolerance 1e-5), which is not invariant to adding a
constant to the payoffs; the two agree except on near-ties.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve
from scipy.special import logsumexp

from popgames.errors import SolverError
from popgames.solvers.registry import Candidate, register

#: Largest chain solved by dense log-space state reduction (about 15 s at this size).
_DENSE_LIMIT = 1500
#: Transitions with fixation probability at least this keep the sparse solve well conditioned.
_STRONG = 1e-6


def _parse_alpha(alpha: Any) -> float:
    if isinstance(alpha, str) and alpha.strip().lower() in ("inf", "infinity"):
        return np.inf
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not alpha >= 0:
        raise SolverError("alpharank",
                          f"option alpha must be a number >= 0 or 'inf', got {alpha!r}")
    return float(alpha)


def _transitions(payoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All single-player deviations: source profile, target profile, payoff change of the mover."""
    shape = payoffs.shape[1:]
    count = int(np.prod(shape))
    states = np.arange(count)
    digits = np.unravel_index(states, shape)
    src, dst, gain = [], [], []
    for k, size in enumerate(shape):
        if size == 1:
            continue
        stride = int(np.prod(shape[k + 1:]))
        flat = payoffs[k].reshape(-1)
        target = states[:, None] + (np.arange(size)[None, :] - digits[k][:, None]) * stride
        moved = np.arange(size)[None, :] != digits[k][:, None]
        source = np.broadcast_to(states[:, None], target.shape)[moved]
        target = target[moved]
        src.append(source)
        dst.append(target)
        gain.append(flat[target] - flat[source])
    return np.concatenate(src), np.concatenate(dst), np.concatenate(gain)


def _log_fixation(gain: np.ndarray, alpha: float, m: int) -> np.ndarray:
    """``log rho`` for payoff changes ``gain``, stable for any ``alpha * gain``."""
    u = alpha * gain
    out = np.full(u.shape, -np.log(m))
    up, down = u > 1e-14, u < -1e-14
    # u > 0: rho = (1 - e^-u) / (1 - e^-mu); both factors in (0, 1].
    out[up] = np.log(-np.expm1(-u[up])) - np.log(-np.expm1(-m * u[up]))
    # u < 0, v = -u: rho = e^{-(m-1)v} (1 - e^-v) / (1 - e^-mv).
    v = -u[down]
    out[down] = -(m - 1) * v + np.log(-np.expm1(-v)) - np.log(-np.expm1(-m * v))
    return out


def _stationary_lu(count: int, src: np.ndarray, dst: np.ndarray,
                   prob: np.ndarray) -> np.ndarray | None:
    """Sparse solve of ``pi Q = 0, sum pi = 1``; ``None`` if the answer is not a distribution."""
    exits = np.bincount(src, weights=prob, minlength=count)
    # Q^T (columns = source states) with its first row replaced by the normalisation.
    rows = np.concatenate([dst, np.arange(count)])
    cols = np.concatenate([src, np.arange(count)])
    vals = np.concatenate([prob, -exits])
    keep = rows != 0
    rows = np.concatenate([rows[keep], np.zeros(count, dtype=rows.dtype)])
    cols = np.concatenate([cols[keep], np.arange(count)])
    vals = np.concatenate([vals[keep], np.ones(count)])
    system = sp.csc_matrix((vals, (rows, cols)), shape=(count, count))
    rhs = np.zeros(count)
    rhs[0] = 1.0
    pi = spsolve(system, rhs)
    if not np.isfinite(pi).all() or pi.min() < -1e-10:
        return None
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _stationary_gth(count: int, src: np.ndarray, dst: np.ndarray,
                    log_prob: np.ndarray) -> np.ndarray:
    """Grassmann-Taksar-Heyman state reduction on log transition probabilities.

    States are censored from the last to the first: removing state ``k`` turns
    every path ``i -> k -> j`` into a direct transition ``i -> j`` with
    probability ``p_ik p_kj / (sum of k's exits to the remaining states)``.
    Only sums, products and divisions of positive numbers appear, so log space
    is exact up to round-off. The matrix fills in after a few steps, so whole
    dense slices are updated (``-inf`` marks a missing transition).
    """
    logp = np.full((count, count), -np.inf)
    logp[src, dst] = log_prob
    np.fill_diagonal(logp, -np.inf)
    for k in range(count - 1, 0, -1):
        exit_rate = logsumexp(logp[k, :k])
        if not np.isfinite(exit_rate):
            raise SolverError("alpharank", "the Markov chain is reducible")
        logp[:k, k] -= exit_rate
        np.logaddexp(logp[:k, :k], np.add.outer(logp[:k, k], logp[k, :k]), out=logp[:k, :k])
    log_pi = np.empty(count)
    log_pi[0] = 0.0
    for k in range(1, count):
        log_pi[k] = logsumexp(log_pi[:k] + logp[:k, k])
    return np.exp(log_pi - logsumexp(log_pi))


def alpharank(payoffs: np.ndarray, *, alpha: float | str = 100.0, population_size: int = 50,
              inf_alpha_eps: float = 0.01) -> Candidate:
    """alpha-Rank stationary distribution over pure profiles (multi-population model).

    Parameters
    ----------
    payoffs
        Payoff tensor ``[n, A_1, ..., A_n]``; player ``k``'s payoff is its fitness.
    alpha
        Ranking intensity (selection strength), ``>= 0``; default 100 as in
        OpenSpiel's ``alpharank.compute``. ``"inf"`` (or ``float("inf")``) gives the
        infinite-alpha chain perturbed by ``inf_alpha_eps``.
    population_size
        ``m``, individuals per population (default 50, OpenSpiel's default).
    inf_alpha_eps
        Noise of the infinite-alpha chain, in (0, 1); default 0.01 as in OpenSpiel.

    Returns
    -------
    Candidate
        ``joint``: the stationary distribution, shaped like the action profiles.
        ``info``: ``marginals`` (per-player rankings), ``solver`` (``"sparse_lu"``
        or ``"gth_log"``), ``states``.
    """
    alpha = _parse_alpha(alpha)
    m = population_size
    if isinstance(m, bool) or not isinstance(m, Integral) or m < 2:
        raise SolverError("alpharank", f"option population_size must be an integer >= 2, got {m!r}")
    if not (isinstance(inf_alpha_eps, Real) and 0 < inf_alpha_eps < 1):
        raise SolverError("alpharank",
                          f"option inf_alpha_eps must be in (0, 1), got {inf_alpha_eps!r}")
    shape = payoffs.shape[1:]
    count = int(np.prod(shape))
    info: dict[str, Any] = {"alpha": alpha, "population_size": int(m), "states": count}
    if count == 1:
        return Candidate(joint=np.ones(shape),
                         info={**info, "solver": "trivial", "marginals": [np.ones(1)] * len(shape)})

    src, dst, gain = _transitions(payoffs)
    if np.isinf(alpha):
        tie = 1e-12 * max(1.0, float(payoffs.max() - payoffs.min()))
        log_rho = np.where(gain > tie, np.log1p(-inf_alpha_eps), np.log(inf_alpha_eps))
        log_rho[np.abs(gain) <= tie] = np.log(0.5)
    else:
        log_rho = _log_fixation(gain, alpha, int(m))
    eta = 1.0 / sum(a - 1 for a in shape)
    log_prob = np.log(eta) + log_rho

    strong = log_rho >= np.log(_STRONG)
    graph = sp.csr_matrix((np.ones(int(strong.sum())), (src[strong], dst[strong])),
                          shape=(count, count))
    pi = None
    if connected_components(graph, directed=True, connection="strong")[0] == 1:
        pi = _stationary_lu(count, src, dst, np.exp(log_prob))
        info["solver"] = "sparse_lu"
    if pi is None:
        if count > _DENSE_LIMIT:
            raise SolverError("alpharank",
                              f"{count} profiles with transition probabilities below {_STRONG:g}: "
                              f"too large for the exact log-space solve (limit {_DENSE_LIMIT}); "
                              f"lower alpha or use alpha='inf'")
        pi = _stationary_gth(count, src, dst, log_prob)
        info["solver"] = "gth_log"
    joint = pi.reshape(shape)
    info["marginals"] = [joint.sum(axis=tuple(a for a in range(len(shape)) if a != i))
                         for i in range(len(shape))]
    return Candidate(joint=joint, info=info)


register("alpharank", "alpharank", alpharank, concept="nash", exact=False,
         summary="alpha-Rank stationary distribution over profiles (Omidshafiei et al. 2019)")
