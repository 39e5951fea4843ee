"""What a report reads from a run folder, read once: config, metrics, checkpoint, game facts.

Data only: rebuilding a report never loads the game its ``config.toml`` names (a Markov
card's ``rules.py`` is code). What only the game knows comes from the folder's
``game_facts.json`` (:mod:`popgames.runs.facts`).
"""

from __future__ import annotations

import json
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from popgames.core.errors import PopgamesError
from popgames.runs.facts import read_game_facts
from popgames.runs.folder import RunFolder

#: Table rows of a by-iteration table: about this many, the last iteration always shown.
TABLE_ROWS = 25


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's config and metrics records; a missing or unreadable file is a clear error."""
    try:
        config = tomllib.loads((run_dir / "config.toml").read_text())
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise PopgamesError(f"{run_dir}: not a readable run folder ({exc})") from None
    if not records:
        raise PopgamesError(f"{run_dir}: metrics.jsonl has no iterations yet")
    return config, records


def _checkpoint(run_dir: Path) -> dict[str, np.ndarray] | None:
    """The checkpoint's arrays, or ``None`` if there is none or it cannot be read."""
    try:
        return RunFolder(run_dir).load_checkpoint()[0]
    except PopgamesError:
        return None


def final_of(arrays: dict[str, np.ndarray] | None) -> tuple[np.ndarray | None, list[np.ndarray] | None]:
    """A checkpoint's meta-game and populations (``None`` for what it lacks)."""
    if arrays is None:
        return None, None
    pops, i = [], 0
    while f"population_{i}" in arrays:
        pops.append(arrays[f"population_{i}"])
        i += 1
    return arrays.get("meta_game"), pops or None


def read_final(run_dir: Path) -> tuple[np.ndarray | None, list[np.ndarray] | None]:
    """The checkpoint's meta-game and populations, or ``(None, None)`` if it cannot be read."""
    return final_of(_checkpoint(Path(run_dir)))


class Run:
    """A run folder as its report sees it. The config and metrics are read (and checked) at
    once; the checkpoint and the game facts on first use, once."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.config, self.records = read_run(self.dir)
        self.last = self.records[-1]

    @cached_property
    def arrays(self) -> dict[str, np.ndarray] | None:
        return _checkpoint(self.dir)

    @cached_property
    def facts(self) -> dict[str, Any]:
        return read_game_facts(self.dir)

    @property
    def meta(self) -> np.ndarray | None:
        """The final meta-game from the checkpoint (``None`` without one)."""
        return final_of(self.arrays)[0]

    @property
    def populations(self) -> list[np.ndarray] | None:
        return final_of(self.arrays)[1]

    def stored_names(self, players: int) -> list[list[str]] | None:
        """Policy names stored in the checkpoint as ``population_<i>.<k>.name`` byte arrays."""
        if self.arrays is None:
            return None
        out = []
        for i in range(players):
            names, k = [], 0
            while f"population_{i}.{k}.name" in self.arrays:
                names.append(bytes(self.arrays[f"population_{i}.{k}.name"].astype(np.uint8)).decode())
                k += 1
            out.append(names)
        return out if all(out) else None

    def write(self, sections: list[Callable[[Run], list[str]]]) -> Path:
        """Write ``report.md`` from ``sections`` (each: run -> markdown lines; sections draw
        their own figures); returns its path."""
        lines = [line for section in sections for line in section(self)]
        path = self.dir / "report.md"
        path.write_text("\n".join(lines) + "\n")
        return path


def fmt(x: float | None) -> str:
    """A number for a table: 4 decimals, scientific when small, ``n/a`` for ``None``."""
    if x is None:
        return "n/a"
    return f"{x:.3e}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}"


def table_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """About :data:`TABLE_ROWS` evenly spaced records for a by-iteration table, the last included."""
    step = max(1, len(records) // TABLE_ROWS)
    return records[::step] + ([records[-1]] if (len(records) - 1) % step else [])
