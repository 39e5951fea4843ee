"""Game kinds by name: every registered kind's oracles keep the Oracle protocol, and the card
or the flag chooses among them."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import popgames
from popgames.core.errors import PopgamesError, UnknownNameError
from popgames.core.protocols import Entries, Game, Kind, Oracle, OracleSettings, Response
from popgames.kinds.registry import KINDS, kind, kind_of, oracle_for

#: One shipped game per kind, and the oracle options that keep a learned oracle quick.
EXAMPLES = {"matrix": "stag_hunt", "team_matrix": "fxp_team_game", "openspiel": "kuhn_poker",
            "markov": "iterated_prisoners_dilemma", "mean_field": "crowd_modelling",
            "graphon": "sis_graphon", "openspiel_mfg": "crowd_modelling_2d"}
TINY = {"updates": 1, "num_envs": 16, "eval_episodes": 16, "epochs": 1, "hidden": 8}
#: What every Oracle must implement itself (the rest are capabilities with defaults).
REQUIRED = ("initial_policies", "evaluate", "best_response", "save", "load", "same")


def test_every_kind_has_an_example_and_a_record():
    assert set(EXAMPLES) == set(KINDS)
    for name in KINDS:
        record = kind(name)
        assert isinstance(record, Kind) and record.name == name
        assert record.default_oracle in record.oracles or (record.default_oracle is None
                                                           and not record.oracles)


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def game(request) -> Game:
    return popgames.load_game(EXAMPLES[request.param])


def test_loaded_games_declare_their_kind(game):
    assert isinstance(game, Game) and kind_of(game).name == game.kind
    assert game.source and game.name == EXAMPLES[game.kind]


def test_every_oracle_keeps_the_protocol(game):
    record = kind_of(game)
    options = {"meta_iterations": 5} if game.kind in ("mean_field", "openspiel_mfg") else \
        TINY if record.check_oracle_options is not None else {}
    for name, make in record.oracles.items():
        oracle = make(game, OracleSettings(seed=0, device="cpu", options=options))
        assert Oracle in type(oracle).__mro__, f"{game.kind}/{name} does not subclass Oracle"
        for method in REQUIRED:   # its own, not the protocol's empty body
            assert getattr(type(oracle), method) is not getattr(Oracle, method), (game.kind, name, method)
        assert isinstance(oracle.exact, bool) and isinstance(oracle.shares_parameters, bool)
        population = [list(oracle.initial_policies(i)) for i in range(oracle.n_players)]
        assert all(population) and oracle.n_players == game.n_players
        profiles = [tuple(0 for _ in population)]
        entries = oracle.evaluate(population, profiles)
        assert isinstance(entries, Entries) and entries.means.shape == (1, game.n_players)
        assert entries.sampled == (not oracle.exact)
        if oracle.solves_meta_game:   # mean-field PSRO: best responses answer its own meta-solution
            solution = oracle.solve_meta_game(population, "nash", {})
            assert np.isfinite(solution.gap) and len(solution.marginals) == oracle.n_players
            response = oracle.meta_best_responses(population, solution)[0]
        else:
            response = oracle.best_response(population, 0, np.ones((1,) * (oracle.n_players - 1)))
        assert isinstance(response, Response) and np.isfinite(response.value)
        assert bool(response.stats) or oracle.exact   # a learned response says what it cost
        arrays = oracle.save(0, population[0] + [response.policy])
        back = oracle.load(0, arrays)
        assert len(back) == len(population[0]) + 1
        assert oracle.same(back[0], population[0][0]) or not oracle.exact
        assert isinstance(oracle.iteration_metrics(population, np.ones((1,) * oracle.n_players), 0), dict)


def test_protocol_defaults_are_declared_not_probed():
    assert Oracle.exact is True and Oracle.shares_parameters is False
    assert "iteration_metrics" in vars(Oracle) and "shared_best_response" in vars(Oracle)
    # Every declared method has a docstring saying what it returns.
    for name in REQUIRED:
        assert inspect.getdoc(getattr(Oracle, name))


def test_the_card_and_the_flag_choose_the_oracle():
    ipd = popgames.load_game("iterated_prisoners_dilemma")
    assert ipd.psro["oracle"] == "ppo"
    with pytest.raises(PopgamesError, match=r"--oracle: markov games have no oracle 'tabular' \(choices: ppo, exact\)"):
        oracle_for(ipd, "tabular")
    assert oracle_for(ipd, "exact").exact
    with pytest.raises(PopgamesError, match="psro.oracle.*exact oracle needs rules"):
        oracle_for(popgames.load_game("trust_split"), "exact")   # chance it does not enumerate
    matrix = popgames.load_game("stag_hunt")
    with pytest.raises(PopgamesError, match=r"no oracle 'ppo' \(choices: exact\)"):
        oracle_for(matrix, "ppo")
    with pytest.raises(PopgamesError, match="takes no options"):
        oracle_for(matrix, None, OracleSettings(options={"updates": 2}))


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="known: graphon, markov, matrix, mean_field, openspiel, openspiel_mfg, team_matrix"):
        kind("mean_fields")
