"""The sections of a mean-field (or graphon) run's report.

Exploitability by iteration (``exploitability.png``), the final policy's distribution flow
``mu_t(x)`` as a heatmap over time (``distribution.png``; one panel per population;
graphons: the mean over the agent grid), the final policy (``policy.png``: the
probability of action 1, or the most likely action), for graphons each agent's
exploitability along the grid (``per_agent.png``; populations: a table), the equilibrium
beside the social optimum (``social.json``), the N-agent check (``n_agent.json``) and the
by-iteration table. Everything comes from ``metrics.jsonl`` and the checkpoint's
``policy`` and ``mu`` arrays.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from popgames.analysis.reports.plotting import figure, plot_exploitability, save, title
from popgames.analysis.reports.run_data import Run, fmt, table_records

ALGORITHM_NAMES = {"fp": "fictitious play", "omd": "online mirror descent",
                   "fixed_point": "fixed-point iteration (Boltzmann)", "prior_descent": "prior descent"}


def is_mean_field(run: Run) -> bool:
    return run.last.get("exploitability_kind") == "mean_field_exploitability"


def overview_section(run: Run) -> list[str]:
    config, last = run.config, run.last
    best = min(run.records, key=lambda r: r["exploitability"])
    algorithm = config.get("algorithm", "?")
    options = ", ".join(f"{k}={v}" for k, v in sorted(config.get("options", {}).items())) or "defaults"
    facts = run.facts
    shape = ", ".join(f"{k} {facts[k]}" for k in ("n_states", "n_actions", "horizon", "agents", "graphon")
                      if k in facts)
    return [f"# {config.get('game_name', '?')}: {ALGORITHM_NAMES.get(algorithm, algorithm)}", "",
            "| | |", "|---|---|",
            f"| game | `{config.get('game_name')}` (card `{config.get('game')}`, sha256 "
            f"`{config.get('card_sha256')}`){'; ' + shape if shape else ''} |",
            f"| algorithm | `{algorithm}` ({options}) |",
            f"| iterations | {len(run.records)} (planned {config.get('iterations')}) |",
            f"| final exploitability (iteration {last['iteration']}) | {fmt(last['exploitability'])} |",
            f"| best exploitability (iteration) | {fmt(best['exploitability'])} ({best['iteration']}) |",
            f"| value J(pi, mu^pi) / best response's | {fmt(last['value'])} / {fmt(last['best_value'])} |",
            f"| wall-clock | {last['wall_time']:.2f} s |", ""]


def _axis(run: Run) -> str:
    """What the leading agent axis of the arrays is: ``""`` (none), ``"population"`` or ``"alpha"``."""
    return "alpha" if "agents" in run.facts else "population" if "populations" in run.facts else ""


def figure_section(run: Run) -> list[str]:
    plot_exploitability(run.dir / "exploitability.png",
                        [(r["iteration"], r["wall_time"], r["exploitability"]) for r in run.records],
                        "exploitability", "max J(pi', mu^pi) - J(pi, mu^pi) of the policy")
    lines = ["![exploitability against iteration and wall-clock time](exploitability.png)", ""]
    axis = _axis(run)
    arrays = run.arrays or {}
    if arrays.get("mu") is not None:
        _plot_distribution(np.asarray(arrays["mu"]), axis, run.dir / "distribution.png")
        lines += ["![the final policy's distribution over states in time](distribution.png)", ""]
    if arrays.get("policy") is not None:
        lines += _plot_policy(np.asarray(arrays["policy"]), axis, run.dir / "policy.png")
    if "per_agent" in run.last and axis == "alpha":
        _plot_per_agent(np.asarray(run.last["per_agent"]), run.dir / "per_agent.png")
        lines += ["![each agent's exploitability along the graphon grid](per_agent.png)", ""]
    elif "per_agent" in run.last:
        lines += ["| population | exploitability (final iteration) |", "|---|---|"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in enumerate(run.last["per_agent"])] + [""]
    return lines


def _panels(array: np.ndarray, axis: str) -> list[tuple[str, np.ndarray]]:
    """``[T', X]`` panels to draw from ``array`` (``[..., T', X]``): one per population; a
    graphon grid's mean over the agents; the array itself for one population."""
    if axis == "population":
        return [(f"population {k}", a) for k, a in enumerate(array)]
    return [("mean over agents alpha", array.mean(axis=0))] if axis == "alpha" else [("", array)]


def _heatmaps(panels: list[tuple[str, np.ndarray]], heading: str, path: Any, rows: str = "state x",
              **style: Any) -> None:
    """One heatmap per ``(label, data [T', rows])`` panel, time along x, side by side."""
    fig, axes = figure(4.2 * len(panels) + 2.8, 3.8, len(panels), heading, right=1.2)
    for ax, (label, data) in zip(axes, panels):
        extent = None if rows == "state x" else (-0.5, data.shape[0] - 0.5, 0.0, 1.0)
        image = ax.imshow(data.T, aspect="auto", origin="lower", extent=extent, **style)
        title(ax, label)
        ax.set_xlabel("time t")
        ax.set_ylabel(rows)
        if rows == "state x" and data.shape[1] <= 20:
            ax.set_yticks(range(data.shape[1]))
    fig.colorbar(image, ax=list(axes), fraction=0.05)
    save(fig, path)


def _plot_distribution(mu: np.ndarray, axis: str, path: Any) -> None:
    _heatmaps(_panels(mu, axis), "distribution mu_t(x) of the final policy", path, cmap="viridis")


def _plot_policy(policy: np.ndarray, axis: str, path: Any) -> list[str]:
    """The final policy as a heatmap over time and state: the probability of action 1 where
    there are two actions (precaution, investment), else the most likely action."""
    if policy.shape[-1] == 2:
        shown, what, style = policy[..., 1], "probability of action 1", {"cmap": "magma", "vmin": 0, "vmax": 1}
        if axis == "alpha" and policy.shape[-2] <= 4:   # per state: agents alpha against time
            _heatmaps([(f"state {x}", shown[:, :, x].T) for x in range(shown.shape[-1])],
                      f"final policy: {what}", path, rows="agent alpha", **style)
            return ["![the final policy over time and the agents, state by state](policy.png)", ""]
    else:
        shown = policy.argmax(axis=-1).astype(np.float64)
        what, style = "most likely action", {"cmap": "tab10", "vmin": -0.5, "vmax": 9.5}
        if axis == "alpha":   # a mean of action indices means nothing: the middle agent's
            shown, axis = shown[len(shown) // 2], ""
            what += f" (agent alpha = {len(policy) // 2 / max(len(policy) - 1, 1):.2f})"
    _heatmaps(_panels(shown, axis), f"final policy: {what}", path, **style)
    return ["![the final policy over time and state](policy.png)", ""]


def _plot_per_agent(per_agent: np.ndarray, path: Any) -> None:
    fig, (ax,) = figure(7, 3.2, 1, None)
    ax.plot(np.linspace(0.0, 1.0, len(per_agent)), per_agent)
    title(ax, "exploitability of each agent alpha (final iteration)")
    ax.set_xlabel("alpha")
    ax.set_ylabel("exploitability")
    ax.grid(True, alpha=0.3)
    save(fig, path)


def by_iteration_section(run: Run) -> list[str]:
    lines = ["", "## Exploitability by iteration", "",
             "| iteration | exploitability | value | best response's value | wall-clock (s) |",
             "|---|---|---|---|---|"]
    for r in table_records(run.records):
        lines.append(f"| {r['iteration']} | {fmt(r['exploitability'])} | {fmt(r['value'])} | "
                     f"{fmt(r['best_value'])} | {r['wall_time']:.2f} |")
    return lines


def n_agent_section(run: Run) -> list[str]:
    """The N-agent check of the final policy (``n_agent.json``, written after the run)."""
    path = run.dir / "n_agent.json"
    if not path.is_file():
        return []
    try:
        checks = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    lines = ["", "## N-agent check", "",
             "N agents play the final policy (graphons: agent i at alpha = i/N on a graph drawn from "
             "W every episode); J_i^N is each agent's mean return, J_alpha its mean-field value.", "",
             "| N | episodes | max_i abs(J_i^N - J_alpha) [simultaneous 95% interval] | mean gap (95%) |",
             "|---|---|---|---|"]
    for c in checks:
        low, high = c["interval"]
        lines.append(f"| {c['n']} | {c['episodes']} | {fmt(c['max_gap'])} [{fmt(low)}, {fmt(high)}] | "
                     f"{fmt(c['mean_gap'])} ± {fmt(c['mean_gap_error'])} |")
    return lines


def social_section(run: Run) -> list[str]:
    """The final policy beside the social optimum (``social.json``): the price of anarchy."""
    path = run.dir / "social.json"
    try:
        social = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        social = None
    if not isinstance(social, dict):
        return []
    lines = ["", "## Equilibrium and social optimum", "",
             "The social optimum maximises the population's average return with the distribution "
             "it induces (mean-field control, L-BFGS on the exact gradient); the run's final policy "
             "stands for the equilibrium.", "",
             "| | final policy (equilibrium) | social optimum |", "|---|---|---|",
             f"| average return | {fmt(social['nash_value'])} | {fmt(social['social_value'])} |",
             f"| share of non-default actions (e.g. precaution) | {fmt(social['nash_action_rate'])} | "
             f"{fmt(social['social_action_rate'])} |",
             "", f"Welfare lost to selfish play: {fmt(social['welfare_loss'])}; price of anarchy "
             f"{fmt(social['price_of_anarchy'])}."]
    if len(social.get("nash_per_agent", [])) > 1 and _axis(run) == "population":
        lines += ["", "| population | equilibrium return | social optimum's return |", "|---|---|---|"]
        lines += [f"| {k} | {fmt(a)} | {fmt(b)} |"
                  for k, (a, b) in enumerate(zip(social["nash_per_agent"], social["social_per_agent"]))]
    elif len(social.get("nash_per_agent", [])) > 1:
        _plot_social(np.asarray(social["nash_per_agent"]), np.asarray(social["social_per_agent"]),
                     run.dir / "social.png")
        lines += ["", "![each agent's return, equilibrium and social optimum](social.png)"]
    return lines


def _plot_social(nash: np.ndarray, social: np.ndarray, path: Any) -> None:
    fig, (ax,) = figure(7, 3.2, 1, None)
    alpha = np.linspace(0.0, 1.0, len(nash))
    ax.plot(alpha, nash, label="equilibrium (final policy)")
    ax.plot(alpha, social, label="social optimum")
    title(ax, "each agent's return J_alpha")
    ax.set_xlabel("alpha")
    ax.legend()
    ax.grid(True, alpha=0.3)
    save(fig, path)


SECTIONS = [overview_section, figure_section, social_section, n_agent_section, by_iteration_section]
