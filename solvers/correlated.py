"""Correlated (CE) and coarse correlated (CCE) equilibria of N-player normal-form games.

The equilibria form a polytope of joint distributions (see
:mod:`popgames.solvers.correlated_constraints` for its rows); an ``objective`` picks one:

* ``"max_welfare"`` (default): the LP maximising the sum of expected payoffs;
* ``"max_gini"``: the maximum-Gini-impurity (C)CE of JPSRO (Marris et al. 2021),
  i.e. the minimum ``||sigma||^2`` point -- unique;
* ``"max_entropy"``: the maximum-entropy (C)CE (Ortiz, Schapire & Kakade 2007) -- unique.

``epsilon`` loosens every row to ``<= epsilon``; ``min_epsilon=True`` first finds the
smallest epsilon for which the polytope is non-empty (negative when a strict equilibrium
exists) and then optimises the objective with epsilon fixed there: the LP stays at the
minimum exactly; when the minimum-epsilon set is a single point (typical) that point is
the answer; otherwise max Gini / entropy use the minimum plus a slack of ``1e-9`` times
the largest gain (far inside the verification tolerance), or exactly 0 when the minimum
is 0.

Backends, in fallback order: ``direct`` (HiGHS called directly, dual Newton, or Clarabel
called directly: :mod:`~popgames.solvers.correlated_highs`,
:mod:`~popgames.solvers.correlated_newton`, :mod:`~popgames.solvers.correlated_clarabel`)
then ``cvxpy`` (the plain cvxpy model on Clarabel / HiGHS / OSQP / SCS,
:mod:`~popgames.solvers.correlated_cvxpy`). A positive ``epsilon`` asks for an approximate
equilibrium, whose gap the verifier would reject, so it is answered by the same two
backends registered as ``direct-approx`` / ``cvxpy-approx`` with ``exact=False``.

Meta-games above a size limit per concept, objective and backend are refused before any
row is built (:mod:`popgames.solvers.correlated_limits`: e.g. 62,500 action profiles for
every CE objective, 250 x 250, which took 1-29 s). Max welfare in a 2-player constant-sum
game, where every equilibrium has the same welfare, is answered by the zero-sum LP.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np

from popgames.core.errors import GameCardError, SolverError
from popgames.core.payoff_tensor import outer
from popgames.solvers.blas import single_thread_blas
from popgames.solvers.correlated_clarabel import interior_point
from popgames.solvers.correlated_constraints import GainRows, cce_rows, ce_rows
from popgames.solvers.correlated_cvxpy import cvxpy_point
from popgames.solvers.correlated_highs import solve_linear
from popgames.solvers.correlated_limits import (CLARABEL_LIMIT, FACE_LP_LIMIT, guarded,
                                                refusal)
from popgames.solvers.correlated_newton import dual_newton
from popgames.solvers.registry import Candidate, register
from popgames.solvers.zero_sum_lp import constant_sum_applies, zero_sum_lp
from popgames.solvers.zero_sum_select import strictly_complementary

OBJECTIVES = ("max_welfare", "max_gini", "max_entropy")
#: Slack added to the minimum epsilon, in units of the largest gain.
SLACK = 1e-9
#: CE problems with at most this many profiles go to Clarabel before dual Newton.
SMALL = 150


def correlated_equilibrium(payoffs: np.ndarray, *, objective: str = "max_welfare",
                           epsilon: float = 0.0, min_epsilon: bool = False) -> Candidate:
    """An (epsilon-)correlated equilibrium optimising ``objective`` (fast direct backend).

    Parameters
    ----------
    payoffs
        Payoff tensor ``[n_players, A_1, ..., A_n]``.
    objective
        ``"max_welfare"``, ``"max_gini"`` or ``"max_entropy"``.
    epsilon
        Bound on every deviation gain row (payoff units); 0 for an exact CE.
    min_epsilon
        Use the smallest feasible epsilon instead of ``epsilon`` (which must then be 0).

    Returns
    -------
    Candidate
        ``joint`` over action profiles; ``info`` has ``epsilon``, ``objective_value``,
        ``method`` and the backend's iteration counts.
    """
    _refuse_large(payoffs, "ce", objective, epsilon, min_epsilon, direct=True)
    return _direct(payoffs, ce_rows(payoffs), objective, epsilon, min_epsilon, "ce")


def coarse_correlated_equilibrium(payoffs: np.ndarray, *, objective: str = "max_welfare",
                                  epsilon: float = 0.0, min_epsilon: bool = False) -> Candidate:
    """An (epsilon-)coarse correlated equilibrium; see :func:`correlated_equilibrium`."""
    _refuse_large(payoffs, "cce", objective, epsilon, min_epsilon, direct=True)
    return _direct(payoffs, cce_rows(payoffs), objective, epsilon, min_epsilon, "cce")


def correlated_equilibrium_cvxpy(payoffs: np.ndarray, *, objective: str = "max_welfare",
                                 epsilon: float = 0.0, min_epsilon: bool = False,
                                 cvxpy_solver: str | None = None) -> Candidate:
    """The same CE as :func:`correlated_equilibrium`, modelled in cvxpy (the fallback).

    ``cvxpy_solver`` names one cvxpy solver to use instead of
    :data:`~popgames.solvers.correlated_cvxpy.CVXPY_SOLVERS`.
    """
    _refuse_large(payoffs, "ce", objective, epsilon, min_epsilon, direct=False)
    return _cvxpy(payoffs, ce_rows(payoffs), objective, epsilon, min_epsilon, cvxpy_solver)


def coarse_correlated_equilibrium_cvxpy(payoffs: np.ndarray, *, objective: str = "max_welfare",
                                        epsilon: float = 0.0, min_epsilon: bool = False,
                                        cvxpy_solver: str | None = None) -> Candidate:
    """The same CCE as :func:`coarse_correlated_equilibrium`, modelled in cvxpy."""
    _refuse_large(payoffs, "cce", objective, epsilon, min_epsilon, direct=False)
    return _cvxpy(payoffs, cce_rows(payoffs), objective, epsilon, min_epsilon, cvxpy_solver)


def _refuse_large(payoffs: np.ndarray, concept: str, objective: str, epsilon: float,
                  min_epsilon: bool, direct: bool) -> None:
    options = {"objective": objective, "epsilon": epsilon, "min_epsilon": min_epsilon}
    reason = refusal(payoffs, concept, options, direct)
    if reason is not None:
        raise SolverError(concept, reason)


def _check(objective: str, epsilon: float, min_epsilon: bool) -> None:
    if objective not in OBJECTIVES:
        raise GameCardError("<call>", "objective",
                            f"unknown objective {objective!r} (accepted: {', '.join(OBJECTIVES)})")
    try:
        finite = bool(np.isfinite(float(epsilon)))
    except (TypeError, ValueError):
        finite = False
    if not finite:
        raise GameCardError("<call>", "epsilon", f"must be a finite number, got {epsilon!r}")
    if min_epsilon and epsilon != 0.0:
        raise GameCardError("<call>", "epsilon", "give either epsilon or min_epsilon=True, not both")


def _direct(payoffs: np.ndarray, rows: GainRows, objective: str, epsilon: float,
            min_epsilon: bool, concept: str) -> Candidate:
    _check(objective, epsilon, min_epsilon)
    bound = float(epsilon) / rows.scale
    with single_thread_blas():
        if objective == "max_welfare" and bound >= 0.0 and not min_epsilon and \
                constant_sum_applies(payoffs, {}) is None:
            # Every (C)CE of a 2-player constant-sum game has the same welfare, so the LP has
            # a zero objective, and warm-started dual simplex on it crawls or stalls (30 x 30
            # zero-sum CE: 1 s to over 5 minutes; 100 x 100: over 5 minutes). Any equilibrium
            # is optimal: take the zero-sum LP's Nash product, which is a CE and a CCE.
            x = outer(zero_sum_lp(payoffs).marginals).ravel()
            info = {"method": "zero-sum LP (constant welfare)"}
        elif objective == "max_welfare":
            x, bound, info = solve_linear(rows, payoffs.sum(axis=0).ravel(), bound,
                                          min_epsilon=min_epsilon)
            info = {"method": "highs", "rounds": info["rounds"],
                    **({"unique": info["unique"]} if min_epsilon else {})}
        else:
            # In a 2-player constant-sum game every CCE gives each player the value and its
            # marginals are optimal strategies, so a player's CCE rows for the actions its
            # own marginal plays are tight (each is <= 0, their weighted mean is 0); CE rows
            # sum to CCE rows. No equilibrium is strictly inside every row: the polytope is
            # flat (JPSRO on zero-sum games such as leduc_poker meets only such meta-games).
            flat = constant_sum_applies(payoffs, {}) is None
            known = (zero_sum_cce_face(payoffs) if flat and concept == "cce" and bound == 0.0
                     and not min_epsilon else None)
            x, bound, info = _nonlinear(rows, bound, objective, min_epsilon, flat, known)
    return _candidate(payoffs, x, bound * rows.scale, objective, info)


def zero_sum_cce_face(payoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Support and implicit equalities of a 2-player constant-sum game's CCE polytope.

    Every CCE's marginals are optimal strategies, so it plays only ``S x T`` (the largest
    optimal supports); the product of relatively interior optimal strategies is a CCE
    playing all of ``S x T`` and leaving slack exactly the rows of deviations outside
    ``S`` (player 0) and ``T`` (player 1) (Goldman & Tucker 1956: each loses against some
    optimal strategy). So :func:`~popgames.solvers.correlated_highs.face` needs no LP
    here, only the zero-sum LP's supports; ``None`` when those are not certain. Masks
    follow :func:`cce_rows`' row order.
    """
    supports = certain_supports(payoffs)
    if supports is None:
        return None
    rows, cols = supports
    return np.outer(rows, cols).ravel(), np.r_[rows, cols]


def certain_supports(payoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both players' largest optimal supports, if the simplex pair shows them beyond doubt.

    For a 2-player constant-sum game whose simplex pair is strictly complementary by
    1e-9 of the payoff range (as a unique equilibrium's is); ``None`` otherwise.
    """
    if constant_sum_applies(payoffs, {}) is not None:
        return None
    matrix = payoffs[0]
    span = float(matrix.max() - matrix.min())
    if span == 0.0:
        return np.ones(matrix.shape[0], dtype=bool), np.ones(matrix.shape[1], dtype=bool)
    x, y = zero_sum_lp(payoffs).marginals
    return strictly_complementary((matrix - matrix.min()) / span, (x, y))


def _nonlinear(rows: GainRows, bound: float, objective: str, min_epsilon: bool,
               flat: bool = False, known_face: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, float, dict]:
    """Max-Gini / max-entropy point: dual Newton, or Clarabel where Newton stalls.

    ``flat`` says the polytope is known to have no point strictly inside every row (as
    for 2-player constant-sum games at ``bound <= 0``, see :func:`_direct`). Newton on
    the Gini dual then stalls (38 of the 40 leduc JPSRO meta-games, ~0.03 s each), so
    Clarabel on the polytope's face is tried first. (The entropy Newton follows the
    dual's rays and is more accurate there than Clarabel's exponential cones, ~1e-6.)
    ``known_face`` is the face, if known without the LP (see :func:`zero_sum_cce_face`).
    """
    import scipy.sparse as sp

    if min_epsilon:
        x, bound, lp = solve_linear(rows, None, 0.0, min_epsilon=True)
        if lp["unique"]:
            return x, bound, {"method": "highs (unique minimum-epsilon point)"}
        # Optimise on the set widened by SLACK, so that it has room inside (unless the
        # minimum is 0: then the polytope is the ordinary equilibrium set).
        bound = bound + SLACK if bound < 0.0 else 0.0
    # Small CE polytopes are often flat (no strict equilibrium), where Newton stalls and
    # Clarabel is as fast; large ones and CCEs (few rows) suit Newton.
    methods = [("dual-newton", dual_newton),
               ("clarabel", functools.partial(interior_point, known_face=known_face))]
    gini_on_flat = flat and bound <= 0.0 and objective == "max_gini"
    if gini_on_flat or (sp.issparse(rows.matrix) and rows.matrix.shape[1] <= SMALL):
        methods.reverse()
    failures = []
    if known_face is None:
        size, (limit, seconds), what = rows.matrix.shape[1], FACE_LP_LIMIT, "action profiles"
    else:
        size, (limit, seconds) = int(known_face[0].sum()), CLARABEL_LIMIT[objective]
        what = "profiles on the equilibrium face"
    if size > limit:
        methods = [m for m in methods if m[0] != "clarabel"]
        failures.append(f"clarabel: not tried, {size} {what} exceed its limit of {limit} "
                        f"(about {seconds:g} s at the limit)")
    for name, method in methods:
        try:
            x, info = method(rows, bound, objective)
        except SolverError as exc:
            failures.append(f"{name}: {exc}")
            continue
        return x, bound, {**info, "method": name, **({"failed": failures} if failures else {})}
    raise SolverError(objective, "; ".join(failures))


def _cvxpy(payoffs: np.ndarray, rows: GainRows, objective: str, epsilon: float,
           min_epsilon: bool, solver: str | None) -> Candidate:
    _check(objective, epsilon, min_epsilon)
    x, bound, used = cvxpy_point(payoffs, rows, objective, float(epsilon) / rows.scale,
                                 min_epsilon, solver, SLACK)
    return _candidate(payoffs, x, bound * rows.scale, objective, {"method": f"cvxpy-{used.lower()}"})


def _candidate(payoffs: np.ndarray, x: np.ndarray, epsilon: float, objective: str,
               info: dict) -> Candidate:
    joint = x.reshape(payoffs.shape[1:])
    if objective == "max_welfare":
        value = float(payoffs.reshape(payoffs.shape[0], -1).sum(axis=0) @ x)
    elif objective == "max_gini":
        value = float(1.0 - x @ x)
    else:
        value = float(-(x[x > 0] * np.log(x[x > 0])).sum())
    return Candidate(joint=joint, info={**info, "status": "optimal", "objective": objective,
                                        "objective_value": value, "epsilon": epsilon})


def _exact(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    epsilon = options.get("epsilon", 0.0)
    if options.get("min_epsilon") or not isinstance(epsilon, (int, float)) or not epsilon > 0:
        return None  # (a bad epsilon is reported by the backend's own check)
    return "epsilon > 0 asks for an approximate equilibrium (see the -approx backends)"


def _approximate(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    return "epsilon <= 0: answered by the exact backends" if _exact(payoffs, options) is None else None


for _name, _direct_fn, _cvxpy_fn, _what in (
        ("ce", correlated_equilibrium, correlated_equilibrium_cvxpy, "correlated"),
        ("cce", coarse_correlated_equilibrium, coarse_correlated_equilibrium_cvxpy,
         "coarse correlated")):
    _summary = f"{_what} equilibrium: max welfare / Gini / entropy, optional (min) epsilon"
    register(_name, "direct", _direct_fn, concept=_name, exact=True,
             applies=guarded(_exact, _name, direct=True), summary=_summary)
    register(_name, "cvxpy", _cvxpy_fn, concept=_name, exact=True,
             applies=guarded(_exact, _name, direct=False))
    register(_name, "direct-approx", _direct_fn, concept=_name, exact=False,
             applies=guarded(_approximate, _name, direct=True))
    register(_name, "cvxpy-approx", _cvxpy_fn, concept=_name, exact=False,
             applies=guarded(_approximate, _name, direct=False))
