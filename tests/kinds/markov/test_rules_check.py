"""A broken ``rules.py`` is refused when its card loads, as one line naming the file, the
function and the problem; a card's ``rules`` path cannot leave the card's folder.

Each case edits one line of a small valid rules module (``TOY``) written to ``tmp_path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import popgames
from popgames.core.errors import GameCardError
from popgames.kinds.markov.game import MarkovGame

CARD = 'kind = "markov"\nname = "toy"\nrules = "rules.py"\n'

# Two players, three actions (the last illegal for player 1), a 4-float observation,
# ``horizon`` steps; rewards are the actions taken. Lines are edited by the cases below.
TOY = '''
import torch
from popgames.kinds.markov.policies import ScriptedPolicy, UniformPolicy

PARAMS = {"horizon": 3}


class Toy:
    n_players, n_actions = 2, 3
    obs_dim = 4

    def __init__(self, params, device):
        self.horizon = int(params["horizon"])
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        self.device = torch.device(device)

    def reset(self, batch, generator):
        return {"t": torch.zeros(batch, dtype=torch.long, device=self.device)}

    def observe(self, state):
        batch = state["t"].shape[0]
        obs = torch.zeros(batch, 2, 4, device=self.device)
        return obs

    def legal(self, state):
        mask = torch.ones(state["t"].shape[0], 2, 3, dtype=torch.bool, device=self.device)
        mask[:, 1, 2] = False
        return mask

    def step(self, state, actions, generator):
        t = state["t"] + 1
        rewards = actions.to(torch.float32)
        done = t >= self.horizon
        return {"t": t}, rewards, done


def make(params, device):
    return Toy(params, device)


def first_legal(obs, legal):
    return torch.zeros(obs.shape[0], dtype=torch.long)


def reference_policies(rules):
    return {"uniform": UniformPolicy(), "first": ScriptedPolicy("first", first_legal)}


def episode_metrics(rules, state):
    return {"length": state["t"].to(torch.float32)}
'''


def write(tmp_path: Path, old: str = "", new: str = "", card: str = CARD) -> Path:
    """A game folder holding ``card`` and TOY with ``old`` replaced by ``new``."""
    folder = tmp_path / "toy"
    folder.mkdir(exist_ok=True)
    assert old in TOY
    (folder / "rules.py").write_text(TOY.replace(old, new, 1) if old else TOY)
    (folder / "game.toml").write_text(card)
    return folder


def line_of(text: str, source: str = TOY) -> int:
    """1-based line of ``text`` in ``source``."""
    return source[:source.index(text)].count("\n") + 1


def refused(folder: Path) -> str:
    """The one-line message of the card error that loading ``folder`` raises."""
    with pytest.raises(GameCardError) as err:
        popgames.load_game(folder)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def test_the_toy_rules_load(tmp_path):
    game = popgames.load_game(write(tmp_path))
    assert isinstance(game, MarkovGame) and game.rules.horizon == 3


# (old, new, field, fragments of the cause); the message must name the rules file too.
BROKEN = [
    ("import torch\n", "import torch\nraise RuntimeError('boom at import')\n", "rules",
     ["RuntimeError: boom at import", f"line {line_of('import torch') + 1}"]),
    ("def make(params, device):", "def make(params, device)", "rules",
     ["syntax error", f"line {line_of('def make(')}"]),
    ("import torch\n", "import torch\nimport no_such_module_xyz\n", "rules",
     ["ModuleNotFoundError", "no_such_module_xyz", f"line {line_of('import torch') + 1}"]),
    ("def reference_policies(rules):", "def reference_policy(rules):", "rules",
     ["defines no 'reference_policies'"]),
    ("    return Toy(params, device)", "    return Toy(params, device) + 1", "rules.make",
     ["TypeError", f"line {line_of('return Toy(')}"]),
    ("        self.horizon = int(params[\"horizon\"])", "        self.horizon = int(params[\"horizon\"])\n"
     "        raise ValueError('not about any parameter')", "rules.make",
     ["ValueError: not about any parameter"]),
    ("    obs_dim = 4\n", "", "rules.make", ["has no attribute 'obs_dim'"]),
    ("        self.horizon = int(params[\"horizon\"])", "        self.horizon = 2.5", "rules.make",
     ["horizon", "2.5"]),
    ("        return {\"t\": torch.zeros(batch, dtype=torch.long, device=self.device)}",
     "        return [torch.zeros(batch)]", "rules.reset", ["returned list, expected a dict"]),
    ("obs = torch.zeros(batch, 2, 4, device=self.device)",
     "obs = torch.zeros(batch, 2, 5, device=self.device)",
     "rules.observe", ["observation of shape (5, 2, 5), expected (5, 2, 4)"]),
    ("obs = torch.zeros(batch, 2, 4, device=self.device)",
     "obs = torch.zeros(batch, 2, 4, device=self.device, dtype=torch.float64)",
     "rules.observe", ["dtype torch.float64, expected torch.float32"]),
    ("        return obs", "        return obs / (state['t'][:, None, None] - 1)",
     "rules.observe", ["observation contains NaN at step 1"]),
    ("torch.ones(state[\"t\"].shape[0], 2, 3,", "torch.ones(state[\"t\"].shape[0], 3, 3,", "rules.legal",
     ["mask of shape (5, 3, 3), expected (5, 2, 3)"]),
    ("mask[:, 1, 2] = False", "mask[:, 1, :] = False", "rules.legal",
     ["leaves player 1 with no legal action in 5 of 5 games at step 0"]),
    ("mask[:, 1, 2] = False", "mask[:, 1, :] = state['t'][:, None] != 2", "rules.legal",
     ["leaves player 1 with no legal action in 5 of 5 games at step 2"]),
    ("        return mask", "        return mask.long()", "rules.legal",
     ["dtype torch.int64, expected torch.bool"]),
    ("        return {\"t\": t}, rewards, done", "        return {\"t\": t}, rewards", "rules.step",
     ["returned a tuple of 2"]),
    ("rewards = actions.to(torch.float32)", "rewards = torch.zeros(actions.shape[0], 3)", "rules.step",
     ["rewards of shape (5, 3), expected (5, 2)"]),
    ("rewards = actions.to(torch.float32)", "rewards = actions.to(torch.float32) / (t[:, None] - 2)",
     "rules.step", ["rewards contain", "at step 1"]),
    ("rewards = actions.to(torch.float32)", "rewards = actions * 1", "rules.step",
     ["rewards of dtype torch.int64, expected a floating dtype"]),
    ("done = t >= self.horizon", "done = (t >= self.horizon)[:, None]", "rules.step",
     ["done of shape (5, 1), expected (5,)"]),
    ("done = t >= self.horizon", "done = t - self.horizon", "rules.step",
     ["done of dtype torch.int64, expected torch.bool"]),
    ("done = t >= self.horizon", "done = t >= self.horizon + 1", "rules.step",
     ["done is not all true after the last step (horizon 3) at step 2"]),
    ("done = t >= self.horizon", "done = t >= 1", "rules.step", ["done before the horizon", "step 0"]),
    ("t = state[\"t\"] + 1", "t = state[\"t\"] + state[\"missing\"]", "rules.step",
     ["KeyError", "'missing'", "at step 0", f"line {line_of('t = state[')}"]),
    ("return {\"t\": t}, rewards, done", "return {\"t\": t[:1]}, rewards, done", "rules.step",
     ["state['t'] of shape (1,)", "batch of 5"]),
    ("return torch.zeros(obs.shape[0], dtype=torch.long)", "return torch.full((obs.shape[0],), 2)",
     "rules.reference_policies", []),  # ScriptedPolicy falls back to a legal action: accepted
    ('return {"uniform": UniformPolicy(), "first": ScriptedPolicy("first", first_legal)}',
     'return {"uniform": UniformPolicy(), "all": AllActions()}\n\n\nclass AllActions:\n'
     '    name = "all"\n\n    def probs(self, obs, legal):\n'
     '        return torch.full(legal.shape, 1 / 3)', "rules.reference_policies",
     ["policy 'all'", "illegal action", "player 1"]),
    ('return {"uniform": UniformPolicy(), "first": ScriptedPolicy("first", first_legal)}',
     'return {"uniform": UniformPolicy(), "half": Half()}\n\n\nclass Half:\n'
     '    name = "half"\n\n    def probs(self, obs, legal):\n'
     '        return legal.to(torch.float32) / 4', "rules.reference_policies",
     ["policy 'half' has probabilities that do not sum to 1 at step 0 (player 0)"]),
    ('return {"uniform": UniformPolicy(), "first": ScriptedPolicy("first", first_legal)}',
     'return {"uniform": UniformPolicy(), "flat": Flat()}\n\n\nclass Flat:\n'
     '    name = "flat"\n\n    def probs(self, obs, legal):\n'
     '        return torch.ones(obs.shape[0])', "rules.reference_policies",
     ["policy 'flat'", "probs() of shape"]),
    ('return {"uniform": UniformPolicy(), "first": ScriptedPolicy("first", first_legal)}',
     'return {"uniform": UniformPolicy(), "greedy": ScriptedPolicy("first", first_legal)}',
     "rules.reference_policies", ["policy 'greedy'", "name 'first'"]),
    ('return {"uniform": UniformPolicy(), "first": ScriptedPolicy("first", first_legal)}',
     'return [UniformPolicy()]', "rules.reference_policies", ["returned list, expected a dict"]),
    ('return {"length": state["t"].to(torch.float32)}', 'return {"length": state["t"][:2].float()}',
     "rules.episode_metrics", ["'length' of shape (2,), expected (5,)"]),
    ('return {"t": torch.zeros(batch, dtype=torch.long, device=self.device)}',
     'return {"t": torch.zeros(batch, dtype=torch.long, device=self.device) + torch.rand(1).long()}',
     "rules.reset", ["global random number generator"]),
]


@pytest.mark.parametrize("old,new,field,cause", BROKEN, ids=[f"{b[2]}-{i}" for i, b in enumerate(BROKEN)])
def test_broken_rules_are_one_line_errors(tmp_path, old, new, field, cause):
    folder = write(tmp_path, old, new)
    if not cause:  # a case that is fine
        popgames.load_game(folder)
        return
    message = refused(folder)
    assert str((folder / "rules.py").resolve()) in message and f"field '{field}'" in message, message
    for fragment in cause:
        assert fragment in message, (fragment, message)


def test_a_failed_import_leaves_nothing_in_sys_modules(tmp_path):
    def rules_modules() -> set[str]:
        return {name for name in sys.modules if name.startswith("popgames_rules_")}

    before = rules_modules()
    refused(write(tmp_path, "import torch\n", "import torch\nraise RuntimeError('boom')\n"))
    assert rules_modules() == before
    refused(write(tmp_path, "def make(params, device):", "def make(params, device)"))
    assert rules_modules() == before
    # Fixed on disk, the same path now loads (nothing stale was cached).
    assert popgames.load_game(write(tmp_path)).rules.horizon == 3


def test_rules_import_sibling_modules_of_their_folder_and_reread_them_after_a_failure(tmp_path):
    """The card's folder is a package: ``from .x import y`` finds ``x.py`` beside the rules
    (trust_split's policies live in one); a failed load forgets the siblings too."""
    folder = write(tmp_path, "def first_legal(obs, legal):\n    return torch.zeros(obs.shape[0], dtype=torch.long)\n",
                   "from .helpers import first_legal\n")
    (folder / "helpers.py").write_text("raise RuntimeError('helper broken')\n")
    assert "RuntimeError: helper broken" in refused(folder)
    (folder / "helpers.py").write_text("import torch\n\n\ndef first_legal(obs, legal):\n"
                                       "    return torch.zeros(obs.shape[0], dtype=torch.long)\n")
    game = popgames.load_game(folder)
    assert game.reference_policies()["first"].name == "first"
    assert not any(name.endswith(".helpers") and name.split(".")[0] != game.module.__name__.split(".")[0]
                   for name in sys.modules if name.startswith("popgames_rules_"))


def test_a_parameter_error_from_make_names_the_parameter(tmp_path):
    folder = write(tmp_path, card=CARD + "[params]\nhorizon = 0\n")
    message = refused(folder)
    assert str(folder / "game.toml") in message and "field 'params.horizon'" in message, message


@pytest.mark.parametrize("rules,cause", [
    ("{outside}", "absolute path"),
    ("../elsewhere/rules.py", "outside the card's folder"),
    ("sub/../../elsewhere/rules.py", "outside the card's folder"),
    ("link.py", "outside the card's folder"),
    ("rules.txt", "a .py file"),
])
def test_rules_path_stays_in_the_card_folder(tmp_path, rules, cause):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "rules.py").write_text(TOY)
    folder = write(tmp_path)
    (folder / "rules.txt").write_text(TOY)
    try:
        os.symlink(elsewhere / "rules.py", folder / "link.py")
    except OSError:
        if rules == "link.py":
            pytest.skip("no symlinks here")
    card = CARD.replace('"rules.py"', '"' + rules.format(outside=(elsewhere / "rules.py").as_posix()) + '"')
    (folder / "game.toml").write_text(card)
    message = refused(folder)
    assert str(folder / "game.toml") in message and "field 'rules'" in message and cause in message, message


def test_rules_in_a_subfolder_and_a_symlink_inside_the_folder_load(tmp_path):
    folder = write(tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "rules.py").write_text(TOY)
    (folder / "game.toml").write_text(CARD.replace('"rules.py"', '"sub/rules.py"'))
    assert popgames.load_game(folder).rules.horizon == 3
    try:
        os.symlink(folder / "sub" / "rules.py", folder / "inner.py")
    except OSError:
        return
    (folder / "game.toml").write_text(CARD.replace('"rules.py"', '"inner.py"'))
    assert popgames.load_game(folder).rules.horizon == 3


def test_cli_reports_a_broken_rules_file_in_one_line(tmp_path):
    folder = write(tmp_path, "done = t >= self.horizon", "done = (t >= self.horizon)[:, None]")
    command = [sys.executable, "-m", "popgames.psro", str(folder), "--out", str(tmp_path / "run")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "rules.py" in lines[0] and "rules.step" in lines[0], lines
