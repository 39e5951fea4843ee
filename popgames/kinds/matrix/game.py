"""Normal-form (matrix) games with any number of players, and their ``kind = "matrix"`` cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from popgames.core.errors import GameCardError
from popgames.core.payoff_tensor import as_payoff_tensor
from popgames.kinds.cards import require, shared_tables, string_list


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
    psro, fxp, oracle_options
        The card's ``[psro]`` and ``[fxp]`` tables of loop defaults, and its ``[oracle]``
        table (which the exact oracle does not take).
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
    fxp: Mapping[str, Any] = field(default_factory=dict)
    oracle_options: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    kind: ClassVar[str] = "matrix"

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


def _check_numbers(value: Any, src: str, field: str) -> None:
    """Every entry of nested lists is an int or a float; numpy would read ``"2"`` and ``true``
    as numbers."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_numbers(v, src, f"{field}[{i}]")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GameCardError(src, field, f"expected a number, got {type(value).__name__} {value!r}")


def _payoff_array(value: Any, shape: tuple[int, ...], src: str, field: str) -> np.ndarray:
    _check_numbers(value, src, field)
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GameCardError(src, field, "not a rectangular array of numbers") from None
    if arr.shape != shape:
        raise GameCardError(src, field, f"expected shape {shape} (from 'actions'), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise GameCardError(src, field, "contains NaN or infinite entries")
    return arr


def parse_matrix(card: dict, src: str) -> MatrixGame:
    """Build a :class:`MatrixGame` from a ``kind = "matrix"`` card.

    Payoffs are given per player under ``[payoffs]``, keyed by player name, as
    nested lists of shape ``(A_1, ..., A_n)``.
    """
    players = string_list(require(card, "players", list, src), src, "players")
    actions_raw = require(card, "actions", list, src)
    if len(actions_raw) != len(players):
        raise GameCardError(src, "actions", f"{len(actions_raw)} action lists for {len(players)} players")
    actions = tuple(string_list(a, src, f"actions[{i}]") for i, a in enumerate(actions_raw))
    if any(len(a) == 0 for a in actions):
        raise GameCardError(src, "actions", "every player needs at least one action")
    shape = tuple(len(a) for a in actions)
    table = require(card, "payoffs", dict, src)
    for key in table:
        if key not in players:
            raise GameCardError(src, f"payoffs.{key}", f"not a player (players: {', '.join(players)})")
    payoffs = np.stack([_payoff_array(require(table, p, list, src, "payoffs."), shape,
                                      src, f"payoffs.{p}") for p in players])
    return MatrixGame(payoffs, players=players, actions=actions, **shared_tables(card, src))
