"""PSRO on a batched Markov game with the PPO oracle: records, sampled meta-games,
PSRO-RAE on entry variances, SIGKILL-and-resume on the deterministic CPU path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import popgames
from run_metrics import comparable_metrics
from popgames.psro import main as psro_main
from popgames.psro import psro
from popgames.runs.options import run_main

TINY = {"updates": 2, "num_envs": 64, "eval_episodes": 64, "epochs": 1}
TINY_FLAGS = [arg for k, v in TINY.items() for arg in ("--oracle-option", f"{k}={v}")]
CMD = [sys.executable, "-m", "popgames.psro", "games/trust_split", "--iterations", "3", "--no-report",
       "--device", "cpu", *TINY_FLAGS]




@pytest.fixture(scope="module")
def game():
    return popgames.load_game("games/trust_split")


def test_records_carry_sampled_meta_game_and_game_metrics(game):
    records = list(psro(game, "nash", iterations=2, seed=1, oracle_options=TINY))
    last = records[-1]
    assert last.exploitability_kind == "approx_nash_conv"
    seeds = len(game.psro["initial"])  # the card seeds each population with references
    assert last.population_size == [seeds + 1] * 2
    assert [p.name for p in last.state.population[0][:seeds]] == game.psro["initial"]
    meta = last.state.meta_game
    assert meta.payoffs.shape == (2, seeds + 2, seeds + 2) and meta.counts.min() == TINY["eval_episodes"]
    assert (meta.standard_errors() > 0).all()
    assert {"split_efficiency", "vs_greedy", "greedy_extracts", "vs_welfare"} <= set(last.game)
    assert 0 < last.game["split_efficiency"] <= 1
    assert last.oracle[0]["env_steps"] == TINY["updates"] * TINY["num_envs"] * game.rules.horizon


def test_psro_rae_uses_entry_variances(game):
    records = list(psro(game, "rae", iterations=2, seed=0, oracle_options=TINY))
    assert records[-1].metrics["meta_gap"] <= 1e-3 * 1000  # verified risk-averse regret
    from popgames.solvers import registry
    meta = records[-1].state.meta_game
    with_noise = registry.solve(meta.payoffs, "rae", entry_variances=meta.variances)
    assert with_noise.gap <= with_noise.tolerance * 10 or not with_noise.converged


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    full, run = tmp_path / "full", tmp_path / "run"
    subprocess.run([*CMD, "--out", str(full)], check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen([*CMD, "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 1:
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= len(comparable_metrics(run)) < 3
    subprocess.run([*CMD, "--resume", "--out", str(run)], check=True, capture_output=True, timeout=600)
    assert comparable_metrics(run) == comparable_metrics(full)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_one_clear_line(tmp_path, capsys):
    code = run_main(psro_main, ["games/trust_split", "--device", "cuda", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "CUDA" in err[0]
    assert not (tmp_path / "r").exists()


def test_bad_oracle_option_is_one_clear_line(tmp_path, capsys):
    code = run_main(psro_main, ["games/trust_split", "--oracle-option", "lr=fast",
                                "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "oracle.lr" in err[0]


def test_parameter_sharing_adds_one_network_to_every_population(game):
    records = list(psro(game, "nash", iterations=2, seed=0,
                                 oracle_options={**TINY, "share_parameters": True}))
    pop = records[-1].state.population
    assert pop[0][-1] is pop[1][-1] and pop[0][-2] is pop[1][-2]
    assert [s["player"] for s in records[-1].oracle] == [-1]
    assert records[-1].oracle[0]["env_steps"] == TINY["updates"] * TINY["num_envs"] * game.rules.horizon
