"""Game kinds by the name a card gives in ``kind``, each imported on first use (as pgx's ``make``).

A kind is one folder ``popgames/kinds/<kind>/`` whose ``kind.py`` holds its
:class:`~popgames.core.protocols.Kind` record, and one line in :data:`KINDS`. Nothing
registers itself on import: :func:`kind` imports the module a card asks for, so a
matrix card never imports OpenSpiel or torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping

from popgames.core.errors import GameCardError, PopgamesError, UnknownNameError
from popgames.core.protocols import Game, Kind, Oracle, OracleSettings
from popgames.kinds.cards import card_path, read_card, require

#: Card ``kind`` -> the module holding its ``KIND`` record.
KINDS: dict[str, str] = {
    "matrix": "popgames.kinds.matrix.kind",
    "team_matrix": "popgames.kinds.team.kind",
    "openspiel": "popgames.kinds.spiel.kind",
    "markov": "popgames.kinds.markov.kind",
    "mean_field": "popgames.kinds.mean_field.kind",
    "graphon": "popgames.kinds.graphon.kind",
    "openspiel_mfg": "popgames.kinds.openspiel_mfg.kind",
}


def kind(name: str) -> Kind:
    """The :class:`Kind` record of the card kind ``name``."""
    if name not in KINDS:
        raise UnknownNameError("game kind", name, list(KINDS))
    return importlib.import_module(KINDS[name]).KIND


def kind_of(game: Game) -> Kind:
    """The :class:`Kind` record of a loaded game."""
    return kind(game.kind)


def load_game(path_or_name: str | Path) -> Game:
    """Read a game card: a game folder, its ``game.toml``, or a built-in game's name.

    Raises
    ------
    GameCardError
        One line naming the file, the field and the cause of any problem.
    """
    path = card_path(path_or_name)
    src = str(path)
    card = read_card(path)
    name = require(card, "kind", str, src)
    if name not in KINDS:
        raise GameCardError(src, "kind", f"unknown kind '{name}' (known: {', '.join(KINDS)})")
    return kind(name).parse(card, src)


def oracle_name(game: Game, name: str | None = None) -> str:
    """The oracle a run uses: ``name`` (``--oracle``), else the card's ``[psro] oracle``, else
    the kind's default; one naming the kind's choices when it has no such oracle."""
    record = kind_of(game)
    chosen = name or game.psro.get("oracle") or record.default_oracle
    if not record.oracles:
        raise PopgamesError(f"{game.name}: {record.name} games have no PSRO oracle")
    if chosen not in record.oracles:
        where = "--oracle" if name else f"{game.source or game.name}: field 'psro.oracle'"
        raise PopgamesError(f"{where}: {record.name} games have no oracle '{chosen}' "
                            f"(choices: {', '.join(record.oracles)})")
    return chosen


def oracle_options(game: Game, flags: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options of ``game``'s oracle: the card's ``[oracle]`` table under ``flags``
    (``--oracle-option``), checked by the kind and a bad one blamed where it was set. A kind
    whose oracles take no options refuses any flag (and has none)."""
    record, flags = kind_of(game), dict(flags or {})
    if record.check_oracle_options is None:
        if flags:
            raise PopgamesError(f"--oracle-option: {game.name} has an exact oracle, which takes no options")
        return {}
    options = {**game.oracle_options, **flags}
    record.check_oracle_options(game, options, {k: "--oracle-option" for k in flags})
    return options


def oracle_for(game: Game, name: str | None = None, settings: OracleSettings | None = None) -> Oracle:
    """The oracle ``name`` (see :func:`oracle_name`) of ``game``'s kind, built with ``settings``.

    A kind whose oracles take no options refuses non-empty ``settings.options``.
    """
    settings = settings or OracleSettings()
    record = kind_of(game)
    chosen = oracle_name(game, name)
    if record.check_oracle_options is None:
        oracle_options(game, settings.options)   # refuses any option
    return record.oracles[chosen](game, settings)
