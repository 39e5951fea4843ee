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
])
def test_bad_arguments_give_one_line(args, needle):
    proc = _run(*args)
    assert proc.returncode == 2 and needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
