"""Trust-and-Split (TAS-RPS, Piche et al. 2025): claim rule, dominance, turn order, revelation.

Reference values come from the issue's statement of the game: 10 coins, the winning hand
values a coin at 10 and the losing one at 1, q_i = 10 x_i / max(10, x_1 + x_2),
r_i = q_i v_i, so both claiming everything gives 10*5 + 1*5 = 55 of the 100 a winner-takes-
all split gives.
"""

from __future__ import annotations

import importlib.util
import itertools

import pytest
import torch

from markov_helpers import REPO, card, load, play
from popgames.core.errors import GameCardError
from popgames.kinds.markov.game import sample_actions
from popgames.kinds.markov.policies import UniformPolicy

GAME = load("trust_split")
RULES = GAME.rules
L = RULES.layout


def claim_state(batch: int, seed: int = 0, hands: tuple[int, int] | None = None, rules=RULES) -> dict:
    """A state at the claim step of round 1 (two speaking steps with token 0 taken)."""
    gen = torch.Generator().manual_seed(seed)
    s = rules.reset(batch, gen)
    for _ in range(2):
        s, _, _ = rules.step(s, torch.zeros(batch, 2, dtype=torch.long), gen)
    if hands is not None:
        s["hands"] = torch.tensor([hands] * batch)
    return s


def test_card_and_dimensions():
    assert GAME.name == "trust_split" and GAME.n_players == 2
    assert RULES.n_actions == 11 and RULES.horizon == 30  # 11 claims; 10 rounds of 3 steps
    assert set(GAME.reference_policies()) >= {"greedy", "welfare", "tit_for_tat", "uniform"}


def test_both_claim_everything_gives_welfare_55():
    s = claim_state(64)
    _, rewards, _ = RULES.step(s, torch.full((64, 2), 10), torch.Generator())
    # hands always differ: one player values the 5 coins it gets at 10, the other at 1
    torch.testing.assert_close(rewards.sum(1), torch.full((64,), 55.0))
    assert set(rewards.flatten().tolist()) == {50.0, 5.0}


@pytest.mark.parametrize("hands", [(0, 1), (1, 0), (2, 0), (1, 2)])
def test_claim_rule_and_weak_dominance_exhaustive(hands):
    pairs = torch.tensor(list(itertools.product(range(11), repeat=2)))  # all (x_1, x_2)
    s = claim_state(len(pairs), hands=hands)
    _, rewards, _ = RULES.step(s, pairs, torch.Generator())
    values = RULES.values(s["hands"])
    x = pairs.to(torch.float32)
    q = 10 * x / torch.clamp(x.sum(1, keepdim=True), min=10)
    torch.testing.assert_close(rewards, q * values)
    # claiming 10 never does worse than any other claim, whatever the other claims
    table = rewards.view(11, 11, 2)  # [x_1, x_2, player]
    assert (table[10, :, 0][None, :] >= table[:, :, 0] - 1e-5).all()
    assert (table[:, 10, 1][:, None] >= table[:, :, 1] - 1e-5).all()
    # and the winner-takes-all split (winner 10, loser 0) reaches the 100 maximum
    winner = int(values[0, 1] > values[0, 0])
    split = [0, 0]
    split[winner] = 10
    assert table[split[0], split[1]].sum().item() == pytest.approx(100.0)


def test_claim_reference_values():
    s = claim_state(3, hands=(1, 0))  # paper beats rock: player 0 values coins at 10
    pairs = torch.tensor([[6, 6], [3, 4], [10, 0]])
    _, rewards, _ = RULES.step(s, pairs, torch.Generator())
    # 6+6 > 10: q = (5, 5); 3+4 < 10: q = (3, 4), three coins wasted; (10, 0): all to player 0
    torch.testing.assert_close(rewards, torch.tensor([[50.0, 5.0], [30.0, 4.0], [100.0, 0.0]]))


def test_hands_differ_and_the_winner_values_high():
    gen = torch.Generator().manual_seed(3)
    hands = RULES._deal(3000, gen)
    assert (hands[:, 0] != hands[:, 1]).all()
    counts = torch.bincount(hands[:, 0] * 3 + hands[:, 1], minlength=9)
    assert (counts[[0, 4, 8]] == 0).all() and (counts[[1, 2, 3, 5, 6, 7]] > 400).all()
    values = RULES.values(hands)
    paper_vs_rock = (hands[:, 0] == 1) & (hands[:, 1] == 0)
    assert (values[paper_vs_rock] == torch.tensor([10.0, 1.0])).all()
    assert ((values == 10).sum(1) == 1).all()


def test_speakers_alternate_and_only_the_mover_chooses():
    rec = play(GAME, [UniformPolicy(), UniformPolicy()], batch=32, seed=5)
    first = RULES.reset(32, torch.Generator().manual_seed(5))["first"]
    for t in range(RULES.horizon):
        legal = rec["legal"][t]
        rnd, phase = divmod(t, 3)
        if phase < 2:
            speaker = (first + rnd + phase) % 2  # first speaker alternates every round
            rows = torch.arange(32)
            assert (legal[rows, speaker].sum(1) == RULES.n_tokens).all()
            assert (legal[rows, 1 - speaker].sum(1) == 1).all() and legal[rows, 1 - speaker, 0].all()
        else:
            assert (legal.sum(2) == 11).all()
    assert rec["done"][-1].all() and not any(d.any() for d in rec["done"][:-1])


def test_a_lie_stays_hidden_until_the_next_round():
    rock = RULES.vocabulary.index("rock")
    s = claim_state(2, hands=(1, 2))  # player 0 holds paper, player 1 scissors
    s["msg"] = torch.tensor([[rock, RULES.n_tokens - 1]] * 2)  # player 0 claimed rock: a lie
    other = dict(s, hands=torch.tensor([[0, 2]] * 2))  # the same round with player 0 on rock
    obs, obs_other = RULES.observe(s), RULES.observe(other)
    # before the claims player 1 sees the claimed token but nothing of player 0's hand
    assert obs[0, 1, L["opp_msg"]].argmax() == rock
    torch.testing.assert_close(obs[:, 1], obs_other[:, 1])
    nxt, _, _ = RULES.step(s, torch.tensor([[7, 2]] * 2), torch.Generator().manual_seed(0))
    view = RULES.observe(nxt)[0, 1]
    assert view[L["past0_opp_hand"]].argmax() == 1  # the paper comes out
    assert view[L["past0_opp_msg"]].argmax() == rock  # next to the rock it claimed
    assert view[L["past0_opp_claim"]].item() == pytest.approx(0.7)
    assert view[L["past0_own_claim"]].item() == pytest.approx(0.2)
    assert view[L["past0_won"]].item() == 1.0  # scissors beat paper


def test_reference_policy_outcomes():
    refs = GAME.reference_policies()
    welfare = play(GAME, [refs["welfare"], refs["welfare"]], batch=64, seed=1)
    metrics = GAME.episode_metrics(welfare["state"])
    # honest talk then "winner claims all" realises the maximum every round
    torch.testing.assert_close(metrics["split_efficiency"], torch.ones(64))
    torch.testing.assert_close(metrics["claim_when_winning"], torch.full((64,), 10.0))
    torch.testing.assert_close(metrics["claim_when_losing"], torch.zeros(64))
    greedy = play(GAME, [refs["greedy"], refs["greedy"]], batch=64, seed=1)
    torch.testing.assert_close(GAME.episode_metrics(greedy["state"])["split_efficiency"],
                               torch.full((64,), 0.55))
    # against a greedy opponent the welfare policy concedes; tit-for-tat punishes it after round 1
    vs_welfare = play(GAME, [refs["welfare"], refs["greedy"]], batch=256, seed=2)["state"]["returns"]
    vs_tft = play(GAME, [refs["tit_for_tat"], refs["greedy"]], batch=256, seed=2)["state"]["returns"]
    assert vs_tft[:, 1].mean() < vs_welfare[:, 1].mean()
    assert vs_tft[:, 0].mean() > vs_welfare[:, 0].mean()


# -- agreement with the per-environment pure-Python loop of benchmarks/envs.py ---------
def _loop_module():
    spec = importlib.util.spec_from_file_location("popgames_bench_envs", REPO / "benchmarks" / "envs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ScriptedDraws:
    """Replays recorded draws through the ``randrange`` interface the loop env uses."""

    def __init__(self, draws: list[int]):
        self.draws = list(draws)

    def randrange(self, n: int) -> int:
        value = self.draws.pop(0)
        assert 0 <= value < n
        return value


LOOP_CASES = [  # card params; "wild": actions drawn outside the legal ones (the rules clamp them)
    {}, {"wild": True}, {"history": 0}, {"history": 1, "wild": True},
    {"history": 3, "coins": 4, "rounds": 4, "vocabulary": ["rock", "paper", "scissors", "silence", "deal"]},
    {"coins": 2, "rounds": 2, "high_value": 3.0, "low_value": 0.5, "wild": True},
]


@pytest.mark.parametrize("case", LOOP_CASES)
def test_python_loop_matches_the_batched_rules(tmp_path, case):
    params = {k: v for k, v in case.items() if k != "wild"}
    game = card(tmp_path, "trust_split", **params) if params else GAME
    rules, loop = game.rules, _loop_module()
    batch, gen = 16, torch.Generator().manual_seed(11)
    state = rules.reset(batch, gen)
    # the draws behind each env's deals: hand 0, offset of hand 1, first speaker; then new hands
    draws = [[] for _ in range(batch)]

    def record_deal(hands: torch.Tensor) -> None:
        for b in range(batch):
            h0, h1 = hands[b].tolist()
            draws[b] += [h0, (h1 - h0 - 1) % 3]

    record_deal(state["hands"])
    for b in range(batch):
        draws[b].append(int(state["first"][b]))
    start = (rules.observe(state), rules.legal(state))
    steps = []
    for t in range(rules.horizon):
        if case.get("wild"):
            actions = torch.randint(-2, rules.n_actions + 3, (batch, 2), generator=gen)
        else:
            actions = torch.stack([sample_actions(rules.legal(state)[:, i].float(), gen) for i in (0, 1)], 1)
        state, rewards, _ = rules.step(state, actions, gen)
        if t % 3 == 2:
            record_deal(state["hands"])
        steps.append((actions, rewards, rules.observe(state), rules.legal(state)))
    for b in range(batch):
        env = loop.LoopTrustSplit(game.params, ScriptedDraws(draws[b]))
        o, lg = env.reset()
        torch.testing.assert_close(torch.tensor(o, dtype=torch.float32), start[0][b], rtol=0, atol=0)
        assert torch.equal(torch.tensor(lg), start[1][b])
        for actions, rewards, obs, legal in steps:
            o, lg, r, _ = env.step(actions[b].tolist())
            torch.testing.assert_close(torch.tensor(r, dtype=torch.float32), rewards[b])
            torch.testing.assert_close(torch.tensor(o, dtype=torch.float32), obs[b], rtol=0, atol=0)
            assert torch.equal(torch.tensor(lg), legal[b])
        assert env.returns == pytest.approx(state["returns"][b].tolist(), rel=1e-6)
        metrics = game.episode_metrics({k: v[b:b + 1] for k, v in state.items()})
        for name, won in (("claim_when_winning", 1), ("claim_when_losing", 0)):
            expected = sum(env.claim_sum[i][won] for i in (0, 1)) / max(1, sum(env.claim_count[i][won]
                                                                             for i in (0, 1)))
            assert metrics[name].item() == pytest.approx(expected, rel=1e-6)


def test_rows_in_different_phases_match_the_shared_phase_path():
    """A batch whose rows differ in ``t`` takes the per-row path; it must give each row what
    the shared-``t`` path gives (the hands dealt at a round's end come from other draws)."""
    gen = torch.Generator().manual_seed(4)
    parts, batch = [], 6
    for n_steps in (3, 4, 5, 29):  # phases 0, 1, 2 and the last claim step
        s = RULES.reset(batch, gen)
        for _ in range(n_steps):
            s, _, _ = RULES.step(s, torch.stack([sample_actions(RULES.legal(s)[:, i].float(), gen)
                                                 for i in (0, 1)], 1), gen)
        parts.append(s)
    mixed = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    assert RULES._shared_t(mixed["t"]) is None and RULES._shared_t(parts[0]["t"]) == 3
    torch.testing.assert_close(RULES.observe(mixed), torch.cat([RULES.observe(p) for p in parts]),
                               rtol=0, atol=0)
    assert torch.equal(RULES.legal(mixed), torch.cat([RULES.legal(p) for p in parts]))
    actions = torch.randint(-1, RULES.n_actions + 1, (len(parts) * batch, 2), generator=gen)
    after, rewards, done = RULES.step(mixed, actions, gen)
    alone = [RULES.step(p, a, gen) for p, a in zip(parts, actions.split(batch))]
    torch.testing.assert_close(rewards, torch.cat([r for _, r, _ in alone]), rtol=0, atol=0)
    assert torch.equal(done, torch.cat([d for _, _, d in alone]))
    claimed = (mixed["t"] % 3 == 2)[:, None]
    for key in after:
        expected = torch.cat([s[key] for s, _, _ in alone])
        if key == "hands":  # new deals on claim rows, the same hands elsewhere
            assert torch.equal(torch.where(claimed, expected, after[key]), expected)
            assert (after[key][:, 0] != after[key][:, 1]).all()
        else:
            assert torch.equal(after[key], expected), key
    # and so does the next observation, given the same new hands
    obs = RULES.observe(dict(after, hands=torch.cat([s["hands"] for s, _, _ in alone])))
    torch.testing.assert_close(obs, torch.cat([RULES.observe(s) for s, _, _ in alone]), rtol=0, atol=0)


def test_an_empty_batch_runs():
    gen = torch.Generator().manual_seed(0)
    state = RULES.reset(0, gen)
    for _ in range(RULES.horizon):
        assert RULES.observe(state).shape == (0, 2, RULES.obs_dim) and RULES.legal(state).shape == (0, 2, 11)
        state, rewards, done = RULES.step(state, torch.zeros(0, 2, dtype=torch.long), gen)
        assert rewards.shape == (0, 2) and done.shape == (0,)


# -- card parameters -----------------------------------------------------------------
def test_card_params_take_effect(tmp_path):
    game = card(tmp_path, "trust_split", coins=4, rounds=2, high_value=3.0, low_value=1,
                vocabulary=["rock", "paper", "scissors", "silence", "deal"])
    r = game.rules
    assert (r.coins, r.horizon, r.n_tokens, r.n_actions) == (4, 6, 5, 5)
    s = claim_state(1, hands=(1, 0), rules=r)
    _, rewards, _ = r.step(s, torch.tensor([[4, 4]]), torch.Generator())
    torch.testing.assert_close(rewards, torch.tensor([[6.0, 2.0]]))  # q = (2, 2), v = (3, 1)


@pytest.mark.parametrize("params, field", [
    ({"coins": 0}, "coins"), ({"rounds": 0}, "rounds"), ({"high_value": 1.0}, "high_value"),
    ({"vocabulary": []}, "params.vocabulary"), ({"rounds": "ten"}, "params.rounds"),
    ({"coinz": 10}, "params.coinz"), ({"history": -1}, "history"),
])
def test_bad_params_name_the_field(tmp_path, params, field):
    with pytest.raises(GameCardError, match=field):
        card(tmp_path, "trust_split", **params)
