"""Normal-form (matrix) games with any number of players."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from popgames.errors import GameCardError
from popgames.payoff_tensor import as_payoff_tensor


@dataclass(frozen=True, eq=False)
class MatrixGame:
    """An N-player normal-form game.

    Attributes
    ----------
    payoffs
        Float tensor ``[n_players, A_1, ..., A_n]``: ``payoffs[i, a_1, ..., a_n]`` is
        player i's payoff when the players play ``a_1, ..., a_n``.
    name, description
        Identification and a sentence on what the game models.
    players, actions
        Player names and, per player, action names (defaults ``p0``, ``a0``, ...).
    solver_options
        Per meta-solver default options from the card's ``[solvers.<name>]`` tables.
    psro
        The card's ``[psro]`` table of loop defaults.
    source
        The card file this game was read from, if any (used in error messages).
    """

    payoffs: np.ndarray
    name: str = "matrix_game"
    players: tuple[str, ...] = ()
    actions: tuple[tuple[str, ...], ...] = ()
    description: str = ""
    solver_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    psro: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        src = self.source or "<array>"
        payoffs = as_payoff_tensor(self.payoffs, src)
        payoffs.setflags(write=False)
        object.__setattr__(self, "payoffs", payoffs)
        n, shape = payoffs.shape[0], payoffs.shape[1:]
        players = tuple(self.players) or tuple(f"p{i}" for i in range(n))
        actions = tuple(tuple(a) for a in self.actions) or tuple(
            tuple(f"a{j}" for j in range(k)) for k in shape)
        if len(players) != n:
            raise GameCardError(src, "players", f"{len(players)} names for {n} players")
        if tuple(len(a) for a in actions) != shape:
            raise GameCardError(src, "actions", f"action counts {[len(a) for a in actions]} "
                                                f"do not match payoff shape {list(shape)}")
        object.__setattr__(self, "players", players)
        object.__setattr__(self, "actions", actions)

    @property
    def n_players(self) -> int:
        return self.payoffs.shape[0]

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(self.payoffs.shape[1:])

    @property
    def is_constant_sum(self) -> bool:
        """Whether the players' payoffs add up to the same constant in every profile."""
        total = self.payoffs.sum(axis=0)
        return bool(np.ptp(total) <= 1e-12 * np.abs(self.payoffs).max())

    def __repr__(self) -> str:
        return f"MatrixGame({self.name!r}, players={self.n_players}, actions={self.num_actions})"
