"""Lemke-Howson complementary pivoting for two-player games.

The game ``(A, B)`` (each rescaled to entries in [1, 2], which changes no
equilibrium) defines the best-response polytopes ``P = {x >= 0 : B'x <= 1}`` and
``Q = {y >= 0 : Ay <= 1}`` (von Stengel, "Computing equilibria for two-person
games", Handbook of Game Theory vol. 3, 2002, sec. 2). Labels ``0..m-1`` are
the row player's actions, ``m..m+n-1`` the column player's. Starting from the
artificial equilibrium ``(0, 0)``, label ``k`` is dropped and the path of
complementary pivots is followed, alternating between the two tableaux, until
the variable with label ``k`` leaves a basis; the normalised vertices are then
a Nash equilibrium.

Degeneracy: ties in the minimum-ratio test are broken by the lexicographic rule
(compare ``rhs / pivot``, then the columns of the initial slack basis in order),
which is the exact perturbation ``1 + (eps, eps^2, ...)`` of the right-hand side,
so no basis repeats and the path terminates. Ties are detected with a relative
and absolute tolerance because the tableau is kept in floating point.

Speed: numba is not allowed, so the tableau is never rank-1 updated per pivot.
Each pivot ``T <- T - u v'`` is queued in ``(U, V)`` and the entering column
``T[:, c] - U V[c]'`` and pivot row are read through two matrix-vector products;
every ``_BLOCK`` pivots the queue is folded in with one matrix product, split into
blocks small enough that OpenBLAS keeps it on one thread (threaded level-2/3
calls of this size are slower than serial ones, catastrophically on a busy CPU).

Path lengths on random games are heavy-tailed (from label 0, 7 of 100 random 200x200
games took over 2e5 pivots, one 2.7e6, while other labels finished in hundreds), so
``label=None`` races paths from several labels, adding one whenever the pivot count doubles.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from popgames.errors import SolverError
from popgames.solvers.registry import Candidate, register

# Tolerances of the floating-point tableau (payoffs are scaled into [1, 2], so basic values
# are at most 1): exact zeros come out as round-off of about 1e-16 times the growth of the
# tableau, and a pivot on such an entry would wreck it.
_PIV_TOL = 1e-9    # a column entry must exceed this (times max(1, max |column|)) to pivot
_TIE = 1e-9        # ratios this close (times max(1, their size)) count as tied
_DEGEN = 1e-9      # basic values below this are zeros: the tableau is degenerate
_BLOCK = 32        # pivots queued before the tableau is rebuilt
_SERIAL_MNK = 1 << 18   # OpenBLAS runs gemm with m*n*k at most this on one thread


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


def _lex_ratio(tab: _Tableau, col: np.ndarray) -> int:
    """Lexicographic minimum-ratio row for entering column ``col`` (``tab`` flushed), or -1."""
    cand = np.flatnonzero(col > _PIV_TOL * max(1.0, np.abs(col).max()))
    if cand.size == 0:
        return -1
    piv = col[cand]
    key = tab.rhs[cand] / piv
    for lab in (None, *tab.slack):
        if lab is not None:      # column of the inverse basis belonging to initial slack ``lab``
            j = tab.loc[lab]
            key = tab.T[cand, j] / piv if j >= 0 else (cand == -1 - j) / piv
        lo = key.min()
        keep = key <= lo + _TIE * max(1.0, np.abs(key).max())
        cand, piv = cand[keep], piv[keep]
        if cand.size == 1:
            break
    return int(cand[0])     # several left only if the inverse basis has equal rows (round-off)


def _path(tabs: list[_Tableau], k: int, m: int) -> Iterator[bool]:
    """Complementary pivots from the artificial equilibrium dropping label ``k``.

    Yields once per pivot: ``True`` at the last one (label ``k`` left a basis).
    """
    t = 0 if k < m else 1     # x_k enters P's tableau; y_{k-m} enters Q's
    enter = k
    inf = np.inf
    divide, matmul, subtract, multiply = np.divide, np.matmul, np.subtract, np.multiply
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
        if not tab.degen:
            # Fast path: all rhs > 0, so the minimum ratio rhs/col is the maximum of col/rhs.
            divide(col, rhs, out=q)
            r = int(q.argmax())
            best = q[r]
            q[r] = -inf
            second = q[q.argmax()]
            theta = 1.0 / best
            if col[r] <= _PIV_TOL or (second > 0.0 and
                                      1.0 / second - theta <= _TIE * max(1.0, theta)):
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
            rhs[np.abs(rhs) <= _DEGEN] = 0.0
            r = _lex_ratio(tab, col)
            if r < 0:
                raise SolverError("lemke_howson", f"no pivot row for label {k} "
                                  f"(status: unbounded ray, numerical breakdown)")
        row = Vt[s]
        if s:
            matmul(Ut[:s, r], Vt[:s], out=row)
            subtract(T[r], row, out=row)
        else:
            row[:] = T[r]
        inv = 1.0 / col[r]
        # Pivot on (r, c) as T <- T - u v' with u = col - e_r, v = row / p, v[c] = 1 + 1/p:
        # row r becomes row / p, column c becomes the leaving variable's column.
        row *= inv
        row[c] = 1.0 + inv
        col[r] -= 1.0
        subtract(rhs, multiply(col, rhs[r] * inv, out=q), out=rhs)
        tab.s = s + 1
        if s + 1 == _BLOCK:
            tab.flush()
        leave = tab.rows[r]
        tab.rows[r] = enter
        tab.loc[enter] = -1 - r
        tab.loc[leave] = c
        if slow:
            tab.degen = bool(rhs.min() < _DEGEN)
        yield leave == k
        enter = leave     # its twin in the other polytope is the duplicate label: it enters there
        t = 1 - t


def _vertex(tab: _Tableau, M: np.ndarray, struct_lo: int, slack_lo: int) -> np.ndarray:
    """The tableau's mixed strategy, re-solved on the final basis to drop pivoting round-off.

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
    if 1 < len(idx) == len(tight):        # (a pure strategy needs no polishing)
        try:
            sol = np.linalg.solve(M[tight][:, idx], np.ones(len(idx)))
        except np.linalg.LinAlgError:     # keep the pivoted values
            sol = None
        if sol is not None and np.isfinite(sol).all() and sol.min() > -_DEGEN:
            z[idx] = sol
    z = np.maximum(z, 0.0)
    return z / z.sum()


def _scaled(M: np.ndarray) -> np.ndarray:
    lo, hi = M.min(), M.max()
    return (M - lo) * (1.0 / (hi - lo)) + 1.0 if hi > lo else np.ones_like(M)


def _tableaux(A: np.ndarray, B: np.ndarray) -> list[_Tableau]:
    m, n = A.shape
    return [_Tableau(B.T, range(m, m + n), range(m)), _Tableau(A, range(m), range(m, m + n))]


def _solve(A: np.ndarray, B: np.ndarray, labels: list[int], limit: int):
    """Race the paths from ``labels`` (one pivot each in turn; the next label joins whenever
    the total pivot count doubles) and read off the first equilibrium reached."""
    m = A.shape[0]
    paths: list[tuple[int, list[_Tableau], Iterator[bool]]] = []
    total, start_next = 0, 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while True:
            if total >= start_next and len(paths) < len(labels):
                tabs = _tableaux(A, B)
                paths.append((labels[len(paths)], tabs, _path(tabs, labels[len(paths)], m)))
                start_next = max(64, 2 * total)
            for label, tabs, steps in paths:
                total += 1
                if next(steps):
                    return _vertex(tabs[0], B.T, 0, m), _vertex(tabs[1], A, m, 0), label, total
                if total >= limit:
                    raise SolverError("lemke_howson", f"pivot limit {limit} reached "
                                      f"(status: max_pivots, labels {[p[0] for p in paths]})")


def _check(payoffs: np.ndarray) -> np.ndarray:
    payoffs = np.asarray(payoffs, dtype=np.float64)
    if payoffs.ndim != 3 or payoffs.shape[0] != 2:
        raise SolverError("lemke_howson", f"needs a 2-player payoff tensor [2, m, n], "
                          f"got shape {payoffs.shape}")
    return payoffs


def _limit(max_pivots: int | None) -> int:
    if max_pivots is None:
        return 1 << 62
    if not isinstance(max_pivots, (int, np.integer)) or max_pivots < 1:
        raise SolverError("lemke_howson", f"max_pivots must be a positive integer or None, "
                          f"got {max_pivots!r}")
    return int(max_pivots)


def lemke_howson(payoffs: np.ndarray, *, label: int | None = 0,
                 max_pivots: int | None = None) -> Candidate:
    """One Nash equilibrium of a two-player game by the Lemke-Howson algorithm.

    Parameters
    ----------
    payoffs
        Payoff tensor ``[2, m, n]``.
    label
        The label dropped at the artificial equilibrium: ``0..m-1`` are the row
        player's actions, ``m..m+n-1`` the column player's. Different labels can
        reach different equilibria. ``None`` races the labels ``0, m, 1, m+1, ...``
        (one joins whenever the total pivot count doubles) and returns the first
        equilibrium found: far shorter worst cases on large games.
    max_pivots
        Limit on the pivots (over all raced paths); ``None`` (default) means no limit
        (the lexicographic rule guarantees termination).

    Returns
    -------
    Candidate
        ``marginals=[x, y]``; ``info = {"label": label that finished, "pivots": count}``.

    Raises
    ------
    SolverError
        Not two players, bad ``label``/``max_pivots``, pivot limit reached or numerical
        breakdown (the message carries the status).
    """
    payoffs = _check(payoffs)
    m, n = payoffs.shape[1:]
    if label is None:
        labels = [lab for pair in zip(range(m), range(m, m + n)) for lab in pair]
        labels += list(range(min(m, n), m)) + list(range(m + min(m, n), m + n))
    elif isinstance(label, (int, np.integer)) and 0 <= label < m + n:
        labels = [int(label)]
    else:
        raise SolverError("lemke_howson", f"label must be an integer in 0..{m + n - 1} or None, "
                          f"got {label!r}")
    x, y, found, pivots = _solve(_scaled(payoffs[0]), _scaled(payoffs[1]), labels,
                                 _limit(max_pivots))
    return Candidate(marginals=[x, y], info={"label": found, "pivots": pivots})


def lemke_howson_all(payoffs: np.ndarray, *, max_pivots: int | None = None,
                     atol: float = 1e-9) -> list[tuple[np.ndarray, np.ndarray]]:
    """The distinct equilibria reached from all ``m + n`` dropped labels, in label order.

    Two equilibria are the same when every probability differs by at most ``atol``;
    ``max_pivots`` applies to each label's path.
    """
    payoffs = _check(payoffs)
    m, n = payoffs.shape[1:]
    A, B = _scaled(payoffs[0]), _scaled(payoffs[1])
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(m + n):
        x, y, _, _ = _solve(A, B, [k], _limit(max_pivots))
        if not any(np.abs(x - a).max() <= atol and np.abs(y - b).max() <= atol for a, b in found):
            found.append((x, y))
    return found


def _two_player(payoffs: np.ndarray, options) -> str | None:
    return None if payoffs.shape[0] == 2 else f"needs 2 players, got {payoffs.shape[0]}"


register("lemke_howson", "lemke_howson", lemke_howson, concept="nash", exact=True,
         applies=_two_player,
         summary="Lemke-Howson complementary pivoting, 2 players (option label; None races labels)")
