"""The wheel carries every mapped package, nested subpackage and game card, and works installed."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAPPED = {"popgames": "popgames", "solvers": "popgames/solvers",
          "analysis": "popgames/analysis", "games": "popgames/games"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """One wheel per test session, built once under a lock: two xdist workers building in the
    same source tree at once share its build/ folder, and one of them failed on a file the
    other had just removed (seen in a fresh clone)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this session's
    with open(shared / "wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = shared / "wheel"
        if not list(out.glob("popgames-*.whl")):
            proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                                   "-q", "-w", str(out), str(REPO)], capture_output=True, text=True,
                                  timeout=600)
            assert proc.returncode == 0, proc.stderr[-2000:]
    (found,) = out.glob("popgames-*.whl")
    return found


def _expected_files() -> set[str]:
    expected = set()
    for folder, target in MAPPED.items():
        for path in (REPO / folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            rel = path.relative_to(REPO / folder)
            if path.suffix == ".py" or path.name == "game.toml":
                expected.add(f"{target}/{rel.as_posix()}")
    return expected


def test_wheel_contains_every_module_and_card(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _expected_files()
    assert any(e.endswith("games/stag_hunt/game.toml") for e in expected)
    missing = sorted(expected - names)
    assert not missing, f"wheel drops: {missing}"


def test_installed_wheel_loads_a_builtin_game(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    code = ("import popgames, sys; g = popgames.load_game('games/shapleys_game'); "
            "assert popgames.__file__.startswith(sys.argv[1]), popgames.__file__; "
            "print(g.num_actions, len(popgames.builtin_games()))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("(3, 3)")
