"""The one command-line driver behind ``python -m popgames.psro`` and ``python -m popgames.fxp``.

Thin by design: it reads the card and flags, creates or resumes the run folder, pulls
records from the loop's generator, checkpoints after every iteration and writes the
report at the end. Each loop contributes a :class:`LoopSpec` (its own flags, settings,
runner -- oracle or learner -- and checkpoint form); everything else is here.

Every flag and option is checked before the folder is touched; the folder is then locked
for the whole run (:meth:`popgames.runs.folder.RunFolder.locked`). ``--resume`` refuses a
flag whose value differs from the run's and fewer ``--iterations`` than are done, and falls
back to the previous checkpoint when the latest is damaged. The run's tasks go where
``--backend`` says (:func:`popgames.core.parallel.use_backend`); the backend flags change no
number, so they are not in ``config.toml`` and a resume may use another backend.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from popgames.core.devices import check_device
from popgames.core.errors import PopgamesError
from popgames.core.parallel import use_backend
from popgames.core.protocols import Game
from popgames.core.version import __version__
from popgames.kinds.registry import kind_of, load_game
from popgames.runs.facts import write_game_facts
from popgames.runs.folder import RunFolder, RunFolderError
from popgames.runs.options import (
    add_backend_flags,
    backend_of,
    card_digest,
    check_seed,
    resume_checkpoint,
)
from popgames.solvers import registry

Config = dict[str, Any]


@dataclass(frozen=True)
class LoopSpec:
    """What one loop adds to the driver.

    ``settings(args, game, table)`` returns the loop's own config entries (checked; ``table``
    is the card's table for the loop); ``check_resume(saved, wanted, args)`` refuses flags
    that differ from the saved run and returns the config to continue with; ``runner``
    builds the oracle or learner; ``run(game, config, runner, state)`` is the loop's
    generator; ``save(record, runner)`` / ``load(arrays, meta, runner, config)`` its checkpoint
    form; ``owner(config)`` the checkpoint fields that tie it to this run (every loop's report
    is :func:`popgames.analysis.reports.write_report`'s). ``meta_solver``:
    whether the loop solves meta-games (``--meta-solver`` and the config's ``meta_solver``);
    ``finish(game, config, run_dir, last_record)``, if given, runs after the loop's last new
    iteration, before the report (e.g. the mean-field N-agent check).
    """

    name: str
    description: str
    table: Callable[[Game], Mapping[str, Any]]
    default_iterations: int
    add_flags: Callable[[argparse.ArgumentParser], None]
    settings: Callable[[argparse.Namespace, Game, Mapping[str, Any]], Config]
    check_resume: Callable[[Config, Config, argparse.Namespace], Config]
    out_name: Callable[[Config], str]
    runner: Callable[[Game, Config], Any]
    run: Callable[[Game, Config, Any, Any], Iterator[Any]]
    save: Callable[[Any, Any], tuple[dict[str, Any], dict[str, Any]]]
    load: Callable[[dict[str, Any], dict[str, Any], Any, Config], Any]
    owner: Callable[[Config], dict[str, Any]]
    summary: Callable[[Game, list[dict[str, Any]]], str]
    meta_solver: bool = True
    finish: Callable[[Game, Config, Path, Any], None] | None = None


def parser(spec: LoopSpec) -> argparse.ArgumentParser:
    """The flags every loop shares, then the loop's own."""
    p = argparse.ArgumentParser(prog=f"python -m popgames.{spec.name}", description=spec.description)
    p.add_argument("game", help="game folder with a game.toml (e.g. games/kuhn_poker) or a built-in name")
    p.add_argument("--iterations", type=int, help=f"total iterations (default: the card's [{spec.name}] "
                                                 f"value, else {spec.default_iterations})")
    if spec.meta_solver:
        p.add_argument("--meta-solver", help="meta-solver registry name, e.g. nash, rae, cce, ce, "
                                             f"alpharank (default: the card's [{spec.name}] meta_solver, else nash)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="loop or solver option (repeatable; overrides the card)")
    p.add_argument("--seed", type=int, help="root random seed (default: the card's, else 0)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<game>/...)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint; gives the same metrics "
                        "as an uninterrupted run")
    p.add_argument("--device", default="auto",
                   help="torch device of learned oracles and learners: auto (cuda when present, "
                        "else cpu), cpu or cuda[:N]; asking for cuda where there is none is an error")
    p.add_argument("--no-report", action="store_true", help="skip writing report.md and plots")
    add_backend_flags(p)
    spec.add_flags(p)
    return p


def _settings(spec: LoopSpec, args: argparse.Namespace, game: Game) -> Config:
    """The run's settings from the card and flags, every one checked: nothing is written yet."""
    kind = kind_of(game)
    if spec.name not in kind.loops:
        raise PopgamesError(f"{game.name}: python -m popgames.{spec.name} does not run {kind.name} games "
                            f"(they run under: {', '.join(f'popgames.{loop}' for loop in kind.loops)})")
    table = spec.table(game)
    source = str(game.source or game.name)
    iterations = args.iterations if args.iterations is not None else table.get(
        "iterations", spec.default_iterations)
    if iterations < 1:
        raise PopgamesError(f"--iterations {iterations}: must be at least 1")
    seed = check_seed(args.seed if args.seed is not None else table.get("seed", 0),
                      args.seed is not None, source, f"{spec.name}.seed")
    # Only a kind that runs on a torch device pays for importing torch to resolve "auto".
    device = check_device(args.device) if args.device != "auto" or kind.torch_device else "cpu"
    shared = {"game": str(args.game), "game_name": game.name, "card_sha256": card_digest(game),
              "iterations": int(iterations), "seed": seed, "device": device,
              "popgames_version": __version__}
    if spec.meta_solver:
        shared["meta_solver"] = args.meta_solver or table.get("meta_solver", "nash")
        registry.entry(shared["meta_solver"])
    return {**shared, **spec.settings(args, game, table)}


def check_same_run(saved: Config, wanted: Config, args: argparse.Namespace, flags: tuple[str, ...]) -> None:
    """Refuse a resume of another game's run, or with a flag in ``flags`` (argparse names)
    given a value that differs from the saved run's."""
    if saved.get("card_sha256") != wanted["card_sha256"] or saved.get("game_name") != wanted["game_name"]:
        raise RunFolderError(f"{args.out}: the run is for game {saved.get('game_name')!r} "
                             f"(card {saved.get('card_sha256')}), not {wanted['game_name']!r} "
                             f"(card {wanted['card_sha256']})")
    for flag in flags:
        if getattr(args, flag) is not None and saved.get(flag) != wanted[flag]:
            raise RunFolderError(f"{args.out}: --{flag.replace('_', '-')} {wanted[flag]!r} differs from "
                                 f"the run's {saved.get(flag)!r}")


def _resume(spec: LoopSpec, folder: RunFolder, game: Game, wanted: Config,
            args: argparse.Namespace) -> tuple[Config, Any, Any]:
    """The config, runner and state of the run in ``folder`` (locked), checked against the flags."""
    saved = folder.read_config()
    config = spec.check_resume(saved, wanted, args)
    if args.iterations is not None:
        config["iterations"] = wanted["iterations"]
    runner = spec.runner(game, config)

    def build(arrays: dict[str, Any], meta: dict[str, Any]) -> Any:
        if any(meta.get(k) != v for k, v in {"card_sha256": config["card_sha256"],
                                              **spec.owner(config)}.items()):
            raise PopgamesError(f"it belongs to another run ({meta.get('game_name')}, "
                                f"{meta.get('meta_solver', meta.get('algorithm'))})")
        return spec.load(arrays, meta, runner, config)

    state = resume_checkpoint(folder, build, args.iterations, lambda s: s.iteration)
    folder.write_metrics(state.history)  # drop any line written after the checkpoint
    if config != saved:
        folder.write_config(config)  # e.g. more --iterations: the config must repeat the run
    return config, runner, state


def main(spec: LoopSpec, argv: list[str] | None = None) -> int:
    """Run the loop of ``spec`` from the command line ``argv``; returns the exit status."""
    from tqdm import tqdm

    args = parser(spec).parse_args(argv)
    backend = backend_of(args)
    game = load_game(args.game)
    wanted = _settings(spec, args, game)
    args.out = args.out or Path("runs") / game.name / spec.out_name(wanted)
    folder = RunFolder(args.out)
    # Everything is checked before the folder is touched: a bad flag leaves nothing behind.
    runner = None if args.resume else spec.runner(game, wanted)
    # One process per folder for the whole run; a second one is refused, touching nothing. The
    # backend (a Ray cluster: started or joined) is up before the folder is touched, and down
    # after, on an interrupt too.
    with use_backend(backend), folder.locked(create=not args.resume):
        state = None
        if args.resume:
            config, runner, state = _resume(spec, folder, game, wanted, args)
        else:
            config = wanted
            folder.start(config)
        # What the report needs of the game, stored so rebuilding it never loads the game.
        write_game_facts(folder.path, game)
        history, record = (state.history if state else []), None
        with tqdm(total=config["iterations"], initial=len(history), disable=not sys.stderr.isatty(),
                  desc=f"{spec.name} {game.name}", unit="it") as bar:
            for record in spec.run(game, config, runner, state):
                arrays, meta = spec.save(record, runner)
                meta.update(card_sha256=config["card_sha256"], game_name=config["game_name"],
                            **spec.owner(config))
                folder.save_checkpoint(arrays, meta)
                folder.write_metrics(record.state.history)
                history = record.state.history
                if record.exploitability is not None:
                    bar.set_postfix(exploitability=f"{record.exploitability:.3g}")
                bar.update(1)
        if spec.finish is not None and record is not None:
            spec.finish(game, config, folder.path, record)
        if not args.no_report:   # the sections follow what the records hold, whatever the loop
            from popgames.analysis.reports import write_report

            write_report(folder.path)
    print(f"{spec.summary(game, history)} -> {folder.path}")
    return 0
