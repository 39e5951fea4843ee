"""``python -m popgames.psro``: run folders, SIGKILL-and-resume, one-line errors.

The kill-and-resume and report tests run real subprocesses; the error cases call the
same entry point (``run_main(psro_main, argv)``, which is all ``__main__`` does)
in-process, since a fresh interpreter costs seconds per call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from popgames.psro import main as psro_main
from popgames.report import main as report_main
from popgames.runs.options import run_main

CMD = [sys.executable, "-m", "popgames.psro"]


def _metrics(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"} for line in lines]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("full") / "run"
    _run("games/leduc_poker", "--iterations", "24", "--out", str(run))
    return run


def test_run_folder_contents(uninterrupted):
    for name in ("config.toml", "metrics.jsonl", "checkpoint/state.safetensors", "report.md",
                 "exploitability.png", "meta_strategy.png"):
        assert (uninterrupted / name).is_file(), name
    records = _metrics(uninterrupted)
    assert [r["iteration"] for r in records] == list(range(24))
    assert records[-1]["exploitability"] < records[0]["exploitability"]
    report = (uninterrupted / "report.md").read_text()
    assert "NashConv" in report and "leduc_poker" in report


@pytest.mark.parametrize("kill_after", [1, 6, 15])
def test_sigkill_then_resume_matches_uninterrupted_run(uninterrupted, tmp_path, kill_after):
    run = tmp_path / "run"
    proc = subprocess.Popen([*CMD, "games/leduc_poker", "--iterations", "24", "--out", str(run),
                             "--no-report"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= kill_after:
            break
        time.sleep(0.001)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(_metrics(run))
    assert kill_after <= done < 24
    _run("games/leduc_poker", "--resume", "--out", str(run))
    assert _metrics(run) == _metrics(uninterrupted)


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and needle in lines[0], proc.stderr


def _in_process(capsys, *args: str, main=psro_main) -> subprocess.CompletedProcess:
    """The CLI's entry point in this process, as a CompletedProcess-like result."""
    capsys.readouterr()
    code = run_main(main, list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_bad_resumes_leave_the_run_untouched(tmp_path, capsys):
    run = tmp_path / "run"
    assert _in_process(capsys, "games/kuhn_poker", "--iterations", "3", "--out", str(run),
                       "--no-report").returncode == 0
    before = _files(run)
    _one_line_error(_in_process(capsys, "games/kuhn_poker", "--iterations", "3", "--out", str(run)),
                    "already holds a run")
    _one_line_error(_in_process(capsys, "games/leduc_poker", "--resume", "--out", str(run)),
                    "is for game 'kuhn_poker'")
    _one_line_error(_in_process(capsys, "games/kuhn_poker", "--resume", "--meta-solver", "cce",
                                "--out", str(run)), "differs from the run's")
    _one_line_error(_in_process(capsys, "games/kuhn_poker", "--resume", "--tie-break", "lowest",
                                "--out", str(run)), "--tie-break 'lowest' differs")
    assert _files(run) == before
    checkpoint = run / "checkpoint" / "state.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    # Else the run resumes from the previous checkpoint (tests/runs/test_run_faults.py): damage it too.
    previous = run / "checkpoint" / "state.prev.safetensors"
    previous.write_bytes(previous.read_bytes()[:100])
    damaged = _files(run)
    _one_line_error(_in_process(capsys, "games/kuhn_poker", "--resume", "--iterations", "5",
                                "--out", str(run)), "corrupt or truncated")
    assert _files(run) == damaged


@pytest.mark.parametrize("args,needle", [
    (("games/no_such_game",), "no game folder"),
    (("games/kuhn_poker", "--meta-solver", "nashh"), "unknown meta-solver 'nashh'"),
    (("games/kuhn_poker", "--device", "cuda"), "CUDA is not available"),
    (("games/kuhn_poker", "--device", "tpu"), "expected 'cpu' or 'cuda"),
    (("games/kuhn_poker", "--iterations", "0"), "at least 1"),
])
def test_bad_invocations_give_one_line(tmp_path, capsys, args, needle):
    if "cuda" in args:
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    _one_line_error(_in_process(capsys, *args, "--out", str(tmp_path / "run")), needle)
    assert not (tmp_path / "run").exists()


def test_report_rebuilds_from_the_folder(uninterrupted):
    (uninterrupted / "report.md").unlink()
    proc = subprocess.run([sys.executable, "-m", "popgames.report", str(uninterrupted)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (uninterrupted / "report.md").is_file()


def test_report_of_a_non_run_is_one_line(tmp_path, capsys):
    _one_line_error(_in_process(capsys, str(tmp_path), main=report_main), "not a readable run folder")
