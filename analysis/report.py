"""Run reports: ``report.md`` with PNG plots, rebuilt from a run folder's files alone.

``python -m popgames.report RUN_DIR`` (or :func:`write_report`) reads ``config.toml``,
``metrics.jsonl``, ``game_facts.json`` and, when present, the checkpoint (final
population and meta-game) -- data only, it never loads the game -- and writes ``report.md`` -- configuration table, final exploitability with each
player's regret, final meta-strategy with policy names, exploitability by iteration --
with three figures: ``exploitability.png`` (against iteration and wall-clock time),
``meta_strategy.png`` (each player's weights over the growing population) and
``meta_game.png`` (two players: each player's meta-game payoffs as a heatmap; more
players: each policy's payoff against the others' final meta-strategy).
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

from popgames.analysis.game_facts import read_game_facts  # noqa: E402
from popgames.errors import PopgamesError  # noqa: E402
from popgames.payoff_tensor import joint_marginals, outer  # noqa: E402
from popgames.run_folder import RunFolder  # noqa: E402

KIND_LABEL = {"nash_conv": "NashConv", "cce_gap": "CCE gap", "ce_gap": "CE gap",
              "approx_nash_conv": "NashConv (PPO estimate)", "approx_cce_gap": "CCE gap (PPO estimate)",
              "approx_ce_gap": "CE gap (PPO estimate)"}
SUPPORT = 1e-4   # meta-strategy weights below this are left out of tables


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


def read_final(run_dir: Path) -> tuple[np.ndarray | None, list[np.ndarray] | None]:
    """The checkpoint's meta-game and populations, or ``(None, None)`` if it cannot be read."""
    try:
        arrays, _ = RunFolder(run_dir).load_checkpoint()
    except PopgamesError:
        return None, None
    pops, i = [], 0
    while f"population_{i}" in arrays:
        pops.append(arrays[f"population_{i}"])
        i += 1
    return arrays.get("meta_game"), pops or None


def _stored_names(run_dir: Path, players: int) -> list[list[str]] | None:
    """Policy names stored in a checkpoint as ``population_<i>.<k>.name`` byte arrays."""
    try:
        arrays, _ = RunFolder(run_dir).load_checkpoint()
    except PopgamesError:
        return None
    out = []
    for i in range(players):
        names, k = [], 0
        while f"population_{i}.{k}.name" in arrays:
            names.append(bytes(arrays[f"population_{i}.{k}.name"].astype(np.uint8)).decode())
            k += 1
        out.append(names)
    return out if all(out) else None


def player_weights(record: dict[str, Any]) -> list[np.ndarray]:
    """Per-player meta-strategy weights of a record (marginals of a joint meta-strategy)."""
    strategy = record["meta_strategy"]
    sizes = record["population_size"]
    if is_product(record):
        return [np.asarray(s) for s in strategy]
    return joint_marginals(np.asarray(strategy).reshape(sizes))


def is_product(record: dict[str, Any]) -> bool:
    """Whether the record's meta-strategy is per-player marginals (else a joint distribution)."""
    strategy, sizes = record["meta_strategy"], record["population_size"]
    return (isinstance(strategy[0], list) and len(strategy) == len(sizes) and all(
        len(s) == k and not isinstance(s[0], list) for s, k in zip(strategy, sizes)))


def policy_origins(records: list[dict], final_sizes: list[int],
                   populations: list[np.ndarray] | None, actions: list | None) -> list[list[str]]:
    """Per player and population index, where the policy came from.

    Member ``k`` of player ``i`` joined at the iteration whose population grew past ``k``
    (``population_size`` is recorded before the iteration's best responses join).
    """
    sizes = [r["population_size"] for r in records] + [final_sizes]
    out = []
    for i in range(len(final_sizes)):
        names = ["initial"] * sizes[0][i]
        for t in range(len(records)):
            names += [f"best response, it {records[t]['iteration']}"] * (sizes[t + 1][i] - sizes[t][i])
        if populations is not None and populations[i].ndim == 1:   # matrix game: pure actions
            label = (lambda a: actions[i][a]) if actions else (lambda a: f"a{a}")
            names = [f"action {label(int(a))} ({n})" for a, n in zip(populations[i], names)]
        elif populations is not None:
            names = [n.replace("initial", "initial (uniform random)") for n in names]
        out.append(names)
    return out


def deviation_payoffs(meta: np.ndarray, record: dict[str, Any], player: int) -> np.ndarray:
    """Each of ``player``'s policies' meta-game payoff against the others' part of the
    record's meta-strategy (their product for marginals, the joint's marginal otherwise)."""
    sizes = record["population_size"]
    if is_product(record):
        others = outer([np.asarray(w) for j, w in enumerate(record["meta_strategy"]) if j != player])
    else:
        others = np.asarray(record["meta_strategy"]).reshape(sizes).sum(axis=player)
    block = meta[player][tuple(slice(None) if j == player else slice(0, k)
                               for j, k in enumerate(sizes))]
    return np.moveaxis(block, player, 0).reshape(block.shape[player], -1) @ others.reshape(-1)


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


def plot_weight_stack(ax: Any, its: np.ndarray, weights: list[list[np.ndarray]], player: int) -> None:
    """Stacked meta-strategy weights of ``player``'s growing population over iterations."""
    size = max(len(w[player]) for w in weights)
    grid = np.zeros((size, len(weights)))
    for t, w in enumerate(weights):
        grid[: len(w[player]), t] = w[player]
    ax.stackplot(its, grid, colors=plt.cm.viridis(np.linspace(0, 1, max(size, 2)))[:size])
    ax.set_xlabel("iteration")
    ax.set_ylim(0, 1)


def _plot_meta_strategy(records: list[dict], players: int, path: Path) -> None:
    fig, axes = plt.subplots(1, players, figsize=(4.2 * players, 3.6), squeeze=False,
                             constrained_layout=True)
    weights = [player_weights(r) for r in records]
    its = np.array([r["iteration"] for r in records])
    for p in range(players):
        ax = axes[0, p]
        plot_weight_stack(ax, its, weights, p)
        ax.set_title(f"player {p}")
        ax.set_ylabel("meta-strategy weight" if p == 0 else "")
    fig.suptitle("Meta-strategy over the population (colour: policy index, dark = oldest)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_meta_game(meta: np.ndarray, last: dict[str, Any], path: Path) -> None:
    players, weights = meta.shape[0], player_weights(last)
    fig, axes = plt.subplots(1, players, figsize=(4.6 * players, 4.0), squeeze=False,
                             constrained_layout=True)
    for p, ax in enumerate(axes[0]):
        if players == 2:
            image = ax.imshow(meta[p], cmap="RdBu_r", vmin=-np.abs(meta).max(),
                              vmax=np.abs(meta).max(), interpolation="nearest")
            ax.set_xlabel("player 1's policy")
            ax.set_ylabel("player 0's policy")
            ax.set_title(f"payoff to player {p}", pad=12)
            # Triangles just outside the axes mark the final meta-strategy's support.
            rows, cols = (np.flatnonzero(w > SUPPORT) for w in weights)
            ax.plot(np.full(len(rows), meta.shape[2] - 0.1), rows, "<", color="k", ms=4,
                    clip_on=False)
            ax.plot(cols, np.full(len(cols), -0.9), "v", color="k", ms=4, clip_on=False)
            ax.set_xlim(-0.5, meta.shape[2] - 0.5)
            ax.set_ylim(meta.shape[1] - 0.5, -0.5)
            fig.colorbar(image, ax=ax, shrink=0.8)
        else:
            dev = deviation_payoffs(meta, last, p)
            colors = ["C3" if k < len(weights[p]) and weights[p][k] > SUPPORT else "C0"
                      for k in range(len(dev))]
            ax.bar(np.arange(len(dev)), dev, color=colors)
            ax.axhline(last["meta_payoffs"][p], color="k", ls="--", lw=1)
            ax.set_xlabel(f"player {p}'s policy")
            ax.set_title(f"player {p}: payoff vs the others' meta-strategy")
    fig.suptitle("Final meta-game" + (" (triangles: support of the final meta-strategy)"
                                      if players == 2 else
                                      " (red: support; dashed: meta-strategy payoff)"))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(x: float) -> str:
    return f"{x:.3e}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}"


def _algorithm(kind: str, meta_solver: str) -> str:
    if kind in ("cce_gap", "ce_gap"):
        return f"JPSRO with {kind[:-4].upper()} meta-solver (Marris et al. 2021)"
    if meta_solver == "rae":
        return "PSRO-RAE (risk-averse equilibrium meta-solver)"
    return f"PSRO with `{meta_solver}` meta-solver (Lanctot et al. 2017)"


def _strategy_section(last: dict, origins: list[list[str]], meta: np.ndarray | None) -> list[str]:
    players = len(last["population_size"])
    columns = ["player", "policy", "origin", "weight"] + (["payoff vs others"] if meta is not None else [])
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for p, w in enumerate(player_weights(last)):
        dev = deviation_payoffs(meta, last, p) if meta is not None else None
        for k in np.flatnonzero(w > SUPPORT):
            lines.append(f"| {p} | #{k} | {origins[p][k]} | {w[k]:.4f} |"
                         + (f" {_fmt(dev[k])} |" if dev is not None else ""))
    if not is_product(last):
        joint = np.asarray(last["meta_strategy"]).reshape(last["population_size"])
        top = np.argsort(joint, axis=None)[::-1][:10]
        lines += ["", f"Joint meta-strategy: {int((joint > SUPPORT).sum())} profiles above "
                  f"{SUPPORT:g}; the most likely:", "",
                  "| profile (" + ", ".join(f"player {p}" for p in range(players)) + ") | probability |",
                  "|---|---|"]
        for flat in top:
            if joint.flat[flat] > SUPPORT:
                profile = np.unravel_index(flat, joint.shape)
                lines.append(f"| ({', '.join(f'#{int(k)}' for k in profile)}) | {joint.flat[flat]:.4f} |")
    return lines


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.md`` and its plots into ``run_dir``; returns the report's path."""
    run_dir = Path(run_dir)
    config, records = read_run(run_dir)
    meta, pops = read_final(run_dir)
    last, best = records[-1], min(records, key=lambda r: r["exploitability"])
    kind_key = last.get("exploitability_kind", "nash_conv")
    kind = KIND_LABEL.get(kind_key, "exploitability")
    players = len(last["population_size"])
    final_sizes = list(meta.shape[1:]) if meta is not None else last["population_size"]
    # What only the game knows comes from the folder's game_facts.json: rebuilding a report
    # never loads the game (a Markov card's rules.py is code).
    facts = read_game_facts(run_dir)
    actions = facts.get("actions") or None
    origins = policy_origins(records, final_sizes, pops, actions)
    named = _stored_names(run_dir, len(origins))
    if named is not None:  # learned policies carry names: "tit_for_tat", "ppo_p0_4", ...
        origins = [[f"{n} ({o})" for n, o in zip(ns, os_)] for ns, os_ in zip(named, origins)]
    _plot_exploitability(records, kind, run_dir / "exploitability.png")
    _plot_meta_strategy(records, players, run_dir / "meta_strategy.png")
    if meta is not None:
        _plot_meta_game(meta, last, run_dir / "meta_game.png")
    done = len(records)
    stopped = (" (stopped early: the meta-strategy is an equilibrium of the full game)"
               if done < config.get("iterations", done) else "")
    options = config.get("solver_options") or {}
    lines = [
        f"# {config.get('game_name', '?')}: {_algorithm(kind_key, config.get('meta_solver', '?'))}",
        "", "## Configuration", "", "| setting | value |", "|---|---|",
        f"| game | `{config.get('game_name')}` (card `{config.get('game')}`, sha256 "
        f"`{config.get('card_sha256')}`) |",
        f"| meta-solver | `{config.get('meta_solver')}`, options "
        f"{', '.join(f'`{k}={v}`' for k, v in options.items()) or 'none'}; answered by "
        f"`{last['meta_solver']}` |",
        f"| best-response oracle | {config.get('oracle', 'exact')}, ties broken by "
        f"`{config.get('tie_break', 'lowest')}` |",
        f"| iterations | {done} of {config.get('iterations', done)}{stopped} |",
        f"| seed | {config.get('seed')} |",
        f"| device | {config.get('device', 'cpu')} |",
        f"| wall-clock | {last['wall_time']:.2f} s |",
        f"| popgames | {config.get('popgames_version')} |",
        "", "## Result", "", "| | value |", "|---|---|",
        f"| final {kind} (iteration {last['iteration']}) | {_fmt(last['exploitability'])} |",
    ]
    lines += [f"| player {p}'s regret (best-response gain in the full game) | {_fmt(g)} |"
              for p, g in enumerate(last["per_player"])]
    lines += [
        f"| best {kind} (iteration) | {_fmt(best['exploitability'])} ({best['iteration']}) |",
        f"| meta-strategy payoffs | {', '.join(_fmt(v) for v in last.get('meta_payoffs', []))} |",
        f"| meta-game solve gap | {_fmt(last['meta_gap'])} |",
        f"| population size (final meta-game) | {last['population_size']} ({final_sizes}) |",
        "", f"![{kind} against iteration and wall-clock time](exploitability.png)", "",
        "![meta-strategy weights over iterations](meta_strategy.png)", "",
    ]
    if meta is not None:
        lines += ["![final meta-game](meta_game.png)", "",
                  ("The final meta-game, every policy of the population included (rows: player "
                   "0's policies, columns: player 1's); triangles mark the final meta-strategy's "
                   "support." if players == 2 else
                   "Each policy's meta-game payoff against the others' part of the final "
                   "meta-strategy (red: in its support; dashed: the meta-strategy's payoff)."), ""]
    lines += ["## Final meta-strategy", "",
              f"Policies with weight above {SUPPORT:g} (iteration {last['iteration']}); "
              "`#k` is the k-th member of the player's population."
              + (" The last column is the policy's meta-game payoff against the others' "
                 "part of the meta-strategy." if meta is not None else ""), ""]
    lines += _strategy_section(last, origins, meta)
    lines += ["", f"## {kind} by iteration", "",
              "| iteration | " + kind + " | per player | population | wall-clock (s) |",
              "|---|---|---|---|---|"]
    step = max(1, len(records) // 25)
    shown = records[::step] + ([last] if (len(records) - 1) % step else [])
    for r in shown:
        lines.append(f"| {r['iteration']} | {_fmt(r['exploitability'])} | "
                     f"{', '.join(_fmt(g) for g in r['per_player'])} | {r['population_size']} | "
                     f"{r['wall_time']:.2f} |")
    if "game" in last:  # markov game: learned oracle, sampled meta-game
        from popgames.analysis.markov_report import markov_sections

        try:
            arrays = RunFolder(run_dir).load_checkpoint()[0]
        except PopgamesError:
            arrays = None
        lines += [""] + markov_sections(run_dir, config, records, arrays,
                                        facts.get("baselines"))
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
