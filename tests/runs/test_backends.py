"""``--backend inline|loky|ray``: the same metrics on every backend; an interrupted Ray run
leaves a resumable folder and no Ray process; a task that raises stops the run with one line
and the checkpoint intact; a missing Ray is one line before the folder is touched.

Short PSRO runs on trust_split with a tiny PPO budget; the Ray runs start their own local
cluster in a subprocess, as a user's command would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_metrics import comparable_metrics

from popgames.psro import main as psro_main
from popgames.runs.options import run_main

REPO = Path(__file__).resolve().parents[2]
GAME = str(REPO / "games" / "trust_split")
TINY = {"updates": 2, "num_envs": 64, "eval_episodes": 48, "epochs": 1}
ARGS = ["--seed", "0", "--device", "cpu", "--no-report",
        *(a for k, v in TINY.items() for a in ("--oracle-option", f"{k}={v}"))]


def _psro(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "popgames.psro", *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _one_line(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("inline") / "run"
    assert run_main(psro_main, [GAME, "--iterations", "2", *ARGS, "--out", str(run)]) == 0
    return run


def test_metrics_are_the_same_bits_on_every_backend(inline_run, tmp_path):
    pytest.importorskip("ray")
    ray_run = _psro(GAME, "--iterations", "2", *ARGS, "--backend", "ray", "--workers", "2",
                    "--out", tmp_path / "ray")
    # loky here meanwhile, ray in its own process as from a shell.
    assert run_main(psro_main, [GAME, "--iterations", "2", *ARGS, "--backend", "loky",
                                "--workers", "2", "--out", str(tmp_path / "loky")]) == 0
    out, err = ray_run.communicate(timeout=120)
    assert ray_run.returncode == 0, err
    assert len(out.splitlines()) == 1 and out.endswith(f" -> {tmp_path / 'ray'}\n"), out  # Ray says nothing
    expected = comparable_metrics(inline_run)
    assert comparable_metrics(tmp_path / "loky") == expected
    assert comparable_metrics(tmp_path / "ray") == expected
    # The backend is not part of the run: the configs are the same file.
    assert (tmp_path / "ray" / "config.toml").read_text() == (inline_run / "config.toml").read_text()


@pytest.mark.parametrize("game", ["stag_hunt", "kuhn_poker"])
def test_exact_kinds_give_the_same_metrics_on_a_pool(game, tmp_path):
    # Matrix and OpenSpiel oracles are exact and run in the driver: a backend changes nothing.
    args = ["--iterations", "3", "--no-report"]
    assert run_main(psro_main, [game, *args, "--out", str(tmp_path / "inline")]) == 0
    assert run_main(psro_main, [game, *args, "--backend", "loky", "--workers", "2",
                                "--out", str(tmp_path / "loky")]) == 0
    assert comparable_metrics(tmp_path / "loky") == comparable_metrics(tmp_path / "inline")


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Ray's head, raylet and workers of a driver)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigint_leaves_a_resumable_folder_and_no_ray_process(inline_run, tmp_path, capsys):
    pytest.importorskip("ray")
    run = tmp_path / "run"
    driver = _psro(GAME, "--iterations", "2", *ARGS, "--backend", "ray", "--workers", "2",
                   "--out", run)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists() and driver.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.02)
        ray_processes = _descendants(driver.pid)
        assert ray_processes, "the driver started no Ray process"
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 130 and "popgames: interrupted" in err, err
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in ray_processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in ray_processes if _alive(p)}
    assert not survivors, f"Ray processes outlived the driver: {survivors}"
    # Resumed in this process, without Ray: a backend is no part of the run.
    capsys.readouterr()
    assert run_main(psro_main, [GAME, "--iterations", "2", *ARGS, "--resume", "--out", str(run)]) == 0
    assert comparable_metrics(run) == comparable_metrics(inline_run)


FAILING_RESET = '''
import os as _os
from pathlib import Path as _Path

_reset = TrustSplit.reset


def _failing_reset(self, batch, generator):
    marker = _Path(__file__).with_name("FAIL")  # holds the driver's pid: only workers fail
    if marker.exists() and int(marker.read_text()) != _os.getpid():
        raise RuntimeError("the rules broke in a worker")
    return _reset(self, batch, generator)


TrustSplit.reset = _failing_reset
'''


def test_a_task_that_raises_stops_the_run_with_the_checkpoint_intact(tmp_path, capsys):
    game = tmp_path / "trust_split"
    shutil.copytree(GAME, game)
    with open(game / "rules.py", "a") as rules:
        rules.write(FAILING_RESET)
    run, loky = tmp_path / "run", ["--backend", "loky", "--workers", "2"]
    assert run_main(psro_main, [str(game), "--iterations", "1", *ARGS, *loky, "--out", str(run)]) == 0
    checkpoint = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
    (game / "FAIL").write_text(str(os.getpid()))
    capsys.readouterr()
    code = run_main(psro_main, [str(game), "--iterations", "2", *ARGS, *loky, "--resume", "--out", str(run)])
    # The first task to fail is named (an entry, or a best response where those are tasks).
    _one_line(capsys, code, "popgames: error: task ", "failed: RuntimeError: the rules broke in a worker")
    assert {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()} == checkpoint
    (game / "FAIL").unlink()
    assert run_main(psro_main, [str(game), "--iterations", "2", *ARGS, "--resume", "--out", str(run)]) == 0
    assert len(comparable_metrics(run)) == 2


def test_a_missing_ray_is_one_line_before_the_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as when it is not installed
    run = tmp_path / "run"
    code = run_main(psro_main, [GAME, "--iterations", "1", *ARGS, "--backend", "ray", "--out", str(run)])
    _one_line(capsys, code, "--backend ray needs Ray", "pip install 'popgames[ray]'")
    assert not run.exists()
