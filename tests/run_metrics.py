"""Shared by the kill-and-resume and backend tests of runs."""

from __future__ import annotations

import json
from pathlib import Path

#: Per-response fields of a record's ``oracle`` list that measure time, not results.
TIMING = ("train_seconds", "steps_per_second", "seconds")


def comparable_metrics(run: Path) -> list[dict]:
    """``metrics.jsonl`` of a run without its wall-clock and timing fields."""
    out = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.pop("wall_time")
        if "oracle" in record:   # exact oracles of matrix and OpenSpiel games report no costs
            record["oracle"] = [{k: v for k, v in s.items() if k not in TIMING} for s in record["oracle"]]
        out.append(record)
    return out
