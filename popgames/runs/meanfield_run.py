"""The mean-field loops' part of the driver (:mod:`popgames.runs.driver`):
``python -m popgames.meanfield GAME_DIR --algorithm fp|omd|fixed_point|prior_descent``.

``--option KEY=VALUE`` sets an algorithm option (``lr`` for omd, ``temperature`` for
fixed_point and prior_descent, ``inner`` for prior_descent), over the card's ``[meanfield]
options`` (per algorithm in its own subtable, e.g. ``[meanfield.options.fixed_point]``). The checkpoint holds the algorithm's arrays (the policy, OMD's cumulative values,
prior descent's prior) and the final flow; the report is
:mod:`popgames.analysis.reports.mean_field`'s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from popgames.core.errors import PopgamesError
from popgames.core.protocols import Game
from popgames.loops.mean_field.loop import (ALGORITHMS, MeanFieldState, check_options, mean_field,
                                            state_arrays, state_from_arrays)
from popgames.runs.driver import Config, LoopSpec, check_same_run
from popgames.runs.files import atomic_write
from popgames.runs.folder import RunFolderError
from popgames.runs.options import check_same_options, parse_option

def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algorithm", choices=tuple(ALGORITHMS),
                   help="fp (fictitious play), omd (online mirror descent), fixed_point (Boltzmann "
                        "fixed point; temperature 0: best responses) or prior_descent (default: the "
                        "card's [meanfield] algorithm, else fp)")
    p.add_argument("--n-agents", type=int, nargs="+", metavar="N",
                   help="population sizes of the N-agent check after the run (default: the card's "
                        "[meanfield] n_agents, else 10 100 1000)")


def _settings(args: argparse.Namespace, game: Game, table: Mapping[str, Any]) -> Config:
    algorithm = args.algorithm or table.get("algorithm", "fp")
    options = {**card_options(table, algorithm), **dict(parse_option(o) for o in args.option)}
    check_options(algorithm, options)
    n_agents = list(args.n_agents or table.get("n_agents", N_AGENTS))
    if any(n < 2 for n in n_agents):
        raise PopgamesError(f"--n-agents {n_agents}: every population needs at least 2 agents")
    return {"algorithm": algorithm, "options": options, "n_agents": n_agents,
            "social_optimum": bool(table.get("social_optimum", True))}


def card_options(table: Mapping[str, Any], algorithm: str) -> dict[str, Any]:
    """The card's ``[meanfield] options`` for ``algorithm``: its own subtable
    (``[meanfield.options.fixed_point]``) over the keys shared by every algorithm."""
    options = dict(table.get("options", {}))
    for name in ALGORITHMS:
        if name in options and not isinstance(options[name], dict):
            raise PopgamesError(f"[meanfield] options.{name}: expected a table of {name}'s options")
    shared = {k: v for k, v in options.items() if k not in ALGORITHMS}
    return {**shared, **options.get(algorithm, {})}


def _check_resume(saved: Config, wanted: Config, args: argparse.Namespace) -> Config:
    if saved.get("algorithm") not in ALGORITHMS:
        raise RunFolderError(f"{args.out}: not a mean-field run")
    check_same_run(saved, wanted, args, ("algorithm", "seed"))
    check_same_options(args.out, "--option", dict(parse_option(o) for o in args.option),
                       saved.get("options", {}))
    return dict(saved)


def _run(game: Game, config: Config, rules: Any, state: MeanFieldState | None) -> Iterator[Any]:
    return mean_field(game, config["iterations"], config["options"], algorithm=config["algorithm"],
                      state=state)


#: The N-agent check after a run: agents (``--n-agents``, the card's ``[meanfield] n_agents``)
#: and their episodes, ``EPISODES // N`` but at least 10 (a graphon step costs N^2).
N_AGENTS, EPISODES = (10, 100, 1000), 4000


def _finish(game: Game, config: Config, run_dir: Path, record: Any) -> None:
    """The final policy's N-agent check (:mod:`popgames.kinds.mean_field.n_agent`) and the
    social optimum beside it (:mod:`popgames.kinds.mean_field.control`), kept as
    ``n_agent.json`` and ``social.json`` for the report."""
    from popgames.kinds.mean_field.n_agent import NAgentTask, run_n_agent_checks

    tasks = [NAgentTask(str(game.source), np.asarray(record.policy), n, max(10, EPISODES // n), config["seed"])
             for n in config["n_agents"]]
    checks = [{k: check[k] for k in ("n", "episodes", "max_gap", "interval", "mean_gap", "mean_gap_error")}
              for check in run_n_agent_checks(tasks)]
    if checks:
        atomic_write(run_dir / "n_agent.json", json.dumps(checks, indent=1).encode())
    if not config.get("social_optimum", True):
        return
    from popgames.kinds.mean_field.control import price_of_anarchy

    social = price_of_anarchy(game.rules, record.policy)
    atomic_write(run_dir / "social.json", json.dumps(
        {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in social.items()
         if k != "social_policy"}, indent=1).encode())


MEAN_FIELD = LoopSpec(
    name="meanfield",
    description="Solve a mean-field or graphon game by fictitious play, online mirror descent, the "
                "Boltzmann fixed point or prior descent, with exact exploitability every iteration. "
                "Writes config.toml, metrics.jsonl, checkpoint/ and report.md with plots.",
    table=lambda game: game.meanfield, default_iterations=100, add_flags=_flags, settings=_settings,
    check_resume=_check_resume, out_name=lambda config: f"{config['algorithm']}-seed{config['seed']}",
    runner=lambda game, config: game.rules, run=_run,
    save=lambda record, rules: state_arrays(record.state, record.mu),
    load=lambda arrays, meta, rules, config: state_from_arrays(arrays, meta, rules),
    owner=lambda config: {"algorithm": config["algorithm"]},
    summary=lambda game, history: (
        f"{game.name}: {history[-1]['algorithm'] if history else '?'}, {len(history)} iterations, "
        f"exploitability {history[-1]['exploitability']:.4g}" if history else f"{game.name}: no iterations"),
    meta_solver=False, finish=_finish)
