"""Run folders written before the package was rebuilt into layers still resume.

The fixtures (tests/fixtures/old_runs, see its README) were written by commit d42beb1's
code: a Kuhn poker PSRO run (exact oracle, 3 iterations) and a trust_split PSRO run
(PPO oracle, tiny budget, 2 iterations). Each is resumed for one more iteration under
today's code and must give the metrics of an uninterrupted run of today's code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from popgames.psro import main as psro_main
from popgames.runs.options import run_main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "old_runs"
REPO = Path(__file__).resolve().parents[2]
PPO_FLAGS = [a for k, v in {"updates": 2, "num_envs": 64, "eval_episodes": 64, "epochs": 1,
                            "hidden": 8}.items() for a in ("--oracle-option", f"{k}={v}")]
CASES = {"kuhn_psro": (["kuhn_poker"], 3), "trust_split_ppo": (["trust_split", "--device", "cpu", *PPO_FLAGS], 2)}


def _metrics(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for record in records:   # times differ from run to run; everything else must not
        record.pop("wall_time")
        for stats in record.get("oracle", []):
            stats.pop("steps_per_second"), stats.pop("train_seconds")
            stats.pop("value_se", None)   # measures added since the old runs were made
        for key in ("best_response_gain_ci95", "best_member_gain", "short_of_population"):
            record.pop(key, None)
    return records


def _card_as_the_run_saw_it(tmp_path: Path, name: str) -> str:
    """trust_split's card has since gained an ``[oracle]`` table (warm starts); the run was
    made with the card before it, whose digest the resume checks: that card, rebuilt."""
    if name != "trust_split_ppo":
        return CASES[name][0][0]
    folder = tmp_path / "trust_split"
    shutil.copytree(REPO / "games" / "trust_split", folder)
    text = (folder / "game.toml").read_text()
    (folder / "game.toml").write_text(text[:text.index("\n[oracle]")] if "\n[oracle]" in text else text)
    return str(folder)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_old_run_resumes_as_an_uninterrupted_one(tmp_path, name):
    args, done = CASES[name]
    args = [_card_as_the_run_saw_it(tmp_path, name), *args[1:]]
    old = tmp_path / "old"
    shutil.copytree(FIXTURES / name, old)
    before = _metrics(old)
    assert run_main(psro_main, [args[0], "--resume", "--iterations", str(done + 1), "--out", str(old),
                                "--no-report"]) == 0
    fresh = tmp_path / "fresh"
    assert run_main(psro_main, [*args, "--iterations", str(done + 1), "--out", str(fresh), "--no-report"]) == 0
    resumed = _metrics(old)
    assert len(resumed) == done + 1 and resumed[:done] == before
    assert resumed == _metrics(fresh)
