"""The mean-field loops' part of the driver (:mod:`popgames.runs.driver`):
``python -m popgames.meanfield GAME_DIR --algorithm fp|omd|fixed_point|prior_descent``.

``--option KEY=VALUE`` sets an algorithm option (``lr`` for omd, ``temperature`` for
fixed_point and prior_descent, ``inner`` for prior_descent), over the card's ``[meanfield]``
table. The checkpoint holds the algorithm's arrays (the policy, OMD's cumulative values,
prior descent's prior) and the final flow; the report is
:mod:`popgames.analysis.reports.mean_field`'s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from popgames.core.errors import PopgamesError
from popgames.core.protocols import Game
from popgames.loops.mean_field.loop import (ALGORITHMS, MeanFieldState, check_options, mean_field,
                                            state_arrays, state_from_arrays)
from popgames.runs.driver import Config, LoopSpec, check_same_run
from popgames.runs.files import atomic_write
from popgames.runs.folder import RunFolderError
from popgames.runs.options import check_same_options, parse_option

KINDS = ("mean_field", "graphon")


def _table(game: Game) -> Mapping[str, Any]:
    if game.kind not in KINDS:
        raise PopgamesError(f"{game.name}: python -m popgames.meanfield needs a mean-field or graphon "
                            f"game, not a {game.kind} game")
    return game.meanfield


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algorithm", choices=tuple(ALGORITHMS),
                   help="fp (fictitious play), omd (online mirror descent), fixed_point (Boltzmann "
                        "fixed point; temperature 0: best responses) or prior_descent (default: the "
                        "card's [meanfield] algorithm, else fp)")


def _settings(args: argparse.Namespace, game: Game, table: Mapping[str, Any]) -> Config:
    algorithm = args.algorithm or table.get("algorithm", "fp")
    options = {**dict(table.get("options", {})), **dict(parse_option(o) for o in args.option)}
    check_options(algorithm, options)
    return {"algorithm": algorithm, "options": options}


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


#: The N-agent check after a run: agents and episodes (cost grows like N^2 per step on graphons).
N_AGENTS = ((10, 400), (100, 40), (1000, 10))


def _finish(game: Game, config: Config, run_dir: Path, record: Any) -> None:
    """The final policy's N-agent check (:mod:`popgames.kinds.mean_field.n_agent`), kept as
    ``n_agent.json`` for the report."""
    from popgames.kinds.mean_field.n_agent import n_agent_check

    checks = []
    for n, episodes in N_AGENTS:
        check = n_agent_check(game, record.policy, n, episodes=episodes, seed=config["seed"])
        checks.append({k: check[k] for k in ("n", "episodes", "max_gap", "interval", "mean_gap",
                                             "mean_gap_error")})
    atomic_write(run_dir / "n_agent.json", json.dumps(checks, indent=1).encode())


def _report(run_dir: Any) -> Any:
    from popgames.analysis.reports import write_report

    return write_report(run_dir)


MEAN_FIELD = LoopSpec(
    name="meanfield",
    description="Solve a mean-field or graphon game by fictitious play, online mirror descent, the "
                "Boltzmann fixed point or prior descent, with exact exploitability every iteration. "
                "Writes config.toml, metrics.jsonl, checkpoint/ and report.md with plots.",
    table=_table, default_iterations=100, add_flags=_flags, settings=_settings,
    check_resume=_check_resume, out_name=lambda config: f"{config['algorithm']}-seed{config['seed']}",
    runner=lambda game, config: game.rules, run=_run,
    save=lambda record, rules: state_arrays(record.state, record.mu),
    load=lambda arrays, meta, rules, config: state_from_arrays(arrays, meta, rules),
    owner=lambda config: {"algorithm": config["algorithm"]},
    report=_report, summary=lambda game, history: (
        f"{game.name}: {history[-1]['algorithm'] if history else '?'}, {len(history)} iterations, "
        f"exploitability {history[-1]['exploitability']:.4g}" if history else f"{game.name}: no iterations"),
    meta_solver=False, finish=_finish)
