"""The mean-field kind's exact machinery against OpenSpiel's mfg package, brute force and bad input."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import popgames
from popgames.core.errors import GameCardError
from popgames.kinds.mean_field.exact import (best_response, exploitability, flow, policy_values,
                                             uniform_policy)
from popgames.meanfield import fictitious_play

REPO = Path(__file__).resolve().parents[3]


def crowd(tmp_path: Path, **params) -> popgames.kinds.mean_field.game.MeanFieldGame:
    folder = tmp_path / "crowd"
    shutil.copytree(REPO / "games" / "crowd_modelling", folder, dirs_exist_ok=True)
    lines = (folder / "game.toml").read_text().split("[params]")[0] + "[params]\n"
    lines += "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in params.items())
    (folder / "game.toml").write_text(lines)
    return popgames.load_game(folder)


def random_policy(rules, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(rules.n_actions), size=(rules.horizon, rules.n_states))


# Reference values: OpenSpiel 1.5's nash_conv.NashConv and fictitious_play.FictitiousPlay on
# python_mfg_crowd_modelling (size 10, horizon 10), as quoted in issue 10; reproduced with
# the card's openspiel_compat option (the move charge of the first depth-first visit).
def test_openspiel_uniform_nash_conv_and_fictitious_play_curve(tmp_path):
    game = crowd(tmp_path, openspiel_compat=True)
    assert popgames.exploitability(game, uniform_policy(game.rules)).value == pytest.approx(2.813536554387, abs=1e-9)
    curve = [r.exploitability for r in fictitious_play(game, 100)]
    expected = {1: 4.217152796364, 10: 0.990803262691, 50: 0.086881506938, 100: 0.033279531217}
    for k, value in expected.items():
        assert curve[k - 1] == pytest.approx(value, abs=1e-9)
    # The clean model (each move charged when made) differs: what OpenSpiel's caching changes.
    clean = popgames.load_game("crowd_modelling")
    assert popgames.exploitability(clean, uniform_policy(clean.rules)).value == pytest.approx(2.8533490830, abs=1e-9)


def _openspiel_policy(game, pi):
    """Our ``pi[t, x, a]`` as an OpenSpiel policy on the crowd-modelling states."""
    from open_spiel.python import policy as os_policy

    class ArrayPolicy(os_policy.Policy):
        def action_probabilities(self, state, player_id=None):
            return dict(enumerate(pi[state.t, state.x]))

    return ArrayPolicy(game, [0])


def test_live_agreement_with_openspiel_on_random_policies(tmp_path):
    import pyspiel
    from open_spiel.python.mfg.algorithms import distribution, nash_conv
    from open_spiel.python.mfg.games import crowd_modelling  # noqa: F401  (registers the game)

    ours = crowd(tmp_path, openspiel_compat=True)
    theirs = pyspiel.load_game("python_mfg_crowd_modelling")
    for seed in range(3):
        pi = random_policy(ours.rules, seed)
        policy = _openspiel_policy(theirs, pi)
        assert exploitability(ours.rules, pi)["exploitability"] == pytest.approx(
            nash_conv.NashConv(theirs, policy).nash_conv(), abs=1e-9)
        mu = flow(ours.rules, pi)[0]
        dist = distribution.DistributionPolicy(theirs, policy)
        for t, x in itertools.product(range(ours.rules.horizon), range(ours.rules.n_states)):
            assert dist.value_str(str((x, t)), 0.0) == pytest.approx(mu[t, x], abs=1e-12)


def test_best_response_matches_brute_force_on_a_tiny_game(tmp_path):
    """Size 3, horizon 2: the best response's value is the best of all 3^6 deterministic policies."""
    game = crowd(tmp_path, size=3, horizon=2)
    rules = game.rules
    pi = random_policy(rules, 7)
    mu, transitions, rewards = flow(rules, pi)
    response, values = best_response(transitions, rewards)
    best = max(rules.mu0 @ policy_values(np.eye(3)[np.array(c).reshape(2, 3)], transitions, rewards)[0]
               for c in itertools.product(range(3), repeat=6))
    assert rules.mu0 @ values[0] == pytest.approx(best, abs=1e-12)
    assert rules.mu0 @ policy_values(response, transitions, rewards)[0] == pytest.approx(best, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(2, 6), horizon=st.integers(1, 5),
       compat=st.booleans())
def test_exploitability_is_never_negative_and_zero_only_against_itself(seed, size, horizon, compat):
    module = popgames.load_game("crowd_modelling").module
    rules = module.make({"size": size, "horizon": horizon, "openspiel_compat": compat})
    pi = random_policy(rules, seed)
    result = exploitability(rules, pi)
    assert result["exploitability"] >= 0.0
    assert result["best_value"] >= result["value"] - 1e-12
    # The best response to pi's flow is exactly optimal against that flow.
    mu, transitions, rewards = flow(rules, pi)
    response, values = best_response(transitions, rewards)
    assert rules.mu0 @ policy_values(response, transitions, rewards)[0] == pytest.approx(
        rules.mu0 @ values[0], abs=1e-12)


BROKEN = [
    ("self.mu0 = np.full(self.size, 1.0 / self.size)", "self.mu0 = np.full(self.size, 0.5)", "rules.mu0"),
    ("step[x, a, (x + move + noise) % self.size] += 1.0 / 3.0",
     "step[x, a, (x + move + noise) % self.size] += 0.3", "rules.transition"),
    ("return (self._place - np.log(mu + EPSILON))[:, None] - self._cost[t]",
     "return np.full((self.size, 3), np.nan)", "rules.reward"),
    ("return (self._place - np.log(mu + EPSILON))[:, None] - self._cost[t]",
     "return self._place", "rules.reward"),
]


@pytest.mark.parametrize("old, new, field", BROKEN)
def test_broken_rules_are_one_card_error(tmp_path, old, new, field):
    folder = tmp_path / "crowd"
    shutil.copytree(REPO / "games" / "crowd_modelling", folder)
    source = (folder / "rules.py").read_text()
    assert old in source
    (folder / "rules.py").write_text(source.replace(old, new))
    with pytest.raises(GameCardError) as err:
        popgames.load_game(folder)
    assert f"field '{field}'" in str(err.value) and "\n" not in str(err.value)


def test_a_horizon_of_zero_names_the_parameter(tmp_path):
    with pytest.raises(GameCardError, match="params.horizon"):
        crowd(tmp_path, horizon=0)
    with pytest.raises(GameCardError, match="policy"):
        popgames.exploitability(popgames.load_game("crowd_modelling"), np.ones((10, 10, 3)))


@pytest.mark.parametrize("name", ["susceptible_infected", "beach_bar", "crowd_modelling"])
def test_every_algorithm_lowers_the_exploitability_of_the_uniform_start(name):
    from popgames.meanfield import mirror_descent, prior_descent

    game = popgames.load_game(name)
    start = popgames.exploitability(game, uniform_policy(game.rules)).value
    for run in (fictitious_play(game, 60), mirror_descent(game, 60), prior_descent(game, 60)):
        assert list(run)[-1].exploitability < 0.5 * start
