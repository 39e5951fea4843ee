"""The (C)CE fallback backend: the plain cvxpy model of the equilibrium polytope.

:func:`cvxpy_point` states ``{x in simplex : G x <= bound}`` (the rows of
:mod:`popgames.solvers.correlated_constraints`) and the objective in cvxpy and hands it to
the solvers of :data:`CVXPY_SOLVERS` in turn; :mod:`popgames.solvers.correlated` wraps it
as the ``cvxpy`` backends. cvxpy (half a second to import) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers.correlated_constraints import GainRows
from popgames.solvers.highs_setup import silence_banner

if TYPE_CHECKING:
    import cvxpy as cp

#: cvxpy solvers tried in order, per objective (the first that reports optimal wins).
CVXPY_SOLVERS = {"max_welfare": ("HIGHS", "CLARABEL"), "max_gini": ("CLARABEL", "OSQP"),
                 "max_entropy": ("CLARABEL", "SCS")}


def cvxpy_point(payoffs: np.ndarray, rows: GainRows, objective: str, bound: float,
                min_epsilon: bool, solver: str | None, slack: float
                ) -> tuple[np.ndarray, float, str]:
    """The point of ``{x in simplex : G x <= bound}`` optimising ``objective``, by cvxpy.

    With ``min_epsilon`` the bound is first minimised, then widened by ``slack`` (or set
    to 0 when the minimum is within ``slack`` of it). ``solver`` names one cvxpy solver to
    use instead of :data:`CVXPY_SOLVERS`. Returns ``(x, bound used, the solver that
    answered)``, ``bound`` in units of the rows' scale.
    """
    import cvxpy as cp
    import scipy.sparse as sp

    G = sp.csr_matrix(rows.matrix)
    x = cp.Variable(G.shape[1], nonneg=True)
    if min_epsilon:
        t = cp.Variable()
        _solve(cp.Problem(cp.Minimize(t), [G @ x <= t, cp.sum(x) == 1]), "max_welfare", solver)
        bound = float(t.value) + slack if float(t.value) < -slack else 0.0
    goal = {"max_welfare": cp.Maximize(payoffs.sum(axis=0).ravel() @ x),
            "max_gini": cp.Minimize(cp.sum_squares(x)),
            "max_entropy": cp.Maximize(cp.sum(cp.entr(x)))}[objective]
    used = _solve(cp.Problem(goal, [G @ x <= bound, cp.sum(x) == 1]), objective, solver)
    value = np.clip(np.asarray(x.value, dtype=np.float64), 0.0, None)
    return value / value.sum(), bound, used


def _solve(problem: cp.Problem, objective: str, solver: str | None) -> str:
    """Solve with the first solver that reports an optimum; return its name."""
    import cvxpy as cp

    statuses = []
    silence_banner()
    for name in (solver,) if solver else CVXPY_SOLVERS[objective]:
        try:
            problem.solve(solver=name)
        except cp.error.SolverError as exc:
            statuses.append(f"{name}: {exc}")
            continue
        if problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return name
        statuses.append(f"{name}: {problem.status}")
    raise SolverError("cvxpy", "; ".join(statuses))
