"""The ``openspiel`` kind: any OpenSpiel game by name, solved on its flattened tree.

OpenSpiel is imported when a card of this kind is read, not before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from popgames.core.errors import GameCardError
from popgames.core.protocols import Game, Kind, Oracle, OracleSettings


def _parse(card: dict, src: str) -> Game:
    from popgames.kinds.spiel.game import parse_openspiel

    return parse_openspiel(card, src)


def _exact(game: Game, settings: OracleSettings) -> Oracle:
    from popgames.kinds.spiel.oracle import spiel_oracle

    return spiel_oracle(game, settings)


def spiel_exploitability(game: Any, policy: Any, concept: str | None) -> tuple[float, np.ndarray, str]:
    """Exact NashConv of a policy (see :func:`popgames.kinds.spiel.exploitability.nash_conv`)."""
    if concept is not None:
        raise GameCardError("<profile>", "concept", f"{concept!r}: an OpenSpiel policy has "
                            "only NashConv (leave concept unset)")
    from popgames.kinds.spiel.exploitability import nash_conv

    total, gains = nash_conv(game, policy)
    return total, gains, "nash_conv"


KIND = Kind(name="openspiel", parse=_parse, oracles={"exact": _exact}, default_oracle="exact",
            default_learner="exact", exploitability=spiel_exploitability)
