"""PSRO / JPSRO: convergence on reference games, agreement with OpenSpiel, record contents."""

from __future__ import annotations

import numpy as np
import pytest
from open_spiel.python.algorithms import exploitability as os_exploitability

import popgames
from popgames.psro import psro
from popgames.spiel_best_response import mixture_policy
from popgames.spiel_game import SpielGame


def _run(game, meta_solver, iterations, **options):
    return list(psro(game, meta_solver, iterations, solver_options=options))


def test_record_fields_follow_the_architecture():
    # The public surface: popgames.psro is callable (and also `python -m popgames.psro`).
    records = list(popgames.psro(popgames.load_game("rock_paper_scissors"), meta_solver="nash",
                                 iterations=4, seed=0))
    for i, rec in enumerate(records):
        for key in ("iteration", "exploitability", "population_size", "meta_strategy", "wall_time"):
            assert key in rec.metrics
        assert rec.iteration == i and rec.exploitability >= 0
    assert [r.wall_time for r in records] == sorted(r.wall_time for r in records)


@pytest.mark.parametrize("name", ["rock_paper_scissors", "shapleys_game", "matching_pennies",
                                  "battle_of_the_sexes"])
def test_matrix_games_reach_an_equilibrium(name):
    game = popgames.load_game(name)
    last = _run(game, "nash", 8)[-1]
    assert last.exploitability <= 1e-9
    # The meta-strategy mapped to the full game is a Nash equilibrium of it.
    full = [np.zeros(a) for a in game.num_actions]
    for p, (pop, weights) in enumerate(zip(last.state.population, last.meta_strategy)):
        np.add.at(full[p], pop[: len(weights)], weights)
    assert popgames.exploitability(game, full).value <= 1e-9


def test_kuhn_exact_psro_reaches_the_game_value():
    records = _run(SpielGame("kuhn_poker"), "nash", 40)
    best = records[-1]
    assert best.exploitability <= 1e-9
    # Kuhn (1950): player 0's value at every equilibrium is -1/18.
    assert best.metrics["meta_payoffs"][0] == pytest.approx(-1 / 18, abs=1e-9)


@pytest.mark.parametrize("meta_solver", ["nash", "uniform", "cce"])
def test_reported_exploitability_agrees_with_openspiel(meta_solver):
    """The loop's exploitability (from its own best responses) equals OpenSpiel's nash_conv of
    the meta-strategy's mixture policies. For CCE this holds because leduc is two-player
    zero-sum: the payoff sum is 0 under the joint and under the product of its marginals,
    so the CCE gap equals the NashConv of the marginals."""
    game = SpielGame("leduc_poker")
    tree = game.tree
    for rec in _run(game, meta_solver, 6):
        pops = rec.state.population
        strategy = np.asarray(rec.meta_strategy) if meta_solver == "cce" else None
        weights = ([strategy.sum(axis=1), strategy.sum(axis=0)] if meta_solver == "cce"
                   else [np.asarray(w) for w in rec.meta_strategy])
        joint = np.concatenate([mixture_policy(tree, np.stack(pops[p][: len(weights[p])]), weights[p], p)
                                for p in range(2)])
        theirs = os_exploitability.nash_conv(game.game, game.to_tabular_policy(joint))
        assert rec.exploitability == pytest.approx(theirs, abs=1e-9)


def test_jpsro_cce_on_three_player_kuhn_closes_the_gap():
    records = _run(SpielGame("kuhn_poker", {"players": 3}), "cce", 40, objective="max_gini")
    assert records[0].metrics["exploitability_kind"] == "cce_gap"
    # Converges (gap <= 1e-10) and stops well before 40 iterations (measured: iteration 11).
    assert records[-1].exploitability <= 1e-10 and len(records) < 25


def test_loop_stops_once_converged_unless_told_not_to():
    game = popgames.load_game("matching_pennies")
    assert len(_run(game, "nash", 10)) == 3  # NashConv 2, 2, then 0
    assert len(list(psro(game, "nash", 10, stop_exploitability=None))) == 10
