"""Tests for the Lemke-Howson solver (popgames.solvers.lemke_howson)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from popgames.analysis.exploitability import nash_regrets
from popgames.errors import SolverError
from popgames.solvers import solve
from popgames.solvers.lemke_howson import lemke_howson, lemke_howson_all
from game_strategies import on_simplex, payoff_tensors, random_game

TOL = 1e-9


def tolerance(payoffs: np.ndarray) -> float:
    return TOL * max(1.0, float(np.ptp(payoffs)))


def assert_equilibrium(payoffs: np.ndarray, marginals) -> None:
    assert all(on_simplex(m) for m in marginals)
    assert nash_regrets(payoffs, marginals).sum() <= tolerance(payoffs)


def same_profile(a, b, atol: float = 1e-7) -> bool:
    return all(np.allclose(x, y, atol=atol) for x, y in zip(a, b))


# ---------------------------------------------------------------- properties

@settings(max_examples=60, deadline=None)
@given(payoff_tensors(actions=(1, 6)))
def test_every_label_gives_an_equilibrium(payoffs):
    m, n = payoffs.shape[1:]
    for label in range(m + n):
        cand = lemke_howson(payoffs, label=label)
        assert cand.info["label"] == label and cand.info["pivots"] >= 1
        assert_equilibrium(payoffs, cand.marginals)


@settings(max_examples=60, deadline=None)
@given(payoff_tensors(actions=(1, 6), integer=True))
def test_degenerate_integer_games_terminate_with_an_equilibrium(payoffs):
    m, n = payoffs.shape[1:]
    for label in range(m + n):
        cand = lemke_howson(payoffs, label=label, max_pivots=10_000)
        assert_equilibrium(payoffs, cand.marginals)


@settings(max_examples=40, deadline=None)
@given(payoff_tensors(actions=(1, 5)), st.integers(0, 9),
       st.floats(-50, 50, allow_nan=False), st.integers(0, 1))
def test_through_registry_and_constant_shift_invariance(payoffs, label, shift, player):
    label %= sum(payoffs.shape[1:])
    sol = solve(payoffs, "lemke_howson", label=label)
    assert sol.solver == "lemke_howson/lemke_howson"
    assert sol.gap <= sol.tolerance and sol.info["label"] == label
    shifted = payoffs.copy()
    shifted[player] += shift
    moved = lemke_howson(shifted, label=label).marginals
    assert same_profile(moved, sol.marginals, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 2**32 - 1), st.data())
def test_permuting_actions_permutes_the_equilibrium(m, n, seed, data):
    # Continuous random payoffs: nondegenerate with probability one, so the LH path from a
    # label is unique and renaming actions (and the label with them) renames the result.
    rng = np.random.default_rng(seed)
    payoffs = random_game(rng, (m, n))
    rows, cols = rng.permutation(m), rng.permutation(n)
    permuted = payoffs[:, rows][:, :, cols]        # action i of the new game is rows[i]
    label = data.draw(st.integers(0, m + n - 1))
    new_label = (int(np.flatnonzero(rows == label)[0]) if label < m
                 else m + int(np.flatnonzero(cols == label - m)[0]))
    x, y = lemke_howson(payoffs, label=label).marginals
    px, py = lemke_howson(permuted, label=new_label).marginals
    assert np.allclose(px, x[rows], atol=1e-9) and np.allclose(py, y[cols], atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(payoff_tensors(actions=(1, 6), integer=True) | payoff_tensors(actions=(1, 6)))
def test_race_returns_the_equilibrium_of_the_label_that_finished(payoffs):
    cand = lemke_howson(payoffs, label=None)
    assert_equilibrium(payoffs, cand.marginals)
    alone = lemke_howson(payoffs, label=cand.info["label"])
    assert same_profile(alone.marginals, cand.marginals, atol=1e-12)
    assert alone.info["pivots"] <= cand.info["pivots"]
    sol = solve(payoffs, "lemke_howson", label=None)
    assert sol.gap <= sol.tolerance


def test_race_shortens_a_long_path():
    # A 60x60 random game whose label-0 path is long: the race stops far earlier.
    rng = np.random.default_rng(2)
    worst = max((random_game(rng, (60, 60)) for _ in range(12)),
                key=lambda p: lemke_howson(p, label=0).info["pivots"])
    long = lemke_howson(worst, label=0).info["pivots"]
    raced = lemke_howson(worst, label=None)
    assert_equilibrium(worst, raced.marginals)
    assert raced.info["pivots"] < long


# ---------------------------------------------------------------- reference values

def test_matching_pennies():
    # Textbook: the unique equilibrium is (1/2, 1/2) for both players, value 0.
    a = np.array([[1.0, -1.0], [-1.0, 1.0]])
    for label in range(4):
        sol = solve(np.stack([a, -a]), "lemke_howson", label=label)
        assert np.allclose(sol.marginals[0], 0.5) and np.allclose(sol.marginals[1], 0.5)
        assert abs(sol.payoffs[0]) < 1e-12


def test_rock_paper_scissors_uniform():
    # Textbook: the unique equilibrium of rock-paper-scissors is uniform.
    a = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    for label in range(6):
        x, y = lemke_howson(np.stack([a, -a]), label=label).marginals
        assert np.allclose(x, 1 / 3) and np.allclose(y, 1 / 3)


# The 3x2 game of B. von Stengel, "Equilibrium computation for two-player games in strategic
# and extensive form", ch. 3 of Algorithmic Game Theory (Nisan et al. eds., 2007), the running
# example of his Lemke-Howson exposition (also used in quantecon's lemke_howson docstring).
# It has three equilibria; LH reaches only two, and which one depends on the dropped label.
# The values below were computed (by hand from the supports, and by this solver) and are
# cross-checked against gambit's exact enumeration in the next test.
STENGEL = np.array([[[3, 3], [2, 5], [0, 6]], [[3, 2], [2, 6], [3, 1]]], dtype=float)
PURE = (np.array([1, 0, 0]), np.array([1, 0]))
MIXED = (np.array([0, 1 / 3, 2 / 3]), np.array([1 / 3, 2 / 3]))
UNREACHED = (np.array([4 / 5, 1 / 5, 0]), np.array([2 / 3, 1 / 3]))
STENGEL_BY_LABEL = {0: PURE, 1: MIXED, 2: PURE, 3: PURE, 4: MIXED}


def test_von_stengel_example_labels_reach_different_equilibria():
    for label, expected in STENGEL_BY_LABEL.items():
        assert same_profile(lemke_howson(STENGEL, label=label).marginals, expected, atol=1e-12)
    found = lemke_howson_all(STENGEL)
    assert len(found) == 2
    assert same_profile(found[0], PURE) and same_profile(found[1], MIXED)
    assert_equilibrium(STENGEL, UNREACHED)      # a third equilibrium exists, never reached


# ---------------------------------------------------------------- other implementations

def _gambit_equilibria(payoffs: np.ndarray, rational: bool):
    gbt = pytest.importorskip("pygambit")
    if rational:
        arrays = [[[Fraction(int(v)) for v in row] for row in mat] for mat in payoffs]
        game = gbt.Game.from_arrays(*[np.array(a, dtype=object) for a in arrays])
    else:
        game = gbt.Game.from_arrays(payoffs[0], payoffs[1])
    result = gbt.nash.enummixed_solve(game, rational=rational)
    out = []
    for eq in result.equilibria:
        x, y = (np.array([float(eq[s]) for s in p.strategies]) for p in game.players)
        out.append((x, y))
    return out


def test_von_stengel_example_against_gambit():
    eqs = _gambit_equilibria(STENGEL, rational=True)
    assert len(eqs) == 3
    for ref in (PURE, MIXED, UNREACHED):
        assert any(same_profile(ref, e, atol=1e-12) for e in eqs)


@pytest.mark.parametrize("integer", [False, True])
def test_every_label_result_is_a_gambit_extreme_equilibrium(integer):
    rng = np.random.default_rng(20240 + integer)
    for _ in range(25):
        m, n = rng.integers(1, 6, size=2)
        payoffs = random_game(rng, (int(m), int(n)), integer=integer)
        eqs = _gambit_equilibria(payoffs, rational=integer)
        for label in range(m + n):
            ours = lemke_howson(payoffs, label=label).marginals
            assert any(same_profile(ours, e, atol=1e-6) for e in eqs), (payoffs, label)
        for found in lemke_howson_all(payoffs):
            assert any(same_profile(found, e, atol=1e-6) for e in eqs)


def test_agrees_with_nashpy_on_nondegenerate_games():
    # nashpy labels 0..m-1 the row player's actions and m..m+n-1 the column player's, and
    # starts in the row player's tableau for a row label: the same convention as ours.
    # Only m <= n: for m > n nashpy 0.0.43 returns non-equilibria for about a quarter of the
    # labels on random games (measured here; cf. github.com/drvinceknight/Nashpy/issues/83).
    nash = pytest.importorskip("nashpy")
    rng = np.random.default_rng(7)
    for _ in range(15):
        m = int(rng.integers(2, 6))
        n = int(rng.integers(m, 7))
        payoffs = random_game(rng, (m, n))
        game = nash.Game(payoffs[0], payoffs[1])
        for label in range(m + n):
            theirs = game.lemke_howson(initial_dropped_label=label)
            assert_equilibrium(payoffs, theirs)
            assert same_profile(lemke_howson(payoffs, label=label).marginals, theirs, atol=1e-8)


def test_agrees_with_quantecon_on_larger_games():
    # quantecon's init_pivot uses the same label numbering; the pivot counts must agree too.
    gt = pytest.importorskip("quantecon.game_theory")
    rng = np.random.default_rng(11)
    for n in (12, 30, 40):
        payoffs = random_game(rng, (n, n + 3))
        game = gt.NormalFormGame(np.stack([payoffs[0], payoffs[1]], axis=-1))
        for label in (0, n // 2, n + 1, 2 * n + 2):
            ne, res = gt.lemke_howson(game, init_pivot=label, full_output=True)
            cand = lemke_howson(payoffs, label=label)
            assert same_profile(cand.marginals, ne, atol=1e-9)
            assert cand.info["pivots"] == res.num_iter


# ---------------------------------------------------------------- larger and degenerate games

def test_larger_random_and_degenerate_games():
    rng = np.random.default_rng(3)
    for integer, n, hi in [(False, 80, None), (True, 40, 2), (True, 60, 1)]:
        payoffs = (rng.integers(0, hi + 1, size=(2, n, n)).astype(float) if integer
                   else random_game(rng, (n, n)))
        if integer:
            payoffs[:, :, 1] = payoffs[:, :, 0]          # duplicated column: more ties
        for label in (0, n - 1, n, 2 * n - 1):
            cand = lemke_howson(payoffs, label=label)
            assert_equilibrium(payoffs, cand.marginals)


def test_constant_and_trivial_games():
    for shape in [(1, 1), (1, 4), (3, 1), (3, 4)]:
        payoffs = np.zeros((2, *shape))
        for label in range(sum(shape)):
            assert_equilibrium(payoffs, lemke_howson(payoffs, label=label).marginals)


# ---------------------------------------------------------------- errors

def test_errors():
    with pytest.raises(SolverError, match="2-player"):
        lemke_howson(np.zeros((3, 2, 2, 2)))
    with pytest.raises(SolverError, match="label"):
        lemke_howson(STENGEL, label=5)
    with pytest.raises(SolverError, match="label"):
        lemke_howson(STENGEL, label=-1)
    with pytest.raises(SolverError, match="max_pivots"):
        lemke_howson(STENGEL, label=1, max_pivots=2)
    with pytest.raises(SolverError, match="max_pivots"):
        lemke_howson(STENGEL, max_pivots=0)
    with pytest.raises(SolverError, match="label"):
        lemke_howson(STENGEL, label=1.5)
    with pytest.raises(SolverError, match="needs 2 players"):
        solve(np.zeros((3, 2, 2, 2)), "lemke_howson")
    with pytest.raises(SolverError, match="label"):
        solve(STENGEL, "lemke_howson", label=9)
