"""Run reports: ``report.md`` with PNG plots, rebuilt from a run folder's files alone.

``python -m popgames.report RUN_DIR`` (or :func:`write_report`) reads ``config.toml``
and ``metrics.jsonl`` and writes ``report.md``, ``exploitability.png`` (against
iteration and against wall-clock time) and ``meta_strategy.png`` (each player's
meta-strategy weights over the population as it grows).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from popgames.errors import PopgamesError  # noqa: E402
from popgames.payoff_tensor import joint_marginals  # noqa: E402

KIND_LABEL = {"nash_conv": "NashConv", "cce_gap": "CCE gap", "ce_gap": "CE gap"}


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


def player_weights(record: dict[str, Any]) -> list[np.ndarray]:
    """Per-player meta-strategy weights of a record (marginals of a joint meta-strategy)."""
    strategy = record["meta_strategy"]
    sizes = record["population_size"]
    if isinstance(strategy[0], list) and len(strategy) == len(sizes) and all(
            len(s) == k and not isinstance(s[0], list) for s, k in zip(strategy, sizes)):
        return [np.asarray(s) for s in strategy]
    return joint_marginals(np.asarray(strategy).reshape(sizes))


def _plot_exploitability(records: list[dict], label: str, path: Path) -> None:
    its = [r["iteration"] for r in records]
    wall = [r["wall_time"] for r in records]
    expl = np.maximum([r["exploitability"] for r in records], 1e-16)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for ax, x, xlabel in ((axes[0], its, "iteration"), (axes[1], wall, "wall-clock time (s)")):
        ax.semilogy(x, expl, marker="o", ms=3)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{label} of the meta-strategy in the full game")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_meta_strategy(records: list[dict], players: int, path: Path) -> None:
    fig, axes = plt.subplots(1, players, figsize=(4.2 * players, 3.6), squeeze=False,
                             constrained_layout=True)
    weights = [player_weights(r) for r in records]
    its = np.array([r["iteration"] for r in records])
    for p in range(players):
        size = max(len(w[p]) for w in weights)
        grid = np.zeros((size, len(records)))
        for t, w in enumerate(weights):
            grid[: len(w[p]), t] = w[p]
        ax = axes[0, p]
        ax.stackplot(its, grid, colors=plt.cm.viridis(np.linspace(0, 1, max(size, 2)))[:size])
        ax.set_title(f"player {p}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("meta-strategy weight" if p == 0 else "")
        ax.set_ylim(0, 1)
    fig.suptitle("Meta-strategy over the population (colour: policy index, dark = oldest)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(x: float) -> str:
    return f"{x:.3e}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}"


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.md`` and its plots into ``run_dir``; returns the report's path."""
    run_dir = Path(run_dir)
    config, records = read_run(run_dir)
    kind = KIND_LABEL.get(records[-1].get("exploitability_kind", "nash_conv"), "exploitability")
    players = len(records[-1]["population_size"])
    _plot_exploitability(records, kind, run_dir / "exploitability.png")
    _plot_meta_strategy(records, players, run_dir / "meta_strategy.png")
    last, best = records[-1], min(records, key=lambda r: r["exploitability"])
    lines = [
        f"# PSRO run: {config.get('game_name', '?')} with meta-solver `{config.get('meta_solver')}`",
        "",
        f"Game card `{config.get('game')}` (sha256 {config.get('card_sha256')}), seed {config.get('seed')}, "
        f"{len(records)} iterations, {last['wall_time']:.2f} s wall-clock, popgames "
        f"{config.get('popgames_version')}. Solver options: `{config.get('solver_options', {})}`.",
        "",
        "| | value |", "|---|---|",
        f"| final {kind} | {_fmt(last['exploitability'])} |",
        f"| best {kind} (iteration) | {_fmt(best['exploitability'])} ({best['iteration']}) |",
        f"| final per-player gain | {', '.join(_fmt(g) for g in last['per_player'])} |",
        f"| final population size | {last['population_size']} |",
        f"| final meta-game payoffs | {', '.join(_fmt(v) for v in last.get('meta_payoffs', []))} |",
        f"| meta-solve gap (backend) | {_fmt(last['meta_gap'])} ({last['meta_solver']}) |",
        "",
        f"![{kind} against iteration and wall-clock time](exploitability.png)",
        "",
        "![meta-strategy weights over iterations](meta_strategy.png)",
        "",
        f"## {kind} by iteration", "",
        "| iteration | " + kind + " | per player | population | wall-clock (s) |",
        "|---|---|---|---|---|",
    ]
    step = max(1, len(records) // 25)
    shown = records[::step] + ([last] if (len(records) - 1) % step else [])
    for r in shown:
        lines.append(f"| {r['iteration']} | {_fmt(r['exploitability'])} | "
                     f"{', '.join(_fmt(g) for g in r['per_player'])} | {r['population_size']} | "
                     f"{r['wall_time']:.2f} |")
    lines += ["", "## Final meta-strategy", ""]
    for p, w in enumerate(player_weights(last)):
        support = ", ".join(f"#{k}: {x:.4f}" for k, x in enumerate(w) if x > 1e-4)
        lines.append(f"- player {p}: {support}")
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
