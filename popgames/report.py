"""``python -m popgames.report RUN_DIR``: rebuild a run's report.md and plots from its files.

The run's ``config.toml`` says which loop wrote it: FXP runs (``algorithm = "fxp"``) get
:func:`popgames.fxp_report.write_fxp_report`, PSRO runs
:func:`popgames.analysis.report.write_report`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from popgames.cli_common import run_main


def write_any_report(run_dir: str | Path) -> Path:
    """Write the report of the loop that made ``run_dir``; returns the report's path."""
    from popgames.analysis.report import read_run, write_report

    config, _ = read_run(Path(run_dir))  # a folder that is not a run is a one-line error here
    if config.get("algorithm") == "fxp":
        from popgames.fxp_report import write_fxp_report

        return write_fxp_report(run_dir)
    return write_report(run_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popgames.report", description=__doc__)
    parser.add_argument("run_dir", type=Path,
                        help="a run folder written by python -m popgames.psro or python -m popgames.fxp")
    args = parser.parse_args(argv)
    print(write_any_report(args.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
