"""Graphon mean-field games: the authors' reference values, the graphons, bad cards."""

from __future__ import annotations

import shutil
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import popgames
from popgames.core.errors import GameCardError
from popgames.kinds.graphon.game import GraphonRules
from popgames.kinds.graphon.graphons import check_graphon, graphon_matrix, grid
from popgames.kinds.mean_field.exact import exploitability, uniform_policy
from popgames.meanfield import fictitious_play

REPO = Path(__file__).resolve().parents[3]


# Uniform-policy exploitability of SIS-Graphon at M = 101 from the authors' code
# (tudkcui/gmfg-learning, Cui & Koeppl ICLR 2022), as quoted in issue 10.
@pytest.mark.parametrize("table, expected", [
    ({"type": "uniform_attachment"}, 8.818052870102),
    ({"type": "ranked_attachment"}, 20.819854740698),
    ({"type": "erdos_renyi", "p": 0.5}, 6.656195045762),
])
def test_sis_graphon_uniform_policy_matches_the_authors_code(table, expected):
    sis = popgames.load_game("sis_graphon")
    rules = GraphonRules(sis.rules.inner, graphon_matrix(table, 101))
    result = exploitability(rules, uniform_policy(rules))
    assert result["exploitability"] == pytest.approx(expected, abs=1e-9)
    assert result["per_agent"].shape == (101,) and result["per_agent"].min() >= 0


def test_the_card_and_popgames_exploitability_agree():
    sis = popgames.load_game("sis_graphon")
    value = popgames.exploitability(sis, uniform_policy(sis.rules))
    assert value.value == pytest.approx(8.818052870102, abs=1e-9) and value.per_player.shape == (101,)
    # Fictitious play lowers it, on every agent of the grid at once.
    last = list(fictitious_play(sis, 20))[-1]
    assert last.exploitability < 0.2 * value.value


def test_graphons_on_the_grid():
    alpha = grid(5)
    assert alpha[0] == 0.0 and alpha[-1] == 1.0
    np.testing.assert_allclose(graphon_matrix({"type": "uniform_attachment"}, 5),
                               1 - np.maximum.outer(alpha, alpha))
    np.testing.assert_allclose(graphon_matrix({"type": "ranked_attachment"}, 5), 1 - np.outer(alpha, alpha))
    sbm = graphon_matrix({"type": "sbm", "sizes": [0.5, 0.5], "probs": [[0.9, 0.1], [0.1, 0.8]]}, 5)
    assert sbm[0, 0] == 0.9 and sbm[0, 4] == 0.1 and sbm[4, 4] == 0.8   # alpha = 1 is in the last block
    karate = graphon_matrix({"type": "networkx", "graph": "karate_club_graph"}, 34 * 3)
    adjacency = nx.to_numpy_array(nx.karate_club_graph(), nodelist=range(34)) > 0
    np.testing.assert_array_equal(karate[::3, ::3], adjacency)


@pytest.mark.parametrize("w, cause", [(np.array([[0.2, 0.3], [0.4, 0.2]]), "not symmetric"),
                                       (np.array([[1.2, 0.0], [0.0, 0.5]]), "outside [0, 1]")])
def test_bad_graphons_are_one_line_errors(w, cause):
    with pytest.raises(GameCardError, match=cause.replace("[", r"\[").replace("]", r"\]")):
        check_graphon(w)


@pytest.mark.parametrize("table, field", [('type = "lattice"', "graphon.type"),
                                          ('type = "erdos_renyi"\np = "half"', "graphon.p"),
                                          ('type = "uniform_attachment"\nM = 0', "graphon.M")])
def test_bad_graphon_tables_name_the_field(tmp_path, table, field):
    folder = tmp_path / "sis"
    shutil.copytree(REPO / "games" / "sis_graphon", folder)
    card = (folder / "game.toml").read_text()
    start = card.index("[graphon]")
    end = card.index("[params]")
    (folder / "game.toml").write_text(card[:start] + "[graphon]\n" + table + "\n\n" + card[end:])
    with pytest.raises(GameCardError, match=field):
        popgames.load_game(folder)


def test_investment_graphon_loads_and_fictitious_play_approaches_equilibrium():
    game = popgames.load_game("investment_graphon")
    assert game.rules.agents == (101,) and game.rules.n_states == 10
    start = popgames.exploitability(game, uniform_policy(game.rules)).value
    records = list(fictitious_play(game, 30))
    assert records[-1].exploitability < 0.1 * start
    # Investing never lowers quality, so the mean quality of the flow never falls.
    quality = records[-1].mu.mean(axis=0) @ np.arange(10)
    assert (np.diff(quality) >= -1e-12).all()
