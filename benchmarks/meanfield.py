"""Mean-field loops beside their peers, same game, one process run.

    .venv/bin/python benchmarks/meanfield.py              # about a minute with every peer
    .venv/bin/python benchmarks/meanfield.py --peer-iterations 10 --graphons uniform_attachment

Peers: OpenSpiel (a dependency); mfglib 0.3.0 (``pip install --no-deps -r
benchmarks/peers.txt``; skipped when absent); Cui & Koeppl's graphon code
(tudkcui/gmfg-learning at 1b7a273, in its own venv, skipped when absent)::

    git --git-dir=<snapshot> archive HEAD $(git --git-dir=<snapshot> ls-tree -r --name-only HEAD \
        | grep -v '^results/') | tar -x -C /work/peers/gmfg-learning
    python3.11 -m venv /work/peers/venv
    /work/peers/venv/bin/pip install numpy torch==2.13.0 gym==0.26.2

* crowd_modelling (size 10, horizon 10), fictitious play and mirror descent with the exact
  exploitability of every iterate. Peer: OpenSpiel's ``FictitiousPlay`` and
  ``MirrorDescent`` on its C++ ``mfg_crowd_modelling`` with ``nash_conv.NashConv`` after
  every iteration (as its examples do). Ours: the card with ``openspiel_compat = true``
  (the peer's reward caching), so FP computes the same curve (compared); OpenSpiel's
  ``MirrorDescent`` evaluates a policy its update mutates, so its curve differs from
  textbook OMD (both final values printed). Per-iteration times.
* susceptible_infected and beach_bar, FP and OMD (lr 1) with exploitability every
  iteration. Peer: mfglib's ``FictitiousPlay`` and ``OnlineMirrorDescent`` in float64
  (curves compared), per-iteration times from its own ``solve``.
* sis_graphon: the uniform policy's exploitability at M = 101 beside the authors' code
  (values compared), and the Boltzmann fixed point (temperature 0.5) with exploitability
  every iteration at M = 101 and M = 1001 (ours only).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

import popgames
from popgames.kinds.graphon.game import GraphonRules
from popgames.kinds.graphon.graphons import graphon_matrix
from popgames.kinds.mean_field.exact import exploitability, uniform_policy
from popgames.loops.mean_field.loop import mean_field


def _peer_fp(iterations: int) -> tuple[list[float], float]:
    import pyspiel
    from open_spiel.python.mfg.algorithms import fictitious_play, nash_conv

    game = pyspiel.load_game("mfg_crowd_modelling")
    fp = fictitious_play.FictitiousPlay(game)
    curve, start = [], time.perf_counter()
    for _ in range(iterations):
        fp.iteration()
        curve.append(nash_conv.NashConv(game, fp.get_policy()).nash_conv())
    return curve, (time.perf_counter() - start) / iterations


def _peer_md(iterations: int, lr: float) -> tuple[list[float], float]:
    import pyspiel
    from open_spiel.python.mfg.algorithms import mirror_descent, nash_conv

    game = pyspiel.load_game("mfg_crowd_modelling")
    md = mirror_descent.MirrorDescent(game, lr=lr)
    curve, start = [], time.perf_counter()
    for _ in range(iterations):
        md.iteration()
        curve.append(nash_conv.NashConv(game, md.get_policy()).nash_conv())
    return curve, (time.perf_counter() - start) / iterations


def _timed(game: object, iterations: int, algorithm: str = "fp", options: dict | None = None
           ) -> tuple[list[float], float]:
    """Our curve and the best of three timings per iteration (after a warm-up)."""
    list(mean_field(game, 3, options, algorithm=algorithm))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        curve = [r.exploitability for r in mean_field(game, iterations, options, algorithm=algorithm)]
        best = min(best, (time.perf_counter() - start) / iterations)
    return curve, best


def _crowd_compat() -> object:
    from popgames.kinds.mean_field.game import MeanFieldGame

    base = popgames.load_game("crowd_modelling")
    rules = base.module.make({**base.params, "openspiel_compat": True})
    return MeanFieldGame(name="crowd_modelling", rules=rules, params=base.params, module=base.module)


def _peer_module(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"popgames_{name}", Path(__file__).parent / "peers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mfglib_section(iterations: int, peer_iterations: int) -> None:
    peer = _peer_module("mfglib_peer")
    if not peer.available():
        print("mfglib: not installed, skipped (pip install --no-deps -r benchmarks/peers.txt)")
        return
    for card in ("susceptible_infected", "beach_bar"):
        game = popgames.load_game(card)
        for algorithm in ("fp", "omd"):
            ours, ours_s = _timed(game, iterations, algorithm)
            theirs, theirs_s = peer.run(card, algorithm, peer_iterations)
            diff = float(np.max(np.abs(np.array(ours[:len(theirs)]) - np.array(theirs))))
            print(f"{card} {algorithm} + exploitability per iteration: ours {ours_s * 1e3:.3f} ms, mfglib "
                  f"(float64) {theirs_s * 1e3:.2f} ms, ratio {theirs_s / ours_s:.0f}x"
                  f"{' (target >= 100x)' if (card, algorithm) == ('susceptible_infected', 'fp') else ''}; "
                  f"curves agree to {diff:.1e} over {len(theirs)} iterations")


def _gmfg_section(graphons: list[str], code: Path, python: Path) -> None:
    if not (code / "games").is_dir() or not python.exists():
        print(f"gmfg-learning: no checkout at {code} or no interpreter {python}, skipped (see the docstring)")
        return
    peer = _peer_module("gmfg_peer")
    for name in graphons:
        game = popgames.load_game("sis_graphon")
        table = {"type": name, **({"p": 0.5} if name == "erdos_renyi" else {})}   # the authors' ER p
        game.rules = GraphonRules(game.rules.inner, graphon_matrix(table, 101))
        ours_s = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            ours = exploitability(game.rules, uniform_policy(game.rules))["exploitability"]
            ours_s = min(ours_s, time.perf_counter() - start)
        theirs = peer.run(code, python, "er" if name == "erdos_renyi" else name, 101)
        print(f"sis_graphon {name} M=101 uniform-policy exploitability: ours {ours:.12f} in {ours_s * 1e3:.1f} ms, "
              f"authors' {theirs['exploitability']:.12f} in {theirs['seconds']:.1f} s, ratio "
              f"{theirs['seconds'] / ours_s:.0f}x (target >= 1000x), difference "
              f"{abs(ours - theirs['exploitability']):.1e}")


def _graphon(m: int, iterations: int) -> tuple[float, float, float]:
    game = popgames.load_game("sis_graphon")
    game.rules = GraphonRules(game.rules.inner, graphon_matrix({"type": "uniform_attachment"}, m))
    start = time.perf_counter()
    uniform = exploitability(game.rules, uniform_policy(game.rules))["exploitability"]
    uniform_s = time.perf_counter() - start
    return uniform, uniform_s, _timed(game, iterations, "fixed_point", {"temperature": 0.5})[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-iterations", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--graphons", nargs="+", default=["uniform_attachment", "ranked_attachment", "erdos_renyi"])
    parser.add_argument("--gmfg-code", type=Path, default=Path("/work/peers/gmfg-learning"))
    parser.add_argument("--gmfg-python", type=Path, default=Path("/work/peers/venv/bin/python"))
    args = parser.parse_args(argv)
    crowd = _crowd_compat()
    ours, ours_s = _timed(crowd, args.iterations)
    peer, peer_s = _peer_fp(args.peer_iterations)
    diff = float(np.max(np.abs(np.array(ours[:len(peer)]) - np.array(peer))))
    print(f"crowd_modelling FP + NashConv per iteration: ours {ours_s * 1e3:.3f} ms, OpenSpiel (C++ game) "
          f"{peer_s * 1e3:.1f} ms, ratio {peer_s / ours_s:.0f}x (target >= 100x); curves agree to {diff:.1e} "
          f"over {len(peer)} iterations; ours at iteration 100: {ours[-1]:.12f}")
    ours, ours_s = _timed(crowd, args.iterations, "omd", {"lr": 1.0})
    peer, peer_s = _peer_md(args.peer_iterations, 1.0)
    print(f"crowd_modelling mirror descent (lr 1) + NashConv per iteration: ours {ours_s * 1e3:.3f} ms, "
          f"OpenSpiel MirrorDescent {peer_s * 1e3:.1f} ms, ratio {peer_s / ours_s:.0f}x; after "
          f"{len(peer)} iterations ours {ours[len(peer) - 1]:.6f}, OpenSpiel's {peer[-1]:.6f} (its update "
          f"mutates the policy it evaluates)")
    _mfglib_section(args.iterations, args.peer_iterations)
    _gmfg_section(args.graphons, args.gmfg_code, args.gmfg_python)
    for m in (101, 1001):
        uniform, uniform_s, step_s = _graphon(m, 50 if m == 101 else 10)
        print(f"sis_graphon M={m}: fixed point + exploitability {step_s * 1e3:.2f} ms per iteration "
              f"(target {'2' if m == 101 else '50'} ms); uniform-policy exploitability {uniform:.12f} "
              f"in {uniform_s * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
