"""The iterated prisoner's dilemma: stage payoffs, observation window, reference strategies.

Reference values: Axelrod (1984), The Evolution of Cooperation: R=3, T=5, S=0, P=1;
tit-for-tat against always-defect over n rounds scores S + (n-1) P against T + (n-1) P.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from markov_helpers import card, load, play
from popgames.core.errors import GameCardError
from popgames.kinds.markov.policies import ScriptedPolicy, UniformPolicy

GAME = load("iterated_prisoners_dilemma")
RULES = GAME.rules
REFS = GAME.reference_policies()
C, D = 0, 1


def test_card():
    assert GAME.n_players == 2 and RULES.n_actions == 2 and RULES.horizon == 10
    assert {"greedy", "welfare", "always_cooperate", "always_defect", "tit_for_tat",
            "grim_trigger", "uniform"} <= set(REFS)


def test_stage_payoff_matrix():
    s = RULES.reset(4, torch.Generator())
    actions = torch.tensor([[C, C], [C, D], [D, C], [D, D]])
    s2, rewards, done = RULES.step(s, actions, torch.Generator())
    # (row, column) payoffs of Axelrod's matrix
    assert rewards.tolist() == [[3.0, 3.0], [0.0, 5.0], [5.0, 0.0], [1.0, 1.0]]
    assert not done.any() and (s2["t"] == 1).all()


def test_defection_dominates_every_round_and_cooperation_is_efficient(tmp_path):
    game = card(tmp_path, "iterated_prisoners_dilemma", R=4.0, T=7, S=-1.0, P=0.5)
    r = game.rules
    pairs = torch.tensor(list(itertools.product((C, D), repeat=2)))
    _, rewards, _ = r.step(r.reset(4, torch.Generator()), pairs, torch.Generator())
    table = rewards.view(2, 2, 2)  # [a_0, a_1, player]
    assert (table[D, :, 0] > table[C, :, 0]).all() and (table[:, D, 1] > table[:, C, 1]).all()
    assert table.sum(-1).argmax().item() == 0  # (C, C) maximises welfare
    assert table[C, D].tolist() == [-1.0, 7.0]


def test_observation_window_from_each_side():
    L = RULES.layout
    s = RULES.reset(1, torch.Generator())
    for a in ([C, D], [D, D], [D, C]):
        s, _, _ = RULES.step(s, torch.tensor([a]), torch.Generator())
    obs = RULES.observe(s)[0]
    # most recent round first, own action first from each player's side
    assert obs[0, L["past0_own"]].argmax() == D and obs[0, L["past0_opp"]].argmax() == C
    assert obs[1, L["past0_own"]].argmax() == C and obs[1, L["past0_opp"]].argmax() == D
    assert obs[0, L["past1_own"]].argmax() == D and obs[0, L["past1_opp"]].argmax() == D
    assert obs[:, L["opp_ever_defected"]].flatten().tolist() == [1.0, 1.0]
    assert obs[0, L["progress"]].item() == pytest.approx(0.3)
    first = RULES.observe(RULES.reset(1, torch.Generator()))[0]
    assert first[0, L["past0_own"]].argmax() == 2  # "none yet"


def returns(a: str, b: str, batch: int = 8) -> list[float]:
    state = play(GAME, [REFS[a], REFS[b]], batch=batch, seed=0)["state"]
    assert (state["returns"] == state["returns"][0]).all()  # deterministic strategies
    return state["returns"][0].tolist()


def test_reference_strategy_scores():
    assert returns("tit_for_tat", "always_defect") == [9.0, 14.0]  # S + 9 P vs T + 9 P
    assert returns("tit_for_tat", "tit_for_tat") == [30.0, 30.0]
    assert returns("grim_trigger", "always_cooperate") == [30.0, 30.0]
    assert returns("always_defect", "always_cooperate") == [50.0, 0.0]
    assert returns("greedy", "welfare") == returns("always_defect", "always_cooperate")
    # Pavlov against always-defect alternates C, D, C, D, ...: 5 S + 5 P against 5 T + 5 P
    assert returns("pavlov", "always_defect") == [5.0, 30.0]


def test_tit_for_tat_copies_and_grim_never_forgives():
    rec = play(GAME, [REFS["tit_for_tat"], UniformPolicy()], batch=64, seed=4)
    acts = torch.stack(rec["actions"])  # [T, B, 2]
    assert (acts[0, :, 0] == C).all() and torch.equal(acts[1:, :, 0], acts[:-1, :, 1])
    # one defection in round 0, outside a 1-round window by round 2: grim still defects
    game = load("iterated_prisoners_dilemma")
    once = ScriptedPolicy("once", lambda obs, legal: (obs[:, -1] == 0).long())  # D at t = 0
    rec = play(game, [REFS["grim_trigger"], once], batch=2, seed=0)
    acts = torch.stack(rec["actions"])
    assert acts[:, 0, 1].tolist() == [D] + [C] * 9
    assert acts[:, 0, 0].tolist() == [C] + [D] * 9


def test_episode_metrics():
    m = GAME.episode_metrics(play(GAME, [REFS["always_cooperate"], REFS["always_defect"]], 4, 0)["state"])
    assert m["cooperation_rate"].tolist() == [0.5] * 4 and m["mutual_cooperation"].tolist() == [0.0] * 4
    torch.testing.assert_close(m["welfare_efficiency"], torch.full((4,), 5 / 6))  # (S+T)/(2R)
    m = GAME.episode_metrics(play(GAME, [REFS["tit_for_tat"], REFS["pavlov"]], 4, 0)["state"])
    assert m["welfare_efficiency"].tolist() == [1.0] * 4 and m["mutual_cooperation"].tolist() == [1.0] * 4


@pytest.mark.parametrize("params, field", [
    ({"T": 2.0}, r"T > R > P > S, got T=2.0"), ({"S": 1.5}, r"S=1.5"), ({"rounds": 0}, "rounds"), ({"history": 0}, "history"),
    ({"R": "three"}, "params.R"), ({"gamma": 0.9}, "params.gamma"),
])
def test_bad_params_name_the_field(tmp_path, params, field):
    with pytest.raises(GameCardError, match=field):
        card(tmp_path, "iterated_prisoners_dilemma", **params)
