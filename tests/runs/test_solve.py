"""``python -m popgames.solve``: the interim main job prints verified solutions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "popgames.solve", *args],
                          capture_output=True, text=True, timeout=300)


def test_stag_hunt_every_default_solver_answers():
    proc = _run("games/stag_hunt", "--json")
    assert proc.returncode == 0, proc.stderr
    records = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert {"nash", "ce", "cce", "rae", "alpharank"} <= set(records)
    for rec in records.values():
        assert "error" not in rec, rec
    assert records["nash"]["gap"] <= 1e-6 and records["ce"]["gap"] <= 1e-6


@pytest.mark.parametrize("args,needle", [
    (("games/stag_hunt", "--solver", "nope"), "unknown meta-solver 'nope'"),
    (("games/stag_hunt", "--solver", "nash", "--option", "bogus=1"), "option 'bogus' is taken by none"),
    (("games/stag_hunt", "--option", "novalue"), "expected KEY=VALUE"),
    (("games/stag_hunt", "--option", "tol=abc"), "--option: field 'solvers.nash.tol': expected a "
                                                 "positive number, got 'abc'"),
    (("games/stag_hunt", "--option", "objective=nonsense"), "--option: field "
                                                            "'solvers.nash.objective': expected one of"),
])
def test_bad_arguments_give_one_line(args, needle):
    proc = _run(*args)
    assert proc.returncode == 2 and needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""   # refused before anything is solved or printed


def _json_lines(stdout: str) -> list[dict]:
    """Every stdout line is one JSON object (``--json`` promises nothing else on stdout)."""
    lines = stdout.splitlines()
    assert lines, "no output"
    return [json.loads(line) for line in lines]


def test_kuhn_poker_is_solved_through_its_reduced_normal_form():
    # It used to crash (SpielGame has no num_actions). Product and joint answers; the slow
    # approximate solvers (rae 4 s, replicator 2 s) are left to `python -m popgames.solve kuhn_poker`.
    solvers = ("nash", "ce", "cce", "regret_matching", "uniform")
    proc = _run("kuhn_poker", "--json", *(a for s in solvers for a in ("--solver", s)))
    assert proc.returncode == 0, proc.stderr
    records = {r["name"]: r for r in _json_lines(proc.stdout)}
    assert set(records) == set(solvers)
    for rec in records.values():
        assert "error" not in rec, rec
        assert [len(a) for a in rec["actions"]] == [27, 64]
    nash = records["nash"]
    assert nash["gap"] <= 1e-6
    # Kuhn (1950): the first player's equilibrium value is -1/18.
    assert nash["payoffs"] == pytest.approx([-1 / 18, 1 / 18], abs=1e-9)
    # The equilibrium mixture, back in the game tree as a behaviour policy, is unexploitable.
    assert nash["tree_nash_conv"] == pytest.approx(0, abs=1e-9)
    assert records["ce"]["gap"] <= 1e-6 and records["cce"]["gap"] <= 1e-6


def test_games_too_large_for_a_normal_form_are_refused_in_one_line():
    proc = _run("leduc_poker")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "leduc_poker" in proc.stderr and "over the limit of 1,000,000 (MAX_NORMAL_FORM_PROFILES)" \
        in proc.stderr


# Rock-paper-scissors' only equilibrium is fully mixed: one Lemke-Howson pivot cannot reach it.
FAILING = ("games/rock_paper_scissors", "--solver", "lemke_howson", "--option", "max_pivots=1")


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_every_solver_failing_exits_2(json_flag):
    proc = _run(*FAILING, *json_flag)
    assert proc.returncode == 2
    assert "lemke_howson" in proc.stdout and "pivot limit" in proc.stdout   # the failure, shown
    assert proc.stderr.strip().splitlines() == [
        "popgames: error: every requested solver failed (lemke_howson)"]
    if json_flag:
        assert [r["name"] for r in _json_lines(proc.stdout)] == ["lemke_howson"]


def test_some_solvers_failing_exits_0_and_shows_the_failures():
    proc = _run(*FAILING, "--solver", "uniform", "--json")
    assert proc.returncode == 0, proc.stderr
    records = {r["name"]: r for r in _json_lines(proc.stdout)}
    assert "pivot limit" in records["lemke_howson"]["error"] and "gap" in records["uniform"]
