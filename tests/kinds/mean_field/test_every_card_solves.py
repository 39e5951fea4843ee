"""Every shipped mean-field, graphon and OpenSpiel mean-field card loads and solves."""

from __future__ import annotations

import numpy as np
import pytest

import popgames
from popgames.loops.mean_field.loop import ALGORITHMS, mean_field
from popgames.runs.meanfield_run import card_options

CARDS = ["crowd_modelling", "crowd_modelling_2d", "linear_quadratic", "crowd_avoidance", "predator_prey",
         "beach_bar", "susceptible_infected", "sis_graphon", "investment_graphon"]


def test_these_are_all_the_shipped_mean_field_cards():
    from popgames.kinds.cards import card_path, read_card

    kinds = {name: read_card(card_path(name)).get("kind") for name in popgames.builtin_games()}
    assert sorted(n for n, k in kinds.items() if k in ("mean_field", "graphon", "openspiel_mfg")) == sorted(CARDS)


@pytest.mark.parametrize("name", CARDS)
def test_every_algorithm_lowers_the_exploitability_of_the_uniform_start(name):
    game = popgames.load_game(name)
    for algorithm in ALGORITHMS:
        options = card_options(game.meanfield, algorithm)
        if algorithm == "prior_descent":
            options.setdefault("inner", 3)
        curve = [r.exploitability for r in mean_field(game, 12, options, algorithm=algorithm)]
        assert np.isfinite(curve).all() and min(curve) >= 0.0
        if algorithm == "fp":   # fictitious play's average improves on its start on every card
            first = popgames.exploitability(game, np.full(
                (*game.rules.agents, game.rules.horizon, game.rules.n_states, game.rules.n_actions),
                1.0 / game.rules.n_actions)).value
            assert curve[-1] < first, (name, curve[-1], first)
