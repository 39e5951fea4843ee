"""Two-player constant-sum games by linear programming (von Neumann's minimax theorem).

In a game with ``payoffs[0] + payoffs[1] == c`` everywhere, the row player's
maximin strategy solves the LP

    maximise v  subject to  A^T x >= v 1,  1^T x = 1,  x >= 0,

with ``A = payoffs[0]``, and the duals of the ``n`` inequality rows are the
column player's minimax strategy (LP duality is the minimax theorem). Every
such pair is a Nash equilibrium, and the LP optimum ``v`` is the game value.

The LP is handed to HiGHS through :mod:`highspy` as column-wise arrays, one
solver instance per thread kept across calls: building the model through a
modelling layer costs 15-20 ms per call, which dominates PSRO loops that solve
small meta-games thousands of times; the direct route costs well under 1 ms at 10x10.
(:mod:`highspy` is imported on first use, as are the selection's Clarabel and SciPy.)

When a game has many equilibria, the simplex returns a vertex of each player's set of
optimal strategies -- an arbitrary one, which depends on the order of the actions.
``select="max_entropy"`` returns instead each player's maximum-entropy optimal strategy
(unique, permutation-equivariant, and in the relative interior of the set: it plays
every action some optimal strategy plays), the selection Balduzzi et al. (2018,
"Re-evaluating evaluation", Nash averaging) use for zero-sum meta-games. It is found
on the optimal face: an interior-point LP gives each player's largest optimal support
(Goldman & Tucker 1956: its strictly complementary solution), the entropy is maximised
there with Clarabel's exponential cones, and the answer is projected onto the face's
affine hull so that it is an equilibrium to round-off (~1e-15), not to Clarabel's 1e-8.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal, Mapping, get_args

import numpy as np

from popgames.core.errors import GameCardError, SolverError
from popgames.solvers.highs_setup import new_highs
from popgames.solvers.registry import Candidate, register
from popgames.solvers.zero_sum_select import max_entropy_equilibrium

if TYPE_CHECKING:
    import highspy

_LOCAL = threading.local()


def _highs() -> highspy.Highs:
    """This thread's HiGHS instance (a new one costs ~0.3 ms, a quarter of a 10x10 solve)."""
    solver = getattr(_LOCAL, "highs", None)
    if solver is None:
        # Dense LPs with one equality row: presolve finds nothing and costs ~0.2 ms.
        solver = new_highs(presolve="off")
        _LOCAL.highs = solver
    return solver


def constant_sum_applies(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    """``None`` if ``payoffs`` is a 2-player constant-sum game, else the reason it is not.

    Constant-sum means ``payoffs[0] + payoffs[1]`` takes one value over all action
    profiles, up to ``1e-9`` times the largest payoff magnitude.
    """
    if payoffs.ndim != 3 or payoffs.shape[0] != 2:
        return f"needs a 2-player game, got {payoffs.shape[0]} players"
    total = payoffs[0] + payoffs[1]
    spread = float(total.max() - total.min())
    if spread > 1e-9 * float(np.abs(payoffs).max()):
        return f"not constant-sum: payoffs[0] + payoffs[1] varies by {spread:.3g}"
    return None


def _maximin_lp(matrix: np.ndarray) -> highspy.HighsLp:
    """The row player's maximin LP over columns ``[x_1..x_m, v]``, mapped to entries in [1, 2].

    HiGHS's tolerances are absolute (1e-7): mapping the payoff range onto [1, 2] keeps
    the LP's accuracy independent of the payoffs' offset and scale, and makes every
    coefficient nonzero (HiGHS drops tiny entries); strategies are unchanged. The LP's
    value ``v`` is ``1 + (value - min) / range``.
    """
    import highspy

    m, n = matrix.shape
    shifted = 1.0 + (matrix - matrix.min()) / _span(matrix)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m + 1, n + 1
    lp.col_cost_ = np.r_[np.zeros(m), -1.0]                    # minimise -v
    lp.col_lower_ = np.r_[np.zeros(m), -inf]
    lp.col_upper_ = np.full(m + 1, inf)
    lp.row_lower_ = np.r_[np.zeros(n), 1.0]                    # A^T x - v >= 0;  1^T x = 1
    lp.row_upper_ = np.r_[np.full(n, inf), 1.0]
    # Column i of the constraint matrix is (A[i, :], 1); the v column is (-1, ..., -1, 0).
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.r_[np.arange(0, m * (n + 1) + 1, n + 1), m * (n + 1) + n].astype(np.int32)
    lp.a_matrix_.index_ = np.r_[np.tile(np.arange(n + 1), m), np.arange(n)].astype(np.int32)
    lp.a_matrix_.value_ = np.r_[np.hstack([shifted, np.ones((m, 1))]).ravel(), -np.ones(n)]
    return lp


def _span(matrix: np.ndarray) -> float:
    span = float(matrix.max() - matrix.min())
    return span if span > 0.0 else 1.0


def _to_simplex(x: np.ndarray) -> np.ndarray:
    """Clip simplex round-off (values like -1e-17) and renormalise."""
    x = np.clip(x, 0.0, None)
    return x / x.sum()


Selection = Literal["vertex", "max_entropy"]
SELECTIONS: tuple[str, ...] = get_args(Selection)


def zero_sum_lp(payoffs: np.ndarray, *, select: Selection = "vertex") -> Candidate:
    """Maximin strategies of a 2-player constant-sum game from one LP and its duals.

    Parameters
    ----------
    payoffs
        Tensor ``[2, m, n]`` with ``payoffs[0] + payoffs[1]`` constant.
    select
        Which equilibrium when there are many: ``"vertex"`` (default), the simplex
        method's; ``"max_entropy"``, each player's maximum-entropy optimal strategy.

    Returns
    -------
    Candidate
        ``marginals = [x, y]``: the row player's maximin and the column player's
        minimax strategy (a Nash equilibrium). ``info`` has ``value`` (row player's
        game value), ``values`` (both players'), ``status``, ``iterations`` and, for
        ``max_entropy``, ``supports`` (sizes of the optimal supports), ``entropy`` and
        ``supports_from`` (which step found them).

    Raises
    ------
    SolverError
        If the game is not 2-player constant-sum or HiGHS does not report an optimum.
        (If no maximum-entropy pair passes its checks, which takes near-ties below ~1e-9
        of the payoff range, the simplex pair is returned and ``info["failed"]`` says why.)
    GameCardError
        If ``select`` is not one of :data:`SELECTIONS`.
    """
    if select not in SELECTIONS:
        raise GameCardError("<call>", "select",
                            f"unknown selection {select!r} (accepted: {', '.join(SELECTIONS)})")
    import highspy

    reason = constant_sum_applies(payoffs, {})
    if reason is not None:
        raise SolverError("zero_sum_lp", reason)
    matrix = payoffs[0]
    m, n = matrix.shape
    solver = _highs()
    solver.passModel(_maximin_lp(matrix))
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError("zero_sum_lp", f"HiGHS model status: {solver.modelStatusToString(status)}")
    solution = solver.getSolution()
    x = _to_simplex(np.asarray(solution.col_value[:m]))
    # For the minimised -v, the duals of the >= rows are >= 0 and sum to 1 (the v column's
    # reduced cost is zero): they are the column player's strategy.
    y = _to_simplex(np.asarray(solution.row_dual[:n]))
    value = (-solver.getInfo().objective_function_value - 1.0) * _span(matrix) + float(matrix.min())
    constant = float(payoffs[0, 0, 0] + payoffs[1, 0, 0])
    info: dict[str, Any] = {"value": value, "values": [value, constant - value],
                            "status": "optimal",
                            "iterations": int(solver.getInfo().simplex_iteration_count)}
    if select == "max_entropy":
        x, y, extra = max_entropy_equilibrium(matrix, (x, y))
        # The selected pair's value is exact; HiGHS's is within its 1e-7 tolerance.
        info.update(extra, values=[extra["value"], constant - extra["value"]])
    return Candidate(marginals=[x, y], info=info)


register("zero_sum_lp", "highs_lp", zero_sum_lp, concept="nash", exact=True,
         applies=constant_sum_applies,
         summary="2-player constant-sum games: maximin/minimax strategies by one LP (HiGHS)")
