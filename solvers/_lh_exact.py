"""Lemke-Howson in exact rational arithmetic: the fallback of ``lemke_howson``.

The same scaling into [1, 2], tableaux and lexicographic ratio rule as the floating-point
engines (see ``popgames.solvers.lemke_howson``), on ``Fraction`` entries: ties are exact,
so the path is the one the perturbation argument guarantees to terminate. It serves small
games on which every floating-point path failed (round-off broke the rule).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from popgames.core.errors import SolverError


def exact_path(payoffs: np.ndarray, label: int, limit: int):
    """The path from ``label`` in rational arithmetic with the same scaling, tableaux and
    lexicographic rule, without tolerances: ``(x, y, pivots)``. Slow (fractions grow), so only
    the fallback for small games on which every floating-point path failed.

    Raises
    ------
    SolverError
        No pivot row (impossible for a lexicographic LH path), or ``limit`` pivots reached.
    """
    m, n = payoffs.shape[1:]
    A, B = (_exact_scaled(M) for M in payoffs)
    tabs = [_exact_tableau([list(col) for col in zip(*B)], range(m, m + n), range(m)),
            _exact_tableau(A, range(m), range(m, m + n))]
    t, enter = (0 if label < m else 1), label
    for pivots in range(1, limit + 1):
        T, rhs, rows, loc, slack = tabs[t]
        c = loc[enter]
        cand = [i for i, row in enumerate(T) if row[c] > 0]
        if not cand:      # impossible for a nondegenerate-by-perturbation LH path
            raise SolverError("lemke_howson", f"no pivot row in exact arithmetic on label "
                              f"{label} (status: unbounded ray)")
        for s in (None, *slack):          # lexicographic minimum ratio, ties exact
            keys = [(rhs[i] if s is None else T[i][loc[s]] if loc[s] >= 0
                     else int(i == -1 - loc[s])) / T[i][c] for i in cand]
            lo = min(keys)
            cand = [i for i, v in zip(cand, keys) if v == lo]
            if len(cand) == 1:
                break
        r = cand[0]
        p = T[r][c]
        prow = [v / p for v in T[r]]
        prow[c] = 1 / p
        theta = rhs[r] / p
        for i, row in enumerate(T):
            f = row[c]
            if i != r and f:
                T[i] = [v - f * w for v, w in zip(row, prow)]
                T[i][c] = -f / p
                rhs[i] -= f * theta
        T[r], rhs[r] = prow, theta
        leave = rows[r]
        rows[r] = enter
        loc[enter], loc[leave] = -1 - r, c
        if leave == label:
            return _exact_vertex(tabs[0], 0, m), _exact_vertex(tabs[1], m, n), pivots
        enter, t = leave, 1 - t
    raise SolverError("lemke_howson", f"pivot limit reached in exact arithmetic on label "
                      f"{label} (status: max_pivots)")


def _exact_scaled(M: np.ndarray) -> list[list[Fraction]]:
    F = [[Fraction(float(v)) for v in row] for row in M]
    lo, hi = min(map(min, F)), max(map(max, F))
    return [[(v - lo) / (hi - lo) + 1 if hi > lo else Fraction(1) for v in row] for row in F]


def _exact_tableau(M: list[list[Fraction]], row_labels: range, col_labels: range):
    loc = [0] * (len(row_labels) + len(col_labels))
    for j, lab in enumerate(col_labels):
        loc[lab] = j
    for i, lab in enumerate(row_labels):
        loc[lab] = -1 - i
    return M, [Fraction(1)] * len(row_labels), list(row_labels), loc, list(row_labels)


def _exact_vertex(tab, lo: int, size: int) -> np.ndarray:
    z = [Fraction(0)] * size
    for lab, v in zip(tab[2], tab[1]):
        if lo <= lab < lo + size:
            z[lab - lo] = v
    total = sum(z)
    return np.array([float(v / total) for v in z])
