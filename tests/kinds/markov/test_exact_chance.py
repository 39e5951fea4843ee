"""Exact best responses with enumerated chance (the coin game): recursion and simulation agree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from popgames.kinds.markov.exact import best_response_value, evaluate_response
from popgames.kinds.markov.game import sample_actions
from popgames.kinds.markov.policies import MlpPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "games"))
from markov_helpers import card, load  # noqa: E402


def _recursive(game, mixture, seat: int) -> float:
    """The best response's value by plain recursion over (state, reach vector), one state at a
    time through the rules' own outcomes: no batching, no merging."""
    rules = game.rules
    states, probs = rules.initial_outcomes()

    def row(state, i):
        return {k: v[i:i + 1] for k, v in state.items()}

    def value(state, reach, t) -> float:
        if t == rules.horizon:
            return 0.0
        obs, legal = rules.observe(state), rules.legal(state)
        opp = [[float(p) for p in profile[1 - seat].probs(obs[:, 1 - seat], legal[:, 1 - seat])[0]]
               for _, profile in mixture]
        best = -float("inf")
        for a in range(rules.n_actions):
            total = 0.0
            for b in range(rules.n_actions):
                new = [w * opp[c][b] for c, w in enumerate(reach)]
                if sum(new) == 0:
                    continue
                actions = torch.tensor([[a, b] if seat == 0 else [b, a]])
                nxt, chance, rewards = rules.outcomes(state, actions)
                total += sum(new) * float(rewards[0, seat])
                for k in range(chance.shape[1]):
                    if chance[0, k] > 0:
                        total += value(row(nxt, k), [w * float(chance[0, k]) for w in new], t + 1)
            best = max(best, total)
        return best

    return sum(value(row(states, i), [w * float(probs[i]) for w, _ in mixture], 0) for i in range(len(probs)))


def test_the_merged_graph_agrees_with_plain_recursion(tmp_path):
    game = card(tmp_path, "coin_game", grid_size=2, episode_length=2)
    refs = game.reference_policies()
    for mixture in ([(1.0, [None, refs["greedy"]])],
                    [(0.5, [None, refs["greedy"]]), (0.5, [None, refs["uniform"]])]):
        assert best_response_value(game, mixture, 0) == pytest.approx(_recursive(game, mixture, 0), abs=1e-12)


def test_exact_values_agree_with_simulation():
    game = load("coin_game")
    rules = game.rules
    refs = game.reference_policies()
    generator = torch.Generator().manual_seed(0)
    learner = MlpPolicy(rules.obs_dim, rules.n_actions, 16).init_weights(generator)
    with torch.no_grad():
        learner.actor.weight.mul_(30.0)
    exact = evaluate_response(game, [(1.0, [None, refs["welfare"]])], 0, learner)
    episodes = 20000
    env = game.env(episodes, generator)
    obs, legal = env.reset()
    total = torch.zeros(episodes, dtype=torch.float64)
    for _ in range(rules.horizon):
        actions = torch.stack([sample_actions(learner.probs(obs[:, 0], legal[:, 0]), generator),
                               sample_actions(refs["welfare"].probs(obs[:, 1], legal[:, 1]), generator)], 1)
        obs, legal, rewards, _ = env.step(actions)
        total += rewards[:, 0].double()
    error = float(total.std() / episodes ** 0.5)
    assert abs(float(total.mean()) - exact) < 4 * error, (float(total.mean()), exact, error)
    # A best response is never worth less than any policy, the learner included.
    assert best_response_value(game, [(1.0, [None, refs["welfare"]])], 0) >= exact
