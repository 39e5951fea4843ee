"""The N-agent check: finite populations playing a mean-field policy approach its value."""

from __future__ import annotations

import numpy as np
import pytest

import popgames
from popgames.kinds.mean_field.exact import uniform_policy
from popgames.kinds.mean_field.n_agent import n_agent_check
from popgames.meanfield import fictitious_play


@pytest.mark.parametrize("name, sizes, episodes", [("crowd_modelling", (10, 100, 1000), 200),
                                                   ("sis_graphon", (10, 100), 100)])
def test_the_gap_to_the_limit_shrinks_with_n(name, sizes, episodes):
    game = popgames.load_game(name)
    policy = list(fictitious_play(game, 20))[-1].policy
    checks = [n_agent_check(game, policy, n, episodes=episodes, seed=3) for n in sizes]
    means = [abs(c["mean_gap"]) for c in checks]
    assert all(a > b for a, b in zip(means, means[1:])), means
    for c in checks:
        low, high = c["interval"]
        assert low <= c["max_gap"] <= high and c["finite"].shape == (c["n"],)
    # The same seed gives the same numbers.
    again = n_agent_check(game, policy, sizes[0], episodes=episodes, seed=3)
    np.testing.assert_array_equal(again["finite"], checks[0]["finite"])


def test_graphon_agents_sit_on_the_grid_and_see_their_neighbours():
    game = popgames.load_game("sis_graphon")
    policy = list(fictitious_play(game, 5))[-1].policy
    check = n_agent_check(game, policy, 20, episodes=10, seed=0)
    np.testing.assert_allclose(check["alpha"], np.arange(20) / 20)
    uniform = n_agent_check(game, policy, 20, episodes=10, seed=0, placement="uniform")
    assert not np.allclose(uniform["alpha"], check["alpha"])


def test_checks_are_plain_data_tasks_that_run_anywhere_joblib_sends_them():
    import joblib

    from popgames.kinds.mean_field.n_agent import NAgentTask, n_agent_check, run_n_agent_checks

    game = popgames.load_game("sis_graphon")
    policy = uniform_policy(game.rules)
    tasks = [NAgentTask(str(game.source), policy, n, 20, 3) for n in (10, 20)]
    with joblib.parallel_config(backend="loky", n_jobs=2):   # other processes load the card themselves
        remote = run_n_agent_checks(tasks)
    for task, check in zip(tasks, remote):
        here = n_agent_check(game, policy, task.n, task.episodes, task.seed)
        assert check["max_gap"] == here["max_gap"] and np.array_equal(check["finite"], here["finite"])
