"""The ``matrix`` kind: normal-form games given by their payoff tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from popgames.core.protocols import Kind
from popgames.core.regrets import profile_gaps
from popgames.kinds.matrix.game import MatrixGame, parse_matrix
from popgames.kinds.matrix.oracle import matrix_oracle


def matrix_facts(game: MatrixGame) -> dict[str, Any]:
    """Action names, which the reports show beside meta-strategy weights."""
    return {"actions": [list(a) for a in game.actions]}


def matrix_exploitability(game: MatrixGame, profile: Any, concept: str | None
                          ) -> tuple[float, np.ndarray, str]:
    return profile_gaps(game.payoffs, profile, concept)


KIND = Kind(name="matrix", parse=parse_matrix, oracles={"exact": matrix_oracle}, default_oracle="exact",
            default_learner="exact", facts=matrix_facts, exploitability=matrix_exploitability)
