"""A PPO best-response training as a plain-data task, so several run at once anywhere.

One PSRO iteration asks every player for a best response; each is independent of the
others, so :class:`MarkovOracle.best_responses <popgames.kinds.markov.oracle.MarkovOracle>`
sends them together through :func:`popgames.core.parallel.run_tasks` (in this process by
default; local processes or a Ray cluster under ``--backend``). A task holds what the
training needs as data: the card's path and parameters, the PPO options, the run's seed and
the task's position below it, the opponent mix and the player's own population (for the
warm start) as :func:`~popgames.kinds.markov.policies.to_arrays` dicts. What comes back is
data too: the trained network's arrays, its estimated value and standard error, and the
training statistics. The in-process path runs the same function on the same data, so every
backend returns the same bits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from popgames.core.randomness import torch_generator
from popgames.kinds.markov.evaluation import task_game, task_params, torch_threads
from popgames.kinds.markov.policies import MlpPolicy, policy_from_arrays, to_arrays
from popgames.kinds.markov.ppo import OpponentMix, PpoConfig, play_against, train, with_self_play

#: Seed streams below a run's root seed: best-response training, entries, value estimates,
#: per-iteration metrics (a task's position follows its stream).
BR_STREAM, EVAL_STREAM, VALUE_STREAM, METRIC_STREAM = 1, 2, 3, 4

Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class BestResponseTask:
    """One player's PPO best response, as plain data (module doc)."""

    card: str
    params: tuple[tuple[str, Any], ...]
    device: str
    options: tuple[tuple[str, Any], ...]     # PpoConfig fields
    seed: int
    player: int
    mix: tuple[tuple[float, tuple[Arrays | None, ...]], ...]   # (weight, per-seat policy; None: the learner)
    members: tuple[Arrays, ...]              # the player's population, for the warm start
    name: str

    @property
    def position(self) -> tuple[int, int]:
        return self.player, len(self.members)


def estimate_value(rules: Any, config: PpoConfig, seed: int, policy: Any, mix: OpponentMix,
                   position: tuple[int, ...]) -> tuple[float, float]:
    """``policy``'s mean return against ``mix`` over ``eval_episodes`` and its standard error."""
    generator = torch_generator(seed, VALUE_STREAM, *position, device=rules.device)
    returns = play_against(rules, mix, policy, config.eval_episodes, generator)[2].double()
    return float(returns.mean()), float(returns.std() / np.sqrt(len(returns)))


def train_best_response(rules: Any, config: PpoConfig, seed: int, player: int, mix: OpponentMix,
                        members: Sequence[Any], name: str) -> tuple[MlpPolicy, float, dict[str, Any]]:
    """PPO against ``mix`` (warm-started from the best of ``members`` if the config says so),
    with the result's estimated value; returns ``(policy, value, stats)``."""
    position = (player, len(members))
    generator = torch_generator(seed, BR_STREAM, *position, device=rules.device)
    init, start = warm_start(rules, config, members, mix, generator, name)
    policy, stats = train(rules, with_self_play(mix, config.self_play, rules.n_players), config, generator,
                          init=init, name=name)
    value, error = estimate_value(rules, config, seed, policy, mix, position)
    return policy, value, {"player": player, "value_se": error, **start, **stats}


def warm_start(rules: Any, config: PpoConfig, members: Sequence[Any], mix: OpponentMix,
               generator: torch.Generator, name: str) -> tuple[MlpPolicy | None, dict[str, Any]]:
    """With ``warm_start``: the member PPO starts from (:mod:`popgames.kinds.markov.warm_start`),
    and what it was; else no start."""
    if not config.warm_start:
        return None, {}
    from popgames.kinds.markov.warm_start import best_member, imitate

    k, values = best_member(rules, mix, members, config, generator)
    member, heads = members[k], 2 if config.advantage_alignment else 1
    if member.kind == "mlp" and member.value_heads == heads:
        init = member
    else:
        init = imitate(rules, mix, member, config, generator, name)
    return init, {"warm_start": member.name, "warm_start_value": values[k]}


def _opened(task: BestResponseTask | TrainingTask) -> tuple[Any, PpoConfig, Callable[[Arrays], Any]]:
    """A task's game, PPO config, and the loader of its policies, where the task runs."""
    game = task_game(task.card, task.params, task.device)
    refs, device = game.reference_policies(), game.rules.device
    return game, PpoConfig(**dict(task.options)), lambda arrays: policy_from_arrays(arrays, "p", refs, device)


def run_best_response(task: BestResponseTask) -> dict[str, Any]:
    """Train one task's best response where the task runs; everything returned is data."""
    game, config, load = _opened(task)
    mix = {task.player: [(w, [None if a is None else load(a) for a in profile]) for w, profile in task.mix]}
    members = [load(a) for a in task.members]
    with torch_threads(config.threads):
        policy, value, stats = train_best_response(game.rules, config, task.seed, task.player, mix, members,
                                                   task.name)
    return {"policy": to_arrays(policy, "p"), "value": value, "stats": stats}


def describe(task: BestResponseTask) -> str:
    return f"best response {task.name} of {task.card}"


#: In a :class:`TrainingTask`'s mix, the learner itself (a frozen copy, :data:`~popgames.kinds.markov.ppo.SELF`).
SELF_INDEX = -1


@dataclass(frozen=True)
class TrainingTask:
    """One PPO training (an FXP main continued, or a fresh counter), as plain data.

    ``policies`` holds each distinct policy once; ``init`` (the network to continue) and
    the mix's profiles refer to them by index, :data:`SELF_INDEX` for the learner itself,
    ``None`` for the learner's seat: the worker rebuilds one object per policy, as the
    caller had them.
    """

    card: str
    params: tuple[tuple[str, Any], ...]
    device: str
    options: tuple[tuple[str, Any], ...]
    seed: int                                 # the torch generator's seed
    policies: tuple[Arrays, ...]
    init: int | None
    mix: tuple[tuple[int, float, tuple[int | None, ...]], ...]   # (learner seat, weight, profile)
    name: str


def training_task(game: Any, device: str, config: PpoConfig, seed: int, mix: OpponentMix, init: Any,
                  name: str) -> TrainingTask:
    """The task of ``train(game.rules, mix, config, Generator(seed), init, name)``."""
    index: dict[int, int] = {}
    policies: list[Arrays] = []

    def ref(policy: Any) -> int:
        if id(policy) not in index:
            index[id(policy)] = len(policies)
            policies.append(to_arrays(policy, "p"))
        return index[id(policy)]

    items = tuple((seat, float(w), tuple(None if p is None else SELF_INDEX if isinstance(p, str) else ref(p)
                                         for p in profile))
                  for seat, entries in sorted(mix.items()) for w, profile in entries)
    start = None if init is None else ref(init)
    return TrainingTask(game.source, task_params(game.params), device, tuple(sorted(config.as_dict().items())), seed,
                        tuple(policies), start, items, name)


def run_training(task: TrainingTask) -> dict[str, Any]:
    """Train one :class:`TrainingTask` where it runs: the network's arrays and the statistics."""
    from popgames.kinds.markov.ppo import SELF

    game, config, load = _opened(task)
    policies = [load(arrays) for arrays in task.policies]
    mix: dict[int, list[tuple[float, list[Any]]]] = {}
    for seat, weight, profile in task.mix:
        mix.setdefault(seat, []).append(
            (weight, [None if k is None else SELF if k == SELF_INDEX else policies[k] for k in profile]))
    generator = torch.Generator(device=game.rules.device).manual_seed(task.seed)
    with torch_threads(config.threads):
        net, stats = train(game.rules, mix, config, generator,
                           init=None if task.init is None else policies[task.init], name=task.name)
    return {"policy": to_arrays(net, "p"), "stats": stats}
