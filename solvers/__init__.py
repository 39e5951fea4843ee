"""Meta-game solvers behind one registry: ``solve(game, name, **options) -> Solution``.

Importing this package registers every solver family; ``names()`` lists them.
"""

from popgames.solvers.registry import Candidate, Solution, entry, names, register, solve
from popgames.solvers import (alpha_rank, correlated, dynamics, lemke_howson,  # noqa: F401
                              nash, nash_milp, risk_averse, zero_sum_lp)

__all__ = ["solve", "names", "entry", "register", "Solution", "Candidate"]
