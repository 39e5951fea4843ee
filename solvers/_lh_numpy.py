"""The numpy engine of ``lemke_howson``: the race of Lemke-Howson paths in floating point.

The fallback of the C extension ``popgames.solvers._lh_pivot`` (``_lh_pivot.c``), step for
step: the same tableaux, fast and lexicographic ratio tests, tolerances, cycle check, race
and re-solve of the final basis, so both take the same pivots (``lemke_howson`` describes
the algorithm). The tableaux and the pivoting along one path are in
:mod:`popgames.solvers._lh_tableau`; this module races the paths and reads off, re-solves
and verifies their ends.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from popgames.solvers._lh_tableau import DONE, GO, UNVERIFIED, Tableau, pivot_path

# The absolute tolerance ``tol`` (pivot entries, ties, zero values) is an argument of
# ``race``; this one is fixed (the C engine has the same, checked by a test).
VERIFY = 1e-10     # an end must be an equilibrium of the scaled game to this (regret)

# How a race ended (the C engine returns the same codes).
FOUND, LIMIT, FAILED, BAD_INPUT = 0, 1, 2, 3


def _vertex(tab: Tableau, M: np.ndarray, struct_lo: int, slack_lo: int, tol: float,
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


def _tableaux(A: np.ndarray, B: np.ndarray) -> list[Tableau]:
    m, n = A.shape
    return [Tableau(B.T, range(m, m + n), range(m)), Tableau(A, range(m), range(m, m + n))]


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
                paths.append([k, tabs, pivot_path(tabs, k, m, tol), True])
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
