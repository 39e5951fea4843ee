"""LOLA's Coin Game: the -2 rule, torus moves, coin respawn, perspectives, the dilemma.

Rules checked against LOLA's ``CoinGameVec`` (github.com/alshedivat/lola,
lola_dice/envs/coin_game.py): moves (0,1), (0,-1), (1,0), (-1,0) modulo the grid; +1 to
an agent on the coin; -2 to the coin's owner when the other agent is on it; the coin
respawns off both agents with the other colour.
"""

from __future__ import annotations

import pytest
import torch

from markov_helpers import card, load, play
from popgames.core.errors import GameCardError

GAME = load("coin_game")
RULES = GAME.rules
REFS = GAME.reference_policies()
RED, BLUE = 0, 1
RIGHT, LEFT, DOWN, UP = 0, 1, 2, 3


def state(pos, coin, colour, batch: int = 1) -> dict:
    s = RULES.reset(batch, torch.Generator())
    s["pos"] = torch.tensor([pos] * batch)
    s["coin"] = torch.tensor([coin] * batch)
    s["colour"] = torch.full((batch,), colour)
    return s


def step(s, actions, seed: int = 0):
    batch = s["t"].shape[0]
    return RULES.step(s, torch.tensor([actions] * batch), torch.Generator().manual_seed(seed))


def test_card():
    assert GAME.n_players == 2 and RULES.n_actions == 4 and RULES.obs_dim == 72   # four 3x3 channels, absolute then egocentric
    assert RULES.horizon == 16 and {"greedy", "welfare", "uniform"} <= set(REFS)


@pytest.mark.parametrize("start, action, end", [
    ((0, 2), RIGHT, (0, 0)), ((1, 0), LEFT, (1, 2)), ((2, 1), DOWN, (0, 1)), ((0, 0), UP, (2, 0)),
    ((1, 1), RIGHT, (1, 2)), ((1, 1), UP, (0, 1)),
])
def test_moves_wrap_around_the_torus(start, action, end):
    s2, _, _ = step(state([start, (2, 2)], coin=(2, 0), colour=RED), [action, RIGHT])
    assert tuple(s2["pos"][0, 0].tolist()) == end


def test_taking_the_others_coin_costs_its_owner_two():
    s = state([(0, 0), (2, 2)], coin=(0, 1), colour=BLUE, batch=200)
    s2, rewards, _ = step(s, [RIGHT, UP])
    assert rewards[0].tolist() == [1.0, -2.0]
    assert (s2["colour"] == RED).all()  # the next coin has the other colour
    # it respawns uniformly on the 7 cells free of both agents (now at (0,1) and (1,2))
    cells = (s2["coin"][:, 0] * 3 + s2["coin"][:, 1])
    assert not ((cells == 1) | (cells == 5)).any()
    counts = torch.bincount(cells, minlength=9)
    assert (counts[[0, 2, 3, 4, 6, 7, 8]] >= 10).all()
    assert s2["picks"][0].tolist() == [[0.0, 1.0], [0.0, 0.0]]  # red took one coin not its own


def test_own_coin_and_both_on_the_coin():
    s2, rewards, _ = step(state([(0, 0), (2, 2)], coin=(0, 1), colour=RED), [RIGHT, UP])
    assert rewards[0].tolist() == [1.0, 0.0]
    # both land on a red coin: red +1 - 2, blue +1 (the symmetric lola_dice rule)
    s2, rewards, _ = step(state([(0, 0), (0, 2)], coin=(0, 1), colour=RED), [RIGHT, LEFT])
    assert rewards[0].tolist() == [-1.0, 1.0]
    s2, rewards, _ = step(state([(0, 0), (0, 2)], coin=(0, 1), colour=BLUE), [RIGHT, LEFT])
    assert rewards[0].tolist() == [1.0, -1.0]
    # nobody on it: no reward, the coin stays
    s2, rewards, _ = step(state([(0, 0), (2, 2)], coin=(1, 1), colour=RED), [RIGHT, UP])
    assert rewards[0].tolist() == [0.0, 0.0] and s2["coin"][0].tolist() == [1, 1]


def test_reset_places_everything_on_distinct_cells():
    s = RULES.reset(2000, torch.Generator().manual_seed(1))
    cells = s["pos"][..., 0] * 3 + s["pos"][..., 1]
    coin = s["coin"][:, 0] * 3 + s["coin"][:, 1]
    assert (cells[:, 0] != cells[:, 1]).all() and (coin != cells[:, 0]).all() and (coin != cells[:, 1]).all()
    assert (torch.bincount(cells[:, 0], minlength=9) > 150).all()
    assert 800 < int(s["colour"].sum()) < 1200


def test_each_agent_sees_itself_and_its_colour_first():
    obs = RULES.observe(state([(0, 0), (2, 1)], coin=(1, 2), colour=BLUE))[0, :, :36].reshape(2, 4, 9)
    assert obs[0, 0, 0] == 1 and obs[0, 1, 7] == 1 and obs[0, 3, 5] == 1 and obs[0, 2].sum() == 0
    assert obs[1, 0, 7] == 1 and obs[1, 1, 0] == 1 and obs[1, 2, 5] == 1 and obs[1, 3].sum() == 0
    assert obs.sum().item() == 6.0


def test_greedy_closes_in_and_welfare_leaves_other_coins():
    s = RULES.reset(500, torch.Generator().manual_seed(2))
    obs, legal = RULES.observe(s), RULES.legal(s)
    dist = lambda st: ((st["coin"][:, None] - st["pos"]) % 3).clamp(max=1).sum(-1)  # torus, 3x3
    before = dist(s)
    greedy = REFS["greedy"].probs(obs[:, 0], legal[:, 0]).argmax(1)
    s2, _, _ = RULES.step(s, torch.stack([greedy, greedy], 1), torch.Generator())
    moved = dist({"coin": s["coin"], "pos": s2["pos"]})
    assert (moved[:, 0] == before[:, 0] - 1).all()
    rec = play(GAME, [REFS["welfare"], REFS["welfare"]], batch=256, seed=3)
    m = GAME.episode_metrics(rec["state"])
    assert (m["own_coin_rate"] == 1).all() and min(r.min() for r in rec["rewards"]) >= 0
    assert m["pickups_per_step"].mean() > 0.5


def test_greedy_against_cooperators_is_a_social_dilemma():
    def mean_returns(a: str, b: str) -> torch.Tensor:
        return play(GAME, [REFS[a], REFS[b]], batch=512, seed=7)["state"]["returns"].mean(0)

    coop, exploit, war = mean_returns("welfare", "welfare"), mean_returns("greedy", "welfare"), \
        mean_returns("greedy", "greedy")
    assert exploit[0] > coop[0] > war[0]  # tempted to defect ...
    assert coop.sum() > war.sum() + 5  # ... though both defecting wastes the coins
    assert exploit[1] < war[1]  # and the exploited cooperator does worst


def test_larger_grid(tmp_path):
    game = card(tmp_path, "coin_game", grid_size=5, episode_length=40)
    assert game.rules.obs_dim == 200 and game.rules.horizon == 40
    refs = game.reference_policies()
    rec = play(game, [refs["greedy"], refs["uniform"]], batch=64, seed=0)
    assert rec["done"][-1].all() and game.episode_metrics(rec["state"])["pickups_per_step"].mean() > 0.1


@pytest.mark.parametrize("params, field", [
    ({"grid_size": 1}, "grid_size"), ({"episode_length": 0}, "episode_length"),
    ({"grid_size": 3.0}, "params.grid_size"), ({"n_coins": 2}, "params.n_coins"),
])
def test_bad_params_name_the_field(tmp_path, params, field):
    with pytest.raises(GameCardError, match=field):
        card(tmp_path, "coin_game", **params)


def test_the_egocentric_view_rolls_the_board_to_the_agent(tmp_path):
    # Red at (1, 2), blue at (2, 2), a blue coin at (0, 0). Seen from red's cell, blue is one
    # row down (1, 0) and the coin one row down, one column right on the torus: (2, 1).
    s = state([(1, 2), (2, 2)], coin=(0, 0), colour=BLUE)
    obs = RULES.observe(s)[0]
    absolute, ego = obs[0, :36].view(4, 3, 3), obs[0, 36:].view(4, 3, 3)
    assert absolute[0, 1, 2] == 1 and absolute[3, 0, 0] == 1
    assert ego[0, 0, 0] == 1 and ego[1, 1, 0] == 1 and ego[3, 2, 1] == 1 and ego.sum() == 3
    # Blue's own view: red one row up (2, 0), the (its own) coin at (1, 1).
    ego_blue = obs[1, 36:].view(4, 3, 3)
    assert ego_blue[0, 0, 0] == 1 and ego_blue[1, 2, 0] == 1 and ego_blue[2, 1, 1] == 1
    plain = card(tmp_path, "coin_game", egocentric=False)
    assert plain.rules.obs_dim == 36 and torch.equal(plain.rules.observe(s)[0], obs[:, :36])
