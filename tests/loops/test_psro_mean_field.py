"""Mean-field PSRO (Muller et al. 2022) through the shared PSRO loop, its run folder and report."""

from __future__ import annotations

import json

import numpy as np
import pytest

import popgames
from popgames.core.errors import PopgamesError
from popgames.kinds.mean_field.exact import exploitability, uniform_policy
from popgames.kinds.mean_field.meta_game import mixed_policy
from popgames.psro import main as psro_main
from popgames.psro import psro
from popgames.runs.options import run_main


@pytest.mark.parametrize("name", ["crowd_modelling", "susceptible_infected", "predator_prey"])
def test_nash_exploitability_is_that_of_the_mixed_population(name):
    game = popgames.load_game(name)
    records = list(psro(game, meta_solver="nash", iterations=6))
    rules = game.rules
    assert records[0].exploitability == pytest.approx(
        exploitability(rules, uniform_policy(rules))["exploitability"], abs=1e-12)
    for record in records[1:]:
        # The loop's number (best responses to the mixture's mean field) is the exact
        # exploitability of the population's behaviour policy, computed from scratch.
        members = [pop[:len(w)] for pop, w in zip(record.state.population, record.solution.marginals)]
        policy = mixed_policy(rules, members, record.solution.marginals)
        assert record.exploitability == pytest.approx(exploitability(rules, policy)["exploitability"], abs=1e-9)
        # A full-game deviation includes every member: the exploitability bounds the meta-game gap.
        assert record.exploitability >= record.metrics["meta_gap"] - 1e-12


def test_nash_and_cce_drive_crowd_modelling_to_equilibrium():
    game = popgames.load_game("crowd_modelling")
    for meta_solver, below in (("nash", 0.1), ("cce", 0.1)):
        curve = [r.exploitability for r in psro(game, meta_solver=meta_solver, iterations=15)]
        # measured: nash 2.853 -> 0.042, cce 2.853 -> 0.041 after 15 iterations
        assert curve[0] == pytest.approx(2.853349082965, abs=1e-9) and curve[-1] < below


def test_cce_gap_is_the_best_deviation_against_the_device():
    from popgames.kinds.mean_field.exact import q_functions

    game = popgames.load_game("beach_bar")
    rules = game.rules
    record = list(psro(game, meta_solver="cce", iterations=4))[-1]
    sol = record.solution
    assert record.metrics["exploitability_kind"] == "cce_gap" and len(sol.fields) == sol.draws.shape[0]
    # A deviation that does not know the draw earns the mean, over the draws, of its value
    # against each draw's mean field; the loop's best response is optimal there (no policy
    # differing in one decision does better: the one-shot deviation principle of MDPs).
    response = record.state.population[0][-1]
    transitions = sol.fields[0][0]

    def against_device(pi):
        return float(np.mean([rules.mu0 @ q_functions(transitions, f[1], pi)[1][0] for f in sol.fields]))

    deviation = record.exploitability + float(sol.payoffs[0])
    assert against_device(response) == pytest.approx(deviation, abs=1e-12)
    for t in range(rules.horizon):
        for x in range(rules.n_states):
            for a in range(rules.n_actions):
                other = response.copy()
                other[t, x] = np.eye(rules.n_actions)[a]
                assert against_device(other) <= deviation + 1e-12


def test_bad_requests_are_one_line():
    with pytest.raises(PopgamesError, match="choices: nash, cce"):
        next(psro(popgames.load_game("crowd_modelling"), meta_solver="ce"))
    with pytest.raises(PopgamesError, match="transitions that do not depend on the distribution"):
        next(psro(popgames.load_game("susceptible_infected"), meta_solver="cce"))


def test_the_cli_writes_a_report_and_resumes_exactly(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    args = ["predator_prey", "--oracle-option", "meta_iterations=50"]
    assert run_main(psro_main, [*args, "--iterations", "4", "--out", str(whole)]) == 0
    report = (whole / "report.md").read_text()
    assert "mean-field PSRO with `nash` meta-solver" in report and "## Final meta-strategy" in report
    assert run_main(psro_main, [*args, "--iterations", "2", "--out", str(split), "--no-report"]) == 0
    assert run_main(psro_main, ["predator_prey", "--resume", "--iterations", "4", "--out", str(split),
                                "--no-report"]) == 0

    def metrics(run):
        return [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
                for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert metrics(split) == metrics(whole)
