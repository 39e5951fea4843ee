"""Shared test inputs: hypothesis strategies and seeded random games."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def random_game(rng: np.random.Generator, shape: tuple[int, ...],
                integer: bool = False) -> np.ndarray:
    """A payoff tensor ``[n, *shape]`` with entries uniform in [0, 1) (or integers 0..9)."""
    full = (len(shape), *shape)
    return rng.integers(0, 10, size=full).astype(float) if integer else rng.random(full)


@st.composite
def payoff_tensors(draw, n_players: tuple[int, int] = (2, 2), actions: tuple[int, int] = (1, 5),
                   integer: bool = False) -> np.ndarray:
    """Payoff tensors with ``n_players`` in the given range and actions per player in range.

    Integer-valued draws produce plenty of degenerate games (ties), which is the point.
    """
    n = draw(st.integers(*n_players))
    shape = tuple(draw(st.integers(*actions)) for _ in range(n))
    elements = (st.integers(-5, 5).map(float) if integer
                else st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32))
    return draw(arrays(np.float64, (n, *shape), elements=elements))


def on_simplex(x: np.ndarray, atol: float = 1e-7) -> bool:
    x = np.asarray(x)
    return bool(np.all(x >= -atol) and abs(x.sum() - 1.0) <= atol * max(1, x.size))
