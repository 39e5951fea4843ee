"""alpha-Rank (multi-population): agreement with OpenSpiel, closed forms, properties.

Oracles: ``open_spiel.python.egt.alpharank.compute`` on the same payoff tables
(finite and infinite alpha); closed-form stationary distributions of small chains
derived from the fixation probability (Omidshafiei et al. 2019, Eq. 4; Nowak 2006,
"Evolutionary Dynamics", Ch. 6: rho(u) / rho(-u) = exp((m - 1) u)); symmetry; and
hypothesis properties checked against a transition matrix built independently here.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import popgames
from popgames.core.errors import GameCardError, SolverError
from popgames.core.payoff_tensor import joint_marginals
from popgames.solvers import alpha_rank
from popgames.solvers.alpha_rank import alpharank

from game_strategies import on_simplex, payoff_tensors, random_game

STAG_HUNT = np.array([[[4, 0], [3, 3]], [[4, 3], [0, 3]]], dtype=float)  # 0 = stag, 1 = hare
RPS = np.array([[[0, -1, 1], [1, 0, -1], [-1, 1, 0]],
                [[0, 1, -1], [-1, 0, 1], [1, -1, 0]]], dtype=float)
PRISONERS = np.array([[[3, 0], [5, 1]], [[3, 5], [0, 1]]], dtype=float)  # 1 = defect, dominant

GAMES = {
    "2x3": random_game(np.random.default_rng(0), (2, 3)),
    "3x4": random_game(np.random.default_rng(1), (3, 4)),
    "2x3x4": random_game(np.random.default_rng(2), (2, 3, 4)),
    "3x3x3": random_game(np.random.default_rng(3), (3, 3, 3)),
    "2x2x2x2": random_game(np.random.default_rng(4), (2, 2, 2, 2)),
    "int 3x3 (ties)": random_game(np.random.default_rng(5), (3, 3), integer=True),
}


def _openspiel(payoffs, **kwargs):
    from open_spiel.python.egt import alpharank as os_alpharank
    return os_alpharank.compute(list(payoffs), **kwargs)[2]


@pytest.mark.parametrize("alpha, m", [(0.1, 50), (1.0, 50), (2.0, 10)])
@pytest.mark.parametrize("name", sorted(GAMES))
def test_finite_alpha_matches_openspiel(name, alpha, m):
    payoffs = GAMES[name]
    ours = alpharank(payoffs, alpha=alpha, population_size=m).joint
    np.testing.assert_allclose(ours.ravel(), _openspiel(payoffs, m=m, alpha=alpha), atol=1e-8)


@pytest.mark.parametrize("eps", [0.1, 0.01, 1e-4])
@pytest.mark.parametrize("name", sorted(GAMES))
def test_infinite_alpha_matches_openspiel(name, eps):
    payoffs = GAMES[name]
    ours = alpharank(payoffs, alpha="inf", inf_alpha_eps=eps).joint
    theirs = _openspiel(payoffs, use_inf_alpha=True, inf_alpha_eps=eps)
    np.testing.assert_allclose(ours.ravel(), theirs, atol=1e-8)
    np.testing.assert_array_equal(alpharank(payoffs, alpha=float("inf"), inf_alpha_eps=eps).joint,
                                  ours)


@pytest.mark.parametrize("alpha, m, gain", [(0.3, 20, 1.0), (0.05, 50, -2.0), (100.0, 50, 0.5)])
def test_two_state_chain_closed_form(alpha, m, gain):
    # One mover with actions {0, 1}, payoff 0 and `gain`: the chain's balance equation
    # gives pi_1 / pi_0 = rho(alpha gain) / rho(-alpha gain) = exp((m - 1) alpha gain).
    expected = 1.0 / (1.0 + np.exp(-(m - 1) * alpha * gain))
    one_player = np.array([[0.0, gain]])
    two_by_one = np.stack([np.array([[0.0], [gain]]), np.array([[7.0], [-3.0]])])
    for payoffs in (one_player, two_by_one):
        joint = alpharank(payoffs, alpha=alpha, population_size=m).joint
        assert joint.ravel()[1] == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_stag_hunt_closed_form_and_large_alpha():
    # Balance at (S,S): pi_SS * 2 rho(-a) = 2 q rho(a); at (H,H): pi_HH * 2 rho(-3a) = 2 q rho(3a),
    # q = pi_SH = pi_HS. So pi ~ (e^{(m-1)a}, 1, 1, e^{3(m-1)a}) over (SS, SH, HS, HH).
    m, alpha = 50, 0.02
    weights = np.array([np.exp((m - 1) * alpha), 1.0, 1.0, np.exp(3 * (m - 1) * alpha)])
    joint = alpharank(STAG_HUNT, alpha=alpha, population_size=m).joint
    np.testing.assert_allclose(joint.ravel(), weights / weights.sum(), rtol=1e-10)
    # alpha = 100: pi_SS / pi_HH = e^{-9800}. OpenSpiel's eigen-solver finds two stationary
    # distributions here; the log-space reduction resolves the ratio: all mass on hare-hare.
    sol = popgames.solvers.solve(STAG_HUNT, "alpharank", alpha=100.0)
    assert sol.info["solver"] == "gth_log"
    assert sol.joint[1, 1] == pytest.approx(1.0, abs=1e-300)
    assert sol.gap == pytest.approx(0.0, abs=1e-12)  # hare-hare is a Nash equilibrium
    with pytest.raises(ValueError), np.errstate(over="ignore"):
        _openspiel(STAG_HUNT, m=50, alpha=100.0)


@pytest.mark.parametrize("alpha", [0.5, 100.0, "inf"])
def test_rock_paper_scissors_marginals_uniform_by_symmetry(alpha):
    # Relabelling R->P->S->R for both players maps the game to itself, so the stationary
    # distribution is constant on the three orbits {(a, a+k)}; each orbit meets every action.
    joint = alpharank(RPS, alpha=alpha).joint
    for m in joint_marginals(joint):
        np.testing.assert_allclose(m, 1 / 3, atol=1e-12)
    for k in range(3):
        orbit = [joint[a, (a + k) % 3] for a in range(3)]
        np.testing.assert_allclose(orbit, orbit[0], rtol=1e-9)


def test_dominant_strategies_take_all_mass():
    # From any profile a defector never moves back (worse by at least 1), so for large
    # alpha every other profile's mass is O(exp(-(m-1) alpha)), and O(eps) at infinite alpha.
    assert alpharank(PRISONERS, alpha=100.0).joint[1, 1] == pytest.approx(1.0, abs=1e-300)
    for eps in (1e-2, 1e-4, 1e-6):
        assert alpharank(PRISONERS, alpha="inf", inf_alpha_eps=eps).joint[1, 1] >= 1 - 5 * eps


def _transition_matrix(payoffs: np.ndarray, alpha: float, m: int) -> np.ndarray:
    """The chain built profile by profile from the paper's formulas (independent of the solver)."""
    shape = payoffs.shape[1:]
    profiles = list(itertools.product(*(range(a) for a in shape)))
    eta = 1.0 / sum(a - 1 for a in shape)
    chain = np.zeros((len(profiles), len(profiles)))
    for s_id, s in enumerate(profiles):
        for k, a in enumerate(shape):
            for b in range(a):
                if b == s[k]:
                    continue
                r = s[:k] + (b,) + s[k + 1:]
                u = alpha * (payoffs[(k, *r)] - payoffs[(k, *s)])
                rho = 1.0 / m if u == 0 else np.expm1(-u) / np.expm1(-m * u)
                chain[s_id, profiles.index(r)] = eta * rho
        chain[s_id, s_id] = 1.0 - chain[s_id].sum()
    return chain


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payoffs=payoff_tensors(n_players=(1, 3), actions=(1, 3)),
       alpha=st.floats(0.0, 0.5), m=st.integers(2, 60))
def test_stationary_distribution_properties(payoffs, alpha, m):
    joint = alpharank(payoffs, alpha=alpha, population_size=m).joint
    assert joint.shape == payoffs.shape[1:] and on_simplex(joint, atol=1e-10)
    if joint.size > 1:  # stationary for the chain built independently
        pi = joint.ravel()
        np.testing.assert_allclose(pi @ _transition_matrix(payoffs, alpha, m), pi, atol=1e-10)
    sol = popgames.solvers.solve(payoffs, "alpharank", alpha=alpha, population_size=m)
    assert sol.solver == "alpharank/alpharank"
    np.testing.assert_allclose(sol.joint, joint, atol=1e-12)  # the stationary joint itself
    marginals = joint_marginals(joint)
    nash_conv = popgames.exploitability(payoffs, marginals).per_player
    np.testing.assert_allclose(sol.per_player_gap, np.maximum(nash_conv, 0), atol=1e-9)
    for a, b in zip(sol.marginals, marginals):
        np.testing.assert_allclose(a, b, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(payoffs=payoff_tensors(n_players=(2, 3), actions=(2, 3), integer=True),
       shift=st.integers(-20, 20), player=st.integers(0, 2),
       alpha=st.sampled_from([0.3, 100.0, "inf"]), data=st.data())
def test_invariant_to_payoff_shift_and_action_relabelling(payoffs, shift, player, alpha, data):
    player %= payoffs.shape[0]
    base = alpharank(payoffs, alpha=alpha).joint
    shifted = payoffs.copy()
    shifted[player] += shift  # fitness differences are unchanged (exactly: integer payoffs)
    np.testing.assert_allclose(alpharank(shifted, alpha=alpha).joint, base, atol=1e-12)
    perm = list(data.draw(st.permutations(range(payoffs.shape[1 + player]))))
    moved = alpharank(np.take(payoffs, perm, axis=1 + player), alpha=alpha).joint
    np.testing.assert_allclose(moved, np.take(base, perm, axis=player), atol=1e-10)


def test_solution_reports_the_stationary_joint_and_its_marginals():
    # Issue 8 item 7a. Stag hunt at alpha = 0.02: pi ~ (e^{(m-1)a}, 1, 1, e^{3(m-1)a}) over
    # (SS, SH, HS, HH) (see the closed-form test), not a product of its marginals. The
    # Solution keeps that joint and adds the marginals; its gap is their NashConv.
    m, alpha = 50, 0.02
    weights = np.array([np.exp((m - 1) * alpha), 1.0, 1.0, np.exp(3 * (m - 1) * alpha)])
    pi = (weights / weights.sum()).reshape(2, 2)
    sol = popgames.solvers.solve(STAG_HUNT, "alpharank", alpha=alpha, population_size=m)
    np.testing.assert_allclose(sol.joint, pi, rtol=1e-10)
    assert sol.marginals is not None
    for mine, expected in zip(sol.marginals, [pi.sum(axis=1), pi.sum(axis=0)]):
        np.testing.assert_allclose(mine, expected, rtol=1e-10)
    assert np.abs(np.outer(*sol.marginals) - sol.joint).max() > 0.01  # really not a product
    np.testing.assert_allclose(sol.payoffs, (STAG_HUNT * pi).sum(axis=(1, 2)), rtol=1e-10)
    nash_conv = popgames.exploitability(STAG_HUNT, sol.marginals)
    assert sol.gap == pytest.approx(nash_conv.value, abs=1e-12)


def _stationary_residual(payoffs: np.ndarray, joint: np.ndarray, eps: float) -> float:
    """``|pi P - pi|_1`` for the infinite-alpha chain, written here from its definition."""
    shape = payoffs.shape[1:]
    eta = 1.0 / sum(a - 1 for a in shape)
    scale = 1e-12 * max(1.0, float(np.ptp(payoffs)))
    inflow = np.zeros(shape)
    for k in range(len(shape)):
        f = np.moveaxis(payoffs[k], k, -1)
        gain = f[..., None, :] - f[..., :, None]               # [..., from, to]
        prob = np.where(gain > scale, 1 - eps, eps)
        prob[np.abs(gain) <= scale] = 0.5
        prob *= eta * (1 - np.eye(shape[k]))
        x = np.moveaxis(joint, k, -1)
        inflow += np.moveaxis((x[..., :, None] * prob).sum(axis=-2) - x * prob.sum(axis=-1), -1, k)
    return float(np.abs(inflow).sum())


def test_large_infinite_alpha_chain_is_solved_iteratively():
    # Issue 8 item 7b: 100 x 100 (10,000 profiles) at alpha = inf took 144 s and 1.3 GB in
    # sparse LU (its factors fill in); GMRES on the per-player fibers takes about 0.5 s.
    payoffs = np.random.default_rng(100).standard_normal((2, 100, 100))
    start = time.perf_counter()
    cand = alpharank(payoffs, alpha="inf")
    assert time.perf_counter() - start < 30
    assert cand.info["solver"] == "gmres" and on_simplex(cand.joint)
    assert _stationary_residual(payoffs, cand.joint, 0.01) < 1e-14


@pytest.mark.parametrize("shape, alpha, seed", [
    ((40, 35), "inf", 0), ((9, 10, 11), "inf", 1), ((4, 5, 4, 5), 0.05, 2),
    ((20, 20), 100.0, 5), ((20, 20), 1.0, 3),  # strongly connected despite alpha >= 1
])
def test_iterative_solve_matches_sparse_lu(monkeypatch, shape, alpha, seed):
    payoffs = np.random.default_rng(seed).standard_normal((len(shape), *shape))
    monkeypatch.setattr(alpha_rank, "_LU_LIMIT", 10**6)
    lu = alpharank(payoffs, alpha=alpha)
    monkeypatch.setattr(alpha_rank, "_LU_LIMIT", 0)
    iterative = alpharank(payoffs, alpha=alpha)
    assert (lu.info["solver"], iterative.info["solver"]) == ("sparse_lu", "gmres")
    np.testing.assert_allclose(iterative.joint, lu.joint, atol=1e-14)


def test_iterative_solve_matches_log_space_reduction_on_a_stiff_chain(monkeypatch):
    # alpha = 100: fixation probabilities down to exp(-1000) and below, yet the strong
    # transitions connect the chain, so GMRES must agree with the exact log-space answer.
    payoffs = np.random.default_rng(7).standard_normal((2, 20, 20))
    monkeypatch.setattr(alpha_rank, "_LU_LIMIT", 0)
    iterative = alpharank(payoffs, alpha=100.0)
    monkeypatch.setattr(alpha_rank, "_STRONG", 2.0)  # nothing counts as strong: GTH
    exact = alpharank(payoffs, alpha=100.0)
    assert (iterative.info["solver"], exact.info["solver"]) == ("gmres", "gth_log")
    np.testing.assert_allclose(iterative.joint, exact.joint, atol=1e-14)


def test_meta_games_above_the_profile_limit_are_refused_before_any_work():
    payoffs = np.zeros((2, 301, 300))  # 90,300 profiles
    start = time.perf_counter()
    with pytest.raises(SolverError, match=r"90300 action profiles exceed the limit of 90000"):
        popgames.solvers.solve(payoffs, "alpharank", alpha="inf")
    with pytest.raises(SolverError, match="limit of 90000"):
        alpharank(payoffs)
    assert time.perf_counter() - start < 1.0


def test_large_chain_in_the_underflow_regime_is_refused_with_advice():
    payoffs = random_game(np.random.default_rng(9), (40, 40))
    with pytest.raises(SolverError,
                       match="1600 action profiles exceed its limit of 1500.*alpha='inf'"):
        alpharank(payoffs, alpha=100.0)
    assert on_simplex(alpharank(payoffs, alpha="inf").joint)  # sparse path, any size


@pytest.mark.parametrize("options, message", [
    ({"alpha": -1.0}, "alpha"), ({"alpha": "large"}, "alpha"),
    ({"population_size": 1}, "population_size"),
    ({"alpha": "inf", "inf_alpha_eps": 0.0}, "inf_alpha_eps"),
])
def test_bad_options_raise_solver_error(options, message):
    with pytest.raises(SolverError, match=message):
        popgames.solvers.solve(RPS, "alpharank", **options)


def test_option_of_the_wrong_type_is_refused_before_solving():
    # The registry checks values against the backend's annotations (population_size: int).
    with pytest.raises(GameCardError, match="population_size.*expected an integer"):
        popgames.solvers.solve(RPS, "alpharank", population_size=2.5)
