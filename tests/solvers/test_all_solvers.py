"""Properties every registry entry must keep, checked through the public API.

Per-family files test each algorithm in depth; this file makes sure no entry escapes
the common contract: answers on the simplex, a reported gap that matches an
independent recomputation, exact answers within tolerance, and the relations
between concepts (a Nash product is a CE, every CE is a CCE).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import popgames
from popgames.analysis.exploitability import cce_gaps, ce_gaps, risk_averse_regrets
from popgames.core.payoff_tensor import joint_marginals
from popgames.solvers import registry

from game_strategies import on_simplex, payoff_tensors

#: Entries that only handle 2-player games.
TWO_PLAYER_ONLY = {"zero_sum_lp", "lemke_howson", "nash_milp"}
#: Options that keep the iterative entries quick in a property test.
QUICK = {"alpharank": {}, "replicator": {"iterations": 2000}, "regret_matching": {"iterations": 2000},
         "rae": {}, "nash": {}}


def _applicable(name: str, payoffs: np.ndarray) -> bool:
    if name in TWO_PLAYER_ONLY and payoffs.shape[0] != 2:
        return False
    return name != "zero_sum_lp" or popgames.MatrixGame(payoffs).is_constant_sum


def _check_contract(name: str, payoffs: np.ndarray) -> registry.Solution:
    sol = popgames.solvers.solve(payoffs, name, **QUICK.get(name, {}))
    assert on_simplex(sol.joint)
    if sol.marginals is not None:
        assert all(on_simplex(m) for m in sol.marginals)
        for m, j in zip(sol.marginals, joint_marginals(sol.joint)):
            np.testing.assert_allclose(m, j, atol=1e-12)
    if sol.marginals is not None and name != "alpharank":  # alpha-rank: a stationary joint
        np.testing.assert_allclose(sol.joint, np.einsum(
            ",".join("abcdef"[i] for i in range(len(sol.marginals))) + "->"
            + "abcdef"[:len(sol.marginals)], *sol.marginals), atol=1e-12)
    np.testing.assert_allclose(sol.payoffs, payoffs.reshape(payoffs.shape[0], -1) @ sol.joint.ravel(),
                               atol=1e-9)
    if sol.concept == "nash":
        profile = sol.marginals if sol.marginals is not None else joint_marginals(sol.joint)
        recomputed = popgames.exploitability(payoffs, profile).per_player
    elif sol.concept == "rae":
        recomputed = risk_averse_regrets(payoffs, sol.marginals, 0.0)  # default mean_weight
    else:
        recomputed = (ce_gaps if sol.concept == "ce" else cce_gaps)(payoffs, sol.joint)
    np.testing.assert_allclose(sol.per_player_gap, np.maximum(recomputed, 0), atol=1e-9)
    assert sol.gap == pytest.approx(sol.per_player_gap.sum())
    assert (sol.per_player_gap >= 0).all()
    if sol.converged:
        assert sol.gap <= sol.tolerance
    return sol


@pytest.mark.parametrize("name", sorted(set(registry.names()) - {"zero_sum_lp"}))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payoffs=payoff_tensors(n_players=(2, 3), actions=(1, 3), integer=True))
def test_contract_on_degenerate_games(name, payoffs):
    if _applicable(name, payoffs):
        _check_contract(name, payoffs)


@settings(max_examples=25, deadline=None)
@given(payoffs=payoff_tensors(n_players=(2, 2), actions=(1, 5)))
def test_nash_product_is_a_ce_and_every_ce_is_a_cce(payoffs):
    nash = popgames.solvers.solve(payoffs, "nash")
    tol = nash.tolerance
    assert ce_gaps(payoffs, nash.joint).sum() <= 2 * tol
    for objective in ("max_welfare", "max_gini"):
        ce = popgames.solvers.solve(payoffs, "ce", objective=objective)
        assert cce_gaps(payoffs, ce.joint).sum() <= ce.gap + tol
        # The CE polytope contains the Nash product, so max welfare is at least Nash welfare.
        if objective == "max_welfare":
            assert ce.payoffs.sum() >= nash.payoffs.sum() - 1e-6 * payoffs.shape[0]


def test_zero_sum_entry_on_constant_sum_games():
    rng = np.random.default_rng(7)
    for _ in range(20):
        a = rng.normal(size=(4, 6))
        sol = _check_contract("zero_sum_lp", np.stack([a, 3.0 - a]))
        assert sol.converged
