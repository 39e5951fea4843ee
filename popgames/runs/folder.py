"""Run folders: ``config.toml``, ``metrics.jsonl``, atomically written checkpoints, one lock.

Layout (ARCHITECTURE.md, "Runs")::

    RUN/.lock                             locked (flock) by the one process using the folder
    RUN/config.toml                       everything needed to repeat the run
    RUN/metrics.jsonl                     one JSON object per iteration
    RUN/checkpoint/state.safetensors      arrays + JSON state in the safetensors metadata
    RUN/checkpoint/state.prev.safetensors the checkpoint before it

Every file is written to a temporary sibling, flushed to disk and renamed over the
old one, so a SIGKILL at any moment leaves either the previous or the next version,
never a torn one; temporaries a kill leaves behind are removed when the folder is next
locked. The checkpoint carries the full metrics history, so on resume ``metrics.jsonl``
is rewritten from it and matches the uninterrupted run line for line.

A checkpoint's metadata holds the sha256 of its tensors and state (checked on load), and
the checkpoint it replaces is kept as ``state.prev.safetensors``: a damaged latest one
(a flipped bit on disk, a truncated copy) falls back to the previous one, which resumes
to the same metrics, one iteration earlier. Checkpoints written before the digest
existed load unchecked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, TypeVar

import numpy as np
import tomli_w
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from popgames.core.errors import PopgamesError
from popgames.runs.files import (TEMPORARY, RunFolderError, atomic_write, checkpoint_digest,
                                  os_error, temporary_name)

CHECKPOINT_FORMAT = "popgames-checkpoint-v1"  # the digest is an optional key: v1 readers ignore it

T = TypeVar("T")


@dataclass(frozen=True)
class Restored(Generic[T]):
    """What :meth:`RunFolder.restore` rebuilt, from which file, and why the latest checkpoint
    was passed over (``None`` when it was used)."""

    value: T
    path: Path
    passed_over: str | None = None


class RunFolder:
    """The files of one run. Nothing here decides *what* to run; loops and CLIs do."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = self.path / ".lock"
        self.config_path = self.path / "config.toml"
        self.metrics_path = self.path / "metrics.jsonl"
        self.checkpoint_path = self.path / "checkpoint" / "state.safetensors"
        self.previous_path = self.path / "checkpoint" / "state.prev.safetensors"
        self.damaged_path = self.path / "checkpoint" / "state.damaged.safetensors"

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file() or self.previous_path.is_file()

    @contextlib.contextmanager
    def locked(self, create: bool = True) -> Iterator[None]:
        """Hold the folder for a whole run; a second process is refused, not kept waiting.

        ``flock`` on ``RUN/.lock`` (the kernel releases it when the process dies, so a
        killed run resumes at once); the file holds the holder's pid for the refusal and
        is emptied on release. Once the lock is held no other writer exists, so stale
        temporaries of cut-short writes are removed. ``create``: make a missing folder (a
        fresh run); otherwise a missing folder is an error and nothing is created.
        """
        if not self.path.is_dir():
            if not create:
                raise RunFolderError(f"{self.path}: no run folder to resume")
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise os_error(self.path, exc, "cannot be created") from None
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise os_error(self.lock_path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                by = f" (pid {holder})" if holder.isdigit() else ""
                raise RunFolderError(f"{self.path}: in use by another run{by}; wait for it to end "
                                     "or choose another --out") from None
            except OSError as exc:  # e.g. a file system without locks
                raise os_error(self.lock_path, exc, "cannot be locked") from None
            try:
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                except OSError as exc:
                    raise os_error(self.lock_path, exc) from None
                self._remove_temporaries()
                yield
            finally:
                with contextlib.suppress(OSError):  # an empty lock file: nobody holds it
                    os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the lock

    def _remove_temporaries(self) -> None:
        for folder in (self.path, self.checkpoint_path.parent):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if TEMPORARY.fullmatch(entry.name) and entry.is_file():
                    try:
                        entry.unlink()
                    except OSError as exc:
                        raise os_error(entry, exc, "stale temporary file cannot be removed") from None

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
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RunFolderError(f"{self.config_path}: cannot be read ({exc})") from None

    def write_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl`` from the full history (atomic)."""
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        atomic_write(self.metrics_path, lines.encode())

    def save_checkpoint(self, arrays: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        """Write the checkpoint (with its digest); the one it replaces becomes the previous one."""
        tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        text = json.dumps(state, sort_keys=True)
        meta = {"format": CHECKPOINT_FORMAT, "state": text, "sha256": checkpoint_digest(tensors, text)}
        data = st_save(tensors, metadata=meta)
        self._keep_previous()
        atomic_write(self.checkpoint_path, data)

    def _keep_previous(self) -> None:
        """Make the current checkpoint the previous one, atomically, leaving it in place until
        its successor is renamed over it: a hard link under a temporary name, renamed over
        ``state.prev.safetensors`` (a copy where the file system has no hard links)."""
        if not self.checkpoint_path.is_file():
            return
        while True:
            tmp = temporary_name(self.previous_path)
            try:
                os.link(self.checkpoint_path, tmp)
                break
            except FileExistsError:
                continue
            except OSError:
                try:
                    data = self.checkpoint_path.read_bytes()
                except OSError as exc:
                    raise os_error(self.checkpoint_path, exc, "cannot be read") from None
                atomic_write(self.previous_path, data)
                return
        try:
            os.replace(tmp, self.previous_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise os_error(self.previous_path, exc) from None

    def load_checkpoint(self, path: Path | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Read a checkpoint (default: the latest); a missing, truncated, damaged (digest
        mismatch) or foreign one is a clear error."""
        where = Path(path) if path is not None else self.checkpoint_path
        if not where.is_file():
            raise RunFolderError(f"{where}: no checkpoint to resume from")
        try:
            raw = where.read_bytes()
        except OSError as exc:
            raise os_error(where, exc, "cannot be read") from None
        try:
            arrays = st_load(raw)
            header_len = int.from_bytes(raw[:8], "little")
            meta = json.loads(raw[8:8 + header_len]).get("__metadata__") or {}
        except (SafetensorError, ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise RunFolderError(f"{where}: corrupt or truncated checkpoint ({exc})") from None
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise RunFolderError(f"{where}: not a popgames checkpoint (format "
                                 f"{meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
        if "state" not in meta:
            raise RunFolderError(f"{where}: checkpoint state unreadable (no 'state' in its metadata)")
        recorded = meta.get("sha256")
        if recorded is not None and recorded != checkpoint_digest(arrays, meta["state"]):
            raise RunFolderError(f"{where}: damaged checkpoint (its contents do not match the "
                                 "sha256 recorded in it)")
        try:
            state = json.loads(meta["state"])
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{where}: checkpoint state unreadable ({exc})") from None
        if not isinstance(state, dict):
            raise RunFolderError(f"{where}: checkpoint state unreadable (not a JSON object)")
        return arrays, state

    def restore(self, build: Callable[[dict[str, np.ndarray], dict[str, Any]], T]) -> Restored[T]:
        """Rebuild the run's state from its newest usable checkpoint; writes nothing.

        ``build(arrays, state)`` turns a checkpoint into the caller's state and raises a
        :class:`PopgamesError` for one that does not fit (shapes that disagree with the
        history, another run's). The latest checkpoint is tried first; when it is missing,
        damaged or does not build, the previous one is, and ``passed_over`` says why.
        """
        try:
            return Restored(self._build(self.checkpoint_path, build), self.checkpoint_path)
        except RunFolderError as exc:
            latest = exc
        if not self.previous_path.is_file():
            raise latest
        try:
            value = self._build(self.previous_path, build)
        except RunFolderError as exc:
            raise RunFolderError(f"{latest}; the previous checkpoint cannot be used either ({exc})") from None
        return Restored(value, self.previous_path, str(latest))

    def _build(self, path: Path, build: Callable[[dict[str, np.ndarray], dict[str, Any]], T]) -> T:
        arrays, state = self.load_checkpoint(path)
        try:
            return build(arrays, state)
        except RunFolderError:
            raise
        except PopgamesError as exc:
            raise RunFolderError(f"{path}: unusable checkpoint ({exc})") from None

    def adopt(self, restored: Restored[Any]) -> bool:
        """Commit to resuming from ``restored``. After a fallback the passed-over latest
        checkpoint is set aside as ``state.damaged.safetensors`` (kept, not deleted), so the
        next save does not rotate it over the good previous one; returns whether it was."""
        if restored.path == self.checkpoint_path or not self.checkpoint_path.exists():
            return False
        try:
            os.replace(self.checkpoint_path, self.damaged_path)
        except OSError as exc:
            raise os_error(self.checkpoint_path, exc, "cannot be set aside") from None
        return True


def _toml_safe(value: Any) -> Any:
    """TOML has no null: drop ``None`` entries recursively."""
    if isinstance(value, Mapping):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_safe(v) for v in value]
    return value
