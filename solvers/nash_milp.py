"""Optimal Nash equilibria of 2-player games: Sandholm, Gilpin & Conitzer's mixed-integer program.

SGC (AAAI 2005, "Mixed-Integer Programming Methods for Finding Nash Equilibria",
formulation 1) describes the Nash equilibria of a bimatrix game ``(A, B)`` by, per
player: probabilities ``p``, action values ``u_a`` (against the other's mix),
best value ``u* >= u_a``, regrets ``r_a = u* - u_a``, and binaries ``s_a`` ("a is
not in the support") with ``p_a <= 1 - s_a`` and ``r_a <= U_a s_a``. Any feasible
point is an equilibrium, so a linear objective selects an optimal one; at an
equilibrium each player's expected payoff is ``u*``, which makes welfare linear.

Two ways to solve it (``method``):

* ``"branch_and_bound"`` (default): a depth-first branch and bound on the binaries
  whose node LPs are SGC's relaxation solved by HiGHS (:mod:`highspy`), warm-started
  from the parent's basis. It branches on the action with the largest
  complementarity violation ``min(p_a, r_a / U_a)`` (setting ``s_a = 0`` forces
  ``r_a = 0``, ``s_a = 1`` forces ``p_a = 0``: every equilibrium lies in one child),
  prunes only by LP bound or infeasibility, and starts from the best pure or 2x2
  equilibrium as incumbent. It proves the same optimum as HiGHS's MILP solver on
  random 20x20 games in 0.14 s against 10.5 s on average (``benchmarks/_milp_zero_sum.py``):
  the generic search spends its time in heuristics and cuts that do not pay here.
* ``"milp"``: the same formulation written in cvxpy and handed to HiGHS's MILP solver;
  its answer is then re-solved as an LP with the binaries fixed, for an exact vertex.

Both use the tight per-action big-M ``U_a = max_b (max_a' A[a', b] - A[a, b])`` (the
largest regret action ``a`` can have) and first remove iteratively strictly dominated
pure strategies, which keeps every equilibrium and so every optimum; the branch and
bound also adds the valid cut ``u* <= sum_b q_b max_a A[a, b]``. Payoffs are scaled to [0, 1] per player, so
tolerances are relative to each player's payoff range.
"""

from __future__ import annotations

import numbers
import time
import warnings
from typing import Any, Literal, Mapping, get_args

import cvxpy as cp
import highspy
import numpy as np
from scipy import sparse

from popgames.errors import SolverError
from popgames.solvers.highs_setup import new_highs, silence_banner
from popgames.solvers.registry import Candidate, register

Objective = Literal["max_welfare", "max_min_payoff", "max_support", "min_support", "feasibility"]
Method = Literal["branch_and_bound", "milp"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
METHODS: tuple[str, ...] = get_args(Method)
_INF = highspy.kHighsInf
_EPS = 1e-9          # complementarity / integrality tolerance on the [0, 1]-scaled game
_BR_TOL = 1e-7       # best-response ties for max_support: HiGHS's feasibility tolerance


def two_player_applies(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    """``None`` for 2-player games, else why the MILP does not apply."""
    return None if payoffs.shape[0] == 2 else f"needs a 2-player game, got {payoffs.shape[0]} players"


def _undominated(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns surviving iterated elimination of strictly dominated pure strategies."""
    rows, cols = np.arange(A.shape[0]), np.arange(A.shape[1])
    while True:
        a, b = A[np.ix_(rows, cols)], B[np.ix_(rows, cols)].T
        # Action k goes if another action is better against everything the opponent has left.
        keep_r = np.array([not (a > a[k]).all(axis=1).any() for k in range(len(rows))])
        keep_c = np.array([not (b > b[k]).all(axis=1).any() for k in range(len(cols))])
        if keep_r.all() and keep_c.all():
            return rows, cols
        rows, cols = rows[keep_r], cols[keep_c]


def _cheap_equilibria(A: np.ndarray, B: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """All pure equilibria and every 2x2-support equilibrium of a nonsingular 2x2 subgame."""
    m, n = A.shape
    tol = 1e-12
    br1 = A >= A.max(axis=0, keepdims=True) - tol
    br2 = B >= B.max(axis=1, keepdims=True) - tol
    found = [(np.eye(m)[i], np.eye(n)[j]) for i, j in np.argwhere(br1 & br2)]
    if m < 2 or n < 2 or m * (m - 1) * n * (n - 1) > 4e6:   # bound the [pairs x pairs] arrays
        return found
    R = np.array(np.triu_indices(m, 1)).T       # row pairs
    C = np.array(np.triu_indices(n, 1)).T       # column pairs
    dA = A[R[:, 0]][:, C] - A[R[:, 1]][:, C]    # [row pair, col pair, 2]: row 1 minus row 2
    dB = (B[:, C[:, 0]] - B[:, C[:, 1]])[R]     # [row pair, 2, col pair]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = dA[:, :, 1] / (dA[:, :, 1] - dA[:, :, 0])        # q on the first column of the pair
        y = (dB[:, 1, :] / (dB[:, 1, :] - dB[:, 0, :]))      # p on the first row of the pair
    ri, ci = np.nonzero((x > 0) & (x < 1) & (y > 0) & (y < 1))
    x, y = x[ri, ci], y[ri, ci]
    rows, cols = R[ri], C[ci]                                  # [k, 2] each
    u = A[:, cols[:, 0]] * x + A[:, cols[:, 1]] * (1 - x)      # [m, k]: rows against q
    v = B[rows[:, 0]].T * y + B[rows[:, 1]].T * (1 - y)        # [n, k]: columns against p
    k = np.arange(len(ri))
    ok = (u.max(axis=0) - u[rows[:, 0], k] <= tol) & (v.max(axis=0) - v[cols[:, 0], k] <= tol)
    for (r0, r1), (c0, c1), xk, yk in zip(rows[ok], cols[ok], x[ok], y[ok]):
        p, q = np.zeros(m), np.zeros(n)
        p[[r0, r1]] = yk, 1 - yk
        q[[c0, c1]] = xk, 1 - xk
        found.append((p, q))
    return found


def _value(objective: str, A: np.ndarray, B: np.ndarray, p: np.ndarray, q: np.ndarray,
           affine: np.ndarray) -> float:
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


def _relaxation(A: np.ndarray, B: np.ndarray, U: np.ndarray, objective: str,
                affine: np.ndarray) -> tuple[highspy.HighsLp, np.ndarray]:
    """SGC's LP relaxation and the indices of its regret rows (player 1's, then player 2's).

    Columns: ``p, q, u1, u2, z`` and, for support objectives, ``s1, s2``. Without
    ``s`` the relaxation is its projection: ``s_a`` exists in ``[r_a / U_a, 1 - p_a]``
    iff ``U_a p_a + r_a <= U_a`` (fewer columns make each node LP ~30% faster).
    """
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
        lp.offset_ = float(affine[:, 1].sum())     # same scale as _value, for pruning
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


def _branch_and_bound(A: np.ndarray, B: np.ndarray, objective: str, affine: np.ndarray,
                      incumbent: tuple[np.ndarray, np.ndarray] | None, deadline: float,
                      root: list[tuple[int, bool]] | None = None,
                      ) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[str, Any]]:
    """Depth-first branch and bound over SGC's binaries; returns the best equilibrium and stats.

    ``root`` fixes some binaries first (``(action, in_support)``; actions number p then q).
    """
    m, n = A.shape
    U = np.r_[(A.max(axis=0) - A).max(axis=1), (B.max(axis=1)[:, None] - B).max(axis=0)]
    lp, regret_rows = _relaxation(A, B, U, objective, affine)
    integer = objective in ("max_support", "min_support")
    strat = np.arange(m + n)                     # p then q columns
    s_col = m + n + 3 + np.arange(m + n)         # s1 then s2 columns (support objectives)
    best = -np.inf if incumbent is None else _value(objective, A, B, *incumbent, affine)
    margin = 1.0 - 1e-6 if integer else _EPS     # a child must beat the incumbent by this much
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
            score = np.minimum(x[strat], rv[regret_rows] / np.maximum(U, _EPS))
        score[fixed] = 0.0
        a = int(np.argmax(score))
        if score[a] <= _EPS:                     # complementary (and integral): an equilibrium
            pq = np.clip(x[strat], 0.0, None)
            pq[pq <= _EPS] = 0.0
            if integer:                          # s = 1 means "not played", whatever LP noise says
                pq[x[s_col] > 0.5] = 0.0
            candidate = (pq[:m] / pq[:m].sum(), pq[m:] / pq[m:].sum())
            # Support objectives score the leaf as the MILP does (its count of s = 0), which
            # keeps incumbent and bounds on one scale.
            value = (round(highs.getInfo().objective_function_value) if integer
                     else _value(objective, A, B, *candidate, affine))
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


def _milp(A: np.ndarray, B: np.ndarray, objective: str, affine: np.ndarray,
          time_limit: float | None) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[str, Any]]:
    """SGC formulation 1 in cvxpy, solved by HiGHS's MILP solver."""
    m, n = A.shape
    p, q = cp.Variable(m, nonneg=True), cp.Variable(n, nonneg=True)
    s1, s2 = cp.Variable(m, boolean=True), cp.Variable(n, boolean=True)
    u1, u2, z = cp.Variable(), cp.Variable(), cp.Variable()
    r1, r2 = u1 - A @ q, u2 - B.T @ p
    U1, U2 = (A.max(axis=0) - A).max(axis=1), (B.max(axis=1)[:, None] - B).max(axis=0)
    constraints = [cp.sum(p) == 1, cp.sum(q) == 1, r1 >= 0, r2 >= 0, p <= 1 - s1, q <= 1 - s2,
                   r1 <= cp.multiply(U1, s1), r2 <= cp.multiply(U2, s2)]
    if objective == "max_min_payoff":     # a free z outside the objective upset HiGHS 1.15
        constraints += [z <= affine[0, 0] * u1 + affine[0, 1], z <= affine[1, 0] * u2 + affine[1, 1]]
    goal = {"max_welfare": affine[0, 0] * u1 + affine[1, 0] * u2, "max_min_payoff": z,
            "feasibility": cp.Constant(0.0), "max_support": m + n - cp.sum(s1) - cp.sum(s2),
            "min_support": cp.sum(s1) + cp.sum(s2) - m - n}[objective]
    # A tighter primal tolerance keeps regrets ~1e-9 (a tighter mip_feasibility_tolerance
    # made HiGHS 1.15 report wrong optima on small random games).
    options: dict[str, Any] = {"mip_rel_gap": 0.0, "mip_abs_gap": 1e-9,
                               "primal_feasibility_tolerance": 1e-9}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    problem = cp.Problem(cp.Maximize(goal), constraints)
    try:
        with warnings.catch_warnings():      # a time-limited solve warns; its status says so
            warnings.simplefilter("ignore", UserWarning)
            silence_banner()
            problem.solve(solver=cp.HIGHS, **options)
    except cp.error.SolverError as exc:
        raise SolverError("nash_milp", f"cvxpy/HiGHS failed: {exc}") from None
    status = str(problem.status)
    if p.value is None or q.value is None:
        raise SolverError("nash_milp", f"HiGHS MILP status: {status}")
    info = {"status": status, "proven_optimal": status == cp.OPTIMAL}
    # HiGHS's MIP answers are accurate to its 1e-6 feasibility tolerance; re-solving the LP
    # with the binaries fixed at their rounded values gives an exact vertex.
    s = np.r_[s1.value, s2.value]
    polished, _ = _branch_and_bound(A, B, objective, affine, None, np.inf,
                                    root=[(a, bool(s[a] < 0.5)) for a in range(m + n)])
    if polished is not None:
        return polished, info
    pv, qv = np.clip(p.value, 0.0, None), np.clip(q.value, 0.0, None)
    pv[pv <= _EPS], qv[qv <= _EPS] = 0.0, 0.0
    return (pv / pv.sum(), qv / qv.sum()), info


def nash_milp(payoffs: np.ndarray, *, objective: Objective = "max_welfare",
              time_limit: float | None = None, method: Method = "branch_and_bound") -> Candidate:
    """An optimal Nash equilibrium of a 2-player game under a selection objective.

    Parameters
    ----------
    payoffs
        Tensor ``[2, m, n]``.
    objective
        ``"max_welfare"`` (largest sum of expected payoffs), ``"max_min_payoff"``
        (largest payoff of the worse-off player), ``"min_support"`` (fewest actions
        played), ``"max_support"`` (most pure best responses, SGC's support
        variables: the largest support in nondegenerate games) or ``"feasibility"``
        (any equilibrium).
    time_limit
        Seconds; when reached, the best equilibrium found so far is returned with
        ``info["proven_optimal"] = False``.
    method
        ``"branch_and_bound"`` (default) or ``"milp"`` (cvxpy + HiGHS MILP); see module docs.

    Returns
    -------
    Candidate
        ``marginals = [p, q]``; ``info`` has ``objective``, ``objective_value`` (in
        the game's payoff units, or a count of actions), ``status``,
        ``proven_optimal``, ``support_size``, ``solve_seconds`` and, for branch and
        bound, ``nodes``.

    Raises
    ------
    SolverError
        For an unknown objective or method, a non-2-player game, a HiGHS failure, or
        a time limit reached before any equilibrium was found.
    """
    if objective not in OBJECTIVES:
        raise SolverError("nash_milp", f"unknown objective {objective!r} "
                                       f"(accepted: {', '.join(OBJECTIVES)})")
    if method not in METHODS:
        raise SolverError("nash_milp", f"unknown method {method!r} (accepted: {', '.join(METHODS)})")
    reason = two_player_applies(payoffs, {})
    if reason is not None:
        raise SolverError("nash_milp", reason)
    if time_limit is not None and not (isinstance(time_limit, numbers.Real) and time_limit > 0):
        raise SolverError("nash_milp", f"time_limit must be positive seconds, got {time_limit!r}")
    start = time.perf_counter()
    # Each player's payoffs mapped onto [0, 1], so tolerances are relative to that player's
    # range; ``affine`` maps them back to a common scale for welfare and min-payoff.
    low = payoffs.reshape(2, -1).min(axis=1)
    span = payoffs.reshape(2, -1).max(axis=1) - low
    # Differences below 1e-9 of the payoff magnitude are round-off, as in the registry's tolerance.
    span = np.maximum(span, 1e-9 * np.maximum(1.0, np.abs(payoffs).reshape(2, -1).max(axis=1)))
    scaled = (payoffs - low[:, None, None]) / span[:, None, None]
    affine = np.c_[span, low - low.min()] / span.max()
    rows, cols = _undominated(scaled[0], scaled[1])
    A, B = scaled[0][np.ix_(rows, cols)], scaled[1][np.ix_(rows, cols)]
    if method == "milp":
        found, info = _milp(A, B, objective, affine, time_limit)
    else:
        cheap = _cheap_equilibria(A, B)
        incumbent = max(cheap, key=lambda pq: _value(objective, A, B, *pq, affine)) if cheap else None
        # Any equilibrium will do, or a pure one has the smallest possible support.
        if incumbent is not None and (objective == "feasibility" or (
                objective == "min_support" and _value(objective, A, B, *incumbent, affine) == -2)):
            found, info = incumbent, {"nodes": 0, "proven_optimal": True, "status": "optimal"}
        else:
            deadline = start + (np.inf if time_limit is None else float(time_limit))
            found, info = _branch_and_bound(A, B, objective, affine, incumbent, deadline)
    if found is None:
        raise SolverError("nash_milp", f"no equilibrium found ({info['status']})")
    p, q = np.zeros(payoffs.shape[1]), np.zeros(payoffs.shape[2])
    p[rows], q[cols] = found
    # Counts on the scaled game (tolerances), payoffs in the game's own units.
    value = (_value(objective, *scaled, p, q, affine) if objective.endswith("support")
             else _value(objective, *payoffs, p, q, np.array([[1.0, 0.0], [1.0, 0.0]])))
    return Candidate(marginals=[p, q], info={
        **info, "objective": objective, "method": method,
        "objective_value": -value if objective == "min_support" else value,
        "support_size": int((p > 0).sum() + (q > 0).sum()),
        "reduced_shape": (len(rows), len(cols)), "solve_seconds": time.perf_counter() - start})


register("nash_milp", "sgc", nash_milp, concept="nash", exact=True, applies=two_player_applies,
         summary="optimal 2-player Nash equilibrium (welfare, min payoff, support) by SGC's MILP")
