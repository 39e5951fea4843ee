"""The ``graphon`` kind: graphon mean-field games, solved by the mean-field machinery on the agent grid."""

from __future__ import annotations

from typing import Any

from popgames.core.protocols import Kind
from popgames.kinds.graphon.game import GraphonGame, parse_graphon
from popgames.kinds.mean_field.kind import mean_field_exploitability


def graphon_facts(game: GraphonGame) -> dict[str, Any]:
    rules = game.rules
    return {"n_states": int(rules.n_states), "n_actions": int(rules.n_actions),
            "horizon": int(rules.horizon), "agents": int(rules.agents[0]),
            "graphon": str(game.graphon.get("type"))}


KIND = Kind(name="graphon", parse=parse_graphon, oracles={}, default_oracle=None, loops=("meanfield",),
            facts=graphon_facts, exploitability=mean_field_exploitability)
