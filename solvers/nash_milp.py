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
  from the parent's basis (:mod:`popgames.solvers.sgc_branch_and_bound`). It branches
  on the action with the largest complementarity violation ``min(p_a, r_a / U_a)``
  (setting ``s_a = 0`` forces ``r_a = 0``, ``s_a = 1`` forces ``p_a = 0``: every
  equilibrium lies in one child), prunes only by LP bound or infeasibility, and starts
  from the best pure or 2x2 equilibrium as incumbent. It proves the same optimum as
  HiGHS's MILP solver on random 20x20 games in 0.14 s against 10.5 s on average
  (``benchmarks/_milp_zero_sum.py``): the generic search spends its time in heuristics
  and cuts that do not pay here.
* ``"milp"``: the same formulation written in cvxpy and handed to HiGHS's MILP solver;
  its answer is then re-solved as an LP with the binaries fixed, for an exact vertex.

Both use the tight per-action big-M ``U_a = max_b (max_a' A[a', b] - A[a, b])`` (the
largest regret action ``a`` can have) and first remove iteratively strictly dominated
pure strategies, which keeps every equilibrium and so every optimum; the branch and
bound also adds the valid cut ``u* <= sum_b q_b max_a A[a, b]``. Payoffs are scaled to
[0, 1] per player, so tolerances are relative to each player's payoff range. cvxpy and
:mod:`highspy` are imported on first use.
"""

from __future__ import annotations

import numbers
import time
import warnings
from typing import Any, Literal, Mapping, get_args

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers.highs_setup import silence_banner
from popgames.solvers.registry import Candidate, register
from popgames.solvers.sgc_branch_and_bound import EPS, branch_and_bound, equilibrium_value

Objective = Literal["max_welfare", "max_min_payoff", "max_support", "min_support", "feasibility"]
Method = Literal["branch_and_bound", "milp"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
METHODS: tuple[str, ...] = get_args(Method)


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


def _milp(A: np.ndarray, B: np.ndarray, objective: str, affine: np.ndarray,
          time_limit: float | None) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[str, Any]]:
    """SGC formulation 1 in cvxpy, solved by HiGHS's MILP solver."""
    import cvxpy as cp

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
    polished, _ = branch_and_bound(A, B, objective, affine, None, np.inf,
                                   root=[(a, bool(s[a] < 0.5)) for a in range(m + n)])
    if polished is not None:
        return polished, info
    pv, qv = np.clip(p.value, 0.0, None), np.clip(q.value, 0.0, None)
    pv[pv <= EPS], qv[qv <= EPS] = 0.0, 0.0
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
        incumbent = (max(cheap, key=lambda pq: equilibrium_value(objective, A, B, *pq, affine))
                     if cheap else None)
        # Any equilibrium will do, or a pure one has the smallest possible support.
        if incumbent is not None and (objective == "feasibility" or (
                objective == "min_support"
                and equilibrium_value(objective, A, B, *incumbent, affine) == -2)):
            found, info = incumbent, {"nodes": 0, "proven_optimal": True, "status": "optimal"}
        else:
            deadline = start + (np.inf if time_limit is None else float(time_limit))
            found, info = branch_and_bound(A, B, objective, affine, incumbent, deadline)
    if found is None:
        raise SolverError("nash_milp", f"no equilibrium found ({info['status']})")
    p, q = np.zeros(payoffs.shape[1]), np.zeros(payoffs.shape[2])
    p[rows], q[cols] = found
    # Counts on the scaled game (tolerances), payoffs in the game's own units.
    value = (equilibrium_value(objective, *scaled, p, q, affine) if objective.endswith("support")
             else equilibrium_value(objective, *payoffs, p, q, np.array([[1.0, 0.0], [1.0, 0.0]])))
    return Candidate(marginals=[p, q], info={
        **info, "objective": objective, "method": method,
        "objective_value": -value if objective == "min_support" else value,
        "support_size": int((p > 0).sum() + (q > 0).sum()),
        "reduced_shape": (len(rows), len(cols)), "solve_seconds": time.perf_counter() - start})


register("nash_milp", "sgc", nash_milp, concept="nash", exact=True, applies=two_player_applies,
         summary="optimal 2-player Nash equilibrium (welfare, min payoff, support) by SGC's MILP")
