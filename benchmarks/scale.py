"""Task backends side by side: in-process, loky and Ray (``popgames.core.parallel``).

    .venv/bin/python benchmarks/scale.py                  # about 2 minutes on 2 idle cores
    .venv/bin/python benchmarks/scale.py --population 4 --episodes 64 2048

* Meta-game evaluation throughput (entries per second) on trust_split, against the
  number of workers (1 and 2) on each backend: ``population`` policies per player (the
  greedy and welfare references and random 64-unit networks), every profile an entry of
  ``episodes`` episodes, evaluated by ``MarkovOracle.evaluate`` as PSRO does. Each backend
  runs warm (its pool started and the card loaded in every worker by one untimed pass);
  the figure is the best of ``--repeats`` passes, and the smallest entry size from which
  Ray's 2 workers stay ahead of this process is printed.
* Break-even: tasks that keep a core busy for d ms (400 per call): the smallest d from
  which Ray's 2 workers stay ahead of this process.
* Per-task overhead: an empty task's round trip, one task per call (latency) and
  amortised over a batch of 2000; and policy transfer, the extra time per MB of array a
  task carries (8 tasks of 8 MB, fresh arrays each time).
* Start-up: Ray's local cluster, and each backend's first call (workers, imports).
* Best-response throughput: one PSRO iteration's two PPO best responses on trust_split
  (``--br-updates`` updates each), trained as plain-data tasks
  (``MarkovOracle.best_responses``), responses per minute on each backend.

Ray runs a local cluster of 2 CPUs started once. Numbers depend on the load of the
machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: Busy-task durations (seconds) for the break-even, and tasks per call.
DURATIONS, SPINS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3), 400


def _noop(x: Any) -> int:
    return 0


def _spin(seconds: float) -> float:
    """A task that keeps a core busy for ``seconds`` (a stand-in of that size)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def _carry(arrays: dict[str, np.ndarray]) -> int:
    return sum(a.nbytes for a in arrays.values())


def _best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _transfer(repeats: int) -> float:
    """Best time of 8 tasks carrying 8 MB each: new arrays every time (a backend may send, or
    memory-map, one array only once)."""
    from popgames.core.parallel import run_tasks

    times = []
    for r in range(repeats):
        payloads = [{"w": np.random.default_rng([r, k]).standard_normal(2**20)} for k in range(8)]
        start = time.perf_counter()
        run_tasks(_carry, payloads)
        times.append(time.perf_counter() - start)
    return min(times)


def _evaluation(population: int, episodes: int) -> Callable[[], Any]:
    """One meta-game evaluation of ``population`` x ``population`` trust_split entries."""
    import torch

    import popgames
    from popgames.kinds.markov.oracle import MarkovOracle
    from popgames.kinds.markov.policies import MlpPolicy

    game = popgames.load_game(REPO / "games" / "trust_split")
    oracle = MarkovOracle(game, seed=0, options={"eval_episodes": episodes})
    refs = oracle.references
    members = [refs["greedy"], refs["welfare"]]
    for k in range(population - len(members)):
        net = MlpPolicy(game.rules.obs_dim, game.rules.n_actions, 64, name=f"net{k}")
        members.append(net.init_weights(torch.Generator().manual_seed(k)))
    pop = [members[:population]] * 2
    profiles = [(i, j) for i in range(population) for j in range(population)]
    return lambda: oracle.evaluate(pop, profiles)


def _best_responses(updates: int) -> Callable[[], Any]:
    """One PSRO iteration's best responses on trust_split: both players' PPO trainings
    (``updates`` updates each, from scratch) against a greedy + welfare mix, as
    ``MarkovOracle.best_responses`` sends them (two plain-data tasks)."""
    import popgames
    from popgames.kinds.markov.oracle import MarkovOracle

    game = popgames.load_game(REPO / "games" / "trust_split")
    oracle = MarkovOracle(game, seed=0, options={"updates": updates, "warm_start": False,
                                                 "eval_episodes": 512})
    refs = oracle.references
    pop = [[refs["greedy"], refs["welfare"]]] * 2
    requests = [(0, np.array([0.5, 0.5])), (1, np.array([0.5, 0.5]))]
    return lambda: oracle.best_responses(pop, requests)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--population", type=int, default=5, help="policies per player (entries: its square)")
    p.add_argument("--episodes", type=int, nargs="+", default=[64, 256, 1024, 4096],
                   help="episodes per entry (task sizes)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--br-updates", type=int, default=20,
                   help="PPO updates per best response in the best-response rows (0: skip them)")
    p.add_argument("--only-best-responses", action="store_true", help="skip every other section")
    args = p.parse_args()

    import joblib  # noqa: F401  (imported before the clock starts)

    from popgames.core.parallel import Backend, import_ray, run_tasks, use_backend

    ray = import_ray()
    start = time.perf_counter()
    # The cluster for every Ray row below (use_backend joins it as it is).
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    ray_start = time.perf_counter() - start
    try:
        # One worker: joblib runs the tasks in the calling process, whatever the backend.
        backends = {"inline": Backend(), "loky 1": Backend("loky", workers=1),
                    "loky 2": Backend("loky", workers=2), "ray 1": Backend("ray", workers=1),
                    "ray 2": Backend("ray", workers=2)}
        evaluations = {} if args.only_best_responses else {e: _evaluation(args.population, e) for e in args.episodes}
        responses = _best_responses(args.br_updates) if args.br_updates else None
        br_rates: dict[str, float] = {}
        rates: dict[str, dict[int, float]] = {}
        first_call: dict[str, float] = {}
        latency, amortised, per_mb = {}, {}, {}
        spun: dict[str, dict[float, float]] = {}
        for name, spec in backends.items():
            with use_backend(spec):
                start = time.perf_counter()
                run_tasks(_noop, [0])
                first_call[name] = time.perf_counter() - start
                rates[name], spun[name] = {}, {}
                for e, evaluate in evaluations.items():
                    evaluate()  # warm: the card loaded in every worker
                    rates[name][e] = args.population ** 2 / _best(evaluate, args.repeats)
                if responses is not None:   # two trainings per call (each takes seconds)
                    br_rates[name] = 2 / _best(responses, 2)   # the first pass warms the workers
                if args.only_best_responses:
                    continue
                for d in DURATIONS:
                    spun[name][d] = SPINS / _best(lambda d=d: run_tasks(_spin, [d] * SPINS), 2)
                latency[name] = _best(lambda: [run_tasks(_noop, [0]) for _ in range(20)], 1) / 20
                amortised[name] = _best(lambda: run_tasks(_noop, list(range(2000))), 2) / 2000
                empty8 = _best(lambda: run_tasks(_noop, list(range(8))), 3)
                per_mb[name] = max(_transfer(3) - empty8, 0.0) / (8 * 8)
            print(f"  {name}: done", flush=True)
    finally:
        ray.shutdown()

    load = os.getloadavg()
    if br_rates:
        print(f"\ntrust_split best responses, 2 per call (one per player), {args.br_updates} PPO updates "
              f"each, responses per minute (load average {load[0]:.1f})\n")
        print("| backend, workers | responses / min | ratio to in-process |\n|---|---|---|")
        for name, rate in br_rates.items():
            print(f"| {name} | {rate * 60:.1f} | {rate / br_rates['inline']:.2f}x |")
    if args.only_best_responses:
        return
    print(f"\ntrust_split meta-game evaluation, {args.population ** 2} entries, entries/s "
          f"(load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; Ray cluster start {ray_start:.1f} s)\n")
    print("| backend, workers | " + " | ".join(f"{e} episodes" for e in args.episodes) + " |")
    print("|---|" + "---|" * len(args.episodes))
    for name, row in rates.items():
        cells = [f"{row[e]:.1f} ({row[e] / rates['inline'][e]:.2f}x)" for e in args.episodes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    # The smallest size from which Ray's 2 workers stay ahead (a noisy win below is not one).
    ahead = [rates["ray 2"][e] >= rates["inline"][e] for e in args.episodes]
    even = next((e for k, e in enumerate(args.episodes) if all(ahead[k:])), None)
    print(f"\nRay 2 workers break even with this process at {even} episodes per entry"
          if even else "\nRay 2 workers never beat this process at these sizes")
    print(f"\nTasks that keep a core busy for d ms, {SPINS} per call, tasks/s\n")
    print("| backend, workers | " + " | ".join(f"{d * 1e3:g} ms" for d in DURATIONS) + " |")
    print("|---|" + "---|" * len(DURATIONS))
    for name, row in spun.items():
        print(f"| {name} | " + " | ".join(f"{row[d]:.0f} ({row[d] / spun['inline'][d]:.2f}x)"
                                         for d in DURATIONS) + " |")
    ahead = [spun["ray 2"][d] >= spun["inline"][d] for d in DURATIONS]
    even = next((d for k, d in enumerate(DURATIONS) if all(ahead[k:])), None)
    print(f"\nRay 2 workers break even with this process at tasks of {even * 1e3:g} ms"
          if even else "\nRay 2 workers never beat this process at these task sizes")
    print("\n| backend, workers | first call (pool start) | empty task, one per call | "
          "empty task, batch of 2000 | transfer per MB |")
    print("|---|---|---|---|---|")
    for name in backends:
        print(f"| {name} | {first_call[name]:.2f} s | {latency[name] * 1e3:.2f} ms | "
              f"{amortised[name] * 1e3:.3f} ms | {per_mb[name] * 1e3:.2f} ms |")


if __name__ == "__main__":
    main()
