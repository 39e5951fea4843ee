"""The command-line driver behind ``python -m popgames.fxp GAME_DIR``.

Same run folder as PSRO (:mod:`popgames.run_folder`): ``config.toml``,
``metrics.jsonl``, an atomic ``checkpoint/state.safetensors`` written every
iteration (policies as arrays through the learner, never pickled), ``--resume``
giving the same metrics as an uninterrupted run, and ``report.md`` with plots.
``--option KEY=VALUE`` sets a loop option (``cross_play``, ``cross_weights``,
``self_play``, ``symmetric``) or else a learner option (e.g. ``lr=2.0``, or for ``ppo``
any PPO option such as ``updates=20``); the card's ``[fxp]`` table gives defaults (a
markov card's ``[oracle]`` table gives the PPO learner's). ``--device`` reaches the
``ppo`` learner. The report is :func:`popgames.fxp_report.write_fxp_report`. Checks, the
folder's lock and the resume rules are those of :mod:`popgames.run_driver`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

import popgames
from popgames.cli_common import (card_digest, check_same_options, check_seed, parse_option,
                                 resume_checkpoint)
from popgames.errors import PopgamesError
from popgames.fxp import (LOOP_OPTIONS, FxpState, Learner, check_card_table, check_loop_options,
                          default_learner, fxp, make_learner, state_arrays, state_from_arrays)
from popgames.fxp_report import write_fxp_report  # noqa: F401  (also reached from here)
from popgames.game_card import load_game
from popgames.run_driver import check_device
from popgames.run_folder import RunFolder, RunFolderError
from popgames.solvers import registry


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m popgames.fxp",
        description="Fictitious cross-play (Xu et al. 2023): train a main policy by self-play and "
                    "cross-play against a counter population of best responses to its past versions. "
                    "Writes config.toml, metrics.jsonl, checkpoint/ and report.md with plots.")
    p.add_argument("game", help="game folder with a game.toml (e.g. games/fxp_team_game) or a built-in name")
    p.add_argument("--iterations", type=int,
                   help="total FXP iterations (default: the card's [fxp] value, else 30)")
    p.add_argument("--learner", help="exact (matrix/OpenSpiel), team_pg (team games) or ppo (markov "
                                     "games); default by game kind")
    p.add_argument("--meta-solver", help="solver of the main-history x counters meta-game (default nash)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help=f"loop option ({', '.join(LOOP_OPTIONS)}) or learner option (repeatable)")
    p.add_argument("--seed", type=int, help="root random seed (default: the card's, else 0)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<game>/fxp-<learner>-seed<S>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--device", default="auto",
                   help="torch device of the ppo learner: auto (cuda when present, else cpu), cpu or "
                        "cuda[:N]; asking for cuda where there is none is an error")
    p.add_argument("--no-report", action="store_true", help="skip writing report.md and plots")
    return p


def _card_table(game: Any) -> dict[str, Any]:
    table = dict(getattr(game, "fxp", {}) or {})
    check_card_table(table, str(getattr(game, "source", None) or game.name))
    return table


def _settings(args: argparse.Namespace, game: Any) -> dict[str, Any]:
    """The run's settings from the card and flags, every one checked: nothing is written yet."""
    card = _card_table(game)
    source = str(getattr(game, "source", None) or game.name)
    meta_solver = args.meta_solver or card.get("meta_solver", "nash")
    registry.entry(meta_solver)
    solver_options = dict(getattr(game, "solver_options", {}).get(meta_solver, {}))
    registry.check_options(meta_solver, solver_options, source)
    loop = {k: card[k] for k in LOOP_OPTIONS if k in card}
    learner_options = dict(card.get("learner_options", {}))
    flags = dict(parse_option(o) for o in args.option)
    for key, value in flags.items():
        (loop if key in LOOP_OPTIONS else learner_options)[key] = value
    iterations = args.iterations if args.iterations is not None else card.get("iterations", 30)
    if iterations < 1:
        raise PopgamesError(f"--iterations {iterations}: must be at least 1")
    seed = check_seed(args.seed if args.seed is not None else card.get("seed", 0),
                      args.seed is not None, source, "fxp.seed")
    learner = args.learner or card.get("learner") or default_learner(game)
    if learner == "ppo" and type(game).__name__ == "MarkovGame":
        from popgames.ppo_oracle import PpoConfig

        # The learner checks these too, blaming the card; here a bad value set by --option is
        # blamed on the flag. seed/device are the run's, refused by make_learner.
        options = {k: v for k, v in {**game.oracle_options, **learner_options}.items()
                   if k not in ("seed", "device")}
        PpoConfig.from_options(options, source, {k: "--option" for k in flags if k in options})
    return {"algorithm": "fxp", "game": str(args.game), "game_name": game.name,
            "card_sha256": card_digest(game), "learner": learner,
            "learner_options": learner_options,
            "loop_options": loop, "meta_solver": meta_solver, "solver_options": solver_options,
            "iterations": int(iterations), "seed": seed,
            "device": check_device(args.device), "popgames_version": popgames.__version__}


def _check_resume(saved: dict[str, Any], wanted: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """On resume the saved config rules; an explicitly different flag is an error."""
    if saved.get("algorithm") != "fxp":
        raise RunFolderError(f"{args.out}: not an FXP run")
    if saved.get("card_sha256") != wanted["card_sha256"] or saved.get("game_name") != wanted["game_name"]:
        raise RunFolderError(f"{args.out}: the run is for game {saved.get('game_name')!r} "
                             f"(card {saved.get('card_sha256')}), not {wanted['game_name']!r}")
    for flag, key in (("meta_solver", "meta_solver"), ("seed", "seed"), ("learner", "learner")):
        if getattr(args, flag) is not None and saved.get(key) != wanted[key]:
            raise RunFolderError(f"{args.out}: --{flag.replace('_', '-')} {wanted[key]!r} differs from "
                                 f"the run's {saved.get(key)!r}")
    merged = {**saved, "learner_options": saved.get("learner_options", {}),
              "loop_options": saved.get("loop_options", {}),
              "solver_options": saved.get("solver_options", {})}
    flags = dict(parse_option(o) for o in args.option)
    check_same_options(args.out, "--option", {k: v for k, v in flags.items() if k in LOOP_OPTIONS},
                       merged["loop_options"])
    check_same_options(args.out, "--option", {k: v for k, v in flags.items() if k not in LOOP_OPTIONS},
                       merged["learner_options"])
    if args.iterations is not None:
        merged["iterations"] = wanted["iterations"]
    return merged


def _learner(game: Any, config: dict[str, Any]) -> Learner:
    learner = make_learner(game, config["learner"], config["learner_options"], seed=config["seed"],
                           device=config.get("device", "cpu"))
    check_loop_options(learner, **config["loop_options"])
    return learner


def _resume(folder: RunFolder, game: Any, wanted: dict[str, Any], args: argparse.Namespace
            ) -> tuple[dict[str, Any], Learner, FxpState]:
    """The config, learner and state of the run in ``folder`` (locked), checked against the flags."""
    saved = folder.read_config()
    config = _check_resume(saved, wanted, args)
    learner = _learner(game, config)

    def build(arrays: dict[str, Any], meta: dict[str, Any]) -> FxpState:
        if meta.get("card_sha256") != config["card_sha256"] or meta.get("algorithm") != "fxp":
            raise PopgamesError("it belongs to another run")
        return state_from_arrays(arrays, meta, learner)

    state = resume_checkpoint(folder, build, args.iterations, lambda s: s.iteration)
    folder.write_metrics(state.history)  # drop any line written after the checkpoint
    if config != saved:
        folder.write_config(config)  # e.g. more --iterations: the config must repeat the run
    return config, learner, state


def fxp_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    game = load_game(args.game)
    wanted = _settings(args, game)
    args.out = args.out or Path("runs") / game.name / f"fxp-{wanted['learner']}-seed{wanted['seed']}"
    folder = RunFolder(args.out)
    # Everything is checked before the folder is touched: a bad option leaves nothing behind.
    learner = None if args.resume else _learner(game, wanted)
    # One process per folder for the whole run; a second one is refused, touching nothing.
    with folder.locked(create=not args.resume):
        state = None
        if args.resume:
            config, learner, state = _resume(folder, game, wanted, args)
        else:
            config = wanted
            folder.start(config)
        loop = fxp(game, config["iterations"], config["seed"], learner=learner,
                   meta_solver=config["meta_solver"], solver_options=config["solver_options"],
                   state=state, **config["loop_options"])
        history = state.history if state else []
        with tqdm(total=config["iterations"], initial=len(history), disable=not sys.stderr.isatty(),
                  desc=f"fxp {game.name}", unit="it") as bar:
            for record in loop:
                arrays, meta = state_arrays(record.state, learner)
                meta.update(card_sha256=config["card_sha256"], algorithm="fxp",
                            game_name=config["game_name"])
                folder.save_checkpoint(arrays, meta)
                folder.write_metrics(record.state.history)
                history = record.state.history
                if record.exploitability is not None:
                    bar.set_postfix(exploitability=f"{record.exploitability:.3g}")
                bar.update(1)
        if not args.no_report:
            write_fxp_report(folder.path)
    last = history[-1]["exploitability"] if history else None
    print(f"{game.name}: FXP, {len(history)} iterations, exploitability of the main "
          f"{'n/a' if last is None else f'{last:.4g}'} -> {folder.path}")
    return 0
