"""CE / CCE solvers: popgames' direct backend vs plain cvxpy and OpenSpiel's JPSRO.

Cases (same random games for every contender, same process):

* CE, 2 players x 50 actions (2500 variables, 4900 rows), every objective;
* CE and CCE, 3 players x 10 actions, every objective;
* the PSRO-style loop: many 10x10 CCE solves (a new payoff tensor each call, same shape)
  through ``popgames.solvers.solve``, time per call.

Peers: the plain cvxpy model (``correlated_equilibrium_cvxpy``: our sparse constraint
matrix handed to cvxpy, compiled on every call, on Clarabel and, for the LP, HiGHS) and
OpenSpiel's ``jpsro._mgce`` / ``_mgcce`` (cvxpy + OSQP at 1e-8) for max Gini.
Run: ``.venv/bin/python benchmarks/solvers.py --only correlated [--quick]`` (or
``.venv/bin/python -m benchmarks._correlated [--quick]``).
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Callable

import numpy as np

import popgames.solvers as solvers
from popgames.solvers.correlated import (coarse_correlated_equilibrium_cvxpy,
                                         correlated_equilibrium_cvxpy)

OBJECTIVES = ("max_welfare", "max_gini", "max_entropy")
CVXPY = {"ce": correlated_equilibrium_cvxpy, "cce": coarse_correlated_equilibrium_cvxpy}


def _timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _row(case: str, ours_s: float, peer: str, peer_s: float, note: str) -> dict:
    row = {"case": case, "ours_s": ours_s, "peer": peer, "peer_s": peer_s,
           "ratio": peer_s / ours_s, "note": note}
    print(f"{case:34s} ours {ours_s:9.4f}s  {peer:26s} {peer_s:9.4f}s  x{row['ratio']:7.1f}  {note}",
          flush=True)
    return row


def _jpsro(concept: str):
    try:
        from open_spiel.python.algorithms import jpsro
    except ImportError:
        return None
    return jpsro._mgce if concept == "ce" else jpsro._mgcce


def _one_game(payoffs: np.ndarray, concept: str, label: str, with_jpsro: bool,
              skip_slow_peers: bool) -> list[dict]:
    rows = []
    shape = payoffs.shape[1:]
    for objective in OBJECTIVES:
        ours_s, ours = _timed(lambda: solvers.solve(payoffs, concept, objective=objective), 3)
        case = f"{concept.upper()} {label} {objective}"
        peers = ["CLARABEL"] + (["HIGHS"] if objective == "max_welfare" else [])
        for peer in peers:
            if skip_slow_peers and peer == "CLARABEL" and objective != "max_welfare":
                continue
            peer_s, theirs = _timed(lambda: CVXPY[concept](payoffs, objective=objective,
                                                           cvxpy_solver=peer))
            diff = ours.info["objective_value"] - theirs.info["objective_value"]
            rows.append(_row(case, ours_s, f"cvxpy+{peer.lower()}", peer_s,
                             f"{ours.info['method']}; objective diff {diff:+.1e}; "
                             f"gap {ours.gap:.1e}"))
        mg = _jpsro(concept)
        if objective == "max_gini" and with_jpsro and mg is not None:
            peer_s, (dist, _) = _timed(lambda: mg(payoffs, [np.ones(a) for a in shape]))
            diff = np.abs(dist - ours.joint).max()
            rows.append(_row(case, ours_s, f"openspiel jpsro._mg{concept}", peer_s,
                             f"max |joint diff| {diff:.1e}"))
    return rows


def _loop(rng: np.random.Generator, calls: int) -> list[dict]:
    """Per-call cost of repeated 10x10 CCE solves (new payoffs each call)."""
    games = [rng.random((2, 10, 10)) for _ in range(calls)]
    rows = []
    mg = _jpsro("cce")
    for objective in OBJECTIVES:
        solvers.solve(games[0], "cce", objective=objective)  # imports, first-call setup
        start = time.perf_counter()
        ours = [solvers.solve(g, "cce", objective=objective) for g in games]
        ours_s = (time.perf_counter() - start) / calls
        peer = "HIGHS" if objective == "max_welfare" else "CLARABEL"
        few = games[:max(5, calls // 10)]
        start = time.perf_counter()
        for g in few:
            CVXPY["cce"](g, objective=objective, cvxpy_solver=peer)
        peer_s = (time.perf_counter() - start) / len(few)
        note = f"{calls} calls; worst gap {max(s.gap for s in ours):.1e}"
        rows.append(_row(f"CCE 10x10 loop {objective} /call", ours_s, f"cvxpy+{peer.lower()}",
                         peer_s, note))
        if objective == "max_gini" and mg is not None:
            start = time.perf_counter()
            for g in few:
                mg(g, [np.ones(10), np.ones(10)])
            peer_s = (time.perf_counter() - start) / len(few)
            rows.append(_row(f"CCE 10x10 loop {objective} /call", ours_s,
                             "openspiel jpsro._mgcce", peer_s, note))
    return rows


def run(quick: bool = False) -> list[dict]:
    """Run every case; ``quick`` shrinks the games and skips the slowest peers (< 30 s)."""
    warnings.filterwarnings("ignore", module="cvxpy")
    rng = np.random.default_rng(2024)
    n2, n3 = (15, 5) if quick else (50, 10)
    rows = _one_game(rng.random((2, n2, n2)), "ce", f"2p n={n2}", with_jpsro=not quick,
                     skip_slow_peers=False)
    game3 = rng.random((3, n3, n3, n3))
    for concept in ("ce", "cce"):
        rows += _one_game(game3, concept, f"3p n={n3}", with_jpsro=not quick or concept == "cce",
                          skip_slow_peers=quick)
    rows += _loop(rng, 50 if quick else 500)
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
