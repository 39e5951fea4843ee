"""Exact best responses in deterministic Markov games: hand values and brute force over strategies."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
import torch

from popgames.core.errors import PopgamesError
from popgames.kinds.markov.exact import best_response_value, evaluate_response
from popgames.kinds.markov.policies import MlpPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "games"))
from markov_helpers import card, load  # noqa: E402


def _mlps(game, count: int, seed: int, scale: float = 50.0) -> list[MlpPolicy]:
    """Random networks, their actor weights scaled up so that they are far from uniform."""
    generator = torch.Generator().manual_seed(seed)
    nets = [MlpPolicy(game.rules.obs_dim, game.rules.n_actions, 16).init_weights(generator) for _ in range(count)]
    with torch.no_grad():
        for net in nets:
            net.actor.weight.mul_(scale)
    return nets


@pytest.mark.parametrize("opponent, expected", [
    # R=3, T=5, S=0, P=1, 10 rounds. Tit-for-tat, grim trigger and Pavlov all cooperate
    # until crossed: cooperate for 9 rounds and defect in the last, 3*9 + 5.
    ("tit_for_tat", 32.0), ("grim_trigger", 32.0), ("pavlov", 32.0),
    ("always_cooperate", 50.0),        # defect every round: T = 5 each
    ("always_defect", 10.0),           # defect every round: P = 1 each
    ("uniform", 30.0),                 # defect every round: (T + P) / 2 = 3 each
])
def test_hand_values_in_the_iterated_prisoners_dilemma(opponent, expected):
    game = load("iterated_prisoners_dilemma")
    policy = game.reference_policies()[opponent]
    for seat in (0, 1):
        profile = [policy, policy]
        assert best_response_value(game, [(1.0, profile)], seat) == pytest.approx(expected, abs=1e-12)
    # Tit-for-tat against itself cooperates throughout: 10 * R.
    tft = game.reference_policies()["tit_for_tat"]
    assert evaluate_response(game, [(1.0, [None, tft])], 0, tft) == pytest.approx(30.0, abs=1e-12)


def _brute_force(game, mixture, seat: int, strategy: dict | None, learner=None) -> float:
    """Expected return of a history-dependent pure ``strategy`` (history -> action), or of a
    ``learner`` policy, against the mixture, by plain recursion one state at a time."""
    rules = game.rules
    generator = torch.Generator().manual_seed(0)

    def value(state, history, weight_of_profile) -> float:
        if int(state["t"][0]) >= rules.horizon:
            return 0.0
        obs, legal = rules.observe(state), rules.legal(state)
        mine = ([strategy[history]] if strategy is not None else range(rules.n_actions))
        total = 0.0
        for a in mine:
            p_mine = 1.0 if strategy is not None else float(learner.probs(obs[:, seat], legal[:, seat])[0, a])
            for b in range(rules.n_actions):
                actions = torch.tensor([[a, b] if seat == 0 else [b, a]])
                nxt, rewards, _ = rules.step(state, actions, generator)
                for c, (weight, profile) in enumerate(mixture):
                    p = float(profile[1 - seat].probs(obs[:, 1 - seat], legal[:, 1 - seat])[0, b])
                    w = weight_of_profile[c] * p * p_mine
                    if w > 0:
                        total += w * float(rewards[0, seat])
                new = [weight_of_profile[c] * float(profile[1 - seat].probs(obs[:, 1 - seat], legal[:, 1 - seat])[0, b])
                       * p_mine for c, (_, profile) in enumerate(mixture)]
                if sum(new) > 0:
                    total += value(nxt, history + ((a, b),), new)
        return total

    return value(rules.reset(1, generator), (), [w for w, _ in mixture])


def test_the_best_response_beats_every_pure_strategy_and_is_one_of_them(tmp_path):
    game = card(tmp_path, "iterated_prisoners_dilemma", rounds=2)
    refs = game.reference_policies()
    mixture = [(0.3, [None, refs["tit_for_tat"]])] + [(0.7 / 3, [None, net]) for net in _mlps(game, 3, 1)]
    # Every history-dependent pure strategy of 2 rounds: an action at the root and at each
    # of the 4 joint-action histories after round 1 (2^5 = 32 strategies).
    histories = [()] + [((a, b),) for a in range(2) for b in range(2)]
    values = [_brute_force(game, mixture, 0, dict(zip(histories, choice)))
              for choice in itertools.product(range(2), repeat=len(histories))]
    # The networks act in float32: one row at a time and a batch of rows round differently
    # (about 1e-8 here), hence 1e-6 rather than 1e-12.
    assert best_response_value(game, mixture, 0) == pytest.approx(max(values), abs=1e-6)
    distinct = sorted({round(v, 6) for v in values})
    assert len(distinct) >= 8 and distinct[-2] < distinct[-1] - 1e-3    # a clear maximum among many
    # A stochastic learner is evaluated exactly too.
    learner = _mlps(game, 1, 7, scale=3.0)[0]
    assert evaluate_response(game, mixture, 0, learner) == pytest.approx(
        _brute_force(game, mixture, 0, None, learner), abs=1e-6)


def test_a_mixture_is_worth_more_than_its_parts_answered_separately_only_through_history():
    # Against tit-for-tat or always-defect (50/50) the first round reveals which one plays:
    # the best response earns the average of the two separate best responses, 0.5 * 32 + 0.5 * 10,
    # less what the first round costs before it knows (cooperating against always-defect: S = 0
    # instead of P = 1 is the cheapest probe, or defecting against tit-for-tat).
    game = load("iterated_prisoners_dilemma")
    refs = game.reference_policies()
    mixture = [(0.5, [None, refs["tit_for_tat"]]), (0.5, [None, refs["always_defect"]])]
    value = best_response_value(game, mixture, 0)
    # Probe by cooperating in round 1: TFT then 3*8 + 5 more (32 in all), always-defect
    # 0 + 9 * 1 = 9: the mean is 20.5; defecting first gives 5 + 1 + ... < 20.5.
    assert value == pytest.approx(20.5, abs=1e-12)


def test_refusals_are_one_line(tmp_path):
    with pytest.raises(PopgamesError, match="deterministic = True"):   # random hands, not enumerated
        trust = load("trust_split")
        refs = trust.reference_policies()
        best_response_value(trust, [(1.0, [None, next(iter(refs.values()))])], 0)
    game = load("iterated_prisoners_dilemma")
    nets = _mlps(game, 2, 3)
    with pytest.raises(PopgamesError, match="it is for small games"):
        best_response_value(game, [(0.5, [None, nets[0]]), (0.5, [None, nets[1]])], 0, max_entries=10_000)


def test_ppo_measured_against_the_exact_best_response(tmp_path):
    """The reduced benchmarks/oracles.py: PPO never beats the exact value, and gets most of the gain."""
    import numpy as np

    from popgames.kinds.markov.oracle import MarkovOracle

    game = card(tmp_path, "iterated_prisoners_dilemma", rounds=4)
    refs = game.reference_policies()
    weights = {"tit_for_tat": 0.5, "always_defect": 0.5}
    mixture = [(w, [None, refs[n]]) for n, w in weights.items()]
    base = sum(w * evaluate_response(game, mixture, 0, refs[n]) for n, w in weights.items())
    exact = best_response_value(game, mixture, 0)
    # 4 rounds. The mixture against itself: TFT-TFT 12, TFT-AllD 3, AllD-TFT 8, AllD-AllD 4.
    # The best response cooperates in round 1 to learn who plays: (3*3 + 5 + 0 + 3*1) / 2.
    assert (base, exact) == (pytest.approx(6.75), pytest.approx(8.5))
    oracle = MarkovOracle(game, seed=0, device="cpu", options={"updates": 40, "num_envs": 256})
    response = oracle.best_response([[refs["uniform"]], [refs[n] for n in weights]], 0,
                                    np.array(list(weights.values())))
    ppo = evaluate_response(game, mixture, 0, response.policy)
    assert ppo <= exact + 1e-6
    assert (ppo - base) / (exact - base) >= 0.8, ppo


def test_exact_nash_conv_of_a_meta_strategy():
    import numpy as np

    from popgames.kinds.markov.exact import exact_gaps

    game = load("iterated_prisoners_dilemma")
    refs = game.reference_policies()
    population = [[refs["tit_for_tat"], refs["always_defect"]], [refs["tit_for_tat"], refs["always_defect"]]]
    half = np.full((2, 2), 0.25)
    # Each player: best response 20.5 against the half-half mix, the mix itself 15.75.
    assert exact_gaps(game, population, half) == pytest.approx([4.75, 4.75], abs=1e-12)
    both_defect = np.array([[0.0, 0.0], [0.0, 1.0]])   # always-defect against itself: an equilibrium
    assert exact_gaps(game, population, both_defect) == pytest.approx([0.0, 0.0], abs=1e-12)


def test_a_warm_start_imitates_the_best_member_against_the_mix():
    import numpy as np

    from popgames.kinds.markov.oracle import MarkovOracle

    game = load("iterated_prisoners_dilemma")
    refs = game.reference_policies()
    # Against tit-for-tat, tit-for-tat (30) beats always-defect (5 + 9 = 14): PPO with no
    # updates at all returns the imitation of tit-for-tat, worth 30 exactly measured.
    oracle = MarkovOracle(game, seed=0, device="cpu", options={"warm_start": True, "updates": 0, "num_envs": 256})
    response = oracle.best_response([[refs["always_defect"], refs["tit_for_tat"]], [refs["tit_for_tat"]]], 0,
                                    np.array([1.0]))
    assert response.stats["warm_start"] == "tit_for_tat"
    assert response.stats["warm_start_value"] == pytest.approx(30.0)
    assert evaluate_response(game, [(1.0, [None, refs["tit_for_tat"]])], 0, response.policy) == pytest.approx(30.0, abs=0.05)
