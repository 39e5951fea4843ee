"""Moves on a square grid, as OpenSpiel's grid mean-field games make them, as transition matrices.

Cells ``(x, y)`` of a ``size x size`` grid are numbered ``x + y * size`` (OpenSpiel's
``pos_to_merged``). The five moves are OpenSpiel's action order: stay, ``+x``, ``+y``,
``-y``, ``-x``. A move into a forbidden cell stays put; otherwise the square geometry
clips at the border and the torus wraps around. A noisy step is a chosen move followed
by a random one: stay with probability ``1 - noise``, each of the four others with
``noise / 4`` (OpenSpiel's predator-prey and crowd-avoidance chance nodes).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

#: OpenSpiel's action order: stay, +x, +y, -y, -x.
MOVES = np.array([[0, 0], [1, 0], [0, 1], [0, -1], [-1, 0]])


def cell(x: int, y: int, size: int) -> int:
    """The index of cell ``(x, y)``."""
    return x + y * size


def move_matrices(size: int, torus: bool = False, forbidden: Iterable[tuple[int, int]] = ()) -> np.ndarray:
    """``M[a, i, j] = 1`` where move ``a`` takes cell ``i`` to cell ``j`` (``[5, X, X]``, X = size²)."""
    blocked = {cell(x, y, size) for x, y in forbidden}
    xs, ys = np.meshgrid(np.arange(size), np.arange(size), indexing="xy")
    here = np.stack([xs.ravel(), ys.ravel()], axis=1)      # row i = (x, y) of cell i
    out = np.zeros((len(MOVES), size * size, size * size))
    for a, move in enumerate(MOVES):
        target = here + move
        target = target % size if torus else np.clip(target, 0, size - 1)
        # OpenSpiel checks the unclipped target against the forbidden cells.
        raw = here + move
        inside = ((raw >= 0) & (raw < size)).all(axis=1)
        hits = np.array([inside[i] and cell(*raw[i], size) in blocked for i in range(len(here))])
        index = np.where(hits, np.arange(len(here)), target[:, 0] + target[:, 1] * size)
        out[a, np.arange(len(here)), index] = 1.0
    return out


def noisy_steps(moves: np.ndarray, noise: float) -> np.ndarray:
    """``P[x, a, y]``: move ``a`` from ``x``, then a random move (stay w.p. ``1 - noise``)."""
    shake = (1.0 - noise) * moves[0] + noise / 4.0 * moves[1:].sum(axis=0)     # [X, X]
    return np.einsum("axy,yz->xaz", moves, shake)
