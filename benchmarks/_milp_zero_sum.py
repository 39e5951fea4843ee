"""Side-by-side timings: optimal-Nash MILP and the constant-sum LP against plain peers.

(a) Max-welfare Nash equilibrium of random n x n games (payoffs uniform in [0, 1)):
    ``popgames.solvers.solve(P, "nash_milp")`` against the Sandholm-Gilpin-Conitzer
    formulation written straightforwardly in cvxpy (one global big-M per player,
    no incumbent) and solved by HiGHS's MILP solver with default settings. The
    optimal values must agree (within HiGHS's default 1e-4 relative MIP gap).
(b) A 10x10 zero-sum game solved repeatedly, as a PSRO loop does, through
    ``popgames.solvers.solve(P, "zero_sum_lp")`` (verification included) against the
    maximin LP in cvxpy (HiGHS) and nashpy's ``Game.linear_program``, per call.

Run: ``python benchmarks/_milp_zero_sum.py [--quick]``.
"""

from __future__ import annotations

import sys
import time

import cvxpy as cp
import numpy as np

from popgames.solvers import solve


def plain_sgc_max_welfare(A: np.ndarray, B: np.ndarray) -> float:
    """SGC formulation 1 as one would first write it: global big-M, defaults everywhere."""
    m, n = A.shape
    p, q = cp.Variable(m, nonneg=True), cp.Variable(n, nonneg=True)
    s1, s2 = cp.Variable(m, boolean=True), cp.Variable(n, boolean=True)
    u1, u2 = cp.Variable(), cp.Variable()
    r1, r2 = u1 - A @ q, u2 - B.T @ p
    constraints = [cp.sum(p) == 1, cp.sum(q) == 1, r1 >= 0, r2 >= 0, p <= 1 - s1, q <= 1 - s2,
                   r1 <= (A.max() - A.min()) * s1, r2 <= (B.max() - B.min()) * s2]
    problem = cp.Problem(cp.Maximize(u1 + u2), constraints)
    problem.solve(solver=cp.HIGHS)
    return float(problem.value)


def cvxpy_maximin(A: np.ndarray) -> float:
    """The row player's maximin LP in cvxpy, rebuilt each call (as a loop would)."""
    x, v = cp.Variable(A.shape[0], nonneg=True), cp.Variable()
    problem = cp.Problem(cp.Maximize(v), [A.T @ x >= v, cp.sum(x) == 1])
    problem.solve(solver=cp.HIGHS)
    return float(problem.value)


def _row(case: str, ours: float, peer: str, peer_s: float, note: str) -> dict:
    return {"case": case, "ours_s": ours, "peer": peer, "peer_s": peer_s,
            "ratio": peer_s / ours if ours > 0 else float("inf"), "note": note}


def bench_max_welfare(n: int, seeds: range) -> list[dict]:
    rows, ours_all, peer_all = [], [], []
    for seed in seeds:
        payoffs = np.random.default_rng(seed).random((2, n, n))
        start = time.perf_counter()
        sol = solve(payoffs, "nash_milp", objective="max_welfare")
        ours = time.perf_counter() - start
        start = time.perf_counter()
        peer_value = plain_sgc_max_welfare(payoffs[0], payoffs[1])
        peer = time.perf_counter() - start
        value = sol.info["objective_value"]
        # The peer stops at a 1e-4 relative gap; it can never exceed the true optimum.
        agree = peer_value <= value + 1e-7 and peer_value >= value * (1 - 1e-4) - 1e-9
        if not agree:
            raise AssertionError(f"seed {seed}: ours {value!r} vs plain MILP {peer_value!r}")
        ours_all.append(ours)
        peer_all.append(peer)
        rows.append(_row(f"max-welfare Nash {n}x{n} seed {seed}", ours, "cvxpy+HiGHS plain SGC",
                         peer, f"welfare {value:.6f} (peer {peer_value:.6f}); "
                               f"{sol.info['nodes']} B&B nodes"))
    rows.append(_row(f"max-welfare Nash {n}x{n} mean of {len(seeds)}", float(np.mean(ours_all)),
                     "cvxpy+HiGHS plain SGC", float(np.mean(peer_all)),
                     f"max ours {max(ours_all):.3f}s, max peer {max(peer_all):.3f}s; values agree"))
    return rows


def bench_zero_sum(calls: int, peer_calls: int) -> list[dict]:
    rng = np.random.default_rng(0)
    games = [rng.random((10, 10)) * 2 - 1 for _ in range(calls)]
    start = time.perf_counter()
    values = [solve(np.stack([A, -A]), "zero_sum_lp").info["value"] for A in games]
    ours = (time.perf_counter() - start) / calls
    rows = []
    start = time.perf_counter()
    peer_values = [cvxpy_maximin(A) for A in games[:peer_calls]]
    peer = (time.perf_counter() - start) / peer_calls
    assert np.allclose(values[:peer_calls], peer_values, atol=1e-7)
    rows.append(_row("zero-sum 10x10 per call (solve + verify)", ours, "cvxpy+HiGHS maximin LP",
                     peer, f"{calls} calls ours, {peer_calls} peer; values agree to 1e-7"))
    try:
        import nashpy
    except ImportError:
        return rows
    start = time.perf_counter()
    eqs = [nashpy.Game(A).linear_program() for A in games[:peer_calls]]
    peer = (time.perf_counter() - start) / peer_calls
    assert np.allclose(values[:peer_calls], [x @ A @ y for A, (x, y) in zip(games, eqs)], atol=1e-6)
    rows.append(_row("zero-sum 10x10 per call (solve + verify)", ours, "nashpy linear_program",
                     peer, f"{calls} calls ours, {peer_calls} peer; values agree to 1e-6"))
    return rows


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows; ``quick`` keeps it under 30 s (smaller MILPs, fewer calls)."""
    rows = (bench_max_welfare(12, range(2)) + bench_zero_sum(200, 20) if quick
            else bench_max_welfare(20, range(10)) + bench_zero_sum(2000, 200))
    for r in rows:
        print(f"{r['case']:<48} ours {r['ours_s'] * 1e3:9.2f} ms  {r['peer']:<24} "
              f"{r['peer_s'] * 1e3:10.2f} ms  x{r['ratio']:7.1f}  {r['note']}")
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
