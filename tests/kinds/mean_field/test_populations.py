"""Mean-field games of several populations: OpenSpiel's predator-prey (3) and crowd avoidance (2).

Live agreement with OpenSpiel's python multi-population games: its ``NashConv`` (the sum
over populations of best-response minus policy value) on the same policies.
"""

from __future__ import annotations

import numpy as np
import pytest

import popgames
from popgames.core.errors import GameCardError
from popgames.kinds.mean_field.exact import evaluate, exploitability, uniform_policy
from popgames.kinds.mean_field.n_agent import n_agent_check
from popgames.meanfield import fictitious_play

# (card, OpenSpiel game, grid size, OpenSpiel parameters matching the card)
CARDS = [("predator_prey", "python_mfg_predator_prey", 5, {}),
         ("crowd_avoidance", "python_mfg_crowd_avoidance", 7, {"coef_congestion": 1.0})]


def _openspiel_nash_conv(name: str, params: dict, pi: np.ndarray, size: int) -> float:
    pyspiel = pytest.importorskip("pyspiel")
    from open_spiel.python import policy as os_policy
    from open_spiel.python.mfg import games  # noqa: F401  (registers the python games)
    from open_spiel.python.mfg.algorithms import nash_conv

    game = pyspiel.load_game(name, params) if params else pyspiel.load_game(name)

    class ArrayPolicy(os_policy.Policy):
        def action_probabilities(self, state, player_id=None):
            x = int(state.pos[0] + state.pos[1] * size)      # OpenSpiel's pos_to_merged
            return {a: float(pi[state.population, state.t, x, a]) for a in state.legal_actions()}

    return nash_conv.NashConv(game, ArrayPolicy(game, list(range(game.num_players())))).nash_conv()


@pytest.mark.parametrize("card,name,size,params", CARDS)
def test_exploitability_agrees_with_openspiel_nash_conv(card, name, size, params):
    game = popgames.load_game(card)
    rng = np.random.default_rng(3)
    for pi in (uniform_policy(game.rules), rng.dirichlet(np.ones(5), size=uniform_policy(game.rules).shape[:-1])):
        ours = exploitability(game.rules, pi)
        assert ours["per_agent"].shape == game.rules.agents
        assert ours["exploitability"] == pytest.approx(ours["per_agent"].sum(), abs=1e-12)   # a sum, not a mean
        assert ours["exploitability"] == pytest.approx(_openspiel_nash_conv(name, params, pi, size), abs=1e-9)


def test_uniform_policy_reference_values():
    # Measured with OpenSpiel 1.6's nash_conv.NashConv on python_mfg_predator_prey (defaults)
    # and python_mfg_crowd_avoidance (coef_congestion = 1.0), the uniform policy. (OpenSpiel
    # reads the initial distribution in the wrong order at t = 0, which shifts its per-population
    # values but cancels in NashConv: the t = 0 reward does not depend on the action.)
    for card, expected in (("predator_prey", 36.968383925225865), ("crowd_avoidance", 5.423268143942737)):
        rules = popgames.load_game(card).rules
        assert exploitability(rules, uniform_policy(rules))["exploitability"] == pytest.approx(expected, abs=1e-9)


def test_fictitious_play_brings_three_populations_near_equilibrium():
    game = popgames.load_game("predator_prey")
    curve = [r.exploitability for r in fictitious_play(game, 60)]
    assert curve[0] > 30 and curve[-1] < 0.5     # measured: 40.0 after one iteration, 0.37 after 60


def test_n_agent_returns_are_unbiased_when_rewards_are_linear_in_the_other_population():
    # crowd_avoidance: transitions ignore mu and each population's reward is linear in the
    # *other* population's distribution, whose agents move independently of it, so
    # E[J_i^N] = J exactly at every N: the mean gap must vanish within its error.
    game = popgames.load_game("crowd_avoidance")
    policy = uniform_policy(game.rules)
    check = n_agent_check(game, policy, 10, episodes=400, seed=1)
    assert check["finite"].shape == (20,) and sorted(set(check["alpha"])) == [0.0, 1.0]
    assert abs(check["mean_gap"]) < 2.0 * check["mean_gap_error"]
    assert check["limit"][:10] == pytest.approx(np.full(10, evaluate(game.rules, policy).value[0]))


def test_rules_with_a_bad_population_axis_are_refused(tmp_path):
    (tmp_path / "game.toml").write_text('kind = "mean_field"\nname = "bad"\nrules = "rules.py"\n')
    source = (popgames.load_game("crowd_avoidance").module.__file__)
    text = open(source).read().replace("    agents = (2,)", "    agents = (2, 1)")
    (tmp_path / "rules.py").write_text(text)
    with pytest.raises(GameCardError, match=r"rules\.agents"):
        popgames.load_game(tmp_path)
