"""Two-player Nash: our Lemke-Howson beside quantecon (numba), gambit's LCP and nashpy.

All on the same random n x n games (payoffs uniform in [0, 1), one seeded numpy
Generator per size), in one process run:

* ``lemke_howson(P, label=0)`` against ``quantecon.game_theory.lemke_howson(g,
  init_pivot=0)``: the same path (the pivot counts must agree; it is checked),
  numba JIT compiled before timing. Both get the same pivot cap (quantecon's
  ``max_iter``): LH path lengths on random games are heavy-tailed, and from label 0
  a few games per hundred at n >= 200 need millions of pivots for any implementation.
* ``lemke_howson(P, label=None)`` (paths from several labels raced, see the module)
  against the same quantecon figures: the termination rate asked for.
* ``pygambit.nash.lcp_solve(rational=False, stop_after=1)`` (time to its first
  equilibrium, building the game excluded) and ``nashpy`` ``lemke_howson(0)``, each
  in a child process killed after a per-game cap; a killed game counts as the cap.

Run: ``python benchmarks/_nash2p.py [--quick]``.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import warnings

import numpy as np

from popgames.analysis.exploitability import nash_regrets
from popgames.errors import SolverError
from popgames.solvers.lemke_howson import lemke_howson

SIZES = (10, 30, 50, 100, 200, 300)
CAP_PIVOTS = 1_000_000   # label-0 paths: quantecon's default max_iter, for both
RACE_CAP = 1_000_000


def _games(n: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1000 + n)
    return [rng.random((2, n, n)) for _ in range(count)]


def _row(case: str, ours: float, peer: str, peer_s: float, note: str) -> dict:
    return {"case": case, "ours_s": ours, "peer": peer, "peer_s": peer_s,
            "ratio": peer_s / ours if ours > 0 else float("inf"), "note": note}


def _ours(payoffs: np.ndarray, label: int | None, cap: int):
    """(seconds, candidate or None when the pivot cap was hit)."""
    start = time.perf_counter()
    try:
        cand = lemke_howson(payoffs, label=label, max_pivots=cap)
    except SolverError:
        cand = None
    seconds = time.perf_counter() - start
    if cand is not None:
        assert nash_regrets(payoffs, cand.marginals).sum() <= 1e-6
    return seconds, cand


def _quantecon():
    from quantecon.game_theory import NormalFormGame
    from quantecon.game_theory import lemke_howson as qe_lh
    qe_lh(NormalFormGame(np.random.default_rng(0).random((3, 3, 2))))     # JIT compile

    def solve(payoffs: np.ndarray, cap: int):
        game = NormalFormGame(np.stack([payoffs[0], payoffs[1]], axis=-1))
        start = time.perf_counter()
        ne, res = qe_lh(game, init_pivot=0, max_iter=cap, full_output=True)
        return time.perf_counter() - start, (ne, res.num_iter, res.converged)
    return solve


def _peer_worker(kind: str, conn) -> None:
    warnings.simplefilter("ignore")
    while (payoffs := conn.recv()) is not None:
        if kind == "gambit":
            import pygambit as gbt
            game = gbt.Game.from_arrays(payoffs[0], payoffs[1])
            start = time.perf_counter()
            eq = gbt.nash.lcp_solve(game, rational=False, stop_after=1).equilibria[0]
            seconds = time.perf_counter() - start
            x, y = ([float(eq[s]) for s in p.strategies] for p in game.players)
        else:
            import nashpy
            start = time.perf_counter()
            try:
                x, y = nashpy.Game(payoffs[0], payoffs[1]).lemke_howson(initial_dropped_label=0)
            except ValueError:       # nashpy: "could not find dropped label"
                x = y = None
            seconds = time.perf_counter() - start
        conn.send((seconds, x if x is None else np.asarray(x), y if y is None else np.asarray(y)))


def _capped_peer(kind: str, games: list[np.ndarray], cap_s: float):
    """Per-game times (the cap for a killed game) and answers (None when killed)."""
    ctx = mp.get_context("fork")
    times, answers, proc = [], [], None
    for payoffs in games:
        if proc is None:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_peer_worker, args=(kind, child), daemon=True)
            proc.start()
        parent.send(payoffs)
        # Building a gambit game is slow and untimed: allow for it on top of the cap.
        if parent.poll(cap_s + (payoffs.size * 2e-5 if kind == "gambit" else 0.0)):
            seconds, x, y = parent.recv()
            times.append(seconds)
            answers.append(None if x is None else (x, y))
        else:
            proc.kill()
            proc.join()
            proc = None
            times.append(cap_s)
            answers.append(None)
    if proc is not None:
        parent.send(None)
        proc.join(5)
    return times, answers


def _valid(payoffs: np.ndarray, answer) -> bool:
    """A peer's answer is a Nash equilibrium (nashpy can return vectors of the wrong size)."""
    return (answer is not None and [len(v) for v in answer] == list(payoffs.shape[1:])
            and all(abs(np.sum(v) - 1) < 1e-6 and np.min(v) > -1e-9 for v in answer)
            and nash_regrets(payoffs, answer).sum() <= 1e-6)


def bench_size(n: int, count: int, peer_counts: dict[str, int], cap_s: float) -> list[dict]:
    games = _games(n, count)
    rows = []
    qe_solve = _quantecon()
    ours_t, ours_prof, qe_t, qe_out, race_t, race_prof = [], [], [], [], [], []
    for payoffs in games:     # interleaved per game, so load changes hit both sides alike
        t, cand = _ours(payoffs, 0, CAP_PIVOTS)
        ours_t.append(t)
        ours_prof.append(cand)
        t, out = qe_solve(payoffs, CAP_PIVOTS)
        qe_t.append(t)
        qe_out.append(out)
        t, cand = _ours(payoffs, None, RACE_CAP)
        race_t.append(t)
        race_prof.append(cand)
    ours_piv = [p.info["pivots"] for p in ours_prof if p is not None]
    race_piv = [p.info["pivots"] for p in race_prof if p is not None]
    ours_done, race_done = len(ours_piv), len(race_piv)
    qe_done = sum(c for _, _, c in qe_out)
    same = sum(p is not None and c and p.info["pivots"] == it and
               all(np.allclose(a, b, atol=1e-6) for a, b in zip(p.marginals, ne))
               for p, (ne, it, c) in zip(ours_prof, qe_out))
    piv = f"median {np.median(ours_piv):.0f}, max {max(ours_piv)}" if ours_piv else "-"
    rows.append(_row(f"LH {n}x{n} label 0, median of {count}", float(np.median(ours_t)),
                     "quantecon lemke_howson (numba)", float(np.median(qe_t)),
                     f"finished within {CAP_PIVOTS} pivots: ours {ours_done}/{count}, "
                     f"quantecon {qe_done}/{count}; same equilibrium and pivot count on "
                     f"{same}; pivots {piv}; total s ours {sum(ours_t):.2f} qe {sum(qe_t):.2f}"))
    rows.append(_row(f"LH {n}x{n} label=None (race), median of {count}",
                     float(np.median(race_t)), "quantecon lemke_howson label 0",
                     float(np.median(qe_t)),
                     f"terminated {race_done}/{count} (cap {RACE_CAP} pivots); pivots median "
                     f"{np.median(race_piv):.0f}, max {max(race_piv)}; max time "
                     f"{max(race_t):.3f}s"))
    for kind, peer in (("gambit", "pygambit lcp_solve (float)"),
                       ("nashpy", "nashpy lemke_howson")):
        k = peer_counts.get(kind, 0)
        if not k:
            continue
        times, answers = _capped_peer(kind, games[:k], cap_s)
        killed = sum(t >= cap_s for t in times)
        valid = sum(_valid(g, a) for g, a in zip(games, answers))
        agree = sum(_valid(g, a) and p is not None and
                    all(np.allclose(u, v, atol=1e-6) for u, v in zip(p.marginals, a))
                    for g, p, a in zip(games, ours_prof, answers))
        rows.append(_row(f"LH {n}x{n} vs {kind}, median of {k}", float(np.median(ours_t[:k])),
                         peer, float(np.median(times)),
                         f"{kind} killed after {cap_s:g}s on {killed}/{k} (counted as {cap_s:g}s);"
                         f" its answers verified {valid}/{k}, equal to ours (label 0) {agree}/{k}"))
    return rows


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows; ``quick`` (sizes 10-50, 5 games, short caps) stays under 30 s."""
    if quick:
        plan = [(10, 5, {"gambit": 3, "nashpy": 3}), (30, 5, {"gambit": 2}), (50, 5, {})]
        cap_s = 2.0
    else:
        plan = [(10, 100, {"gambit": 100, "nashpy": 100}), (30, 100, {"gambit": 100, "nashpy": 20}),
                (50, 100, {"gambit": 50, "nashpy": 5}), (100, 100, {"gambit": 20}),
                (200, 100, {"gambit": 5}), (300, 100, {})]
        cap_s = 20.0
    rows = []
    for n, count, peers in plan:
        for r in bench_size(n, count, peers, cap_s):
            rows.append(r)
            print(f"{r['case']:<40} ours {r['ours_s'] * 1e3:9.3f} ms  {r['peer']:<31} "
                  f"{r['peer_s'] * 1e3:9.3f} ms  x{r['ratio']:7.2f}  {r['note']}", flush=True)
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
