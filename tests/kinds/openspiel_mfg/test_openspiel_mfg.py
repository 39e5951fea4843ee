"""OpenSpiel mean-field games by name: tabulated once, they agree with OpenSpiel's own NashConv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import popgames
from popgames.core.errors import GameCardError
from popgames.kinds.mean_field.exact import exploitability, uniform_policy
from popgames.meanfield import fictitious_play


def card(tmp_path: Path, game: str) -> popgames.kinds.openspiel_mfg.game.SpielMeanFieldGame:
    folder = tmp_path / game
    folder.mkdir()
    (folder / "game.toml").write_text(f'kind = "openspiel_mfg"\ndescription = "{game}"\ngame = "{game}"\n')
    return popgames.load_game(folder)


def _nash_conv(game, policy) -> float:
    from open_spiel.python.mfg.algorithms import nash_conv

    return float(nash_conv.NashConv(game, policy).nash_conv())


@pytest.mark.parametrize("name", ["mfg_crowd_modelling", "mfg_garnet", "mfg_crowd_modelling_2d"])
def test_exploitability_agrees_with_openspiel_live(tmp_path, name):
    from open_spiel.python import policy as os_policy

    ours = card(tmp_path, name)
    rules = ours.rules
    assert exploitability(rules, uniform_policy(rules))["exploitability"] == pytest.approx(
        _nash_conv(rules.game, os_policy.UniformRandomPolicy(rules.game)), abs=1e-9)
    pi = np.random.default_rng(5).dirichlet(np.ones(rules.n_actions), size=(rules.horizon, rules.n_states))
    assert exploitability(rules, pi)["exploitability"] == pytest.approx(
        _nash_conv(rules.game, rules.openspiel_policy(pi)), abs=1e-9)


def test_the_shipped_2d_card_and_openspiels_fictitious_play_curve(tmp_path):
    # OpenSpiel's uniform-policy NashConv on mfg_crowd_modelling_2d (reference: its nash_conv).
    game = popgames.load_game("crowd_modelling_2d")
    assert game.rules.n_states == 100
    assert popgames.exploitability(game, uniform_policy(game.rules)).value == pytest.approx(5.442853323264, abs=1e-9)
    # Its C++ crowd_modelling through this loader gives OpenSpiel's FP curve (issue 10's values).
    crowd = card(tmp_path, "mfg_crowd_modelling")
    curve = [r.exploitability for r in fictitious_play(crowd, 10)]
    assert curve[0] == pytest.approx(4.217152796364, abs=1e-9)
    assert curve[9] == pytest.approx(0.990803262691, abs=1e-9)


def test_the_linear_quadratic_card_matches_openspiel():
    # OpenSpiel's uniform-policy NashConv on mean_field_lin_quad (reference: its nash_conv, live).
    from open_spiel.python import policy as os_policy

    game = popgames.load_game("linear_quadratic")
    expected = _nash_conv(game.rules.game, os_policy.UniformRandomPolicy(game.rules.game))
    assert expected == pytest.approx(21.498181599552, abs=1e-9)
    assert popgames.exploitability(game, uniform_policy(game.rules)).value == pytest.approx(expected, abs=1e-9)


def test_a_game_that_is_not_mean_field_is_refused(tmp_path):
    with pytest.raises(GameCardError, match="not a mean-field game"):
        card(tmp_path, "kuhn_poker")
    with pytest.raises(GameCardError, match="cannot load"):
        card(tmp_path, "no_such_game")


@pytest.mark.parametrize("name, native", [("python_mfg_predator_prey", "predator_prey"),
                                          ("python_mfg_crowd_avoidance", "crowd_avoidance")])
def test_several_populations_load_by_name_and_match_the_native_cards(tmp_path, name, native):
    game = card(tmp_path, name)
    ours = popgames.load_game(native)
    if native == "crowd_avoidance":   # the card switches the avoidance on; OpenSpiel's default is off
        ours.rules = ours.module.make({**ours.params, "congestion": 0.0})
    assert game.rules.agents == ours.rules.agents and game.rules.horizon == ours.rules.horizon
    rng = np.random.default_rng(5)
    policy = rng.dirichlet(np.ones(5), size=uniform_policy(game.rules).shape[:-1])
    assert exploitability(game.rules, policy)["exploitability"] == pytest.approx(
        _nash_conv(game.rules.game, game.rules.openspiel_policy(policy)), abs=1e-9)
    # The same game tabulated and written by hand: fictitious play takes the same path
    # (states are labelled differently, best responses the same).
    tabulated = [r.exploitability for r in fictitious_play(game, 4)]
    native_curve = [r.exploitability for r in fictitious_play(ours, 4)]
    assert tabulated == pytest.approx(native_curve, abs=1e-9)
