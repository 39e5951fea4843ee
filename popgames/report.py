"""``python -m popgames.report RUN_DIR``: rebuild a run's report.md and plots from its files.

The sections follow what the run's records hold (:func:`popgames.analysis.reports.write_report`).
"""

import argparse
import sys
from pathlib import Path

from popgames.analysis.reports import write_report

__all__ = ["write_report", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popgames.report", description=__doc__)
    parser.add_argument("run_dir", type=Path,
                        help="a run folder written by python -m popgames.psro or python -m popgames.fxp")
    print(write_report(parser.parse_args(argv).run_dir))
    return 0


if __name__ == "__main__":
    from popgames.runs.options import run_main

    sys.exit(run_main(main))
