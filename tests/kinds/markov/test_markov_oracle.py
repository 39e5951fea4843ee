"""The PSRO adapter for Markov games: simulated entries with variances, checkpoint arrays,
per-iteration game metrics."""

from dataclasses import astuple

import numpy as np
import pytest

import popgames
from popgames.core.empirical_game import EmpiricalGame
from popgames.kinds.markov.oracle import MarkovOracle


@pytest.fixture(scope="module")
def oracle():
    game = popgames.load_game("games/trust_split")
    return MarkovOracle(game, seed=0, options={"eval_episodes": 512, "num_envs": 64, "updates": 2})


def test_simulated_entries_match_known_values(oracle):
    refs = oracle.references
    pop = [[refs["greedy"], refs["welfare"]], [refs["greedy"], refs["welfare"]]]
    meta = EmpiricalGame.empty(2)
    meta.grow([2, 2], lambda profiles: oracle.evaluate(pop, profiles))
    se = meta.standard_errors()
    # greedy vs greedy: both claim 10, 5 coins each a round, worth 10 or 1: 275 expected.
    assert abs(meta.payoffs[0, 0, 0] - 275) < 5 * se[0, 0, 0]
    # welfare vs welfare: honest tokens, the loser concedes: every coin goes to the winner,
    # 100 welfare a round, 1000 over 10 rounds, split evenly in expectation.
    assert meta.payoffs[:, 1, 1].sum() == pytest.approx(1000)
    assert meta.counts.min() == 512 and (meta.variances >= 0).all()
    # Same seed, same entries; only new entries are simulated when the population grows.
    again = EmpiricalGame.empty(2)
    again.grow([1, 1], lambda profiles: oracle.evaluate(pop, profiles))
    again.grow([2, 2], lambda profiles: oracle.evaluate(pop, profiles))
    assert np.array_equal(again.payoffs, meta.payoffs)
    assert np.array_equal(again.variances, meta.variances)


def test_population_round_trips_through_arrays(oracle):
    refs = oracle.references
    response = oracle.best_response([[refs["greedy"]], [refs["greedy"]]], 0, np.array([1.0]))
    policy, value = response.policy, response.value
    assert np.isfinite(value)
    pop = [refs["welfare"], policy]
    back = oracle.load(0, oracle.save(0, pop))
    assert back[0] is refs["welfare"]
    for a, b in zip(policy.parameters(), back[1].parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_iteration_metrics_against_references(oracle):
    refs = oracle.references
    pop = [[refs["welfare"]], [refs["welfare"]]]
    out = oracle.iteration_metrics(pop, np.ones((1, 1)), 0)
    assert out["split_efficiency"] == pytest.approx(1.0)
    assert out["claim_when_losing"] == 0 and out["claim_when_winning"] == 10
    # A greedy opponent against an honest conceder: it wins every coin when it has the high
    # hand and half of them otherwise, so it extracts more than the welfare policy keeps.
    assert out["greedy_extracts"] > out["vs_greedy"]


def test_entry_tasks_give_the_same_numbers_in_worker_processes():
    # Entries are plain-data tasks: run by joblib workers they must give exactly the
    # numbers the in-process path gives (same card, policies as arrays, same seed).
    game = popgames.load_game("games/trust_split")
    serial = MarkovOracle(game, seed=3, options={"eval_episodes": 32})
    parallel = MarkovOracle(game, seed=3, options={"eval_episodes": 32, "eval_jobs": 2})
    refs = serial.references
    pop = [[refs["greedy"], refs["tit_for_tat"]], [refs["welfare"], refs["uniform"]]]
    profiles = [(0, 0), (0, 1), (1, 0), (1, 1)]
    for a, b in zip(astuple(serial.evaluate(pop, profiles)), astuple(parallel.evaluate(pop, profiles))):
        assert np.array_equal(a, b)


def test_best_responses_train_as_tasks_with_the_same_numbers_in_worker_processes():
    # Both players' responses of one iteration are plain-data tasks (best_response_task.py):
    # trained in two loky workers at once, they are bit for bit the in-process ones.
    from popgames.core.parallel import Backend, use_backend
    from popgames.kinds.markov.policies import to_arrays

    game = popgames.load_game("games/iterated_prisoners_dilemma")
    oracle = MarkovOracle(game, seed=5, options={"eval_episodes": 64, "num_envs": 32, "updates": 2,
                                                 "warm_start": True})
    refs = oracle.references
    pop = [[refs["tit_for_tat"], refs["uniform"]], [refs["always_defect"], refs["pavlov"]]]
    requests = [(0, np.array([0.25, 0.75])), (1, np.array([0.5, 0.5]))]
    here = oracle.best_responses(pop, requests)
    with use_backend(Backend("loky", workers=2)):
        there = oracle.best_responses(pop, requests)
    for a, b in zip(here, there):
        timing = {"train_seconds", "steps_per_second"}
        assert a.value == b.value and {k: v for k, v in a.stats.items() if k not in timing} == \
            {k: v for k, v in b.stats.items() if k not in timing}
        left, right = to_arrays(a.policy, "p"), to_arrays(b.policy, "p")
        assert left.keys() == right.keys() and all(np.array_equal(left[k], right[k]) for k in left)
    # The single-player path is the same task: the same response.
    alone = oracle.best_response(pop, 1, np.array([0.5, 0.5]))
    assert alone.value == here[1].value
