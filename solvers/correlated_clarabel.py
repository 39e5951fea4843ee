"""Max-Gini and max-entropy (C)CE with Clarabel on the polytope's face, and the Gini polish.

:func:`interior_point` is the direct backend's interior-point method for the nonlinear
objectives (:mod:`popgames.solvers.correlated` decides when: where dual Newton stalls,
and first on flat polytopes): the max-Gini QP or the max-entropy exponential-cone
program, built directly for Clarabel on the face of ``{x in simplex : G x <= bound}``
(:func:`popgames.solvers.correlated_highs.face`). :func:`polish_gini` then makes a
max-Gini answer exact to round-off on the active set Clarabel's answer reveals.
:mod:`clarabel` and :mod:`scipy` are imported on first use.
"""

from __future__ import annotations

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers.correlated_constraints import GainRows
from popgames.solvers.correlated_highs import face


def interior_point(rows: GainRows, bound: float, objective: str, *,
                   known_face: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, dict]:
    """Max-Gini (QP) or max-entropy (exponential cones) point with Clarabel, built directly.

    Robust where :func:`~popgames.solvers.correlated_newton.dual_newton` stalls. Both are
    solved on the polytope's :func:`face` (one LP): profiles no equilibrium plays are
    dropped and always-tight rows become equalities, so that a relative interior point
    exists. Without it Clarabel may stall on entropy, and on Gini it needs twice the
    iterations, each on the full joint space: on leduc JPSRO's 40x40 CCE meta-games the
    face has ~150 of 1600 profiles and the face LP plus the small QP take ~0.08 s where the
    full QP took 0.6-2.5 s.
    """
    import clarabel
    import scipy.sparse as sp

    m, n_all = rows.matrix.shape
    where = "LP" if known_face is None else "zero-sum supports"
    try:
        support, equality = known_face if known_face is not None else face(rows, bound)
    except SolverError:
        if objective != "max_gini":
            raise
        # The QP is well posed on the whole polytope too, only slower.
        support, equality = np.ones(n_all, dtype=bool), np.zeros(m, dtype=bool)
        where = "none (the face LP failed)"
    if not support.any():
        raise SolverError(objective, "the face LP found no profile any equilibrium plays")
    G = sp.csc_matrix(rows.matrix)[:, support]
    n = G.shape[1]
    used = np.asarray(abs(G).max(axis=1).todense()).ravel() > 0  # others vanish on the face
    G = sp.vstack([sp.csc_matrix(np.ones((1, n))), G[used & equality], G[used & ~equality]])
    n_eq, n_in = 1 + int((used & equality).sum()), int((used & ~equality).sum())
    b = np.r_[1.0, np.full(n_eq - 1 + n_in, bound)]
    cones = [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(n_in + n)]
    eye = sp.identity(n, format="csc")
    if objective == "max_gini":
        P, q = 2.0 * eye, np.zeros(n)
        A, b = sp.vstack([G, -eye], format="csc"), np.r_[b, np.zeros(n)]
    else:
        # Variables (x, t); maximise sum(t) with (t_j, x_j, 1) in the exponential cone,
        # i.e. x_j exp(t_j / x_j) <= 1, i.e. t_j <= -x_j log x_j.
        P, q = sp.csc_matrix((2 * n, 2 * n)), np.r_[np.zeros(n), -np.ones(n)]
        j = np.arange(n)
        cone_rows = sp.csc_matrix((-np.ones(2 * n), (np.r_[3 * j, 3 * j + 1], np.r_[n + j, j])),
                                  shape=(3 * n, 2 * n))
        A = sp.vstack([sp.hstack([G, sp.csc_matrix((G.shape[0], n))]),
                       sp.hstack([-eye, sp.csc_matrix((n, n))]), cone_rows], format="csc")
        b = np.r_[b, np.zeros(n), np.tile([0.0, 0.0, 1.0], n)]
        cones += [clarabel.ExponentialConeT()] * n
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    # Tighter than the 1e-8 defaults: flat polytopes make the point sensitive to them.
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    solution = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
    status = str(solution.status)
    if status not in ("Solved", "AlmostSolved"):
        raise SolverError(objective, f"Clarabel status: {status}")
    x = np.zeros(n_all)
    x[support] = np.clip(np.asarray(solution.x)[:n], 0.0, None)
    x /= x.sum()
    info = {"iterations": solution.iterations, "clarabel_status": status,
            "support": int(support.sum()), "equalities": int(equality.sum()),
            "face": where}
    if objective == "max_gini":
        # Interior-point active-set guess: a constraint binds where its slack is below its
        # dual (El-Bakry, Tapia & Zhang 1994's indicator). Face equalities always bind.
        slack, dual = np.asarray(solution.s), np.asarray(solution.z)
        binds = slack < dual
        rows_used = np.flatnonzero(used)
        tight = np.zeros(m, dtype=bool)
        tight[rows_used[equality[used]]] = True
        tight[rows_used[~equality[used]]] = binds[n_eq:n_eq + n_in]
        plays = np.zeros(n_all, dtype=bool)
        plays[np.flatnonzero(support)] = ~binds[n_eq + n_in:n_eq + n_in + n]
        polished = polish_gini(rows, bound, x, plays, tight)
        info["polished"] = polished is not None
        x = x if polished is None else polished
    return x, info


def polish_gini(rows: GainRows, bound: float, x: np.ndarray, plays: np.ndarray,
                tight: np.ndarray) -> np.ndarray | None:
    """The exact max-Gini point on the active set an approximate one reveals, or ``None``.

    With the profiles ``S`` that ``x`` plays and the rows ``A`` it leaves tight (masks
    ``plays`` and ``tight``, the guess of an active-set indicator), the
    minimum-norm solution of ``sum(x_S) = 1, G[A, S] x_S = bound`` (one least-squares
    solve) is the max-Gini point whenever ``x``'s active set contains the optimum's
    (the optimum satisfies these equations and is the least-norm point of a superset).
    It is accepted only if it is feasible and no further from the origin than ``x``, so a
    wrong guess costs nothing. Clarabel stops at 1e-10 in the objective, which is ~1e-5 in
    ``x`` along the polytope's flat directions; the polished point is exact to round-off.
    """
    import scipy.linalg as sla
    import scipy.sparse as sp

    G = rows.matrix
    cols, tight = np.flatnonzero(plays), np.flatnonzero(tight)
    sub = G[tight][:, cols]
    system = np.vstack([np.ones((1, len(cols))), sub.toarray() if sp.issparse(sub) else sub])
    target = np.r_[1.0, np.full(len(tight), bound)]
    try:
        x_cols = sla.lstsq(system, target, check_finite=False)[0]  # minimum-norm solution
    except (np.linalg.LinAlgError, ValueError):
        return None
    polished = np.zeros_like(x)
    polished[cols] = x_cols
    worst = max(1e-12, float((G @ x - bound).max(initial=0.0)))
    if (polished.min() < -1e-13 or (G @ polished - bound).max(initial=0.0) > worst
            or abs(polished.sum() - 1.0) > 1e-12 or polished @ polished > x @ x + 1e-12):
        return None
    polished = np.clip(polished, 0.0, None)
    return polished / polished.sum()
