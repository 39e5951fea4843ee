"""Gambit's vertex enumeration (``enummixed``) as the reference for two-player Nash equilibria.

Written for pygambit 17: ``constraints.txt`` pins 17.0.0b2, the only release with a
Linux wheel for CPython 3.11 (every 16.x release is built from source, 5-12 minutes on
a fresh machine). In 17 a game is ``StrategicGame.from_arrays`` and an equilibrium maps
each player's label to ``(strategy label, probability)`` pairs in strategy order.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pygambit as gbt


def extreme_equilibria(payoffs: np.ndarray, rational: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """All extreme equilibria ``(x, y)`` of the bimatrix game ``payoffs [2, m, n]``.

    ``rational=True`` hands gambit the payoffs as exact integers (they must be integral)
    and enumerates in rational arithmetic; otherwise in floating point.
    """
    if rational:
        arrays = [np.array([[Fraction(int(v)) for v in row] for row in mat], dtype=object)
                  for mat in payoffs]
    else:
        arrays = [np.asarray(payoffs[0], np.float64), np.asarray(payoffs[1], np.float64)]
    game = gbt.StrategicGame.from_arrays(*arrays)
    result = gbt.nash.enummixed_solve(game, rational=rational)
    return [tuple(np.array([float(p) for _, p in eq[player]]) for player in game.players)
            for eq in result.equilibria]
