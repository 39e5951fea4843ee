"""Branch and bound over Sandholm, Gilpin & Conitzer's MILP, with HiGHS node LPs.

The ``"branch_and_bound"`` method of :func:`popgames.solvers.nash_milp.nash_milp` (whose
module docstring states SGC's formulation 1). :func:`branch_and_bound` is a depth-first
search on the binaries ``s_a``: its node LPs are SGC's relaxation (:func:`relaxation`),
solved by HiGHS (:mod:`highspy`, imported on first use) warm-started from the parent's
basis. It branches on the action with the largest complementarity violation
``min(p_a, r_a / U_a)`` (setting ``s_a = 0`` forces ``r_a = 0``, ``s_a = 1`` forces
``p_a = 0``: every equilibrium lies in one child) and prunes only by LP bound or
infeasibility. The relaxation has the valid cut ``u* <= sum_b q_b max_a A[a, b]``.
All of it works on the game scaled to [0, 1] per player.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers.highs_setup import new_highs

if TYPE_CHECKING:
    import highspy

_INF = math.inf      # highspy.kHighsInf: HiGHS's infinite bound is IEEE infinity
EPS = 1e-9           # complementarity / integrality tolerance on the [0, 1]-scaled game
_BR_TOL = 1e-7       # best-response ties for max_support: HiGHS's feasibility tolerance


def equilibrium_value(objective: str, A: np.ndarray, B: np.ndarray, p: np.ndarray,
                      q: np.ndarray, affine: np.ndarray) -> float:
    """The objective (to maximise) of an equilibrium of the per-player scaled game.

    Player ``i``'s payoff, back on a common scale, is ``affine[i, 0] * u_i + affine[i, 1]``;
    ``max_support`` counts pure best responses.
    """
    u1, u2 = affine[:, 0] * [p @ A @ q, p @ B @ q] + affine[:, 1]
    if objective == "max_welfare":
        return float(u1 + u2)
    if objective == "max_min_payoff":
        return float(min(u1, u2))
    size = int((p > 0).sum() + (q > 0).sum())
    if objective == "min_support":
        return -size
    brs = int(((A @ q) >= (A @ q).max() - _BR_TOL).sum() + ((p @ B) >= (p @ B).max() - _BR_TOL).sum())
    return float(brs) if objective == "max_support" else 0.0


def relaxation(A: np.ndarray, B: np.ndarray, U: np.ndarray, objective: str,
               affine: np.ndarray) -> tuple[highspy.HighsLp, np.ndarray]:
    """SGC's LP relaxation and the indices of its regret rows (player 1's, then player 2's).

    Columns: ``p, q, u1, u2, z`` and, for support objectives, ``s1, s2``. Without
    ``s`` the relaxation is its projection: ``s_a`` exists in ``[r_a / U_a, 1 - p_a]``
    iff ``U_a p_a + r_a <= U_a`` (fewer columns make each node LP ~30% faster).
    """
    import highspy
    from scipy import sparse

    m, n = A.shape
    with_s = objective in ("max_support", "min_support")
    ip, iq = np.arange(m), m + np.arange(n)
    iu1, iu2, iz = m + n, m + n + 1, m + n + 2
    i_s = m + n + 3 + np.arange(m + n)
    trip: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lo: list[np.ndarray] = []
    hi: list[np.ndarray] = []

    def rows(k: int, r: np.ndarray, c: np.ndarray, v: np.ndarray, low: float, high: float) -> None:
        trip.append((sum(len(x) for x in lo) + r, c, v))
        lo.append(np.full(k, low))
        hi.append(np.full(k, high))

    rows(1, np.zeros(m, int), ip, np.ones(m), 1, 1)                        # sum p = 1
    rows(1, np.zeros(n, int), iq, np.ones(n), 1, 1)                        # sum q = 1
    regret_rows = []
    for u, own, other, M, Uk, s, (w, o) in ((iu1, ip, iq, A, U[:m], i_s[:m], affine[0]),
                                            (iu2, iq, ip, B.T, U[m:], i_s[m:], affine[1])):
        k, ks = len(own), np.arange(len(own))
        r_all, c_all = np.repeat(ks, M.shape[1]), np.tile(other, k)
        regret = (np.r_[ks, r_all], np.r_[np.full(k, u), c_all], np.r_[np.ones(k), -M.ravel()])
        regret_rows.append(sum(len(x) for x in lo) + ks)
        rows(k, *regret, 0, _INF)                                          # r = u* - M x >= 0
        if with_s:
            rows(k, np.r_[ks, ks], np.r_[own, s], np.ones(2 * k), -_INF, 1)  # p <= 1 - s
            rows(k, np.r_[regret[0], ks], np.r_[regret[1], s], np.r_[regret[2], -Uk], -_INF, 0)
        else:                                                              # r <= U (1 - p)
            rows(k, np.r_[regret[0], ks], np.r_[regret[1], own], np.r_[regret[2], Uk], -_INF, Uk)
        rows(1, np.zeros(M.shape[1] + 1, int), np.r_[u, other],
             np.r_[1.0, -M.max(axis=0)], -_INF, 0)                         # u* <= E[best cell]
        rows(1, np.zeros(2, int), np.r_[iz, u], np.r_[1.0, -w], -_INF, o)    # z <= payoff
    ncol = m + n + 3 + (m + n if with_s else 0)
    r, c, v = (np.concatenate(x) for x in zip(*trip))
    matrix = sparse.csc_matrix((v, (r, c)), shape=(sum(len(x) for x in lo), ncol))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.zeros(ncol)
    if objective == "max_welfare":
        lp.col_cost_[[iu1, iu2]] = affine[:, 0]
        lp.offset_ = float(affine[:, 1].sum())     # same scale as equilibrium_value
    elif objective == "max_min_payoff":
        lp.col_cost_[iz] = 1.0
    elif with_s:                                 # +-(number of actions with s = 0)
        sign = 1.0 if objective == "max_support" else -1.0
        lp.col_cost_[i_s] = -sign
        lp.offset_ = sign * (m + n)
    lp.col_lower_ = np.r_[np.zeros(m + n), -_INF, -_INF, -_INF, np.zeros(ncol - m - n - 3)]
    lp.col_upper_ = np.r_[np.ones(m + n), _INF, _INF, _INF, np.ones(ncol - m - n - 3)]
    lp.row_lower_, lp.row_upper_ = np.concatenate(lo), np.concatenate(hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = matrix.indptr, matrix.indices
    lp.a_matrix_.value_ = matrix.data
    return lp, np.concatenate(regret_rows)


def branch_and_bound(A: np.ndarray, B: np.ndarray, objective: str, affine: np.ndarray,
                     incumbent: tuple[np.ndarray, np.ndarray] | None, deadline: float,
                     root: list[tuple[int, bool]] | None = None,
                     ) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[str, Any]]:
    """Depth-first branch and bound over SGC's binaries; returns the best equilibrium and stats.

    ``root`` fixes some binaries first (``(action, in_support)``; actions number p then q).
    """
    import highspy

    m, n = A.shape
    U = np.r_[(A.max(axis=0) - A).max(axis=1), (B.max(axis=1)[:, None] - B).max(axis=0)]
    lp, regret_rows = relaxation(A, B, U, objective, affine)
    integer = objective in ("max_support", "min_support")
    strat = np.arange(m + n)                     # p then q columns
    s_col = m + n + 3 + np.arange(m + n)         # s1 then s2 columns (support objectives)
    best = -np.inf if incumbent is None else equilibrium_value(objective, A, B, *incumbent, affine)
    margin = 1.0 - 1e-6 if integer else EPS     # a child must beat the incumbent by this much
    # Small dense LPs, where presolve would drop warm starts.
    highs = new_highs(presolve="off")
    highs.passModel(lp)

    def fix(a: int, in_support: bool, undo: bool = False) -> None:
        """``s_a = 0`` (regret row pinned to 0) or ``s_a = 1`` (probability pinned to 0)."""
        if in_support:
            highs.changeRowBounds(int(regret_rows[a]), 0.0, _INF if undo else 0.0)
        else:
            highs.changeColBounds(int(strat[a]), 0.0, 1.0 if undo else 0.0)
        if integer:
            highs.changeColBounds(int(s_col[a]), float(not in_support and not undo),
                                  float(not in_support or undo))

    applied: list[tuple[int, bool]] = []
    stack: list[tuple[list[tuple[int, bool]], Any]] = [(list(root or []), None)]
    nodes, complete = 0, True
    while stack:
        if time.perf_counter() > deadline:
            complete = False
            break
        fixings, basis = stack.pop()
        while applied and applied != fixings[:len(applied)]:
            fix(*applied.pop(), undo=True)
        for a, side in fixings[len(applied):]:
            fix(a, side)
            applied.append((a, side))
        if basis is not None:                    # the parent's optimal basis: only primal repair left
            highs.setBasis(basis)
        highs.run()
        nodes += 1
        status = highs.getModelStatus()
        if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible):
            highs.clearSolver()                  # numerical trouble from the warm start: retry cold
            highs.run()
            status = highs.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            continue
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolverError("nash_milp", f"HiGHS node LP status: {highs.modelStatusToString(status)}")
        if highs.getInfo().objective_function_value <= best + margin:
            continue
        solution = highs.getSolution()
        x, rv = np.asarray(solution.col_value), np.asarray(solution.row_value)
        fixed = np.zeros(m + n, bool)
        fixed[[a for a, _ in fixings]] = True
        if integer:
            score = np.minimum(x[s_col], 1.0 - x[s_col])
        else:
            score = np.minimum(x[strat], rv[regret_rows] / np.maximum(U, EPS))
        score[fixed] = 0.0
        a = int(np.argmax(score))
        if score[a] <= EPS:                     # complementary (and integral): an equilibrium
            pq = np.clip(x[strat], 0.0, None)
            pq[pq <= EPS] = 0.0
            if integer:                          # s = 1 means "not played", whatever LP noise says
                pq[x[s_col] > 0.5] = 0.0
            candidate = (pq[:m] / pq[:m].sum(), pq[m:] / pq[m:].sum())
            # Support objectives score the leaf as the MILP does (its count of s = 0), which
            # keeps incumbent and bounds on one scale.
            value = (round(highs.getInfo().objective_function_value) if integer
                     else equilibrium_value(objective, A, B, *candidate, affine))
            if incumbent is None or value > best:
                incumbent, best = candidate, value
            if objective == "feasibility":
                break
            continue
        basis = highs.getBasis()
        stack.append((fixings + [(a, False)], basis))
        stack.append((fixings + [(a, True)], basis))
    return incumbent, {"nodes": nodes, "proven_optimal": complete,
                       "status": "optimal" if complete else "time limit reached"}
