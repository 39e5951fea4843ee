"""Max-welfare and minimum-epsilon (C)CE by HiGHS over a working set of gain rows.

* :func:`solve_linear` -- max welfare / min epsilon over ``{x in simplex : G x <= bound}``
  (the rows of :mod:`popgames.solvers.correlated_constraints`): HiGHS dual simplex,
  adding violated rows and re-running warm-started from the previous basis (constraint
  generation), since only a few hundred of the thousands of rows bind at an optimum.
* :func:`face` -- the polytope's face (support and always-tight rows) by one LP, on
  which an interior-point method is well posed where the dual Newton of
  :mod:`popgames.solvers.correlated_newton` stalls.

:mod:`highspy` and :mod:`scipy.sparse` are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers.correlated_constraints import GainRows
from popgames.solvers.highs_setup import new_highs

if TYPE_CHECKING:
    import highspy
    import scipy.sparse as sp

#: Rows whose violation (in units of the largest gain) exceeds this are not yet satisfied.
FEASIBILITY = 1e-10


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
    import scipy.sparse as sp

    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _highs() -> highspy.Highs:
    # Presolve off: 2x faster here, the rows are dense and few.
    return new_highs(presolve="off", primal_feasibility_tolerance=FEASIBILITY,
                     dual_feasibility_tolerance=FEASIBILITY)


def _add_rows(highs: highspy.Highs, G: sp.csr_matrix | np.ndarray, which: np.ndarray,
              order: list[np.ndarray]) -> None:
    """Add rows ``G[which] x - t <= 0`` (``t`` is the last column)."""
    import scipy.sparse as sp

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
    import highspy

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
    import scipy.sparse as sp

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
