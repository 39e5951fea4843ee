"""FXP's ``ppo`` learner: fictitious cross-play on batched Markov games with the PPO oracle.

It adapts :func:`popgames.kinds.markov.ppo.train` to :class:`popgames.loops.fxp.options.Learner`:

- a policy is an :class:`~popgames.kinds.markov.policies.MlpPolicy` (the first main and
  counter are freshly initialised networks: near-uniform play);
- :meth:`PpoLearner.train` continues training the main (``init=policy``, a fresh Adam
  each call) against its FXP training mix; the current main in that mix (the other
  seat's latest main in a symmetric run *is* the policy being trained) becomes the
  oracle's ``SELF``, a frozen copy of the learner refreshed at every PPO update, so
  self-play tracks the learner as it moves;
- :meth:`PpoLearner.best_response` trains a fresh network (a counter);
- in a symmetric game (two players whose observations are seat-relative, as in
  every shipped 2-player markov card) one policy plays both seats: training draws the
  learner's seat per environment, so it learns both;
- :meth:`PpoLearner.payoffs` simulates ``eval_episodes`` episodes per profile, every
  profile in one batched rollout, from a torch generator drawn from the loop's numpy
  generator (so entries are reproducible and a resumed run matches);
- :meth:`PpoLearner.exploitability` is ``None``: a NashConv needs an exact best
  response, and a PPO estimate would be a lower bound that could read as convergence;
- :meth:`PpoLearner.describe` adds the game's metrics of the current mains (split
  efficiency and the like, play against the ``greedy`` / ``welfare`` references, via
  :meth:`popgames.kinds.markov.oracle.MarkovOracle.iteration_metrics`) as ``game``, and the
  iteration's PPO statistics (env steps, steps/s) as ``oracle``;
- checkpoints: one array per population, a row per policy: ``[-1, parameters...]`` for
  a network (float32 parameters are exact in float64; all networks of one config share
  a shape) or ``[r, 0...]`` for the ``r``-th reference policy in name order.

Options: every :class:`~popgames.kinds.markov.ppo.PpoConfig` field, over the card's
``[oracle]`` table (``--option updates=20``).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from popgames.core.errors import PopgamesError
from popgames.core.parallel import run_tasks
from popgames.core.protocols import Learner, TrainJob
from popgames.kinds.markov.evaluation import rollout, torch_threads
from popgames.kinds.markov.game import MarkovGame
from popgames.kinds.markov.best_response_task import run_training, training_task
from popgames.kinds.markov.policies import MlpPolicy, policy_from_arrays
from popgames.kinds.markov.ppo import SELF, PpoConfig, resolve_device

Opponents = Sequence[tuple[Any, float]]
#: Most environments in one evaluation rollout (bounds memory as the meta-game grows).
MAX_BATCH = 1 << 16


class PpoLearner(Learner):
    """PPO mains and counters, simulated payoffs (module doc)."""

    def __init__(self, game: MarkovGame, options: Mapping[str, Any] | None = None, *,
                 seed: int = 0, device: str | None = None):
        options = dict(options or {})
        if not isinstance(game, MarkovGame):
            raise PopgamesError(f"learner 'ppo' needs a markov game, not {type(game).__name__}")
        self.device = resolve_device(device)
        self.game = game.on_device(self.device) if self.device.type != "cpu" else game
        self.rules = self.game.rules
        self.options = {**game.oracle_options, **options}
        self.config = PpoConfig.from_options(self.options, game.source or game.name)
        self.n_players = self.rules.n_players
        # Policies see seat-relative observations: one network can sit in either seat.
        self.symmetric = self.n_players == 2 and self.game.symmetric
        self.seed = int(seed)
        self.references = self.game.reference_policies()
        self._names = sorted(self.references)
        self._size = sum(p.numel() for p in self._network("shape").parameters())
        self._stats: list[dict[str, Any]] = []
        self._iteration = 0
        self._metrics_oracle = None

    # -- policies ------------------------------------------------------------------------
    def _network(self, name: str) -> MlpPolicy:
        heads = 2 if self.config.advantage_alignment else 1
        return MlpPolicy(self.rules.obs_dim, self.rules.n_actions, self.config.hidden, name,
                         heads).to(self.device)

    def _torch(self, generator: np.random.Generator) -> torch.Generator:
        """A torch generator on the learner's device, seeded from the loop's numpy one."""
        seed = int(generator.integers(0, 2 ** 63 - 1))
        return torch.Generator(device=self.device).manual_seed(seed)

    def initial_policy(self, player: int, generator: np.random.Generator) -> MlpPolicy:
        return self._network(f"initial_p{player}").init_weights(self._torch(generator))

    # -- training --------------------------------------------------------------------------
    def _mix(self, opponents: Opponents, player: int, learner: Any = None) -> dict[int, list]:
        """The oracle's opponent mix; ``learner`` itself among the opponents becomes ``SELF``."""
        seats = (0, 1) if self.symmetric else (player,)
        mix: dict[int, list] = {}
        for seat in seats:
            items = []
            for policy, weight in opponents:
                profile: list[Any] = [None, None]
                profile[1 - seat] = SELF if learner is not None and policy is learner else policy
                items.append((float(weight) / len(seats), profile))
            mix[seat] = items
        return mix

    def train_all(self, jobs: Sequence[TrainJob]) -> list[MlpPolicy]:
        """Every main and counter of an iteration, trained at once as plain-data tasks
        (:class:`~popgames.kinds.markov.best_response_task.TrainingTask`) wherever
        :func:`popgames.core.parallel.run_tasks` sends them; the in-process path runs the
        same tasks."""
        tasks, roles = [], []
        for job in jobs:
            role = "main" if job.policy is not None else "counter"
            mix = self._mix(job.opponents, job.player, job.policy)
            init = job.policy if isinstance(job.policy, MlpPolicy) else None
            seed = int(job.generator.integers(0, 2 ** 63 - 1))   # as _torch draws it
            tasks.append(training_task(self.game, str(self.device), self.config, seed, mix, init,
                                       f"{role}_p{job.player}_{job.iteration + 1}"))
            roles.append((role, job.player, job.iteration))
        results = run_tasks(run_training, tasks, describe=lambda task: f"FXP training {task.name}",
                            gpus=1.0 if self.device.type == "cuda" else 0.0)
        out = []
        for (role, player, iteration), result in zip(roles, results):
            self._iteration = iteration
            self._stats.append({"role": role, "player": player, **result["stats"]})
            out.append(policy_from_arrays(result["policy"], "p", self.references, self.device))
        return out

    def train(self, policy: Any, opponents: Opponents, player: int,
              generator: np.random.Generator, iteration: int) -> MlpPolicy:
        return self.train_all([TrainJob(policy, opponents, player, generator, iteration)])[0]

    def best_response(self, opponents: Opponents, player: int, generator: np.random.Generator,
                      iteration: int) -> MlpPolicy:
        return self.train_all([TrainJob(None, opponents, player, generator, iteration)])[0]

    # -- evaluation ------------------------------------------------------------------------
    def payoffs(self, profiles: Sequence[tuple[Any, Any]],
                generator: np.random.Generator | None = None) -> np.ndarray:
        """Mean returns ``[len(profiles), 2]``, ``eval_episodes`` episodes per profile.

        Profiles share rollouts (each its own block of environments, at most
        :data:`MAX_BATCH` environments a rollout), so a step costs one forward pass per
        distinct policy and seat, not per profile.
        """
        generator = generator if generator is not None else np.random.default_rng(self.seed)
        per = max(1, MAX_BATCH // self.config.eval_episodes)
        parts = [self._simulate(profiles[k:k + per], self._torch(generator))
                 for k in range(0, len(profiles), per)]
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    def _simulate(self, profiles: Sequence[tuple[Any, Any]], generator: torch.Generator) -> np.ndarray:
        episodes = self.config.eval_episodes
        groups = []
        for seat in range(2):
            rows: dict[int, tuple[Any, list[torch.Tensor]]] = {}
            for m, profile in enumerate(profiles):
                block = torch.arange(m * episodes, (m + 1) * episodes)
                rows.setdefault(id(profile[seat]), (profile[seat], []))[1].append(block)
            groups.append([(p, torch.cat(blocks)) for p, blocks in rows.values()])
        with torch_threads(self.config.threads):
            traj = rollout(self.rules, groups, len(profiles) * episodes, generator)
        returns = traj.returns.double().reshape(len(profiles), episodes, 2)
        return returns.mean(1).cpu().numpy()

    def exploitability(self, profile: tuple[Any, Any]) -> None:
        return None

    def describe(self, profile: tuple[Any, Any]) -> dict[str, Any]:
        """The current mains' game metrics (``game``) and this iteration's PPO runs (``oracle``)."""
        if self._metrics_oracle is None:
            from popgames.kinds.markov.oracle import MarkovOracle

            # Same seed, device and options: its metric episodes derive from (seed, iteration).
            self._metrics_oracle = MarkovOracle(self.game, self.seed, str(self.device), self.options)
        game = self._metrics_oracle.iteration_metrics([[profile[0]], [profile[1]]], np.ones((1, 1)),
                                                      self._iteration)
        stats, self._stats = self._stats, []
        return {"game": game, "oracle": stats}

    # -- checkpoints -------------------------------------------------------------------------
    def to_array(self, policies: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(policies), 1 + self._size))
        for k, policy in enumerate(policies):
            if isinstance(policy, MlpPolicy):
                vector = parameters_to_vector(policy.parameters()).detach().cpu().double().numpy()
                if vector.size != self._size:
                    raise PopgamesError(f"policy {policy.name!r} has {vector.size} parameters, "
                                        f"this learner's networks {self._size}")
                out[k, 0], out[k, 1:] = -1, vector
            elif policy.name in self.references:
                out[k, 0] = self._names.index(policy.name)
            else:
                raise PopgamesError(f"cannot store policy {policy!r}: neither a network nor a reference")
        return out

    def from_array(self, array: np.ndarray) -> list[Any]:
        array = np.asarray(array, np.float64)
        if array.ndim != 2 or array.shape[1] != 1 + self._size:
            raise PopgamesError(f"checkpoint policies have shape {array.shape}, this learner's networks "
                                f"need {1 + self._size} columns (was hidden or advantage_alignment changed?)")
        policies: list[Any] = []
        for k, row in enumerate(array):
            if row[0] < 0:
                net = self._network(f"restored_{k}")
                vector_to_parameters(torch.as_tensor(row[1:], dtype=torch.float32, device=self.device),
                                     net.parameters())
                policies.append(net)
            else:
                policies.append(self.references[self._names[int(row[0])]])
        return policies
