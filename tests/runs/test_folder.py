"""Run folders: atomic checkpoints, refusal to overwrite, clear errors for bad checkpoints,
digests and the previous checkpoint, the lock, file modes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from popgames.core.errors import PopgamesError
from popgames.runs.folder import RunFolder, RunFolderError


def _saved(tmp_path) -> RunFolder:
    folder = RunFolder(tmp_path / "run")
    folder.start({"game": "g", "seed": 3, "skip": None, "solver_options": {"a": [1, 2]}})
    folder.save_checkpoint({"meta_game": np.arange(8.0).reshape(2, 2, 2), "empty": np.zeros((2, 0))},
                           {"history": [{"iteration": 0, "x": 0.5}], "elapsed": 1.5})
    return folder


def test_round_trip(tmp_path):
    folder = _saved(tmp_path)
    arrays, state = folder.load_checkpoint()
    np.testing.assert_array_equal(arrays["meta_game"], np.arange(8.0).reshape(2, 2, 2))
    assert arrays["empty"].shape == (2, 0)
    assert state == {"history": [{"iteration": 0, "x": 0.5}], "elapsed": 1.5}
    assert folder.read_config() == {"game": "g", "seed": 3, "solver_options": {"a": [1, 2]}}
    assert not list(folder.checkpoint_path.parent.glob(".*")), "temporary files left behind"


def test_refuses_to_start_over_an_existing_run(tmp_path):
    folder = _saved(tmp_path)
    before = folder.checkpoint_path.read_bytes()
    with pytest.raises(RunFolderError, match="already holds a run"):
        RunFolder(folder.path).start({"game": "other"})
    assert folder.checkpoint_path.read_bytes() == before
    assert folder.read_config()["game"] == "g"


@pytest.mark.parametrize("damage,needle", [
    (lambda raw: raw[: len(raw) // 2], "corrupt or truncated"),
    (lambda raw: raw[:5], "corrupt or truncated"),
    (lambda raw: b"\x00" * 64, "corrupt or truncated"),
])
def test_damaged_checkpoint_is_a_clear_error(tmp_path, damage, needle):
    folder = _saved(tmp_path)
    folder.checkpoint_path.write_bytes(damage(folder.checkpoint_path.read_bytes()))
    with pytest.raises(RunFolderError, match=needle):
        folder.load_checkpoint()


def test_foreign_safetensors_file_is_rejected(tmp_path):
    from safetensors.numpy import save_file

    folder = RunFolder(tmp_path / "run")
    folder.checkpoint_path.parent.mkdir(parents=True)
    save_file({"w": np.ones(3)}, str(folder.checkpoint_path), metadata={"format": "something-else"})
    with pytest.raises(RunFolderError, match="not a popgames checkpoint"):
        folder.load_checkpoint()
    with pytest.raises(RunFolderError, match="no checkpoint"):
        RunFolder(tmp_path / "nothing").load_checkpoint()


def test_digest_catches_a_flipped_byte_in_tensor_data(tmp_path):
    folder = _saved(tmp_path)
    raw = bytearray(folder.checkpoint_path.read_bytes())
    raw[-1] ^= 0x01  # the last byte of the tensor data
    folder.checkpoint_path.write_bytes(bytes(raw))
    with pytest.raises(RunFolderError, match="damaged checkpoint"):
        folder.load_checkpoint()


def test_checkpoints_without_a_digest_still_load(tmp_path):
    """Checkpoints written before the digest existed (format and state only) load unchecked."""
    from safetensors.numpy import save_file

    from popgames.runs.folder import CHECKPOINT_FORMAT

    folder = RunFolder(tmp_path / "run")
    folder.checkpoint_path.parent.mkdir(parents=True)
    save_file({"meta_game": np.ones((2, 1, 1))}, str(folder.checkpoint_path),
              metadata={"format": CHECKPOINT_FORMAT, "state": '{"history": [], "elapsed": 0.0}'})
    arrays, state = folder.load_checkpoint()
    assert arrays["meta_game"].shape == (2, 1, 1) and state == {"history": [], "elapsed": 0.0}


def test_restore_falls_back_to_the_previous_checkpoint(tmp_path):
    folder = _saved(tmp_path)
    folder.save_checkpoint({"meta_game": np.zeros((2, 3, 3))}, {"history": [{"iteration": 1}]})
    assert folder.load_checkpoint(folder.previous_path)[1]["history"] == [{"iteration": 0, "x": 0.5}]
    build = lambda arrays, state: state["history"]  # noqa: E731
    assert folder.restore(build).passed_over is None
    folder.checkpoint_path.write_bytes(folder.checkpoint_path.read_bytes()[:-3])
    restored = folder.restore(build)
    assert restored.value == [{"iteration": 0, "x": 0.5}] and restored.path == folder.previous_path
    assert "state.safetensors: corrupt or truncated" in restored.passed_over
    # Committing to it sets the damaged file aside, so the next save keeps the good previous one.
    assert folder.adopt(restored) and folder.damaged_path.is_file()
    folder.save_checkpoint({"meta_game": np.zeros((2, 2, 2))}, {"history": []})
    assert folder.load_checkpoint(folder.previous_path)[1]["history"] == [{"iteration": 0, "x": 0.5}]
    # A checkpoint the caller cannot use falls back too; when neither can be used, both are named.
    def refuse(arrays, state):
        raise PopgamesError("shapes disagree")

    with pytest.raises(RunFolderError, match="unusable checkpoint.*cannot be used either.*prev"):
        folder.restore(refuse)


def test_lock_is_exclusive_and_released(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with pytest.raises(RunFolderError, match="no run folder to resume"):
        with folder.locked(create=False):
            pass
    assert not folder.path.exists()
    with folder.locked():
        assert folder.lock_path.read_text().strip() == str(os.getpid())
        with pytest.raises(RunFolderError, match=rf"in use by another run \(pid {os.getpid()}\)"):
            with RunFolder(folder.path).locked():
                pass
    assert folder.lock_path.read_text() == ""
    with RunFolder(folder.path).locked(create=False):
        pass


def test_written_files_get_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        folder = _saved(tmp_path)
        folder.save_checkpoint({"meta_game": np.zeros((2, 1, 1))}, {"history": []})
    finally:
        os.umask(old)
    for path in (folder.config_path, folder.checkpoint_path, folder.previous_path):
        assert path.stat().st_mode & 0o777 == 0o644, path
