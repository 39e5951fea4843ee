"""A PettingZoo ``ParallelEnv`` view of any batched Markov game (one environment).

    from popgames.kinds.markov.pettingzoo import to_parallel_env
    env = to_parallel_env(popgames.load_game("games/coin_game"), seed=0)
    obs, infos = env.reset(seed=1)
    while env.agents:
        actions = {a: env.action_space(a).sample(infos[a]["action_mask"]) for a in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)

Agents are named ``player_0 .. player_{n-1}``. Observations are ``float32`` vectors in
a ``Box`` (bounded by the rules' optional ``obs_bounds = (low, high)``, unbounded
otherwise); actions are ``Discrete(n_actions)``; each agent's info carries its legal
``action_mask`` (``int8``, as gymnasium's ``Discrete.sample(mask)`` wants). Every game
ends after ``rules.horizon`` steps: that is its last round, so agents are *terminated*
(not truncated) there and leave ``agents``.

Randomness: ``reset(seed=s)`` builds a fresh ``torch.Generator`` seeded with ``s`` on the
rules' device; ``reset()`` without a seed continues the current generator (the first
one is seeded from the constructor's ``seed``, or from OS entropy when that is None).
No global RNG is touched. An action outside the mask is passed to the rules, which
treat it as they document (all shipped rules clamp it to a legal one or ignore it).

pettingzoo is an optional dependency (``pip install popgames[pettingzoo]``); it is
imported when an environment is first built.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch


@functools.cache
def parallel_env_class() -> type:
    """The ``ParallelEnv`` subclass (built on first use so pettingzoo stays optional)."""
    try:
        from gymnasium import spaces
        from pettingzoo import ParallelEnv
    except ImportError as exc:
        raise ImportError("the PettingZoo adapter needs pettingzoo (and gymnasium): "
                          "pip install 'popgames[pettingzoo]'") from exc

    class MarkovParallelEnv(ParallelEnv):
        """One environment of a :class:`~popgames.kinds.markov.game.MarkovGame` as a ParallelEnv."""

        def __init__(self, game: Any, seed: int | None = None):
            self.game, self.rules = game, game.rules
            self.device = torch.device(self.rules.device)
            self.metadata = {"name": game.name, "render_modes": [], "is_parallelizable": True}
            self.render_mode = None
            self.possible_agents = [f"player_{i}" for i in range(self.rules.n_players)]
            self.agents: list[str] = []
            low, high = game.obs_bounds
            self.observation_spaces = {a: spaces.Box(low, high, (self.rules.obs_dim,), np.float32)
                                       for a in self.possible_agents}
            self.action_spaces = {a: spaces.Discrete(self.rules.n_actions) for a in self.possible_agents}
            self._seed = seed
            self._generator: torch.Generator | None = None
            self._state = None
            self._legal: np.ndarray | None = None

        def observation_space(self, agent: str):
            return self.observation_spaces[agent]

        def action_space(self, agent: str):
            return self.action_spaces[agent]

        def _new_generator(self, seed: int | None) -> torch.Generator:
            if seed is None:  # fresh OS entropy, not the global RNG
                seed = int(np.random.SeedSequence().entropy % (2 ** 63))
            return torch.Generator(device=self.device).manual_seed(int(seed))

        def _views(self) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
            obs = self.rules.observe(self._state)[0].detach().cpu().numpy().astype(np.float32)
            self._legal = self.rules.legal(self._state)[0].detach().cpu().numpy()
            observations = {a: obs[i] for i, a in enumerate(self.possible_agents) if a in self.agents}
            infos = {a: {"action_mask": self._legal[i].astype(np.int8)}
                     for i, a in enumerate(self.possible_agents) if a in self.agents}
            return observations, infos

        def reset(self, seed: int | None = None, options: dict | None = None):
            if seed is not None:
                self._generator = self._new_generator(seed)
            elif self._generator is None:
                self._generator = self._new_generator(self._seed)
            self._state = self.rules.reset(1, self._generator)
            self.agents = list(self.possible_agents)
            return self._views()

        def _action_tensor(self, actions: dict[str, Any]) -> torch.Tensor:
            chosen = []
            for i, agent in enumerate(self.possible_agents):
                if agent in actions and actions[agent] is not None:
                    action = int(actions[agent])
                    if not 0 <= action < self.rules.n_actions:
                        raise ValueError(f"{agent}: action {action} is outside "
                                         f"Discrete({self.rules.n_actions})")
                elif self._legal[i].sum() == 1:  # a player with one move need not name it
                    action = int(self._legal[i].argmax())
                else:
                    raise ValueError(f"no action given for {agent}, which has a choice to make")
                chosen.append(action)
            return torch.tensor([chosen], dtype=torch.long, device=self.device)

        def step(self, actions: dict[str, Any]):
            if not self.agents:
                raise RuntimeError("the episode is over: call reset()")
            self._state, rewards, done = self.rules.step(self._state, self._action_tensor(actions),
                                                         self._generator)
            rewards = rewards[0].detach().cpu().tolist()
            over = bool(done[0])
            live = list(self.agents)
            observations, infos = self._views()
            rewards = {a: float(rewards[i]) for i, a in enumerate(self.possible_agents) if a in live}
            terminations = dict.fromkeys(live, over)
            truncations = dict.fromkeys(live, False)
            if over:
                self.agents = []
            return observations, rewards, terminations, truncations, infos

        def render(self) -> None:
            return None

        def state(self) -> np.ndarray:
            """All agents' observations, concatenated (a global view for centralised critics)."""
            if self._state is None:
                raise RuntimeError("call reset() first")
            return self.rules.observe(self._state)[0].flatten().detach().cpu().numpy().astype(np.float32)

    MarkovParallelEnv.__qualname__ = "MarkovParallelEnv"  # found through the module's __getattr__
    return MarkovParallelEnv


def to_parallel_env(game: Any, seed: int | None = None) -> Any:
    """Wrap ``game`` (a :class:`~popgames.kinds.markov.game.MarkovGame`, batch 1) as a PettingZoo
    ``ParallelEnv``; ``seed`` seeds the first ``reset()`` that names no seed."""
    return parallel_env_class()(game, seed)


def __getattr__(name: str):
    if name == "MarkovParallelEnv":
        return parallel_env_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
