"""Large 2-player meta-games: wall time and peak memory of ce / cce / rae / alpharank.

Each (solver, objective, n) case runs ``popgames.solvers.solve`` in a fresh Python
process on one random game (2 players, n x n actions, standard normal payoffs, seed
``n``), so peak memory is the case's own (the imports' share is printed beside it) and
a case that runs away is killed at ``--timeout`` seconds or ``--memory`` MB. Status
is ``finished``, ``refused`` (a :class:`~popgames.core.errors.SolverError`, e.g. a size
limit; its message is printed), ``error``, ``timeout`` or ``memory``.

Run: ``.venv/bin/python benchmarks/solvers.py --only large_games [--quick]`` or
``.venv/bin/python benchmarks/_large_games.py [--sizes 50 100 200 300] [--case ce:max_gini]
[--timeout 150]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

#: (solver, objective or option text); ce / cce default to max_welfare.
CASES = (("ce", "max_welfare"), ("ce", "max_gini"), ("ce", "max_entropy"),
         ("cce", "max_welfare"), ("cce", "max_gini"), ("cce", "max_entropy"),
         ("rae", "-"), ("alpharank", "-"), ("alpharank", "alpha=inf"))
SIZES = (50, 100, 200, 300)


def _options(solver: str, variant: str) -> dict:
    if solver in ("ce", "cce"):
        return {"objective": variant}
    if variant == "alpha=inf":
        return {"alpha": "inf"}
    return {}


def _child(solver: str, variant: str, n: int) -> None:
    """Solve one case in this process and print one JSON line."""
    import numpy as np

    import popgames.solvers as solvers
    from popgames.core.errors import SolverError

    payoffs = np.random.default_rng(n).standard_normal((2, n, n))
    solvers.solve(np.random.default_rng(0).standard_normal((2, 3, 3)), solver,
                  **_options(solver, variant))  # first-call set-up outside the timing
    import_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    out = {"import_mb": import_mb}
    try:
        sol = solvers.solve(payoffs, solver, **_options(solver, variant))
        out.update(status="finished", gap=sol.gap, converged=sol.converged, backend=sol.solver)
    except SolverError as exc:
        out.update(status="refused", message=str(exc))
    out["seconds"] = time.perf_counter() - start
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


def _high_water_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure(solver: str, variant: str, n: int, timeout: float = 150.0,
            memory_mb: float = 6000.0) -> dict:
    """Run one case in a subprocess; kill it past ``timeout`` s or ``memory_mb`` MB."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", solver, variant, str(n)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start, peak, killed = time.perf_counter(), 0.0, None
    while proc.poll() is None:
        peak = max(peak, _high_water_mb(proc.pid))
        elapsed = time.perf_counter() - start
        if elapsed > timeout or peak > memory_mb:
            killed = "timeout" if elapsed > timeout else "memory"
            proc.kill()
            break
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    row = {"solver": solver, "variant": variant, "n": n}
    if killed:
        return {**row, "status": killed, "seconds": time.perf_counter() - start, "peak_mb": peak}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {**row, "status": "error", "seconds": time.perf_counter() - start, "peak_mb": peak,
                "message": stderr.strip().splitlines()[-1] if stderr.strip() else ""}
    return {**row, **json.loads(lines[-1])}


def _print(row: dict) -> None:
    note = row.get("message", "")
    if row["status"] == "finished":
        note = f"{row['backend']}; gap {row['gap']:.1e}" + ("" if row["converged"] else " (not converged)")
    print(f"{row['solver']:10s} {row['variant']:12s} n={row['n']:<4d} {row['seconds']:8.2f} s "
          f"{row['peak_mb']:8.0f} MB  {row['status']:9s} {note}", flush=True)


def run(quick: bool = False, sizes: tuple[int, ...] = SIZES, cases: tuple = CASES,
        timeout: float = 150.0) -> list[dict]:
    """Every case at every size; rows in :mod:`benchmarks.solvers`' format plus the details."""
    sizes = (20, 50) if quick else sizes
    rows = []
    for solver, variant in cases:
        for n in sizes:
            row = measure(solver, variant, n, timeout=timeout)
            _print(row)
            rows.append({**row, "case": f"{solver} {variant} {n}x{n}", "ours_s": row["seconds"],
                         "note": f"{row['status']}, peak {row['peak_mb']:.0f} MB"})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="n = 20 and 50 only")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--case", action="append",
                        help="solver:variant, e.g. ce:max_gini or rae:- (default: all)")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds per case")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    cases = tuple(tuple(c.split(":", 1)) for c in args.case) if args.case else CASES
    print(f"# cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    run(args.quick, tuple(args.sizes), cases, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
