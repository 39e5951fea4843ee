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

from popgames.analysis.reports.plotting import figure, plot_exploitability, plot_weights, save, title
from popgames.analysis.reports.population import player_weights
from popgames.analysis.reports.run_data import Run, fmt, table_records


def is_fxp(run: Run) -> bool:
    """Whether the run is FXP's: its config says so, or its records count main versions."""
    return run.config.get("algorithm") == "fxp" or "main_versions" in run.last


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


def _plot_game(records: list[dict[str, Any]], path: Path) -> bool:
    """``game_metrics.png``: one panel for the returns, one per per-episode metric."""
    returns, episode = _game_keys(records)
    panels = ([(returns, "returns (mean per seat)")] if returns else []) + [([k], k) for k in episode]
    if not panels:
        return False
    its = [r["iteration"] for r in records]
    fig, axes = figure(3.4 * len(panels) + 1.6, 3.4, len(panels),
                       "The current main policies in the game (self-play and against references)",
                       gap=0.7)
    for ax, (keys, heading) in zip(axes, panels):
        for key in keys:
            ax.plot(its, [r["game"][key] for r in records], marker="o", ms=3, label=key)
        title(ax, heading, fontsize=9)
        ax.set_xlabel("iteration")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    save(fig, path)
    return True


def _figures(run: Run) -> list[str]:
    """Draw the run's figures; returns their file names."""
    records, made = run.records, []
    expl = [(r["iteration"], r["wall_time"], r["exploitability"]) for r in records
            if r.get("exploitability") is not None]
    if expl:
        plot_exploitability(run.dir / "exploitability.png", expl, "NashConv",
                            "NashConv of the current main policies in the full game")
        made.append("exploitability.png")
    plot_weights(run.dir / "meta_strategy.png", np.array([r["iteration"] for r in records]),
                 [player_weights(r) for r in records], 2, "counters of seat {p}",
                 "Meta-strategy over the counter population (colour: counter index, dark = oldest)")
    made.append("meta_strategy.png")
    if _plot_game(records, run.dir / "game_metrics.png"):
        made.append("game_metrics.png")
    return made


def game_section(run: Run) -> list[str]:
    records = run.records
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
        lines.append(f"| {k} | {fmt(last[k])}{f' ± {fmt(se)}' if se is not None else ''} |")
    lines += ["", "| iteration | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in table_records(records):
        lines.append(f"| {r['iteration']} | " + " | ".join(fmt(r["game"][k]) for k in keys) + " |")
    stats = [s for r in records for s in r.get("oracle") or []]
    if stats:
        steps = sum(s["env_steps"] for s in stats)
        seconds = sum(s["train_seconds"] for s in stats)
        lines += ["", f"PPO: {len(stats)} trainings (mains and counters), {steps:,} env steps in "
                  f"{seconds:.1f} s of training ({steps / max(seconds, 1e-9):,.0f} env steps/s "
                  "including learning)."]
    return lines


def overview_section(run: Run) -> list[str]:
    """Title, run summary, result table and the figures."""
    config, records, last = run.config, run.records, run.last
    plots = _figures(run)
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
        f"| final NashConv of the main | {fmt(last.get('exploitability'))} |",
        f"| best NashConv (iteration) | {fmt(best and best['exploitability'])} "
        f"({best['iteration'] if best else '-'}) |",
        f"| main vs main payoffs | {', '.join(fmt(v) for v in last['main_payoffs'])} |",
        f"| main versions / counters per seat | {last['main_versions']} / {last['population_size']} |",
        f"| meta-solve gap (backend) | {fmt(last['meta_gap'])} ({last['meta_solver']}) |",
    ]
    if "main_p1" in last:
        lines.append(f"| final main, P(play 1) per agent | "
                     f"{'; '.join(', '.join(f'{p:.4f}' for p in team) for team in last['main_p1'])} |")
    return lines + [""] + [f"![{name[:-4]}]({name})" for name in plots]


def by_iteration_section(run: Run) -> list[str]:
    lines = ["", "## By iteration", "",
             "| iteration | NashConv | per seat | counters | main payoffs | wall-clock (s) |",
             "|---|---|---|---|---|---|"]
    for r in table_records(run.records):
        gains = ", ".join(fmt(g) for g in r["per_player"]) if r.get("per_player") else "n/a"
        lines.append(f"| {r['iteration']} | {fmt(r.get('exploitability'))} | {gains} | "
                     f"{r['population_size']} | {', '.join(fmt(v) for v in r['main_payoffs'])} | "
                     f"{r['wall_time']:.2f} |")
    return lines


#: An FXP report, in order.
SECTIONS = [overview_section, game_section, by_iteration_section]


def write_fxp_report(run_dir: str | Path) -> Path:
    """Write ``report.md`` and its plots for an FXP run folder, from its files alone."""
    return Run(run_dir).write(SECTIONS)
