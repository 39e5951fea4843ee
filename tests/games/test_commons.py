"""The commons (repeated linear public-goods game): payoffs, dominance, seats, references.

Reference: the linear public-goods payoff endowment - c_i + r * sum(c) / N (Isaac &
Walker 1988); with endowment 1, N = 3, r = 1.8 one round is exactly the matrix game of
games/public_goods_3p, which the first test checks entry by entry.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from markov_helpers import card, load, play

import popgames
from popgames.core.errors import GameCardError

GAME = load("commons")
RULES = GAME.rules
REFS = GAME.reference_policies()


def one_round(rules, contributions) -> torch.Tensor:
    c = torch.tensor(contributions)
    _, rewards, _ = rules.step(rules.reset(c.shape[0], torch.Generator()), c, torch.Generator())
    return rewards


def test_one_round_is_the_public_goods_matrix_game(tmp_path):
    game = card(tmp_path, "commons", endowment=1)
    profiles = list(itertools.product((0, 1), repeat=3))  # 0 = keep, 1 = contribute
    rewards = one_round(game.rules, profiles).numpy()
    matrix = popgames.load_game("public_goods_3p").payoffs
    for row, profile in zip(rewards, profiles):
        np.testing.assert_allclose(row, matrix[(slice(None), *profile)], rtol=1e-6)


def test_payoffs_dominance_and_welfare():
    profiles = list(itertools.product(range(5), repeat=3))
    rewards = one_round(RULES, profiles)
    c = torch.tensor(profiles, dtype=torch.float32)
    torch.testing.assert_close(rewards, 4 - c + 1.8 * c.sum(1, keepdim=True) / 3)
    table = rewards.view(5, 5, 5, 3)
    # giving one token less always pays 1 - r/N = 0.4 more: free riding strictly dominates
    torch.testing.assert_close(table[:-1, :, :, 0] - table[1:, :, :, 0], torch.full((4, 5, 5), 0.4))
    welfare = table.sum(-1)
    assert welfare.argmax().item() == welfare.numel() - 1  # everyone gives everything
    assert welfare.max().item() == pytest.approx(3 * 4 * 1.8)


def test_each_player_sees_its_seat_first():
    s = RULES.reset(1, torch.Generator())
    s, _, _ = RULES.step(s, torch.tensor([[0, 2, 4]]), torch.Generator())
    obs = RULES.observe(s)[0]
    # [round happened, own, next seat, the one after, progress]
    torch.testing.assert_close(obs, torch.tensor([[1.0, 0.0, 0.5, 1.0, 0.1],
                                                  [1.0, 0.5, 1.0, 0.0, 0.1],
                                                  [1.0, 1.0, 0.0, 0.5, 0.1]]))
    assert RULES.observe(RULES.reset(1, torch.Generator()))[0].abs().sum() == 0


def test_reference_strategies():
    def returns(*names: str) -> list[float]:
        state = play(GAME, [REFS[n] for n in names], batch=4, seed=0)["state"]
        return [round(v, 4) for v in state["returns"][0].tolist()]

    assert returns("full_contributor", "full_contributor", "full_contributor") == [72.0] * 3
    assert returns("free_rider", "free_rider", "free_rider") == [40.0] * 3
    # Conditional cooperators give 4, then match the others' last mean (rounded half up):
    # rounds give 4, 2, 1, 1, ... against a free rider, who earns 8.8 + 6.4 + 5.2 + 7 * 5.2.
    assert returns("free_rider", "conditional_cooperator", "conditional_cooperator") == \
        [56.8, 42.8, 42.8]
    assert returns("conditional_cooperator", "full_contributor", "welfare") == [72.0] * 3
    m = GAME.episode_metrics(play(GAME, [REFS["greedy"]] * 3, batch=4, seed=0)["state"])
    torch.testing.assert_close(m["welfare_efficiency"], torch.full((4,), 1 / 1.8))
    assert m["contribution_rate"].tolist() == [0.0] * 4


def test_more_players_and_history(tmp_path):
    game = card(tmp_path, "commons", n_players=5, multiplier=3.0, history=2, rounds=4)
    r = game.rules
    assert (r.n_players, r.obs_dim, r.horizon) == (5, 2 * 6 + 1, 4)
    rec = play(game, [game.reference_policies()["uniform"]] * 5, batch=16, seed=1)
    c = torch.stack(rec["actions"]).float()  # [T, B, N]
    torch.testing.assert_close(torch.stack(rec["rewards"]), 4 - c + 3.0 * c.mean(-1, keepdim=True))
    obs = rec["obs"][-1]
    torch.testing.assert_close(obs[:, 2, 1:6], c[-1][:, [2, 3, 4, 0, 1]] / 4)  # seat 2's view
    torch.testing.assert_close(obs[:, 2, 7:12], c[-2][:, [2, 3, 4, 0, 1]] / 4)


@pytest.mark.parametrize("params, field", [
    ({"multiplier": 3.0}, "multiplier"), ({"multiplier": 1.0}, "multiplier"),
    ({"n_players": 1, "multiplier": 1.5}, "n_players"), ({"endowment": 0}, "endowment"),
    ({"rounds": 0}, "rounds"), ({"history": 0}, "history"), ({"n_players": 3.5}, "params.n_players"),
])
def test_bad_params_name_the_field(tmp_path, params, field):
    with pytest.raises(GameCardError, match=field):
        card(tmp_path, "commons", **params)
