"""Batched Markov environments: env steps per second, torch-batched rules against a
per-environment pure-Python loop of the same rules, one process, same actions.

    .venv/bin/python benchmarks/envs.py            # batch 1, 64, 4096 (about a minute)
    .venv/bin/python benchmarks/envs.py --quick    # shorter timings (< 30 s)
    .venv/bin/python benchmarks/envs.py --only trust_split --device cuda
    .venv/bin/python benchmarks/envs.py --threads 0   # torch's own thread count (default: 1)

Section ``trust_split`` (the issue's target: batched >= 100x the loop at batch 4096, CPU):

* ours: ``popgames.kinds.markov.game.BatchedEnv`` over ``games/trust_split`` -- per episode a
  ``reset()`` then ``horizon`` calls of ``step(actions)``, each returning observations,
  legal masks, rewards and done flags for the whole batch.
* peer: :class:`LoopTrustSplit`, the same rules written for one environment in plain
  Python (the way a gym-style env is usually written), stepped env by env within each
  time step as a synchronous vector env does, also returning observations, legal masks,
  rewards and done. ``tests/games/test_trust_split.py`` checks it gives the batched rules'
  rewards, observations and masks on the same hands and actions, so the comparison is honest.
* actions: uniformly random legal actions drawn once (one episode), replayed every
  episode by both sides, so action sampling is not timed.

Both sides use one core by default (``--threads 1``): the loop is single-threaded, and on
a busy 2-core machine torch's two OpenMP threads spin against other processes and run
several times slower than one. An env step is one step of one environment (``batch`` env
steps per ``step`` call). Both sides are warmed up, then timed in ``REPEATS`` rounds that
alternate between them (so other load on the machine falls on both alike); each time is
the median of its rounds. Rows: ``ours_s`` / ``peer_s`` are seconds per env step,
``ratio = peer_s / ours_s``, and ``ours_steps_per_s`` / ``peer_steps_per_s`` the rates. The loop's cost per env step does
not depend on the batch size; at large batches it is timed on at most ``LOOP_CAP``
environments (the note says so).

Section ``batched_games``: batched steps/s of every shipped markov game at batch 4096
(no peer). More sections (e.g. PPO env steps/s including learning) plug in through
``SECTIONS``: a name -> ``fn(quick: bool, device: str) -> list[dict]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

import popgames
from popgames.kinds.markov.game import sample_actions

REPO = Path(__file__).resolve().parents[1]
BATCHES = (1, 64, 4096)
LOOP_CAP = 256  # environments the pure-Python loop is timed on
REPEATS = 7  # timing rounds per case (the median is reported)
MARKOV_GAMES = ("trust_split", "iterated_prisoners_dilemma", "coin_game", "commons")


# --------------------------------------------------------------------------- the peer
class LoopTrustSplit:
    """Trust-and-Split for ONE environment in plain Python: the rules of
    ``games/trust_split/rules.py``, with the same observation layout.

    ``rng`` is anything with ``randrange(n)`` (``random.Random``); draws come in the
    batched rules' order: the hands (first hand, then the offset of the second), then the
    first speaker at reset; the next hands when a round ends.
    """

    def __init__(self, params: dict[str, Any], rng: Any):
        self.coins, self.rounds = int(params["coins"]), int(params["rounds"])
        self.high, self.low = float(params["high_value"]), float(params["low_value"])
        self.n_tokens, self.window = len(params["vocabulary"]), int(params["history"])
        self.n_actions = max(self.coins + 1, self.n_tokens)
        self.horizon = 3 * self.rounds
        self.rng = rng

    @staticmethod
    def beats(a: int, b: int) -> bool:
        return b == (a + 2) % 3

    def _deal(self) -> list[int]:
        first = self.rng.randrange(3)
        return [first, (first + 1 + self.rng.randrange(2)) % 3]

    def reset(self) -> tuple[list[list[float]], list[list[bool]]]:
        self.t, self.hands = 0, self._deal()
        self.first = self.rng.randrange(2)
        none = self.n_tokens
        self.msg = [none, none]
        w = max(self.window, 1)
        self.past_hands = [[3, 3] for _ in range(w)]
        self.past_msg = [[none, none] for _ in range(w)]
        self.past_claims = [[-1.0, -1.0] for _ in range(w)]
        self.returns = [0.0, 0.0]
        self.claim_sum = [[0.0, 0.0], [0.0, 0.0]]
        self.claim_count = [[0, 0], [0, 0]]
        return self.observe(), self.legal()

    def step(self, actions: list[int]) -> tuple[list[list[float]], list[list[bool]], list[float], bool]:
        phase = self.t % 3
        rewards = [0.0, 0.0]
        if phase < 2:
            speaker = self.first if phase == 0 else 1 - self.first
            self.msg[speaker] = min(max(actions[speaker], 0), self.n_tokens - 1)
        else:
            claims = [float(min(max(a, 0), self.coins)) for a in actions]
            total = max(float(self.coins), claims[0] + claims[1])
            for i in (0, 1):
                won = self.beats(self.hands[i], self.hands[1 - i])
                rewards[i] = self.coins * claims[i] / total * (self.high if won else self.low)
                self.returns[i] += rewards[i]
                self.claim_sum[i][won] += claims[i]
                self.claim_count[i][won] += 1
            if self.window > 0:
                self.past_hands = [list(self.hands)] + self.past_hands[:-1]
                self.past_msg = [list(self.msg)] + self.past_msg[:-1]
                self.past_claims = [claims] + self.past_claims[:-1]
            self.hands = self._deal()
            self.msg = [self.n_tokens, self.n_tokens]
            self.first = 1 - self.first
        self.t += 1
        return self.observe(), self.legal(), rewards, self.t >= self.horizon

    def legal(self) -> list[list[bool]]:
        phase = self.t % 3
        speaker = self.first if phase == 0 else 1 - self.first
        out = []
        for me in (0, 1):
            if phase < 2 and me == speaker:
                out.append([a < self.n_tokens for a in range(self.n_actions)])
            elif phase == 2:
                out.append([a <= self.coins for a in range(self.n_actions)])
            else:
                out.append([a == 0 for a in range(self.n_actions)])
        return out

    def observe(self) -> list[list[float]]:
        phase = self.t % 3
        speaker = self.first if phase == 0 else 1 - self.first

        def one_hot(i: int, n: int) -> list[float]:
            v = [0.0] * n
            v[i] = 1.0
            return v

        views = []
        for me in (0, 1):
            you = 1 - me
            v = one_hot(self.hands[me], 3) + one_hot(phase, 3)
            v += [float(phase == 2 or speaker == me), float(self.first == me)]
            v += one_hot(self.msg[me], self.n_tokens + 1) + one_hot(self.msg[you], self.n_tokens + 1)
            v.append(self.t / self.horizon)
            for k in range(self.window):
                h = self.past_hands[k]
                won = h[me] < 3 and self.beats(min(h[me], 2), min(h[you], 2))
                v += one_hot(h[me], 4) + one_hot(h[you], 4)
                v += one_hot(self.past_msg[k][me], self.n_tokens + 1)
                v += one_hot(self.past_msg[k][you], self.n_tokens + 1)
                v += [self.past_claims[k][me] / self.coins, self.past_claims[k][you] / self.coins,
                      float(won)]
            views.append(v)
        return views


# --------------------------------------------------------------------------- timing
def _per_call(fns: dict[str, Callable[[], Any]], min_time: float, repeats: int = REPEATS) -> dict[str, float]:
    """Seconds per call of each of ``fns``: the median over ``repeats`` rounds of about
    ``min_time / repeats`` seconds each. The functions take turns within every round, so
    the load other processes put on the machine falls on all of them alike."""
    for fn in fns.values():  # warm-up
        fn()
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            calls, start = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_time / repeats:
                    break
            rounds[name].append(elapsed / calls)
    return {name: statistics.median(times) for name, times in rounds.items()}


def random_legal_actions(game: Any, batch: int, seed: int) -> torch.Tensor:
    """Uniform legal actions for one episode, ``[horizon, batch, n_players]``."""
    rules = game.rules
    gen = torch.Generator(device=rules.device).manual_seed(seed)
    env = game.env(batch, gen)
    _, legal = env.reset()
    out = []
    for _ in range(rules.horizon):
        a = torch.stack([sample_actions(legal[:, i].to(torch.float32), gen)
                         for i in range(rules.n_players)], 1)
        out.append(a)
        _, legal, _, _ = env.step(a)
    return torch.stack(out)


def batched_episode(game: Any, batch: int, seed: int = 0) -> tuple[Callable[[], None], int]:
    """One episode of ``BatchedEnv`` (reset, then ``horizon`` steps of replayed actions)
    and the env steps it makes."""
    rules = game.rules
    actions = random_legal_actions(game, batch, seed)
    env = game.env(batch, torch.Generator(device=rules.device).manual_seed(seed + 1))
    sync = torch.cuda.synchronize if rules.device.type == "cuda" else (lambda: None)

    def episode() -> None:
        env.reset()
        for a in actions:
            env.step(a)
        sync()

    return episode, batch * rules.horizon


def loop_episode(game: Any, batch: int, seed: int = 0) -> tuple[Callable[[], None], int]:
    """One episode of :class:`LoopTrustSplit` over ``min(batch, LOOP_CAP)`` envs, stepped env
    by env within each time step, and the env steps it makes."""
    n = min(batch, LOOP_CAP)
    actions = random_legal_actions(game, n, seed).cpu().tolist()  # [T][env][player]
    rng = random.Random(seed + 1)
    envs = [LoopTrustSplit(game.params, rng) for _ in range(n)]

    def episode() -> None:
        for env in envs:
            env.reset()
        for step_actions in actions:
            for env, a in zip(envs, step_actions):
                env.step(a)

    return episode, n * envs[0].horizon


def batched_seconds_per_step(game: Any, batch: int, min_time: float, seed: int = 0) -> float:
    """Seconds per env step of ``BatchedEnv`` (reset + full episodes, replayed actions)."""
    episode, steps = batched_episode(game, batch, seed)
    return _per_call({"ours": episode}, min_time)["ours"] / steps


# --------------------------------------------------------------------------- sections
def trust_split_rows(quick: bool, device: str) -> list[dict]:
    game = popgames.load_game(REPO / "games" / "trust_split").on_device(device)
    min_time = 1.0 if quick else 6.0
    rows = []
    for batch in BATCHES:
        (ours_fn, ours_steps), (peer_fn, peer_steps) = batched_episode(game, batch), loop_episode(game, batch)
        times = _per_call({"ours": ours_fn, "peer": peer_fn}, min_time)
        ours, peer = times["ours"] / ours_steps, times["peer"] / peer_steps
        note = (f"device {device}, torch threads {torch.get_num_threads()}, "
                f"median of {REPEATS} interleaved rounds")
        if peer_steps < batch * game.rules.horizon:
            note += f"; loop timed on {peer_steps // game.rules.horizon} envs"
        rows.append({"case": f"trust_split batch {batch}", "ours_s": ours,
                     "peer": "per-env Python loop", "peer_s": peer, "ratio": peer / ours,
                     "ours_steps_per_s": 1 / ours, "peer_steps_per_s": 1 / peer, "note": note})
    return rows


def batched_games_rows(quick: bool, device: str) -> list[dict]:
    rows = []
    for name in MARKOV_GAMES:
        game = popgames.load_game(REPO / "games" / name).on_device(device)
        ours = batched_seconds_per_step(game, 4096, 0.5 if quick else 2.0)
        rows.append({"case": f"{name} batch 4096", "ours_s": ours, "peer": "-",
                     "peer_s": float("nan"), "ratio": float("nan"), "ours_steps_per_s": 1 / ours,
                     "peer_steps_per_s": float("nan"), "note": f"device {device}, no peer"})
    return rows


#: Section name -> ``fn(quick, device) -> rows``; the lead adds e.g. ``"ppo"`` here.
def ppo_rows(quick: bool, device: str) -> list[dict]:
    """PPO env steps/s including learning (see ``benchmarks/_ppo.py``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _ppo

    return _ppo.run(quick, device)


SECTIONS: dict[str, Callable[[bool, str], list[dict]]] = {
    "trust_split": trust_split_rows,
    "batched_games": batched_games_rows,
    "ppo": ppo_rows,
}


def run(quick: bool = False, only: list[str] | None = None, device: str = "cpu") -> list[dict]:
    """Rows ``{"case", "ours_s", "peer", "peer_s", "ratio", "note"}`` (ratio = peer / ours)
    plus ``ours_steps_per_s`` / ``peer_steps_per_s``."""
    names = only or (["trust_split"] if quick else list(SECTIONS))
    rows: list[dict] = []
    for name in names:
        rows += SECTIONS[name](quick, device)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short timings, trust_split only")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run only these sections")
    parser.add_argument("--device", default="cpu", help="torch device of the batched rules (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1, the loop's one core; 0: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = run(quick=args.quick, only=args.only, device=args.device)
    print("\n| case | ours steps/s | peer | peer steps/s | ours/peer speed-up | note |\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['ours_steps_per_s']:,.0f} | {r['peer']} | "
              f"{r['peer_steps_per_s']:,.0f} | {r['ratio']:.3g} | {r['note']} |")
    print(f"(total {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
