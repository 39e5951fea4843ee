"""Opponent shaping, shown: does advantage alignment make PSRO grow reciprocating policies?

    .venv/bin/python benchmarks/opponent_shaping.py                       # 5 seeds x 2 settings
    .venv/bin/python benchmarks/opponent_shaping.py --seeds 0 --iterations 3

PSRO (Nash meta-solver, PPO oracle at the card's settings unless ``--updates`` is given)
runs on iterated_prisoners_dilemma with every population seeded by ``always_defect`` and
``uniform`` (the loaded card's ``game.psro["initial"]`` is replaced in memory; the card
file is untouched), with plain PPO best responses and with ``advantage_alignment = true``,
each trained against the meta-strategy alone or with half of its episodes against a frozen
copy of itself (``self_play = 0.5``), for each seed. Of the *final* meta-strategy (the Nash of
the last iteration's meta-game, i.e. over the initial policies and the best responses of
the iterations before the last; the last iteration's responses only measure it) the table
gives

* ``coop``: its cooperation rate in self-play (the sampled ``cooperation_rate`` metric of
  the meta-strategy profile, +- its standard error);
* ``self``: player 0's marginal playing itself (its policies in both seats, each drawn
  once per episode), exact expected return of seat 0 (30 = mutual cooperation, 10 = mutual
  defection);
* ``vs AllD``: player 0's marginal against always_defect, exact (10 = always defect; a
  policy that cooperates once is suckered);
* ``NashConv``: the meta-strategy's exact NashConv (``exact_nash_conv`` metric);
* the population members with weight > 0.05 in player 0's marginal, and the weight on
  *reciprocating* learned members: those that retaliate (exact return vs always_defect
  >= 9) and cooperate with themselves (exact self-play return >= 25).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

import popgames
from popgames.kinds.markov.exact import evaluate_response
from popgames.psro import psro

INITIAL = ["always_defect", "uniform"]
SETTINGS = {"plain": {"advantage_alignment": False}, "aligned": {"advantage_alignment": True},
            # Half of each response's training episodes against a frozen copy of itself: a
            # learning opponent for the alignment term to shape (Duque et al. train in self-play).
            "plain+self": {"advantage_alignment": False, "self_play": 0.5},
            "aligned+self": {"advantage_alignment": True, "self_play": 0.5}}
RETALIATES, COOPERATES, SHOWN = 9.0, 25.0, 0.05


def versus(game: Any, policy: Any, opponents: list[tuple[float, Any]]) -> float:
    """Exact seat-0 return of ``policy`` against a mixture of seat-1 ``opponents``."""
    return evaluate_response(game, [(w, [None, q]) for w, q in opponents if w > 1e-12], 0, policy)


def run(game: Any, setting: str, seed: int, iterations: int, updates: int | None,
        objective: str | None = None) -> dict[str, Any]:
    """One PSRO run; the figures of its final meta-strategy."""
    options: dict[str, Any] = dict(SETTINGS[setting])
    if updates is not None:
        options["updates"] = updates
    started = time.perf_counter()
    record = None
    for record in psro(game, meta_solver="nash", iterations=iterations, seed=seed, device="cpu",
                       oracle_options=options, solver_options={"objective": objective} if objective else None):
        pass
    assert record is not None
    seconds = time.perf_counter() - started
    weights = np.asarray(record.solution.marginals[0], dtype=float)
    members = record.state.population[0][:len(weights)]
    always_defect = game.reference_policies()["always_defect"]
    mix = [(float(w), p) for w, p in zip(weights, members) if w > 1e-12]
    vs_alld = sum(w * versus(game, p, [(1.0, always_defect)]) for w, p in mix)
    self_play = sum(w * versus(game, p, mix) for w, p in mix)
    shown, reciprocating = [], 0.0
    for w, p in mix:
        if w <= SHOWN:
            continue
        name = getattr(p, "name", type(p).__name__)
        if name.startswith("ppo"):
            alld, own = versus(game, p, [(1.0, always_defect)]), versus(game, p, [(1.0, p)])
            is_recip = alld >= RETALIATES and own >= COOPERATES
            reciprocating += w if is_recip else 0.0
            name += f" {w:.2f} (AllD {alld:.1f}, self {own:.1f}{', R' if is_recip else ''})"
        else:
            name += f" {w:.2f}"
        shown.append(name)
    g = record.metrics["game"]
    return {"setting": setting, "seed": seed, "coop": g["cooperation_rate"],
            "coop_se": g["cooperation_rate_se"], "self": self_play, "vs_alld": vs_alld,
            "nash_conv": g.get("exact_nash_conv", float("nan")), "recip": reciprocating,
            "members": "; ".join(shown), "seconds": seconds}


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table: one row per run, then each setting's means over seeds."""
    lines = [("| setting | seed | coop (self-play) | self return | vs AllD | exact NashConv "
              "| reciprocating weight | members (weight > 0.05) | s |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['seed']} | {r['coop']:.3f} ± {r['coop_se']:.3f} "
                     f"| {r['self']:.2f} | {r['vs_alld']:.2f} | {r['nash_conv']:.2f} | {r['recip']:.2f} "
                     f"| {r['members']} | {r['seconds']:.0f} |")
    for setting in dict.fromkeys(r["setting"] for r in rows):
        mine = [r for r in rows if r["setting"] == setting]
        mean = {k: float(np.mean([r[k] for r in mine])) for k in ("coop", "self", "vs_alld", "nash_conv", "recip")}
        lines.append(f"| **{setting} mean** | {len(mine)} seeds | {mean['coop']:.3f} | {mean['self']:.2f} "
                     f"| {mean['vs_alld']:.2f} | {mean['nash_conv']:.2f} | {mean['recip']:.2f} | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--updates", type=int, default=None, help="PPO updates (default: the card's)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--objective", default="max_welfare",
                        help="the Nash meta-solver's objective: which equilibrium of the meta-game PSRO "
                             "answers when mutual defection and mutual reciprocity both are one "
                             "(default max_welfare; 'none' for the solver's default)")
    args = parser.parse_args(argv)
    game = popgames.load_game("iterated_prisoners_dilemma")
    game.psro = {**game.psro, "initial": list(INITIAL)}   # in memory only; the card is unchanged
    started, rows = time.perf_counter(), []
    for setting in args.settings:
        for seed in args.seeds:
            rows.append(run(game, setting, seed, args.iterations, args.updates,
                            None if args.objective == "none" else args.objective))
            r = rows[-1]
            print(f"# {setting} seed {seed}: coop {r['coop']:.3f}, vs AllD {r['vs_alld']:.2f}, "
                  f"recip {r['recip']:.2f} ({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
    print(f"iterated_prisoners_dilemma, PSRO nash ({args.objective}) from {INITIAL}, {args.iterations} iterations, "
          f"updates={args.updates or game.oracle_options.get('updates', 'default')}\n")
    print(table(rows))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
