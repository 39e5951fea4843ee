"""Shared helpers for the markov game tests: load a shipped game, write a card, play policies."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

import popgames
from popgames.kinds.markov.game import sample_actions

REPO = Path(__file__).resolve().parents[2]


def load(name: str):
    """A shipped markov game, from its folder."""
    return popgames.load_game(REPO / "games" / name)


def card(tmp_path: Path, name: str, **params):
    """A shipped game's rules under a fresh card in ``tmp_path`` with these ``[params]``."""
    lines = ['kind = "markov"', f'name = "{name}"', 'rules = "rules.py"', "[params]"]
    for key, value in params.items():
        text = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else repr(value)
        lines.append(f"{key} = {text}")
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    # A card's rules file must lie in its folder: a copy of the shipped one, with the
    # sibling modules it imports.
    for source in (REPO / "games" / name).glob("*.py"):
        shutil.copyfile(source, folder / source.name)
    (folder / "game.toml").write_text("\n".join(lines) + "\n")
    return popgames.load_game(folder)


def play(game, policies: list, batch: int, seed: int) -> dict:
    """One episode with seat i played by ``policies[i]``: the final state and per-step records
    (``obs`` and ``legal`` hold horizon + 1 entries, the others horizon)."""
    rules = game.rules
    gen = torch.Generator(device=rules.device).manual_seed(seed)
    env = game.env(batch, gen)
    obs, legal = env.reset()
    record = {"obs": [obs], "legal": [legal], "actions": [], "rewards": [], "done": []}
    for _ in range(rules.horizon):
        actions = torch.stack([sample_actions(p.probs(obs[:, i], legal[:, i]), gen)
                               for i, p in enumerate(policies)], 1)
        record["actions"].append(actions)
        obs, legal, rewards, done = env.step(actions)
        for key, value in (("obs", obs), ("legal", legal), ("rewards", rewards), ("done", done)):
            record[key].append(value)
    record["state"] = env.state
    return record
