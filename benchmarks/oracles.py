"""The PPO best-response oracle measured against exact best responses, same mixtures, one process run.

    .venv/bin/python benchmarks/oracles.py                 # iterated_prisoners_dilemma, ~1 minute
    .venv/bin/python benchmarks/oracles.py --game coin_game
    .venv/bin/python benchmarks/oracles.py --cases tit_for_tat always_defect

For each case -- one reference policy, or a mixture of them, in the opponent's seat -- the
PPO oracle (``MarkovOracle.best_response`` at the card's default budget) trains a best
response in seat 0. Its value is then computed exactly (:func:`popgames.kinds.markov.exact.
evaluate_response`, no sampling), beside the exact best response's value and the value
of the mixture itself in seat 0 (what PSRO's meta-strategy earns: the baseline a best
response must beat). The figure of merit is the share of the achievable gain PPO gets,
``(PPO - base) / (exact - base)``, beside its share of what the exact answer restricted
to the observation gets (the table of :func:`popgames.kinds.markov.exact.best_response`, a
lower bound on the best policy of the observation: what a memoryless PPO network can aim
at when the history answer needs memory); where nothing can be gained (``exact = base``, e.g.
against always-defect) the shortfall ``exact - PPO`` is reported instead.

On coin_game the exact values come from :mod:`popgames.kinds.markov.exact_chance` (its
rules enumerate the coin's respawns, and histories merge on observations and beliefs).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import popgames
from popgames.kinds.markov.exact import best_response, evaluate_response
from popgames.kinds.markov.oracle import MarkovOracle

#: Per game: the single references and named opponent mixtures (reference policy -> weight).
CASES = {
    "iterated_prisoners_dilemma": (
        ("always_cooperate", "always_defect", "tit_for_tat", "grim_trigger", "pavlov", "uniform"),
        {"tft+alld": {"tit_for_tat": 0.5, "always_defect": 0.5},
         "allc+tft+uniform": {"always_cooperate": 1 / 3, "tit_for_tat": 1 / 3, "uniform": 1 / 3},
         "grim+pavlov+alld": {"grim_trigger": 0.5, "pavlov": 0.25, "always_defect": 0.25}}),
    "coin_game": (
        ("greedy", "welfare", "uniform"),
        {"greedy+welfare": {"greedy": 0.5, "welfare": 0.5},
         "greedy+uniform": {"greedy": 0.5, "uniform": 0.5},
         "greedy+welfare+uniform": {"greedy": 1 / 3, "welfare": 1 / 3, "uniform": 1 / 3}}),
}


def measure(game: object, weights: dict[str, float], seed: int, options: dict | None = None) -> dict[str, float]:
    refs = game.reference_policies()
    names = list(weights)
    mixture = [(weights[n], [None, refs[n]]) for n in names]
    base = sum(w * evaluate_response(game, mixture, 0, refs[n]) for n, w in weights.items())
    answer = best_response(game, mixture, 0)
    exact, table = answer.history_value, answer.value
    oracle = MarkovOracle(game, seed=seed, device="cpu", options=options)
    population = [[refs["uniform"]], [refs[n] for n in names]]
    start = time.perf_counter()
    response = oracle.best_response(population, 0, np.array([weights[n] for n in names]))
    seconds = time.perf_counter() - start
    ppo = evaluate_response(game, mixture, 0, response.policy)
    gain = exact - base
    return {"base": base, "exact": exact, "table": table, "ppo": ppo, "ppo_estimate": response.value, "seconds": seconds,
            # A gain below 0.01 is nothing to share out: the shortfall is reported instead.
            "share": (ppo - base) / gain if gain > 1e-2 else float("nan"),
            "table_share": (ppo - base) / (table - base) if table - base > 1e-2 else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", choices=tuple(CASES), default="iterated_prisoners_dilemma")
    parser.add_argument("--cases", nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oracle-option", action="append", default=[], metavar="KEY=VALUE",
                        help="PPO option over the card's [oracle] table (repeatable)")
    args = parser.parse_args(argv)
    from popgames.runs.options import parse_option

    options = dict(parse_option(text) for text in args.oracle_option)
    references, mixtures = CASES[args.game]
    game = popgames.load_game(args.game)
    print(f"{args.game}, PPO at the card's budget{f' with {options}' if options else ''}, seed {args.seed}")
    print("| opponent | mixture's own value | exact best response (history; observation table) | "
          "PPO (exact value; its estimate) | share of the gain (history; table) | PPO wall time |")
    print("|---|---|---|---|---|---|")
    for case in args.cases or [*references, *mixtures]:
        weights = mixtures.get(case, {case: 1.0})
        r = measure(game, weights, args.seed, options)
        share = (f"{r['share']:.1%}; {r['table_share']:.1%}" if np.isfinite(r["share"])
                 else f"no gain possible; shortfall {r['exact'] - r['ppo']:.3f}")
        print(f"| {case} | {r['base']:.3f} | {r['exact']:.3f}; {r['table']:.3f} | "
              f"{r['ppo']:.3f} ({r['ppo_estimate']:.3f}) | "
              f"{share} | {r['seconds']:.1f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
