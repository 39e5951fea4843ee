"""Mean-field loops beside OpenSpiel's mfg package, same game, one process run.

    .venv/bin/python benchmarks/meanfield.py              # about half a minute
    .venv/bin/python benchmarks/meanfield.py --peer-iterations 10

* crowd_modelling (size 10, horizon 10), fictitious play with the exact exploitability
  of every iterate. Peer: OpenSpiel's ``FictitiousPlay`` on its C++ ``mfg_crowd_modelling``
  with ``nash_conv.NashConv`` after every iteration (as its examples do). Ours: the card
  with ``openspiel_compat = true`` (the peer's reward caching), so both compute the same
  curve; the first iterations' values are compared. Per-iteration times.
* sis_graphon, Boltzmann fixed point (temperature 0.5) with exploitability every
  iteration, at M = 101 and M = 1001 agents (ours only; the authors' code is not run here),
  and the uniform policy's exploitability (the issue's reference values).
"""

from __future__ import annotations

import argparse
import sys
import time

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


def _ours_fp(iterations: int) -> tuple[list[float], float]:
    from popgames.kinds.mean_field.game import MeanFieldGame

    base = popgames.load_game("crowd_modelling")
    rules = base.module.make({**base.params, "openspiel_compat": True})
    game = MeanFieldGame(name="crowd_modelling", rules=rules, params=base.params, module=base.module)
    list(mean_field(game, 3))   # warm
    start = time.perf_counter()
    curve = [r.exploitability for r in mean_field(game, iterations)]
    return curve, (time.perf_counter() - start) / iterations


def _graphon(m: int, iterations: int) -> tuple[float, float, float]:
    game = popgames.load_game("sis_graphon")
    game.rules = GraphonRules(game.rules.inner, graphon_matrix({"type": "uniform_attachment"}, m))
    start = time.perf_counter()
    uniform = exploitability(game.rules, uniform_policy(game.rules))["exploitability"]
    uniform_s = time.perf_counter() - start
    list(mean_field(game, 2, {"temperature": 0.5}, algorithm="fixed_point"))
    start = time.perf_counter()
    list(mean_field(game, iterations, {"temperature": 0.5}, algorithm="fixed_point"))
    return uniform, uniform_s, (time.perf_counter() - start) / iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-iterations", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args(argv)
    ours, ours_s = _ours_fp(args.iterations)
    peer, peer_s = _peer_fp(args.peer_iterations)
    diff = float(np.max(np.abs(np.array(ours[:len(peer)]) - np.array(peer))))
    print(f"crowd_modelling FP + NashConv per iteration: ours {ours_s * 1e3:.3f} ms, OpenSpiel (C++ game) "
          f"{peer_s * 1e3:.1f} ms, ratio {peer_s / ours_s:.0f}x (target >= 100x); curves agree to {diff:.1e} "
          f"over {len(peer)} iterations; ours at iteration 100: {ours[-1]:.12f}")
    for m in (101, 1001):
        uniform, uniform_s, step_s = _graphon(m, 50 if m == 101 else 10)
        print(f"sis_graphon M={m}: fixed point + exploitability {step_s * 1e3:.2f} ms per iteration "
              f"(target {'2' if m == 101 else '50'} ms); uniform-policy exploitability {uniform:.12f} "
              f"in {uniform_s * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
