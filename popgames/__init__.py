"""popgames: game-theoretic population learning.

The public surface (see ARCHITECTURE.md)::

    game = popgames.load_game("games/stag_hunt")
    sol = popgames.solvers.solve(game, "rae")
    popgames.exploitability(game, sol.marginals)
    from popgames.psro import psro          # the loops: popgames.psro, popgames.fxp

Importing popgames loads neither torch, OpenSpiel, cvxpy nor matplotlib: each is
imported by the game kind, solver or report that needs it, on first use.
"""

from popgames import solvers
from popgames.analysis.exploitability import Exploitability, exploitability
from popgames.core.errors import GameCardError, PopgamesError, SolverError, UnknownNameError
from popgames.core.version import __version__
from popgames.kinds.cards import builtin_games
from popgames.kinds.matrix.game import MatrixGame
from popgames.kinds.registry import load_game

__all__ = ["load_game", "builtin_games", "exploitability", "Exploitability", "MatrixGame",
           "solvers", "PopgamesError", "GameCardError", "SolverError", "UnknownNameError",
           "__version__"]
