"""The final meta-game section of a PSRO report: ``meta_game.png`` and its caption.

Two players: each player's meta-game payoffs as a heatmap, every policy of the population
included, with the final meta-strategy's support marked. More players: each policy's
payoff against the others' part of the final meta-strategy, as bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from popgames.analysis.reports.plotting import figure, save, title
from popgames.analysis.reports.population import SUPPORT, deviation_payoffs, player_weights
from popgames.analysis.reports.run_data import Run


def _heatmaps(fig: Any, axes: Any, meta: np.ndarray, weights: list[np.ndarray]) -> None:
    """Both players' payoffs on one colour scale (one colour bar at the right)."""
    bound = np.abs(meta).max()
    for p, ax in enumerate(axes):
        image = ax.imshow(meta[p], cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_xlabel("player 1's policy")
        ax.set_ylabel("player 0's policy")
        title(ax, f"payoff to player {p}", pad=12)
        # Triangles just outside the axes mark the final meta-strategy's support.
        rows, cols = (np.flatnonzero(w > SUPPORT) for w in weights)
        ax.plot(np.full(len(rows), meta.shape[2] - 0.1), rows, "<", color="k", ms=4, clip_on=False)
        ax.plot(cols, np.full(len(cols), -0.9), "v", color="k", ms=4, clip_on=False)
        ax.set_xlim(-0.5, meta.shape[2] - 0.5)
        ax.set_ylim(meta.shape[1] - 0.5, -0.5)
    width, height = fig.get_size_inches()
    fig.colorbar(image, cax=fig.add_axes((1 - 0.85 / width, 0.2, 0.15 / width, 0.6)))


def _bars(ax: Any, heights: np.ndarray, colors: list[str]) -> None:
    """A bar per policy, as one collection of rectangles (``Axes.bar`` makes an artist per
    bar: slow for a population of hundreds)."""
    from matplotlib.collections import PolyCollection

    x = np.arange(len(heights))
    verts = [((k - 0.4, 0), (k - 0.4, h), (k + 0.4, h), (k + 0.4, 0)) for k, h in zip(x, heights)]
    ax.add_collection(PolyCollection(verts, facecolors=colors, edgecolors="none"))
    ax.autoscale_view()


def plot_meta_game(meta: np.ndarray, last: dict[str, Any], path: Path) -> None:
    players, weights = meta.shape[0], player_weights(last)
    fig, axes = figure(4.6 * players, 4.0, players, "Final meta-game" + (
        " (triangles: support of the final meta-strategy)" if players == 2 else
        " (red: support; dashed: meta-strategy payoff)"), top=0.75, gap=0.9,
        right=1.2 if players == 2 else 0.2)
    if players == 2:
        _heatmaps(fig, axes, meta, weights)
    for p, ax in enumerate(axes if players > 2 else []):
        dev = deviation_payoffs(meta, last, p)
        colors = ["C3" if k < len(weights[p]) and weights[p][k] > SUPPORT else "C0"
                  for k in range(len(dev))]
        _bars(ax, dev, colors)
        ax.axhline(last["meta_payoffs"][p], color="k", ls="--", lw=1)
        ax.set_xlabel(f"player {p}'s policy")
        title(ax, f"player {p}: payoff vs the others' meta-strategy", fontsize=10)
    save(fig, path)


def figure_section(run: Run) -> list[str]:
    """``meta_game.png`` and its caption; nothing for a run without a readable checkpoint."""
    meta = run.meta
    if meta is None:
        return []
    plot_meta_game(meta, run.last, run.dir / "meta_game.png")
    return ["![final meta-game](meta_game.png)", "",
            ("The final meta-game, every policy of the population included (rows: player "
             "0's policies, columns: player 1's); triangles mark the final meta-strategy's "
             "support." if meta.shape[0] == 2 else
             "Each policy's meta-game payoff against the others' part of the final "
             "meta-strategy (red: in its support; dashed: the meta-strategy's payoff)."), ""]
