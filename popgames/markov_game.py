"""Batched Markov games in torch: pure rules, a thin env wrapper, and the ``markov`` card kind.

A game's rules are pure functions on a *state*, a ``dict`` of tensors that all have
a leading batch axis and live on one device (as pgx does):

- ``rules.reset(batch, generator, device) -> state``
- ``rules.observe(state) -> obs [B, n_players, obs_dim]`` (float32)
- ``rules.legal(state) -> mask [B, n_players, n_actions]`` (bool; every row has a legal action)
- ``rules.step(state, actions [B, n_players], generator) -> (state, rewards [B, n_players], done [B])``

Randomness comes only from the explicit ``torch.Generator``. Every episode lasts
``rules.horizon`` steps, so a batch finishes together. Players that do not move in a
phase get a single legal action (their action is ignored). ``BatchedEnv`` holds the
state between calls; it is the only stateful piece.

A card ``kind = "markov"`` names its rules module (``rules = "rules.py"`` in the game
folder by default); the module defines ``make(params: dict, device) -> rules`` plus
``PARAMS`` (defaults, which also fix the allowed keys and their types),
``reference_policies(rules) -> dict[name, Policy]`` and optionally
``episode_metrics(rules, final_state) -> dict[name, per-episode tensor]``. A
``ValueError`` from ``make`` whose message starts with a parameter's name is reported
as a card error on that parameter. Rules may set ``obs_bounds = (low, high)`` (used for
the PettingZoo adapter's observation spaces).

The rules file must lie inside the card's folder. When the card loads, the module is
imported and one episode is played on a small batch to check all of the above
(:mod:`popgames.markov_rules_check`): a broken rules file is one card error naming the
file, the function and the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping, Protocol

import torch

from popgames.errors import GameCardError

State = dict[str, torch.Tensor]


class MarkovRules(Protocol):
    """The pure rules of a batched Markov game (see the module docstring)."""

    n_players: int
    n_actions: int
    obs_dim: int
    horizon: int
    device: torch.device

    def reset(self, batch: int, generator: torch.Generator) -> State: ...

    def observe(self, state: State) -> torch.Tensor: ...

    def legal(self, state: State) -> torch.Tensor: ...

    def step(self, state: State, actions: torch.Tensor,
             generator: torch.Generator) -> tuple[State, torch.Tensor, torch.Tensor]: ...


class Policy(Protocol):
    """Maps one player's observations and legal masks to action probabilities ``[B, A]``."""

    name: str

    def probs(self, obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor: ...


def sample_actions(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One action per row of ``probs [B, A]`` by inverse CDF (one uniform draw per row)."""
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=probs.dtype)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp_(max=probs.shape[1] - 1).squeeze(1)


class BatchedEnv:
    """The stateful wrapper: ``reset`` / ``step`` over a batch of independent games."""

    def __init__(self, rules: MarkovRules, batch: int, generator: torch.Generator):
        self.rules, self.batch, self.generator = rules, batch, generator
        self.state: State | None = None

    def reset(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.state = self.rules.reset(self.batch, self.generator)
        return self.rules.observe(self.state), self.rules.legal(self.state)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``obs, legal, rewards, done`` after one step of every game."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        self.state, rewards, done = self.rules.step(self.state, actions, self.generator)
        return self.rules.observe(self.state), self.rules.legal(self.state), rewards, done


@dataclass
class MarkovGame:
    """A loaded ``markov`` card: its rules, reference policies and metrics."""

    name: str
    rules: MarkovRules
    params: dict[str, Any]
    module: ModuleType
    description: str = ""
    solver_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    psro: dict[str, Any] = field(default_factory=dict)
    oracle_options: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def n_players(self) -> int:
        return self.rules.n_players

    def env(self, batch: int, generator: torch.Generator) -> BatchedEnv:
        return BatchedEnv(self.rules, batch, generator)

    def reference_policies(self) -> dict[str, Policy]:
        return self.module.reference_policies(self.rules)

    def episode_metrics(self, final_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        fn: Callable | None = getattr(self.module, "episode_metrics", None)
        return fn(self.rules, final_state) if fn is not None else {}

    def on_device(self, device: str | torch.device) -> "MarkovGame":
        """The same game with its rules built on ``device``."""
        rules = self.module.make(self.params, torch.device(device))
        return MarkovGame(self.name, rules, self.params, self.module, self.description,
                          self.solver_options, self.psro, self.oracle_options, self.source)


def checked_params(module: ModuleType, given: Mapping[str, Any], src: str) -> dict[str, Any]:
    """The card's ``[params]`` over the module's defaults, with names and types checked."""
    params = dict(module.PARAMS)
    for key, value in given.items():
        if key not in params:
            raise GameCardError(src, f"params.{key}", f"unknown parameter (known: {', '.join(params)})")
        default = params[key]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              if isinstance(default, float) else type(value) is type(default))
        if isinstance(default, list) and default:
            item = type(default[0])
            ok = isinstance(value, list) and len(value) > 0 and all(
                isinstance(v, item) or (item is float and isinstance(v, int)) for v in value) and not any(
                isinstance(v, bool) for v in value)
        if not ok:
            raise GameCardError(src, f"params.{key}", f"expected {type(default).__name__}, "
                                f"got {type(value).__name__} {value!r}")
        if isinstance(default, float) and not math.isfinite(value):
            raise GameCardError(src, f"params.{key}", f"must be finite, got {value!r}")
        params[key] = float(value) if isinstance(default, float) else value
    return params
