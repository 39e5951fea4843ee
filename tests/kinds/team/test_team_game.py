"""FXP's team counter-example: the card, its payoffs, its equilibria and the team learner."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

import popgames
from popgames.core.errors import GameCardError, PopgamesError
from popgames.kinds.team.game import (TeamMatrixGame, build_fxp_team_game, fxp_team_payoff,
                                      joint_actions, team_strategy)
from popgames.loops.fxp.options import make_learner
from popgames.psro import psro

CARD = "games/fxp_team_game"


@pytest.fixture(scope="module")
def game() -> TeamMatrixGame:
    return popgames.load_game(CARD)


def _index(bits: str) -> int:
    return int(bits, 2)  # agent 0 is the most significant bit


def test_card_builds_the_8x8_zero_sum_game(game):
    assert isinstance(game, TeamMatrixGame) and isinstance(game, popgames.MatrixGame)
    assert game.team_size == 3 and game.num_actions == (8, 8)
    assert dict(game.params) == {"N": 3, "C": 1.5, "epsilon": 0.1}
    assert game.actions[0] == ("000", "001", "010", "011", "100", "101", "110", "111")
    assert np.array_equal(game.payoffs[1], -game.payoffs[0])
    assert np.array_equal(game.payoffs[0], -game.payoffs[0].T)  # symmetric: u(a, b) = -u(b, a)


def test_reference_values(game):
    # Reference values of Xu et al. (AAMAS 2023), as stated in the task (issue 4, item 6),
    # for N=3, C=1.5, eps=0.1: u(all-0 vs all-1) = C = 1.5, u(all-1 vs all-1) = 0, one
    # agent leaving all-1 gets -1, one agent leaving all-0 gets -eps = -0.1.
    u = game.payoffs[0]
    assert u[_index("000"), _index("111")] == pytest.approx(1.5, abs=1e-12)
    assert u[_index("111"), _index("111")] == pytest.approx(0.0, abs=1e-12)
    for one_left in ("011", "101", "110"):
        assert u[_index(one_left), _index("111")] == pytest.approx(-1.0, abs=1e-12)
    for one_left in ("100", "010", "001"):
        assert u[_index(one_left), _index("000")] == pytest.approx(-0.1, abs=1e-12)
    # The same numbers from the closed form on probability vectors.
    ones, zeros = np.ones(3), np.zeros(3)
    assert fxp_team_payoff(zeros, ones) == pytest.approx(1.5)
    assert fxp_team_payoff(ones, ones) == pytest.approx(0.0)
    assert fxp_team_payoff(np.array([0.0, 1, 1]), ones) == pytest.approx(-1.0)
    assert fxp_team_payoff(np.array([1.0, 0, 0]), zeros) == pytest.approx(-0.1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), c=st.floats(-3, 3), eps=st.floats(-1, 1), seed=st.integers(0, 2**32 - 1))
def test_matrix_game_is_the_mixed_extension_of_the_formula(n, c, eps, seed):
    """u is multilinear in the agents' probabilities, so independent agents playing the
    2^N x 2^N matrix game get exactly the formula's value."""
    rng = np.random.default_rng(seed)
    g = build_fxp_team_game(n, c, eps)
    a, b = rng.uniform(size=(2, n))
    x, y = team_strategy(a), team_strategy(b)
    assert x.sum() == pytest.approx(1.0) and (x >= 0).all()
    assert x @ g.payoffs[0] @ y == pytest.approx(fxp_team_payoff(a, b, c, eps), abs=1e-10)
    assert x @ g.payoffs[1] @ y == pytest.approx(-fxp_team_payoff(a, b, c, eps), abs=1e-10)
    assert np.allclose(g.payoffs[0], -g.payoffs[0].T)


def test_all_one_is_local_all_zero_is_global(game):
    u = game.payoffs[0]
    bits = joint_actions(3)
    single = [k for k in range(8) if bits[k].sum() == 2]
    # All-1 is a strict local equilibrium: every one-agent deviation loses (by 1) ...
    assert all(u[k, 7] < u[7, 7] for k in single)
    # ... but not a Nash equilibrium of the team game: the all-0 team deviation gains C per team.
    ones, zeros = np.eye(8)[7], np.eye(8)[0]
    assert popgames.exploitability(game, [ones, ones]).value == pytest.approx(3.0)
    # All-0 is a Nash equilibrium (the value of the game is 0).
    assert popgames.exploitability(game, [zeros, zeros]).value == pytest.approx(0.0, abs=1e-12)
    sol = popgames.solvers.solve(game, "nash")
    assert sol.payoffs[0] == pytest.approx(0.0, abs=1e-7)


def test_psro_runs_on_the_card(game):
    # The card is a matrix game to PSRO too (team best responses over joint actions).
    last = list(psro(game, iterations=5))[-1]
    assert last.exploitability <= 1e-9


@pytest.mark.parametrize("table,field", [("[params]\nN = 0", "params.N"), ("[params]\nN = 11", "params.N"),
                                         ("[params]\nN = 2.5", "params.N"), ("[params]\nK = 1", "params.K"),
                                         ("[params]\nC = 'x'", "params.C"), ("[fxp]\niters = 3", "fxp.iters"),
                                         ("[fxp]\niterations = 'x'", "fxp.iterations")])
def test_bad_cards_are_one_line_errors(tmp_path, table, field):
    (tmp_path / "game.toml").write_text(f'kind = "team_matrix"\n{table}\n')
    with pytest.raises(GameCardError) as err:
        popgames.load_game(tmp_path)
    assert f"'{field}'" in str(err.value) and "\n" not in str(err.value)


def test_exact_gradient_matches_finite_differences(game):
    learner = make_learner(game)
    rng = np.random.default_rng(3)
    theta, opp = rng.normal(size=3), rng.uniform(size=3)
    values = learner._values(0, team_strategy(opp))
    grad = learner.agent_gradient(theta, values)
    h = 1e-6
    for j in range(3):
        up, down = expit(theta).copy(), expit(theta).copy()
        up[j] += h
        down[j] -= h
        assert grad[j] == pytest.approx((fxp_team_payoff(up, opp) - fxp_team_payoff(down, opp)) / (2 * h),
                                        abs=1e-7)
    # Seat 1 (the column team) gets -u(row, column) = u(column, row): the same gradient.
    assert np.allclose(learner.agent_gradient(theta, learner._values(1, team_strategy(opp))), grad)


def test_team_best_response_and_learner_checks(game):
    learner = make_learner(game)
    all_one = np.full(3, np.inf)
    br = learner.best_response([(all_one, 1.0)], 0, np.random.default_rng(0), 0)
    assert np.array_equal(expit(br), np.zeros(3))  # all-0 beats all-1
    nash_conv, gains = learner.exploitability((all_one, all_one))
    assert nash_conv == pytest.approx(3.0) and gains == pytest.approx([1.5, 1.5])
    with pytest.raises(PopgamesError, match="unknown team_pg"):
        make_learner(game, "team_pg", {"learning_rate": 1.0})
    with pytest.raises(PopgamesError, match="needs a team_matrix game"):
        make_learner(popgames.load_game("rock_paper_scissors"), "team_pg")
