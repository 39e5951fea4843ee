"""Graphons ``W: [0, 1]^2 -> [0, 1]`` on the agent grid ``alpha_i = linspace(0, 1, M)``.

The kinds of Cui & Koeppl (ICLR 2022): uniform attachment ``1 - max(x, y)``, ranked
attachment ``1 - x y``, Erdős–Rényi ``p``; a stochastic block model (blocks of the unit
interval with an edge probability per pair of blocks); and the step graphon of any
networkx graph (node ``k`` of ``n`` holds ``[k / n, (k + 1) / n)``; ``alpha = 1`` belongs
to the last node). Each is checked: values in [0, 1], symmetric.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from popgames.core.errors import GameCardError

KINDS = ("uniform_attachment", "ranked_attachment", "erdos_renyi", "sbm", "networkx")


def grid(m: int) -> np.ndarray:
    """The agent grid ``linspace(0, 1, m)``, endpoints included."""
    return np.linspace(0.0, 1.0, m)


def _blocks(alpha: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Block index of each ``alpha`` for blocks ending at ``cuts`` (the last block holds 1)."""
    return np.minimum(np.searchsorted(cuts, alpha, side="right"), len(cuts) - 1)


def graphon_matrix(table: Mapping[str, Any], m: int, src: str = "<graphon>") -> np.ndarray:
    """``W(alpha_i, alpha_j)`` on the grid of ``m`` agents for a card's ``[graphon]`` table."""
    return graphon_values(table, grid(m), src)


def graphon_values(table: Mapping[str, Any], alpha: np.ndarray, src: str = "<graphon>") -> np.ndarray:
    """``W(alpha_i, alpha_j)`` for any points ``alpha`` in [0, 1] (e.g. the N-agent check's)."""
    kind = table.get("type")
    m = len(alpha)
    x, y = alpha[:, None], alpha[None, :]
    if kind == "uniform_attachment":
        w = 1.0 - np.maximum(x, y)
    elif kind == "ranked_attachment":
        w = 1.0 - x * y
    elif kind == "erdos_renyi":
        p = table.get("p")
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise GameCardError(src, "graphon.p", f"expected a number in [0, 1], got {p!r}")
        w = np.full((m, m), float(p))
    elif kind == "sbm":
        sizes = np.asarray(table.get("sizes", []), dtype=np.float64)
        probs = np.asarray(table.get("probs", []), dtype=np.float64)
        if sizes.ndim != 1 or len(sizes) == 0 or (sizes <= 0).any() or abs(sizes.sum() - 1.0) > 1e-9:
            raise GameCardError(src, "graphon.sizes", "expected block sizes > 0 that sum to 1")
        if probs.shape != (len(sizes), len(sizes)):
            raise GameCardError(src, "graphon.probs", f"expected a {len(sizes)}x{len(sizes)} matrix")
        block = _blocks(alpha, np.cumsum(sizes))
        w = probs[block[:, None], block[None, :]]
    elif kind == "networkx":
        w = _step_graphon(table, alpha, src)
    else:
        raise GameCardError(src, "graphon.type", f"unknown graphon {kind!r} (known: {', '.join(KINDS)})")
    return check_graphon(w, src)


def _step_graphon(table: Mapping[str, Any], alpha: np.ndarray, src: str) -> np.ndarray:
    import networkx as nx

    name = table.get("graph")
    # A generator named in networkx's namespace (karate_club_graph, cycle_graph, ...).
    make = vars(nx).get(name) if isinstance(name, str) and name.endswith("_graph") else None
    if make is None:
        raise GameCardError(src, "graphon.graph", f"expected the name of a networkx graph generator "
                                                  f"(e.g. 'karate_club_graph'), got {name!r}")
    graph = make(**dict(table.get("args", {})))
    adjacency = nx.to_numpy_array(graph, nodelist=sorted(graph.nodes()))
    n = len(adjacency)
    node = np.minimum((alpha * n).astype(int), n - 1)
    return (adjacency[node[:, None], node[None, :]] > 0).astype(np.float64)


def check_graphon(w: np.ndarray, src: str = "<graphon>") -> np.ndarray:
    """``w`` if it is a symmetric matrix of values in [0, 1]; else a one-line card error."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise GameCardError(src, "graphon", f"expected a square matrix, got shape {w.shape}")
    if not np.isfinite(w).all() or w.min() < 0.0 or w.max() > 1.0:
        raise GameCardError(src, "graphon", "values outside [0, 1]")
    if not np.allclose(w, w.T, rtol=0.0, atol=1e-12):
        raise GameCardError(src, "graphon", "not symmetric: W(x, y) != W(y, x)")
    return w
