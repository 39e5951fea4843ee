"""PPO oracle: advantage estimators against brute force, learning a known best response,
determinism, options and device errors."""

import pytest
import torch

import popgames
from popgames.core.errors import GameCardError
from popgames.kinds.markov.evaluation import torch_threads
from popgames.kinds.markov.ppo import (SELF, PpoConfig, _advantages, aligned_advantage, resolve_device, train,
                                       with_self_play)


def test_gae_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    T, B = 7, 3
    r, v = torch.randn(T, B, 1, generator=g), torch.randn(T, B, 1, generator=g)
    gamma, lam = 0.9, 0.8
    adv = _advantages(r, v, gamma, lam)
    for t in range(T):
        expect = torch.zeros(B, 1)
        for k in range(t, T):
            nxt = v[k + 1] if k + 1 < T else torch.zeros(B, 1)
            expect += (gamma * lam) ** (k - t) * (r[k] + gamma * nxt - v[k])
        assert torch.allclose(adv[t], expect, atol=1e-5)


def test_advantage_alignment_formula():
    # A*_t = A1_t + beta*gamma*(sum_{k<t} gamma^(t-k) A1_k)*A2_t (Duque et al. 2025), on
    # unit-variance advantages.
    g = torch.Generator().manual_seed(1)
    a1, a2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    gamma, beta = 0.95, 0.7
    out = aligned_advantage(a1, a2, gamma, beta)
    n1, n2 = a1 / (a1.std() + 1e-8), a2 / (a2.std() + 1e-8)
    for t in range(6):
        past = sum(gamma ** (t - k) * n1[k] for k in range(t)) if t else torch.zeros(4)
        assert torch.allclose(out[t], n1[t] + beta * gamma * past * n2[t], atol=1e-5)


@pytest.fixture(scope="module")
def trust_split():
    return popgames.load_game("games/trust_split")


def test_learns_best_response_to_greedy(trust_split):
    # Against an opponent that always claims all 10 coins the best reply is to claim 10 as
    # well (q = 10x/(x+10) grows with x): 5 coins a round, worth 10 or 1 with equal chance,
    # 27.5 a round, 275 over 10 rounds. A uniformly random policy gets about 170.
    greedy = trust_split.reference_policies()["greedy"]
    config = PpoConfig(num_envs=256, updates=25, lr=3e-3)
    with torch_threads(1):
        net, stats = train(trust_split.rules, {0: [(1.0, [None, greedy])]}, config,
                           torch.Generator().manual_seed(0))
    assert stats["final_train_return"] > 255
    assert stats["env_steps"] == 256 * 25 * trust_split.rules.horizon


def test_same_seed_same_network(trust_split):
    config = PpoConfig(num_envs=64, updates=2, epochs=1)
    mix = {0: [(0.5, [None, SELF])], 1: [(0.5, [SELF, None])]}
    nets = [train(trust_split.rules, mix, config, torch.Generator().manual_seed(3))[0] for _ in range(2)]
    other = train(trust_split.rules, mix, config, torch.Generator().manual_seed(4))[0]
    for a, b, c in zip(nets[0].parameters(), nets[1].parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, c) for a, c in zip(nets[0].parameters(), other.parameters()))


def test_alignment_adds_a_value_head(trust_split):
    config = PpoConfig(num_envs=32, updates=1, epochs=1, advantage_alignment=True)
    greedy = trust_split.reference_policies()["greedy"]
    net, _ = train(trust_split.rules, {1: [(1.0, [greedy, None])]}, config, torch.Generator().manual_seed(0))
    assert net.critic.out_features == 2


@pytest.mark.parametrize("options, field", [({"lr": "fast"}, "oracle.lr"), ({"nope": 1}, "oracle.nope"),
                                            ({"num_envs": 2.5}, "oracle.num_envs"),
                                            ({"advantage_alignment": 1}, "oracle.advantage_alignment"),
                                            ({"self_play": 1.0}, "oracle.self_play")])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(GameCardError, match=field.replace(".", r"\.")):
        PpoConfig.from_options(options, "games/x/game.toml")


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
        return
    with pytest.raises(GameCardError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device(None).type == "cpu"


def test_self_play_takes_its_share_of_each_seats_episodes():
    a, b = object(), object()
    mix = {0: [(0.25, [None, a]), (0.75, [None, b])], 1: [(1.0, [a, None])]}
    assert with_self_play(mix, 0.0, 2) == mix
    mixed = with_self_play(mix, 0.4, 2)
    assert mixed[0] == [(0.25 * 0.6, [None, a]), (0.75 * 0.6, [None, b]), (1.0 * 0.4, [None, SELF])]
    assert mixed[1] == [(0.6, [a, None]), (0.4, [SELF, None])]
    assert with_self_play({0: [(1.0, [None, a, b])]}, 0.5, 3)[0][-1] == (0.5, [None, SELF, SELF])
