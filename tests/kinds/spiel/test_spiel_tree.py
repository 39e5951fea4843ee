"""The flattened OpenSpiel tree and its exact algorithms, against OpenSpiel on the same input.

Oracles: OpenSpiel's C++ ``expected_returns`` / ``TabularBestResponse`` and its Python
``policy_value`` / ``BestResponsePolicy`` / ``exploitability.nash_conv`` /
``PolicyAggregator`` on the same policies; a reference value (Kuhn poker's
equilibrium value -1/18, Kuhn 1950); and internal identities (Kuhn's theorem,
a naive per-node reach product, batched = looped).
"""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms import best_response as os_br
from open_spiel.python.algorithms import expected_game_score, exploitability, policy_aggregator

from popgames.core.errors import GameCardError
from popgames.kinds.spiel.best_response import (best_response, best_response_to_reach,
                                          lexicographic_best_response, mixture_policy, nash_conv,
                                          nash_conv_from_reach, tremble_reach)
from popgames.kinds.spiel.game import SpielGame, to_tabular_policy
from popgames.kinds.spiel.policies import expected_returns, expected_returns_many, random_policy, reach_probabilities, terminal_reach, uniform_policy
from popgames.kinds.spiel.tree import CHANCE, DECISION, TERMINAL, build_tree

TOL = 1e-9
GOOFSPIEL = ("goofspiel", {"num_cards": 4, "imp_info": True, "points_order": "descending"})
GAMES = {
    "kuhn": ("kuhn_poker", {}),
    "leduc": ("leduc_poker", {}),
    "kuhn3": ("kuhn_poker", {"players": 3}),
    "goofspiel4": GOOFSPIEL,
    "liars_dice1": ("liars_dice", {"numdice": 1}),
}
# OpenSpiel's pure-Python tree walks take seconds on liar's dice: C++ oracles only there.
PYTHON_ORACLE = {"kuhn", "leduc", "kuhn3", "goofspiel4"}
SIZES = {"kuhn": (58, 12), "leduc": (9457, 936), "kuhn3": (617, 48), "liars_dice1": (294883, 24576)}


@pytest.fixture(scope="module", params=list(GAMES))
def case(request):
    name, params = GAMES[request.param]
    return request.param, _game(name, params)


_CACHE: dict = {}


def _game(name, params):
    key = (name, tuple(sorted(params.items())))
    if key not in _CACHE:
        _CACHE[key] = SpielGame(name, params)
    return _CACHE[key]


def _policies(tree):
    rng = np.random.default_rng(20240601)
    return {"uniform": uniform_policy(tree), "dirichlet": random_policy(tree, rng, 0.7)}


def _cpp(sg, rows):
    return os_policy.python_policy_to_pyspiel_policy(sg.to_tabular_policy(rows))


_CPP_BR: dict = {}


def _cpp_best_response_values(key, kind, sg, rows):
    """OpenSpiel C++ best-response values per player (cached: seconds on liar's dice)."""
    if (key, kind) not in _CPP_BR:
        cpp_policy, root = _cpp(sg, rows), sg.game.new_initial_state().history_str()
        _CPP_BR[key, kind] = [pyspiel.TabularBestResponse(sg.game, p, cpp_policy).value(root)
                              for p in range(sg.n_players)]
    return _CPP_BR[key, kind]


def test_tree_shape(case):
    key, sg = case
    tree = sg.tree
    if key in SIZES:
        assert (tree.n_nodes, tree.n_infostates) == SIZES[key]
    # Breadth-first: parents come before children and depth levels are contiguous.
    assert (tree.parent[1:] < np.arange(1, tree.n_nodes)).all()
    assert (np.diff(tree.depth_offsets) > 0).all() and tree.depth_offsets[-1] == tree.n_nodes
    dec = tree.kind == DECISION
    assert (tree.infoset[dec] >= 0).all() and (tree.infoset[~dec] == -1).all()
    assert (tree.info_player[tree.infoset[dec]] == tree.player[dec]).all()
    assert np.all(tree.legal.any(axis=1))
    # Chance edges carry the outcome probabilities, which sum to one per chance node.
    chance_children = tree.kind[tree.parent[1:]] == CHANCE
    sums = np.bincount(tree.parent[1:][chance_children], tree.edge_prob[1:][chance_children],
                       minlength=tree.n_nodes)
    np.testing.assert_allclose(sums[tree.kind == CHANCE], 1.0, atol=1e-12)
    assert (tree.kind[tree.terminals] == TERMINAL).all()
    for i in range(0, tree.n_infostates, max(1, tree.n_infostates // 50)):
        assert tree.info_index[tree.info_strings[i]] == i


@pytest.mark.parametrize("kind", ["uniform", "dirichlet"])
def test_expected_returns_match_openspiel(case, kind):
    key, sg = case
    rows = _policies(sg.tree)[kind]
    ours = expected_returns(sg.tree, rows)
    cpp = pyspiel.expected_returns(sg.game.new_initial_state(), _cpp(sg, rows), -1, True)
    np.testing.assert_allclose(ours, cpp, rtol=0, atol=TOL)
    if key in PYTHON_ORACLE:
        tab = sg.to_tabular_policy(rows)
        py = expected_game_score.policy_value(sg.game.new_initial_state(), [tab] * sg.n_players)
        np.testing.assert_allclose(ours, py, rtol=0, atol=TOL)


@pytest.mark.parametrize("kind", ["uniform", "dirichlet"])
def test_best_response_matches_openspiel(case, kind):
    key, sg = case
    if key not in PYTHON_ORACLE and kind == "uniform":
        pytest.skip("OpenSpiel's C++ best response takes seconds here: one policy suffices")
    tree = sg.tree
    rows = _policies(tree)[kind]
    cpp = _cpp_best_response_values(key, kind, sg, rows)
    root = sg.game.new_initial_state()
    for p in range(tree.n_players):
        br_rows, value = best_response(tree, p, rows)
        assert value == pytest.approx(cpp[p], abs=TOL)
        if key in PYTHON_ORACLE:
            py = os_br.BestResponsePolicy(sg.game, p, sg.to_tabular_policy(rows)).value(root)
            assert value == pytest.approx(py, abs=TOL)
        # The returned rows are a legal pure policy that achieves the value.
        assert set(np.unique(br_rows)) <= {0.0, 1.0}
        assert (br_rows.sum(axis=1) == 1).all()
        assert not (br_rows * ~tree.legal[tree.info_slice(p)]).any()
        joint = rows.copy()
        joint[tree.info_slice(p)] = br_rows
        assert expected_returns(tree, joint)[p] == pytest.approx(value, abs=TOL)


def test_best_response_beats_random_deviations(case):
    _, sg = case
    tree = sg.tree
    rng = np.random.default_rng(7)
    rows = random_policy(tree, rng)
    for p in range(tree.n_players):
        _, value = best_response(tree, p, rows)
        for _ in range(5):
            joint = rows.copy()
            joint[tree.info_slice(p)] = random_policy(tree, rng, 0.3)[tree.info_slice(p)]
            assert expected_returns(tree, joint)[p] <= value + TOL


def test_best_response_ties_go_to_lowest_action():
    # Player 0 never bets in Kuhn poker, so player 1's infostates after a bet are
    # unreachable (all values 0): the best response must pick action 0 there.
    tree = _game("kuhn_poker", {}).tree
    rows = uniform_policy(tree)
    rows[tree.info_slice(0)] = [1.0, 0.0]
    br_rows, _ = best_response(tree, 1, rows)
    after_bet = [tree.info_index[s] - tree.info_start[1] for s in ("0b", "1b", "2b")]
    np.testing.assert_array_equal(br_rows[after_bet], [[1.0, 0.0]] * 3)


@pytest.mark.parametrize("key", ["kuhn", "leduc", "kuhn3", "goofspiel4"])
def test_tremble_reach_is_the_reach_of_the_trembling_policy(key):
    # Exact polynomial identity: sum_l coeff_l eps^l is the reach of (1 - eps) pi + eps uniform.
    tree = _game(*GAMES[key]).tree
    rng = np.random.default_rng(4)
    for p in range(tree.n_players):
        rows = random_policy(tree, rng, 0.5)[tree.info_slice(p)]
        pure = best_response(tree, p, uniform_policy(tree))[0]
        full = int(tree.info_level[tree.info_slice(p)].max()) + 1   # most own decisions on a path
        for pol in (rows, pure):
            coeffs = tremble_reach(tree, p, pol, full)
            np.testing.assert_array_equal(coeffs[0], terminal_reach(tree, p, pol))
            for eps in (0.37, 1e-3):
                trembling = (1 - eps) * pol + eps * uniform_policy(tree)[tree.info_slice(p)]
                np.testing.assert_allclose(eps ** np.arange(full + 1) @ coeffs,
                                           terminal_reach(tree, p, trembling), rtol=0, atol=1e-13)
        batched = tremble_reach(tree, p, np.stack([rows, pure]), 2)
        np.testing.assert_array_equal(batched[1], tremble_reach(tree, p, pure, 2))


@pytest.mark.parametrize("key", ["kuhn", "leduc"])
def test_tremble_best_response_is_openspiels_best_response_to_the_trembling_opponent(key):
    """The lexicographic best response is an exact best response to the opponent, and
    also to the opponent trembling with small eps (OpenSpiel's C++ best response to that
    policy is the oracle); the lowest-index rule is not, where the opponent leaves
    infostates unreached."""
    sg = _game(*GAMES[key])
    tree, uniform = sg.tree, uniform_policy(sg.tree)
    root = sg.game.new_initial_state().history_str()
    lowest_loses = []
    for p in range(2):
        q = 1 - p
        opp = best_response(tree, q, uniform)[0]   # pure: many of p's infostates unreached
        levels = tremble_reach(tree, q, opp, int(tree.info_level[tree.info_slice(q)].max()) + 1)
        rows, value = lexicographic_best_response(tree, p, levels)
        lowest, lowest_value = lexicographic_best_response(tree, p, levels[:1])
        assert value == pytest.approx(lowest_value, abs=1e-12)   # both exact best responses
        for eps in (1e-3, 1e-5):
            trembling = uniform.copy()
            trembling[tree.info_slice(q)] = (1 - eps) * opp + eps * uniform[tree.info_slice(q)]
            cpp = _cpp(sg, trembling)
            ref = pyspiel.TabularBestResponse(sg.game, p, cpp).value(root)
            joint = trembling.copy()
            joint[tree.info_slice(p)] = rows
            assert expected_returns(tree, joint)[p] == pytest.approx(ref, abs=1e-12)
            joint[tree.info_slice(p)] = lowest
            lowest_loses.append(ref - expected_returns(tree, joint)[p])
    assert max(lowest_loses) > 1e-7


@pytest.mark.parametrize("kind", ["uniform", "dirichlet"])
def test_nash_conv_matches_openspiel(case, kind):
    key, sg = case
    rows = _policies(sg.tree)[kind]
    total, gains = nash_conv(sg.tree, rows)
    if key in PYTHON_ORACLE:
        ref = exploitability.nash_conv(sg.game, sg.to_tabular_policy(rows),
                                       return_only_nash_conv=False)
        ref_total, ref_gains = ref.nash_conv, ref.player_improvements
    else:   # exploitability.nash_conv walks the tree in Python: assemble it from C++ parts
        if kind == "uniform":
            pytest.skip("OpenSpiel's C++ best response takes seconds here: one policy suffices")
        values = pyspiel.expected_returns(sg.game.new_initial_state(), _cpp(sg, rows), -1, True)
        ref_gains = np.subtract(_cpp_best_response_values(key, kind, sg, rows), values)
        ref_total = ref_gains.sum()
    assert total == pytest.approx(ref_total, abs=TOL)
    np.testing.assert_allclose(gains, ref_gains, rtol=0, atol=TOL)


@pytest.mark.parametrize("key", ["kuhn", "leduc", "kuhn3", "goofspiel4"])
def test_mixture_policy_matches_policy_aggregator(key):
    sg = _game(*GAMES[key])
    tree, n = sg.tree, sg.n_players
    rng = np.random.default_rng(11)
    pops = np.stack([random_policy(tree, rng) for _ in range(3)])
    weights = [rng.dirichlet(np.ones(3)) for _ in range(n)]
    mix = np.concatenate([mixture_policy(tree, pops, weights[p], p) for p in range(n)])
    tabs = [sg.to_tabular_policy(r) for r in pops]
    agg = policy_aggregator.PolicyAggregator(sg.game).aggregate(
        list(range(n)), [tabs] * n, [list(w) for w in weights])
    np.testing.assert_allclose(mix, sg.from_tabular_policy(agg), rtol=0, atol=TOL)
    ref = exploitability.nash_conv(sg.game, agg)
    assert nash_conv(tree, mix)[0] == pytest.approx(ref, abs=TOL)
    # Kuhn's theorem, checked by reach: the mixture's realisation weights at the
    # terminals are the weighted sums of the population's, so NashConv agrees too.
    reaches = [weights[p] @ terminal_reach(tree, p, pops) for p in range(n)]
    np.testing.assert_allclose([terminal_reach(tree, p, mix) for p in range(n)], reaches,
                               rtol=0, atol=1e-12)
    assert nash_conv_from_reach(tree, reaches)[0] == pytest.approx(ref, abs=TOL)
    for p in range(n):
        assert best_response_to_reach(tree, p, reaches)[1] == pytest.approx(
            best_response(tree, p, mix)[1], abs=TOL)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), concentration=st.floats(0.05, 5.0),
       key=st.sampled_from(["kuhn", "leduc", "kuhn3"]))
def test_mixture_value_is_linear_in_weights(seed, concentration, key):
    # Kuhn's theorem: against fixed opponents, the mixture's value is the weighted
    # average of the components' values; and best responses are never worse than it.
    tree = _game(*GAMES[key]).tree
    rng = np.random.default_rng(seed)
    base = random_policy(tree, rng, concentration)
    pops = np.stack([random_policy(tree, rng, concentration) for _ in range(3)])
    weights = rng.dirichlet(np.ones(3))
    for p in range(tree.n_players):
        joint = base.copy()
        joint[tree.info_slice(p)] = mixture_policy(tree, pops, weights, p)
        parts = []
        for k in range(3):
            other = base.copy()
            other[tree.info_slice(p)] = pops[k][tree.info_slice(p)]
            parts.append(expected_returns(tree, other))
        np.testing.assert_allclose(expected_returns(tree, joint), weights @ np.array(parts),
                                   rtol=0, atol=1e-12)
        assert best_response(tree, p, joint)[1] >= expected_returns(tree, joint)[p] - 1e-12
    total, gains = nash_conv(tree, base)
    assert total == pytest.approx(gains.sum()) and np.all(gains >= -1e-12)


def test_mixture_of_one_policy_is_that_policy():
    tree = _game("leduc_poker", {}).tree
    rows = random_policy(tree, np.random.default_rng(3))
    for p in range(2):
        np.testing.assert_allclose(mixture_policy(tree, rows[None], [1.0], p),
                                   rows[tree.info_slice(p)], rtol=0, atol=1e-15)


@pytest.mark.parametrize("key", ["kuhn", "leduc", "kuhn3", "goofspiel4"])
def test_expected_returns_many_equals_loop(key):
    tree = _game(*GAMES[key]).tree
    n = tree.n_players
    rng = np.random.default_rng(5)
    sizes = [3, 4, 2][:n]
    pops = [np.stack([random_policy(tree, rng) for _ in range(k)]) for k in sizes]
    reaches = [terminal_reach(tree, p, pops[p]) for p in range(n)]
    table = expected_returns_many(tree, reaches)
    assert table.shape == (n, *sizes)
    profiles = np.array(list(np.ndindex(*sizes)))
    flat = expected_returns_many(tree, reaches, profiles)
    for m, prof in enumerate(profiles):
        joint = np.concatenate([pops[p][k][tree.info_slice(p)] for p, k in enumerate(prof)])
        ref = expected_returns(tree, joint)
        np.testing.assert_allclose(flat[m], ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(table[(slice(None), *prof)], ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("key", ["kuhn", "kuhn3", "goofspiel4"])
def test_reach_probabilities_equal_naive_path_products(key):
    tree = _game(*GAMES[key]).tree
    rows = random_policy(tree, np.random.default_rng(9))
    split = reach_probabilities(tree, rows)
    naive = np.ones((tree.n_players + 1, tree.n_nodes))
    for node in range(1, tree.n_nodes):   # parents first: walk up one edge at a time
        par = tree.parent[node]
        naive[:, node] = naive[:, par]
        if tree.kind[par] == CHANCE:
            naive[-1, node] *= tree.edge_prob[node]
        else:
            naive[tree.player[par], node] *= rows[tree.infoset[par], tree.action[node]]
    np.testing.assert_allclose(split, naive, rtol=0, atol=1e-14)
    value = split[:, tree.terminals].prod(axis=0) @ tree.returns
    np.testing.assert_allclose(value, expected_returns(tree, rows), rtol=0, atol=1e-12)


def test_tabular_round_trip(case):
    _, sg = case
    tree = sg.tree
    rows = _policies(tree)["dirichlet"]
    np.testing.assert_array_equal(sg.from_tabular_policy(sg.to_tabular_policy(rows)), rows)
    if tree.n_infostates < 5000:   # OpenSpiel's own layout (its enumeration is slow on big games)
        native = os_policy.TabularPolicy(sg.game)
        filled = to_tabular_policy(tree, rows, native)
        np.testing.assert_array_equal(sg.from_tabular_policy(filled), rows)
        np.testing.assert_array_equal(native.action_probability_array,
                                      os_policy.TabularPolicy(sg.game).action_probability_array)
        uniform = os_policy.UniformRandomPolicy(sg.game)   # a non-tabular policy
        np.testing.assert_allclose(sg.from_tabular_policy(uniform), uniform_policy(tree),
                                   atol=1e-15)


def test_kuhn_equilibrium_value():
    # Kuhn (1950), "A simplified two-person poker": the game value for the first
    # player is -1/18. Equilibrium with alpha = 0 (cards 0=J, 1=Q, 2=K; action 0 = pass/fold,
    # 1 = bet/call): P0 always checks, calls a bet with Q w.p. 1/3 and K always;
    # P1 bets J w.p. 1/3 and K after a check, calls with Q w.p. 1/3 and K.
    sg = _game("kuhn_poker", {})
    bet = {"0": 0, "1": 0, "2": 0, "0pb": 0, "1pb": 1 / 3, "2pb": 1,
           "0p": 1 / 3, "1p": 0, "2p": 1, "0b": 0, "1b": 1 / 3, "2b": 1}
    tab = os_policy.TabularPolicy(sg.game)
    for key, prob in bet.items():
        tab.action_probability_array[tab.state_lookup[key]] = [1 - prob, prob]
    rows = sg.from_tabular_policy(tab)
    value = expected_returns(sg.tree, rows)
    np.testing.assert_allclose(value, [-1 / 18, 1 / 18], rtol=0, atol=1e-12)
    total, gains = nash_conv(sg.tree, rows)
    assert abs(total) < 1e-12 and np.all(np.abs(gains) < 1e-12)
    # Perturbing it makes it exploitable.
    rows[sg.tree.info_index["1pb"]] = [0.5, 0.5]
    assert nash_conv(sg.tree, rows)[0] > 1e-3


def test_simultaneous_game_is_converted_and_bad_policy_rejected():
    raw = pyspiel.load_game(GOOFSPIEL[0], GOOFSPIEL[1])
    tree = build_tree(raw)
    assert tree.game.get_type().dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL
    assert tree.n_infostates == _game(*GOOFSPIEL).tree.n_infostates
    with pytest.raises(ValueError, match="policy shape"):
        expected_returns(tree, np.ones((3, tree.n_actions)))


@pytest.mark.parametrize("name", ["breakthrough", "mfg_crowd_modelling"])
def test_unsupported_games_are_rejected(name):
    # breakthrough has no information-state strings; the crowd model is mean-field.
    with pytest.raises(GameCardError, match="field 'game'"):
        build_tree(pyspiel.load_game(name))
