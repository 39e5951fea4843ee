"""``python -m popgames.solve GAME``: solve a game's normal form with every meta-solver concept.

See :mod:`popgames.runs.solve` for the output and the exit status.
"""

import sys

from popgames.runs.solve import main

__all__ = ["main"]

if __name__ == "__main__":
    from popgames.runs.options import run_main

    sys.exit(run_main(main))
