"""FXP run reports: ``report.md`` with PNG plots, rebuilt from a run folder's files alone.

Written by ``python -m popgames.fxp`` at the end of a run and by
``python -m popgames.report RUN_DIR`` for a folder whose ``config.toml`` says
``algorithm = "fxp"``. Shows the NashConv of the current mains where the learner
computes it, the counter meta-strategies, and for learners that describe the game
(``ppo`` on markov games) the mains' game metrics by iteration -- self-play return,
split efficiency and the like, play against the reference policies -- and what the
PPO runs cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3e}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}"


def _game_keys(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The ``game`` metrics present in every record: returns-like and per-episode ones."""
    games = [r.get("game") for r in records]
    if not all(games):
        return [], []
    keys = [k for k in games[-1] if not k.endswith("_se") and all(k in g for g in games)]
    refs = [k[3:] for k in keys if k.startswith("vs_")]
    returns = [k for k in ["self_play_return"] + [x for r in refs for x in (f"vs_{r}", f"{r}_extracts")]
               if k in keys]
    return returns, [k for k in keys if k not in returns]


def _plots(records: list[dict[str, Any]], run_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from popgames.analysis.report import player_weights, plot_weight_stack

    made = []
    its = np.array([r["iteration"] for r in records])
    expl = [(r["iteration"], r["wall_time"], r["exploitability"]) for r in records
            if r.get("exploitability") is not None]
    if expl:
        x_its, wall, values = zip(*expl)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
        for ax, x, label in ((axes[0], x_its, "iteration"), (axes[1], wall, "wall-clock time (s)")):
            ax.semilogy(x, np.maximum(values, 1e-16), marker="o", ms=3)
            ax.set_xlabel(label)
            ax.set_ylabel("NashConv")
            ax.grid(True, which="both", alpha=0.3)
        fig.suptitle("NashConv of the current main policies in the full game")
        fig.savefig(run_dir / "exploitability.png", dpi=120)
        plt.close(fig)
        made.append("exploitability.png")
    weights = [player_weights(r) for r in records]
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), squeeze=False, constrained_layout=True)
    for p in range(2):
        ax = axes[0, p]
        plot_weight_stack(ax, np.asarray(its), weights, p)
        ax.set_title(f"counters of seat {p}")
    axes[0, 0].set_ylabel("meta-strategy weight")
    fig.suptitle("Meta-strategy over the counter population (colour: counter index, dark = oldest)")
    fig.savefig(run_dir / "meta_strategy.png", dpi=120)
    plt.close(fig)
    made.append("meta_strategy.png")
    returns, episode = _game_keys(records)
    panels = ([(returns, "returns (mean per seat)")] if returns else []) + [([k], k) for k in episode]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 1.6, 3.4), squeeze=False,
                                 constrained_layout=True)
        for ax, (keys, title) in zip(axes[0], panels):
            for key in keys:
                ax.plot(its, [r["game"][key] for r in records], marker="o", ms=3, label=key)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("iteration")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(True, alpha=0.3)
            if len(keys) > 1:
                ax.legend(fontsize=7)
        fig.suptitle("The current main policies in the game (self-play and against references)")
        fig.savefig(run_dir / "game_metrics.png", dpi=120)
        plt.close(fig)
        made.append("game_metrics.png")
    return made


def _game_section(records: list[dict[str, Any]]) -> list[str]:
    returns, episode = _game_keys(records)
    keys = returns + episode
    if not keys:
        return []
    last = records[-1]["game"]
    lines = ["", "## The main policies in the game", "",
             "Metrics of the current mains at the start of each iteration, by simulation: "
             "`self_play_return` is main against main; `vs_R` is the main's return with the other "
             "seat played by reference policy R (mean over seats) and `R_extracts` what R earns "
             "doing so; the rest are the game's per-episode metrics in main-vs-main play "
             "(± one standard error where known).", "",
             "| metric | final value |", "|---|---|"]
    for k in keys:
        se = last.get(f"{k}_se")
        lines.append(f"| {k} | {_fmt(last[k])}{f' ± {_fmt(se)}' if se is not None else ''} |")
    lines += ["", "| iteration | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    step = max(1, len(records) // 25)
    for r in records[::step] + ([records[-1]] if (len(records) - 1) % step else []):
        lines.append(f"| {r['iteration']} | " + " | ".join(_fmt(r["game"][k]) for k in keys) + " |")
    stats = [s for r in records for s in r.get("oracle") or []]
    if stats:
        steps = sum(s["env_steps"] for s in stats)
        seconds = sum(s["train_seconds"] for s in stats)
        lines += ["", f"PPO: {len(stats)} trainings (mains and counters), {steps:,} env steps in "
                  f"{seconds:.1f} s of training ({steps / max(seconds, 1e-9):,.0f} env steps/s "
                  "including learning)."]
    return lines


def write_fxp_report(run_dir: str | Path) -> Path:
    """Write ``report.md`` and its plots for an FXP run folder, from its files alone."""
    from popgames.analysis.report import read_run

    run_dir = Path(run_dir)
    config, records = read_run(run_dir)
    plots = _plots(records, run_dir)
    last = records[-1]
    scored = [r for r in records if r.get("exploitability") is not None]
    best = min(scored, key=lambda r: r["exploitability"]) if scored else None
    lines = [
        f"# FXP run: {config.get('game_name', '?')} with learner `{config.get('learner')}`", "",
        f"Game card `{config.get('game')}` (sha256 {config.get('card_sha256')}), seed {config.get('seed')}, "
        f"{len(records)} iterations, {last['wall_time']:.2f} s wall-clock, device "
        f"{config.get('device', 'cpu')}, popgames {config.get('popgames_version')}. Loop options "
        f"`{config.get('loop_options', {})}`, learner options `{config.get('learner_options', {})}`, "
        f"meta-solver `{config.get('meta_solver')}`.", "",
    ]
    if not scored:
        lines += ["The learner computes no exact best response, so the mains' NashConv is not "
                  "reported (n/a below); see the game metrics instead.", ""]
    lines += [
        "| | value |", "|---|---|",
        f"| final NashConv of the main | {_fmt(last.get('exploitability'))} |",
        f"| best NashConv (iteration) | {_fmt(best and best['exploitability'])} "
        f"({best['iteration'] if best else '-'}) |",
        f"| main vs main payoffs | {', '.join(_fmt(v) for v in last['main_payoffs'])} |",
        f"| main versions / counters per seat | {last['main_versions']} / {last['population_size']} |",
        f"| meta-solve gap (backend) | {_fmt(last['meta_gap'])} ({last['meta_solver']}) |",
    ]
    if "main_p1" in last:
        lines.append(f"| final main, P(play 1) per agent | "
                     f"{'; '.join(', '.join(f'{p:.4f}' for p in team) for team in last['main_p1'])} |")
    lines += [""] + [f"![{name[:-4]}]({name})" for name in plots]
    lines += _game_section(records)
    lines += ["", "## By iteration", "",
              "| iteration | NashConv | per seat | counters | main payoffs | wall-clock (s) |",
              "|---|---|---|---|---|---|"]
    step = max(1, len(records) // 25)
    for r in records[::step] + ([last] if (len(records) - 1) % step else []):
        gains = ", ".join(_fmt(g) for g in r["per_player"]) if r.get("per_player") else "n/a"
        lines.append(f"| {r['iteration']} | {_fmt(r.get('exploitability'))} | {gains} | "
                     f"{r['population_size']} | {', '.join(_fmt(v) for v in r['main_payoffs'])} | "
                     f"{r['wall_time']:.2f} |")
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
