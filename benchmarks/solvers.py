"""Meta-game solvers beside their peers, on the same random games, in one process run.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python benchmarks/solvers.py            # full run (several minutes)
    .venv/bin/python benchmarks/solvers.py --quick    # smoke run (seconds)

Sections: 2-player Nash (Lemke-Howson vs quantecon / gambit / nashpy), correlated
equilibria (vs plain cvxpy and OpenSpiel's jpsro QP), MILP Nash and the in-loop
zero-sum LP. Each row prints our time, the peer's, and the ratio peer/ours (> 1: we
are faster). ``large_games`` has no peer: time, peak memory and finished / refused for
ce / cce / rae / alpharank on 2-player games up to 300 x 300 (about 5 minutes; each case
in its own process). Figures are recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _correlated  # noqa: E402
import _large_games  # noqa: E402
import _milp_zero_sum  # noqa: E402
import _nash2p  # noqa: E402

SECTIONS = {"nash2p": _nash2p, "correlated": _correlated, "milp_zero_sum": _milp_zero_sum,
            "large_games": _large_games}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, few games")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append",
                        help="run only these sections")
    parser.add_argument("--json", type=Path, help="also write all rows to this JSON file")
    args = parser.parse_args(argv)
    print(f"# {time.strftime('%Y-%m-%d')}  {platform.node()}  {platform.processor() or platform.machine()}"
          f"  python {platform.python_version()}")
    rows = []
    for name in args.only or SECTIONS:
        print(f"\n## {name}")
        start = time.perf_counter()
        rows += [{**r, "section": name} for r in SECTIONS[name].run(quick=args.quick)]
        print(f"(section took {time.perf_counter() - start:.1f} s)")
    print("\n| section | case | ours (s) | peer | peer (s) | peer/ours | note |\n|---|---|---|---|---|---|---|")
    for r in rows:  # large_games rows have no peer
        peer_s = f"{r['peer_s']:.4g}" if "peer_s" in r else "-"
        ratio = f"{r['ratio']:.3g}" if "ratio" in r else "-"
        print(f"| {r['section']} | {r['case']} | {r['ours_s']:.4g} | {r.get('peer', '-')} | "
              f"{peer_s} | {ratio} | {r.get('note', '')} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
