"""PSRO's part of the driver (:mod:`popgames.runs.driver`): ``python -m popgames.psro GAME_DIR``.

``--option`` sets meta-solver options (over the card's ``[solvers.<name>]``), ``--oracle``
chooses among the kind's oracles (over the card's ``[psro] oracle``), ``--oracle-option``
sets learned-oracle options (over the card's ``[oracle]``), ``--tie-break`` the exact
oracles' rule.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterator, Mapping

from popgames.core.protocols import TIE_BREAKS, Game, Oracle, OracleSettings
from popgames.kinds.registry import oracle_for, oracle_name, oracle_options
from popgames.loops.psro import PsroState, psro
from popgames.loops.psro_checkpoint import state_arrays, state_from_arrays
from popgames.runs.driver import Config, LoopSpec, check_same_run
from popgames.runs.options import check_same_options, parse_option
from popgames.solvers import registry


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--oracle", help="which of the game kind's oracles computes best responses "
                                    "(default: the card's [psro] oracle, else the kind's default)")
    p.add_argument("--tie-break", choices=TIE_BREAKS,
                   help="how the exact best response chooses among equally good actions: 'tremble' "
                        "(default; best also against opponents that tremble with vanishing "
                        "probability, so it plays well off the meta-strategy's path) or 'lowest' "
                        "(lowest action index, as OpenSpiel's TabularBestResponse)")
    p.add_argument("--oracle-option", action="append", default=[], metavar="KEY=VALUE",
                   help="learned-oracle (PPO) option over the card's [oracle] table, e.g. updates=40 "
                        "or advantage_alignment=true (repeatable)")


def _settings(args: argparse.Namespace, game: Game, table: Mapping[str, Any]) -> Config:
    meta_solver = args.meta_solver or table.get("meta_solver", "nash")
    source = str(game.source or game.name)
    card_options = dict(game.solver_options.get(meta_solver, {}))
    flag_options = dict(parse_option(o) for o in args.option)
    registry.check_options(meta_solver, card_options, source)
    options = {**card_options, **flag_options}
    if flag_options:
        registry.check_options(meta_solver, options, "--option")  # names and values
    # Checked now, not mid-run; a bad key is blamed on the card's [oracle] table or the flag.
    chosen = oracle_options(game, dict(parse_option(o) for o in args.oracle_option))
    return {"solver_options": options, "tie_break": args.tie_break or table.get("tie_break", "tremble"),
            "oracle": oracle_name(game, args.oracle), "oracle_options": chosen}


def _check_resume(saved: Config, wanted: Config, args: argparse.Namespace) -> Config:
    """On resume the saved config rules; an explicitly different flag is an error, not a silent change."""
    # Runs written before tie-breaking was configurable used the lowest action index.
    saved = {**saved, "tie_break": saved.get("tie_break", "lowest")}
    check_same_run(saved, wanted, args, ("meta_solver", "seed", "tie_break", "oracle"))
    merged = {**saved, "solver_options": saved.get("solver_options", {})}
    check_same_options(args.out, "--option", dict(parse_option(o) for o in args.option),
                       merged["solver_options"])
    check_same_options(args.out, "--oracle-option", dict(parse_option(o) for o in args.oracle_option),
                       saved.get("oracle_options", {}))
    return merged


def _oracle(game: Game, config: Config) -> Oracle:
    return oracle_for(game, config.get("oracle"), OracleSettings(
        seed=config["seed"], device=config["device"], tie_break=config["tie_break"],
        options=config.get("oracle_options", {})))


def _run(game: Game, config: Config, oracle: Oracle, state: PsroState | None) -> Iterator[Any]:
    return psro(game, config["meta_solver"], config["iterations"], config["seed"],
                config["solver_options"], oracle=oracle, state=state)


def _summary(game: Game, history: list[dict[str, Any]]) -> str:
    return (f"{game.name}: {len(history)} iterations, exploitability "
            f"{history[-1]['exploitability']:.4g}")


PSRO = LoopSpec(
    name="psro",
    description="Grow a population by PSRO (JPSRO with --meta-solver ce/cce) and write a run "
                "folder: config.toml, metrics.jsonl, checkpoint/, report.md with plots.",
    table=lambda game: game.psro, default_iterations=20, add_flags=_flags, settings=_settings,
    check_resume=_check_resume,
    out_name=lambda config: f"{config['meta_solver']}-seed{config['seed']}",
    runner=_oracle, run=_run, save=lambda record, runner: state_arrays(record.state, runner),
    load=lambda arrays, meta, oracle, config: state_from_arrays(arrays, meta, oracle),
    owner=lambda config: {"meta_solver": config["meta_solver"]},
    summary=_summary)
