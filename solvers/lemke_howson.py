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
so no basis repeats and the path terminates. The tableau is kept in floating point, so
ties are detected with tolerances (rows tie when pivoting on either would leave the other
within ``_TIE`` of zero), and on nasty games (degenerate, with payoff differences near
1e-9 of the payoff range) round-off can still break the rule. A path is therefore watched:
a repeated pivoting state (cycling, found by Brent's method on a Zobrist hash of the bases),
a missing pivot row, or an end that is not an equilibrium (every end is verified) drops it.
When every path failed, small games are solved again in exact rational arithmetic by the
same rule (``_exact``); larger ones raise ``SolverError``.

Speed: numba is not allowed at runtime. The pivot loop is compiled C when the optional
extension ``popgames.solvers._lh_pivot`` (``_lh_pivot.c``, built by ``setup.py``) is
importable: the same steps, tolerances and race as below, with a direct rank-1 update per
pivot. Otherwise the numpy implementation below runs; it never rank-1 updates the tableau
per pivot. Each pivot ``T <- T - u v'`` is queued in ``(U, V)`` and the entering column
``T[:, c] - U V[c]'`` and pivot row are read through two matrix-vector products;
every ``_BLOCK`` pivots the queue is folded in with one matrix product, split into
blocks small enough that OpenBLAS keeps it on one thread (threaded level-2/3
calls of this size are slower than serial ones, catastrophically on a busy CPU).
``info["engine"]`` says which ran (``"c"``, ``"numpy"`` or ``"exact"``).

Path lengths on random games are heavy-tailed (from label 0, 7 of 100 random 200x200
games took over 2e5 pivots, one 2.7e6, while other labels finished in hundreds), so
``label=None`` races paths from several labels, adding one whenever the pivot count doubles.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

from popgames.errors import SolverError
from popgames.solvers.registry import Candidate, register

try:
    from popgames.solvers import _lh_pivot as _ext
except ImportError:      # the optional C extension was not built: numpy path
    _ext = None

# Tolerances of the floating-point tableau (payoffs are scaled into [1, 2], so basic values
# are at most 1): exact zeros come out as round-off of about 1e-16 times the growth of the
# tableau, and a pivot on such an entry would wreck it.
_PIV_TOL = 1e-9    # a column entry must exceed this and _PIV_REL * max |column| to pivot
_PIV_REL = 1e-12
_TIE = 1e-9        # rows tie when pivoting on either leaves the other within this of zero
                   # (times max(1, the entries' size) in the lexicographic stages)
_DEGEN = 1e-9      # basic values below this are zeros: the tableau is degenerate
_BLOCK = 32        # pivots queued before the tableau is rebuilt
_SERIAL_MNK = 1 << 18   # OpenBLAS runs gemm with m*n*k at most this on one thread
_VERIFY = 1e-10    # an end must be an equilibrium of the scaled game to this (regret)
_EXACT_CELLS = 1600     # games with at most this many action profiles get the exact fallback
_NOT_FINITE = "payoffs must be finite (status: bad input)"
_M64 = (1 << 64) - 1

# What a pivot ended in, and how a race ended (the C engine returns the same codes).
_GO, _DONE, _CYCLE, _BREAK, _UNVERIFIED = 0, 1, 2, 3, 4
_FOUND, _LIMIT, _FAILED, _BAD_INPUT = 0, 1, 2, 3
_REASONS = {_CYCLE: "cycling", _BREAK: "no pivot row", _UNVERIFIED: "end not an equilibrium"}


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
    cand = np.flatnonzero(col > max(_PIV_TOL, _PIV_REL * np.abs(col).max()))
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
        keep = (key - lo) * big <= _TIE * max(1.0, np.abs(num).max())
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


def _path(tabs: list[_Tableau], k: int, m: int) -> Iterator[int]:
    """Complementary pivots from the artificial equilibrium dropping label ``k``.

    Yields once per pivot: ``_DONE`` at the last one (label ``k`` left a basis), ``_CYCLE``
    when the pivoting state (bases, tableau, entering label) repeats, ``_BREAK`` when no row
    can leave, else ``_GO``; it is not resumed after anything but ``_GO``.
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
            # Fast path: all rhs > _DEGEN, so the minimum ratio rhs/col is the maximum of
            # col/rhs. A pivot that would take another row to (about) zero is a tie: go slow.
            divide(col, rhs, out=q)
            r = int(q.argmax())
            p = col[r]
            if p > max(_PIV_TOL, _PIV_REL * vmax(col), -_PIV_REL * vmin(col)):
                theta = rhs[r] * (1.0 / p)
                subtract(rhs, multiply(col, theta, out=q), out=q)     # the values after it
                q[r] = inf
                fast = vmin(q) > _TIE
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
            rhs[np.abs(rhs) <= _DEGEN] = 0.0
            r = _lex_ratio(tab, col)
            if r < 0:
                yield _BREAK
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
        # (After a fast pivot only the entering value can be below _DEGEN.)
        tab.degen = bool(vmin(rhs) < _DEGEN if slow else theta < _DEGEN)
        if leave == k:
            yield _DONE
            return
        h ^= zob[t * L + leave] ^ zob[t * L + enter]
        enter = leave     # its twin in the other polytope is the duplicate label: it enters there
        t = 1 - t
        key = h ^ zob[(2 + t) * L + enter]
        if key == saved:
            yield _CYCLE
            return
        lam += 1
        if lam == power:
            saved, power, lam = key, 2 * power, 0
        yield _GO


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


def _verified(A: np.ndarray, B: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """``(x, y)`` is an equilibrium of the scaled game ``(A, B)`` to ``_VERIFY``."""
    Ay, xB = A @ y, x @ B
    return bool(Ay.max() - x @ Ay <= _VERIFY and xB.max() - xB @ y <= _VERIFY)


def _scaled(M: np.ndarray) -> np.ndarray:
    lo, hi = M.min(), M.max()
    return (M - lo) * (1.0 / (hi - lo)) + 1.0 if hi > lo else np.ones_like(M)


def _tableaux(A: np.ndarray, B: np.ndarray) -> list[_Tableau]:
    m, n = A.shape
    return [_Tableau(B.T, range(m, m + n), range(m)), _Tableau(A, range(m), range(m, m + n))]


def _solve(payoffs: np.ndarray, labels: Sequence[int], limit: int):
    """Race the paths from ``labels`` (one pivot each in turn; the next label joins whenever
    the total pivot count doubles, or at once when no path is left) and read off the first
    verified equilibrium: ``(x, y, label that finished, total pivots, engine)``."""
    m, n = payoffs.shape[1:]
    if _ext is None:
        if not np.isfinite(payoffs).all():
            raise SolverError("lemke_howson", _NOT_FINITE)
        x, y = np.empty(m), np.empty(n)
        status, found, total, started, failures = _solve_numpy(
            _scaled(payoffs[0]), _scaled(payoffs[1]), labels, limit, x, y)
        engine = "numpy"
    else:
        x, y = np.empty(m), np.empty(n)
        status, found, total, started, failures = _ext.race(
            np.ascontiguousarray(payoffs), labels, limit, x, y)
        engine = "c"
    if status == _FOUND:
        return x, y, found, total, engine
    if status == _BAD_INPUT:
        raise SolverError("lemke_howson", _NOT_FINITE)
    if status == _LIMIT:
        raise SolverError("lemke_howson", f"pivot limit {limit} reached "
                          f"(status: max_pivots, labels {list(labels[:started])})")
    what = "; ".join(f"label {k}: {_REASONS[code]}" for k, code in failures)
    if m * n > _EXACT_CELLS:
        raise SolverError("lemke_howson", f"every path failed in floating point ({what}) "
                          f"(status: numerical failure)")
    k = failures[0][0]
    x, y, pivots = _exact(payoffs, k, limit - total)
    return x, y, k, total + pivots, "exact"


def _solve_numpy(A: np.ndarray, B: np.ndarray, labels: Sequence[int], limit: int,
                 x: np.ndarray, y: np.ndarray):
    """``_lh_pivot.race`` in numpy on the scaled matrices (the C extension's fallback):
    ``(status, label, total pivots, paths started, failures)``, the equilibrium in ``x, y``."""
    m = A.shape[0]
    paths: list[list] = []        # [label, tableaux, steps, alive]
    failures: list[tuple[int, int]] = []
    total, start_next, alive = 0, 0, 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while True:
            if len(paths) < len(labels) and (total >= start_next or not alive):
                k = labels[len(paths)]
                tabs = _tableaux(A, B)
                paths.append([k, tabs, _path(tabs, k, m), True])
                alive += 1
                start_next = max(64, 2 * total)
            elif not alive:
                return _FAILED, -1, total, len(paths), failures
            for path in paths:
                k, tabs, steps, live = path
                if not live:
                    continue
                total += 1
                code = next(steps)
                if code == _DONE:
                    x[:], y[:] = _vertex(tabs[0], B.T, 0, m), _vertex(tabs[1], A, m, 0)
                    if _verified(A, B, x, y):
                        return _FOUND, k, total, len(paths), failures
                    code = _UNVERIFIED
                if code != _GO:
                    path[3] = False
                    alive -= 1
                    failures.append((k, code))
                if total >= limit:
                    return _LIMIT, -1, total, len(paths), failures


def _exact(payoffs: np.ndarray, label: int, limit: int):
    """The path from ``label`` in rational arithmetic with the same scaling, tableaux and
    lexicographic rule, without tolerances: ``(x, y, pivots)``. Slow (fractions grow), so only
    the fallback for small games on which every floating-point path failed."""
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


@lru_cache(maxsize=64)
def _race_order(m: int, n: int) -> tuple[int, ...]:
    """Labels ``0, m, 1, m+1, ...``, then the longer side's remaining ones (cached: on small
    games building the list would cost as much as the C pivots)."""
    labels = [lab for pair in zip(range(m), range(m, m + n)) for lab in pair]
    return tuple(labels + list(range(min(m, n), m)) + list(range(m + min(m, n), m + n)))


def _check(payoffs: np.ndarray) -> np.ndarray:
    payoffs = np.asarray(payoffs, dtype=np.float64)
    if payoffs.ndim != 3 or payoffs.shape[0] != 2 or 0 in payoffs.shape:
        raise SolverError("lemke_howson", f"needs a 2-player payoff tensor [2, m, n] with "
                          f"m, n >= 1, got shape {payoffs.shape}")
    return payoffs


def _limit(max_pivots: int | None) -> int:
    if max_pivots is None:
        return 1 << 62
    if not isinstance(max_pivots, (int, np.integer)) or max_pivots < 1:
        raise SolverError("lemke_howson", f"max_pivots must be a positive integer or None, "
                          f"got {max_pivots!r}")
    return min(int(max_pivots), 1 << 62)     # (the C engine counts in 64 bits)


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
        (one joins whenever the total pivot count doubles, or when every raced path has
        failed numerically) and returns the first equilibrium found: far shorter worst
        cases on large games.
    max_pivots
        Limit on the pivots (over all raced paths and an exact fallback); ``None``
        (default) means no limit (the lexicographic rule, with the cycle check, makes
        every path end).

    Returns
    -------
    Candidate
        ``marginals=[x, y]``, verified to be an equilibrium (regret at most 1e-10 times
        each player's payoff range); ``info = {"label": label that finished, "pivots":
        count, "engine": "c", "numpy" or "exact"}`` (``"exact"``: every floating-point path
        failed and the first failed label was followed in rational arithmetic).

    Raises
    ------
    SolverError
        Not two players, payoffs not finite, bad ``label``/``max_pivots``, pivot limit
        reached, or every path failed numerically on a game too large for the exact
        fallback (more than 1600 action profiles); the message carries the status.
    """
    payoffs = _check(payoffs)
    m, n = payoffs.shape[1:]
    if label is None:
        labels = _race_order(m, n)
    elif isinstance(label, (int, np.integer)) and 0 <= label < m + n:
        labels = [int(label)]
    else:
        raise SolverError("lemke_howson", f"label must be an integer in 0..{m + n - 1} or None, "
                          f"got {label!r}")
    x, y, found, pivots, engine = _solve(payoffs, labels, _limit(max_pivots))
    return Candidate(marginals=[x, y], info={"label": found, "pivots": pivots, "engine": engine})


def lemke_howson_all(payoffs: np.ndarray, *, max_pivots: int | None = None,
                     atol: float = 1e-9) -> list[tuple[np.ndarray, np.ndarray]]:
    """The distinct equilibria reached from all ``m + n`` dropped labels, in label order.

    Two equilibria are the same when every probability differs by at most ``atol``;
    ``max_pivots`` applies to each label's path.
    """
    payoffs = _check(payoffs)
    m, n = payoffs.shape[1:]
    limit = _limit(max_pivots)
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(m + n):
        x, y = _solve(payoffs, [k], limit)[:2]
        if not any(np.abs(x - a).max() <= atol and np.abs(y - b).max() <= atol for a, b in found):
            found.append((x, y))
    return found


def _two_player(payoffs: np.ndarray, options) -> str | None:
    return None if payoffs.shape[0] == 2 else f"needs 2 players, got {payoffs.shape[0]}"


register("lemke_howson", "lemke_howson", lemke_howson, concept="nash", exact=True,
         applies=_two_player,
         summary="Lemke-Howson complementary pivoting, 2 players (option label; None races labels)")
