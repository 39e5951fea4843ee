"""Run folders: atomic checkpoints, refusal to overwrite, clear errors for bad checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from popgames.run_folder import RunFolder, RunFolderError


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
