"""Every FXP learner keeps the Learner protocol, and each kind names a default one."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import popgames
from popgames.core.protocols import Learner
from popgames.loops.fxp.options import LEARNERS, default_learner, make_learner

GAMES = {"exact": "rock_paper_scissors", "team_pg": "fxp_team_game", "ppo": "iterated_prisoners_dilemma"}
REQUIRED = ("initial_policy", "train", "best_response", "payoffs", "exploitability", "to_array", "from_array")


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_learners_keep_the_protocol(name):
    module, cls_name = LEARNERS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    assert Learner in cls.__mro__
    for method in REQUIRED:
        assert getattr(cls, method) is not getattr(Learner, method), (name, method)
    game = popgames.load_game(GAMES[name])
    assert default_learner(game) == name
    options = {"updates": 1, "num_envs": 16, "eval_episodes": 16, "epochs": 1} if name == "ppo" else {}
    learner = make_learner(game, name, options, seed=0, device="cpu")
    rng = np.random.default_rng(0)
    profile = (learner.initial_policy(0, rng), learner.initial_policy(1, rng))
    assert learner.payoffs([profile], rng).shape == (1, 2)
    assert isinstance(learner.describe(profile), dict)
    assert len(learner.from_array(learner.to_array([profile[0]]))) == 1
