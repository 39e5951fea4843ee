"""The whole command, timed as a user times it: ``python -m popgames.psro`` as a process.

    .venv/bin/python benchmarks/cli.py                 # leduc, 30 iterations (about 1-2 minutes)
    .venv/bin/python benchmarks/cli.py --repeats 5

* ours: ``python -m popgames.psro games/leduc_poker --iterations 30 --out TMP`` in a fresh
  process -- imports, loading the game, the loop with exact NashConv every iteration, the
  checkpoints, and the report with its plots; plus ``python -X importtime -c "import
  popgames"`` (what ``import popgames`` costs, and whether it loads torch, OpenSpiel,
  cvxpy or matplotlib).
* peer: OpenSpiel's psro_v2 on the same game and iterations in a fresh process:
  ``benchmarks/psro.py``'s ``_peer_psro`` (``PSROSolver`` with the exact C++ best-response
  oracle, exact meta-game entries, LP Nash, and NashConv of every iteration's
  meta-strategy through ``PolicyAggregator`` + ``exploitability.nash_conv``, as
  ``psro_v2_example.py`` prints it), imports included. psro_v2 writes no report.

Each process is timed from spawn to exit (``time.perf_counter`` around ``subprocess.run``);
ours is the median of ``--repeats`` runs, the peer runs once (about a minute).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ("import sys; sys.path.insert(0, {bench!r}); import psro as b; "
        "r = b._peer_psro('leduc_poker', {it}); print('LOOP', r['loop'], 'TOTAL', r['total'])")
HEAVY = ("torch", "pyspiel", "cvxpy", "matplotlib")


def _timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed: {proc.stderr[-2000:]}")
    return wall, proc.stdout + proc.stderr


def import_cost() -> tuple[float, list[str]]:
    """Seconds ``import popgames`` takes (importtime's cumulative figure) and the heavy
    libraries it loads."""
    _, err = _timed([sys.executable, "-X", "importtime", "-c", "import popgames"], ROOT)
    total = next(int(m.group(1)) for m in re.finditer(r"\|\s*(\d+) \| popgames$", err, re.M))
    loaded = [lib for lib in HEAVY if re.search(rf"\| +{lib}$", err, re.M)]
    return total / 1e6, loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    seconds, loaded = import_cost()
    print(f"import popgames: {seconds:.3f} s; heavy libraries loaded: {', '.join(loaded) or 'none'}")
    ours = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            cmd = [sys.executable, "-m", "popgames.psro", "games/leduc_poker", "--iterations",
                   str(args.iterations), "--out", f"{tmp}/run{k}"]
            wall, _ = _timed(cmd, ROOT)
            ours.append(wall)
            assert (Path(tmp) / f"run{k}" / "report.md").is_file()
    ours_s = statistics.median(ours)
    print(f"ours: python -m popgames.psro games/leduc_poker --iterations {args.iterations} "
          f"(report included): {', '.join(f'{t:.2f}' for t in ours)} s, median {ours_s:.2f} s")
    peer_s, out = _timed([sys.executable, "-c", PEER.format(bench=str(ROOT / "benchmarks"),
                                                            it=args.iterations)], ROOT)
    loop = re.search(r"LOOP ([\d.]+) TOTAL ([\d.]+)", out)
    print(f"peer: OpenSpiel psro_v2 as a process: {peer_s:.2f} s (its loop {float(loop.group(1)):.1f} s, "
          f"with per-iteration NashConv {float(loop.group(2)):.1f} s)")
    print(f"whole process, peer / ours: {peer_s / ours_s:.1f}x (target >= 20x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
