"""Learning-dynamics meta-solvers: projected replicator dynamics, regret matching, uniform.

(being written)
"""

from __future__ import annotations

import numpy as np

from popgames.solvers.registry import Candidate, register


def uniform(payoffs: np.ndarray) -> Candidate:
    """Every player mixes uniformly over its actions (PSRO's fictitious-play meta-solver)."""
    return Candidate(marginals=[np.full(a, 1.0 / a) for a in payoffs.shape[1:]])


register("uniform", "uniform", uniform, concept="nash", exact=False,
         summary="uniform mixture over each player's population")
