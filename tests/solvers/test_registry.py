"""The registry verifies every answer, falls back in declared order and reports each status."""

from __future__ import annotations

import numpy as np
import pytest

import popgames
from popgames.errors import GameCardError, SolverError, UnknownNameError
from popgames.solvers import registry
from popgames.solvers.registry import Candidate

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
