"""Report sections for runs on batched Markov games (learned or exact oracles; sampled or exact meta-games).

Adds to ``report.md``: the game's social-dilemma metrics per iteration against the
reference baselines (``game_metrics.png``), the final meta-game with 95% confidence
intervals, and its Nash and risk-averse equilibria (the latter with the entries'
sample variances as risk), each with its verified gap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from popgames.analysis.reports.plotting import figure, save, title
from popgames.analysis.reports.run_data import Run
from popgames.core.errors import PopgamesError

Z95 = 1.96


def _plot(records: list[dict], baselines: dict[str, dict[str, float]], path: Path) -> list[str]:
    game = [r["game"] for r in records]
    its = [r["iteration"] for r in records]
    main = next((k for k in ("split_efficiency", "welfare_efficiency", "cooperation_rate",
                             "contribution_rate", "own_coin_rate") if k in game[0]), None)
    fig, axes = figure(11, 4, 2, None, top=0.35, gap=0.9)
    if main is not None:
        mean = np.array([g[main] for g in game])
        se = np.array([g.get(f"{main}_se", 0.0) for g in game])
        axes[0].plot(its, mean, marker="o", label="meta-strategy self-play")
        axes[0].fill_between(its, mean - Z95 * se, mean + Z95 * se, alpha=0.25)
        for name, values in baselines.items():
            if main in values:
                axes[0].axhline(values[main], ls="--", color="grey" if "greedy" in name else "green",
                                label=name)
        axes[0].set_ylabel(main.replace("_", " "))
        axes[0].legend(fontsize=8)
    axes[0].set_xlabel("PSRO iteration")
    for key, style in (("vs_greedy", "-o"), ("greedy_extracts", "--o"), ("vs_welfare", "-s"),
                       ("welfare_extracts", "--s")):
        if key in game[0]:
            axes[1].plot(its, [g[key] for g in game], style, label=key.replace("_", " "))
    axes[1].set_xlabel("PSRO iteration")
    axes[1].set_ylabel("episode return")
    title(axes[1], "meta-strategy against reference opponents", fontsize=9)
    axes[1].legend(fontsize=8)
    save(fig, path)
    return [main] if main else []


def _equilibria(meta: np.ndarray, variances: np.ndarray | None, config: dict[str, Any]) -> list[str]:
    from popgames.solvers import registry

    nash_options = dict(config.get("solver_options") or {}) if config.get("meta_solver") == "nash" else {}
    nash_label = "Nash" + (f" ({', '.join(f'{k}={v}' for k, v in nash_options.items())})" if nash_options else "")
    lines = ["| solution | player | support (policy: weight) | payoff | verified gap |", "|---|---|---|---|---|"]
    for label, name, options in ((nash_label, "nash", nash_options),
                                 ("risk-averse (entry variances as risk)" if variances is not None
                                  else "risk-averse (mixing risk only: exact entries)", "rae",
                                  {"entry_variances": variances} if variances is not None else {})):
        try:
            sol = registry.solve(meta, name, **options)
        except PopgamesError as exc:
            lines.append(f"| {label} | - | failed: {exc} | - | - |")
            continue
        for p, m in enumerate(sol.marginals):
            support = ", ".join(f"#{k}: {w:.3f}" for k, w in enumerate(m) if w > 1e-4)
            lines.append(f"| {label} | {p} | {support} | {sol.payoffs[p]:.1f} | {sol.gap:.2e} |")
    return lines


def section(run: Run) -> list[str]:
    """Markdown lines for a markov run (and ``game_metrics.png`` in its folder).

    The baselines are the reference self-play metrics the run stored in its
    ``game_facts.json`` (:mod:`popgames.runs.facts`); none for a run made before they
    were stored.
    """
    records, arrays = run.records, run.arrays
    exact = not str(records[-1].get("exploitability_kind", "approx")).startswith("approx_")
    learner = "exact" if exact else "PPO"
    baselines = run.facts.get("baselines") or {}
    shown = _plot(records, baselines, run.dir / "game_metrics.png")
    last = records[-1]["game"]
    lines = ["", "## Social-dilemma metrics", "",
             "![game metrics by iteration](game_metrics.png)", "",
             "The meta-strategy plays itself (left, with 95% confidence band) and the reference "
             "policies (right: its return against them, and what they extract from it).", ""]
    if baselines:
        keys = sorted({k for v in baselines.values() for k in v})
        lines += ["| reference self-play | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(f"{v.get(k, float('nan')):.3f}" for k in keys) + " |"
                  for name, v in baselines.items()]
        lines.append("")
    # Who the verdicts are about: the meta-strategy's weight on learned members (the first
    # population_size of iteration 0 are the card's seed references).
    from popgames.analysis.reports.population import player_weights

    seeds = records[0]["population_size"]
    learned = [float(np.asarray(w)[k:].sum()) for w, k in zip(player_weights(records[-1]), seeds)]
    lines += [f"Learned ({learner}) policies carry {', '.join(f'{x:.0%}' for x in learned)} of the final "
              f"meta-strategy's weight (by player); the rest is on the seed references. The figures below "
              f"describe the meta-strategy, "
              + ("learned policies included." if max(learned) > 0.05 else
                 "which here is mostly the hand-written references, not learned play."), ""]
    for key in shown:
        ci = Z95 * last.get(f"{key}_se", 0.0)
        greedy = baselines.get("greedy vs greedy", {}).get(key)
        welfare = baselines.get("welfare vs welfare", {}).get(key)
        verdict = ""
        if greedy is not None and welfare is not None:
            # Material: beyond the interval and at least 5% of the way from greedy to welfare.
            material = 0.05 * abs(welfare - greedy)
            if last[key] - ci > greedy and last[key] - greedy > material:
                verdict = (f" It is above the greedy baseline beyond the 95% interval, "
                           f"{(last[key] - greedy) / (welfare - greedy):.0%} of the way to welfare: the "
                           "meta-strategy sustains some cooperation.")
            elif last[key] - ci > greedy:
                verdict = (" It is above the greedy baseline beyond the 95% interval, but by less than 5% "
                           "of the way to welfare: in practice no cooperation emerged.")
            elif last[key] + ci < greedy:
                verdict = " It is below even the greedy baseline: learning has not found reciprocity."
            else:
                verdict = " It is indistinguishable from the greedy baseline: no cooperation emerged."
        lines += [f"Final {key.replace('_', ' ')}: **{last[key]:.3f} ± {ci:.3f}** "
                  f"(greedy self-play {greedy if greedy is None else f'{greedy:.3f}'}, "
                  f"welfare self-play {welfare if welfare is None else f'{welfare:.3f}'}).{verdict}", ""]
    short = [(r["iteration"], p, g, ci) for r in records
             for p, (g, ci) in enumerate(zip(r.get("best_response_gain", []),
                                             r.get("best_response_gain_ci95", [0.0] * 99)))
             if g + ci < 0]
    if short:
        worst = min(short, key=lambda x: x[2])
        lines += [f"The PPO best response fell short of the meta-strategy's own payoff beyond its 95% "
                  f"interval in {len(short)} case(s) (worst: player {worst[1]} at iteration {worst[0]}, "
                  f"by {-worst[2]:.2f} ± {worst[3]:.2f}): there the oracle is too weak to say how exploitable "
                  "the meta-strategy is, and the exploitability column (negative gains counted as zero) is "
                  "only a lower bound.", ""]
    behind = [(r["iteration"], p) for r in records for p, s in enumerate(r.get("short_of_population", [])) if s]
    if behind:
        lines += [f"In {len(behind)} case(s) the PPO response did worse than the best policy already in the "
                  "population against the same mix (iteration, player: "
                  + ", ".join(f"{i}, {p}" for i, p in behind) + "); it joined the population anyway "
                  "(PSRO's definition), where the meta-solver gives it weight only if it helps.", ""]
    if "exact_nash_conv" in last and exact:
        gaps = [o.get("representation_gap", 0.0) for r in records for o in r.get("oracle", [])]
        lines += [f"The exact oracle's best responses act on the observation; PSRO's NashConv over such "
                  f"policies is {records[-1]['exploitability']:.4f} at the last iteration, and over every "
                  f"history-dependent strategy (kinds/markov/exact.py) **{last['exact_nash_conv']:.4f}**. "
                  f"What answering from the observation alone cost a best response: up to "
                  f"{max(gaps, default=0.0):.4f}.", ""]
    elif "exact_nash_conv" in last:
        lines += [f"Exact NashConv of the final meta-strategy (backward induction over every history, "
                  f"kinds/markov/exact.py): **{last['exact_nash_conv']:.4f}**, where the PPO best responses "
                  f"estimate {records[-1]['exploitability']:.4f}: the oracle's estimate is off by "
                  f"{last['exact_nash_conv'] - records[-1]['exploitability']:+.4f}.", ""]
    if "exact_nash_conv" not in last and "best_response_gain_ci95" in records[-1]:
        half = max(records[-1]["best_response_gain_ci95"])
        lines += [f"How far the exploitability estimate can be trusted: each best response's gain is "
                  f"sampled (95% half-width up to {half:.2f} at the last iteration), and PPO is a lower bound "
                  "on the true best response. Where exact best responses exist (benchmarks/oracles.py), PPO "
                  "at its card's budget reached 98.4-100% of the exact gain on iterated_prisoners_dilemma and "
                  "93.6-99.3% on coin_game, against references and their mixtures: the estimate is short of "
                  "the true gain by a few percent there, more where the game is larger.", ""]
    cols = [k for k in ("exact_nash_conv", "split_efficiency", "claim_when_winning", "claim_when_losing",
                        "vs_greedy", "greedy_extracts", "vs_welfare", "welfare_extracts") if k in last]
    cost = "best response seconds" if exact else "PPO env steps/s"
    lines += [f"| iteration | exploitability ({learner}) | " + " | ".join(c.replace("_", " ") for c in cols)
              + f" | {cost} |", "|---" * (len(cols) + 3) + "|"]
    for r in records:
        oracle = r.get("oracle", [])
        speed = (np.sum([s["seconds"] for s in oracle]) if exact else
                 np.mean([s["steps_per_second"] for s in oracle] or [np.nan]))
        lines.append(f"| {r['iteration']} | {r['exploitability']:.2f} | "
                     + " | ".join(f"{r['game'][c]:.3f}" for c in cols)
                     + (f" | {speed:.2f} |" if exact else f" | {speed:,.0f} |"))
    lines.append("")
    if arrays is not None and "meta_game" in arrays:
        meta = np.asarray(arrays["meta_game"])
        variances = arrays.get("meta_game_variances")
        counts = arrays.get("meta_game_counts")
        if meta.shape[0] == 2 and counts is not None:
            half = Z95 * np.sqrt(np.asarray(variances) / np.maximum(np.asarray(counts), 1))
            k0, k1 = meta.shape[1:]
            lines += ["## Final meta-game", "",
                      f"Mean returns (player 0, player 1) ± 95% half-width over "
                      f"{int(np.asarray(counts).min())} episodes per entry; rows are player 0's "
                      "policies, columns player 1's.", "",
                      "| | " + " | ".join(f"#{j}" for j in range(k1)) + " |", "|---" * (k1 + 1) + "|"]
            for i in range(k0):
                lines.append(f"| #{i} | " + " | ".join(
                    f"{meta[0, i, j]:.0f}±{half[0, i, j]:.0f}, {meta[1, i, j]:.0f}±{half[1, i, j]:.0f}"
                    for j in range(k1)) + " |")
            lines.append("")
        elif meta.shape[0] == 2:   # exact entries: no sampling noise
            k0, k1 = meta.shape[1:]
            lines += ["## Final meta-game", "", "Exact expected returns (player 0, player 1); rows are "
                      "player 0's policies, columns player 1's.", "",
                      "| | " + " | ".join(f"#{j}" for j in range(k1)) + " |", "|---" * (k1 + 1) + "|"]
            lines += [f"| #{i} | " + " | ".join(f"{meta[0, i, j]:.2f}, {meta[1, i, j]:.2f}" for j in range(k1))
                      + " |" for i in range(k0)]
            lines.append("")
        lines += ["## Equilibria of the final meta-game", ""] + _equilibria(
            meta, None if variances is None else np.asarray(variances), run.config) + [""]
    return lines
