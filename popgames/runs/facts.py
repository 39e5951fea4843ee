"""What a run's report needs to know of its game, kept in the run folder.

Reports are rebuilt from a run folder's data alone: ``python -m popgames.report RUN``
on a folder someone sent you must not load the game its ``config.toml`` names, because
loading a Markov card runs that game's ``rules.py``. What only the game can tell -- a
matrix game's action names, the self-play baselines of a Markov game's reference
policies -- is computed by the run's driver, which runs the game anyway, and written to
``RUN/game_facts.json`` when the run starts (or resumes without one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from popgames.core.errors import PopgamesError
from popgames.core.protocols import Game
from popgames.kinds.registry import kind_of
from popgames.runs.files import atomic_write

FACTS_FILE = "game_facts.json"
def game_facts(game: Game) -> dict[str, Any]:
    """The JSON-ready facts of ``game`` that its reports show (its kind says which)."""
    return {"name": game.name, "n_players": int(game.n_players), **kind_of(game).facts(game)}


def write_game_facts(run_dir: str | Path, game: Any) -> None:
    """Write ``RUN/game_facts.json`` (atomically) unless the run folder already has it."""
    path = Path(run_dir) / FACTS_FILE
    if not path.is_file():
        atomic_write(path, json.dumps(game_facts(game), indent=1, sort_keys=True).encode())


def read_game_facts(run_dir: str | Path) -> dict[str, Any]:
    """The facts stored with a run; ``{}`` for a run made before they were stored."""
    path = Path(run_dir) / FACTS_FILE
    if not path.is_file():
        return {}
    try:
        facts = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PopgamesError(f"{path}: unreadable ({exc})") from None
    if not isinstance(facts, dict):
        raise PopgamesError(f"{path}: expected a JSON object, got {type(facts).__name__}")
    # A received folder's file: check the shapes the report relies on.
    actions = facts.get("actions", [])
    if not (isinstance(actions, list) and all(
            isinstance(a, list) and all(isinstance(x, str) for x in a) for a in actions)):
        raise PopgamesError(f"{path}: field 'actions' is not a list of lists of names")
    baselines = facts.get("baselines", {})
    if not (isinstance(baselines, dict) and all(
            isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values())
            for v in baselines.values())):
        raise PopgamesError(f"{path}: field 'baselines' is not a table of numbers per profile")
    return facts
