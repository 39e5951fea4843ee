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
(:mod:`popgames.kinds.markov.rules_check`): a broken rules file is one card error naming the
file, the function and the problem.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Protocol

import torch

from popgames.core.errors import GameCardError
from popgames.kinds.cards import RulesCard, checked_params, rules_path, shared_tables, typed

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


@dataclass(kw_only=True)
class MarkovGame(RulesCard):
    """A loaded ``markov`` card: its rules, reference policies and metrics."""

    rules: MarkovRules
    kind: ClassVar[str] = "markov"

    @property
    def n_players(self) -> int:
        return self.rules.n_players

    def env(self, batch: int, generator: torch.Generator) -> BatchedEnv:
        return BatchedEnv(self.rules, batch, generator)

    def reference_policies(self) -> dict[str, Policy]:
        return self.module.reference_policies(self.rules)

    # The optional parts of a user's rules file, read in this one place (validated at load
    # by rules_check): declarations of the file, not capabilities of popgames objects.
    def episode_metrics(self, final_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The module's ``episode_metrics(rules, final_state)``, or none when it defines none."""
        fn: Callable | None = getattr(self.module, "episode_metrics", None)
        return fn(self.rules, final_state) if fn is not None else {}

    @property
    def symmetric(self) -> bool:
        """Whether the rules let a policy sit in either seat (``rules.symmetric``, default true)."""
        return bool(getattr(self.rules, "symmetric", True))

    @property
    def deterministic(self) -> bool:
        """Whether the rules declare ``deterministic = True``: no chance after the reset, so
        the exact best response (:mod:`popgames.kinds.markov.exact`) can enumerate histories."""
        return bool(getattr(self.rules, "deterministic", False))

    @property
    def enumerates_chance(self) -> bool:
        """Whether the rules enumerate their chance: ``initial_outcomes() -> (states, probs)``
        and ``outcomes(state, actions) -> (states [B * K], probs [B, K], rewards)``. Rules that
        do declare with it that the players' observations together determine the future, so
        :mod:`popgames.kinds.markov.exact_chance` may merge histories on them."""
        return callable(getattr(self.rules, "outcomes", None)) and callable(
            getattr(self.rules, "initial_outcomes", None))

    @property
    def obs_bounds(self) -> tuple[float, float]:
        """The rules' ``obs_bounds = (low, high)`` of observations, unbounded by default."""
        return getattr(self.rules, "obs_bounds", (-math.inf, math.inf))

    def on_device(self, device: str | torch.device) -> "MarkovGame":
        """The same game with its rules built on ``device``."""
        rules = self.module.make(self.params, torch.device(device))
        return dataclasses.replace(self, rules=rules)


def parse_markov(card: dict, src: str) -> Any:
    """Build a :class:`~popgames.kinds.markov.game.MarkovGame` from a ``kind = "markov"`` card.

    ``rules`` names the Python file in the card's folder that holds the rules (default
    ``rules.py``); ``[params]`` overrides its ``PARAMS``; ``[oracle]`` holds options of
    the learned best-response oracle (checked when the oracle is built). The rules are
    built on the CPU here and checked on one short episode
    (:func:`~popgames.kinds.markov.rules_check.check_rules`); ``MarkovGame.on_device`` moves them.
    """
    from popgames.kinds.markov.rules_check import build_rules, check_rules
    from popgames.kinds.rules_module import forget_rules_module, load_rules_module

    path = rules_path(card, src)
    module = load_rules_module(path, src)
    try:
        params = checked_params(module, typed(card.get("params", {}), dict, src, "params"), src)
        rules = build_rules(module, params, path, src)
        check_rules(module, rules, params, path)
    except GameCardError:
        forget_rules_module(module)  # an edited file is read afresh on the next load
        raise
    return MarkovGame(rules=rules, params=params, module=module, **shared_tables(card, src))
