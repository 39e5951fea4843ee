"""The Lemke-Howson pivoting of the numpy engine (:mod:`popgames.solvers._lh_numpy`).

:class:`Tableau` is one compact tableau (rows: basic variables, columns: nonbasic
ones) and :func:`pivot_path` follows the complementary pivots of one dropped label
across the two tableaux, with the same fast and lexicographic ratio tests, tolerances
and cycle check as the C engine (``_lh_pivot.c``). Only the tableau update differs:
numba is not allowed at runtime, and a rank-1 update per pivot from Python is slow, so
each pivot ``T <- T - u v'`` is queued in ``(U, V)`` and the entering column
``T[:, c] - U V[c]'`` and pivot row are read through two matrix-vector products; every
``_BLOCK`` pivots the queue is folded in with one matrix product, split into blocks
small enough that OpenBLAS keeps it on one thread (threaded level-2/3 calls of this size
are slower than serial ones, catastrophically on a busy CPU).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import numpy as np

# Payoffs are scaled into [1, 2], so basic values are at most 1: exact zeros come out as
# round-off of about 1e-16 times the growth of the tableau, and a pivot on such an entry
# would wreck it. The absolute tolerance ``tol`` (pivot entries, ties, zero values) is an
# argument of ``pivot_path``; this one is fixed (the C engine has the same, checked by a test).
PIV_REL = 1e-12    # a column entry must exceed tol and this times max |column| to pivot
_BLOCK = 32        # pivots queued before the tableau is rebuilt
_SERIAL_MNK = 1 << 18   # OpenBLAS runs gemm with m*n*k at most this on one thread
_M64 = (1 << 64) - 1

# What a pivot ended in (the C engine returns the same codes); UNVERIFIED is the race's
# verdict on a path whose end is not an equilibrium.
GO, DONE, CYCLE, BREAK, UNVERIFIED = 0, 1, 2, 3, 4


class Tableau:
    """Compact tableau ``rows = basic variables, columns = nonbasic ones`` with queued updates."""

    __slots__ = ("T", "Ut", "Vt", "rhs", "q", "s", "rows", "loc", "slack", "degen", "blocks")

    def __init__(self, M: np.ndarray, row_labels: range, col_labels: range):
        k, N = M.shape
        self.T = np.array(M, order="F")          # columns are read every pivot
        self.Ut = np.empty((_BLOCK, k))           # queued u's (one per row)
        self.Vt = np.empty((_BLOCK, N))           # queued v's
        self.rhs = np.ones(k)
        self.q = np.empty(k)
        self.s = 0
        self.rows = list(row_labels)              # label of the basic variable in each row
        self.loc = [0] * (k + N)                  # label -> column (>= 0) or -1-row (basic)
        for j, lab in [*enumerate(col_labels), *((-1 - i, b) for i, b in enumerate(row_labels))]:
            self.loc[lab] = j
        self.slack = list(row_labels)             # the initial basis, in lexicographic order
        self.degen = False
        w = max(1, _SERIAL_MNK // (k * _BLOCK))
        self.blocks = [slice(a, min(a + w, N)) for a in range(0, N, w)]

    def flush(self) -> None:
        """Fold the queued rank-1 updates into ``T``."""
        s = self.s
        if s:
            Ut = self.Ut[:s].T
            for b in self.blocks:
                self.T[:, b] -= Ut @ self.Vt[:s, b]
            self.s = 0


def _lex_ratio(tab: Tableau, col: np.ndarray, tol: float) -> int:
    """Lexicographic minimum-ratio row for entering column ``col`` (``tab`` flushed), or -1."""
    cand = np.flatnonzero(col > max(tol, PIV_REL * np.abs(col).max()))
    if cand.size == 0:
        return -1
    piv = col[cand]
    big = piv.max()
    num = tab.rhs[cand]
    for lab in (None, *tab.slack):
        if lab is not None:      # column of the inverse basis belonging to initial slack ``lab``
            j = tab.loc[lab]
            num = tab.T[cand, j] if j >= 0 else (cand == -1 - j).astype(np.float64)
        key = num / piv
        lo = key.min()
        # Pivoting on a row whose key exceeds the minimum by d moves every candidate row by
        # at most d * big below zero: it ties when that is within the tolerance. (Ratios alone
        # cannot be compared with an absolute tolerance: with pivots of 1e6, ratios of clearly
        # different values differ by less than 1e-9.)
        keep = (key - lo) * big <= tol * max(1.0, np.abs(num).max())
        cand, piv = cand[keep], piv[keep]
        if cand.size == 1:
            break
    return int(cand[0])     # several left only if the inverse basis has equal rows (round-off)


@lru_cache(maxsize=16)
def _zobrist(L: int) -> tuple[int, ...]:
    """64-bit keys (splitmix64 of 1, 2, ...) for (tableau t, basic label) at ``t * L + label``
    and for (tableau t, entering label) at ``(2 + t) * L + label``."""
    keys = []
    for i in range(1, 4 * L + 1):
        z = (i * 0x9E3779B97F4A7C15) & _M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        keys.append(z ^ (z >> 31))
    return tuple(keys)


def pivot_path(tabs: list[Tableau], k: int, m: int, tol: float) -> Iterator[int]:
    """Complementary pivots from the artificial equilibrium dropping label ``k``.

    Yields once per pivot: ``DONE`` at the last one (label ``k`` left a basis), ``CYCLE``
    when the pivoting state (bases, tableau, entering label) repeats, ``BREAK`` when no row
    can leave, else ``GO``; it is not resumed after anything but ``GO``. ``tol``: pivot
    entries must exceed it, rows tie and values are zero within it.
    """
    t = 0 if k < m else 1     # x_k enters P's tableau; y_{k-m} enters Q's
    enter = k
    L = len(tabs[0].loc)
    zob = _zobrist(L)
    h = 0                     # Zobrist hash of both bases
    for tt, tab in enumerate(tabs):
        for lab in tab.rows:
            h ^= zob[tt * L + lab]
    saved, power, lam = h ^ zob[(2 + t) * L + enter], 1, 0     # Brent's cycle detection
    inf = np.inf
    divide, matmul, subtract, multiply = np.divide, np.matmul, np.subtract, np.multiply
    vmin, vmax = np.minimum.reduce, np.maximum.reduce    # (no method-call overhead)
    while True:
        tab = tabs[t]
        c = tab.loc[enter]
        s = tab.s
        T, rhs, Ut, Vt, q = tab.T, tab.rhs, tab.Ut, tab.Vt, tab.q
        col = Ut[s]               # the entering column is computed in place as the next u
        if s:
            matmul(Vt[:s, c], Ut[:s], out=col)
            subtract(T[:, c], col, out=col)
        else:
            col[:] = T[:, c]
        r = -1
        fast = False
        if not tab.degen:
            # Fast path: all rhs > tol, so the minimum ratio rhs/col is the maximum of
            # col/rhs. A pivot that would take another row to (about) zero is a tie: go slow.
            divide(col, rhs, out=q)
            r = int(q.argmax())
            p = col[r]
            if p > max(tol, PIV_REL * vmax(col), -PIV_REL * vmin(col)):
                theta = rhs[r] * (1.0 / p)
                subtract(rhs, multiply(col, theta, out=q), out=q)     # the values after it
                q[r] = inf
                fast = vmin(q) > tol
            if not fast:
                r = -1
        slow = r < 0
        if slow:
            tab.flush()
            if s:
                Ut[0] = col
                col = Ut[0]
                s = 0
            # Values that are zero in exact arithmetic drift by round-off over long degenerate
            # stretches, and the drift would break lexicographic ties (and can cycle): snap them.
            rhs[np.abs(rhs) <= tol] = 0.0
            r = _lex_ratio(tab, col, tol)
            if r < 0:
                yield BREAK
                return
        row = Vt[s]
        if s:
            matmul(Ut[:s, r], Vt[:s], out=row)
            subtract(T[r], row, out=row)
        else:
            row[:] = T[r]
        inv = 1.0 / col[r]
        theta = rhs[r] * inv
        # Pivot on (r, c) as T <- T - u v' with u = col - e_r, v = row / p, v[c] = 1 + 1/p:
        # row r becomes row / p, column c becomes the leaving variable's column.
        row *= inv
        row[c] = 1.0 + inv
        col[r] -= 1.0
        if fast:                  # the new values are in q already
            tab.rhs, tab.q, rhs = q, rhs, q
        else:
            subtract(rhs, multiply(col, theta, out=q), out=rhs)
        rhs[r] = theta
        tab.s = s + 1
        if s + 1 == _BLOCK:
            tab.flush()
        leave = tab.rows[r]
        tab.rows[r] = enter
        tab.loc[enter] = -1 - r
        tab.loc[leave] = c
        # (After a fast pivot only the entering value can be below tol.)
        tab.degen = bool(vmin(rhs) < tol if slow else theta < tol)
        if leave == k:
            yield DONE
            return
        h ^= zob[t * L + leave] ^ zob[t * L + enter]
        enter = leave     # its twin in the other polytope is the duplicate label: it enters there
        t = 1 - t
        key = h ^ zob[(2 + t) * L + enter]
        if key == saved:
            yield CYCLE
            return
        lam += 1
        if lam == power:
            saved, power, lam = key, 2 * power, 0
        yield GO
