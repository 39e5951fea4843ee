"""Learning-dynamics meta-solvers: projected replicator dynamics and regret matching.

Oracles: OpenSpiel's PRD on the same input (same iterates), regret bounds from the
literature on zero-sum games, the dominant-strategy equilibrium of a 3-player
public-goods game, and hypothesis properties (simplex, reported gap = recomputed
NashConv, invariance to a constant added to a player's payoffs and to relabelling).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import popgames
from popgames.analysis.exploitability import nash_regrets
from popgames.core.errors import GameCardError, SolverError
from popgames.solvers.dynamics import regret_matching, replicator

from game_strategies import on_simplex, payoff_tensors, random_game

RPS = np.array([[[0, -1, 1], [1, 0, -1], [-1, 1, 0]],
                [[0, 1, -1], [-1, 0, 1], [1, -1, 0]]], dtype=float)
PENNIES = np.array([[[1, -1], [-1, 1]], [[-1, 1], [1, -1]]], dtype=float)
# Non-uniform starts: from uniform both games would start at their equilibrium.
RPS_START = [np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.2, 0.6])]
PENNIES_START = [np.array([0.9, 0.1]), np.array([0.3, 0.7])]


def _public_goods() -> np.ndarray:
    """payoff_i = 1 - c_i + 0.6 * (c_1 + c_2 + c_3); keeping (c = 0) is strictly dominant."""
    payoffs = np.empty((3, 2, 2, 2))
    for c in np.ndindex(2, 2, 2):
        for i in range(3):
            payoffs[(i, *c)] = 1 - c[i] + 0.6 * sum(c)
    return payoffs


def _nash_conv(payoffs, marginals) -> float:
    return float(nash_regrets(payoffs, marginals).sum())


@pytest.mark.parametrize("shape", [(3,), (2, 3), (4, 4, 4), (2, 3, 2, 3), (2, 2, 20)])
def test_deviation_payoffs_batched_and_per_player_paths(shape):
    # (2, 2, 20) would pad 20x and takes the per-player path; the others are batched.
    from popgames.core.payoff_tensor import deviation_payoffs
    from popgames.solvers.dynamics import _Deviations
    rng = np.random.default_rng(len(shape))
    payoffs = random_game(rng, shape)
    strategies = [rng.dirichlet(np.ones(a)) for a in shape]
    rows = np.zeros((len(shape), max(shape)))
    for i, s in enumerate(strategies):
        rows[i, :s.size] = s
    dev = _Deviations(payoffs)
    assert (dev.batched is not None) == (len(shape) > 1 and shape != (2, 2, 20))
    out = dev(rows)
    for i, a in enumerate(shape):
        expected = deviation_payoffs(payoffs, strategies, i)
        np.testing.assert_allclose(out[i, :a], expected, atol=1e-12)
        np.testing.assert_array_equal(out[i, a:], 0.0)


def test_replicator_matches_openspiel_prd():
    # OpenSpiel floors every probability at gamma; ours floors at gamma / |A_i|, so with
    # equal action counts gamma_ours = |A| * gamma_openspiel. Payoffs spanning exactly
    # [0, 1] make our range normalisation the identity, and average=1.0 averages the
    # whole trajectory x_0..x_T as OpenSpiel does: the iterates must coincide.
    from open_spiel.python.algorithms.projected_replicator_dynamics import (
        projected_replicator_dynamics)
    payoffs = random_game(np.random.default_rng(3), (3, 3, 3))
    payoffs = (payoffs - payoffs.min()) / (payoffs.max() - payoffs.min())
    ours = replicator(payoffs, iterations=400, dt=0.05, gamma=3 * 1e-2, average=1.0)
    theirs = projected_replicator_dynamics(list(payoffs), prd_iterations=400, prd_dt=0.05,
                                           prd_gamma=1e-2)
    for a, b in zip(ours.marginals, theirs):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("variant", ["rm", "rm+"])
@pytest.mark.parametrize("game, start", [(RPS, RPS_START), (PENNIES, PENNIES_START)],
                         ids=["rps", "pennies"])
def test_regret_matching_approaches_uniform_in_zero_sum_games(game, start, variant):
    # Regret matching's external regret is at most range * sqrt(|A| T) (Hart & Mas-Colell
    # 2000; Cesa-Bianchi & Lugosi 2006, Cor. 2.1); RM+ with linear averaging keeps an
    # O(range sqrt(|A| / T)) bound on the weighted regret (Tammelin et al. 2015; Brown &
    # Sandholm 2019, Thm 3). In a 2-player zero-sum game NashConv of the average is at
    # most the sum of the players' average regrets: 2 * 2 * sqrt(|A| / T) here.
    iterations = 5000
    cand = regret_matching(game, iterations=iterations, variant=variant, initial=start)
    bound = 2 * 2.0 * np.sqrt(game.shape[1] / iterations)
    assert _nash_conv(game, cand.marginals) <= bound
    for m in cand.marginals:
        np.testing.assert_allclose(m, 1.0 / m.size, atol=0.05)


@pytest.mark.parametrize("game, start", [(RPS, RPS_START), (PENNIES, PENNIES_START)],
                         ids=["rps", "pennies"])
def test_replicator_average_approaches_uniform_in_zero_sum_games(game, start):
    # Continuous-time replicator has regret at most KL(p || x_s) over any window starting
    # at x_s; with the floor gamma / |A| that is <= log(|A| / gamma) ~ 15, over a window of
    # dt * T / 2 = 1000 range-units: <= 0.015 * range = 0.03 per player. Measured: 2.5e-3
    # (RPS), 1.6e-2 (pennies); the Euler discretisation's error is what the 0.07 leaves for.
    cand = replicator(game, iterations=20000, initial=start)
    assert _nash_conv(game, cand.marginals) <= 0.07
    for m in cand.marginals:
        np.testing.assert_allclose(m, 1.0 / m.size, atol=0.02)


@pytest.mark.parametrize("name, options", [("replicator", {"iterations": 3000}),
                                           ("regret_matching", {"iterations": 3000}),
                                           ("regret_matching", {"iterations": 3000,
                                                                "variant": "rm"})])
def test_three_player_public_goods_reaches_the_dominant_equilibrium(name, options):
    payoffs = _public_goods()
    sol = popgames.solvers.solve(payoffs, name, **options)
    # Keeping is dominant by 0.4; replicator keeps gamma / 2 = 5e-7 on contributing, so its
    # NashConv is at most 3 * 5e-7 * 0.4. Regret matching's uniform average decays like 1/T.
    assert sol.gap <= 1e-3
    assert all(m[0] >= 1 - 1e-3 for m in sol.marginals)
    assert sol.gap == pytest.approx(_nash_conv(payoffs, sol.marginals), abs=1e-12)


def test_three_player_random_game_nash_conv_decreases():
    payoffs = random_game(np.random.default_rng(11), (4, 4, 4))
    for fn in (replicator, regret_matching):
        short = _nash_conv(payoffs, fn(payoffs, iterations=200).marginals)
        long = _nash_conv(payoffs, fn(payoffs, iterations=5000).marginals)
        assert long < short


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payoffs=payoff_tensors(n_players=(1, 3), actions=(1, 4)),
       name=st.sampled_from(["replicator", "regret_matching"]))
def test_answers_on_simplex_and_reported_gap_is_nash_conv(payoffs, name):
    sol = popgames.solvers.solve(payoffs, name, iterations=300)
    assert all(on_simplex(m) for m in sol.marginals)
    recomputed = np.maximum(nash_regrets(payoffs, sol.marginals), 0)
    np.testing.assert_allclose(sol.per_player_gap, recomputed, atol=1e-9)
    assert sol.gap >= 0 and sol.solver == f"{name}/{name}"


@settings(max_examples=20, deadline=None)
@given(payoffs=payoff_tensors(n_players=(2, 3), actions=(2, 4), integer=True),
       shift=st.integers(-50, 50), player=st.integers(0, 2), data=st.data())
def test_invariant_to_payoff_shift_and_action_relabelling(payoffs, shift, player, data):
    player %= payoffs.shape[0]
    shifted = payoffs.copy()
    shifted[player] += shift  # integer payoffs: the shift is exact in floating point
    perm = data.draw(st.permutations(range(payoffs.shape[1 + player])))
    permuted = np.take(payoffs, perm, axis=1 + player)
    for fn in (replicator, regret_matching):
        base = fn(payoffs, iterations=300).marginals
        for m, b in zip(fn(shifted, iterations=300).marginals, base):
            np.testing.assert_allclose(m, b, atol=1e-12)
        moved = fn(permuted, iterations=300).marginals
        np.testing.assert_allclose(moved[player], base[player][list(perm)], atol=1e-9)


def test_regret_matching_plus_alternating_beats_simultaneous_on_rps():
    simultaneous = regret_matching(RPS, iterations=2000, initial=RPS_START)
    alternating = regret_matching(RPS, iterations=2000, initial=RPS_START, alternating=True)
    assert _nash_conv(RPS, alternating.marginals) < 0.2 * _nash_conv(RPS, simultaneous.marginals)


@pytest.mark.parametrize("name, options, message", [
    ("replicator", {"iterations": 0}, "iterations"),
    ("replicator", {"dt": -1.0}, "dt"),
    ("replicator", {"gamma": 1.5}, "gamma"),
    ("replicator", {"average": 0.0}, "average"),
    ("regret_matching", {"initial": [[0.5, 0.5]]}, "initial"),
])
def test_bad_options_raise_solver_error(name, options, message):
    with pytest.raises(SolverError, match=message):
        popgames.solvers.solve(PENNIES, name, **options)


def test_unknown_variant_is_refused_before_solving():
    # variant: Literal["rm", "rm+"] in regret_matching's signature; the registry checks it.
    with pytest.raises(GameCardError, match="variant.*one of 'rm', 'rm\\+'"):
        popgames.solvers.solve(PENNIES, "regret_matching", variant="rm++")
