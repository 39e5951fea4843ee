"""The PettingZoo adapter: pettingzoo's own API and seed tests on every markov game, plus
agreement with the batched rules it wraps."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import popgames
from popgames.kinds.markov import pettingzoo as pettingzoo_env
from popgames.kinds.markov.pettingzoo import to_parallel_env

pettingzoo_test = pytest.importorskip("pettingzoo.test")
from pettingzoo.utils.conversions import parallel_to_aec  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
GAMES = ("trust_split", "iterated_prisoners_dilemma", "coin_game", "commons")


def load(name: str):
    return popgames.load_game(REPO / "games" / name)


@pytest.mark.parametrize("name", GAMES)
def test_pettingzoo_api_and_seed_tests(name):
    game = load(name)
    with warnings.catch_warnings():
        # pettingzoo warns about unbounded Boxes and all-zero first observations; neither is an error
        warnings.simplefilter("ignore")
        pettingzoo_test.parallel_api_test(to_parallel_env(game, seed=0), num_cycles=200)
        pettingzoo_test.parallel_seed_test(lambda: to_parallel_env(game))
        pettingzoo_test.seed_test(lambda: parallel_to_aec(to_parallel_env(game)))
        pettingzoo_test.api_test(parallel_to_aec(to_parallel_env(game, seed=1)), num_cycles=200)


def episode(env, seed: int | None, action_seed: int = 0) -> list:
    """Play random legal actions to the end; every step's (obs, rewards, terminations)."""
    rng = np.random.default_rng(action_seed)
    obs, infos = env.reset(seed=seed)
    steps = [(obs, None, None)]
    while env.agents:
        actions = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        steps.append((obs, rewards, terms))
    return steps


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        all(np.array_equal(x[0][k], y[0][k]) for k in x[0]) and x[1] == y[1] for x, y in zip(a, b))


@pytest.mark.parametrize("name", GAMES)
def test_episode_shape_and_agents(name):
    game = load(name)
    env = to_parallel_env(game, seed=0)
    agents = [f"player_{i}" for i in range(game.n_players)]
    assert env.possible_agents == agents and env.metadata["name"] == game.name
    steps = episode(env, seed=0)
    assert len(steps) == game.rules.horizon + 1 and env.agents == []
    assert all(not any(t.values()) for _, _, t in steps[1:-1]) and all(steps[-1][2].values())
    for a in agents:
        space = env.observation_space(a)
        assert space is env.observation_space(a) and space.shape == (game.rules.obs_dim,)
        assert all(space.contains(obs[a]) for obs, _, _ in steps)
        assert env.action_space(a).n == game.rules.n_actions


@pytest.mark.parametrize("name", ["trust_split", "coin_game"])
def test_seeds_decide_the_episode(name):
    game = load(name)
    env = to_parallel_env(game)
    first, again, other = episode(env, seed=5), episode(env, seed=5), episode(env, seed=6)
    assert same(first, again) and not same(first, other)
    # the constructor's seed serves the first reset that names none
    assert same(episode(to_parallel_env(game, seed=5), seed=None), first)


@pytest.mark.parametrize("name", GAMES)
def test_matches_the_batched_rules(name):
    """The adapter at seed s is the batch-1 rules driven by torch.Generator().manual_seed(s)."""
    game = load(name)
    r = game.rules
    env = to_parallel_env(game)
    obs, infos = env.reset(seed=3)
    gen = torch.Generator().manual_seed(3)
    state = r.reset(1, gen)
    rng = np.random.default_rng(1)
    while env.agents:
        np.testing.assert_array_equal(np.stack([obs[a] for a in env.possible_agents]),
                                      r.observe(state)[0].numpy())
        legal = r.legal(state)[0].numpy()
        for i, a in enumerate(env.possible_agents):
            np.testing.assert_array_equal(infos[a]["action_mask"], legal[i].astype(np.int8))
        actions = [int(rng.choice(np.flatnonzero(legal[i]))) for i in range(r.n_players)]
        obs, rewards, _, _, infos = env.step(dict(zip(env.possible_agents, actions)))
        state, expected, _ = r.step(state, torch.tensor([actions]), gen)
        assert [rewards[a] for a in env.possible_agents] == pytest.approx(expected[0].tolist())


def test_no_global_rng_and_clear_errors():
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    env = to_parallel_env(load("trust_split"))
    episode(env, seed=None)  # fresh OS entropy
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    obs, infos = env.reset(seed=0)
    mover = next(a for a in env.agents if infos[a]["action_mask"].sum() > 1)
    idle = next(a for a in env.agents if infos[a]["action_mask"].sum() == 1)
    with pytest.raises(ValueError, match=mover):
        env.step({idle: 0})  # the speaker must choose; the idle player may stay silent
    with pytest.raises(ValueError, match="outside Discrete"):
        env.step({mover: 11, idle: 0})
    env.step({mover: 0})
    while env.agents:
        env.step({a: 0 for a in env.agents})
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    assert env.state().shape == (2 * env.rules.obs_dim,)


def test_missing_pettingzoo_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    pettingzoo_env.parallel_env_class.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'popgames\[pettingzoo\]'"):
            to_parallel_env(load("commons"))
    finally:
        pettingzoo_env.parallel_env_class.cache_clear()
