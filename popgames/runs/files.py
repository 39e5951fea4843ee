"""Files that are never torn: atomic writes, checkpoint digests, and the run folder's error.

Every file is written to a temporary sibling (``.<name>.<8 hex digits>``), flushed to
disk and renamed over the old one, so a SIGKILL at any moment leaves either the previous
or the next version; :class:`~popgames.runs.folder.RunFolder` removes the temporaries a
kill leaves behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Mapping

import numpy as np

from popgames.core.errors import PopgamesError

#: Files written by :func:`atomic_write`; ``.<name>.<8 chars>`` next to one is a temporary
#: (ours: 8 hex digits; before: ``tempfile.mkstemp``'s 8 of ``[a-z0-9_]``).
ATOMIC_FILES = ("config.toml", "metrics.jsonl", "game_facts.json", "state.safetensors",
                "state.prev.safetensors")
TEMPORARY = re.compile(r"\.(" + "|".join(map(re.escape, ATOMIC_FILES)) + r")\.[a-z0-9_]{8}")

class RunFolderError(PopgamesError):
    """A run folder cannot be used as asked (existing run, in use, unwritable, damaged or
    foreign checkpoint)."""


def os_error(path: Path, exc: OSError, doing: str = "cannot be written") -> RunFolderError:
    return RunFolderError(f"{path}: {doing} ({exc.strerror or exc})")


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix.

    The file gets the usual mode (``0o666`` less the umask); an OS refusal (read-only
    folder, full disk) is a :class:`RunFolderError` naming ``path``.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = temporary_name(path)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                break
            except FileExistsError:
                continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise os_error(path, exc) from None


def checkpoint_digest(arrays: Mapping[str, np.ndarray], state: str) -> str:
    """sha256 over every tensor (name, dtype, shape and bytes, in name order) and the JSON state."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    digest.update(state.encode())
    return digest.hexdigest()
