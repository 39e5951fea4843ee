"""Simulation on batched Markov games: rollouts against population mixtures, and
meta-game entries estimated by episodes, with sample variances and counts.

A rollout gives every environment of the batch its own opponents, drawn from a
distribution over population profiles, and optionally a *learner* in one seat per
environment (the PPO oracle's). Environments that share an opponent policy are
grouped, so a step costs one forward pass per distinct policy, not per environment.

Meta-game entries are filled by plain-data tasks (:class:`EntryTask`: the card's
path, a profile's policies as arrays, episode count, seed, torch threads) run by
:func:`popgames.core.parallel.run_tasks`, so ``use_backend`` (or a
``joblib.parallel_config``) moves them to local processes or a Ray cluster with no change
here, and every backend gives the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from popgames.core.parallel import run_tasks
from popgames.kinds.markov.game import MarkovRules, sample_actions
from popgames.kinds.markov.policies import ILLEGAL_LOGIT


@dataclass
class Trajectory:
    """What a rollout records. Learner fields are ``None`` without a learner."""

    returns: torch.Tensor                  # [B, n_players] episode returns
    final_state: dict[str, torch.Tensor]
    obs: torch.Tensor | None = None        # [T, B, obs_dim]  learner's view
    legal: torch.Tensor | None = None      # [T, B, A]
    actions: torch.Tensor | None = None    # [T, B]
    logp: torch.Tensor | None = None       # [T, B]
    values: torch.Tensor | None = None     # [T, B, heads]
    rewards: torch.Tensor | None = None    # [T, B, n_players]


def mixture_groups(entries: Sequence[tuple[float, int | None, Sequence[Any]]], n_players: int,
                   batch: int, generator: torch.Generator
                   ) -> tuple[list[list[tuple[Any, torch.Tensor]]], torch.Tensor]:
    """Draw one entry of a weighted mixture per environment and group seats by policy.

    Each entry is ``(weight, learner_seat, profile)``: ``profile[j]`` plays seat ``j``
    except at ``learner_seat`` (``None``: no learner in that entry). Returns per seat
    the ``(policy, rows)`` pairs and each environment's learner seat (-1 for none).
    """
    weights = torch.tensor([w for w, _, _ in entries], dtype=torch.float64)
    pick = torch.multinomial(weights.to(generator.device), batch, True, generator=generator).cpu()
    seats = torch.tensor([-1 if s is None else s for _, s, _ in entries])[pick]
    groups: list[list[tuple[Any, torch.Tensor]]] = []
    for j in range(n_players):
        by_policy: dict[int, tuple[Any, list[int]]] = {}
        for e, (_, seat, profile) in enumerate(entries):
            if seat != j:
                by_policy.setdefault(id(profile[j]), (profile[j], []))[1].append(e)
        groups.append([(p, torch.nonzero(torch.isin(pick, torch.tensor(es))).squeeze(1))
                       for p, es in by_policy.values()])
    return groups, seats


def rollout(rules: MarkovRules, groups: list[list[tuple[Any, torch.Tensor]]], batch: int,
            generator: torch.Generator, learner: torch.nn.Module | None = None,
            learner_seat: torch.Tensor | None = None) -> Trajectory:
    """Play one episode in each of ``batch`` environments.

    ``groups`` (from :func:`mixture_groups`) say who plays where; the ``learner`` (an
    actor-critic module, see :class:`popgames.kinds.markov.policies.MlpPolicy`) plays seat
    ``learner_seat[b]`` in environment ``b``, and its observations, actions,
    log-probabilities and values are recorded.
    """
    dev = rules.device
    groups = [[(p, rows.to(dev)) for p, rows in g] for g in groups]
    state = rules.reset(batch, generator)
    n, T = rules.n_players, rules.horizon
    rows = torch.arange(batch, device=dev)
    total = torch.zeros(batch, n, device=dev)
    rec: dict[str, list[torch.Tensor]] = {k: [] for k in ("obs", "legal", "actions", "logp", "values", "rewards")}
    for _ in range(T):
        obs, legal = rules.observe(state), rules.legal(state)
        probs = torch.zeros(batch, n, rules.n_actions, device=dev)
        for seat, seat_groups_ in enumerate(groups):
            for policy, idx in seat_groups_:
                if idx.numel():
                    probs[idx, seat] = policy.probs(obs[idx, seat], legal[idx, seat]).to(probs.dtype)
        if learner is not None:
            lobs, llegal = obs[rows, learner_seat], legal[rows, learner_seat]
            with torch.no_grad():
                logits, value = learner(lobs)
                lp = torch.log_softmax(logits.masked_fill(~llegal, ILLEGAL_LOGIT), -1)
            probs[rows, learner_seat] = lp.exp()
        actions = sample_actions(probs.reshape(batch * n, -1), generator).reshape(batch, n)
        state, rewards, _ = rules.step(state, actions, generator)
        total += rewards
        if learner is not None:
            a = actions[rows, learner_seat]
            rec["obs"].append(lobs)
            rec["legal"].append(llegal)
            rec["actions"].append(a)
            rec["logp"].append(lp.gather(1, a[:, None]).squeeze(1))
            rec["values"].append(value)
            rec["rewards"].append(rewards)
    traj = Trajectory(total, state)
    if learner is not None:
        for key, items in rec.items():
            setattr(traj, key, torch.stack(items))
    return traj


def profile_returns(rules: MarkovRules, profile: Sequence[Any], episodes: int,
                    generator: torch.Generator) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Episode returns ``[episodes, n_players]`` of one policy per seat, and the final state."""
    groups = [[(policy, torch.arange(episodes))] for policy in profile]
    traj = rollout(rules, groups, episodes, generator)
    return traj.returns.double().cpu().numpy(), traj.final_state


@dataclass(frozen=True)
class EntryTask:
    """One meta-game entry as plain data: runnable in any process."""

    card: str                                # path of the game's card
    params: tuple[tuple[str, Any], ...]      # the game's parameters (as loaded)
    policies: tuple[Mapping[str, np.ndarray], ...]  # one ``to_arrays`` dict per seat
    episodes: int
    seed: int
    position: tuple[int, ...]                # spawn key below the run's seed: (stream, *profile)
    device: str = "cpu"
    threads: int | None = None               # torch threads; None: the caller's (run_entries)

    @property
    def gpus(self) -> float:
        """The share of a GPU the task asks a Ray worker for (none on a CPU device)."""
        return ENTRY_GPU_SHARE if self.device.startswith("cuda") else 0.0

    def describe(self) -> str:
        """The task's name in an error message."""
        return f"meta-game entry {self.position[1:]} of {self.card} (seed {self.seed})"


#: GPU share of one entry on Ray: an entry is a batch of small forward passes, so
#: several share a GPU.
ENTRY_GPU_SHARE = 0.25


def task_params(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A game's parameters as a task carries them (hashable: lists as tuples); :func:`task_game`
    reads them back."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))


@lru_cache(maxsize=8)
def task_game(card: str, params: tuple[tuple[str, Any], ...], device: str) -> Any:
    """The game a task names (loaded once per process): the card with the task's parameters."""
    from popgames.kinds.registry import load_game

    game = load_game(card)
    game.params = {k: list(v) if isinstance(v, tuple) else v for k, v in params}
    return game.on_device(device)


def run_entry(task: EntryTask) -> dict[str, Any]:
    """Mean, sample variance and count of each player's return for one profile."""
    from popgames.core.randomness import torch_generator
    from popgames.kinds.markov.policies import policy_from_arrays

    game = task_game(task.card, task.params, task.device)
    refs = game.reference_policies()
    # The thread count travels with the task: the same reductions, the same bits, anywhere.
    # (policy_from_arrays copies the arrays: those from Ray's object store are read-only.)
    with torch_threads(task.threads or 1):
        profile = [policy_from_arrays(arrays, "p", refs, game.rules.device) for arrays in task.policies]
        returns, _ = profile_returns(game.rules, profile, task.episodes,
                                     torch_generator(task.seed, *task.position, device=task.device))
    return {"mean": returns.mean(0), "var": returns.var(0, ddof=1) if task.episodes > 1
            else np.zeros(returns.shape[1]), "count": task.episodes}


def run_entries(tasks: Sequence[EntryTask], n_jobs: int = 1) -> list[dict[str, Any]]:
    """Run entry tasks by :func:`popgames.core.parallel.run_tasks`: where a backend is
    configured (``use_backend``, ``joblib.parallel_config``), else in this process, or in
    ``n_jobs`` local processes when it is more than 1. A task without ``threads`` takes
    the caller's torch thread count."""
    threads = torch.get_num_threads()
    tasks = [task if task.threads else replace(task, threads=threads) for task in tasks]
    return run_tasks(run_entry, tasks, describe=EntryTask.describe, n_jobs=n_jobs,
                     gpus=max((task.gpus for task in tasks), default=0.0))


#: Episodes simulated per reference self-play baseline.
BASELINE_EPISODES = 4096
#: Reference self-play profiles shown beside a Markov run's metrics (seat 0, other seats).
BASELINES = (("greedy", "greedy"), ("welfare", "welfare"))


def reference_baselines(game: Any) -> dict[str, dict[str, float]]:
    """Episode metrics of reference self-play (e.g. greedy vs greedy) in a Markov game.

    Runs the game's rules: call it on a game you chose to load, never from a report.
    """
    refs = game.reference_policies()
    out = {}
    with torch_threads(1):
        for a, b in BASELINES:
            if a in refs and b in refs:
                seats = [refs[a]] + [refs[b]] * (game.n_players - 1)
                returns, final = profile_returns(game.rules, seats, BASELINE_EPISODES,
                                                 torch.Generator().manual_seed(0))
                metrics = {k: float(v.double().mean()) for k, v in game.episode_metrics(final).items()}
                metrics["return"] = float(returns.mean())
                out[f"{a} vs {b}"] = metrics
    return out


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the previous number after.

    Env steps and a 64-unit network are many small ops; on a 2-core machine one thread
    is several times faster than two (thread hand-offs dominate, worse under load).
    """
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
