"""The PSRO adapter for batched Markov games: PPO best responses, simulated meta-game entries.

A learned :class:`~popgames.core.protocols.Oracle` (``exact = False``), with two
differences from the exact ones: a best response's value is estimated by simulation against the
opponent mix (so the exploitability it yields is a PPO *lower bound* on NashConv),
and meta-game entries come with sample variances and counts.

Randomness: every task draws from the run's seed at a position fixed by what it is
-- ``("br", player, population size)`` for a best response, the profile's policy
indices for an entry -- so a resumed run draws the same numbers as an
uninterrupted one and no generator state is checkpointed.
"""

from __future__ import annotations

from itertools import product
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from popgames.core.errors import GameCardError
from popgames.core.payoff_tensor import joint_marginals
from popgames.core.protocols import Entries, Oracle, OracleSettings, Population, Response
from popgames.core.parallel import run_tasks
from popgames.core.randomness import torch_generator
from popgames.kinds.markov.evaluation import (EntryTask, mixture_groups, rollout, run_entries, task_params,
                                              torch_threads)
from popgames.kinds.markov.game import MarkovGame
from popgames.kinds.markov.policies import MlpPolicy, policy_from_arrays, to_arrays
from popgames.kinds.markov.best_response_task import (BR_STREAM, EVAL_STREAM, METRIC_STREAM, BestResponseTask,
                                                      estimate_value, run_best_response)
from popgames.kinds.markov.best_response_task import describe as describe_task
from popgames.kinds.markov.ppo import PpoConfig, resolve_device, train

#: Reference policies the per-iteration metrics play the meta-strategy against.
BENCHMARK_REFERENCES = ("greedy", "welfare")


class MarkovOracle(Oracle):
    """PPO oracle + simulation evaluator over a :class:`MarkovGame`."""

    exact = False  # best-response values are estimates: exploitability is a lower bound

    def __init__(self, game: MarkovGame, seed: int = 0, device: str | None = None,
                 options: Mapping[str, Any] | None = None):
        self.device = resolve_device(device)
        self.game = game.on_device(self.device) if self.device.type != "cpu" else game
        self.rules = self.game.rules
        self.n_players = self.rules.n_players
        self.seed = int(seed)
        self.config = PpoConfig.from_options({**game.oracle_options, **dict(options or {})},
                                             game.source or game.name)
        self.references = self.game.reference_policies()
        initial = game.psro.get("initial", "uniform")
        self.initial = [initial] if isinstance(initial, str) else list(initial)
        for name in self.initial:
            if name not in self.references:
                raise GameCardError(game.source or game.name, "psro.initial",
                                    f"no reference policy '{name}' (known: {', '.join(self.references)})")
        self.shares_parameters = self.config.share_parameters

    # -- population -------------------------------------------------------------------
    def initial_policies(self, player: int) -> list[Any]:
        """The card's ``[psro] initial`` reference policies: the population's seeds."""
        return [self.references[name] for name in self.initial]

    def same(self, a: Any, b: Any) -> bool:
        return a is b

    def save(self, player: int, policies: Sequence[Any]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for k, policy in enumerate(policies):
            out.update(to_arrays(policy, f"population_{player}.{k}"))
        return out

    def load(self, player: int, arrays: Mapping[str, np.ndarray]) -> list[Any]:
        prefix = f"population_{player}."
        count = len({key[len(prefix):].split(".")[0] for key in arrays if key.startswith(prefix)})
        return [policy_from_arrays(arrays, f"{prefix}{k}", self.references, self.device)
                for k in range(count)]

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, population: Population, profiles: list[tuple[int, ...]]) -> Entries:
        """Means, sample variances and counts of the players' returns for ``profiles``."""
        tasks = [EntryTask(self.game.source, task_params(self.game.params),
                           tuple(to_arrays(population[i][k], "p") for i, k in enumerate(profile)),
                           self.config.eval_episodes, self.seed, (EVAL_STREAM, *profile),
                           str(self.device)) for profile in profiles]
        with torch_threads(self.config.threads):
            results = run_entries(tasks, self.config.eval_jobs)
        return Entries(np.stack([r["mean"] for r in results]), np.stack([r["var"] for r in results]),
                       np.array([r["count"] for r in results], np.float64))

    def _mix(self, population: Sequence[Sequence[Any]], player: int,
             others: np.ndarray) -> dict[int, list[tuple[float, list[Any]]]]:
        rest = [q for q in range(self.n_players) if q != player]
        items = []
        for index in product(*(range(len(population[q])) for q in rest)):
            weight = float(np.asarray(others)[index]) if rest else 1.0
            if weight > 1e-12:
                profile: list[Any] = [None] * self.n_players
                for q, k in zip(rest, index):
                    profile[q] = population[q][k]
                items.append((weight, profile))
        return {player: items}

    def value(self, policy: MlpPolicy, mix: Mapping[int, list[tuple[float, list[Any]]]],
              position: tuple[int, ...]) -> tuple[float, float]:
        """Estimated return of ``policy`` against ``mix`` (its seat given by the mix) and the
        estimate's standard error over the evaluation episodes."""
        with torch_threads(self.config.threads):
            return estimate_value(self.rules, self.config, self.seed, policy, mix, position)

    # -- best response ------------------------------------------------------------------
    def best_response(self, population: Sequence[Sequence[Any]], player: int,
                      others: np.ndarray) -> Response:
        return self.best_responses(population, [(player, others)])[0]

    def best_responses(self, population: Sequence[Sequence[Any]],
                       requests: Sequence[tuple[int, np.ndarray]]) -> list[Response]:
        """Every requested player's PPO best response, trained as plain-data tasks
        (:mod:`popgames.kinds.markov.best_response_task`) that run at once wherever
        :func:`popgames.core.parallel.run_tasks` sends them."""
        options = tuple(sorted(self.config.as_dict().items()))
        tasks = []
        for player, others in requests:
            mix = self._mix(population, player, others)[player]
            tasks.append(BestResponseTask(
                self.game.source, task_params(self.game.params), str(self.device), options, self.seed, player,
                tuple((w, tuple(None if p is None else to_arrays(p, "p") for p in profile)) for w, profile in mix),
                tuple(to_arrays(p, "p") for p in population[player]),
                f"ppo_p{player}_{len(population[player])}"))
        results = run_tasks(run_best_response, tasks, describe=describe_task,
                            gpus=1.0 if self.device.type == "cuda" else 0.0)
        return [Response(policy_from_arrays(r["policy"], "p", self.references, self.device), r["value"], r["stats"])
                for r in results]

    def shared_best_response(self, population: Sequence[Sequence[Any]],
                             others: Sequence[np.ndarray]) -> list[Response]:
        """One network trained in every seat at once (``share_parameters``): each
        environment draws the learner's seat, then that seat's opponents. Returns it once
        per seat with its estimated value there (the training stats with the first)."""
        position = (self.n_players, len(population[0]))  # BR stream key distinct from per-seat ones
        mix: dict[int, list] = {}
        for seat in range(self.n_players):
            mix.update(self._mix(population, seat, others[seat]))
        generator = torch_generator(self.seed, BR_STREAM, *position, device=self.device)
        with torch_threads(self.config.threads):
            policy, stats = train(self.rules, mix, self.config, generator,
                                  name=f"ppo_shared_{len(population[0])}")
        values = [self.value(policy, {seat: mix[seat]}, (seat, len(population[seat])))
                  for seat in range(self.n_players)]
        first = {"player": -1, "value_se_by_seat": [error for _, error in values], **stats}
        return [Response(policy, value, first if seat == 0 else {}) for seat, (value, _) in enumerate(values)]

    # -- per-iteration game metrics -------------------------------------------------------
    def _mixture(self, entries: list[tuple[float, int | None, list[Any]]], position: tuple[int, ...]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        episodes = self.config.eval_episodes
        generator = torch_generator(self.seed, METRIC_STREAM, *position, device=self.device)
        with torch_threads(self.config.threads):
            groups, _ = mixture_groups(entries, self.n_players, episodes, generator)
            traj = rollout(self.rules, groups, episodes, generator)
        return traj.returns.double(), self.game.episode_metrics(traj.final_state)

    def iteration_metrics(self, population: Sequence[Sequence[Any]], joint: np.ndarray,
                          iteration: int) -> dict[str, float]:
        """The meta-strategy's game metrics in self-play and against the reference policies.

        ``joint`` is the meta-strategy as a distribution over population profiles. For
        each reference R in :data:`BENCHMARK_REFERENCES`: ``vs_R`` is the meta-strategy's
        mean return with every other seat played by R (averaged over seats), and
        ``R_extracts`` is what R earns doing so. Where the rules are deterministic or enumerate
        their chance, and the history tree (graph) is small enough, ``exact_nash_conv`` (and each player's ``exact_gap_i``) is
        the meta-strategy's exact NashConv (CCE gap for a correlated ``joint``), by
        :func:`popgames.kinds.markov.exact.exact_gaps`: the measure of the PPO estimate.
        """
        entries = [(float(w), None, [population[i][k] for i, k in enumerate(index)])
                   for index, w in np.ndenumerate(joint) if w > 1e-12]
        returns, extra = self._mixture(entries, (iteration, 0))
        out = {"self_play_return": float(returns.mean())}
        for key, values in extra.items():  # each metric with its standard error
            values = values.double()
            out[key] = float(values.mean())
            out[f"{key}_se"] = float(values.std() / np.sqrt(values.numel()))
        marginals = joint_marginals(joint)
        for r, name in enumerate(BENCHMARK_REFERENCES):
            if name not in self.references:
                continue
            ours, theirs = [], []
            for seat in range(self.n_players):
                mix = [(float(w), None, [population[seat][k] if j == seat else self.references[name]
                                         for j in range(self.n_players)])
                       for k, w in enumerate(marginals[seat]) if w > 1e-12]
                returns, _ = self._mixture(mix, (iteration, 1 + r, seat))
                ours.append(float(returns[:, seat].mean()))
                theirs.append(float((returns.sum(1) - returns[:, seat]).mean() / max(self.n_players - 1, 1)))
            out[f"vs_{name}"] = float(np.mean(ours))
            out[f"{name}_extracts"] = float(np.mean(theirs))
        if self.game.deterministic or self.game.enumerates_chance:   # small games: the exact NashConv too
            from popgames.kinds.markov.exact import TreeTooLarge, exact_gaps

            try:
                gaps = exact_gaps(self.game, population, joint)
            except TreeTooLarge:
                out["exact_nash_conv_skipped"] = 1.0
            else:
                out["exact_nash_conv"] = float(np.maximum(gaps, 0.0).sum())
                out.update({f"exact_gap_{i}": float(g) for i, g in enumerate(gaps)})
        return out


def markov_oracle(game: MarkovGame, settings: OracleSettings) -> MarkovOracle:
    """The ``ppo`` oracle of the Markov kind."""
    return MarkovOracle(game, seed=settings.seed, device=settings.device, options=settings.options)
