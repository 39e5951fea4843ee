"""Maximum-entropy equilibrium selection for 2-player zero-sum games (``select="max_entropy"``
of :func:`popgames.solvers.zero_sum_lp.zero_sum_lp`).

Among a zero-sum game's optimal strategies -- each player's is a polytope -- this picks
each player's maximum-entropy one: unique, permutation-equivariant and in the relative
interior of the set, the selection Balduzzi et al. (2018, "Re-evaluating evaluation",
Nash averaging) use for meta-games. An interior-point LP gives each player's largest
optimal support (Goldman & Tucker 1956), Clarabel maximises the entropy on that face
with exponential cones, and a Newton step on the face's affine hull makes the answer an
equilibrium to round-off. :func:`strictly_complementary` also serves the correlated
solvers (:func:`popgames.solvers.correlated.certain_supports`) to find the optimal face
of zero-sum CCEs. Nothing here imports :mod:`popgames.solvers.zero_sum_lp`, which calls
this module; Clarabel and SciPy are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from popgames.core.errors import SolverError

if TYPE_CHECKING:
    import scipy.sparse as sp


def max_entropy_equilibrium(matrix: np.ndarray,
                            vertex: tuple[np.ndarray, np.ndarray] | None = None
                            ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Each player's maximum-entropy optimal strategy in the zero-sum game ``matrix``.

    ``vertex`` is an optimal pair from the simplex LP, if any (it may spare an LP, and
    is the fallback's start). Returns ``(x, y, info)`` with the pair's ``value``, the
    ``supports`` sizes, each ``entropy`` and where the supports came from. Raises
    :class:`SolverError` if no try gives a pair whose regrets are within ``1e-11`` times
    the payoff range, or the vertex's if larger, and no ``vertex`` was given (with one,
    it is returned instead, with the failures in ``info["failed"]``).
    """
    low, span = float(matrix.min()), float(matrix.max() - matrix.min())
    if span == 0.0:  # every strategy is optimal
        x, y = (np.full(k, 1 / k) for k in matrix.shape)
        return x, y, {"value": low, "supports": list(matrix.shape),
                      "entropy": [float(np.log(k)) for k in matrix.shape]}
    scaled = (matrix - low) / span  # entries in [0, 1]: the conic solvers' tolerances are absolute
    # Where the supports are read off: the simplex pair if strictly complementary, else the
    # interior-point LP, and, if that misjudges a near-tie (margins below ~1e-5 of the
    # range, which its 1e-10 tolerance cannot resolve), the simplex pair's own supports:
    # every point of their face is optimal, so the answer is an equilibrium with at
    # least the vertex's entropy (though not always the maximum).
    shortcut = None if vertex is None else strictly_complementary(scaled, vertex)
    tries: list[tuple[str, Any]] = [("simplex", shortcut)] if shortcut is not None else \
        [("interior point", lambda: optimal_supports(scaled))] + \
        ([("simplex vertex", lambda: _vertex_supports(scaled, vertex))] if vertex else [])
    # The simplex pair is exact to round-off unless HiGHS's 1e-7 tolerances bite
    # (near-ties ~1e-10 of the range); the selection must be as good as that pair.
    tolerance = 1e-11 * span
    if vertex is not None:
        vertex_regret = float((matrix @ vertex[1]).max() - (vertex[0] @ matrix).min())
        tolerance = max(tolerance, 2 * vertex_regret)
    failures = []
    for name, supports in tries:
        try:
            rows, cols = supports() if callable(supports) else supports
            # The column player is the row player of 1 - scaled^T (supports swapped).
            x = _max_entropy_on_face(scaled, rows, cols)
            y = _max_entropy_on_face(1.0 - scaled.T, cols, rows)
        except (SolverError, np.linalg.LinAlgError, ValueError) as exc:
            failures.append(f"{name} supports: {getattr(exc, 'cause', exc)}")
            continue
        # Both players' regrets together: max_b u(b, y) - min_c u(x, c) (0 at an equilibrium).
        worst_row, worst_col = float((matrix @ y).max()), float((x @ matrix).min())
        entropy = [_entropy(x), _entropy(y)]
        if not worst_row - worst_col <= tolerance:  # NaN fails too
            failures.append(f"{name} supports: not an equilibrium, "
                            f"regret {worst_row - worst_col:.3g}")
        elif (name == "interior point" and vertex is not None  # a misjudged support
              and min(e - _entropy(v) for e, v in zip(entropy, vertex)) < -1e-12):
            failures.append(f"{name} supports: less entropy than the simplex vertex")
        else:
            return x, y, {"value": worst_col, "supports": [int(rows.sum()), int(cols.sum())],
                          "entropy": entropy, "supports_from": name,
                          **({"failed": failures} if failures else {})}
    if vertex is None:
        raise SolverError("zero_sum_lp", "max_entropy selection failed: " + "; ".join(failures))
    # Only near-ties below ~1e-9 of the range get here (hypothesis finds some in thousands
    # of draws): keep the simplex pair, a verified equilibrium, and say why.
    x, y = vertex
    return x, y, {"value": float((x @ matrix).min()), "supports_from": "none (simplex vertex kept)",
                  "entropy": [_entropy(x), _entropy(y)], "failed": failures}


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _vertex_supports(matrix: np.ndarray, vertex: tuple[np.ndarray, np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The simplex pair's supports, less any row or column that is clearly no best response."""
    x, y = vertex
    value = float(x @ matrix @ y)
    return (x > 0) & (matrix @ y >= value - 1e-9), (y > 0) & (x @ matrix <= value + 1e-9)


def _clarabel(P: sp.csc_matrix, q: np.ndarray, A: sp.csc_matrix, b: np.ndarray,
              cones: list) -> Any:
    """Clarabel at 1e-10 (its defaults are 1e-8); its status string on failure."""
    import clarabel

    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    solution = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
    if str(solution.status) not in ("Solved", "AlmostSolved"):
        raise SolverError("zero_sum_lp", f"Clarabel status {solution.status}")
    return solution


def strictly_complementary(matrix: np.ndarray, vertex: tuple[np.ndarray, np.ndarray]
                            ) -> tuple[np.ndarray, np.ndarray] | None:
    """The largest optimal supports, if the simplex pair already shows them.

    A row some optimal ``x`` plays is in the largest support; a row that loses against
    an optimal ``y`` is in none. When every row and column is one or the other by more
    than 1e-9 (payoffs in ``[0, 1]``) -- a strictly complementary pair, as a unique
    equilibrium's is -- those are the supports (Goldman & Tucker 1956) and no further
    LP is needed; otherwise ``None``.
    """
    x, y = vertex
    value = float(x @ matrix @ y)
    rows, cols = x > 1e-9, y > 1e-9
    if np.all(rows | (matrix @ y < value - 1e-9)) and np.all(cols | (x @ matrix > value + 1e-9)):
        return rows, cols
    return None


def optimal_supports(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest supports of the row and column players' optimal strategies.

    Solves the maximin LP by Clarabel's interior-point method, whose iterates approach
    the analytic centre of the optimal face, a strictly complementary solution (Goldman
    & Tucker 1956): a row is in the largest support iff its probability exceeds its
    reduced cost there, a column iff its dual exceeds its slack (the ratio test of
    El-Bakry, Tapia & Zhang 1994). Expects payoffs scaled to ``[0, 1]``.
    """
    import clarabel
    import scipy.sparse as sp

    m, n = matrix.shape
    # Variables (x, v), minimise -v; rows: sum(x) = 1 | v - A^T x <= 0 | -x <= 0.
    A = sp.csc_matrix(np.block([[np.ones((1, m)), np.zeros((1, 1))],
                                [-matrix.T, np.ones((n, 1))],
                                [-np.eye(m), np.zeros((m, 1))]]))
    solution = _clarabel(sp.csc_matrix((m + 1, m + 1)), np.r_[np.zeros(m), -1.0], A,
                         np.r_[1.0, np.zeros(n + m)],
                         [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(n + m)])
    slack, dual = np.asarray(solution.s), np.asarray(solution.z)
    return slack[1 + n:] > dual[1 + n:], dual[1:1 + n] > slack[1:1 + n]


def _max_entropy_on_face(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The row player's maximum-entropy optimal strategy, given the largest supports.

    On the face, ``x`` lives on ``rows``, every column in ``cols`` pays the row player the
    same amount ``w`` and every other column at least ``w`` (``w`` is then the value: the
    column player's optimal strategy pays exactly it against every row in ``rows``).
    When those equalities leave one point (a unique equilibrium, as in every leduc PSRO
    meta-game) it is their solution. Otherwise Clarabel maximises the entropy there; its
    answer (~1e-6 accurate) is projected onto the affine set of the equalities plus the
    inequalities it leaves tight, and Newton's method on that set makes it exact.
    """
    import scipy.linalg as sla

    face = matrix[rows]                                       # [k, n]
    k = face.shape[0]
    other = np.flatnonzero(~cols)

    def equalities(tight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sum(x) = 1`` and ``face[:, c] . x - w = 0`` for ``c`` in ``tight``, over (x, w)."""
        return (np.vstack([np.r_[np.ones(k), 0.0], np.c_[face[:, tight].T, -np.ones(len(tight))]]),
                np.r_[1.0, np.zeros(len(tight))])

    tight = np.flatnonzero(cols)
    system, target = equalities(tight)
    basis = sla.null_space(system)
    if basis.shape[1] == 0:
        z = sla.lstsq(system, target, check_finite=False)[0]
    else:
        start, binding = _clarabel_entropy(face, cols, other)
        active = list(binding)
        # A small active-set loop: Clarabel's slack-vs-dual guess of the binding columns
        # is wrong where a slack is ~1e-5 (its tolerance is 1e-10 = slack * dual); add a
        # column the point violates, drop one whose multiplier has the wrong sign.
        for _ in range(len(other) + 1):
            system, target = equalities(np.r_[tight, active].astype(int))
            z = start - sla.lstsq(system, system @ start - target, check_finite=False)[0]
            z = _entropy_newton(sla.null_space(system), z, k)
            rest = np.setdiff1d(other, active)
            slack = z[:k] @ face[:, rest] - z[k]
            if slack.min(initial=0.0) < -1e-14:
                active.append(int(rest[np.argmin(slack)]))
                continue
            if active and np.all(z[:k] > 0):
                # Stationarity: grad H + system^T multipliers = 0; a binding column's must be >= 0.
                grad = np.r_[-(np.log(z[:k]) + 1.0), 0.0]
                signs = sla.lstsq(system.T, -grad, check_finite=False)[0][1 + len(tight):]
                if signs.min() < -1e-9:
                    active.pop(int(np.argmin(signs)))
                    continue
            break
    x = np.zeros(matrix.shape[0])
    x[rows] = z[:k]
    x = np.clip(x, 0.0, None)  # simplex round-off (values like -1e-17), renormalised
    return x / x.sum()


def _clarabel_entropy(face: np.ndarray, cols: np.ndarray, other: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Approximate maximum-entropy ``(x, w)`` on the face, and the columns binding there."""
    import clarabel
    import scipy.sparse as sp

    k = face.shape[0]
    j = np.arange(k)
    # Variables (x, w, t); maximise sum(t) with (t_j, x_j, 1) in the exponential cone,
    # i.e. t_j <= -x_j log x_j.
    linear = np.block([[np.ones((1, k)), np.zeros((1, 1))],              # sum(x) = 1
                       [-face[:, cols].T, np.ones((int(cols.sum()), 1))],  # w - payoff = 0
                       [-face[:, other].T, np.ones((len(other), 1))]])     # w - payoff <= 0
    cone = sp.csc_matrix((-np.ones(2 * k), (np.r_[3 * j, 3 * j + 1], np.r_[k + 1 + j, j])),
                         shape=(3 * k, 2 * k + 1))
    A = sp.vstack([sp.hstack([sp.csc_matrix(linear), sp.csc_matrix((len(linear), k))]), cone],
                  format="csc")
    n_eq = 1 + int(cols.sum())
    b = np.r_[1.0, np.zeros(n_eq - 1 + len(other)), np.tile([0.0, 0.0, 1.0], k)]
    solution = _clarabel(sp.csc_matrix((2 * k + 1, 2 * k + 1)),
                         np.r_[np.zeros(k + 1), -np.ones(k)], A, b,
                         [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(len(other))]
                         + [clarabel.ExponentialConeT()] * k)
    slack = np.asarray(solution.s)[n_eq:n_eq + len(other)]
    dual = np.asarray(solution.z)[n_eq:n_eq + len(other)]
    return np.asarray(solution.x)[:k + 1], other[slack < dual]


def _entropy_newton(basis: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Maximise the entropy of ``z[:k]`` over ``z + span(basis)`` by Newton's method.

    Clarabel's point is within ~1e-6 of the maximum (the entropy is flat near it);
    Newton steps in the null space of the equalities keep them exact and make the point
    exact to ~1e-15 in a few steps. Steps are cut to keep ``z[:k] > 0``, then backtracked.
    """
    if basis.shape[1] == 0 or not np.all(z[:k] > 0):
        return z
    for _ in range(50):
        x = z[:k]
        grad = basis[:k].T @ -(np.log(x) + 1.0)            # ascent direction of the entropy
        hess = (basis[:k].T / x) @ basis[:k]
        u = np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrement = float(grad @ u)
        if decrement < 1e-28:                              # converged
            break
        step = basis @ u
        shrink = step[:k] < 0
        alpha = 1.0 if not shrink.any() else \
            min(1.0, 0.99 * float(np.min(-x[shrink] / step[:k][shrink])))
        while (alpha > 1e-12 and _entropy(z[:k] + alpha * step[:k])
               < _entropy(x) + 0.25 * alpha * decrement):
            alpha *= 0.5                                   # Armijo backtracking
        z = z + alpha * step
    return z
