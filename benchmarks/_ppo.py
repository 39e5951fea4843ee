"""PPO oracle throughput: env steps per second *including learning* on trust_split.

One env step is one step of one environment; a PPO update plays ``num_envs`` episodes
of ``horizon`` steps against the opponent mix (greedy and welfare references here,
drawn per environment) and then runs ``epochs x minibatches`` gradient steps. The rate
counts every environment step of the rollouts over the whole time, learning included
(``popgames.kinds.markov.ppo.train``'s ``steps_per_second``). Target (issue 4): >= 50,000 on
this 2-core CPU; >= 10^6 on a GPU when one is lent.

    .venv/bin/python benchmarks/envs.py --only ppo [--device cuda]
"""

from __future__ import annotations

import time

import torch

import popgames
from popgames.kinds.markov.evaluation import torch_threads
from popgames.kinds.markov.ppo import PpoConfig, resolve_device, train

CASES = ((512, 80), (2048, 20))  # (num_envs, updates); the first is the oracle's default


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    dev = resolve_device(device)
    game = popgames.load_game("games/trust_split").on_device(dev)
    refs = game.reference_policies()
    mix = {0: [(0.5, [None, refs["greedy"]]), (0.5, [None, refs["welfare"]])]}
    cases = ((512, 4),) if quick else CASES
    if dev.type == "cuda":
        cases = ((16384, 3 if quick else 10),) + cases
    rows = []
    if not torch.cuda.is_available():
        # Said plainly: the GPU target cannot be measured on a machine without one.
        print("no GPU here (torch sees no CUDA device): the >= 10^6 env steps/s GPU target is NOT "
              "measured; CPU figures only", flush=True)
    for num_envs, updates in cases:
        config = PpoConfig(num_envs=num_envs, updates=updates)
        with torch_threads(config.threads):
            train(game.rules, mix, PpoConfig(num_envs=64, updates=1), torch.Generator(dev).manual_seed(1))
            started = time.perf_counter()
            _, stats = train(game.rules, mix, config, torch.Generator(dev).manual_seed(0))
            wall = time.perf_counter() - started
        rate = stats["env_steps"] / wall
        target = 1e6 if dev.type == "cuda" else 5e4
        rows.append({"case": f"ppo trust_split num_envs={num_envs} x {updates} updates ({dev.type})",
                     "ours_s": wall, "peer": f"target {target:,.0f} steps/s", "peer_s": float("nan"),
                     "ratio": rate / target, "ours_steps_per_s": rate, "peer_steps_per_s": target,
                     "note": f"{stats['env_steps']:,} env steps incl. learning; final train return "
                             f"{stats['final_train_return']:.0f} (greedy vs greedy 275)"
                             + ("" if torch.cuda.is_available() else "; no GPU here: GPU target not measured")})
        print(f"{rows[-1]['case']}: {rate:,.0f} env steps/s incl. learning ({wall:.1f} s)", flush=True)
    return rows
