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

from popgames.errors import PopgamesError
from popgames.matrix_game import MatrixGame
from popgames.run_folder import atomic_write

FACTS_FILE = "game_facts.json"
#: Episodes simulated per reference self-play baseline.
BASELINE_EPISODES = 4096
#: Reference self-play profiles shown beside a Markov run's metrics (seat 0, other seats).
BASELINES = (("greedy", "greedy"), ("welfare", "welfare"))


def reference_baselines(game: Any) -> dict[str, dict[str, float]]:
    """Episode metrics of reference self-play (e.g. greedy vs greedy) in a Markov game.

    Runs the game's rules: call it on a game you chose to load, never from a report.
    """
    import torch

    from popgames.markov_eval import profile_returns
    from popgames.ppo_oracle import torch_threads

    refs = game.reference_policies()
    out = {}
    with torch_threads(1):
        for a, b in BASELINES:
            if a in refs and b in refs:
                seats = [refs[a]] + [refs[b]] * (game.n_players - 1)
                returns, final = profile_returns(game.rules, seats, BASELINE_EPISODES,
                                                 torch.Generator().manual_seed(0))
                metrics = {k: float(v.double().mean()) for k, v in game.episode_metrics(final).items()}
                metrics["return"] = float(returns.mean())
                out[f"{a} vs {b}"] = metrics
    return out


def game_facts(game: Any) -> dict[str, Any]:
    """The JSON-ready facts of ``game`` that its reports show."""
    facts: dict[str, Any] = {"name": game.name, "n_players": int(game.n_players)}
    if isinstance(game, MatrixGame):
        facts["actions"] = [list(a) for a in game.actions]
    if type(game).__name__ == "MarkovGame":   # the one kind whose reports show baselines
        facts["baselines"] = reference_baselines(game)
    return facts


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
