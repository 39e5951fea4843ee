"""``python -m popgames.fxp GAME_DIR``: fictitious cross-play (Xu et al. 2023) into a run folder.

Library use: ``from popgames.fxp import fxp``; ``for record in fxp(game, iterations=30): ...``
(the loop is :mod:`popgames.loops.fxp.loop`, the driver :mod:`popgames.runs.driver`).
"""

import sys

from popgames.loops.fxp.loop import fxp
from popgames.loops.fxp.state import FxpRecord, FxpState

__all__ = ["fxp", "FxpRecord", "FxpState", "main"]


def main(argv: list[str] | None = None) -> int:
    from popgames.runs.driver import main as run
    from popgames.runs.fxp_run import FXP

    return run(FXP, argv)


if __name__ == "__main__":
    from popgames.runs.options import run_main

    sys.exit(run_main(main))
