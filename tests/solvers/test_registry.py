"""The registry verifies every answer, falls back in declared order and reports each status."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import popgames
from popgames.core.errors import GameCardError, SolverError, UnknownNameError
from popgames.solvers import registry, verification
from popgames.solvers.registry import Candidate
from game_strategies import payoff_tensors

PD = np.array([[[3, 0], [5, 1]], [[3, 5], [0, 1]]], dtype=float)  # defect-defect is the equilibrium


@pytest.fixture
def scratch_entry():
    yield "scratch_test_entry"
    registry._REGISTRY.pop("scratch_test_entry", None)


def _cooperate(payoffs):
    return Candidate(marginals=[np.array([1.0, 0.0]), np.array([1.0, 0.0])], info={"status": "ok"})


def _defect(payoffs, *, note: str = "none"):
    return Candidate(marginals=[np.array([0.0, 1.0]), np.array([0.0, 1.0])], info={"note": note})


def _broken(payoffs):
    raise SolverError("scratch", "backend status: INFEASIBLE")


def _not_a_distribution(payoffs):
    return Candidate(marginals=[np.array([0.7, 0.7]), np.array([0.0, 1.0])])


def test_wrong_exact_answer_is_rejected_and_next_backend_answers(scratch_entry):
    registry.register(scratch_entry, "wrong", _cooperate, concept="nash", exact=True)
    registry.register(scratch_entry, "broken", _broken, concept="nash", exact=True)
    registry.register(scratch_entry, "skipped", _defect, concept="nash", exact=True,
                      applies=lambda p, o: "never applies")
    registry.register(scratch_entry, "right", _defect, concept="nash", exact=True)
    sol = popgames.solvers.solve(PD, scratch_entry, note="hello")
    assert sol.solver == f"{scratch_entry}/right" and sol.gap == 0 and sol.converged
    assert sol.info["note"] == "hello"
    statuses = dict(sol.info["fallbacks"])
    assert "unverified: gap 4" in statuses["wrong"]
    assert "INFEASIBLE" in statuses["broken"] and "never applies" in statuses["skipped"]
    np.testing.assert_allclose(sol.payoffs, [1, 1])
    np.testing.assert_allclose(sol.joint, [[0, 0], [0, 1]])


def test_all_backends_failing_raises_with_every_status(scratch_entry):
    registry.register(scratch_entry, "wrong", _cooperate, concept="nash", exact=True)
    registry.register(scratch_entry, "bad_simplex", _not_a_distribution, concept="nash", exact=True)
    with pytest.raises(SolverError) as err:
        popgames.solvers.solve(PD, scratch_entry)
    message = str(err.value)
    assert "wrong: unverified" in message and "not a probability distribution" in message


def test_approximate_backend_reports_unconverged_gap(scratch_entry):
    registry.register(scratch_entry, "approx", _cooperate, concept="nash", exact=False)
    sol = popgames.solvers.solve(PD, scratch_entry)
    assert not sol.converged and sol.gap == pytest.approx(4.0)
    np.testing.assert_allclose(sol.per_player_gap, [2, 2])


def test_options_are_checked_and_card_defaults_merged(scratch_entry):
    registry.register(scratch_entry, "right", _defect, concept="nash", exact=True)
    with pytest.raises(GameCardError, match="unknown option"):
        popgames.solvers.solve(PD, scratch_entry, notes="typo")
    game = popgames.MatrixGame(PD, solver_options={scratch_entry: {"note": "from card"}})
    assert popgames.solvers.solve(game, scratch_entry).info["note"] == "from card"
    assert popgames.solvers.solve(game, scratch_entry, note="call").info["note"] == "call"


def test_unknown_name_and_bad_payoffs():
    with pytest.raises(UnknownNameError, match="unknown meta-solver 'nope'"):
        popgames.solvers.solve(PD, "nope")
    with pytest.raises(GameCardError, match="non-finite"):
        popgames.solvers.solve(np.where(PD == 5, np.nan, PD), "uniform")


def test_registry_lists_every_family():
    assert {"nash", "zero_sum_lp", "lemke_howson", "nash_milp", "ce", "cce", "rae", "alpharank",
            "replicator", "regret_matching", "uniform"} <= set(popgames.solvers.names())


# ------------------------------------------------- tolerances that scale with the payoffs

def test_small_scale_games_are_held_to_the_same_relative_standard():
    # Once, the tolerance was 1e-6 * max(1, range): on PD * 1e-9 the uniform mix (regret
    # 30% of the payoff range) came back converged=True, and so did alpha-rank's.
    small = popgames.solvers.solve(PD * 1e-9, "uniform")
    unit = popgames.solvers.solve(PD, "uniform")
    assert not small.converged and not unit.converged
    assert small.gap == pytest.approx(1e-9 * unit.gap, rel=1e-9)
    assert small.tolerance == pytest.approx(1e-9 * unit.tolerance, rel=1e-12)
    # alpha-rank is not scale-free (alpha multiplies payoff differences): at 1e-9 its
    # chain is near-neutral and its marginals are far from the equilibrium.
    ranked = popgames.solvers.solve(PD * 1e-9, "alpharank")
    assert ranked.gap > 0.2 * np.ptp(PD * 1e-9) and not ranked.converged


@settings(max_examples=50, deadline=None)
@given(payoff_tensors(actions=(1, 4)), st.floats(-12, 12))
def test_tolerance_is_proportional_to_the_payoff_scale(payoffs, exponent):
    assume(np.ptp(payoffs) > 1e-3 * np.abs(payoffs).max())   # the round-off floor is not active
    scale = 10.0 ** exponent
    for concept in ("nash", "ce", "cce"):
        assert registry.tolerance(payoffs * scale, concept=concept) == pytest.approx(
            scale * registry.tolerance(payoffs, concept=concept), rel=1e-9)
    assert registry.tolerance(payoffs * scale, concept="rae") == pytest.approx(
        scale ** 2 * registry.tolerance(payoffs, concept="rae"), rel=1e-9)


def test_constant_game_tolerance_is_round_off_not_zero_or_one():
    assert registry.tolerance(np.full((2, 2, 2), 1e6)) == pytest.approx(verification.ROUNDOFF * 1e6)
    assert registry.tolerance(np.zeros((2, 2, 2))) == 0.0


def test_payoffs_whose_range_overflows_are_refused():
    huge = np.array([[[1e308, -1e308], [0, 0]], [[0, 0], [0, 0]]])
    with pytest.raises(GameCardError, match="overflows float64"):
        popgames.solvers.solve(huge, "ce")
    with pytest.raises(GameCardError, match="overflows float64"):
        popgames.MatrixGame(huge)


@pytest.mark.parametrize("name", ["nash", "ce", "cce", "rae", "alpharank", "replicator",
                                  "regret_matching", "uniform"])
def test_huge_payoffs_give_a_finite_answer_or_a_solver_error(name):
    # At 1e200, cvxpy's ValueError and an OverflowError once escaped, and at +-1e308 CE
    # came back with gap = tolerance = inf and converged=True.
    try:
        sol = popgames.solvers.solve(PD * 1e200, name)
    except SolverError:
        return
    assert np.isfinite(sol.gap) and np.isfinite(sol.tolerance)
    assert sol.converged == (sol.gap <= sol.tolerance)


def test_backend_value_and_arithmetic_errors_become_statuses(scratch_entry):
    def overflowing(payoffs):
        raise OverflowError("math range error")

    def bad_data(payoffs):
        raise ValueError("Problem data contains NaN or inf")

    registry.register(scratch_entry, "overflowing", overflowing, concept="nash", exact=True)
    registry.register(scratch_entry, "bad_data", bad_data, concept="nash", exact=True)
    with pytest.raises(SolverError, match="OverflowError: math range error.*ValueError: Problem data"):
        popgames.solvers.solve(PD, scratch_entry)


def test_a_non_finite_gap_is_a_failure_even_for_an_exact_backend(scratch_entry, monkeypatch):
    registry.register(scratch_entry, "right", _defect, concept="nash", exact=True)
    monkeypatch.setattr(verification, "nash_regrets", lambda p, m: np.array([np.nan, 0.0]))
    with pytest.raises(SolverError, match="gap is nan"):
        popgames.solvers.solve(PD, scratch_entry)


# ----------------------------------------------------------- option values, not just names

@pytest.mark.parametrize("options, message", [
    ({"objective": "nonsense"}, "solvers.nash.objective': expected one of 'max_welfare'"),
    ({"tol": "abc"}, "solvers.nash.tol': expected a positive number, got 'abc'"),
    ({"tol": -1e-6}, "solvers.nash.tol': expected a positive number"),
    ({"label": 1.5}, "solvers.nash.label': expected an integer or nothing, got float 1.5"),
    ({"label": True}, "solvers.nash.label'"),
    ({"select": "best"}, "solvers.nash.select': expected one of 'vertex', 'max_entropy'"),
    ({"time_limit": "soon"}, "solvers.nash.time_limit': expected a finite number or nothing"),
])
def test_option_values_are_checked_against_the_backends_annotations(options, message):
    with pytest.raises(GameCardError, match=re.escape(message)):
        registry.check_options("nash", options, "--option")
    with pytest.raises(GameCardError, match=re.escape(message)):
        popgames.solvers.solve(PD, "nash", **options)


def test_well_typed_option_values_pass():
    registry.check_options("nash", {"objective": "max_welfare", "tol": 1e-8, "label": 2,
                                    "time_limit": 3, "method": "milp"})
    registry.check_options("regret_matching", {"variant": "rm", "alternating": True,
                                               "iterations": 10, "initial": [[1, 0], [0, 1]]})


def test_a_card_with_a_bad_option_value_is_refused_at_load(tmp_path):
    (tmp_path / "game.toml").write_text(
        'kind = "matrix"\nplayers = ["r", "c"]\nactions = [["a", "b"], ["a", "b"]]\n'
        "[payoffs]\nr = [[3, 0], [5, 1]]\nc = [[3, 5], [0, 1]]\n"
        '[solvers.nash]\nobjective = "nonsense"\n')
    with pytest.raises(GameCardError, match=r"game.toml: field 'solvers.nash.objective': expected one of"):
        popgames.load_game(tmp_path)
