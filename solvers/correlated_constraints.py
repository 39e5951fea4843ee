"""Gain matrices of (coarse) correlated-equilibrium constraints, and fast exact solvers over them.

A joint distribution ``x`` over action profiles (flattened in the payoff tensor's C
order) is an epsilon-CE iff ``G x <= epsilon`` row by row (Aumann 1974): one row per
(player i, recommendation a, deviation b != a) holding ``u_i(b, a_-i) - u_i(a, a_-i)`` on
the profiles that recommend ``a``. For a CCE (Moulin & Vial 1978) one row per (player i,
deviation b) holds ``u_i(b, a_-i) - u_i(a)`` on every profile.

Both solvers work on a *working set* of rows, because at an optimum only a few hundred of
the thousands of rows bind (2-player, 50 actions: ~400 of 4900):

* :func:`solve_linear` -- max welfare / min epsilon: HiGHS dual simplex, adding violated rows
  and re-running warm-started from the previous basis (constraint generation).
* :func:`dual_newton` -- max-Gini / max-entropy: projected Newton (Bertsekas 1982) on the
  Lagrange dual over ``lambda >= 0`` (Ortiz, Schapire & Kakade 2007 for entropy), whose
  Newton systems only involve the rows in the working set. It is fast and exact (1e-12)
  when the polytope has interior points; on flat, degenerate ones (every equilibrium
  leaves a row tight, as in many small random games) it may stall, and the caller falls
  back to an interior-point method -- for entropy on the polytope's :func:`face` (support
  and always-tight rows, found by one LP), where the problem is well posed again.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from popgames.errors import SolverError
from popgames.payoff_tensor import others_matrix
from popgames.solvers.highs_setup import new_highs

#: Rows whose violation (in units of the largest gain) exceeds this are not yet satisfied.
FEASIBILITY = 1e-10


@dataclass(frozen=True)
class GainRows:
    """Constraint rows ``G x <= epsilon`` scaled so that ``max |G| = 1``.

    ``group[k]`` is the (player, recommendation) pair of row ``k`` for a CE, the player
    for a CCE; ``scale`` is the factor divided out (payoff units per unit of ``G``).
    """

    matrix: sp.csr_matrix | np.ndarray
    group: np.ndarray
    scale: float


def ce_rows(payoffs: np.ndarray) -> GainRows:
    """Correlated-equilibrium gain rows as a sparse matrix (built without profile loops)."""
    shape = payoffs.shape[1:]
    flat = np.arange(int(np.prod(shape))).reshape(shape)
    data, cols, lengths, group = [], [], [], []
    for i, a_i in enumerate(shape):
        table = others_matrix(payoffs, i)                      # [A_i, prod(A_-i)]
        where = np.moveaxis(flat, i, 0).reshape(a_i, -1)       # profile index of (a, a_-i)
        rec, dev = np.nonzero(~np.eye(a_i, dtype=bool))
        data.append((table[dev] - table[rec]).ravel())
        cols.append(where[rec].ravel())
        lengths.append(np.full(len(rec), table.shape[1]))
        group.append(sum(shape[:i]) + rec)
    indptr = np.r_[0, np.cumsum(np.concatenate(lengths))]
    matrix = sp.csr_matrix((np.concatenate(data), np.concatenate(cols), indptr),
                           shape=(len(indptr) - 1, flat.size))
    return _scaled(matrix, np.concatenate(group))


def cce_rows(payoffs: np.ndarray) -> GainRows:
    """Coarse-correlated-equilibrium gain rows as a dense matrix (one row per deviation)."""
    shape = payoffs.shape[1:]
    blocks = []
    for i, a_i in enumerate(shape):
        table = others_matrix(payoffs, i)
        gain = (table[:, None, :] - table[None, :, :]).reshape(a_i, a_i, *shape[:i], *shape[i + 1:])
        blocks.append(np.moveaxis(gain, 1, 1 + i).reshape(a_i, -1))
    return _scaled(np.concatenate(blocks), np.repeat(np.arange(len(shape)), shape))


def _scaled(matrix: sp.csr_matrix | np.ndarray, group: np.ndarray) -> GainRows:
    values = matrix.data if sp.issparse(matrix) else matrix
    scale = float(np.abs(values).max(initial=0.0)) or 1.0
    return GainRows(matrix / scale, group, scale)


def solve_linear(rows: GainRows, cost: np.ndarray | None, bound: float, *,
                 min_epsilon: bool = False) -> tuple[np.ndarray, float, dict]:
    """Maximise ``cost @ x`` over ``{x in simplex : G x <= bound}`` with HiGHS.

    With ``min_epsilon`` the bound is first minimised, then fixed at that minimum (the
    LP's basis stays feasible, so no slack is needed). By complementary slackness the
    columns with zero reduced cost and the rows with non-zero dual contain the support
    of, and bind at, every minimum-epsilon point; ``info["unique"]`` says whether they
    pin down a single point, which is then returned whatever ``cost`` is. With
    ``cost=None`` only the first stage runs. Returns ``(x, bound_used, info)``.
    """
    G, n = rows.matrix, rows.matrix.shape[1]
    highs = _highs()
    # Columns: x, then the bound t (a variable only while minimising it); |G x| <= 1.
    highs.addVars(n + 1, np.r_[np.zeros(n), -2.0], np.r_[np.full(n, np.inf), 2.0])
    highs.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))
    order: list[np.ndarray] = []
    if G.shape[0] * n <= 20_000:  # small: one solve beats several warm starts
        _add_rows(highs, G, np.arange(G.shape[0]), order)
    info: dict = {"rounds": 0}
    if min_epsilon:
        highs.changeColCost(n, 1.0)
        if G.shape[0] * n > 1_000_000:
            # Hundreds of rows bind at the minimum and generation ends up adding nearly all
            # of them; interior point + crossover is then 2-3x faster than dual simplex.
            _add_rows(highs, G, np.flatnonzero(~_in_model(order, G.shape[0])), order)
            highs.setOptionValue("solver", "ipm")
        x, bound = _generate(highs, rows, order, info)
        highs.setOptionValue("solver", "choose")
        if bound > -1e-9:  # exact equilibria exist, so a minimum this close to 0 is 0
            bound = 0.0
        sol = highs.getSolution()
        duals = np.zeros(G.shape[0])
        duals[np.concatenate(order or [np.zeros(0, dtype=int)])] = np.asarray(sol.row_dual)[1:]
        cols = np.flatnonzero(np.asarray(sol.col_dual)[:n] <= FEASIBILITY)
        tight = np.flatnonzero(np.abs(duals) > FEASIBILITY)
        # Often the face is one point (a square non-singular system); nothing to optimise.
        system = np.vstack([_dense(G[tight])[:, cols], np.ones((1, len(cols)))])
        info["unique"] = bool(np.linalg.matrix_rank(system) == len(cols))
        highs.changeColCost(n, 0.0)
    if cost is not None and not info.get("unique"):
        highs.changeColBounds(n, bound, bound)
        highs.changeColsCost(n, np.arange(n, dtype=np.int32), -np.asarray(cost, dtype=np.float64))
        x, _ = _generate(highs, rows, order, info)
    info["rows_in_model"] = int(sum(len(o) for o in order))
    return x, bound, info


def _dense(matrix: sp.csr_matrix | np.ndarray) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _highs() -> highspy.Highs:
    # Presolve off: 2x faster here, the rows are dense and few.
    return new_highs(presolve="off", primal_feasibility_tolerance=FEASIBILITY,
                     dual_feasibility_tolerance=FEASIBILITY)


def _add_rows(highs: highspy.Highs, G: sp.csr_matrix | np.ndarray, which: np.ndarray,
              order: list[np.ndarray]) -> None:
    """Add rows ``G[which] x - t <= 0`` (``t`` is the last column)."""
    n, k = G.shape[1], len(which)
    sub = G[which]
    if sp.issparse(sub):
        starts, index, value = sub.indptr, sub.indices, sub.data
    else:
        starts, index, value = np.arange(0, k * n + 1, n), np.tile(np.arange(n), k), sub.ravel()
    ends = starts[1:]  # append the -t entry at the end of each row
    highs.addRows(k, np.full(k, -np.inf), np.zeros(k), len(value) + k,
                  (starts[:-1] + np.arange(k)).astype(np.int32),
                  np.insert(index, ends, n).astype(np.int32), np.insert(value, ends, -1.0))
    order.append(which)


def _run(highs: highspy.Highs) -> np.ndarray:
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError("highs", f"HiGHS status: {highs.modelStatusToString(status)}")
    return np.asarray(highs.getSolution().col_value)


def _in_model(order: list[np.ndarray], m: int) -> np.ndarray:
    mask = np.zeros(m, dtype=bool)
    mask[np.concatenate(order or [np.zeros(0, dtype=int)])] = True
    return mask


def _generate(highs: highspy.Highs, rows: GainRows, order: list[np.ndarray],
              info: dict) -> tuple[np.ndarray, float]:
    """Re-solve, adding the nearly-worst violated rows of each group, until none is violated."""
    G, n = rows.matrix, rows.matrix.shape[1]
    in_model = _in_model(order, G.shape[0])
    while True:
        sol = _run(highs)
        info["rounds"] += 1
        x, bound = np.clip(sol[:n], 0.0, None), float(sol[n])
        violation = G @ x - bound
        candidate = (violation > FEASIBILITY) & ~in_model
        if not candidate.any():
            return x / x.sum(), bound
        worst = np.zeros(rows.group.max() + 1)
        np.maximum.at(worst, rows.group[candidate], violation[candidate])
        new = np.flatnonzero(candidate & (violation >= 0.5 * worst[rows.group]))
        _add_rows(highs, G, new, order)
        in_model[new] = True


def face(rows: GainRows, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """Support and implicit equalities of ``{x in simplex : G x <= bound}``, with one LP.

    On the cone ``{z >= 0 : G z <= bound * sum(z)}`` maximise ``sum(min(z_j, 1)) +
    sum(min(slack_k, 1))``: the cone is closed under addition, so the optimum is 1 exactly
    for the columns some point uses and the rows some point leaves slack. Returns boolean
    masks ``(support, equality)`` over columns and rows.
    """
    G = sp.csr_matrix(rows.matrix)
    m, n = G.shape
    eye_n, eye_m = sp.identity(n, format="csr"), sp.identity(m, format="csr")
    body = sp.bmat([[sp.csr_matrix(np.ones((1, n))), sp.csr_matrix([[-1.0]]), None, None],
                    [-eye_n, None, eye_n, None],
                    [G, sp.csr_matrix(np.full((m, 1), -bound)), None, eye_m]], format="csr")
    failures = []
    # The LP is bounded (its objective lies in [-(n + m), 0]) but degenerate: z and s are
    # zero-cost rays, and z is scaled up to 1 / (the smallest positive probability a face
    # profile can have), 2.6e5 on leduc JPSRO meta-games. At FEASIBILITY (1e-10) HiGHS's
    # dual simplex then stops with status Unbounded / Unknown on 16 of 210 leduc and kuhn
    # JPSRO meta-games; at its default 1e-7 it solved all of them, with the same masks
    # wherever the tighter setting succeeded (the masks threshold u and v at 1/2).
    for tolerance in (1e-7, FEASIBILITY):
        highs = _highs()
        for option in ("primal_feasibility_tolerance", "dual_feasibility_tolerance"):
            highs.setOptionValue(option, tolerance)
        # Columns: z (n), s = sum(z), u (n) <= z, v (m) <= slack = bound * s - G z.
        highs.addVars(2 * n + 1 + m, np.zeros(2 * n + 1 + m),
                      np.r_[np.full(n + 1, np.inf), np.ones(n + m)])
        highs.changeColsCost(n + m, np.arange(n + 1, 2 * n + 1 + m, dtype=np.int32),
                             -np.ones(n + m))
        highs.addRows(n + m + 1, np.r_[0.0, np.full(n + m, -np.inf)], np.zeros(n + m + 1),
                      body.nnz, body.indptr[:-1].astype(np.int32), body.indices.astype(np.int32),
                      body.data)
        try:
            sol = _run(highs)
        except SolverError as exc:
            failures.append(f"feasibility tolerance {tolerance:g}: {exc.cause}")
            continue
        return sol[n + 1:2 * n + 1] > 0.5, sol[2 * n + 1:] <= 0.5
    raise SolverError("face", "; ".join(failures))


def dual_newton(rows: GainRows, bound: float, objective: str, *, tol: float = 1e-11,
                max_iter: int | None = None) -> tuple[np.ndarray, dict]:
    """Max-Gini or max-entropy distribution over ``{x in simplex : G x <= bound}``.

    Minimises the dual ``phi(lam, mu)`` over ``lam >= 0``: for ``max_gini``
    ``x = max(0, (mu - G'lam) / 2)`` and ``phi = |x|^2 + bound * sum(lam) - mu``; for
    ``max_entropy`` ``x = softmax(-G'lam)``, ``phi = logsumexp(-G'lam) + bound * sum(lam)``.
    Rows with ``lam`` at zero and a positive gradient are held at zero; a violated row enters the Newton system only when within
    80% of the worst violation of its group, which keeps the systems near the size of
    the final active set. Raises :class:`SolverError` if it does not converge within
    ``max_iter`` steps (default ``40 + profiles / 500``: 2-player CE max-Gini took 32 steps
    at 100 x 100, 40-53 at 200 x 200, 68-83 at 250 x 250 and 68 at 300 x 300).
    """
    G, group = rows.matrix, rows.group
    m, n = G.shape
    gini = objective == "max_gini"
    Gt = G.T.tocsr() if sp.issparse(G) else G.T

    def primal(lam: np.ndarray, mu: float) -> tuple[float, np.ndarray]:
        z = Gt @ lam
        if gini:
            x = np.maximum(0.0, 0.5 * (mu - z))
            return float(x @ x + bound * lam.sum() - mu), x
        top = -z.min()
        e = np.exp(-z - top)
        return float(top + np.log(e.sum()) + bound * lam.sum()), e / e.sum()

    max_iter = 40 + n // 500 if max_iter is None else max_iter
    lam, mu = np.zeros(m), 2.0 / n
    phi, x = primal(lam, mu)
    it, res = 0, np.inf
    for it in range(max_iter):
        grad = bound - G @ x
        grad_mu = x.sum() - 1.0 if gini else 0.0
        pg = np.where(lam > 0, grad, np.minimum(grad, 0.0))
        res = max(np.abs(pg).max(initial=0.0), abs(grad_mu))
        if res <= tol:
            break
        near = lam <= min(1e-3, res)
        fixed, entering = near & (grad > 0), near & (grad < 0)
        worst = np.zeros(group.max(initial=0) + 1)
        np.minimum.at(worst, group[entering], grad[entering])
        held = entering & (grad > 0.8 * worst[group])
        free = np.flatnonzero(~(fixed | held))
        d = _newton_direction(G[free], x, grad[free], grad_mu, gini, res)
        step = np.zeros(m)
        step[free], step[fixed] = d[:len(free)], -grad[fixed]
        d_mu = d[-1] if gini else 0.0
        alpha, new = 1.0, None
        while alpha >= 1e-10:
            lam_new = np.maximum(lam + alpha * step, 0.0)
            phi_new, x_new = primal(lam_new, mu + alpha * d_mu)
            decrease = grad @ (lam - lam_new) - grad_mu * alpha * d_mu
            if phi_new <= phi - 1e-4 * decrease + 1e-15 * abs(phi):
                new = (lam_new, mu + alpha * d_mu, phi_new, x_new)
                break
            alpha *= 0.5
        if new is None:  # no decrease even for tiny steps: round-off level reached
            break
        if alpha == 1.0 and not gini:
            # Where the entropy dual's infimum is not attained (profiles no CE plays), lam
            # runs off along a ray; doubling the step follows it instead of crawling.
            while alpha < 1024:
                lam_new = np.maximum(lam + 2 * alpha * step, 0.0)
                phi_new, x_new = primal(lam_new, mu)
                if phi_new >= new[2] - 1e-4 * abs(new[2] - phi):
                    break
                alpha, new = 2 * alpha, (lam_new, mu, phi_new, x_new)
        lam, mu, phi, x = new
    worst_violation = float((G @ x - bound).max(initial=0.0))
    if not worst_violation <= 100 * tol or not abs(x.sum() - 1.0) <= 1e-9:  # NaN fails too
        raise SolverError(objective, f"dual Newton stopped after {it} iterations: residual "
                                     f"{res:.3g}, row violation {worst_violation:.3g}")
    return x / x.sum(), {"iterations": it, "residual": float(res),
                         "active_rows": int((lam != 0).sum())}


def _newton_direction(GF: sp.csr_matrix | np.ndarray, x: np.ndarray, grad: np.ndarray,
                      grad_mu: float, gini: bool, res: float) -> np.ndarray:
    """Solve the (regularised) Newton system on the free rows (and ``mu`` for Gini)."""
    w = 0.5 * (x > 0) if gini else x
    if sp.issparse(GF):
        scaled = GF.copy()
        scaled.data *= w[scaled.indices]
        hess = (scaled @ GF.T).toarray()
    else:
        hess = (GF * w) @ GF.T
    if gini:
        side = -(GF @ w)
        hess = np.block([[hess, side[:, None]], [side[None, :], np.array([[w.sum()]])]])
        grad = np.r_[grad, grad_mu]
    else:
        gx = GF @ x
        hess -= np.outer(gx, gx)
    diag = np.diag(hess).copy()
    # Levenberg-Marquardt damping: the Hessian is singular (rows outnumber useful directions).
    hess[np.diag_indices_from(hess)] += res * (1.0 + diag) + 1e-13 * (1.0 + diag.max(initial=0))
    try:
        return -sla.cho_solve(sla.cho_factor(hess, check_finite=False), grad, check_finite=False)
    except np.linalg.LinAlgError:
        return -np.linalg.lstsq(hess, grad, rcond=None)[0]
