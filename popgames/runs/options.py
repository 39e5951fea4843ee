"""What every command-line driver shares: one-line errors, ``KEY=VALUE`` options, seed checks,
the task backend flags and the resume steps common to every loop."""

from __future__ import annotations

import argparse
import hashlib
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from popgames.core.errors import GameCardError, PopgamesError
from popgames.core.parallel import BACKENDS, Backend, import_ray
from popgames.core.protocols import Game
from popgames.runs.folder import RunFolder, RunFolderError

T = TypeVar("T")

#: config.toml stores the seed as a TOML integer, a signed 64-bit one.
MAX_SEED = 2**63 - 1


def parse_option(text: str) -> tuple[str, Any]:
    """``"mean_weight=0.5"`` -> ``("mean_weight", 0.5)``; values are read as TOML, else kept as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PopgamesError(f"option '{text}': expected KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def card_digest(game: Game) -> str:
    """The first 16 hex digits of the sha256 of the game's card (``"unknown"`` for a built-in)."""
    return hashlib.sha256(Path(game.source).read_bytes()).hexdigest()[:16] if game.source else "unknown"


def check_seed(seed: Any, from_flag: bool, card: str, field: str) -> int:
    """The run's root seed, a non-negative integer (``numpy.random.SeedSequence`` takes no
    other); a bad one names ``--seed`` or the card's ``field``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        cause = "must be a non-negative integer (at most 2**63 - 1)"
        if from_flag:
            raise PopgamesError(f"--seed {seed}: {cause}")
        raise GameCardError(card, field, f"{cause}, got {seed!r}")
    return seed


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    """``--backend``, ``--address`` and ``--workers``: where the run's tasks (meta-game entries,
    PPO best responses, FXP trainings, N-agent checks) run. They change no number, so they are not part of the run's config."""
    p.add_argument("--backend", choices=BACKENDS, default="inline",
                   help="where expensive tasks run: inline (default: this process), loky (local "
                        "worker processes) or ray (a Ray cluster; pip install 'popgames[ray]')")
    p.add_argument("--address", metavar="ADDR",
                   help="with --backend ray: the cluster to join (e.g. HOST:6379); default: "
                        "start one here with --workers CPUs")
    p.add_argument("--workers", type=int, metavar="N",
                   help="with --backend loky or ray: tasks run at once (default: this machine's "
                        "CPUs, or the joined cluster's)")


def backend_of(args: argparse.Namespace) -> Backend:
    """The checked :class:`Backend` of the flags; a missing Ray is one line, before anything
    is written."""
    spec = Backend(args.backend, args.address, args.workers)
    if spec.name == "ray":
        import_ray()
    return spec


def check_same_options(out: Path, flag: str, given: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
    """On resume, an option given again must have the run's value: a different one is refused,
    naming the flag, the new and the saved value (never silently ignored)."""
    for key, value in given.items():
        if key not in saved:
            raise RunFolderError(f"{out}: {flag} {key}={value!r} differs from the run's, which does "
                                 f"not set {key}")
        if saved[key] != value or isinstance(saved[key], bool) != isinstance(value, bool):
            raise RunFolderError(f"{out}: {flag} {key}={value!r} differs from the run's "
                                 f"{key}={saved[key]!r}")


def resume_checkpoint(folder: RunFolder, build: Callable[[dict, dict], T], iterations: int | None,
                      done: Callable[[T], int]) -> T:
    """Restore a run's state for ``--resume`` (:meth:`RunFolder.restore`) and commit to it.

    ``--iterations`` fewer than those already done is refused before anything is written;
    a fallback to the previous checkpoint is said on stderr.
    """
    restored = folder.restore(build)
    finished = done(restored.value)
    if iterations is not None and iterations < finished:
        raise RunFolderError(f"{folder.path}: --iterations {iterations} is fewer than the {finished} "
                             "iterations already done")
    if restored.passed_over is not None:
        kept = folder.adopt(restored)
        warn(f"{restored.passed_over}; resuming from {restored.path} instead ({finished} iterations "
             "done)" + (f"; the passed-over file is kept as {folder.damaged_path}" if kept else ""))
    return restored.value


def warn(message: str) -> None:
    """One line on stderr that does not stop the run."""
    print(f"popgames: warning: {message}", file=sys.stderr)


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a CLI ``main``; a :class:`PopgamesError` becomes one line on stderr and exit code 2."""
    try:
        return main(argv)
    except PopgamesError as exc:
        print(f"popgames: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("popgames: interrupted", file=sys.stderr)
        return 130
