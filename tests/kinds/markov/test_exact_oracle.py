"""The exact oracle of small Markov games: table best responses, exact entries, PSRO with it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from popgames.core.errors import GameCardError
from popgames.kinds.markov.evaluation import profile_returns
from popgames.kinds.markov.exact import best_response, best_response_value, evaluate_response
from popgames.kinds.markov.exact_oracle import ExactMarkovOracle
from popgames.kinds.markov.policies import TablePolicy, policy_from_arrays, to_arrays
from popgames.loops.psro import psro

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "games"))
from markov_helpers import card, load  # noqa: E402


def _simulated(game, profile, seat: int, episodes: int = 4096) -> tuple[float, float]:
    returns, _ = profile_returns(game.rules, profile, episodes, torch.Generator().manual_seed(1))
    return float(returns[:, seat].mean()), float(returns[:, seat].std() / np.sqrt(episodes))


def test_the_table_best_response_to_tit_for_tat_cooperates_until_the_last_round():
    game = load("iterated_prisoners_dilemma")
    tft = game.reference_policies()["tit_for_tat"]
    answer = best_response(game, [(1.0, [None, tft])], 0)
    # 3*9 + 5 (R=3, T=5): the history answer needs no more than the observation here.
    assert answer.value == pytest.approx(32.0, abs=1e-12) and answer.history_value == pytest.approx(32.0)
    assert answer.representation_gap == pytest.approx(0.0, abs=1e-12)
    # Played out, the table does what its value says: 32 a game, cooperating 9 rounds.
    mean, se = _simulated(game, [answer.policy, tft], 0, episodes=64)
    assert mean == 32.0 and se == 0.0


def test_a_short_window_costs_the_probe_and_a_full_window_recovers_it(tmp_path):
    # Against 1/2 tit-for-tat + 1/2 always-defect the history answer probes once (20.5;
    # test_exact_best_response.py). With the default window of 2 rounds the observation
    # forgets the probe's outcome by round 4, and the table answer loses exactly 1.
    game = load("iterated_prisoners_dilemma")
    refs = game.reference_policies()
    mix = [(0.5, [None, refs["tit_for_tat"]]), (0.5, [None, refs["always_defect"]])]
    short = best_response(game, mix, 0)
    assert short.history_value == pytest.approx(20.5, abs=1e-12)
    assert short.value == pytest.approx(evaluate_response(game, mix, 0, short.policy), abs=1e-12)
    assert 0.0 < short.representation_gap <= 20.5 - 10.0
    full_game = card(tmp_path, "iterated_prisoners_dilemma", history=10)
    refs = full_game.reference_policies()
    mix = [(0.5, [None, refs["tit_for_tat"]]), (0.5, [None, refs["always_defect"]])]
    full = best_response(full_game, mix, 0)
    assert full.value == pytest.approx(20.5, abs=1e-12) and full.representation_gap == pytest.approx(0.0, abs=1e-12)


def test_table_policies_round_trip_and_play_uniformly_off_the_table():
    rows = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0]])
    policy = TablePolicy(rows, torch.tensor([1, 0]), "t")
    back = policy_from_arrays(to_arrays(policy, "p"), "p", {}, torch.device("cpu"))
    assert isinstance(back, TablePolicy) and back.name == "t"
    obs = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    legal = torch.ones(3, 2, dtype=torch.bool)
    expected = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert torch.equal(back.probs(obs, legal), expected)
    assert torch.equal(policy.probs(obs, legal), expected)


def test_coin_game_table_answers_a_scripted_opponent_exactly(tmp_path):
    # A fully observed game against one Markov opponent: the observation (with the step
    # count) is a sufficient statistic, so the table loses nothing to the history answer.
    game = card(tmp_path, "coin_game", grid_size=2, episode_length=3)
    greedy = game.reference_policies()["greedy"]
    mix = [(1.0, [None, greedy])]
    answer = best_response(game, mix, 0)
    assert answer.history_value == pytest.approx(best_response_value(game, mix, 0), abs=1e-12)
    assert answer.value == pytest.approx(answer.history_value, abs=1e-9)
    mean, se = _simulated(game, [answer.policy, greedy], 0, episodes=20000)
    assert abs(mean - answer.value) < 4 * se + 1e-9


def test_exact_entries_agree_with_simulation():
    game = load("iterated_prisoners_dilemma")
    oracle = ExactMarkovOracle(game)
    refs = game.reference_policies()
    population = [[refs["uniform"], refs["tit_for_tat"]], [refs["pavlov"], refs["uniform"]]]
    entries = oracle.evaluate(population, [(0, 0), (1, 1), (0, 1)])
    assert entries.variances is None
    for row, (i, j) in enumerate([(0, 0), (1, 1), (0, 1)]):
        for seat in (0, 1):
            mean, se = _simulated(game, [population[0][i], population[1][j]], seat)
            assert abs(entries.means[row, seat] - mean) < 4 * se + 1e-9


def test_exact_psro_reaches_always_defect_from_uniform():
    # The best response to a uniform opponent defects every round; always-defect answers
    # itself, so the exact NashConv is 0 after one iteration (10 rounds of P = 1 each).
    game = load("iterated_prisoners_dilemma")
    records = list(psro(game, iterations=3, oracle_name="exact"))
    first, last = records[0].metrics, records[-1].metrics
    assert first["exploitability_kind"] == "nash_conv"
    assert first["exploitability"] == pytest.approx(2 * (30.0 - 22.5), abs=1e-9)   # (T+P)/2 vs (R+S+T+P)/4
    assert first["game"]["exact_nash_conv"] == pytest.approx(first["exploitability"], abs=1e-9)
    assert last["exploitability"] == pytest.approx(0.0, abs=1e-9) and len(records) == 2
    assert np.allclose(last["meta_payoffs"], [10.0, 10.0])
    assert {"history_value", "representation_gap", "table_rows"} <= set(last["oracle"][0])


def test_the_exact_oracle_refuses_games_it_cannot_enumerate():
    game = load("trust_split")
    if game.deterministic or game.enumerates_chance:
        pytest.skip("trust_split became enumerable")
    with pytest.raises(GameCardError, match="exact oracle"):
        ExactMarkovOracle(game)
