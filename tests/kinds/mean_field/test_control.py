"""Mean-field control: the exact gradient of the population's return, and the price of anarchy."""

from __future__ import annotations

import numpy as np
import pytest

import popgames
from popgames.kinds.mean_field.control import price_of_anarchy, social_value_and_gradient
from popgames.kinds.mean_field.exact import combine, evaluate
from popgames.meanfield import fictitious_play


@pytest.mark.parametrize("name", ["crowd_modelling", "sis_graphon", "investment_graphon", "predator_prey",
                                  "crowd_avoidance"])
def test_the_adjoint_gradient_matches_differences_of_the_return(name):
    game = popgames.load_game(name)
    rules = game.rules
    if name == "predator_prey":   # a smaller grid: its rules' field derivatives are taken entry by entry
        rules = game.module.make({**game.params, "horizon": 4, "size": 3, "start": [0, 2, 6]})
    rng = np.random.default_rng(1)
    shape = (*rules.agents, rules.horizon, rules.n_states, rules.n_actions)
    logits, direction = rng.normal(size=shape), rng.normal(size=shape)
    value, grad = social_value_and_gradient(rules, logits)
    policy = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    evaluation = evaluate(rules, policy)   # populations add up, a graphon grid averages
    assert value == pytest.approx(combine(evaluation.value, evaluation.grid), abs=1e-10)
    h = 1e-5
    difference = (social_value_and_gradient(rules, logits + h * direction)[0]
                  - social_value_and_gradient(rules, logits - h * direction)[0]) / (2 * h)
    assert float((grad * direction).sum()) == pytest.approx(difference, rel=1e-6, abs=1e-9)


def test_sis_equilibrium_takes_less_precaution_than_the_social_optimum():
    game = popgames.load_game("sis_graphon")
    nash = list(fictitious_play(game, 100))[-1]
    assert nash.exploitability < 0.2
    social = price_of_anarchy(game.rules, nash.policy)
    assert social["social_value"] >= social["nash_value"] + 5.0     # measured: -13.49 against -21.23
    assert social["social_action_rate"] > 2 * social["nash_action_rate"]   # measured: 27% against 13%
    assert social["price_of_anarchy"] > 1.4 and social["nash_per_agent"].shape == (101,)
    # Every agent is at least as well off under the social optimum here.
    assert (social["social_per_agent"] >= social["nash_per_agent"] - 1e-9).all()
