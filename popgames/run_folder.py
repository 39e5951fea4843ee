"""Run folders: ``config.toml``, ``metrics.jsonl`` and an atomically written checkpoint.

Layout (ARCHITECTURE.md, "Runs")::

    RUN/config.toml                  everything needed to repeat the run
    RUN/metrics.jsonl                one JSON object per iteration
    RUN/checkpoint/state.safetensors arrays + JSON state in the safetensors metadata

Every file is written to a temporary sibling, flushed to disk and renamed over the
old one, so a SIGKILL at any moment leaves either the previous or the next version,
never a torn one. The checkpoint carries the full metrics history, so on resume
``metrics.jsonl`` is rewritten from it and matches the uninterrupted run line for line.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import tomli_w
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from popgames.errors import PopgamesError

CHECKPOINT_FORMAT = "popgames-checkpoint-v1"


class RunFolderError(PopgamesError):
    """A run folder cannot be used as asked (existing run, corrupt or foreign checkpoint)."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class RunFolder:
    """The files of one run. Nothing here decides *what* to run; loops and CLIs do."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / "config.toml"
        self.metrics_path = self.path / "metrics.jsonl"
        self.checkpoint_path = self.path / "checkpoint" / "state.safetensors"

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def start(self, config: Mapping[str, Any]) -> None:
        """Begin a fresh run; refuses a folder that already holds one (nothing is overwritten)."""
        if self.has_checkpoint() or self.metrics_path.exists():
            raise RunFolderError(f"{self.path}: already holds a run; pass --resume to continue "
                                 "it, or choose another --out")
        self.write_config(config)

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write(self.config_path, tomli_w.dumps(_toml_safe(config)).encode())

    def read_config(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.config_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RunFolderError(f"{self.config_path}: cannot be read ({exc})") from None

    def write_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl`` from the full history (atomic)."""
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        atomic_write(self.metrics_path, lines.encode())

    def save_checkpoint(self, arrays: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        meta = {"format": CHECKPOINT_FORMAT, "state": json.dumps(state, sort_keys=True)}
        tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        atomic_write(self.checkpoint_path, st_save(tensors, metadata=meta))

    def load_checkpoint(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Read the checkpoint; a missing, truncated, corrupt or foreign one is a clear error."""
        where = self.checkpoint_path
        if not where.is_file():
            raise RunFolderError(f"{where}: no checkpoint to resume from")
        raw = where.read_bytes()
        try:
            arrays = st_load(raw)
            header_len = int.from_bytes(raw[:8], "little")
            meta = json.loads(raw[8:8 + header_len]).get("__metadata__") or {}
        except (SafetensorError, ValueError, UnicodeDecodeError) as exc:
            raise RunFolderError(f"{where}: corrupt or truncated checkpoint ({exc})") from None
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise RunFolderError(f"{where}: not a popgames checkpoint (format "
                                 f"{meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
        try:
            state = json.loads(meta["state"])
        except (KeyError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{where}: checkpoint state unreadable ({exc})") from None
        return arrays, state


def _toml_safe(value: Any) -> Any:
    """TOML has no null: drop ``None`` entries recursively."""
    if isinstance(value, Mapping):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_safe(v) for v in value]
    return value
