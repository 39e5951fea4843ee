"""Fictitious cross-play with the PPO learner on trust_split: the learner's interface, records,
checkpoints, SIGKILL-and-resume on the deterministic CPU path, the report and CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import popgames
from run_metrics import comparable_metrics
from popgames.core.errors import PopgamesError
from popgames.core.randomness import task_rng
from popgames.fxp import fxp
from popgames.fxp import main as fxp_main
from popgames.kinds.markov.policies import MlpPolicy
from popgames.kinds.markov.ppo import SELF
from popgames.loops.fxp.options import make_learner
from popgames.loops.fxp.ppo_learner import PpoLearner
from popgames.report import main as report_main
from popgames.runs.options import run_main

GAME = "games/trust_split"
TINY = {"updates": 2, "num_envs": 64, "eval_episodes": 64, "epochs": 1}
FLAGS = ["--device", "cpu", *(a for k, v in TINY.items() for a in ("--option", f"{k}={v}"))]


@pytest.fixture(scope="module")
def game():
    return popgames.load_game(GAME)


@pytest.fixture(scope="module")
def learner(game):
    return make_learner(game, "ppo", TINY, device="cpu")


def test_ppo_is_the_default_learner_of_markov_games(game, learner):
    assert isinstance(make_learner(game, options=TINY, device="cpu"), PpoLearner)
    assert learner.n_players == 2 and learner.symmetric
    with pytest.raises(PopgamesError, match="needs a markov game"):
        make_learner(popgames.load_game("matching_pennies"), "ppo")
    with pytest.raises(PopgamesError, match="oracle.lr"):
        make_learner(game, "ppo", {"lr": "fast"})


def test_payoffs_are_seat_ordered_reproducible_simulations(learner, monkeypatch):
    refs = learner.references
    greedy, welfare = refs["greedy"], refs["welfare"]
    out = learner.payoffs([(greedy, greedy), (welfare, welfare), (greedy, welfare)], task_rng(0, 1))
    # Both claim all 10 coins: each gets 5, the round's winner values them at 10, the loser
    # at 1: welfare 55 per round, 550 over 10 rounds (the "55 of a possible 100").
    assert out[0].sum() == pytest.approx(550.0)
    # Honest welfare policies: the winner takes all 10 coins at value 10, every round.
    assert out[1].sum() == pytest.approx(1000.0)
    assert out[2, 0] > out[2, 1]  # greedy (seat 0) exploits the honest policy (seat 1)
    again = learner.payoffs([(greedy, welfare)], task_rng(0, 1))
    assert np.array_equal(learner.payoffs([(greedy, welfare)], task_rng(0, 1)), again)
    assert not np.array_equal(learner.payoffs([(greedy, welfare)], task_rng(0, 2)), again)
    # Split into one rollout per profile (bounded batch), the same entries come out.
    monkeypatch.setattr("popgames.loops.fxp.ppo_learner.MAX_BATCH", TINY["eval_episodes"])
    chunked = learner.payoffs([(greedy, greedy), (welfare, welfare), (greedy, welfare)], task_rng(0, 1))
    assert chunked[:2].sum(1) == pytest.approx([550.0, 1000.0]) and chunked[2, 0] > chunked[2, 1]


def test_training_mix_continues_the_main_and_plays_self(learner):
    main = learner.initial_policy(0, task_rng(0, 0))
    counter = learner.initial_policy(1, task_rng(0, 1))
    mix = learner._mix([(main, 0.25), (counter, 0.75)], 0, main)
    # Symmetric: the learner sits in both seats, half the weight each; itself becomes SELF.
    assert sorted(mix) == [0, 1]
    assert mix[0] == [(0.125, [None, SELF]), (0.375, [None, counter])]
    assert mix[1] == [(0.125, [SELF, None]), (0.375, [counter, None])]
    idle = make_learner(learner.game, "ppo", {**TINY, "updates": 0}, device="cpu")
    same = idle.train(main, [(counter, 1.0)], 0, task_rng(0, 2), 0)
    fresh = idle.best_response([(main, 1.0)], 1, task_rng(0, 2), 0)
    vec = lambda p: torch.nn.utils.parameters_to_vector(p.parameters())  # noqa: E731
    assert same is not main and torch.equal(vec(same), vec(main))  # init=policy, untouched
    assert not torch.equal(vec(fresh), vec(main))
    trained = learner.train(main, [(counter, 1.0)], 0, task_rng(0, 2), 0)
    assert not torch.equal(vec(trained), vec(main))


def test_an_iterations_trainings_run_as_tasks_with_the_same_numbers_in_worker_processes(learner):
    # A main (with itself as SELF in its mix) and a counter, as one iteration asks: trained
    # at once in two loky workers they are bit for bit what this process trains.
    from popgames.core.parallel import Backend, use_backend
    from popgames.core.protocols import TrainJob

    main = learner.initial_policy(0, task_rng(0, 0))
    counter = learner.initial_policy(1, task_rng(0, 1))

    def jobs():
        return [TrainJob(None, [(main, 1.0)], 1, task_rng(4, 0), 0),
                TrainJob(main, [(main, 0.5), (counter, 0.5)], 0, task_rng(4, 1), 0)]

    here = learner.train_all(jobs())
    with use_backend(Backend("loky", workers=2)):
        there = learner.train_all(jobs())
    assert [p.name for p in here] == ["counter_p1_1", "main_p0_1"]
    vec = lambda p: torch.nn.utils.parameters_to_vector(p.parameters())  # noqa: E731
    assert all(torch.equal(vec(a), vec(b)) for a, b in zip(here, there))
    assert not torch.equal(vec(here[1]), vec(main))


def test_checkpoint_rows_round_trip_exactly(learner):
    nets = [learner.initial_policy(p, task_rng(3, p)) for p in range(2)]
    policies = [nets[0], learner.references["greedy"], nets[1]]
    array = learner.to_array(policies)
    assert array.shape == (3, 1 + sum(p.numel() for p in nets[0].parameters()))
    back = learner.from_array(array)
    assert back[1] is learner.references["greedy"]
    for a, b in ((nets[0], back[0]), (nets[1], back[2])):
        assert isinstance(b, MlpPolicy)
        for x, y in zip(a.state_dict().values(), b.state_dict().values()):
            assert torch.equal(x, y)
    with pytest.raises(PopgamesError, match="columns"):
        learner.from_array(array[:, :-1])


def test_records_carry_game_metrics_and_ppo_costs(game):
    records = list(fxp(game, 2, seed=1, learner="ppo", learner_options=TINY, device="cpu"))
    last = records[-1]
    assert last.exploitability is None and last.exploitability_kind is None
    assert last.population_size == [2, 2] and last.main_versions == 2
    assert last.state.mains[0] is last.state.mains[1]  # symmetric: one main for both seats
    assert last.state.meta_games[0].payoffs.shape == (2, 3, 3) and len(last.state.meta_games) == 1
    assert {"split_efficiency", "vs_greedy", "greedy_extracts", "vs_welfare"} <= set(last.game)
    assert 0 < last.game["split_efficiency"] <= 1
    roles = [(s["role"], s["player"]) for s in last.oracle]
    assert roles == [("counter", 1), ("main", 0)]
    assert last.oracle[0]["env_steps"] == TINY["updates"] * TINY["num_envs"] * game.rules.horizon
    json.dumps(last.metrics)
    split = list(fxp(game, 1, seed=1, learner="ppo", learner_options=TINY, device="cpu", symmetric=False))
    assert [s["player"] for s in split[-1].oracle] == [1, 0, 0, 1]  # counters then mains per seat


# -- the command line: run folder, SIGKILL + resume, report --------------------------------



def test_sigkill_then_resume_matches_and_report_dispatches(tmp_path):
    full, run = tmp_path / "full", tmp_path / "run"
    args = [GAME, "--iterations", "3", *FLAGS]
    assert run_main(fxp_main, [*args, "--out", str(full)]) == 0
    assert (full / "report.md").is_file() and (full / "game_metrics.png").is_file()
    proc = subprocess.Popen([sys.executable, "-m", "popgames.fxp", *args, "--out", str(run), "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= len(comparable_metrics(run)) < 3
    assert run_main(fxp_main, [GAME, "--resume", "--out", str(run), "--no-report"]) == 0
    assert comparable_metrics(run) == comparable_metrics(full)
    # `python -m popgames.report` rebuilds FXP's report (not PSRO's) from the folder alone.
    assert not (run / "report.md").exists()
    assert report_main([str(run)]) == 0
    text = (run / "report.md").read_text()
    assert "# FXP run: trust_split with learner `ppo`" in text and "split_efficiency" in text
    assert "env steps/s" in text and (run / "game_metrics.png").is_file()


@pytest.mark.parametrize("args,needle", [
    ((GAME, "--option", "lr=fast"), "oracle.lr"),
    ((GAME, "--learner", "exact"), "needs a matrix or OpenSpiel game"),
    (("games/commons",), "two-sided"),
    ((GAME, "--option", "seed=3"), "set by the run"),
])
def test_bad_invocations_give_one_line(tmp_path, capsys, args, needle):
    out = tmp_path / "new"
    assert run_main(fxp_main, [*args, "--device", "cpu", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_one_clear_line(tmp_path, capsys):
    assert run_main(fxp_main, [GAME, "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUDA" in err[0]
    assert not (tmp_path / "r").exists()
    with pytest.raises(PopgamesError, match="CUDA"):
        make_learner(popgames.load_game(GAME), "ppo", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_run_when_a_gpu_is_present(game):
    records = list(fxp(game, 2, seed=0, learner="ppo", learner_options=TINY, device="cuda"))
    main = records[-1].state.mains[0][-1]
    assert next(main.parameters()).device.type == "cuda"
    assert 0 < records[-1].game["split_efficiency"] <= 1
