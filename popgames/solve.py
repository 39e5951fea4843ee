"""``python -m popgames.solve GAME``: solve a matrix game for every meta-solver concept.

Prints, per solver, the verified gap, the backend that answered and the solution, so
that a card can be checked at a glance. ``--solver`` restricts the list; ``--option
KEY=VALUE`` passes an option to every chosen solver that takes it; ``--json`` writes
machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from popgames.cli_common import parse_option, run_main
from popgames.errors import PopgamesError, SolverError
from popgames.game_card import load_game
from popgames.solvers import registry

#: Solved by default: one entry per concept (the per-backend names are reachable with --solver).
DEFAULT_SOLVERS = ("nash", "ce", "cce", "rae", "alpharank", "replicator", "regret_matching", "uniform")


def _describe(game: Any, sol: registry.Solution) -> str:
    if sol.marginals is not None:
        parts = []
        for player, acts, m in zip(game.players, game.actions, sol.marginals):
            mix = ", ".join(f"{a} {p:.3f}" for a, p in zip(acts, m) if p > 5e-4)
            parts.append(f"{player}: {mix}")
        return "; ".join(parts)
    flat = np.argsort(sol.joint, axis=None)[::-1]
    shown = []
    for idx in flat[:6]:
        prob = sol.joint.flat[idx]
        if prob <= 5e-4:
            break
        profile = np.unravel_index(idx, sol.joint.shape)
        shown.append("(" + ", ".join(game.actions[i][a] for i, a in enumerate(profile))
                     + f") {prob:.3f}")
    return "joint: " + "; ".join(shown)


def _as_record(name: str, sol: registry.Solution) -> dict[str, Any]:
    return {"name": name, "solver": sol.solver, "concept": sol.concept, "gap": sol.gap,
            "converged": sol.converged, "payoffs": sol.payoffs.tolist(),
            "marginals": None if sol.marginals is None else [m.tolist() for m in sol.marginals],
            "joint": sol.joint.tolist(), "seconds": sol.info.get("seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popgames.solve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("game", help="a game folder (games/stag_hunt), its game.toml, or a built-in name")
    parser.add_argument("--solver", action="append", metavar="NAME",
                        help=f"meta-solver to run (repeatable; default: {', '.join(DEFAULT_SOLVERS)})")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="solver option, e.g. objective=max_welfare (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per solver")
    args = parser.parse_args(argv)

    game = load_game(args.game)
    options = dict(parse_option(o) for o in args.option)
    chosen = args.solver or list(DEFAULT_SOLVERS)
    accepted = {name: registry.entry(name).options for name in chosen}  # unknown names fail here
    for key in options:
        if not any(key in acc for acc in accepted.values()):
            raise PopgamesError(f"option '{key}' is taken by none of: {', '.join(chosen)}")
    if not args.json:
        print(f"{game.name}: {game.n_players} players, actions {list(game.num_actions)}")
    for name in chosen:
        try:
            sol = registry.solve(game, name, **{k: v for k, v in options.items()
                                                if k in accepted[name]})
        except SolverError as exc:
            print(json.dumps({"name": name, "error": str(exc)}) if args.json
                  else f"  {name:<16} failed: {exc}")
            continue
        if args.json:
            print(json.dumps(_as_record(name, sol)))
            continue
        flag = "" if sol.converged else "  (not converged)"
        print(f"  {name:<16} gap {sol.gap:.2e} [{sol.concept}] by {sol.solver}{flag}\n"
              f"  {'':<16} payoffs {np.round(sol.payoffs, 4).tolist()}  {_describe(game, sol)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
