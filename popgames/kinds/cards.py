"""Game cards: ``games/<name>/game.toml``, read with tomllib, and the tables every kind shares.

A card names its ``kind``; :mod:`popgames.kinds.registry` hands the card to that kind's
parser, which reads its own fields with the helpers here and the shared tables
(``[solvers.<name>]``, ``[psro]``, ``[fxp]``, ``[oracle]``) with their schemas. Every
problem with a card is reported as one :class:`~popgames.core.errors.GameCardError`
line naming the file, the field and the cause.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from popgames.core.errors import GameCardError, PopgamesError

CARD_FILE = "game.toml"

#: Known keys of a card's ``[psro]`` table and their types.
PSRO_KEYS: dict[str, type | tuple[type, ...]] = {
    "meta_solver": str, "iterations": int, "seed": int, "oracle": str,
    "initial": (str, list),  # markov games: reference policies that seed each population
    "tie_break": str,  # exact oracles: "tremble" or "lowest"
}
#: Options of the FXP loop itself (any other ``--option`` goes to its learner).
FXP_LOOP_OPTIONS = ("cross_play", "cross_weights", "self_play", "symmetric")
#: Known keys of a card's ``[fxp]`` table and their types (loop options' values: see the loop).
FXP_KEYS: dict[str, type | tuple[type, ...]] = {
    "iterations": int, "seed": int, "learner": str, "meta_solver": str, "learner_options": dict,
    **{k: (bool, int, float, str) for k in FXP_LOOP_OPTIONS}}


def require(card: dict, key: str, kind: type | tuple[type, ...], src: str, prefix: str = "") -> Any:
    if key not in card:
        raise GameCardError(src, prefix + key, "missing")
    return typed(card[key], kind, src, prefix + key)


def typed(value: Any, kind: type | tuple[type, ...], src: str, field: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # TOML's true/false are Python bools, which are ints: not numbers unless bool is asked for.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise GameCardError(src, field, f"expected {want}, got {type(value).__name__} {value!r}")
    return value


def string_list(value: Any, src: str, field: str) -> tuple[str, ...]:
    typed(value, list, src, field)
    for i, v in enumerate(value):
        typed(v, str, src, f"{field}[{i}]")
    if len(set(value)) != len(value):
        raise GameCardError(src, field, f"duplicate names in {value}")
    return tuple(value)


def card_name(card: dict, src: str) -> str:
    """The card's ``name``, by default its folder's."""
    return typed(card.get("name", Path(src).parent.name), str, src, "name")


def solver_tables(card: dict, src: str) -> dict[str, dict[str, Any]]:
    from popgames.solvers import registry  # the registry imports game-independent code only

    tables = typed(card.get("solvers", {}), dict, src, "solvers")
    for name, options in tables.items():
        typed(options, dict, src, f"solvers.{name}")
        try:
            registry.check_options(name, options, src)
        except PopgamesError as exc:
            if isinstance(exc, GameCardError):
                raise
            raise GameCardError(src, f"solvers.{name}", str(exc)) from None
    return tables


def checked_table(table: Mapping[str, Any], keys: Mapping[str, type | tuple[type, ...]], src: str,
                  name: str) -> None:
    """Every key of the card's ``[name]`` table known, every value of its type, and
    ``iterations`` (if there) at least 1; else one card error naming the field."""
    for key, value in table.items():
        if key not in keys:
            raise GameCardError(src, f"{name}.{key}", f"unknown key (known: {', '.join(keys)})")
        typed(value, keys[key], src, f"{name}.{key}")
    if table.get("iterations", 1) < 1:
        raise GameCardError(src, f"{name}.iterations", "must be at least 1")


def psro_table(card: dict, src: str) -> dict[str, Any]:
    from popgames.solvers import registry

    table = typed(card.get("psro", {}), dict, src, "psro")
    checked_table(table, PSRO_KEYS, src, "psro")
    if isinstance(table.get("initial"), list) and not string_list(table["initial"], src, "psro.initial"):
        raise GameCardError(src, "psro.initial", "names no policy")
    if "meta_solver" in table and table["meta_solver"] not in registry.names():
        raise GameCardError(src, "psro.meta_solver", f"unknown meta-solver "
                            f"'{table['meta_solver']}' (known: {', '.join(registry.names())})")
    return table


def description(card: dict, src: str) -> str:
    """The card's one-sentence ``description`` (empty by default)."""
    return typed(card.get("description", ""), str, src, "description")


def fxp_table(card: dict, src: str) -> dict[str, Any]:
    """The card's ``[fxp]`` table of FXP loop defaults, keys and types checked."""
    table = typed(card.get("fxp", {}), dict, src, "fxp")
    check_fxp_table(table, src)
    return table


def check_fxp_table(table: Mapping[str, Any], src: str) -> None:
    """Raise :class:`~popgames.core.errors.GameCardError` for a bad key or type in ``[fxp]``."""
    checked_table(table, FXP_KEYS, src, "fxp")


#: Known keys of a mean-field or graphon card's ``[meanfield]`` table (algorithm defaults).
MEANFIELD_KEYS: dict[str, type | tuple[type, ...]] = {"algorithm": str, "iterations": int, "seed": int,
                                                       "options": dict, "n_agents": list,
                                                       "social_optimum": bool}


def meanfield_table(card: dict, src: str) -> dict[str, Any]:
    """A mean-field card's ``[meanfield]`` table, keys and types checked."""
    table = typed(card.get("meanfield", {}), dict, src, "meanfield")
    checked_table(table, MEANFIELD_KEYS, src, "meanfield")
    for i, n in enumerate(table.get("n_agents", [])):
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise GameCardError(src, f"meanfield.n_agents[{i}]", f"expected an int >= 2, got {n!r}")
    return table


def oracle_table(card: dict, src: str) -> dict[str, Any]:
    """The card's ``[oracle]`` table (its keys are checked by the kind's oracle)."""
    return typed(card.get("oracle", {}), dict, src, "oracle")


def shared_tables(card: dict, src: str) -> dict[str, Any]:
    """Keyword arguments every game type takes: name, description and the shared tables."""
    return {"name": card_name(card, src), "description": description(card, src),
            "solver_options": solver_tables(card, src), "psro": psro_table(card, src),
            "fxp": fxp_table(card, src), "oracle_options": oracle_table(card, src), "source": src}


@dataclass(kw_only=True)
class RulesCard:
    """What every game read from a card with a ``rules.py`` holds besides its own fields: the
    card's text and shared tables (the :class:`~popgames.core.protocols.Game` protocol's)."""

    name: str
    params: dict[str, Any]
    module: ModuleType
    description: str = ""
    solver_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    psro: dict[str, Any] = field(default_factory=dict)
    fxp: dict[str, Any] = field(default_factory=dict)
    oracle_options: dict[str, Any] = field(default_factory=dict)
    source: str = ""


# -- cards whose rules are a Python file beside them (markov, mean_field) ------------------
def checked_params(module: ModuleType, given: Mapping[str, Any], src: str) -> dict[str, Any]:
    """The card's ``[params]`` over the module's defaults, with names and types checked."""
    params = dict(module.PARAMS)
    for key, value in given.items():
        if key not in params:
            raise GameCardError(src, f"params.{key}", f"unknown parameter (known: {', '.join(params)})")
        default = params[key]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              if isinstance(default, float) else type(value) is type(default))
        if isinstance(default, list) and default:
            item = type(default[0])
            ok = isinstance(value, list) and len(value) > 0 and all(
                isinstance(v, item) or (item is float and isinstance(v, int)) for v in value) and not any(
                isinstance(v, bool) for v in value)
        if not ok:
            raise GameCardError(src, f"params.{key}", f"expected {type(default).__name__}, "
                                f"got {type(value).__name__} {value!r}")
        if isinstance(default, float) and not math.isfinite(value):
            raise GameCardError(src, f"params.{key}", f"must be finite, got {value!r}")
        params[key] = float(value) if isinstance(default, float) else value
    return params


def rules_path(card: dict, src: str) -> Path:
    """The card's ``rules`` file, resolved; it must be a ``.py`` file inside the card's folder
    (symlinks resolved), so that a card cannot run any Python file on disk."""
    given = typed(card.get("rules", "rules.py"), str, src, "rules")
    folder = Path(src).parent.resolve()
    path = (folder / given).resolve()
    if Path(given).is_absolute():
        raise GameCardError(src, "rules", f"{given!r} is an absolute path; name a file in the card's folder")
    if not path.is_relative_to(folder):
        raise GameCardError(src, "rules", f"{given!r} lies outside the card's folder ({path})")
    if path.suffix != ".py":
        raise GameCardError(src, "rules", f"{given!r} is not a .py file")
    return path


def builtin_games() -> list[str]:
    """Names of the games shipped in ``popgames.games``."""
    root = resources.files("popgames.games")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / CARD_FILE).is_file())


def card_path(path_or_name: str | Path) -> Path:
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


def read_card(path: Path) -> dict[str, Any]:
    """The card at ``path`` as a dict; unreadable files and bad TOML are one-line errors."""
    src = str(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise GameCardError(src, "<toml>", f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise GameCardError(src, "<file>", f"cannot be read ({exc.strerror})") from None
