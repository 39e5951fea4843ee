"""The ``markov`` kind: batched Markov games whose rules are a ``rules.py`` beside the card.

Torch is imported when a card of this kind is read, not before.
"""

from __future__ import annotations

from typing import Any, Mapping

from popgames.core.protocols import Game, Kind, Oracle, OracleSettings


def _parse(card: dict, src: str) -> Game:
    from popgames.kinds.markov.game import parse_markov

    return parse_markov(card, src)


def _ppo(game: Game, settings: OracleSettings) -> Oracle:
    from popgames.kinds.markov.oracle import markov_oracle

    return markov_oracle(game, settings)


def _exact(game: Game, settings: OracleSettings) -> Oracle:
    from popgames.kinds.markov.exact_oracle import exact_markov_oracle

    return exact_markov_oracle(game, settings)


def check_ppo_options(game: Game, options: Mapping[str, Any], blame: Mapping[str, str]) -> None:
    """Raise for a bad ``[oracle]`` / ``--oracle-option`` key or value, naming where it was set."""
    from popgames.kinds.markov.ppo import PpoConfig

    PpoConfig.from_options(options, str(game.source or game.name), blame)


def markov_facts(game: Game) -> dict[str, Any]:
    """Self-play baselines of the reference policies, shown beside the run's metrics."""
    from popgames.kinds.markov.evaluation import reference_baselines

    return {"baselines": reference_baselines(game)}


KIND = Kind(name="markov", parse=_parse, oracles={"ppo": _ppo, "exact": _exact}, default_oracle="ppo",
            check_oracle_options=check_ppo_options, default_learner="ppo", facts=markov_facts,
            torch_device=True)
