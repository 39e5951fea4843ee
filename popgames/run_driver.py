"""The command-line driver behind ``python -m popgames.psro GAME_DIR``.

Thin by design: it reads the card and flags, creates or resumes the run folder, pulls
records from the :func:`popgames.psro.psro` generator, checkpoints after every
iteration and writes the report at the end. All algorithmic work is in the loop.

Every flag and option is checked before the folder is touched; the folder is then locked
for the whole run (:meth:`popgames.run_folder.RunFolder.locked`). ``--resume`` refuses a
flag whose value differs from the run's (``--option``, ``--oracle-option``, ``--seed``,
...) and fewer ``--iterations`` than are done, and falls back to the previous checkpoint
when the latest is damaged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

import popgames
from popgames.analysis.game_facts import write_game_facts
from popgames.cli_common import (card_digest, check_same_options, check_seed, parse_option,
                                 resume_checkpoint)
from popgames.errors import PopgamesError
from popgames.exact_oracles import TIE_BREAKS, oracle_for
from popgames.game_card import load_game
from popgames.psro import PsroState, psro
from popgames.psro_checkpoint import state_arrays, state_from_arrays
from popgames.run_folder import RunFolder, RunFolderError
from popgames.solvers import registry


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m popgames.psro",
        description="Grow a population by PSRO (JPSRO with --meta-solver ce/cce) and write a run "
                    "folder: config.toml, metrics.jsonl, checkpoint/, report.md with plots.")
    p.add_argument("game", help="game folder with a game.toml (e.g. games/kuhn_poker) or a built-in name")
    p.add_argument("--iterations", type=int, help="total PSRO iterations (default: the card's [psro] value)")
    p.add_argument("--meta-solver", help="meta-solver registry name, e.g. nash, rae, cce, ce, alpharank "
                                         "(default: the card's [psro] meta_solver, else nash)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="meta-solver option, e.g. objective=max_gini (repeatable; overrides the card)")
    p.add_argument("--seed", type=int, help="root random seed (default: the card's, else 0)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<game>/<meta-solver>-seed<S>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint; gives the same metrics "
                        "as an uninterrupted run")
    p.add_argument("--tie-break", choices=TIE_BREAKS,
                   help="how the exact best response chooses among equally good actions: 'tremble' "
                        "(default; best also against opponents that tremble with vanishing "
                        "probability, so it plays well off the meta-strategy's path) or 'lowest' "
                        "(lowest action index, as OpenSpiel's TabularBestResponse)")
    p.add_argument("--oracle-option", action="append", default=[], metavar="KEY=VALUE",
                   help="learned-oracle (PPO) option over the card's [oracle] table, e.g. updates=40 "
                        "or advantage_alignment=true (repeatable)")
    p.add_argument("--device", default="auto",
                   help="torch device for learned oracles: auto (cuda when present, else cpu), cpu "
                        "or cuda[:N]; asking for cuda where there is none is an error")
    p.add_argument("--no-report", action="store_true", help="skip writing report.md and plots")
    return p


def check_device(device: str) -> str:
    """Validate a torch device name; asking for CUDA where there is none is an error.

    ``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu`` (torch is imported
    only then, so matrix runs on ``cpu`` never load it).
    """
    if device == "cpu":
        return device
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if not device.startswith("cuda"):
        raise PopgamesError(f"--device {device!r}: expected 'cpu' or 'cuda[:N]'")
    import torch  # only paid for when a GPU is asked for

    if not torch.cuda.is_available():
        raise PopgamesError(f"--device {device!r}: CUDA is not available on this machine")
    return device


def _settings(args: argparse.Namespace, game: Any) -> dict[str, Any]:
    """The run's settings from the card and flags, every one checked: nothing is written yet."""
    card = dict(getattr(game, "psro", {}))
    source = str(getattr(game, "source", None) or game.name)
    meta_solver = args.meta_solver or card.get("meta_solver", "nash")
    registry.entry(meta_solver)
    card_options = dict(getattr(game, "solver_options", {}).get(meta_solver, {}))
    flag_options = dict(parse_option(o) for o in args.option)
    registry.check_options(meta_solver, card_options, source)
    options = {**card_options, **flag_options}
    if flag_options:
        registry.check_options(meta_solver, options, "--option")  # names and values
    oracle_options = {}
    if type(game).__name__ == "MarkovGame":
        from popgames.ppo_oracle import PpoConfig

        flag_oracle = dict(parse_option(o) for o in args.oracle_option)
        oracle_options = {**game.oracle_options, **flag_oracle}
        # Fail now, not mid-run; a bad key is blamed on the card's [oracle] table or the flag.
        PpoConfig.from_options(oracle_options, source, {k: "--oracle-option" for k in flag_oracle})
    elif args.oracle_option:
        raise PopgamesError(f"--oracle-option: {game.name} has an exact oracle, which takes no options")
    iterations = args.iterations if args.iterations is not None else card.get("iterations", 20)
    if iterations < 1:
        raise PopgamesError(f"--iterations {iterations}: must be at least 1")
    seed = check_seed(args.seed if args.seed is not None else card.get("seed", 0),
                      args.seed is not None, source, "psro.seed")
    return {"game": str(args.game), "game_name": game.name, "card_sha256": card_digest(game),
            "meta_solver": meta_solver, "solver_options": options, "iterations": int(iterations),
            "seed": seed, "tie_break": args.tie_break or card.get("tie_break", "tremble"),
            "device": check_device(args.device), "oracle": card.get("oracle", "exact"),
            "oracle_options": oracle_options, "popgames_version": popgames.__version__}


def _check_resume(saved: dict[str, Any], wanted: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """On resume the saved config rules; an explicitly different flag is an error, not a silent change."""
    if saved.get("card_sha256") != wanted["card_sha256"] or saved.get("game_name") != wanted["game_name"]:
        raise RunFolderError(f"{args.out}: the run is for game {saved.get('game_name')!r} "
                             f"(card {saved.get('card_sha256')}), not {wanted['game_name']!r} "
                             f"(card {wanted['card_sha256']})")
    # Runs written before tie-breaking was configurable used the lowest action index.
    saved = {**saved, "tie_break": saved.get("tie_break", "lowest")}
    for flag, key in (("meta_solver", "meta_solver"), ("seed", "seed"), ("tie_break", "tie_break")):
        if getattr(args, flag) is not None and saved.get(key) != wanted[key]:
            raise RunFolderError(f"{args.out}: --{flag.replace('_', '-')} {wanted[key]!r} differs from "
                                 f"the run's {saved.get(key)!r}")
    merged = {**saved, "solver_options": saved.get("solver_options", {})}
    check_same_options(args.out, "--option", dict(parse_option(o) for o in args.option),
                       merged["solver_options"])
    check_same_options(args.out, "--oracle-option", dict(parse_option(o) for o in args.oracle_option),
                       saved.get("oracle_options", {}))
    if args.iterations is not None:
        merged["iterations"] = wanted["iterations"]
    return merged


def _oracle(game: Any, config: dict[str, Any]) -> Any:
    return oracle_for(game, tie_break=config["tie_break"], seed=config["seed"],
                      device=config["device"], options=config.get("oracle_options", {}))


def _resume(folder: RunFolder, game: Any, wanted: dict[str, Any], args: argparse.Namespace
            ) -> tuple[dict[str, Any], Any, PsroState]:
    """The config, oracle and state of the run in ``folder`` (locked), checked against the flags."""
    saved = folder.read_config()
    config = _check_resume(saved, wanted, args)
    oracle = _oracle(game, config)

    def build(arrays: dict[str, Any], meta: dict[str, Any]) -> PsroState:
        owner = (meta.get("card_sha256"), meta.get("meta_solver"))
        if owner != (config["card_sha256"], config["meta_solver"]):
            raise PopgamesError(f"it belongs to another run ({meta.get('game_name')}, "
                                f"{meta.get('meta_solver')})")
        return state_from_arrays(arrays, meta, oracle)

    state = resume_checkpoint(folder, build, args.iterations, lambda s: s.iteration)
    folder.write_metrics(state.history)  # drop any line written after the checkpoint
    if config != saved:
        folder.write_config(config)  # e.g. more --iterations: the config must repeat the run
    return config, oracle, state


def psro_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    game = load_game(args.game)
    wanted = _settings(args, game)
    args.out = args.out or Path("runs") / game.name / f"{wanted['meta_solver']}-seed{wanted['seed']}"
    folder = RunFolder(args.out)
    # Everything is checked before the folder is touched: a bad flag leaves nothing behind.
    oracle = None if args.resume else _oracle(game, wanted)
    # One process per folder for the whole run; a second one is refused, touching nothing.
    with folder.locked(create=not args.resume):
        state = None
        if args.resume:
            config, oracle, state = _resume(folder, game, wanted, args)
        else:
            config = wanted
            folder.start(config)
        # What the report needs of the game, stored so rebuilding it never loads the game.
        write_game_facts(folder.path, game)
        loop = psro(game, config["meta_solver"], config["iterations"], config["seed"],
                    config["solver_options"], oracle=oracle, state=state)
        done = state.iteration if state else 0
        history = state.history if state else []
        with tqdm(total=config["iterations"], initial=done, disable=not sys.stderr.isatty(),
                  desc=f"psro {game.name}", unit="it") as bar:
            for record in loop:
                arrays, meta = state_arrays(record.state, oracle)
                meta.update(card_sha256=config["card_sha256"], meta_solver=config["meta_solver"],
                            game_name=config["game_name"])
                folder.save_checkpoint(arrays, meta)
                folder.write_metrics(record.state.history)
                history = record.state.history
                bar.set_postfix(exploitability=f"{record.exploitability:.3g}")
                bar.update(1)
        if not args.no_report:
            from popgames.analysis.report import write_report

            write_report(folder.path)
    print(f"{game.name}: {len(history)} iterations, exploitability "
          f"{history[-1]['exploitability']:.4g} -> {folder.path}")
    return 0
