"""Two-player Nash: our Lemke-Howson beside quantecon (numba), gambit's LCP and nashpy.

All on the same random n x n games (payoffs uniform in [0, 1), one seeded numpy
Generator per size, 100 games per size in the full run), in one process run:

* ``lemke_howson(P, label=0)`` against ``quantecon.game_theory.lemke_howson(g,
  init_pivot=0, max_iter=cap, capping=None)``: the same path (the pivot counts and
  equilibria are compared), numba JIT compiled before timing. Both get the same pivot
  cap: LH path lengths on random games are heavy-tailed, and from label 0 a few games
  per hundred at n >= 200 need millions of pivots for any implementation. A game that
  hits the cap counts as not terminated, with the time it took to get there.
* ``lemke_howson(P)`` with our default ``label=None`` (paths from several labels
  raced, see the module) against the same quantecon figures: our termination rate.
* ``pygambit.nash.lcp_solve(rational=False, stop_after=1)`` (time to its first
  equilibrium, building the game excluded) against our default, and ``nashpy``
  ``lemke_howson(0)`` against our label 0, each in a child process killed after a
  per-game cap; a killed game counts as the cap.

Timing: per game, ours and quantecon alternate and repeat (5 times for a game under 20 ms,
3 under 0.2 s, else once) and the per-game median is kept, so a change of machine load
hits both sides alike; tables give the mean, median and max of those over the games.

Run: ``python benchmarks/solvers.py --only nash2p [--quick]``.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import warnings

import numpy as np

from popgames.analysis.exploitability import nash_regrets
from popgames.core.errors import SolverError
from popgames.solvers import lemke_howson as lh_module
from popgames.solvers.lemke_howson import lemke_howson

SIZES = (10, 30, 50, 100, 200, 300)
CAP_PIVOTS = {10: 10**6, 30: 10**6, 50: 10**6, 100: 10**6, 200: 10**6, 300: 10**5}
RACE_CAP = 10**6


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
    return time.perf_counter() - start, cand


def _quantecon():
    from quantecon.game_theory import NormalFormGame
    from quantecon.game_theory import lemke_howson as qe_lh
    qe_lh(NormalFormGame(np.random.default_rng(0).random((3, 3, 2))))     # JIT compile

    def solve(game, cap: int):
        start = time.perf_counter()
        ne, res = qe_lh(game, init_pivot=0, max_iter=cap, capping=None, full_output=True)
        return time.perf_counter() - start, (ne, res.num_iter, res.converged)

    def make(payoffs: np.ndarray):
        return NormalFormGame(np.stack([payoffs[0], payoffs[1]], axis=-1))
    return make, solve


def _peer_worker(kind: str, conn) -> None:
    warnings.simplefilter("ignore")
    while (payoffs := conn.recv()) is not None:
        if kind == "gambit":
            import pygambit as gbt
            game = gbt.StrategicGame.from_arrays(payoffs[0], payoffs[1])   # pygambit 17
            start = time.perf_counter()
            eq = gbt.nash.lcp_solve(game, rational=False, stop_after=1).equilibria[0]
            seconds = time.perf_counter() - start
            x, y = ([float(v) for _, v in eq[p]] for p in game.players)
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


def _verified(payoffs: np.ndarray, cand) -> None:
    if cand is not None:
        assert nash_regrets(payoffs, cand.marginals).sum() <= 1e-6, "unverified answer"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.4g} ms"


def _stats(times: list[float]) -> str:
    return f"mean {_ms(np.mean(times))} / median {_ms(np.median(times))} / max {_ms(max(times))}"


def _time_game(payoffs: np.ndarray, cap: int, qe_make, qe_solve):
    """Per-game medians over alternating repeats: ours label 0, quantecon, ours race."""
    game = qe_make(payoffs)
    runs = {"ours": [], "qe": [], "race": []}
    out = {}
    reps = 1
    while len(runs["ours"]) < reps:
        t, out["ours"] = _ours(payoffs, 0, cap)
        runs["ours"].append(t)
        t, out["qe"] = qe_solve(game, cap)
        runs["qe"].append(t)
        t, out["race"] = _ours(payoffs, None, RACE_CAP)
        runs["race"].append(t)
        if len(runs["ours"]) == 1:
            first = max(runs["ours"][0], runs["qe"][0])
            reps = 5 if first < 0.02 else 3 if first < 0.2 else 1
    _verified(payoffs, out["ours"])
    _verified(payoffs, out["race"])
    return {k: float(np.median(v)) for k, v in runs.items()}, out


def bench_size(n: int, count: int, peer_counts: dict[str, int], cap_s: float,
               qe) -> list[dict]:
    games = _games(n, count)
    cap = CAP_PIVOTS[n]
    t = {"ours": [], "qe": [], "race": []}
    ours_prof, qe_out, race_prof = [], [], []
    for payoffs in games:
        times, out = _time_game(payoffs, cap, *qe)
        for k in t:
            t[k].append(times[k])
        ours_prof.append(out["ours"])
        qe_out.append(out["qe"])
        race_prof.append(out["race"])
    ours_piv = [p.info["pivots"] for p in ours_prof if p is not None]
    race_piv = [p.info["pivots"] for p in race_prof if p is not None]
    qe_done = sum(c for _, _, c in qe_out)
    same = sum(p is not None and c and p.info["pivots"] == it and
               all(np.allclose(a, b, atol=1e-6) for a, b in zip(p.marginals, ne))
               for p, (ne, it, c) in zip(ours_prof, qe_out))
    piv = f"median {np.median(ours_piv):.0f}, max {max(ours_piv)}" if ours_piv else "-"
    qe_name = "quantecon lemke_howson label 0 (numba)"
    common = (f"terminated within {cap:.0e} pivots: ours {len(ours_piv)}/{count}, quantecon "
              f"{qe_done}/{count}; same equilibrium and pivot count on {same}/{count}; "
              f"pivots {piv}")
    rows = [
        _row(f"LH {n}x{n} label 0, median of {count}", float(np.median(t["ours"])), qe_name,
             float(np.median(t["qe"])), f"ours {_stats(t['ours'])}; quantecon "
             f"{_stats(t['qe'])}; {common}"),
        _row(f"LH {n}x{n} label 0, mean of {count}", float(np.mean(t["ours"])), qe_name,
             float(np.mean(t["qe"])), f"max ours {_ms(max(t['ours']))}, quantecon "
             f"{_ms(max(t['qe']))} (capped games count with their time to the cap)"),
        _row(f"LH {n}x{n} label=None (race), median of {count}", float(np.median(t["race"])),
             qe_name, float(np.median(t["qe"])),
             f"ours {_stats(t['race'])}; terminated {len(race_piv)}/{count} (cap "
             f"{RACE_CAP:.0e} pivots); pivots median {np.median(race_piv):.0f}, max "
             f"{max(race_piv)}"),
        _row(f"LH {n}x{n} label=None (race), mean of {count}", float(np.mean(t["race"])),
             qe_name, float(np.mean(t["qe"])), f"max ours {_ms(max(t['race']))}"),
    ]
    for kind, peer, mine in (("gambit", "pygambit lcp_solve (float)", "race"),
                             ("nashpy", "nashpy lemke_howson label 0", "ours")):
        k = peer_counts.get(kind, 0)
        if not k:
            continue
        times, answers = _capped_peer(kind, games[:k], cap_s)
        killed = sum(s >= cap_s for s in times)
        valid = sum(_valid(g, a) for g, a in zip(games, answers))
        profiles = ours_prof if mine == "ours" else race_prof
        agree = sum(_valid(g, a) and p is not None and
                    all(np.allclose(u, v, atol=1e-6) for u, v in zip(p.marginals, a))
                    for g, p, a in zip(games, profiles, answers))
        label = "label 0" if mine == "ours" else "label=None"
        rows.append(_row(f"LH {n}x{n} {label} vs {kind}, median of {k}",
                         float(np.median(t[mine][:k])), peer, float(np.median(times)),
                         f"{kind} killed after {cap_s:g}s on {killed}/{k} (counted as "
                         f"{cap_s:g}s); its answers verified {valid}/{k}, equal to ours "
                         f"({label}) {agree}/{k}"))
    return rows


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows; ``quick`` (sizes 10-50, 5 games, short caps) stays under 30 s."""
    if quick:
        plan = [(10, 5, {"gambit": 3, "nashpy": 3}), (30, 5, {"gambit": 2}), (50, 5, {})]
        cap_s = 2.0
    else:
        plan = [(10, 100, {"gambit": 100, "nashpy": 100}),
                (30, 100, {"gambit": 100, "nashpy": 20}),
                (50, 100, {"gambit": 50, "nashpy": 5}), (100, 100, {"gambit": 20}),
                (200, 100, {"gambit": 5}), (300, 100, {})]
        cap_s = 20.0
    engine = "C extension" if lh_module._ext is not None else "numpy fallback"
    print(f"(our engine: {engine}; pivot caps {CAP_PIVOTS})", flush=True)
    qe = _quantecon()
    rows = []
    for n, count, peers in plan:
        start = time.perf_counter()
        for r in bench_size(n, count, peers, cap_s, qe):
            rows.append(r)
            print(f"{r['case']:<42} ours {r['ours_s'] * 1e3:9.3f} ms  {r['peer']:<38} "
                  f"{r['peer_s'] * 1e3:9.3f} ms  x{r['ratio']:6.2f}  {r['note']}", flush=True)
        print(f"(n={n} took {time.perf_counter() - start:.1f} s)", flush=True)
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
