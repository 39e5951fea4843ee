"""``python -m popgames.solve GAME``: solve a game's normal form for every meta-solver concept.

Prints, per solver, the verified gap, the backend that answered and the solution, so
that a card can be checked at a glance. ``--solver`` restricts the list; ``--option
KEY=VALUE`` passes an option to every chosen solver that takes it; ``--json`` writes
one JSON object per line and nothing else on stdout.

Matrix games are solved as they are. An OpenSpiel game is solved through its reduced
normal form (one pure strategy per plan: an action at each infostate the player's own
earlier actions leave reachable; see :mod:`popgames.kinds.spiel.normal_form`) when it has
at most ``MAX_NORMAL_FORM_PROFILES`` profiles (Kuhn poker: 27 x 64); a larger one is
refused with its size (use ``python -m popgames.psro``). Each mixed answer is also
turned back into a behaviour policy and scored by exact NashConv in the game tree.

Exit status: 0 when at least one solver answered (failures are printed), 2 when every
requested solver failed or the input is bad.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from popgames.core.errors import PopgamesError, SolverError
from popgames.kinds.matrix.game import MatrixGame
from popgames.kinds.registry import load_game
from popgames.runs.options import parse_option
from popgames.solvers import registry

#: Solved by default: one entry per concept (the per-backend names are reachable with --solver).
DEFAULT_SOLVERS = ("nash", "ce", "cce", "rae", "alpharank", "replicator", "regret_matching", "uniform")
#: Plans (or profiles) shown per player (or joint) when describing an OpenSpiel game's answer.
SHOWN = 4


def _matrix(game: Any) -> tuple[MatrixGame, Any, str]:
    """The matrix game to solve, the OpenSpiel normal form (or ``None``) and a header line."""
    if isinstance(game, MatrixGame):
        return game, None, f"{game.name}: {game.n_players} players, actions {list(game.num_actions)}"
    if game.kind != "openspiel":
        raise PopgamesError(f"{game.name}: a {type(game).__name__} has no payoff tensor to "
                            f"solve (grow one with python -m popgames.psro)")
    from popgames.kinds.spiel.normal_form import normal_form

    nf = normal_form(game)
    sizes = " x ".join(map(str, nf.matrix.num_actions))
    return nf.matrix, nf, (f"{game.name}: {game.n_players} players, reduced normal form {sizes} "
                           f"pure strategies (an action at each infostate the player's own "
                           f"earlier actions leave reachable)")


def _describe(game: MatrixGame, sol: registry.Solution) -> str:
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


def _describe_plans(game: MatrixGame, sol: registry.Solution, indent: str) -> str:
    """The heaviest plans per player (index, weight, choices), and for a joint its heaviest profiles."""
    lines = []
    marginals = sol.marginals if sol.marginals is not None else [
        sol.joint.sum(axis=tuple(j for j in range(sol.joint.ndim) if j != i))
        for i in range(sol.joint.ndim)]
    for player, acts, m in zip(game.players, game.actions, marginals):
        top = [k for k in np.argsort(m)[::-1][:SHOWN] if m[k] > 5e-4]
        rest = int((m > 5e-4).sum()) - len(top)
        lines.append(f"{player}: " + "; ".join(f"{m[k]:.3f} #{k} [{acts[k]}]" for k in top)
                     + (f"; +{rest} more" if rest > 0 else ""))
    if sol.marginals is None:
        flat = [i for i in np.argsort(sol.joint, axis=None)[::-1][:SHOWN] if sol.joint.flat[i] > 5e-4]
        lines.append("joint: " + "; ".join(
            "(" + ", ".join(f"#{a}" for a in np.unravel_index(i, sol.joint.shape)) + ")"
            f" {sol.joint.flat[i]:.3f}" for i in flat)
            + f" ({int((sol.joint > 5e-4).sum())} profiles above 5e-4)")
    return f"\n  {indent}".join(lines)


def _tree_nash_conv(nf: Any, sol: registry.Solution) -> float | None:
    """Exact NashConv in the game tree of the behaviour policy equivalent to the answer's
    marginals: an independent check of the normal form (equal to the Nash gap)."""
    if nf is None or sol.marginals is None:
        return None
    from popgames.kinds.spiel.exploitability import nash_conv
    from popgames.kinds.spiel.game import mixture_policy

    populations = [list(nf.policies(p)) for p in range(len(sol.marginals))]
    return nash_conv(nf.game, mixture_policy(nf.game, populations, sol.marginals))[0]


def _as_record(name: str, sol: registry.Solution, game: MatrixGame,
               tree_nash_conv: float | None) -> dict[str, Any]:
    record = {"name": name, "solver": sol.solver, "concept": sol.concept, "gap": sol.gap,
              "converged": sol.converged, "payoffs": sol.payoffs.tolist(),
              "marginals": None if sol.marginals is None else [m.tolist() for m in sol.marginals],
              "joint": sol.joint.tolist(), "seconds": sol.info.get("seconds"),
              "actions": [list(a) for a in game.actions]}
    if tree_nash_conv is not None:
        record["tree_nash_conv"] = tree_nash_conv
    return record


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

    options = dict(parse_option(o) for o in args.option)
    chosen = args.solver or list(DEFAULT_SOLVERS)
    accepted = {name: registry.entry(name).options for name in chosen}  # unknown names fail here
    for key in options:
        if not any(key in acc for acc in accepted.values()):
            raise PopgamesError(f"option '{key}' is taken by none of: {', '.join(chosen)}")
    for name in chosen:   # values too, before anything is printed
        registry.check_options(name, {k: v for k, v in options.items() if k in accepted[name]},
                               "--option")
    game, nf, header = _matrix(load_game(args.game))
    if not args.json:
        print(header)
    failed = []
    for name in chosen:
        try:
            sol = registry.solve(game, name, **{k: v for k, v in options.items()
                                                if k in accepted[name]})
        except SolverError as exc:
            failed.append(name)
            print(json.dumps({"name": name, "error": str(exc)}) if args.json
                  else f"  {name:<16} failed: {exc}", flush=True)
            continue
        tree_nc = _tree_nash_conv(nf, sol)
        if args.json:
            print(json.dumps(_as_record(name, sol, game, tree_nc)), flush=True)
            continue
        flag = "" if sol.converged else "  (not converged)"
        tree = "" if tree_nc is None else f"  tree NashConv {tree_nc:.2e}"
        what = _describe(game, sol) if nf is None else _describe_plans(game, sol, " " * 17)
        print(f"  {name:<16} gap {sol.gap:.2e} [{sol.concept}] by {sol.solver}{flag}{tree}\n"
              f"  {'':<16} payoffs {np.round(sol.payoffs, 4).tolist()}"
              + ("  " if nf is None else f"\n  {'':<16} ") + what, flush=True)
    if failed and len(failed) == len(chosen):
        raise PopgamesError(f"every requested solver failed ({', '.join(failed)})")
    return 0

