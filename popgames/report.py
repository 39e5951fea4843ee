"""``python -m popgames.report RUN_DIR``: rebuild a run's report.md and plots from its files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from popgames.cli_common import run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popgames.report", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="a run folder written by python -m popgames.psro")
    args = parser.parse_args(argv)
    from popgames.analysis.report import write_report

    print(write_report(args.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
