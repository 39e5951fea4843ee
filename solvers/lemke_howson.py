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
ties are detected with a tolerance ``tol``: rows tie when pivoting on either would leave the
other within ``tol`` of zero; pivot entries must exceed it and basic values within it are
zeros. A path is watched: a repeated pivoting state (cycling, found by Brent's method on a
Zobrist hash of the bases), a missing pivot row, or an end that is not an equilibrium of the
scaled game to ``1e-10`` (every end is verified, re-solved on its basis or else as pivoted)
drops it.

No one ``tol`` serves every game. It must exceed the tableau's round-off, which grows over
long degenerate paths, and stay below the payoff differences that matter: a tie misjudged
by ``d`` leaves a basic value at ``-d``, the path then ends with regret of ``d`` or more, and
verification rejects regret over 1e-10. On ``A = [[-2, 1e-8], [7, 0]]``, ``B = 0`` (1e-8 and
0 differ by 1.1e-9 after scaling, a tie at 1e-9) every path ends at a profile with regret
1.1e-9. So the race runs at ``_TOL = 1e-9`` and, when every path failed, once more at
``_RETRY_TOL = 1e-11``, below the verification tolerance. (Measured, paths that fail: on
games with one entry -10**k, k = 4..9, among entries 0..2, 1245 of 26601 at 1e-9, 11 at
1e-11, 5 at both; on degenerate integer games up to 150x150, 3 of 297 at 1e-9, 9 at 1e-11.)
Only when both races failed are small games solved again in exact rational arithmetic by
the same rule (``_lh_exact``); larger ones raise ``SolverError``.

Engines: numba is not allowed at runtime. The race runs in compiled C when the optional
extension ``popgames.solvers._lh_pivot`` (``_lh_pivot.c``, built by ``setup.py``) is
importable, else in numpy (``_lh_numpy``, pivoting in ``_lh_tableau``); both take the
same pivots with the same tolerances. ``info["engine"]`` says which answered (``"c"``,
``"numpy"`` or ``"exact"``).

Path lengths on random games are heavy-tailed (from label 0, 7 of 100 random 200x200
games took over 2e5 pivots, one 2.7e6, while other labels finished in hundreds), so
``label=None`` races paths from several labels, adding one whenever the pivot count doubles.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers import _lh_numpy
from popgames.solvers._lh_exact import exact_path
from popgames.solvers._lh_numpy import BAD_INPUT, FAILED, FOUND, LIMIT
from popgames.solvers._lh_tableau import BREAK, CYCLE, UNVERIFIED
from popgames.solvers.registry import Candidate, register

try:
    from popgames.solvers import _lh_pivot as _ext
except ImportError:      # the optional C extension was not built: numpy path
    _ext = None

_TOL = 1e-9             # the race's tolerance (pivot entries, ties, zero values)
_RETRY_TOL = 1e-11      # ... when every path failed at _TOL
_EXACT_CELLS = 1600     # games with at most this many action profiles get the exact fallback
_NOT_FINITE = "payoffs must be finite (status: bad input)"
_REASONS = {CYCLE: "cycling", BREAK: "no pivot row", UNVERIFIED: "end not an equilibrium"}


def _solve(payoffs: np.ndarray, labels: Sequence[int], limit: int):
    """Race the paths from ``labels`` (one pivot each in turn; the next label joins whenever
    the total pivot count doubles, or at once when no path is left) and read off the first
    verified equilibrium: ``(x, y, label that finished, total pivots, engine)``. When every
    path failed the race runs again at ``_RETRY_TOL``, then small games are solved exactly."""
    m, n = payoffs.shape[1:]
    race = _lh_numpy.race if _ext is None else _ext.race
    payoffs = np.ascontiguousarray(payoffs)
    x, y = np.empty(m), np.empty(n)
    status, found, total, started, failures = race(payoffs, labels, limit, x, y, _TOL)
    if status == FAILED:
        tries = [(_TOL, failures)]
        status, found, pivots, started, failures = race(payoffs, labels, limit - total, x, y,
                                                        _RETRY_TOL)
        total += pivots
        tries.append((_RETRY_TOL, failures))
    if status == FOUND:
        return x, y, found, total, "numpy" if _ext is None else "c"
    if status == BAD_INPUT:
        raise SolverError("lemke_howson", _NOT_FINITE)
    if status == LIMIT:
        raise SolverError("lemke_howson", f"pivot limit {limit} reached "
                          f"(status: max_pivots, labels {list(labels[:started])})")
    if m * n > _EXACT_CELLS:
        what = "; ".join(f"tolerance {tol:g}: " + "; ".join(
            f"label {k}: {_REASONS[code]}" for k, code in fails) for tol, fails in tries)
        raise SolverError("lemke_howson", f"every path failed in floating point ({what}) "
                          f"(status: numerical failure)")
    k = tries[0][1][0][0]     # the first label that failed
    x, y, pivots = exact_path(payoffs, k, limit - total)
    return x, y, k, total + pivots, "exact"


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
        count (over every try), "engine": "c", "numpy" or "exact"}`` (``"exact"``: every
        floating-point path failed at both tolerances and the first failed label was
        followed in rational arithmetic).

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
