"""Game cards: ``games/<name>/game.toml`` read with tomllib into typed games.

A card names its ``kind``; each kind has a parser registered in ``CARD_KINDS``.
Every problem with a card is reported as one :class:`~popgames.errors.GameCardError`
line naming the file, the field and the cause.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from popgames.errors import GameCardError, PopgamesError
from popgames.matrix_game import MatrixGame

CARD_FILE = "game.toml"

#: Known keys of a card's ``[psro]`` table and their types.
PSRO_KEYS: dict[str, type | tuple[type, ...]] = {
    "meta_solver": str, "iterations": int, "seed": int, "oracle": str,
    "initial": (str, list),  # markov games: reference policies that seed each population
    "tie_break": str,  # exact oracles: "tremble" or "lowest"
}


def _require(card: dict, key: str, kind: type | tuple[type, ...], src: str, prefix: str = "") -> Any:
    if key not in card:
        raise GameCardError(src, prefix + key, "missing")
    return _typed(card[key], kind, src, prefix + key)


def _typed(value: Any, kind: type | tuple[type, ...], src: str, field: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # TOML's true/false are Python bools, which are ints: not numbers unless bool is asked for.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise GameCardError(src, field, f"expected {want}, got {type(value).__name__} {value!r}")
    return value


def _string_list(value: Any, src: str, field: str) -> tuple[str, ...]:
    _typed(value, list, src, field)
    for i, v in enumerate(value):
        _typed(v, str, src, f"{field}[{i}]")
    if len(set(value)) != len(value):
        raise GameCardError(src, field, f"duplicate names in {value}")
    return tuple(value)


def _name(card: dict, src: str) -> str:
    """The card's ``name``, by default its folder's."""
    return _typed(card.get("name", Path(src).parent.name), str, src, "name")


def _solver_tables(card: dict, src: str) -> dict[str, dict[str, Any]]:
    from popgames.solvers import registry  # the registry imports game-independent code only

    tables = _typed(card.get("solvers", {}), dict, src, "solvers")
    for name, options in tables.items():
        _typed(options, dict, src, f"solvers.{name}")
        try:
            registry.check_options(name, options, src)
        except PopgamesError as exc:
            if isinstance(exc, GameCardError):
                raise
            raise GameCardError(src, f"solvers.{name}", str(exc)) from None
    return tables


def _psro_table(card: dict, src: str) -> dict[str, Any]:
    from popgames.solvers import registry

    table = _typed(card.get("psro", {}), dict, src, "psro")
    for key, value in table.items():
        if key not in PSRO_KEYS:
            raise GameCardError(src, f"psro.{key}", f"unknown key (known: {', '.join(PSRO_KEYS)})")
        _typed(value, PSRO_KEYS[key], src, f"psro.{key}")
    if isinstance(table.get("initial"), list) and not _string_list(table["initial"], src, "psro.initial"):
        raise GameCardError(src, "psro.initial", "names no policy")
    if "meta_solver" in table and table["meta_solver"] not in registry.names():
        raise GameCardError(src, "psro.meta_solver", f"unknown meta-solver "
                            f"'{table['meta_solver']}' (known: {', '.join(registry.names())})")
    if table.get("iterations", 1) < 1:
        raise GameCardError(src, "psro.iterations", "must be at least 1")
    return table


def _check_numbers(value: Any, src: str, field: str) -> None:
    """Every entry of nested lists is an int or a float; numpy would read ``"2"`` and ``true``
    as numbers."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_numbers(v, src, f"{field}[{i}]")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GameCardError(src, field, f"expected a number, got {type(value).__name__} {value!r}")


def _payoff_array(value: Any, shape: tuple[int, ...], src: str, field: str) -> np.ndarray:
    _check_numbers(value, src, field)
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GameCardError(src, field, "not a rectangular array of numbers") from None
    if arr.shape != shape:
        raise GameCardError(src, field, f"expected shape {shape} (from 'actions'), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise GameCardError(src, field, "contains NaN or infinite entries")
    return arr


def parse_matrix(card: dict, src: str) -> MatrixGame:
    """Build a :class:`MatrixGame` from a ``kind = "matrix"`` card.

    Payoffs are given per player under ``[payoffs]``, keyed by player name, as
    nested lists of shape ``(A_1, ..., A_n)``.
    """
    players = _string_list(_require(card, "players", list, src), src, "players")
    actions_raw = _require(card, "actions", list, src)
    if len(actions_raw) != len(players):
        raise GameCardError(src, "actions", f"{len(actions_raw)} action lists for {len(players)} players")
    actions = tuple(_string_list(a, src, f"actions[{i}]") for i, a in enumerate(actions_raw))
    if any(len(a) == 0 for a in actions):
        raise GameCardError(src, "actions", "every player needs at least one action")
    shape = tuple(len(a) for a in actions)
    table = _require(card, "payoffs", dict, src)
    for key in table:
        if key not in players:
            raise GameCardError(src, f"payoffs.{key}", f"not a player (players: {', '.join(players)})")
    payoffs = np.stack([_payoff_array(_require(table, p, list, src, "payoffs."), shape,
                                      src, f"payoffs.{p}") for p in players])
    return MatrixGame(payoffs, name=_name(card, src),
                      players=players, actions=actions,
                      description=_typed(card.get("description", ""), str, src, "description"),
                      solver_options=_solver_tables(card, src), psro=_psro_table(card, src),
                      source=src)


def parse_openspiel(card: dict, src: str) -> Any:
    """Build a :class:`~popgames.spiel_game.SpielGame` from a ``kind = "openspiel"`` card.

    ``game`` is OpenSpiel's short name; ``[params]`` its parameters. The game tree is
    flattened (and checked for perfect recall) when the card is read, so a game the
    exact oracle cannot handle is reported here rather than mid-run.
    """
    import pyspiel

    from popgames.spiel_game import SpielGame

    spiel_name = _require(card, "game", str, src)
    params = _typed(card.get("params", {}), dict, src, "params")
    if spiel_name not in pyspiel.registered_names():
        raise GameCardError(src, "game", f"OpenSpiel has no game '{spiel_name}'")
    known = pyspiel.load_game(spiel_name).get_parameters()
    for key, value in params.items():
        if key not in known:
            raise GameCardError(src, f"params.{key}", f"'{spiel_name}' has no such parameter "
                                f"(known: {', '.join(sorted(known))})")
        _typed(value, (bool, int, float, str), src, f"params.{key}")
    try:
        game = SpielGame(spiel_name, params, name=_name(card, src),
                         description=_typed(card.get("description", ""), str, src, "description"),
                         solver_options=_solver_tables(card, src), psro=_psro_table(card, src),
                         source=src)
    except pyspiel.SpielError as exc:
        raise GameCardError(src, "params", f"OpenSpiel rejected the game ({exc})") from None
    try:
        game.tree
    except GameCardError as exc:
        raise GameCardError(src, "game", exc.cause) from None
    return game


def _rules_path(card: dict, src: str) -> Path:
    """The card's ``rules`` file, resolved; it must be a ``.py`` file inside the card's folder
    (symlinks resolved), so that a card cannot run any Python file on disk."""
    given = _typed(card.get("rules", "rules.py"), str, src, "rules")
    folder = Path(src).parent.resolve()
    path = (folder / given).resolve()
    if Path(given).is_absolute():
        raise GameCardError(src, "rules", f"{given!r} is an absolute path; name a file in the card's folder")
    if not path.is_relative_to(folder):
        raise GameCardError(src, "rules", f"{given!r} lies outside the card's folder ({path})")
    if path.suffix != ".py":
        raise GameCardError(src, "rules", f"{given!r} is not a .py file")
    return path


def parse_markov(card: dict, src: str) -> Any:
    """Build a :class:`~popgames.markov_game.MarkovGame` from a ``kind = "markov"`` card.

    ``rules`` names the Python file in the card's folder that holds the rules (default
    ``rules.py``); ``[params]`` overrides its ``PARAMS``; ``[oracle]`` holds options of
    the learned best-response oracle (checked when the oracle is built). The rules are
    built on the CPU here and checked on one short episode
    (:func:`~popgames.markov_rules_check.check_rules`); ``MarkovGame.on_device`` moves them.
    """
    from popgames.markov_game import MarkovGame, checked_params
    from popgames.markov_rules_check import (build_rules, check_rules, forget_rules_module,
                                             load_rules_module)

    path = _rules_path(card, src)
    module = load_rules_module(path, src)
    try:
        params = checked_params(module, _typed(card.get("params", {}), dict, src, "params"), src)
        rules = build_rules(module, params, path, src)
        check_rules(module, rules, params, path)
    except GameCardError:
        forget_rules_module(module)  # an edited file is read afresh on the next load
        raise
    return MarkovGame(_name(card, src), rules, params, module,
                      description=_typed(card.get("description", ""), str, src, "description"),
                      solver_options=_solver_tables(card, src), psro=_psro_table(card, src),
                      oracle_options=_typed(card.get("oracle", {}), dict, src, "oracle"), source=src)


#: Card kinds -> parser(card dict, source path) -> game.
CARD_KINDS: dict[str, Callable[[dict, str], Any]] = {"matrix": parse_matrix,
                                                     "openspiel": parse_openspiel,
                                                     "markov": parse_markov,
                                                     # FXP's team game (lazy: popgames.team_game)
                                                     "team_matrix": lambda card, src: __import__(
                                                         "popgames.team_game", fromlist=["_"]
                                                     ).parse_team_matrix(card, src)}


def builtin_games() -> list[str]:
    """Names of the games shipped in ``popgames.games``."""
    root = resources.files("popgames.games")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / CARD_FILE).is_file())


def _card_path(path_or_name: str | Path) -> Path:
    path = Path(path_or_name)
    if path.is_dir():
        path = path / CARD_FILE
    if path.is_file():
        return path
    # Fall back to a shipped game: "stag_hunt" or "games/stag_hunt" outside a checkout.
    name = path.parent.name if path.name == CARD_FILE else path.name
    if len(Path(path_or_name).parts) <= 2 and name in builtin_games():
        return Path(str(resources.files("popgames.games") / name / CARD_FILE))
    raise GameCardError(str(path_or_name), "path", "no game folder with a game.toml there, "
                        f"and no built-in game of that name (built-ins: {', '.join(builtin_games())})")


def load_game(path_or_name: str | Path) -> Any:
    """Read a game card: a game folder, its ``game.toml``, or a built-in game's name.

    Raises
    ------
    GameCardError
        One line naming the file, the field and the cause of any problem.
    """
    path = _card_path(path_or_name)
    src = str(path)
    try:
        with open(path, "rb") as fh:
            card = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise GameCardError(src, "<toml>", f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise GameCardError(src, "<file>", f"cannot be read ({exc.strerror})") from None
    kind = _require(card, "kind", str, src)
    if kind not in CARD_KINDS:
        raise GameCardError(src, "kind", f"unknown kind '{kind}' (known: {', '.join(CARD_KINDS)})")
    return CARD_KINDS[kind](card, src)
