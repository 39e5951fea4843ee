"""Tests for the CE / CCE solvers (popgames.solvers.correlated).

Oracles: hypothesis properties (simplex, verified gaps, CE => CCE, invariances),
hand-derived reference values, an independent cvxpy formulation written here with
loops over profiles, and OpenSpiel's JPSRO max-Gini solvers.
"""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import popgames.solvers as solvers
import popgames.solvers.correlated as correlated
import popgames.solvers.correlated_clarabel as correlated_clarabel
import popgames.solvers.correlated_constraints as constraints_module
import popgames.solvers.correlated_highs as correlated_highs
import popgames.solvers.correlated_newton as correlated_newton
from popgames.analysis.exploitability import cce_gaps, ce_gaps
from popgames.core.errors import PopgamesError, SolverError
from popgames.core.payoff_tensor import outer
from popgames.solvers.correlated import (coarse_correlated_equilibrium,
                                         coarse_correlated_equilibrium_cvxpy,
                                         correlated_equilibrium, correlated_equilibrium_cvxpy)
from popgames.solvers.correlated_constraints import cce_rows
from popgames.solvers.correlated_highs import face
from game_strategies import on_simplex, payoff_tensors, random_game

OBJECTIVES = ("max_welfare", "max_gini", "max_entropy")
CONCEPTS = ("ce", "cce")
GAPS = {"ce": ce_gaps, "cce": cce_gaps}
PLAIN = {"ce": correlated_equilibrium, "cce": coarse_correlated_equilibrium}
PROPERTY = settings(max_examples=25, deadline=None)
GAMES = payoff_tensors(n_players=(1, 3), actions=(1, 4)) | payoff_tensors(
    n_players=(2, 3), actions=(1, 4), integer=True)

# Chicken, payoffs (row, column): CC 6,6  CD 2,7  DC 7,2  DD 0,0 (Aumann 1974's example,
# as in the "Correlated equilibrium" Wikipedia article).
CHICKEN = np.array([[[6.0, 2.0], [7.0, 0.0]], [[6.0, 7.0], [2.0, 0.0]]])
RPS = np.array([[[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]])
RPS = np.concatenate([RPS, -RPS])


def _tol(payoffs: np.ndarray) -> float:
    return 1e-6 * max(1.0, float(payoffs.max() - payoffs.min()))


def _roundoff_differences(payoffs: np.ndarray) -> bool:
    """Whether two of a player's payoffs differ, but by less than 1e-9 of their range."""
    for player in payoffs.reshape(payoffs.shape[0], -1):
        gaps = np.abs(player[:, None] - player[None, :])
        if gaps.max() > 0 and 0 < gaps[gaps > 0].min() < 1e-9 * gaps.max():
            return True
    return False


# ----------------------------------------------------------------------------- properties

@pytest.mark.parametrize("concept", CONCEPTS)
@pytest.mark.parametrize("objective", OBJECTIVES)
@PROPERTY
@given(payoffs=GAMES)
@example(payoffs=np.array([[[-0.25, 0.0], [0.0, 9.99999996e-13]], [[0.0, -3.0], [0.0, 1.0]]]))
def test_answer_is_a_verified_equilibrium_on_the_simplex(payoffs, concept, objective):
    sol = solvers.solve(payoffs, concept, objective=objective)
    # Assumption: the direct backend answers unless two of a player's payoffs differ by a
    # round-off amount (below 1e-9 of their range). Hypothesis found a CCE max-Gini game
    # with a 1e-12 entry beside 0.25 (below): the face LP's tolerance drops the 1e-12 gain
    # and dual Newton and Clarabel both fail there; the cvxpy fallback answers, verified.
    assert sol.solver == f"{concept}/direct" or (_roundoff_differences(payoffs)
                                                 and sol.solver == f"{concept}/cvxpy")
    assert on_simplex(sol.joint)
    assert GAPS[concept](payoffs, sol.joint).sum() <= _tol(payoffs)
    if concept == "ce":  # every CE is a CCE
        assert cce_gaps(payoffs, sol.joint).sum() <= _tol(payoffs)
    if sol.solver.endswith("/direct"):
        plain = PLAIN[concept](payoffs, objective=objective)
        assert plain.info["objective_value"] == pytest.approx(sol.info["objective_value"], abs=1e-6)


def _pure_nash(payoffs: np.ndarray) -> list[tuple[int, ...]]:
    found = []
    for profile in itertools.product(*map(range, payoffs.shape[1:])):
        if all(payoffs[(i, *profile)] >= payoffs[i][profile[:i] + (slice(None),)
                                                    + profile[i + 1:]].max() - 1e-12
               for i in range(payoffs.shape[0])):
            found.append(profile)
    return found


@pytest.mark.parametrize("concept", CONCEPTS)
@PROPERTY
@given(payoffs=payoff_tensors(n_players=(2, 3), actions=(1, 4), integer=True))
def test_max_welfare_beats_every_pure_nash(payoffs, concept):
    """Every pure Nash equilibrium is a CE and CCE, so the LP optimum is at least its welfare."""
    sol = solvers.solve(payoffs, concept)
    for profile in _pure_nash(payoffs):
        point = np.zeros(payoffs.shape[1:])
        point[profile] = 1.0
        assert GAPS[concept](payoffs, point).sum() <= 1e-12
        assert sol.info["objective_value"] >= payoffs[(slice(None), *profile)].sum() - 1e-7


@pytest.mark.parametrize("objective", OBJECTIVES)
@PROPERTY
@given(payoffs=payoff_tensors(n_players=(1, 3), actions=(1, 4)))
def test_dominant_strategies_give_the_pure_profile(payoffs, objective):
    """When action 0 strictly dominates for everyone, (0, ..., 0) is the only CE and CCE."""
    payoffs = payoffs.copy()
    for i in range(payoffs.shape[0]):
        index = (i,) + (slice(None),) * i + (0,)
        payoffs[index] += 30.0
    point = np.zeros(payoffs.shape[1:])
    point[(0,) * (payoffs.ndim - 1)] = 1.0
    for concept in CONCEPTS:
        sol = solvers.solve(payoffs, concept, objective=objective)
        np.testing.assert_allclose(sol.joint, point, atol=1e-6)


# Payoffs on a 1/100 grid: gains of 1e-9 (which hypothesis likes) make the exact
# polytope differ from every solver's at its 1e-10 feasibility tolerance.
GRID_GAMES = payoff_tensors(n_players=(2, 3), actions=(2, 4)).map(lambda p: np.round(p, 2))


@pytest.mark.parametrize("concept", CONCEPTS)
@pytest.mark.parametrize("objective", OBJECTIVES)
@PROPERTY
@given(payoffs=GRID_GAMES | payoff_tensors(n_players=(2, 3), actions=(2, 4), integer=True),
       data=st.data())
def test_invariant_to_payoff_shifts_and_action_permutations(payoffs, concept, objective, data):
    n = payoffs.shape[0]
    shift = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
    perms = [np.array(data.draw(st.permutations(range(a)))) for a in payoffs.shape[1:]]
    base = solvers.solve(payoffs, concept, objective=objective)
    shifted = solvers.solve(payoffs + shift.reshape(-1, *[1] * n), concept, objective=objective)
    permuted_game = payoffs[(slice(None), *np.ix_(*perms))]
    permuted = solvers.solve(permuted_game, concept, objective=objective)
    if objective == "max_welfare":  # the LP optimum may not be unique: compare values
        assert shifted.info["objective_value"] == pytest.approx(
            base.info["objective_value"] + shift.sum(), abs=1e-6)
        assert permuted.info["objective_value"] == pytest.approx(
            base.info["objective_value"], abs=1e-6)
    else:  # strictly concave objectives: the optimum is unique
        atol = 1e-5 if objective == "max_gini" else 1e-4
        np.testing.assert_allclose(shifted.joint, base.joint, atol=atol)
        np.testing.assert_allclose(permuted.joint, base.joint[np.ix_(*perms)], atol=atol)


# ------------------------------------------------------------------- reference values

def test_chicken_reference_values():
    # Max welfare: Aumann (1974) / Wikipedia "Correlated equilibrium": 1/2 on (C,C) and
    # 1/4 on each of (C,D), (D,C) gives 5.25 each, welfare 10.5.
    sol = correlated_equilibrium(CHICKEN)
    assert sol.info["objective_value"] == pytest.approx(10.5, abs=1e-9)
    np.testing.assert_allclose(sol.joint, [[0.5, 0.25], [0.25, 0.0]], atol=1e-9)
    # Max Gini, derived by hand from the KKT conditions: the binding rows are
    # "recommended D" for both players (2 s_DD <= s_CD, s_DC); minimising
    # (1 - 5d)^2 + 9 d^2 with s_CD = s_DC = 2d gives d = 5/34.
    gini = correlated_equilibrium(CHICKEN, objective="max_gini")
    np.testing.assert_allclose(gini.joint, np.array([[9, 10], [10, 5]]) / 34, atol=1e-9)
    # Min epsilon, by hand: the rows "recommended D" read 2 s_DD - s_DC <= eps and
    # 2 s_DD - s_CD <= eps, so eps >= -min(s_CD, s_DC) >= -1/2, attained only at
    # s_CD = s_DC = 1/2.
    for objective in OBJECTIVES:
        strict = solvers.solve(CHICKEN, "ce", objective=objective, min_epsilon=True)
        assert strict.info["epsilon"] == pytest.approx(-0.5, abs=1e-9)
        np.testing.assert_allclose(strict.joint, [[0.0, 0.5], [0.5, 0.0]], atol=1e-9)
    # A negative epsilon asks every row to be at most epsilon: check the rows here.
    strict = correlated_equilibrium(CHICKEN, epsilon=-0.25)
    for i, joint in enumerate((strict.joint, strict.joint.T)):
        gains = joint @ CHICKEN[i].T if i == 0 else joint @ CHICKEN[i]  # [rec, dev]
        assert all(gains[a, 1 - a] - gains[a, a] <= -0.25 + 1e-9 for a in range(2))
    # The mixed Nash equilibrium (2/3 C, 1/3 D each) is a CE, with welfare 28/3 < 10.5.
    nash = outer([np.array([2, 1]) / 3] * 2)
    assert ce_gaps(CHICKEN, nash).sum() <= 1e-12
    assert (CHICKEN.reshape(2, -1).sum(axis=0) @ nash.ravel()) < sol.info["objective_value"]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_rock_paper_scissors_equilibria(objective):
    # In two-player zero-sum games CE marginals are optimal strategies (Forges 1990,
    # Econometrica 58:515); for RPS the CE set is the single uniform point.
    sol = solvers.solve(RPS, "ce", objective=objective)
    np.testing.assert_allclose(sol.joint, np.full((3, 3), 1 / 9), atol=1e-6)
    assert solvers.solve(RPS, "ce", objective=objective, min_epsilon=True).info[
        "epsilon"] == pytest.approx(0.0, abs=1e-9)
    # CCEs are not unique: each player must get the value 0 against a uniform opponent
    # marginal, e.g. 1/3 on each of the diagonal profiles. Gini / entropy pick uniform.
    cce = solvers.solve(RPS, "cce", objective=objective)
    for marginal in (cce.joint.sum(axis=0), cce.joint.sum(axis=1)):
        np.testing.assert_allclose(marginal, np.full(3, 1 / 3), atol=1e-6)
    np.testing.assert_allclose(cce.payoffs, 0.0, atol=1e-6)
    assert cce_gaps(RPS, np.eye(3) / 3).sum() <= 1e-12
    if objective != "max_welfare":
        np.testing.assert_allclose(cce.joint, np.full((3, 3), 1 / 9), atol=1e-6)


# ----------------------------------------------------- agreement with other implementations

def _reference_model(payoffs: np.ndarray, concept: str):
    """Independent cvxpy model: one constraint per deviation, built by looping over profiles."""
    shape = payoffs.shape[1:]
    x = cp.Variable(shape if len(shape) > 1 else shape[0], nonneg=True)
    flat = cp.reshape(x, (int(np.prod(shape)),), order="C")
    profiles = list(itertools.product(*map(range, shape)))
    rows = []
    for i, a_i in enumerate(shape):
        for dev in range(a_i):
            recs = range(a_i) if concept == "ce" else [None]
            for rec in recs:
                if rec == dev:
                    continue
                coef = np.zeros(len(profiles))
                for k, prof in enumerate(profiles):
                    if rec is not None and prof[i] != rec:
                        continue
                    moved = prof[:i] + (dev,) + prof[i + 1:]
                    coef[k] = payoffs[(i, *moved)] - payoffs[(i, *prof)]
                rows.append(coef)
    constraints = [cp.sum(flat) == 1]
    if rows:
        constraints.append(np.array(rows) @ flat <= 0)
    return flat, constraints


def _reference_value(payoffs: np.ndarray, concept: str, objective: str) -> float:
    flat, constraints = _reference_model(payoffs, concept)
    welfare = payoffs.reshape(payoffs.shape[0], -1).sum(axis=0)
    goal = {"max_welfare": cp.Maximize(welfare @ flat),
            "max_gini": cp.Maximize(1 - cp.sum_squares(flat)),
            "max_entropy": cp.Maximize(cp.sum(cp.entr(flat)))}[objective]
    problem = cp.Problem(goal, constraints)
    problem.solve(solver="CLARABEL")
    return float(problem.value)


@pytest.mark.parametrize("shape", [(2, 2), (3, 4), (5, 5), (2, 3, 3), (10, 10)])
@pytest.mark.parametrize("concept", CONCEPTS)
def test_objective_values_agree_with_independent_cvxpy_model(shape, concept):
    rng = np.random.default_rng(sum(shape))
    for integer in (False, True):
        payoffs = random_game(rng, shape, integer=integer)
        for objective in OBJECTIVES:
            ours = PLAIN[concept](payoffs, objective=objective).info["objective_value"]
            assert ours == pytest.approx(_reference_value(payoffs, concept, objective), abs=2e-6)


@pytest.mark.parametrize("concept", CONCEPTS)
def test_min_epsilon_agrees_with_independent_lp(concept):
    rng = np.random.default_rng(7)
    for shape in [(3, 3), (4, 5), (2, 3, 3)]:
        payoffs = random_game(rng, shape)
        flat, constraints = _reference_model(payoffs, concept)
        t = cp.Variable()
        constraints[1] = constraints[1].args[0] <= t  # rows <= t instead of <= 0
        cp.Problem(cp.Minimize(t), constraints).solve(solver="HIGHS")
        for objective in OBJECTIVES:
            sol = solvers.solve(payoffs, concept, objective=objective, min_epsilon=True)
            assert sol.info["epsilon"] == pytest.approx(min(float(t.value), 0.0), abs=1e-7)
            assert sol.gap <= sol.tolerance


@pytest.mark.parametrize("concept", CONCEPTS)
def test_max_gini_matches_openspiel_jpsro(concept):
    jpsro = pytest.importorskip("open_spiel.python.algorithms.jpsro")
    rng = np.random.default_rng(3)
    for shape in [(3, 3), (4, 4), (5, 3), (2, 2, 3)]:
        payoffs = random_game(rng, shape)
        repeats = [np.ones(a) for a in shape]
        theirs, _ = (jpsro._mgce if concept == "ce" else jpsro._mgcce)(payoffs, repeats)
        ours = solvers.solve(payoffs, concept, objective="max_gini").joint
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_cvxpy_backend_agrees_with_direct_backend():
    rng = np.random.default_rng(11)
    payoffs = random_game(rng, (4, 4))
    for objective in OBJECTIVES:
        for fast, slow in ((correlated_equilibrium, correlated_equilibrium_cvxpy),
                           (coarse_correlated_equilibrium, coarse_correlated_equilibrium_cvxpy)):
            a, b = fast(payoffs, objective=objective), slow(payoffs, objective=objective)
            assert a.info["objective_value"] == pytest.approx(b.info["objective_value"], abs=1e-6)


# ------------------------------------------------------------ options, errors, fallback

def test_larger_game_uses_newton_and_matches_clarabel():
    payoffs = random_game(np.random.default_rng(0), (25, 25))
    for objective in ("max_gini", "max_entropy"):
        sol = correlated_equilibrium(payoffs, objective=objective)
        assert sol.info["method"] == "dual-newton"
        ref = correlated_equilibrium_cvxpy(payoffs, objective=objective)
        assert sol.info["objective_value"] == pytest.approx(ref.info["objective_value"], abs=1e-6)


def test_positive_epsilon_is_answered_by_approximate_backend():
    payoffs = random_game(np.random.default_rng(1), (4, 4))
    exact = solvers.solve(payoffs, "ce")
    loose = solvers.solve(payoffs, "ce", epsilon=0.05)
    assert loose.solver == "ce/direct-approx"
    assert loose.info["objective_value"] >= exact.info["objective_value"] - 1e-9
    # Each row is at most epsilon, so the gap is at most (#recommendations) * epsilon.
    assert loose.gap <= 8 * 0.05 + 1e-9


def test_bad_options_raise_clear_errors():
    with pytest.raises(PopgamesError, match="objective"):
        solvers.solve(CHICKEN, "ce", objective="max_fun")
    with pytest.raises(PopgamesError, match="min_epsilon"):
        correlated_equilibrium(CHICKEN, epsilon=-0.1, min_epsilon=True)
    with pytest.raises(SolverError):  # no CE with every row <= -10
        solvers.solve(CHICKEN, "ce", epsilon=-10.0)


def test_falls_back_to_cvxpy_when_direct_backend_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise SolverError("highs", "HiGHS status: simulated failure")

    monkeypatch.setattr(correlated, "solve_linear", broken)
    sol = solvers.solve(CHICKEN, "ce")
    assert sol.solver == "ce/cvxpy"
    assert sol.info["objective_value"] == pytest.approx(10.5, abs=1e-6)
    assert "simulated failure" in sol.info["fallbacks"][0][1]


# ------------------------------------------- flat polytopes: zero-sum max-Gini on the face

def _zero_sum_meta_game(rng: np.random.Generator, size: int) -> np.ndarray:
    """A zero-sum game with duplicated rows / columns (as PSRO populations repeat policies)."""
    base = rng.integers(-4, 5, size=(size, size)).astype(float) / 4
    matrix = base[rng.integers(0, size, size + 3)][:, rng.integers(0, size, size + 3)]
    return np.stack([matrix, -matrix])


def _reference_gini(payoffs: np.ndarray) -> np.ndarray:
    """Independent max-Gini CCE: the loop-built cvxpy model on Clarabel at 1e-12."""
    flat, constraints = _reference_model(payoffs, "cce")
    problem = cp.Problem(cp.Minimize(cp.sum_squares(flat)), constraints)
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(flat.value)


@pytest.mark.parametrize("seed", range(4))
def test_zero_sum_max_gini_cce_is_solved_on_the_face_exactly(seed):
    # Every CCE of a 2-player zero-sum game leaves rows tight (see correlated._direct), so
    # dual Newton is skipped: Clarabel on the face, then the active-set polish.
    payoffs = _zero_sum_meta_game(np.random.default_rng(seed), 6 + seed)
    sol = solvers.solve(payoffs, "cce", objective="max_gini")
    assert sol.info["method"] == "clarabel" and "failed" not in sol.info
    assert sol.info["polished"] and sol.info["equalities"] > 0
    assert sol.gap <= 1e-12
    ours, ref = sol.joint.ravel(), _reference_gini(payoffs)
    assert ours @ ours <= ref @ ref + 1e-12        # at least as good as a 1e-12 interior point
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    # A constant shift of one player keeps the game constant-sum, and the answer.
    shifted = solvers.solve(payoffs + np.array([3.0, 0.0])[:, None, None], "cce",
                            objective="max_gini")
    assert shifted.info["method"] == "clarabel"
    np.testing.assert_allclose(shifted.joint, sol.joint, atol=1e-10)


def test_polish_rejects_a_wrong_active_set():
    payoffs = _zero_sum_meta_game(np.random.default_rng(9), 5)
    rows = cce_rows(payoffs)
    x, info = correlated.interior_point(rows, 0.0, "max_gini")
    assert info["polished"]
    tight = rows.matrix @ x >= -1e-12
    plays = x > 0
    again = correlated_clarabel.polish_gini(rows, 0.0, x, plays, tight)
    np.testing.assert_allclose(again, x, atol=1e-14)   # the right guess is a fixed point
    # Forcing a slack row tight moves the least-norm point: infeasible or worse, rejected.
    slack_row = int(np.argmin(rows.matrix @ x))
    assert not tight[slack_row]
    forced = tight.copy()
    forced[slack_row] = True
    assert correlated_clarabel.polish_gini(rows, 0.0, x, plays, forced) is None
    # Dropping a played profile leaves a worse point: rejected too.
    fewer = plays.copy()
    fewer[np.flatnonzero(plays)[0]] = False
    assert correlated_clarabel.polish_gini(rows, 0.0, x, fewer, tight) is None


def test_face_retries_with_the_tight_tolerance(monkeypatch):
    # HiGHS reported this bounded LP unbounded on some leduc meta-games: a failed first
    # try must fall through to the second tolerance, with the same masks.
    payoffs = _zero_sum_meta_game(np.random.default_rng(4), 6)
    rows = cce_rows(payoffs)
    expected = face(rows, 0.0)
    real_run, calls = correlated_highs._run, []

    def flaky(highs):
        calls.append(highs.getOptionValue("dual_feasibility_tolerance")[1])
        if len(calls) == 1:
            raise SolverError("highs", "HiGHS status: Unbounded")
        return real_run(highs)

    monkeypatch.setattr(correlated_highs, "_run", flaky)
    support, equality = face(rows, 0.0)
    assert calls == [1e-7, 1e-10]
    np.testing.assert_array_equal(support, expected[0])
    np.testing.assert_array_equal(equality, expected[1])
    monkeypatch.setattr(correlated_highs, "_run", lambda h: (_ for _ in ()).throw(
        SolverError("highs", "HiGHS status: Unknown")))
    with pytest.raises(SolverError, match="1e-07: HiGHS status: Unknown; .*1e-10: HiGHS"):
        face(rows, 0.0)


def test_max_gini_without_the_face_lp_matches(monkeypatch):
    # If the face LP fails, max-Gini runs on the whole polytope (slower, same point).
    payoffs = _zero_sum_meta_game(np.random.default_rng(6), 5)
    with_face = solvers.solve(payoffs, "cce", objective="max_gini")

    def no_face(rows, bound):
        raise SolverError("face", "simulated failure")

    monkeypatch.setattr(correlated_clarabel, "face", no_face)
    without = solvers.solve(payoffs, "cce", objective="max_gini")
    assert without.info["method"] == "clarabel" and without.info["equalities"] == 0
    assert without.info["face"] == "none (the face LP failed)"
    np.testing.assert_allclose(without.joint, with_face.joint, atol=1e-9)
    with pytest.raises(SolverError):  # entropy needs the face: no silent fallback there
        correlated.interior_point(cce_rows(payoffs), 0.0, "max_entropy")


@pytest.mark.parametrize("seed", range(5))
def test_zero_sum_cce_face_matches_the_face_lp(seed):
    # The face read off the zero-sum LP's optimal supports equals the face LP's answer.
    rng = np.random.default_rng(seed)
    matrix = rng.integers(-3, 4, size=(5 + seed, 4 + seed)).astype(float) / 3
    for payoffs in (np.stack([matrix, -matrix]), np.stack([matrix, 2.0 - matrix])):
        known = correlated.zero_sum_cce_face(payoffs)
        if known is None:  # the simplex pair was not strictly complementary
            continue
        support, equality = face(cce_rows(payoffs), 0.0)
        np.testing.assert_array_equal(known[0], support)
        np.testing.assert_array_equal(known[1], equality)
        sol = solvers.solve(payoffs, "cce", objective="max_gini")
        assert sol.info["face"] == "zero-sum supports" and sol.info["polished"]
        np.testing.assert_allclose(sol.joint.ravel(), _reference_gini(payoffs), atol=1e-5)
    # Real-valued games have a unique, strictly complementary equilibrium: always known.
    payoffs = np.stack([rng.normal(size=(6, 7)), np.zeros((6, 7))])
    payoffs[1] = -payoffs[0]
    assert correlated.zero_sum_cce_face(payoffs) is not None
    # Not constant-sum, or a CE, or epsilon != 0: the LP finds the face.
    assert correlated.zero_sum_cce_face(np.stack([matrix, matrix])) is None
    ce = solvers.solve(payoffs, "ce", objective="max_gini")
    assert ce.info.get("face") != "zero-sum supports"


def test_newton_step_budget_grows_with_the_game():
    # Issue 8 item 7b: 2-player CE max-Gini needs more dual Newton steps as games grow (40-53
    # at 200 x 200). With the old fixed cap of 40 Newton gave up and the backend fell back
    # to the face LP over every profile, which ran for minutes. This 150 x 150 game needs 48.
    payoffs = np.random.default_rng(1).standard_normal((2, 150, 150))
    rows = constraints_module.ce_rows(payoffs)
    x, info = correlated_newton.dual_newton(rows, 0.0, "max_gini")
    assert info["iterations"] > 40
    assert (rows.matrix @ x).max() <= 1e-10 and abs(x.sum() - 1.0) <= 1e-12


@pytest.mark.parametrize("concept, objective, shape, limit", [
    ("ce", "max_welfare", (251, 250), 62_500), ("ce", "max_gini", (251, 250), 62_500),
    ("ce", "max_entropy", (251, 250), 62_500), ("cce", "max_entropy", (301, 300), 90_000),
])
def test_games_above_the_size_limit_are_refused_naming_the_limit(concept, objective, shape, limit):
    payoffs = np.zeros((2, *shape))
    payoffs[1, 0, 0] = 1.0  # not constant-sum (those have a lower limit), yet trivial to solve
    count = shape[0] * shape[1]
    message = f"{concept} objective={objective}: {count} action profiles exceed the limit of {limit}"
    with pytest.raises(SolverError, match=message):
        solvers.solve(payoffs, concept, objective=objective)
    with pytest.raises(SolverError, match=message):
        PLAIN[concept](payoffs, objective=objective)


def test_min_epsilon_and_cvxpy_fallback_have_their_own_limits():
    payoffs = np.zeros((2, 71, 70))
    with pytest.raises(SolverError, match="ce min_epsilon=True: 4970 action profiles exceed "
                                          "the limit of 4900"):
        solvers.solve(payoffs, "ce", min_epsilon=True)
    with pytest.raises(SolverError, match=r"\(plain cvxpy fallback\): 2550 action profiles "
                                          r"exceed the limit of 2500"):
        correlated_equilibrium_cvxpy(np.zeros((2, 51, 50)))


def test_constant_sum_max_welfare_is_a_nash_product():
    # Every (C)CE of a constant-sum game has the same welfare, so the max-welfare LP has a zero
    # objective; warm-started dual simplex stalled on it (this 30 x 30 CE: over 5 minutes).
    a = np.random.default_rng(30).standard_normal((30, 30))
    for concept in CONCEPTS:
        sol = solvers.solve(np.stack([a, -a]), concept)
        assert sol.info["method"] == "zero-sum LP (constant welfare)"
        assert sol.solver == f"{concept}/direct" and sol.gap <= sol.tolerance
        np.testing.assert_allclose(sol.joint, np.outer(*[sol.joint.sum(axis=1 - i)
                                                         for i in range(2)]), atol=1e-15)


def test_constant_sum_ce_gini_and_entropy_are_refused_above_the_face_lp_limit():
    # Their CE polytope is flat: dual Newton stalls (100 x 100: 6 s, 200 x 200: over 5 min)
    # and Clarabel needs the face LP, which is limited to 2,500 profiles.
    a = np.random.default_rng(0).standard_normal((60, 60))
    for objective in ("max_gini", "max_entropy"):
        with pytest.raises(SolverError, match=f"objective={objective} \\(2-player constant-sum\\): "
                                              "3600 action profiles exceed the limit of 2500"):
            solvers.solve(np.stack([a, -a]), "ce", objective=objective)


def test_clarabel_is_not_tried_above_its_limit(monkeypatch):
    # On a flat max-Gini CE Clarabel goes first; above the face-LP limit it is skipped and
    # the failure of dual Newton alone is reported (here: the limit lowered to 4 profiles).
    monkeypatch.setattr(correlated, "FACE_LP_LIMIT", (4, 1.0))
    calls = []
    monkeypatch.setattr(correlated, "interior_point", lambda *a, **k: calls.append(a))
    rows = constraints_module.ce_rows(RPS)
    _, _, info = correlated._nonlinear(rows, 0.0, "max_gini", False, flat=True)
    assert not calls and info["method"] == "dual-newton"
    assert "clarabel: not tried, 9 action profiles exceed its limit of 4" in info["failed"][0]
