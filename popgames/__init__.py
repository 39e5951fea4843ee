"""popgames: game-theoretic population learning.

The public surface (see ARCHITECTURE.md)::

    game = popgames.load_game("games/stag_hunt")
    sol = popgames.solvers.solve(game, "rae")
    popgames.exploitability(game, sol.marginals)
"""

from popgames.errors import GameCardError, PopgamesError, SolverError, UnknownNameError
from popgames.matrix_game import MatrixGame
from popgames.game_card import builtin_games, load_game
from popgames.analysis.exploitability import Exploitability, exploitability
from popgames import solvers

__version__ = "0.1.0"


def __getattr__(name: str):
    # The loops load on first use: `python -m popgames.psro` must find them not yet
    # imported, and `import popgames` stays light.
    if name in ("psro", "fxp"):
        import importlib

        return importlib.import_module(f"popgames.{name}")
    raise AttributeError(f"module 'popgames' has no attribute {name!r}")

__all__ = ["load_game", "builtin_games", "exploitability", "Exploitability", "MatrixGame",
           "solvers", "psro", "fxp", "PopgamesError", "GameCardError", "SolverError", "UnknownNameError"]
