"""Fictitious cross-play: the team counter-example, exact oracles, resume, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from open_spiel.python.algorithms import exploitability as os_exploitability

import popgames
from popgames.core.errors import PopgamesError
from popgames.fxp import fxp
from popgames.fxp import main as fxp_main
from popgames.kinds.spiel.game import SpielGame
from popgames.loops.fxp.options import make_learner
from popgames.loops.fxp.state import state_arrays, state_from_arrays
from popgames.runs.options import run_main

TEAM = "games/fxp_team_game"
CMD = [sys.executable, "-m", "popgames.fxp"]


@pytest.fixture(scope="module")
def team():
    return popgames.load_game(TEAM)


def _final(game, seed, **kw):
    return list(fxp(game, 30, seed=seed, **kw))[-1]


def test_fxp_finds_the_global_equilibrium_where_self_play_does_not(team):
    """Xu et al. (2023)'s claim on their team game, with decentralised exact-gradient agents:
    from 10 of 10 random starts FXP ends at all-0 (exploitability ~0); the same learner in
    self-play (cross_play=0) ends at the local equilibrium all-1 (measured: 10 of 10)."""
    fxp_global = self_play_all_one = self_play_global = 0
    for seed in range(10):
        rec = _final(team, seed)
        p1 = np.array(rec.main_p1)
        fxp_global += rec.exploitability < 1e-6 and p1.max() < 1e-6
        sp = _final(team, seed, cross_play=0.0)
        self_play_all_one += np.min(sp.main_p1) > 0.99 and sp.exploitability > 2.9
        self_play_global += sp.exploitability < 1e-3
    assert fxp_global == 10
    assert self_play_all_one >= 8 and self_play_global == 0


def test_records_follow_the_architecture(team):
    records = list(fxp(team, iterations=6, seed=1))
    for i, rec in enumerate(records):
        for key in ("iteration", "exploitability", "population_size", "meta_strategy", "wall_time"):
            assert key in rec.metrics
        assert rec.iteration == i and rec.exploitability >= -1e-12
        assert rec.population_size == [i + 1, i + 1] and rec.main_versions == i + 1
        for weights in rec.meta_strategy + rec.cross_play_weights + rec.main_meta_strategy:
            assert np.all(np.asarray(weights) >= -1e-12) and sum(weights) == pytest.approx(1.0)
        json.dumps(rec.metrics)  # JSON-ready
    assert [r.wall_time for r in records] == sorted(r.wall_time for r in records)
    # The metric is the NashConv of the current mains in the 8x8 matrix game.
    last = records[-1]
    learner = make_learner(team)
    # Record t scores main version t: the main at the start of iteration t (PSRO's convention).
    profile = [learner.strategy(p) for p in (last.state.mains[0][-2], last.state.mains[1][-2])]
    assert popgames.exploitability(team, profile).value == pytest.approx(last.exploitability, abs=1e-12)


@pytest.mark.parametrize("name,symmetric", [("rock_paper_scissors", True), ("matching_pennies", False)])
def test_exact_fxp_on_matrix_games(name, symmetric):
    game = popgames.load_game(name)
    records = list(fxp(game, 40, seed=0))
    values = np.array([r.exploitability for r in records])
    assert values[-1] < values[0] / 10 and values[-1] < 0.05
    assert values[-10:].mean() < values[10:20].mean() < values[:10].mean()  # decreasing
    # In a symmetric game one main plays both seats (and the split run converges too).
    assert (records[-1].state.mains[0] is records[-1].state.mains[1]) == symmetric
    split = list(fxp(game, 40, seed=0, symmetric=False))
    assert split[-1].state.mains[0] is not split[-1].state.mains[1]
    assert split[-1].exploitability < split[0].exploitability / 10


def test_exact_fxp_on_kuhn_agrees_with_openspiel():
    game = SpielGame("kuhn_poker")
    records = list(fxp(game, 30, seed=0))
    values = np.array([r.exploitability for r in records])
    assert values[-1] < 0.1 < values[0] and values[-10:].mean() < values[:10].mean() / 3
    # OpenSpiel's own NashConv of the mains scored by the last record (version 29, the main at
    # the start of the last iteration), converted to a TabularPolicy, agrees.
    tree = game.tree
    joint = np.zeros(tree.legal.shape)
    for p in range(2):
        joint[tree.info_slice(p)] = records[-1].state.mains[p][-2]
    ours = make_learner(game).exploitability((joint[tree.info_slice(0)], joint[tree.info_slice(1)]))[0]
    theirs = os_exploitability.nash_conv(game.game, game.to_tabular_policy(joint))
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert records[-1].exploitability == pytest.approx(theirs, abs=1e-9)


def test_pure_cross_play_weights(team):
    """With cross_play=1 the main trains on counters alone; 'exploit' weights only on counters
    that beat the current main, and the Nash weights when none does."""
    records = list(fxp(team, 5, seed=2, cross_play=1.0))
    for rec in records[1:]:
        meta = rec.state.meta_games[0]
        row = meta.payoffs[1][rec.iteration]   # counters' payoffs against the main of that iteration
        gains = np.maximum(row[: len(rec.cross_play_weights[0])] - rec.main_payoffs[1], 0)
        if gains.sum() > 0:
            assert rec.cross_play_weights[0] == pytest.approx(gains / gains.sum())
        else:
            assert rec.cross_play_weights[0] == pytest.approx(rec.meta_strategy[1])


def test_resume_from_state_arrays_matches(team):
    learner = make_learner(team)
    full = [r.metrics for r in fxp(team, 12, seed=4, learner=learner)]
    it = fxp(team, 5, seed=4, learner=learner)
    for rec in it:
        state = rec.state
    arrays, meta = state_arrays(state, learner)
    restored = state_from_arrays(arrays, json.loads(json.dumps(meta)), learner)
    rest = [r.metrics for r in fxp(team, 12, seed=4, learner=learner, state=restored)]
    strip = lambda ms: [{k: v for k, v in m.items() if k != "wall_time"} for m in ms]  # noqa: E731
    assert strip(restored.history) == strip(full)
    assert len(rest) == 7


@pytest.mark.parametrize("kwargs,needle", [
    ({"cross_play": 1.5}, "cross_play"),
    ({"cross_weights": "best"}, "cross_weights"),
    ({"self_play": "all"}, "self_play"),
    ({"learner": "sarsa"}, "unknown FXP learner"),
    ({"learner": "ppo"}, "needs a markov game"),
    ({"learner_options": {"lr": 1.0}}, "unknown exact learner option"),
])
def test_bad_options_raise(kwargs, needle):
    with pytest.raises(PopgamesError, match=needle):
        next(iter(fxp(popgames.load_game("rock_paper_scissors"), 2, **kwargs)))


def test_unsupported_games_raise():
    with pytest.raises(PopgamesError, match="symmetric=true"):
        next(iter(fxp(SpielGame("kuhn_poker"), 2, symmetric=True)))
    with pytest.raises(PopgamesError, match="two-sided"):
        next(iter(fxp(popgames.load_game("kuhn_poker_3p"), 2)))
    with pytest.raises(PopgamesError, match="zero-sum"):
        next(iter(fxp(popgames.load_game("stag_hunt"), 2)))


# -- the command line -----------------------------------------------------------------------
# The run itself and the error cases go through the CLI's main in-process (the same code as
# `python -m popgames.fxp`, minus interpreter start-up); the kill test needs a real process.

def _metrics(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"} for line in lines]


def _main(*args: str) -> int:
    return run_main(fxp_main, list(args))


# Slower iterations (more gradient steps) so that a kill lands mid-run.
SLOW = ("--iterations", "40", "--option", "steps=400")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("fxp") / "run"
    assert _main(TEAM, *SLOW, "--out", str(run)) == 0
    return run


def test_run_folder_contents(uninterrupted):
    for name in ("config.toml", "metrics.jsonl", "checkpoint/state.safetensors", "report.md",
                 "exploitability.png", "meta_strategy.png"):
        assert (uninterrupted / name).is_file(), name
    records = _metrics(uninterrupted)
    assert [r["iteration"] for r in records] == list(range(40))
    assert records[-1]["exploitability"] < 1e-6 < records[0]["exploitability"]
    report = (uninterrupted / "report.md").read_text()
    assert "FXP run: fxp_team_game" in report and "NashConv" in report


def test_report_command_rebuilds_the_fxp_report(uninterrupted, capsys):
    """`python -m popgames.report RUN_DIR` dispatches on the config's algorithm to FXP's report."""
    from popgames.report import main as report_main

    before = (uninterrupted / "report.md").read_text()
    (uninterrupted / "report.md").unlink()
    assert report_main([str(uninterrupted)]) == 0
    assert (uninterrupted / "report.md").read_text() == before  # from the folder's files alone
    assert capsys.readouterr().out.strip().endswith("report.md")


def test_sigkill_then_resume_matches_uninterrupted_run(uninterrupted, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([*CMD, TEAM, *SLOW, "--out", str(run), "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 5:
            break
        time.sleep(0.001)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= len(_metrics(run)) < 40
    assert _main(TEAM, "--resume", "--out", str(run), "--no-report") == 0
    assert _metrics(run) == _metrics(uninterrupted)
    # Resuming a finished run with more iterations extends it like a longer run would.
    assert _main(TEAM, "--resume", "--iterations", "42", "--out", str(run), "--no-report") == 0
    assert [r["iteration"] for r in _metrics(run)] == list(range(42))


@pytest.mark.parametrize("args,needle", [
    ((TEAM, "--option", "cross_play=2"), "cross_play"),
    ((TEAM, "--option", "speed=2"), "unknown team_pg"),
    (("kuhn_poker", "--learner", "team_pg"), "needs a team_matrix game"),
    ((TEAM, "--iterations", "0"), "at least 1"),
    ((TEAM, "--meta-solver", "nashh"), "unknown meta-solver"),
])
def test_bad_invocations_give_one_line(tmp_path, capsys, args, needle):
    out = tmp_path / "new"
    assert _main(*args, "--out", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_bad_resumes_leave_the_run_untouched(uninterrupted, capsys):
    before = {p: p.read_bytes() for p in sorted(uninterrupted.rglob("*")) if p.is_file()}
    for args, needle in (((TEAM,), "already holds a run"),
                         (("kuhn_poker", "--resume"), "is for game 'fxp_team_game'"),
                         ((TEAM, "--resume", "--seed", "3"), "differs from the run's")):
        assert _main(*args, "--out", str(uninterrupted)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert {p: p.read_bytes() for p in sorted(uninterrupted.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("scale", [1.0, 1e-12])
def test_general_sum_games_are_refused_at_any_payoff_scale(scale):
    # The zero-sum test once allowed 1e-9 in absolute terms: at 1e-12 the prisoner's
    # dilemma passed as zero-sum.
    game = popgames.MatrixGame(popgames.load_game("prisoners_dilemma").payoffs * scale)
    with pytest.raises(PopgamesError, match="needs a zero-sum game"):
        make_learner(game, "exact", {}, seed=0)
    make_learner(popgames.MatrixGame(popgames.load_game("matching_pennies").payoffs * scale),
                 "exact", {}, seed=0)
