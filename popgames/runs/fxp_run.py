"""FXP's part of the driver (:mod:`popgames.runs.driver`): ``python -m popgames.fxp GAME_DIR``.

Same run folder as PSRO: ``config.toml``, ``metrics.jsonl``, an atomic
``checkpoint/state.safetensors`` written every iteration (policies as arrays through the
learner, never pickled), ``--resume`` giving the same metrics as an uninterrupted run,
and ``report.md`` with plots. ``--option KEY=VALUE`` sets a loop option (``cross_play``,
``cross_weights``, ``self_play``, ``symmetric``) or else a learner option (e.g.
``lr=2.0``, or for ``ppo`` any PPO option such as ``updates=20``); the card's ``[fxp]``
table gives defaults (a markov card's ``[oracle]`` table gives the PPO learner's).
``--device`` reaches the ``ppo`` learner. The report has FXP's sections
(:mod:`popgames.analysis.reports.fxp`).
"""

from __future__ import annotations

import argparse
from typing import Any, Iterator, Mapping

from popgames.core.protocols import Game, Learner
from popgames.kinds.cards import FXP_LOOP_OPTIONS as LOOP_OPTIONS
from popgames.kinds.registry import kind_of
from popgames.loops.fxp.loop import fxp
from popgames.loops.fxp.options import check_loop_options, default_learner, make_learner
from popgames.loops.fxp.state import FxpState, state_arrays, state_from_arrays
from popgames.runs.driver import Config, LoopSpec, check_same_run
from popgames.runs.folder import RunFolderError
from popgames.runs.options import check_same_options, parse_option
from popgames.solvers import registry


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--learner", help="exact (matrix/OpenSpiel), team_pg (team games) or ppo (markov "
                                     "games); default by game kind")


def _settings(args: argparse.Namespace, game: Game, table: Mapping[str, Any]) -> Config:
    source = str(game.source or game.name)
    meta_solver = args.meta_solver or table.get("meta_solver", "nash")
    solver_options = dict(game.solver_options.get(meta_solver, {}))
    registry.check_options(meta_solver, solver_options, source)
    loop = {k: table[k] for k in LOOP_OPTIONS if k in table}
    learner_options = dict(table.get("learner_options", {}))
    flags = dict(parse_option(o) for o in args.option)
    for key, value in flags.items():
        (loop if key in LOOP_OPTIONS else learner_options)[key] = value
    learner = args.learner or table.get("learner") or default_learner(game)
    kind = kind_of(game)
    if learner == kind.default_learner and kind.check_oracle_options is not None:
        # The kind's own learner takes its oracle's options: a bad value set by --option is
        # blamed on the flag (the learner would blame the card). seed/device are the run's,
        # refused by make_learner.
        options = {k: v for k, v in {**game.oracle_options, **learner_options}.items()
                   if k not in ("seed", "device")}
        kind.check_oracle_options(game, options, {k: "--option" for k in flags if k in options})
    return {"algorithm": "fxp", "learner": learner, "learner_options": learner_options,
            "loop_options": loop, "solver_options": solver_options}


def _check_resume(saved: Config, wanted: Config, args: argparse.Namespace) -> Config:
    """On resume the saved config rules; an explicitly different flag is an error."""
    if saved.get("algorithm") != "fxp":
        raise RunFolderError(f"{args.out}: not an FXP run")
    check_same_run(saved, wanted, args, ("meta_solver", "seed", "learner"))
    merged = {**saved, "learner_options": saved.get("learner_options", {}),
              "loop_options": saved.get("loop_options", {}),
              "solver_options": saved.get("solver_options", {})}
    flags = dict(parse_option(o) for o in args.option)
    check_same_options(args.out, "--option", {k: v for k, v in flags.items() if k in LOOP_OPTIONS},
                       merged["loop_options"])
    check_same_options(args.out, "--option", {k: v for k, v in flags.items() if k not in LOOP_OPTIONS},
                       merged["learner_options"])
    return merged


def _learner(game: Game, config: Config) -> Learner:
    learner = make_learner(game, config["learner"], config["learner_options"], seed=config["seed"],
                           device=config.get("device", "cpu"))
    check_loop_options(learner, **config["loop_options"])
    return learner


def _run(game: Game, config: Config, learner: Learner, state: FxpState | None) -> Iterator[Any]:
    return fxp(game, config["iterations"], config["seed"], learner=learner,
               meta_solver=config["meta_solver"], solver_options=config["solver_options"],
               state=state, **config["loop_options"])


def _summary(game: Game, history: list[dict[str, Any]]) -> str:
    last = history[-1]["exploitability"] if history else None
    return (f"{game.name}: FXP, {len(history)} iterations, exploitability of the main "
            f"{'n/a' if last is None else f'{last:.4g}'}")


FXP = LoopSpec(
    name="fxp",
    description="Fictitious cross-play (Xu et al. 2023): train a main policy by self-play and "
                "cross-play against a counter population of best responses to its past versions. "
                "Writes config.toml, metrics.jsonl, checkpoint/ and report.md with plots.",
    table=lambda game: game.fxp, default_iterations=30, add_flags=_flags, settings=_settings,
    check_resume=_check_resume,
    out_name=lambda config: f"fxp-{config['learner']}-seed{config['seed']}",
    runner=_learner, run=_run, save=lambda record, runner: state_arrays(record.state, runner),
    load=lambda arrays, meta, learner, config: state_from_arrays(arrays, meta, learner),
    owner=lambda config: {"algorithm": "fxp"},
    summary=_summary)
