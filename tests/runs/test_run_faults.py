"""Run folders under faults, for both drivers (``popgames.loops.psro`` and ``popgames.loops.fxp.loop``):
resumes with differing flags, damaged checkpoints (and the fallback to the previous one),
two runs in one folder, unwritable folders, file modes, stale temporary files, bad seeds
and where option errors are blamed.

Runs go through the CLIs' entry points in-process (``run_main(main, argv)`` is all
``__main__`` does); only the concurrent-run tests need a second process.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from popgames.core.errors import GameCardError
from popgames.fxp import main as fxp_main
from popgames.psro import main as psro_main
from popgames.runs.folder import RunFolder
from popgames.runs.options import run_main

KUHN = "games/kuhn_poker"
TEAM = "games/fxp_team_game"
MARKOV = "games/trust_split"
TINY = {"updates": 2, "num_envs": 64, "eval_episodes": 64, "epochs": 1}
TINY_ORACLE = [a for k, v in TINY.items() for a in ("--oracle-option", f"{k}={v}")]


# -- helpers ----------------------------------------------------------------------------------

def _cli(capsys, main, *args: str) -> subprocess.CompletedProcess:
    """A CLI's entry point in this process, as a CompletedProcess-like result."""
    capsys.readouterr()
    code = run_main(main, [str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    return proc


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _metrics(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"} for line in lines]


def _checkpoint(run: Path) -> Path:
    return run / "checkpoint" / "state.safetensors"


def _previous(run: Path) -> Path:
    return run / "checkpoint" / "state.prev.safetensors"


def _flip(path: Path, name: str, element: int = 0) -> None:
    """Flip the sign bit of one float64 element of tensor ``name`` in a safetensors file."""
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    start = 8 + n + json.loads(raw[8:8 + n])[name]["data_offsets"][0]
    raw[start + 8 * element + 7] ^= 0x80
    path.write_bytes(bytes(raw))


def _old_format(run: Path) -> None:
    """Make ``run`` look written before digests, the previous checkpoint and the lock existed:
    the checkpoint rewritten as the old ``save_checkpoint`` did (format and state only)."""
    raw = _checkpoint(run).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8:8 + n])["__metadata__"]
    old = {"format": meta["format"], "state": meta["state"]}
    _checkpoint(run).write_bytes(st_save(dict(st_load(raw)), metadata=old))
    for extra in (_previous(run), run / ".lock"):
        extra.unlink(missing_ok=True)


def _rewrite(run: Path, change) -> None:
    """Save a checkpoint with ``change(arrays, state)`` applied, as a buggy writer would (its
    digest matches what was written); the good one becomes the previous checkpoint."""
    folder = RunFolder(run)
    arrays, state = folder.load_checkpoint()
    arrays, state = dict(arrays), dict(state)
    change(arrays, state)
    folder.save_checkpoint(arrays, state)


@pytest.fixture(scope="module")
def kuhn5(tmp_path_factory) -> Path:
    """Uninterrupted 5-iteration Kuhn poker PSRO run."""
    run = tmp_path_factory.mktemp("kuhn5") / "run"
    assert run_main(psro_main, [KUHN, "--iterations", "5", "--out", str(run), "--no-report"]) == 0
    return run


@pytest.fixture(scope="module")
def team6(tmp_path_factory) -> Path:
    """Uninterrupted 6-iteration FXP run on the team game."""
    run = tmp_path_factory.mktemp("team6") / "run"
    assert run_main(fxp_main, [TEAM, "--iterations", "6", "--out", str(run), "--no-report"]) == 0
    return run


def _kuhn(capsys, run: Path, iterations: int = 3, *extra: str) -> None:
    _ok(_cli(capsys, psro_main, KUHN, "--iterations", str(iterations), "--out", run, "--no-report",
             *extra))


def _team(capsys, run: Path, iterations: int = 3, *extra: str) -> None:
    _ok(_cli(capsys, fxp_main, TEAM, "--iterations", str(iterations), "--out", run, "--no-report",
             *extra))


# -- 10: resuming with different flags ---------------------------------------------------------

def test_psro_resume_refuses_a_different_option(tmp_path, capsys):
    run = tmp_path / "run"
    _kuhn(capsys, run, 3, "--option", "objective=max_welfare")
    before = _files(run)
    _one_line_error(_cli(capsys, psro_main, KUHN, "--resume", "--option", "objective=max_support",
                         "--out", run),
                    "--option objective='max_support'", "differs from the run's", "'max_welfare'")
    _one_line_error(_cli(capsys, psro_main, KUHN, "--resume", "--option", "label=1", "--out", run),
                    "--option label=1", "differs from the run's")
    assert _files(run) == before
    # The same option again is no change.
    _ok(_cli(capsys, psro_main, KUHN, "--resume", "--option", "objective=max_welfare",
             "--iterations", "4", "--out", run, "--no-report"))


@pytest.fixture(scope="module")
def markov_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("markov") / "run"
    assert run_main(psro_main, [MARKOV, "--iterations", "1", "--device", "cpu", "--no-report",
                                *TINY_ORACLE, "--out", str(run)]) == 0
    return run


def test_psro_resume_refuses_a_different_oracle_option(markov_run, capsys):
    before = _files(markov_run)
    _one_line_error(_cli(capsys, psro_main, MARKOV, "--resume", "--oracle-option", "updates=3",
                         "--out", markov_run),
                    "--oracle-option updates=3", "differs from the run's updates=2")
    _one_line_error(_cli(capsys, psro_main, MARKOV, "--resume", "--oracle-option", "lr=0.01",
                         "--out", markov_run),
                    "--oracle-option lr=0.01", "differs from the run's")
    assert _files(markov_run) == before


def test_fxp_resume_names_the_differing_option(tmp_path, capsys):
    run = tmp_path / "run"
    _team(capsys, run, 2, "--option", "steps=30")
    before = _files(run)
    _one_line_error(_cli(capsys, fxp_main, TEAM, "--resume", "--option", "steps=40", "--out", run),
                    "--option steps=40 differs from the run's steps=30")
    _one_line_error(_cli(capsys, fxp_main, TEAM, "--resume", "--option", "cross_play=0.5", "--out", run),
                    "--option cross_play=0.5 differs from the run's cross_play=0.75")
    assert _files(run) == before


@pytest.mark.parametrize("main,game", [(psro_main, KUHN), (fxp_main, TEAM)])
def test_resume_refuses_fewer_iterations_than_done(tmp_path, capsys, main, game):
    run = tmp_path / "run"
    _ok(_cli(capsys, main, game, "--iterations", "5", "--out", run, "--no-report"))
    before = _files(run)
    _one_line_error(_cli(capsys, main, game, "--resume", "--iterations", "3", "--out", run),
                    "--iterations 3 is fewer than the 5 iterations already done")
    assert _files(run) == before
    _ok(_cli(capsys, main, game, "--resume", "--iterations", "5", "--out", run, "--no-report"))


# -- 11: damaged checkpoints and the previous one ----------------------------------------------

def test_psro_flipped_bit_falls_back_to_the_previous_checkpoint(kuhn5, tmp_path, capsys):
    run = tmp_path / "run"
    _kuhn(capsys, run, 3)
    assert _previous(run).is_file(), "the previous checkpoint is kept"
    _flip(_checkpoint(run), "meta_game", element=9)
    proc = _ok(_cli(capsys, psro_main, KUHN, "--resume", "--iterations", "5", "--out", run,
                    "--no-report"))
    assert "state.safetensors" in proc.stderr and "state.prev.safetensors" in proc.stderr
    assert "damaged" in proc.stderr
    assert _metrics(run) == _metrics(kuhn5)
    # The damaged file is set aside (not rotated over the good previous one), not lost.
    assert (run / "checkpoint" / "state.damaged.safetensors").is_file()


def test_psro_flipped_bit_without_a_previous_checkpoint_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    _kuhn(capsys, run, 3)
    _previous(run).unlink(missing_ok=True)
    _flip(_checkpoint(run), "meta_game", element=9)
    before = _files(run)
    _one_line_error(_cli(capsys, psro_main, KUHN, "--resume", "--iterations", "5", "--out", run),
                    "state.safetensors", "damaged")
    assert _files(run) == before


def _truncate_history(arrays, state):
    state["history"] = state["history"][:-2]


def _shrink_meta_game(arrays, state):
    arrays["meta_game"] = np.ascontiguousarray(arrays["meta_game"][:, :-1, :])


def _drop_meta_game(arrays, state):
    del arrays["meta_game"]


def _transpose_meta_game(arrays, state):
    arrays["meta_game"] = np.ascontiguousarray(arrays["meta_game"][:, :, :-1])
    arrays["population_1"] = np.ascontiguousarray(arrays["population_1"][:-1])


PSRO_DAMAGE = [(_truncate_history, "history"), (_shrink_meta_game, "meta_game"),
               (_drop_meta_game, "meta_game"), (_transpose_meta_game, "history")]


@pytest.mark.parametrize("damage,needle", PSRO_DAMAGE)
def test_psro_inconsistent_checkpoint_is_refused(tmp_path, capsys, damage, needle):
    run = tmp_path / "run"
    _kuhn(capsys, run, 3)
    _rewrite(run, damage)
    _previous(run).unlink(missing_ok=True)
    before = _files(run)
    _one_line_error(_cli(capsys, psro_main, KUHN, "--resume", "--iterations", "5", "--out", run),
                    "state.safetensors", needle)
    assert _files(run) == before


@pytest.mark.parametrize("damage,needle", PSRO_DAMAGE[:3])
def test_psro_inconsistent_checkpoint_falls_back(kuhn5, tmp_path, capsys, damage, needle):
    run = tmp_path / "run"
    _kuhn(capsys, run, 3)
    _rewrite(run, damage)
    proc = _ok(_cli(capsys, psro_main, KUHN, "--resume", "--iterations", "5", "--out", run,
                    "--no-report"))
    assert needle in proc.stderr and "state.prev.safetensors" in proc.stderr
    assert _metrics(run) == _metrics(kuhn5)


def test_a_damaged_checkpoint_of_an_old_run_is_still_caught(tmp_path, capsys):
    """Without a digest (written before this change), the shape checks still refuse it."""
    run = tmp_path / "run"
    _kuhn(capsys, run, 3)
    _rewrite(run, _truncate_history)
    _old_format(run)
    _one_line_error(_cli(capsys, psro_main, KUHN, "--resume", "--iterations", "5", "--out", run),
                    "history")


@pytest.mark.parametrize("main,game,total,fixture", [(psro_main, KUHN, 5, "kuhn5"),
                                                     (fxp_main, TEAM, 6, "team6")])
def test_old_checkpoints_still_resume(tmp_path, capsys, request, main, game, total, fixture):
    run = tmp_path / "run"
    _ok(_cli(capsys, main, game, "--iterations", "3", "--out", run, "--no-report"))
    _old_format(run)
    _ok(_cli(capsys, main, game, "--resume", "--iterations", str(total), "--out", run, "--no-report"))
    assert _metrics(run) == _metrics(request.getfixturevalue(fixture))


def test_fxp_flipped_bit_falls_back_to_the_previous_checkpoint(team6, tmp_path, capsys):
    run = tmp_path / "run"
    _team(capsys, run, 4)
    _flip(_checkpoint(run), "meta_game_0", element=45)
    proc = _ok(_cli(capsys, fxp_main, TEAM, "--resume", "--iterations", "6", "--out", run,
                    "--no-report"))
    assert "damaged" in proc.stderr and "state.prev.safetensors" in proc.stderr
    assert _metrics(run) == _metrics(team6)


def _fxp_truncate_history(arrays, state):
    state["history"] = state["history"][:-1]


def _fxp_shrink_meta_game(arrays, state):
    arrays["meta_game_0"] = np.ascontiguousarray(arrays["meta_game_0"][:, :-1, :])


def _fxp_drop_counters(arrays, state):
    del arrays["counter_0"]


@pytest.mark.parametrize("damage,needle", [(_fxp_truncate_history, "history"),
                                           (_fxp_shrink_meta_game, "meta_game_0"),
                                           (_fxp_drop_counters, "counter_0")])
def test_fxp_inconsistent_checkpoint_is_refused_or_falls_back(team6, tmp_path, capsys, damage, needle):
    run = tmp_path / "run"
    _team(capsys, run, 4)
    _rewrite(run, damage)
    proc = _ok(_cli(capsys, fxp_main, TEAM, "--resume", "--iterations", "6", "--out", run,
                    "--no-report"))
    assert needle in proc.stderr and "state.prev.safetensors" in proc.stderr
    assert _metrics(run) == _metrics(team6)
    # Without a previous checkpoint the same damage is a one-line refusal.
    other = tmp_path / "other"
    _team(capsys, other, 4)
    _rewrite(other, damage)
    _previous(other).unlink()
    before = _files(other)
    _one_line_error(_cli(capsys, fxp_main, TEAM, "--resume", "--iterations", "6", "--out", other),
                    needle)
    assert _files(other) == before


# -- 12: one run per folder at a time ----------------------------------------------------------

def _wait_for(path: Path, proc: subprocess.Popen, lines: int = 0) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_text().count("\n") >= lines:
            return
        time.sleep(0.005)
    raise AssertionError(f"{path} did not appear: {proc.stderr.read().decode() if proc.stderr else ''}")


def test_second_markov_run_into_the_same_folder_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "popgames.psro", MARKOV, "--iterations", "5",
                              "--seed", "0", "--device", "cpu", "--no-report", *TINY_ORACLE,
                              "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(run / "config.toml", first)  # started, nothing checkpointed yet
        config = (run / "config.toml").read_bytes()
        for extra in ((), ("--resume",)):
            line = _one_line_error(_cli(capsys, psro_main, MARKOV, "--seed", "1", "--device", "cpu",
                                        *TINY_ORACLE, *extra, "--out", run), "in use")
            assert f"pid {first.pid}" in line
        assert first.poll() is None, "the first run ended before the second one was tried"
        assert (run / "config.toml").read_bytes() == config
    finally:
        first.kill()
        first.wait()
    assert b"seed = 0" in (run / "config.toml").read_bytes()


def test_second_fxp_run_into_the_same_folder_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "popgames.fxp", TEAM, "--iterations", "40",
                              "--option", "steps=400", "--no-report", "--out", str(run)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(run / "metrics.jsonl", first, lines=1)
        for extra in ((), ("--resume",)):
            _one_line_error(_cli(capsys, fxp_main, TEAM, "--seed", "1", *extra, "--out", run),
                            "in use", f"pid {first.pid}")
        assert first.poll() is None, "the first run ended before the second one was tried"
        os.kill(first.pid, signal.SIGKILL)  # a killed run leaves no stale lock behind
        first.wait()
        _ok(_cli(capsys, fxp_main, TEAM, "--resume", "--iterations", "3", "--out", run, "--no-report"))
    finally:
        first.kill()
        first.wait()


# -- 13: unwritable folders, file modes, stale temporary files ----------------------------------

@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_run_folder_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    _kuhn(capsys, run, 2)
    modes = {p: p.stat().st_mode for p in [run, *run.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        _one_line_error(_cli(capsys, psro_main, KUHN, "--resume", "--iterations", "3", "--out", run),
                        str(run), "Permission denied")
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def test_unwritable_run_folder_is_one_line(tmp_path, capsys, monkeypatch):
    """Writes refused by the OS (a read-only folder, even for root): one line naming the path."""
    run = tmp_path / "run"
    _kuhn(capsys, run, 2)
    before = _files(run)
    real_open, real_mkdir = os.open, os.mkdir
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def deny(path) -> None:
        if str(os.fspath(path)).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    def guarded_open(path, flags, *args, **kwargs):
        if flags & writing:
            deny(path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        deny(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    _one_line_error(_cli(capsys, psro_main, KUHN, "--resume", "--iterations", "3", "--out", run),
                    str(run), "Permission denied")
    _one_line_error(_cli(capsys, fxp_main, TEAM, "--iterations", "2", "--out", tmp_path / "new"),
                    str(tmp_path / "new"), "Permission denied")
    monkeypatch.undo()
    assert _files(run) == before


@pytest.mark.parametrize("main,game", [(psro_main, KUHN), (fxp_main, TEAM)])
def test_files_get_the_normal_mode(tmp_path, capsys, main, game):
    old = os.umask(0o027)
    try:
        _ok(_cli(capsys, main, game, "--iterations", "3", "--out", tmp_path / "run", "--no-report"))
    finally:
        os.umask(old)
    run = tmp_path / "run"
    for name in ("config.toml", "metrics.jsonl", "checkpoint/state.safetensors",
                 "checkpoint/state.prev.safetensors"):
        assert (run / name).stat().st_mode & 0o777 == 0o640, name


STALE = (".metrics.jsonl.k2j4h5g6", ".config.toml.abcd1234", "checkpoint/.state.safetensors.x_y9z8w7",
         "checkpoint/.state.prev.safetensors.0a1b2c3d")


@pytest.mark.parametrize("main,game", [(psro_main, KUHN), (fxp_main, TEAM)])
def test_stale_temporary_files_are_cleaned(tmp_path, capsys, main, game):
    run = tmp_path / "run"
    _ok(_cli(capsys, main, game, "--iterations", "2", "--out", run, "--no-report"))
    for name in STALE:
        (run / name).write_bytes(b"half a file")
    (run / ".keep").write_text("not ours")
    _ok(_cli(capsys, main, game, "--resume", "--iterations", "3", "--out", run, "--no-report"))
    assert not [name for name in STALE if (run / name).exists()]
    assert (run / ".keep").exists()
    # A run killed before its first checkpoint: a fresh start cleans its leftovers too.
    fresh = tmp_path / "fresh"
    (fresh / "checkpoint").mkdir(parents=True)
    (fresh / STALE[2]).write_bytes(b"half a file")
    _ok(_cli(capsys, main, game, "--iterations", "2", "--out", fresh, "--no-report"))
    assert not (fresh / STALE[2]).exists()


# -- item 8: seeds and where option errors are blamed ------------------------------------------

@pytest.mark.parametrize("main,args", [
    (psro_main, (MARKOV, "--device", "cpu", *TINY_ORACLE)),
    (psro_main, (KUHN,)),
    (fxp_main, (TEAM,)),
    (fxp_main, (MARKOV, "--device", "cpu")),
])
def test_negative_seed_is_one_line_and_writes_nothing(tmp_path, capsys, main, args):
    _one_line_error(_cli(capsys, main, *args, "--seed", "-5", "--out", tmp_path / "run"),
                    "--seed -5", "non-negative")
    assert not (tmp_path / "run").exists()


@pytest.fixture
def bad_oracle_card(tmp_path) -> Path:
    game = tmp_path / "trust_split_bad"
    shutil.copytree(MARKOV, game)
    text = (game / "game.toml").read_text()   # a bogus key in the card's [oracle] table
    text = (text.replace("\n[oracle]\n", "\n[oracle]\nbogus = 1\n") if "\n[oracle]\n" in text
            else text + "\n[oracle]\nbogus = 1\n")
    (game / "game.toml").write_text(text)
    return game


@pytest.mark.parametrize("main", [psro_main, fxp_main])
def test_unknown_card_oracle_key_names_the_card(tmp_path, capsys, bad_oracle_card, main):
    line = _one_line_error(_cli(capsys, main, bad_oracle_card, "--device", "cpu",
                                "--out", tmp_path / "run"),
                           str(bad_oracle_card / "game.toml"), "oracle.bogus")
    assert "--oracle-option" not in line and "--option" not in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("main,flag", [(psro_main, "--oracle-option"), (fxp_main, "--option")])
def test_bad_oracle_flag_names_the_flag(tmp_path, capsys, main, flag):
    line = _one_line_error(_cli(capsys, main, MARKOV, "--device", "cpu", flag, "lr=fast",
                                "--out", tmp_path / "run"), flag, "oracle.lr")
    assert "game.toml" not in line
    assert not (tmp_path / "run").exists()


def test_bad_meta_solver_option_value_leaves_no_folder(tmp_path, capsys):
    _one_line_error(_cli(capsys, psro_main, KUHN, "--option", "objective=nonsense",
                         "--out", tmp_path / "run"), "nonsense")
    assert not (tmp_path / "run").exists()


def test_option_values_are_checked_before_the_folder_naming_the_flag(tmp_path, capsys, monkeypatch):
    """``registry.check_options`` (which validates values) is called on the merged options before
    anything is written, and its error names ``--option`` for a value from the flag."""
    from popgames.solvers import registry

    real = registry.check_options

    def check_values(name, options, source="<call>"):
        real(name, options, source)
        if options.get("objective") == "nonsense":
            raise GameCardError(source, f"solvers.{name}.objective", "not an accepted value")

    monkeypatch.setattr(registry, "check_options", check_values)
    _one_line_error(_cli(capsys, psro_main, KUHN, "--option", "objective=nonsense",
                         "--out", tmp_path / "run"), "--option", "objective")
    assert not (tmp_path / "run").exists()
