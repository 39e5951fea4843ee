"""The meta-strategy and population sections of a PSRO report.

``meta_strategy.png`` (each player's weights over the growing population) and the
"Final meta-strategy" table: the supported policies with where each came from (initial,
the iteration whose best response it was, a stored policy name, a matrix game's action)
and its meta-game payoff against the others' part of the meta-strategy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from popgames.analysis.reports.plotting import plot_weights
from popgames.analysis.reports.run_data import Run, fmt
from popgames.core.payoff_tensor import joint_marginals, outer

SUPPORT = 1e-4   # meta-strategy weights below this are left out of tables


def is_product(record: dict[str, Any]) -> bool:
    """Whether the record's meta-strategy is per-player marginals (else a joint distribution)."""
    strategy, sizes = record["meta_strategy"], record["population_size"]
    return (isinstance(strategy[0], list) and len(strategy) == len(sizes) and all(
        len(s) == k and not isinstance(s[0], list) for s, k in zip(strategy, sizes)))


def player_weights(record: dict[str, Any]) -> list[np.ndarray]:
    """Per-player meta-strategy weights of a record (marginals of a joint meta-strategy)."""
    strategy = record["meta_strategy"]
    if is_product(record):
        return [np.asarray(s) for s in strategy]
    return joint_marginals(np.asarray(strategy).reshape(record["population_size"]))


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


def final_sizes(run: Run) -> list[int]:
    """Population sizes of the final meta-game (the checkpoint's, else the last record's)."""
    return list(run.meta.shape[1:]) if run.meta is not None else run.last["population_size"]


def figure_section(run: Run) -> list[str]:
    """``meta_strategy.png`` and its line."""
    players = len(run.last["population_size"])
    plot_weights(run.dir / "meta_strategy.png", np.array([r["iteration"] for r in run.records]),
                 [player_weights(r) for r in run.records], players, "player {p}",
                 "Meta-strategy over the population (colour: policy index, dark = oldest)")
    return ["![meta-strategy weights over iterations](meta_strategy.png)", ""]


def _origins(run: Run) -> list[list[str]]:
    # Action names come from the folder's game_facts.json, never from loading the game.
    origins = policy_origins(run.records, final_sizes(run), run.populations,
                             run.facts.get("actions") or None)
    named = run.stored_names(len(origins))
    if named is not None:  # learned policies carry names: "tit_for_tat", "ppo_p0_4", ...
        origins = [[f"{n} ({o})" for n, o in zip(ns, os_)] for ns, os_ in zip(named, origins)]
    return origins


def strategy_section(run: Run) -> list[str]:
    """"Final meta-strategy": supported policies, their origin, weight and deviation
    payoff; for a joint meta-strategy also its most likely profiles."""
    last, meta, origins = run.last, run.meta, _origins(run)
    players = len(last["population_size"])
    lines = ["## Final meta-strategy", "",
             f"Policies with weight above {SUPPORT:g} (iteration {last['iteration']}); "
             "`#k` is the k-th member of the player's population."
             + (" The last column is the policy's meta-game payoff against the others' "
                "part of the meta-strategy." if meta is not None else ""), ""]
    columns = ["player", "policy", "origin", "weight"] + (["payoff vs others"] if meta is not None else [])
    lines += ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for p, w in enumerate(player_weights(last)):
        # Mean-field PSRO records each member's payoff against the mixture itself (not a
        # tensor's: mixtures' payoffs are not linear in the shares).
        dev = (np.asarray(last["deviation_payoffs"][p]) if "deviation_payoffs" in last
               else deviation_payoffs(meta, last, p) if meta is not None else None)
        for k in np.flatnonzero(w > SUPPORT):
            lines.append(f"| {p} | #{k} | {origins[p][k]} | {w[k]:.4f} |"
                         + (f" {fmt(dev[k])} |" if dev is not None else ""))
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
