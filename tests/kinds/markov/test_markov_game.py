"""The batched Markov game interface, checked on every shipped ``markov`` card.

Properties of the protocol (popgames/markov_game.py): shapes, dtypes and devices; legal
masks always offer an action; fixed horizon; seeded determinism with no global RNG;
rows of a batch are independent; reference policies act legally and round-trip through
arrays; episode metrics are per-episode tensors; card and rules-file errors name the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import popgames
from popgames.core.errors import GameCardError
from popgames.kinds.cards import checked_params
from popgames.kinds.markov.game import BatchedEnv, MarkovGame, sample_actions
from popgames.kinds.markov.policies import MlpPolicy, masked_probs, policy_from_arrays, to_arrays

REPO = Path(__file__).resolve().parents[3]
GAMES = ("trust_split", "iterated_prisoners_dilemma", "coin_game", "commons")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def load(name: str, device: str = "cpu") -> MarkovGame:
    game = popgames.load_game(REPO / "games" / name)
    return game if device == "cpu" else game.on_device(device)


def random_episode(game: MarkovGame, batch: int, seed: int) -> dict:
    """Uniform legal play, one generator for the env and the actions."""
    rules = game.rules
    gen = torch.Generator(device=rules.device).manual_seed(seed)
    env = game.env(batch, gen)
    obs, legal = env.reset()
    out = {"obs": [obs], "legal": [legal], "actions": [], "rewards": [], "done": []}
    for _ in range(rules.horizon):
        actions = torch.stack([sample_actions(legal[:, i].to(torch.float32), gen)
                               for i in range(rules.n_players)], 1)
        obs, legal, rewards, done = env.step(actions)
        for key, value in (("obs", obs), ("legal", legal), ("actions", actions), ("rewards", rewards),
                           ("done", done)):
            out[key].append(value)
    out["state"] = env.state
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", GAMES)
def test_shapes_masks_and_horizon(name, device):
    game = load(name, device)
    r = game.rules
    ep = random_episode(game, batch=33, seed=0)
    n, a = r.n_players, r.n_actions
    for obs, legal in zip(ep["obs"], ep["legal"]):
        assert obs.shape == (33, n, r.obs_dim) and obs.dtype == torch.float32
        assert obs.device.type == device and torch.isfinite(obs).all()
        low, high = getattr(r, "obs_bounds", (-np.inf, np.inf))
        assert (obs >= low).all() and (obs <= high).all()
        assert legal.shape == (33, n, a) and legal.dtype == torch.bool and legal.any(-1).all()
    for t, (rewards, done) in enumerate(zip(ep["rewards"], ep["done"])):
        assert rewards.shape == (33, n) and rewards.dtype == torch.float32
        assert done.shape == (33,) and done.dtype == torch.bool
        assert bool(done.all()) == (t == r.horizon - 1) and bool(done.any()) == (t == r.horizon - 1)
    for action, legal in zip(ep["actions"], ep["legal"]):
        assert legal.gather(2, action[..., None]).all()  # sample_actions never picks an illegal one
    metrics = game.episode_metrics(ep["state"])
    assert metrics
    for key, value in metrics.items():
        assert value.shape == (33,) and torch.isfinite(value).all(), key


@pytest.mark.parametrize("name", GAMES)
def test_same_seed_same_trajectory_other_seed_another(name):
    game = load(name)
    a, b, c = (random_episode(game, batch=8, seed=s) for s in (3, 3, 4))
    for key in ("obs", "rewards", "actions"):
        assert all(torch.equal(x, y) for x, y in zip(a[key], b[key]))
    assert not all(torch.equal(x, y) for x, y in zip(a["obs"], c["obs"]))


@pytest.mark.parametrize("name", GAMES)
def test_no_global_rng_is_touched(name):
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    game = load(name)
    random_episode(game, batch=4, seed=0)
    refs = game.reference_policies()
    refs["uniform"].probs(torch.zeros(2, game.rules.obs_dim), torch.ones(2, game.rules.n_actions, dtype=bool))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)


@pytest.mark.parametrize("name", GAMES)
def test_rows_of_a_batch_are_independent(name):
    """A row's observation, mask and reward do not depend on the rest of the batch or its size."""
    game = load(name)
    r = game.rules
    ep = random_episode(game, batch=6, seed=1)
    state = r.reset(6, torch.Generator().manual_seed(1))
    for actions in ep["actions"]:
        one = {k: v[4:5] for k, v in state.items()}
        torch.testing.assert_close(r.observe(one)[0], r.observe(state)[4])
        assert torch.equal(r.legal(one)[0], r.legal(state)[4])
        _, rewards_one, done_one = r.step(one, actions[4:5], torch.Generator().manual_seed(9))
        state, rewards, done = r.step(state, actions, torch.Generator().manual_seed(9))
        torch.testing.assert_close(rewards_one[0], rewards[4])
        assert bool(done_one[0]) == bool(done[4])
    # a batch of one runs a valid episode on its own
    single = random_episode(game, batch=1, seed=2)
    assert single["done"][-1].item() and single["obs"][-1].shape == (1, r.n_players, r.obs_dim)


@pytest.mark.parametrize("name", GAMES)
def test_reference_policies_act_legally_and_round_trip(name):
    game = load(name)
    r = game.rules
    refs = game.reference_policies()
    assert {"greedy", "welfare", "uniform"} <= set(refs)
    ep = random_episode(game, batch=16, seed=5)
    for key, policy in refs.items():
        assert policy.name == key or key in ("greedy", "welfare")
        for obs, legal in zip(ep["obs"], ep["legal"]):
            for i in range(r.n_players):
                p = policy.probs(obs[:, i], legal[:, i])
                assert p.shape == (16, r.n_actions)
                torch.testing.assert_close(p.sum(1), torch.ones(16))
                assert (p[~legal[:, i]] == 0).all()
        back = policy_from_arrays(to_arrays(policy, "p"), "p", refs, r.device)
        assert back is refs[policy.name]


def test_mlp_policy_masks_and_round_trips():
    game = load("trust_split")
    r = game.rules
    net = MlpPolicy(r.obs_dim, r.n_actions, hidden=16).init_weights(torch.Generator().manual_seed(0))
    again = MlpPolicy(r.obs_dim, r.n_actions, hidden=16).init_weights(torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip(net.parameters(), again.parameters()))
    ep = random_episode(game, batch=8, seed=0)
    obs, legal = ep["obs"][1][:, 0], ep["legal"][1][:, 0]
    p = net.probs(obs, legal)
    assert (p[~legal] == 0).all() and torch.allclose(p.sum(1), torch.ones(8))
    back = policy_from_arrays(to_arrays(net, "x"), "x", game.reference_policies(), r.device)
    torch.testing.assert_close(back.probs(obs, legal), p)
    logits = torch.tensor([[0.0, 0.0, 5.0]])
    torch.testing.assert_close(masked_probs(logits, torch.tensor([[True, True, False]])),
                               torch.tensor([[0.5, 0.5, 0.0]]))


def test_sample_actions_follows_the_probabilities():
    probs = torch.tensor([[0.2, 0.0, 0.8]]).expand(20000, 3)
    actions = sample_actions(probs, torch.Generator().manual_seed(0))
    freq = torch.bincount(actions, minlength=3) / 20000
    assert freq[1] == 0 and abs(freq[0] - 0.2) < 0.015


def test_env_needs_a_reset():
    env = BatchedEnv(load("coin_game").rules, 2, torch.Generator())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(2, 2, dtype=torch.long))


def test_rules_file_errors_name_the_field(tmp_path):
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "game.toml").write_text('kind = "markov"\nrules = "missing.py"\n')
    with pytest.raises(GameCardError, match="'rules'"):
        popgames.load_game(folder)
    (folder / "bad.py").write_text("PARAMS = {}\ndef make(params, device):\n    return None\n")
    (folder / "game.toml").write_text('kind = "markov"\nrules = "bad.py"\n')
    with pytest.raises(GameCardError, match="reference_policies"):
        popgames.load_game(folder)


def test_checked_params():
    module = load("commons").module
    assert checked_params(module, {"multiplier": 2}, "src")["multiplier"] == 2.0  # int for float
    for given, field in (({"rounds": True}, "params.rounds"), ({"rounds": 2.0}, "params.rounds"),
                         ({"players": 3}, "params.players"), ({"multiplier": "2"}, "params.multiplier"),
                         ({"multiplier": float("nan")}, "params.multiplier"),  # TOML has nan and inf
                         ({"multiplier": float("inf")}, "params.multiplier")):
        with pytest.raises(GameCardError, match=field):
            checked_params(module, given, "src")


@pytest.mark.parametrize("name", GAMES)
def test_on_device_rebuilds_the_rules(name):
    game = load(name)
    moved = game.on_device("cpu")
    assert moved.rules is not game.rules and moved.params == game.params
    assert moved.rules.device == torch.device("cpu") and moved.name == game.name
