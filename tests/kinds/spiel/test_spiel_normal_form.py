"""Reduced normal forms of OpenSpiel games, against OpenSpiel's own normal form.

Oracles: OpenSpiel's ``pyspiel.extensive_to_matrix_game`` (its full normal form, one
action at every infostate, payoffs by its C++ ``ExpectedReturns``); Kuhn poker's game
value -1/18 (Kuhn 1950); the count of distinct realisation plans of all full pure
strategies; Kuhn's theorem (a mixture of plans and its behaviour policy have the same
NashConv).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pyspiel
import pytest

import popgames
from popgames.analysis.exploitability import nash_regrets
from popgames.kinds.spiel.game import SpielGame, mixture_policy
from popgames.kinds.spiel.normal_form import (MAX_NORMAL_FORM_PROFILES, normal_form, plan_count,
                                        reduced_plans)
from popgames.kinds.spiel.policies import realization_plan


@pytest.fixture(scope="module")
def kuhn():
    return popgames.load_game("kuhn_poker")


def _parse_openspiel_strategy(name):
    """OpenSpiel's strategy name, lines ``"<infostate>  ---  action = <a>"``, as a dict."""
    return {m[1]: int(m[2]) for m in re.finditer(r"(\S+)\s+---\s+action = (\d+)", name)}


def test_kuhn_payoffs_match_openspiels_normal_form(kuhn):
    nf = normal_form(kuhn)
    tree = kuhn.tree
    # Per card: bet, or pass and then fold or call (3^3); the second player: 2^6.
    assert nf.matrix.num_actions == (27, 64)
    theirs = pyspiel.extensive_to_matrix_game(kuhn.game)
    names = [[theirs.row_action_name(r) for r in range(theirs.num_rows())],
             [theirs.col_action_name(c) for c in range(theirs.num_cols())]]
    # Each full pure strategy of OpenSpiel is the reduced plan that agrees with it
    # wherever the plan chooses.
    index = []
    for p in range(2):
        local = [tree.info_strings[i] for i in range(tree.info_start[p], tree.info_start[p + 1])]
        mapped = []
        for name in names[p]:
            choice = _parse_openspiel_strategy(name)
            full = np.array([choice[s] for s in local])
            match = np.flatnonzero(((nf.plans[p] < 0) | (nf.plans[p] == full)).all(axis=1))
            assert len(match) == 1
            mapped.append(match[0])
        assert sorted(set(mapped)) == list(range(nf.matrix.num_actions[p]))   # every plan occurs
        index.append(np.array(mapped))
    ours = nf.matrix.payoffs[:, index[0][:, None], index[1][None, :]]
    rows = [[theirs.row_utility(r, c) for c in range(theirs.num_cols())] for r in range(theirs.num_rows())]
    cols = [[theirs.col_utility(r, c) for c in range(theirs.num_cols())] for r in range(theirs.num_rows())]
    np.testing.assert_allclose(ours, [rows, cols], rtol=0, atol=1e-12)


def test_kuhn_value_and_equivalent_behaviour_policy(kuhn):
    nf = normal_form(kuhn)
    sol = popgames.solvers.solve(nf.matrix, "nash")
    np.testing.assert_allclose(sol.payoffs, [-1 / 18, 1 / 18], atol=1e-9)   # Kuhn (1950)
    # Any mixture of plans and its behaviour policy have the same NashConv (Kuhn's theorem).
    rng = np.random.default_rng(3)
    for marginals in (sol.marginals, [rng.dirichlet(np.full(k, 0.5)) for k in nf.matrix.num_actions]):
        tabular = mixture_policy(kuhn, [list(nf.policies(p)) for p in range(2)], marginals)
        np.testing.assert_allclose(popgames.exploitability(kuhn, tabular).per_player,
                                   nash_regrets(nf.matrix.payoffs, marginals), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,players", [("kuhn_poker", 2), ("kuhn_poker", 3)])
def test_plans_are_the_distinct_realisation_plans(name, players):
    tree = SpielGame(name, {"players": players}).tree
    for p in range(players):
        plans = reduced_plans(tree, p)
        assert len(plans) == plan_count(tree, p)
        legal = tree.legal[tree.info_slice(p)]
        full = np.array(list(itertools.product(*[np.flatnonzero(row) for row in legal])))
        full_plans = realization_plan(tree, p, np.eye(tree.n_actions)[full])
        chosen = np.where(plans >= 0, plans, 0)
        ours = realization_plan(tree, p, np.eye(tree.n_actions)[chosen]).astype(np.int8)
        distinct = set(map(bytes, ours))
        assert len(distinct) == len(plans)                                # no two plans alike
        assert distinct == set(map(bytes, full_plans.astype(np.int8)))    # and none missing


def test_large_games_are_refused_with_their_size():
    leduc = popgames.load_game("leduc_poker")
    with pytest.raises(popgames.PopgamesError, match=r"leduc_poker: .* ~6.3e44 x ~4.8e87 .* "
                       r"over the limit of 1,000,000 \(MAX_NORMAL_FORM_PROFILES\)"):
        normal_form(leduc)
    assert MAX_NORMAL_FORM_PROFILES == 1_000_000
    with pytest.raises(popgames.PopgamesError, match="27 x 64 = 1728"):
        normal_form(popgames.load_game("kuhn_poker"), max_profiles=1000)
