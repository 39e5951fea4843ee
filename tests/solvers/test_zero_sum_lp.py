"""Tests for the 2-player constant-sum LP solver (popgames.solvers.zero_sum_lp)."""

from __future__ import annotations

import clarabel
import highspy
import nashpy
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import popgames
from popgames.solvers import solve, zero_sum_lp as zs, zero_sum_select as zss
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


# --- max-entropy selection (select="max_entropy") ----------------------------------------------

ME = 1e-9  # regret tolerance of the selection: it is an equilibrium to round-off


def entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


@st.composite
def degenerate_constant_sum_games(draw) -> np.ndarray:
    """Constant-sum games with many equilibria: small integers, duplicated rows and columns."""
    matrix = draw(payoff_tensors(n_players=(2, 2), actions=(1, 5), integer=True))[0]
    rows = draw(st.lists(st.integers(0, matrix.shape[0] - 1), min_size=1, max_size=7))
    cols = draw(st.lists(st.integers(0, matrix.shape[1] - 1), min_size=1, max_size=7))
    return zero_sum(matrix[rows][:, cols], draw(st.sampled_from([0.0, 3.0])))


def regrets(payoffs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float((payoffs[0] @ y).max() - (x @ payoffs[0]).min())


# Hypothesis found it (no example database): the simplex vertex y = (1/3, 2/3) has regret
# 6.7e-11 (row 2 earns 1e-10 * y_2), within HiGHS's tolerance but not exactly optimal; the
# only exact optimum is y = (1, 0), with less entropy than that vertex.
NEAR_TIE_VERTEX = np.array([[[-2.0, 1.0], [0.0, 1.00000001e-10], [0.0, 0.0]],
                            [[2.0, -1.0], [0.0, -1.00000001e-10], [0.0, 0.0]]])


@settings(max_examples=60, deadline=None)
@given(degenerate_constant_sum_games() | constant_sum_games())
@example(payoffs=NEAR_TIE_VERTEX)
def test_max_entropy_is_an_equilibrium_with_at_least_the_vertex_entropy(payoffs):
    vertex = zero_sum_lp(payoffs)
    chosen = zero_sum_lp(payoffs, select="max_entropy")
    x, y = chosen.marginals
    assert on_simplex(x, atol=1e-12) and on_simplex(y, atol=1e-12)
    scale = max(1.0, float(np.ptp(payoffs)))
    # As exact as the simplex pair (HiGHS's 1e-7 tolerances leave ~1e-10 on near-ties).
    assert regrets(payoffs, x, y) <= max(ME * scale, 2 * regrets(payoffs, *vertex.marginals))
    assert chosen.info["value"] == pytest.approx(vertex.info["value"], abs=1e-6 * scale)
    assert chosen.info["value"] == pytest.approx(float(x @ payoffs[0] @ y), abs=ME * scale)
    # The vertex is an equal match only if it is optimal to the selection's own tolerance
    # (1e-11 of the range, zero_sum_select): a near-tie HiGHS accepts is not on the face.
    if regrets(payoffs, *vertex.marginals) <= 1e-11 * float(np.ptp(payoffs)):
        for mine, theirs in zip(chosen.marginals, vertex.marginals):
            assert entropy(mine) >= entropy(theirs) - 1e-12
    for name in ("zero_sum_lp", "nash"):
        sol = solve(payoffs, name, select="max_entropy")
        assert sol.solver == f"{name}/" + ("highs_lp" if name == "zero_sum_lp" else "zero_sum_lp")
        assert sol.gap <= max(ME * scale, 2 * regrets(payoffs, *vertex.marginals))
        for a, b in zip(sol.marginals, chosen.marginals):
            np.testing.assert_allclose(a, b, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(degenerate_constant_sum_games(), st.randoms(use_true_random=False))
def test_max_entropy_is_equivariant_under_permuting_actions(payoffs, rnd):
    # The max-entropy equilibrium is unique, so it must move with the actions; a simplex
    # vertex need not (it depends on the order of the columns of the LP).
    m, n = payoffs.shape[1:]
    rows, cols = rnd.sample(range(m), m), rnd.sample(range(n), n)
    x, y = zero_sum_lp(payoffs, select="max_entropy").marginals
    px, py = zero_sum_lp(payoffs[:, rows][:, :, cols], select="max_entropy").marginals
    np.testing.assert_allclose(px, x[rows], atol=1e-9)
    np.testing.assert_allclose(py, y[cols], atol=1e-9)


def test_max_entropy_equals_the_unique_equilibrium():
    # Unique equilibria (cited in the reference tests above): RPS uniform, Ferguson's
    # odd-or-even (7/12, 5/12), and a saddle point; a random real game has a unique one too.
    cases = [([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], [1 / 3] * 3, [1 / 3] * 3),
             ([[-2, 3], [3, -4]], [7 / 12, 5 / 12], [7 / 12, 5 / 12]),
             ([[1, 0, 7], [4, 3, 5], [2, 1, 9]], [0, 1, 0], [0, 1, 0])]
    for matrix, x, y in cases:
        chosen = zero_sum_lp(zero_sum(matrix), select="max_entropy").marginals
        np.testing.assert_allclose(chosen[0], x, atol=1e-12)
        np.testing.assert_allclose(chosen[1], y, atol=1e-12)
    rng = np.random.default_rng(5)
    for _ in range(5):
        payoffs = zero_sum(rng.normal(size=(7, 6)))
        for a, b in zip(zero_sum_lp(payoffs, select="max_entropy").marginals,
                        zero_sum_lp(payoffs).marginals):
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_max_entropy_on_a_segment_of_equilibria():
    # Hand-computed. The 2x2 game [[2, -1], [-1, 1]] has value 1/5 and unique optimal
    # strategies (2/5, 3/5) for both players (2x2 formula: v = (2 - 1) / (2 + 1 + 1 + 1)).
    # A third row paying 1/5 against both columns makes every x = (2t/5, 3t/5, 1 - t),
    # t in [0, 1], optimal. Entropy H(t) = t H0 - t log t - (1 - t) log(1 - t) with
    # H0 = H(2/5, 3/5); H'(t) = 0 gives (1 - t) / t = exp(-H0), t = 1 / (1 + exp(-H0)).
    # The simplex returns an end of the segment.
    matrix = [[2, -1], [-1, 1], [0.2, 0.2]]
    h0 = entropy(np.array([0.4, 0.6]))
    t = 1 / (1 + np.exp(-h0))
    x, y = zero_sum_lp(zero_sum(matrix), select="max_entropy").marginals
    np.testing.assert_allclose(x, [0.4 * t, 0.6 * t, 1 - t], atol=1e-12)
    np.testing.assert_allclose(y, [0.4, 0.6], atol=1e-12)
    vertex = zero_sum_lp(zero_sum(matrix)).marginals[0]
    assert min(abs(vertex[2] - 0.0), abs(vertex[2] - 1.0)) <= 1e-12


def test_max_entropy_with_a_binding_inequality():
    # Hand-computed. Column 0 pays 0 against every row, so the value is 0 and the row
    # player's optimal set is {x : x . (1, 1, -3) >= 0} = {x_3 <= 1/4}: entropy is then
    # maximised on the boundary, x = (3/8, 3/8, 1/4) (the inequality binds, though column
    # 1 is in no optimal support: any y putting weight on it lets row 0 or 1 gain).
    x, y = zero_sum_lp(zero_sum([[0, 1], [0, 1], [0, -3]]), select="max_entropy").marginals
    np.testing.assert_allclose(x, [3 / 8, 3 / 8, 1 / 4], atol=1e-12)
    np.testing.assert_allclose(y, [1, 0], atol=1e-12)


def test_max_entropy_splits_redundant_copies():
    # RPS with rock entered twice: optimal strategies put 1/3 on paper, 1/3 on scissors and
    # 1/3 on the two rocks together; the maximum-entropy one splits the rocks equally
    # (the redundancy example of Balduzzi et al. 2018, "Re-evaluating evaluation", Sec. 3).
    rps2 = [[0, 0, -1, 1], [0, 0, -1, 1], [1, 1, 0, -1], [-1, -1, 1, 0]]
    x, y = zero_sum_lp(zero_sum(rps2), select="max_entropy").marginals
    np.testing.assert_allclose(x, [1 / 6, 1 / 6, 1 / 3, 1 / 3], atol=1e-12)
    np.testing.assert_allclose(y, [1 / 6, 1 / 6, 1 / 3, 1 / 3], atol=1e-12)
    # A constant game: every strategy is optimal, the uniform one has the most entropy.
    x, y = zero_sum_lp(zero_sum(np.full((2, 3), 4.0)), select="max_entropy").marginals
    np.testing.assert_allclose(x, [0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(y, [1 / 3] * 3, atol=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_max_entropy_agrees_with_cvxpy(seed):
    # Independent model: cvxpy's entr over {x in simplex : A^T x >= v - 1e-9} (Clarabel).
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(seed)
    base = rng.integers(-2, 3, size=(4, 4)).astype(float)
    matrix = base[rng.integers(0, 4, size=6)][:, rng.integers(0, 4, size=5)]
    chosen = zero_sum_lp(zero_sum(matrix), select="max_entropy")
    value = chosen.info["value"]
    for mine, game, v in ((chosen.marginals[0], matrix, value),
                          (chosen.marginals[1], -matrix.T, -value)):
        x = cp.Variable(game.shape[0], nonneg=True)
        problem = cp.Problem(cp.Maximize(cp.sum(cp.entr(x))),
                             [cp.sum(x) == 1, game.T @ x >= v - 1e-9])
        problem.solve(solver="CLARABEL")
        np.testing.assert_allclose(mine, x.value, atol=1e-4)
        assert entropy(mine) >= problem.value - 1e-5


@pytest.mark.parametrize("seed", range(6))
def test_optimal_supports_are_the_largest(seed):
    # Brute force: action i is in the largest optimal support iff max x_i over the optimal
    # set (scipy's LP, value relaxed by 1e-9) is positive.
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 3, size=(4, 4)).astype(float) / 2
    matrix = base[rng.integers(0, 4, size=6)][:, rng.integers(0, 4, size=5)]
    matrix = (matrix - matrix.min()) / max(np.ptp(matrix), 1e-300)
    value = zero_sum_lp(zero_sum(matrix)).info["value"]
    rows, cols = zss.optimal_supports(matrix)
    for mask, game, v in ((rows, matrix, value), (cols, 1 - matrix.T, 1 - value)):
        k = game.shape[0]
        for i in range(k):
            res = linprog(-np.eye(k)[i], A_ub=-game.T, b_ub=-(v - 1e-9) * np.ones(game.shape[1]),
                          A_eq=np.ones((1, k)), b_eq=[1.0], bounds=[(0, None)] * k, method="highs")
            assert mask[i] == (-res.fun > 1e-6)


def test_shortcut_and_interior_point_supports_agree():
    # With a strictly complementary simplex pair the supports are read off it; the
    # general path (no vertex given) must give the same strategies.
    rng = np.random.default_rng(2)
    for shape in [(5, 5), (6, 3), (2, 7)]:
        matrix = rng.random(shape)
        vertex = zero_sum_lp(zero_sum(matrix))
        x0, y0 = vertex.marginals
        assert zss.strictly_complementary(matrix, (x0, y0)) is not None
        fast = zss.max_entropy_equilibrium(matrix, (x0, y0))
        slow = zss.max_entropy_equilibrium(matrix)
        np.testing.assert_allclose(fast[0], slow[0], atol=1e-12)
        np.testing.assert_allclose(fast[1], slow[1], atol=1e-12)


def test_kuhn_psro_with_max_entropy_reaches_the_game_value():
    # Kuhn poker's value for player 0 is -1/18 (Kuhn 1950); exact PSRO with the
    # max-entropy meta-solver must reach NashConv <= 1e-9 there.
    from popgames.loops.psro import psro
    from popgames.kinds.spiel.game import SpielGame
    records = list(psro(SpielGame("kuhn_poker"), "nash", iterations=30,
                        solver_options={"select": "max_entropy"}))
    assert records[-1].exploitability <= 1e-9
    assert records[-1].meta_payoffs[0] == pytest.approx(-1 / 18, abs=1e-12)
    assert records[-1].meta_solver == "nash/zero_sum_lp"


def test_bad_selection_and_failures_are_reported(monkeypatch):
    with pytest.raises(popgames.PopgamesError, match="unknown selection 'fancy'"):
        zero_sum_lp(zero_sum(np.eye(2)), select="fancy")
    # Through the registry the value is checked against select's Literal annotation first.
    with pytest.raises(popgames.GameCardError, match="select': expected one of 'vertex', 'max_entropy'"):
        solve(zero_sum(np.eye(2)), "zero_sum_lp", select="fancy")

    class Failed:
        status, x, s, z = "NumericalError", None, None, None

    class Broken:
        def __init__(self, *args):
            pass

        def solve(self):
            return Failed()

    monkeypatch.setattr(clarabel, "DefaultSolver", Broken)
    # Not strictly complementary, so the supports need Clarabel's LP; the fallback, the
    # simplex pair's own supports (0 and 2 for the rows), leaves one point: no Clarabel.
    faces = zero_sum([[1, -1], [1, -1], [-1, 1]])
    chosen = zero_sum_lp(faces, select="max_entropy")
    assert chosen.info["supports_from"] == "simplex vertex"
    assert "Clarabel status NumericalError" in chosen.info["failed"][0]
    assert regrets(faces, *chosen.marginals) <= ME
    # When every try fails, the plain function raises with each try's cause, and the
    # backend keeps the simplex pair (a verified equilibrium), saying why.
    def no_face(*args):
        raise popgames.SolverError("zero_sum_lp", "Clarabel status Broken")

    monkeypatch.setattr(zss, "_max_entropy_on_face", no_face)
    with pytest.raises(popgames.SolverError, match="interior point supports: Clarabel status "
                                                   "NumericalError$"):
        zss.max_entropy_equilibrium(faces[0])
    vertex = zero_sum_lp(faces)
    kept = solve(faces, "nash", select="max_entropy")
    assert kept.solver == "nash/zero_sum_lp" and kept.gap <= ME
    assert kept.info["supports_from"] == "none (simplex vertex kept)"
    assert kept.info["failed"] == ["interior point supports: Clarabel status NumericalError",
                                   "simplex vertex supports: Clarabel status Broken"]
    for a, b in zip(kept.marginals, vertex.marginals):
        np.testing.assert_array_equal(a, b)


def test_selection_on_a_general_sum_game_is_refused_not_ignored():
    # Lemke-Howson and the MILP cannot honour `select`: the nash entry must not silently
    # return their (unselected) answer for a general-sum game.
    battle = np.array([[[2.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]])
    with pytest.raises(popgames.SolverError, match="only for 2-player zero-sum games"):
        solve(battle, "nash", select="max_entropy")
    assert solve(battle, "nash").gap <= 1e-9


@pytest.mark.parametrize("scale", [1.17549435e-38, 1e-9, 1e9, 1e150])
def test_any_payoff_scale_gives_the_same_verified_strategies(scale):
    # HiGHS's tolerances are absolute: once the tolerance scaled with the payoffs, the LP
    # had to as well (hypothesis found [[-1.18e-38], [0]] failing verification).
    matrix = np.random.default_rng(3).normal(size=(5, 4))
    unit = solve(zero_sum(matrix), "zero_sum_lp")
    sol = solve(zero_sum(matrix * scale), "zero_sum_lp")
    assert sol.converged and sol.gap <= sol.tolerance
    for ours, ref in zip(sol.marginals, unit.marginals):
        np.testing.assert_allclose(ours, ref, atol=1e-9)
    assert sol.info["value"] == pytest.approx(unit.info["value"] * scale, rel=1e-9)
    tiny = solve(np.array([[[-1.17549435e-38], [0.0]], [[1.17549435e-38], [0.0]]]), "zero_sum_lp")
    np.testing.assert_allclose(tiny.marginals[0], [0, 1])
