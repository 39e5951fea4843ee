"""Stationary distributions of alpha-rank's Markov chain: three solvers for three regimes.

The chain's states are the pure profiles; from profile ``s`` only one player moves, so
its transitions are stored per player ``k`` as ``rates[k]``, an array laid out as the
other players' actions followed by ``[a, b]``: the probability of ``k`` moving from
``a`` to ``b`` with the rest fixed (a *fiber*). That is ``count * A_k`` numbers, not a
``count x count`` matrix.

* :func:`stationary_lu` -- sparse LU of ``pi Q = 0, sum pi = 1``. Exact to round-off on
  well-conditioned chains, but the profile graph (two profiles adjacent when they differ
  in one player's action) has no small separators: any balanced separator of an
  ``n x n`` rook graph holds about ``n^2 / 2`` profiles, so the factors fill in almost
  completely (``O(count^2)`` memory, ``O(count^3)`` time: 1.3 GB and 144 s at 100 x 100).
* :func:`stationary_iterative` -- GMRES on the same system, preconditioned by exact
  solves on the largest player's fibers: ``O(count * A_k)`` memory, a few iterations.
* :func:`stationary_gth` -- Grassmann-Taksar-Heyman state reduction in log space, for
  chains whose transition probabilities span hundreds of orders of magnitude: dense,
  ``O(count^3)``, but every probability keeps full relative accuracy.

Each imports the SciPy modules it needs when first called.
"""

from __future__ import annotations

import numpy as np

from popgames.core.errors import SolverError

#: Relative residual ``|pi Q|_1 / |pi diag(Q)|_1`` an iterative answer must reach (sparse LU
#: reaches 2e-15 to 1.2e-14 on the chains the tests compare).
RESIDUAL = 1e-13


def fibers(shape: tuple[int, ...], k: int) -> np.ndarray:
    """Flat profile indices laid out like ``rates[k]``'s first axes plus ``k``'s action."""
    return np.moveaxis(np.arange(int(np.prod(shape))).reshape(shape), k, -1)


def edges(shape: tuple[int, ...], log_rates: dict[int, np.ndarray]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All transitions as ``(source, target, log probability)`` arrays."""
    src, dst, val = [], [], []
    for k, log_rate in log_rates.items():
        index = fibers(shape, k)
        size = shape[k]
        moved = ~np.eye(size, dtype=bool)
        src.append(np.broadcast_to(index[..., :, None], log_rate.shape)[..., moved].ravel())
        dst.append(np.broadcast_to(index[..., None, :], log_rate.shape)[..., moved].ravel())
        val.append(log_rate[..., moved].ravel())
    return np.concatenate(src), np.concatenate(dst), np.concatenate(val)


def stationary_lu(count: int, src: np.ndarray, dst: np.ndarray,
                  prob: np.ndarray) -> np.ndarray | None:
    """Sparse solve of ``pi Q = 0, sum pi = 1``; ``None`` if the answer is not a distribution."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

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


def stationary_iterative(shape: tuple[int, ...], rates: dict[int, np.ndarray],
                         max_iter: int = 300) -> tuple[np.ndarray | None, dict]:
    """GMRES on ``Q^T pi + w 1 (1' pi) = w 1`` (whose solution is the stationary distribution).

    The rank-one term makes the system non-singular for an irreducible chain and forces
    ``sum pi = 1`` (summing the rows gives ``w count (1 - sum pi) = 0``). Preconditioner:
    ``Q`` restricted to the largest player's fibers (that player's moves, and every
    exit on the diagonal), inverted fiber by fiber. Returns ``(pi, info)``, with ``pi``
    ``None`` when GMRES does not reach :data:`RESIDUAL` or the answer has negative
    entries (a chain too ill-conditioned for linear arithmetic). ``max_iter`` bounds the
    GMRES iterations over all rounds (15 to 70 were needed on the chains tested).
    """
    from scipy.sparse.linalg import LinearOperator, gmres

    count = int(np.prod(shape))
    exits = np.zeros(shape)
    for k, rate in rates.items():
        exits += np.moveaxis(rate.sum(axis=-1), -1, k)

    def flow(x: np.ndarray) -> np.ndarray:  # (x Q) as a flat vector
        x = x.reshape(shape)
        y = -x * exits
        for k, rate in rates.items():
            # einsum, not matmul: batched matmul calls BLAS once per fiber (5x slower here).
            y += np.moveaxis(np.einsum("...a,...ab->...b", np.moveaxis(x, k, -1), rate), -1, k)
        return y.ravel()

    top = max(rates, key=lambda k: shape[k])
    block = rates[top].copy()
    diag = np.arange(shape[top])
    block[..., diag, diag] = -np.moveaxis(exits, top, -1)
    try:
        inverse = np.linalg.inv(block)  # x_f B_f = r_f  ->  x_f = r_f B_f^-1, per fiber
    except np.linalg.LinAlgError:
        return None, {"iterative": "a fiber block is singular"}
    if not np.isfinite(inverse).all():
        return None, {"iterative": "a fiber block is singular"}

    def precondition(r: np.ndarray) -> np.ndarray:
        r = np.moveaxis(r.reshape(shape), top, -1)
        return np.moveaxis(np.einsum("...a,...ab->...b", r, inverse), -1, top).ravel()

    # The rank-one term scaled like the flows (pi_i * exit_i ~ mean exit / count): at weight
    # 1 it would swamp them, and their round-off would decide the answer.
    weight = float(exits.mean()) / count
    system = LinearOperator((count, count), matvec=lambda x: flow(x) + weight * x.sum(),
                            dtype=np.float64)
    pi, steps = np.zeros(count), [0]

    def count_step(_: np.ndarray) -> None:
        steps[0] += 1

    # GMRES's own stopping test is on the preconditioned residual, which reaches 1e-12 while
    # the true one is still about 1e-10; a few rounds of refinement take it to round-off.
    # A round that does not gain a factor 10 ends it (an ill-conditioned chain).
    residual, rounds = np.inf, 0
    while steps[0] < max_iter:
        rounds += 1
        correction, _ = gmres(system, weight * (1.0 - pi.sum()) - flow(pi),
                              M=LinearOperator((count, count), matvec=precondition),
                              rtol=1e-12, atol=0.0, restart=50, maxiter=2,
                              callback=count_step, callback_type="pr_norm")
        pi = pi + correction
        scale = float(np.abs(pi * exits.ravel()).sum()) or 1.0
        previous, residual = residual, float(np.abs(flow(pi)).sum()) / scale
        if not residual > RESIDUAL or residual > 0.1 * previous:  # NaN stops too
            break
    info = {"iterations": steps[0], "refinements": rounds, "residual": residual}
    if not np.isfinite(pi).all() or residual > RESIDUAL or pi.min() < -1e-12 * pi.max():
        return None, info
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum(), info


def stationary_gth(count: int, src: np.ndarray, dst: np.ndarray,
                   log_prob: np.ndarray) -> np.ndarray:
    """Grassmann-Taksar-Heyman state reduction on log transition probabilities.

    States are censored from the last to the first: removing state ``k`` turns
    every path ``i -> k -> j`` into a direct transition ``i -> j`` with
    probability ``p_ik p_kj / (sum of k's exits to the remaining states)``.
    Only sums, products and divisions of positive numbers appear, so log space
    is exact up to round-off. The matrix fills in after a few steps, so whole
    dense slices are updated (``-inf`` marks a missing transition).
    """
    from scipy.special import logsumexp

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
