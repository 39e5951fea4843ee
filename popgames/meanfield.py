"""``python -m popgames.meanfield GAME_DIR --algorithm fp|omd|fixed_point|prior_descent``.

Library use: ``from popgames.meanfield import fictitious_play``; ``for record in
fictitious_play(game, iterations=100): record.exploitability, record.policy`` (the loops
are :mod:`popgames.loops.mean_field`, the driver :mod:`popgames.runs.driver`).
"""

import sys
from functools import partial

from popgames.loops.mean_field.loop import mean_field

fictitious_play = partial(mean_field, algorithm="fp")
mirror_descent = partial(mean_field, algorithm="omd")
fixed_point = partial(mean_field, algorithm="fixed_point")
prior_descent = partial(mean_field, algorithm="prior_descent")
__all__ = ["mean_field", "fictitious_play", "mirror_descent", "fixed_point", "prior_descent", "main"]


def main(argv: list[str] | None = None) -> int:
    from popgames.runs.driver import main as run
    from popgames.runs.meanfield_run import MEAN_FIELD

    return run(MEAN_FIELD, argv)


if __name__ == "__main__":
    from popgames.runs.options import run_main

    sys.exit(run_main(main))
