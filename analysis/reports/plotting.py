"""Figures for reports: matplotlib's object-oriented API on an Agg canvas, fixed margins.

Cheap by construction, since every run ends with its report:

* matplotlib is imported by the first figure, never at module import (importing it is
  about half of a small report's time in a fresh process), and without ``pyplot``: no
  global figure state, no backend switch in the caller's process (a notebook keeps its
  backend);
* margins are fixed in inches instead of a layout engine: ``constrained_layout`` and
  ``tight_layout`` measure every tick label's text extent again, about half of the
  drawing time; axes titles sit at a fixed height for the same reason (:func:`title`);
* many-part plots (stacked weights, bars) are one collection each, not an artist per part;
* 100 dpi, plain log-axis labels (no mathtext parser), PNG compression level 1 (files
  about 10% larger, the report 5% faster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

DPI = 100


def figure(width: float, height: float, cols: int, heading: str | None, *, left: float = 0.75,
           right: float = 0.2, bottom: float = 0.55, top: float = 0.5, gap: float = 0.8) -> tuple[Any, Any]:
    """A figure of ``width`` x ``height`` inches with ``cols`` axes side by side and the
    suptitle ``heading``; margins and the gap between axes are in inches. Returns
    ``(figure, axes)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    panel = (width - left - right - gap * (cols - 1)) / cols
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=gap / panel)
    if heading:
        fig.suptitle(heading, y=1 - 0.08 / height, va="top")
    return fig, fig.subplots(1, cols, squeeze=False)[0]


def save(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})


def _plain_log_labels(ax: Any) -> None:
    """Log-axis tick labels as plain numbers (``1e-05``, ``0.1``) rather than mathtext,
    whose parser costs a tenth of a second on first use."""
    from matplotlib.ticker import LogFormatter

    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def plot_exploitability(path: Path, points: Sequence[tuple[int, float, float]], label: str,
                        heading: str) -> None:
    """``label`` (log scale) against iteration and wall-clock time; ``points`` are
    ``(iteration, wall-clock seconds, value)``."""
    its, wall, values = zip(*points)
    fig, axes = figure(10, 3.6, 2, heading, left=0.95, gap=1.0)
    for ax, x, xlabel in ((axes[0], its, "iteration"), (axes[1], wall, "wall-clock time (s)")):
        ax.semilogy(x, np.maximum(values, 1e-16), marker="o", ms=3)
        _plain_log_labels(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    save(fig, path)


def title(ax: Any, text: str, **kwargs: Any) -> None:
    """An axes title at a fixed height: matplotlib otherwise measures the tick labels at
    every draw to keep an automatic title clear of them."""
    ax.set_title(text, y=1.0, **kwargs)


def _stack(ax: Any, its: np.ndarray, grid: np.ndarray) -> None:
    """``grid``'s rows stacked over ``its`` as one collection of polygons (what
    ``stackplot`` draws as one collection per row, ten times slower for a large population)."""
    from matplotlib import colormaps
    from matplotlib.collections import PolyCollection

    size = len(grid)
    top = np.cumsum(grid, axis=0)
    x = np.concatenate([its, its[::-1]]).astype(float)
    verts = [np.column_stack([x, np.concatenate([t - g, t[::-1]])]) for t, g in zip(top, grid)]
    colors = colormaps["viridis"](np.linspace(0, 1, max(size, 2)))[:size]
    ax.add_collection(PolyCollection(verts, facecolors=colors, edgecolors="none"))
    ax.autoscale_view()


def plot_weights(path: Path, its: np.ndarray, weights: list[list[np.ndarray]], players: int,
                 panel: str, heading: str) -> None:
    """Each player's meta-strategy weights over its growing population, stacked, one panel
    per player (``panel`` is the panel title with ``{p}`` for the player)."""
    fig, axes = figure(4.2 * players, 3.6, players, heading, top=0.65, gap=0.5)
    for p, ax in enumerate(axes):
        size = max(len(w[p]) for w in weights)
        grid = np.zeros((size, len(weights)))
        for t, w in enumerate(weights):
            grid[: len(w[p]), t] = w[p]
        _stack(ax, np.asarray(its), grid)
        ax.set_xlabel("iteration")
        ax.set_ylim(0, 1)
        title(ax, panel.format(p=p))
    axes[0].set_ylabel("meta-strategy weight")
    save(fig, path)
