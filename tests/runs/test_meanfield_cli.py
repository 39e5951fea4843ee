"""``python -m popgames.meanfield``: run folders, reports and resume for the mean-field loops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from popgames.meanfield import main as meanfield_main
from popgames.runs.options import run_main


def _metrics(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        record.pop("wall_time")
    return records


@pytest.mark.parametrize("game, algorithm, options", [
    ("sis_graphon", "fixed_point", ["--option", "temperature=0.5"]),
    ("crowd_modelling", "omd", ["--option", "lr=0.5"]),
    ("crowd_modelling", "prior_descent", ["--option", "inner=3"]),
    ("crowd_modelling", "fp", []),
])
def test_a_run_writes_its_report_and_resumes_as_an_uninterrupted_one(tmp_path, game, algorithm, options):
    whole, split = tmp_path / "whole", tmp_path / "split"
    args = [game, "--algorithm", algorithm, *options, "--n-agents", "10", "30"]
    assert run_main(meanfield_main, [*args, "--iterations", "6", "--out", str(whole)]) == 0
    report = (whole / "report.md").read_text()
    assert "exploitability.png" in report and "distribution.png" in report
    assert ("per_agent.png" in report) == (game == "sis_graphon")
    assert "## Equilibrium and social optimum" in report and "## N-agent check" in report and [c["n"] for c in json.loads((whole / "n_agent.json").read_text())] == [
        10, 30]
    assert run_main(meanfield_main, [*args, "--iterations", "3", "--out", str(split), "--no-report"]) == 0
    assert run_main(meanfield_main, [game, "--resume", "--iterations", "6", "--out", str(split),
                                     "--no-report"]) == 0
    assert json.loads((split / "n_agent.json").read_text()) == json.loads((whole / "n_agent.json").read_text())
    assert _metrics(split) == _metrics(whole)
    assert [r["exploitability_kind"] for r in _metrics(whole)] == ["mean_field_exploitability"] * 6


@pytest.mark.parametrize("args, cause", [
    (["stag_hunt"], "does not run matrix games (they run under: popgames.psro, popgames.fxp)"),
    (["crowd_modelling", "--option", "lr=1"], "fp: unknown option 'lr'"),
    (["crowd_modelling", "--algorithm", "omd", "--option", "lr=-1"], "must be a number >= 0"),
    (["crowd_modelling", "--algorithm", "prior_descent", "--option", "temperature=0"], "temperature must be > 0"),
])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, args, cause):
    out = tmp_path / "run"
    assert run_main(meanfield_main, [*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert cause in err and err.count("\n") == 1
    assert not out.exists()


def test_each_kind_runs_under_the_loops_it_declares(tmp_path, capsys):
    from popgames.psro import main as psro_main

    assert run_main(psro_main, ["sis_graphon", "--out", str(tmp_path / "run")]) == 2
    assert "does not run graphon games (they run under: popgames.meanfield)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_card_options_are_per_algorithm_where_the_card_says_so():
    from popgames.core.errors import PopgamesError
    from popgames.runs.meanfield_run import card_options

    table = {"options": {"temperature": 0.3, "fixed_point": {"temperature": 0.1}, "omd": {"lr": 0.1}}}
    assert card_options(table, "fixed_point") == {"temperature": 0.1}
    assert card_options(table, "omd") == {"temperature": 0.3, "lr": 0.1}
    assert card_options({}, "fp") == {}
    with pytest.raises(PopgamesError, match=r"options\.omd: expected a table"):
        card_options({"options": {"omd": 0.1}}, "omd")
