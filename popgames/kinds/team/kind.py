"""The ``team_matrix`` kind: two teams of binary agents (FXP's team game), a matrix game
over joint team actions with the team structure on top."""

from __future__ import annotations

from popgames.core.protocols import Kind
from popgames.kinds.matrix.kind import matrix_exploitability, matrix_facts
from popgames.kinds.matrix.oracle import matrix_oracle
from popgames.kinds.team.game import parse_team_matrix

# PSRO's exact oracle treats the team game as the matrix game it is (team best responses).
KIND = Kind(name="team_matrix", parse=parse_team_matrix, oracles={"exact": matrix_oracle},
            default_oracle="exact", default_learner="team_pg", facts=matrix_facts,
            exploitability=matrix_exploitability)
