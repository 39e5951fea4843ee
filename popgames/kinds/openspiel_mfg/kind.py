"""The ``openspiel_mfg`` kind: an OpenSpiel mean-field game by name, tabulated once.

OpenSpiel is imported when a card of this kind is read.
"""

from __future__ import annotations

from typing import Any

from popgames.kinds.mean_field.oracle import check_oracle_options, mean_field_oracle
from popgames.core.protocols import Game, Kind
from popgames.kinds.mean_field.kind import mean_field_exploitability, mean_field_facts


def _parse(card: dict, src: str) -> Game:
    from popgames.kinds.openspiel_mfg.game import parse_openspiel_mfg

    return parse_openspiel_mfg(card, src)


def openspiel_mfg_facts(game: Any) -> dict[str, Any]:
    return {**mean_field_facts(game), "openspiel_game": str(game.rules.game)}


KIND = Kind(name="openspiel_mfg", parse=_parse, oracles={"exact": mean_field_oracle}, default_oracle="exact",
            check_oracle_options=check_oracle_options, loops=("meanfield", "psro"),
            facts=openspiel_mfg_facts, exploitability=mean_field_exploitability)
