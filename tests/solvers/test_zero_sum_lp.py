"""Tests for the 2-player constant-sum LP solver (popgames.solvers.zero_sum_lp)."""

from __future__ import annotations

import highspy
import nashpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import popgames
from popgames.solvers import solve, zero_sum_lp as zs
from popgames.solvers.zero_sum_lp import constant_sum_applies, zero_sum_lp
from game_strategies import on_simplex, payoff_tensors, random_game

TOL = 1e-7


def zero_sum(matrix: np.ndarray, constant: float = 0.0) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    return np.stack([matrix, constant - matrix])


def value_of(payoffs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(x @ payoffs[0] @ y)


def reference_value(matrix: np.ndarray) -> float:
    """Row player's maximin value by scipy's LP (a second, independent formulation)."""
    m, n = matrix.shape
    res = linprog(np.r_[np.zeros(m), -1.0], A_ub=np.c_[-matrix.T, np.ones(n)], b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(m), 0.0][None], b_eq=[1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs")
    assert res.status == 0
    return -res.fun


@st.composite
def constant_sum_games(draw) -> np.ndarray:
    matrix = draw(payoff_tensors(n_players=(2, 2), actions=(1, 6)))[0]
    constant = draw(st.floats(-5, 5, allow_nan=False, width=32))
    return zero_sum(matrix, constant)


# --- properties -------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(constant_sum_games())
def test_equilibrium_on_simplex_and_verified(payoffs):
    sol = solve(payoffs, "zero_sum_lp")
    assert sol.solver == "zero_sum_lp/highs_lp"
    assert all(on_simplex(m) for m in sol.marginals)
    assert sol.gap <= sol.tolerance
    cand = zero_sum_lp(payoffs)
    x, y = cand.marginals
    # The LP value is what the strategies guarantee: x secures it, y holds the row player to it.
    assert (x @ payoffs[0]).min() == pytest.approx(cand.info["value"], abs=TOL * 20)
    assert (payoffs[0] @ y).max() == pytest.approx(cand.info["value"], abs=TOL * 20)
    assert sum(cand.info["values"]) == pytest.approx(payoffs[0, 0, 0] + payoffs[1, 0, 0], abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(constant_sum_games(), st.floats(-50, 50, allow_nan=False, width=32),
       st.floats(-50, 50, allow_nan=False, width=32))
def test_value_shifts_with_constants(payoffs, c0, c1):
    base = zero_sum_lp(payoffs).info["value"]
    shifted = payoffs + np.array([c0, c1])[:, None, None]      # still constant-sum
    assert zero_sum_lp(shifted).info["value"] == pytest.approx(base + c0, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(constant_sum_games(), st.randoms(use_true_random=False))
def test_value_invariant_to_permuting_actions(payoffs, rnd):
    m, n = payoffs.shape[1:]
    rows, cols = rnd.sample(range(m), m), rnd.sample(range(n), n)
    permuted = payoffs[:, rows][:, :, cols]
    sol = solve(permuted, "zero_sum_lp")
    assert sol.info["value"] == pytest.approx(zero_sum_lp(payoffs).info["value"], abs=1e-6)
    assert sol.gap <= sol.tolerance


# --- reference values ---------------------------------------------------------------------------

def test_matching_pennies():
    # Matching pennies: value 0, both players mix (1/2, 1/2) (von Neumann & Morgenstern 1944).
    sol = solve(zero_sum([[1, -1], [-1, 1]]), "zero_sum_lp")
    assert sol.info["value"] == pytest.approx(0.0, abs=1e-12)
    for m in sol.marginals:
        np.testing.assert_allclose(m, [0.5, 0.5], atol=1e-9)


def test_rock_paper_scissors():
    # Rock-paper-scissors: value 0, unique equilibrium uniform for both players.
    rps = [[0, -1, 1], [1, 0, -1], [-1, 1, 0]]
    sol = solve(zero_sum(rps), "zero_sum_lp")
    assert sol.info["value"] == pytest.approx(0.0, abs=1e-12)
    for m in sol.marginals:
        np.testing.assert_allclose(m, np.full(3, 1 / 3), atol=1e-9)


def test_odd_or_even_textbook():
    # Ferguson, "Game Theory" (UCLA notes), Part II, the Odd-or-Even game: A = [[-2, 3], [3, -4]],
    # value 1/12, both players' optimal strategy (7/12, 5/12). Check via the 2x2 formula:
    # v = (ad - bc) / (a + d - b - c) = (8 - 9) / (-12) = 1/12; p1 = (d - c) / (a + d - b - c) = 7/12.
    sol = solve(zero_sum([[-2, 3], [3, -4]]), "zero_sum_lp")
    assert sol.info["value"] == pytest.approx(1 / 12, abs=1e-12)
    for m in sol.marginals:
        np.testing.assert_allclose(m, [7 / 12, 5 / 12], atol=1e-9)


def test_saddle_point_constant_sum():
    # A saddle point (row 1, column 1): 3 is the minimum of its row and the maximum of its
    # column, so the value is 3 with pure strategies; the column player's payoffs are 10 - A.
    A = np.array([[1, 0, 7], [4, 3, 5], [2, 1, 9]])
    sol = solve(zero_sum(A, 10.0), "zero_sum_lp")
    assert sol.info["values"] == pytest.approx([3.0, 7.0], abs=1e-9)
    np.testing.assert_allclose(sol.marginals[0], [0, 1, 0], atol=1e-9)
    np.testing.assert_allclose(sol.marginals[1], [0, 1, 0], atol=1e-9)


# --- agreement with other implementations ------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_nashpy_and_scipy(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(1, 9, size=2)
    matrix = random_game(rng, (int(m), int(n)))[0] * 10 - 5
    ours = zero_sum_lp(zero_sum(matrix)).info["value"]
    row, col = nashpy.Game(matrix).linear_program()
    assert ours == pytest.approx(float(row @ matrix @ col), abs=1e-6)
    assert ours == pytest.approx(reference_value(matrix), abs=1e-8)


# --- applicability and failures --------------------------------------------------------------------

def test_applies_only_to_two_player_constant_sum():
    assert constant_sum_applies(zero_sum(np.eye(3), 4.0), {}) is None
    assert "2-player" in constant_sum_applies(np.zeros((3, 2, 2, 2)), {})
    general = np.stack([np.eye(2), np.eye(2)])
    assert "not constant-sum" in constant_sum_applies(general, {})
    with pytest.raises(popgames.SolverError, match="not constant-sum"):
        solve(general, "zero_sum_lp")
    with pytest.raises(popgames.SolverError, match="not constant-sum"):
        zero_sum_lp(general)


def test_highs_status_is_reported(monkeypatch):
    limited = highspy.Highs()
    limited.setOptionValue("output_flag", False)
    limited.setOptionValue("simplex_iteration_limit", 0)
    monkeypatch.setattr(zs, "_highs", lambda: limited)
    with pytest.raises(popgames.SolverError, match="HiGHS model status: Iteration limit"):
        zero_sum_lp(zero_sum([[-2, 3], [3, -4]]))
