"""``python -m popgames.psro GAME_DIR``: grow a population by (J)PSRO and write a run folder.

Library use: ``from popgames.psro import psro``; ``for record in psro(game, meta_solver="nash",
iterations=30): ...`` (the loop is :mod:`popgames.loops.psro`, the driver :mod:`popgames.runs.driver`).
"""

import sys

from popgames.loops.psro import PsroRecord, PsroState, psro

__all__ = ["psro", "PsroRecord", "PsroState", "main"]


def main(argv: list[str] | None = None) -> int:
    from popgames.runs.driver import main as run
    from popgames.runs.psro_run import PSRO

    return run(PSRO, argv)


if __name__ == "__main__":
    from popgames.runs.options import run_main

    sys.exit(run_main(main))
