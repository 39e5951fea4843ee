"""Tests for the optimal-Nash MILP (popgames.solvers.nash_milp)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import popgames
from popgames.solvers import solve
from popgames.solvers.nash_milp import OBJECTIVES, nash_milp
from gambit_peer import extreme_equilibria as gambit_equilibria
from game_strategies import on_simplex, payoff_tensors

SELECTING = ("max_welfare", "max_min_payoff", "min_support", "max_support")


def objective_values(payoffs: np.ndarray, p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    A, B = payoffs
    u1, u2, tol = p @ A @ q, p @ B @ q, 1e-9 * max(1.0, np.ptp(payoffs))
    best_responses = ((A @ q >= (A @ q).max() - tol).sum() + (p @ B >= (p @ B).max() - tol).sum())
    return {"max_welfare": u1 + u2, "max_min_payoff": min(u1, u2),
            "min_support": (p > 1e-12).sum() + (q > 1e-12).sum(), "max_support": best_responses}


def enumeration_optimum(payoffs: np.ndarray, rational: bool) -> dict[str, float]:
    """Every objective's optimum over all equilibria is attained at an extreme equilibrium
    (welfare and the two payoffs are linear on each maximal Nash subset, a product of
    polytopes; supports and best-response sets shrink towards its relative interior)."""
    values = [objective_values(payoffs, p, q) for p, q in gambit_equilibria(payoffs, rational)]
    return {k: (min if k == "min_support" else max)(v[k] for v in values) for k in SELECTING}


# --- every objective returns a verified equilibrium ----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(payoff_tensors(n_players=(2, 2), actions=(1, 5), integer=True), st.sampled_from(OBJECTIVES))
def test_verified_equilibrium_degenerate_games(payoffs, objective):
    sol = solve(payoffs, "nash_milp", objective=objective)
    assert sol.solver == "nash_milp/sgc" and sol.gap <= sol.tolerance
    assert all(on_simplex(m) for m in sol.marginals)
    assert sol.info["proven_optimal"] and sol.info["objective"] == objective


@settings(max_examples=40, deadline=None)
@given(payoff_tensors(n_players=(2, 2), actions=(1, 5), integer=True), st.integers(-100, 100),
       st.randoms(use_true_random=False))
def test_welfare_shifts_and_ignores_relabelling(payoffs, c, rnd):
    # The equilibrium set is unchanged by adding c to one player's payoffs or relabelling
    # actions, so the maximum welfare moves by exactly c and support optima stay put.
    # (Integer payoffs and shifts keep the shifted game exact: with floats, 1 + 4e-24 == 1
    # can turn a strict preference into a tie and change the equilibrium set.)
    base = {o: nash_milp(payoffs, objective=o).info["objective_value"] for o in SELECTING}
    m, n = payoffs.shape[1:]
    moved = payoffs[:, rnd.sample(range(m), m)][:, :, rnd.sample(range(n), n)].copy()
    moved[0] += c
    scale = max(1.0, float(np.abs(moved).max()))
    assert nash_milp(moved, objective="max_welfare").info["objective_value"] == \
        pytest.approx(base["max_welfare"] + c, abs=1e-6 * scale)
    for o in ("min_support", "max_support"):
        assert nash_milp(moved, objective=o).info["objective_value"] == base[o]


# --- agreement with gambit's full enumeration -----------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("method", ["branch_and_bound", "milp"])
def test_optima_match_gambit_enumeration(seed, method):
    rng = np.random.default_rng(seed)
    m, n = (int(k) for k in rng.integers(2, 6, size=2))
    rational = seed % 2 == 1            # odd seeds: small integers, full of ties (degenerate)
    # The players' payoffs get different ranges and offsets (welfare adds them as they are).
    if rational:
        payoffs = np.stack([rng.integers(-2, 3, size=(m, n)), rng.integers(0, 6, size=(m, n))])
    else:
        payoffs = rng.random((2, m, n)) * np.array([1.0, 3.0])[:, None, None] + [[[0.0]], [[1.0]]]
    payoffs = payoffs.astype(float)
    expected = enumeration_optimum(payoffs, rational)
    for objective in SELECTING:
        sol = solve(payoffs, "nash_milp", objective=objective, method=method)
        assert sol.gap <= sol.tolerance
        assert sol.info["objective_value"] == pytest.approx(expected[objective], abs=1e-7), objective
        # The returned equilibrium itself attains the reported optimum.
        p, q = sol.marginals
        if objective != "max_support":
            assert objective_values(payoffs, p, q)[objective] == pytest.approx(expected[objective],
                                                                              abs=1e-7)
        elif not rational:
            # Generic (nondegenerate) games: best responses = support, so this is the largest
            # support size among gambit's equilibria.
            largest = max((a > 1e-12).sum() + (b > 1e-12).sum()
                          for a, b in gambit_equilibria(payoffs, rational))
            assert sol.info["support_size"] == largest


def test_methods_agree_on_a_larger_game():
    # The branch and bound and HiGHS's MILP on the same formulation prove the same optimum.
    payoffs = np.random.default_rng(3).random((2, 12, 12))
    ours = nash_milp(payoffs).info["objective_value"]
    assert nash_milp(payoffs, method="milp").info["objective_value"] == pytest.approx(ours, abs=1e-7)


# --- reference games --------------------------------------------------------------------------------

STAG_HUNT = np.array([[[4, 0], [3, 3]], [[4, 3], [0, 3]]], dtype=float)
# Bach-or-Stravinsky (battle of the sexes) as in Osborne, "An Introduction to Game Theory" (2004).
BOS = np.array([[[2, 0], [0, 1]], [[1, 0], [0, 2]]], dtype=float)


def test_stag_hunt_payoff_dominant():
    # Stag hunt (Skyrms 2004; Harsanyi & Selten 1988's payoff dominance). By hand: equilibria
    # (stag, stag) -> (4, 4), (hare, hare) -> (3, 3) and the mix (3/4, 1/4) for both -> (3, 3).
    sol = solve(STAG_HUNT, "nash_milp", objective="max_welfare")
    np.testing.assert_allclose(sol.marginals[0], [1, 0], atol=1e-9)
    np.testing.assert_allclose(sol.marginals[1], [1, 0], atol=1e-9)
    assert sol.info["objective_value"] == pytest.approx(8.0)
    mixed = solve(STAG_HUNT, "nash_milp", objective="max_support")
    np.testing.assert_allclose(mixed.marginals[0], [0.75, 0.25], atol=1e-9)
    assert mixed.info["objective_value"] == 4
    assert solve(STAG_HUNT, "nash_milp", objective="min_support").info["objective_value"] == 2


def test_battle_of_the_sexes_max_min_picks_a_pure_equilibrium():
    # By hand: pure equilibria give (2, 1) and (1, 2): worse-off player gets 1; the mixed one
    # (player 1 plays Bach w.p. 2/3, player 2 w.p. 1/3) gives (2/3, 2/3). So max-min = 1, pure.
    sol = solve(BOS, "nash_milp", objective="max_min_payoff")
    assert sol.info["objective_value"] == pytest.approx(1.0)
    assert sol.info["support_size"] == 2
    assert sorted(sol.payoffs) == pytest.approx([1.0, 2.0])
    mixed = solve(BOS, "nash_milp", objective="max_support")
    np.testing.assert_allclose(mixed.marginals[0], [2 / 3, 1 / 3], atol=1e-9)
    np.testing.assert_allclose(mixed.marginals[1], [1 / 3, 2 / 3], atol=1e-9)


def test_degenerate_game_with_offset_payoffs():
    # By hand: the column player is indifferent everywhere; with q = (1 - t, t), row 0 earns t
    # and row 1 earns 3t - 1. Row 0 is a best response iff t <= 1/2, giving welfare t + 2
    # (max 2.5 at t = 1/2); row 1 iff t >= 1/2, giving 3t - 1 (max 2). No pure or 2x2
    # equilibrium reaches 2.5, so the search itself must find it (a regression case found
    # by hypothesis: the bound and the incumbent were once compared on different scales).
    payoffs = np.array([[[0, 1], [-1, 2]], [[2, 2], [0, 0]]], dtype=float)
    for method in ("branch_and_bound", "milp"):
        sol = solve(payoffs, "nash_milp", method=method)
        assert sol.info["objective_value"] == pytest.approx(2.5)
        np.testing.assert_allclose(sol.marginals[1], [0.5, 0.5], atol=1e-9)


def test_dominance_reduction_prisoners_dilemma():
    pd = np.array([[[3, 0], [5, 1]], [[3, 5], [0, 1]]], dtype=float)
    sol = solve(pd, "nash_milp")
    assert sol.info["reduced_shape"] == (1, 1)
    np.testing.assert_allclose(sol.marginals[0], [0, 1])
    np.testing.assert_allclose(sol.marginals[1], [0, 1])


# --- options and errors -------------------------------------------------------------------------

def test_unknown_objective_names_accepted_ones():
    with pytest.raises(popgames.SolverError, match="accepted: max_welfare, max_min_payoff"):
        nash_milp(STAG_HUNT, objective="max_fun")
    # Through the registry the value is checked against objective's Literal annotation first.
    with pytest.raises(popgames.GameCardError, match="objective': expected one of 'max_welfare', "
                                                     "'max_min_payoff'"):
        solve(STAG_HUNT, "nash_milp", objective="max_fun")
    with pytest.raises(popgames.SolverError, match="unknown method"):
        nash_milp(STAG_HUNT, method="magic")


def test_only_two_players():
    with pytest.raises(popgames.SolverError, match="2-player"):
        solve(np.zeros((3, 2, 2, 2)), "nash_milp")


def test_time_limit_returns_unproven_incumbent():
    sol = nash_milp(np.random.default_rng(0).random((2, 15, 15)), objective="max_support",
                    time_limit=1e-9)
    assert not sol.info["proven_optimal"] and sol.info["status"] == "time limit reached"
    for bad in (0, -1.0, "soon"):
        with pytest.raises(popgames.SolverError, match="positive"):
            nash_milp(STAG_HUNT, time_limit=bad)
