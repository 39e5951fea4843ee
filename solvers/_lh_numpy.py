"""The numpy engine of ``lemke_howson``: the race of Lemke-Howson paths in floating point.

The fallback of the C extension ``popgames.solvers._lh_pivot`` (``_lh_pivot.c``), step for
step: the same tableaux, fast and lexicographic ratio tests, tolerances, cycle check, race
and re-solve of the final basis, so both take the same pivots (``lemke_howson`` describes
the algorithm). Only the tableau update differs: numba is not allowed at runtime, and a
rank-1 update per pivot from Python is slow, so each pivot ``T <- T - u v'`` is queued in
``(U, V)`` and the entering column ``T[:, c] - U V[c]'`` and pivot row are read through two
matrix-vector products; every ``_BLOCK`` pivots the queue is folded in with one matrix
product, split into blocks small enough that OpenBLAS keeps it on one thread (threaded
level-2/3 calls of this size are slower than serial ones, catastrophically on a busy CPU).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

# Payoffs are scaled into [1, 2], so basic values are at most 1: exact zeros come out as
# round-off of about 1e-16 times the growth of the tableau, and a pivot on such an entry
# would wreck it. The absolute tolerance ``tol`` (pivot entries, ties, zero values) is an
# argument of ``race``; these are fixed (the C engine has the same, checked by a test).
PIV_REL = 1e-12    # a column entry must exceed tol and this times max |column| to pivot
VERIFY = 1e-10     # an end must be an equilibrium of the scaled game to this (regret)
_BLOCK = 32        # pivots queued before the tableau is rebuilt
_SERIAL_MNK = 1 << 18   # OpenBLAS runs gemm with m*n*k at most this on one thread
_M64 = (1 << 64) - 1

# What a pivot ended in, and how a race ended (the C engine returns the same codes).
GO, DONE, CYCLE, BREAK, UNVERIFIED = 0, 1, 2, 3, 4
FOUND, LIMIT, FAILED, BAD_INPUT = 0, 1, 2, 3


class _Tableau:
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


def _lex_ratio(tab: _Tableau, col: np.ndarray, tol: float) -> int:
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


def _path(tabs: list[_Tableau], k: int, m: int, tol: float) -> Iterator[int]:
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


def _vertex(tab: _Tableau, M: np.ndarray, struct_lo: int, slack_lo: int, tol: float,
            polish: bool) -> np.ndarray:
    """The tableau's mixed strategy, with ``polish`` re-solved on the final basis to drop
    pivoting round-off.

    ``M`` is ``B'`` (tableau 0) or ``A`` (tableau 1), structural labels ``struct_lo + a``,
    slack labels ``slack_lo + j``: basic structural S and tight slacks J give the square,
    nonsingular (as the basis is) system ``M[J, S] z = 1``.
    """
    size = M.shape[1]
    pairs = [(r, lab - struct_lo) for r, lab in enumerate(tab.rows)
             if struct_lo <= lab < struct_lo + size]
    rows = [r for r, _ in pairs]
    idx = [a for _, a in pairs]
    tight = [j for j in range(M.shape[0]) if tab.loc[slack_lo + j] >= 0]
    z = np.zeros(size)
    z[idx] = tab.rhs[rows]
    if polish and 1 < len(idx) == len(tight):     # (a pure strategy needs no polishing)
        try:
            sol = np.linalg.solve(M[tight][:, idx], np.ones(len(idx)))
        except np.linalg.LinAlgError:     # keep the pivoted values
            sol = None
        if sol is not None and np.isfinite(sol).all() and sol.min() > -tol:
            z[idx] = sol
    z = np.maximum(z, 0.0)
    return z / z.sum()


def _verified(A: np.ndarray, B: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """``(x, y)`` is an equilibrium of the scaled game ``(A, B)`` to ``VERIFY``."""
    Ay, xB = A @ y, x @ B
    return bool(Ay.max() - x @ Ay <= VERIFY and xB.max() - xB @ y <= VERIFY)


def _scaled(M: np.ndarray) -> np.ndarray:
    """``M`` affinely into [1, 2] (all ones when constant), as ``scaled`` in the C engine."""
    lo, hi = M.min(), M.max()
    return (M - lo) * (1.0 / (hi - lo)) + 1.0 if hi > lo else np.ones_like(M)


def _tableaux(A: np.ndarray, B: np.ndarray) -> list[_Tableau]:
    m, n = A.shape
    return [_Tableau(B.T, range(m, m + n), range(m)), _Tableau(A, range(m), range(m, m + n))]


def race(payoffs: np.ndarray, labels: Sequence[int], limit: int, x: np.ndarray, y: np.ndarray,
         tol: float) -> tuple[int, int, int, int, list[tuple[int, int]]]:
    """``_lh_pivot.race`` in numpy (the C extension's fallback).

    Parameters
    ----------
    payoffs
        Payoff tensor ``[2, m, n]`` (float64); each player's matrix is scaled into [1, 2].
    labels
        The labels to race, in the order they join.
    limit
        Pivots (over all paths) after which the race stops with ``LIMIT``.
    x, y
        Filled with the equilibrium when one is found.
    tol
        Pivot entries must exceed it; rows tie and values are zero within it.

    Returns
    -------
    tuple
        ``(status, label that finished or -1, total pivots, paths started, failures)``,
        ``failures`` the ``(label, code)`` of the dropped paths.
    """
    if not np.isfinite(payoffs).all():
        return BAD_INPUT, -1, 0, 0, []
    A, B = _scaled(payoffs[0]), _scaled(payoffs[1])
    m = A.shape[0]
    paths: list[list] = []        # [label, tableaux, steps, alive]
    failures: list[tuple[int, int]] = []
    total, start_next, alive = 0, 0, 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while True:
            if len(paths) < len(labels) and (total >= start_next or not alive):
                k = labels[len(paths)]
                tabs = _tableaux(A, B)
                paths.append([k, tabs, _path(tabs, k, m, tol), True])
                alive += 1
                start_next = max(64, 2 * total)
            elif not alive:
                return FAILED, -1, total, len(paths), failures
            for path in paths:
                k, tabs, steps, live = path
                if not live:
                    continue
                total += 1
                code = next(steps)
                if code == DONE:
                    # The re-solved vertex, else the pivoted values: after pivots on entries
                    # near tol the final basis is ill-conditioned, and re-solving it can add
                    # more error than it removes.
                    for polish in (True, False):
                        x[:] = _vertex(tabs[0], B.T, 0, m, tol, polish)
                        y[:] = _vertex(tabs[1], A, m, 0, tol, polish)
                        if _verified(A, B, x, y):
                            return FOUND, k, total, len(paths), failures
                    code = UNVERIFIED
                if code != GO:
                    path[3] = False
                    alive -= 1
                    failures.append((k, code))
                if total >= limit:
                    return LIMIT, -1, total, len(paths), failures
