"""The ``mean_field`` kind: finite mean-field games of one or several populations, exact machinery.

Its games run in the mean-field loops (``python -m popgames.meanfield``) and in PSRO
(``python -m popgames.psro``: mean-field PSRO, Muller et al. 2022, through
:mod:`popgames.kinds.mean_field.oracle`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from popgames.core.errors import GameCardError
from popgames.kinds.mean_field.oracle import check_oracle_options, mean_field_oracle
from popgames.core.protocols import Kind
from popgames.kinds.mean_field.exact import exploitability
from popgames.kinds.mean_field.game import MeanFieldGame, parse_mean_field, policy_of


def mean_field_exploitability(game: MeanFieldGame, policy: Any, concept: str | None
                              ) -> tuple[float, np.ndarray, str]:
    """``max_pi' J(pi', mu^pi) - J(pi, mu^pi)`` of a policy ``[T, X, A]`` (graphon games: of a
    policy ``[M, T, X, A]``, the mean over the agent grid, each agent's value per player entry)."""
    if concept is not None:
        raise GameCardError("<profile>", "concept", f"{concept!r}: a mean-field policy has only "
                            "its exploitability (leave concept unset)")
    result = exploitability(game.rules, policy_of(game, policy))
    return result["exploitability"], result["per_agent"], "mean_field_exploitability"


def mean_field_facts(game: MeanFieldGame) -> dict[str, Any]:
    rules = game.rules
    facts = {"n_states": int(rules.n_states), "n_actions": int(rules.n_actions), "horizon": int(rules.horizon)}
    if rules.agents:
        facts["populations"] = int(rules.agents[0])
    return facts


KIND = Kind(name="mean_field", parse=parse_mean_field, oracles={"exact": mean_field_oracle}, default_oracle="exact",
            check_oracle_options=check_oracle_options, loops=("meanfield", "psro"),
            facts=mean_field_facts, exploitability=mean_field_exploitability)
