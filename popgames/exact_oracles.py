"""Exact best-response oracles and evaluators, one adapter per game kind.

PSRO needs four things from a game: a first policy per player, the payoffs of
profiles of population policies, a best response of one player to a (possibly
correlated) distribution over the others' population policies, and a way to store
policies as arrays. An adapter supplies them; ``oracle_for(game)`` picks it from the
registry ``ORACLES`` keyed by game class name.

The best response also returns its value, so the loop gets the exploitability of the
meta-strategy in the full game (NashConv, or the CE/CCE gap) at no extra cost.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np

from popgames.errors import PopgamesError
from popgames.matrix_game import MatrixGame
from popgames.payoff_tensor import others_matrix
from popgames.spiel_best_response import best_response_to_reach
from popgames.spiel_tree import expected_returns_many, player_rows, terminal_reach, uniform_policy


class ExactOracle(Protocol):
    """What the exact PSRO loop asks of a game."""

    n_players: int

    def initial_policy(self, player: int) -> Any: ...

    def payoffs(self, population: Sequence[Sequence[Any]],
                profiles: list[tuple[int, ...]]) -> np.ndarray: ...

    def best_response(self, population: Sequence[Sequence[Any]], player: int,
                      others: np.ndarray) -> tuple[Any, float]: ...

    def same_policy(self, a: Any, b: Any) -> bool: ...

    def to_array(self, player: int, policies: Sequence[Any]) -> np.ndarray: ...

    def from_array(self, player: int, array: np.ndarray) -> list[Any]: ...


class MatrixOracle:
    """Matrix games: policies are pure actions; the best response is an argmax.

    ``others`` is a distribution over the other players' population profiles, an
    array with one axis per other player (in player order).
    """

    def __init__(self, game: MatrixGame):
        self.game = game
        self.n_players = game.n_players

    def initial_policy(self, player: int) -> int:
        return 0

    def payoffs(self, population: Sequence[Sequence[int]],
                profiles: list[tuple[int, ...]]) -> np.ndarray:
        actions = np.array([[population[i][k] for i, k in enumerate(p)] for p in profiles])
        return self.game.payoffs[(slice(None), *actions.T)].T

    def best_response(self, population: Sequence[Sequence[int]], player: int,
                      others: np.ndarray) -> tuple[int, float]:
        # Spread the distribution over population profiles onto the others' action grid.
        shape = tuple(a for i, a in enumerate(self.game.num_actions) if i != player)
        grid = np.zeros(shape)
        members = [np.asarray(population[i]) for i in range(self.n_players) if i != player]
        index = np.meshgrid(*members, indexing="ij") if members else []
        np.add.at(grid, tuple(index), others)
        values = others_matrix(self.game.payoffs, player) @ grid.reshape(-1)
        best = int(np.argmax(values))  # ties -> lowest action index, deterministically
        return best, float(values[best])

    def same_policy(self, a: int, b: int) -> bool:
        return a == b

    def to_array(self, player: int, policies: Sequence[int]) -> np.ndarray:
        return np.asarray(policies, dtype=np.int64)

    def from_array(self, player: int, array: np.ndarray) -> list[int]:
        return [int(a) for a in array]


class SpielOracle:
    """OpenSpiel games: policies are per-player tabular blocks ``[n_info_p, A]``.

    Everything goes through the flattened tree (:mod:`popgames.spiel_tree`): each
    population policy's own reach of every terminal is computed once and cached, a
    meta-game entry is then one product over players, and a best response to any
    distribution over the others' population profiles -- product or correlated --
    needs only the others' combined terminal reach.
    """

    def __init__(self, game: Any):
        self.game = game
        self.tree = game.tree
        self.n_players = self.tree.n_players
        self._reach: list[list[np.ndarray]] = [[] for _ in range(self.n_players)]

    def _reaches(self, population: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
        for p, pop in enumerate(population):
            cache = self._reach[p]
            if len(pop) > len(cache):  # populations only grow; reach the new members once
                cache.extend(terminal_reach(self.tree, p, np.stack(pop[len(cache):])))
        return [np.stack(self._reach[p][: len(pop)]) for p, pop in enumerate(population)]

    def initial_policy(self, player: int) -> np.ndarray:
        return player_rows(self.tree, player, uniform_policy(self.tree)).copy()

    def payoffs(self, population: Sequence[Sequence[np.ndarray]],
                profiles: list[tuple[int, ...]]) -> np.ndarray:
        return expected_returns_many(self.tree, self._reaches(population), np.array(profiles))

    def best_response(self, population: Sequence[Sequence[np.ndarray]], player: int,
                      others: np.ndarray) -> tuple[np.ndarray, float]:
        reaches = self._reaches(population)
        rest = [q for q in range(self.n_players) if q != player]
        letters = "abcdefghij"[: len(rest)]
        # Sum over the others' profiles of their probability times the product of their reaches.
        combined = np.einsum(f"{letters},{','.join(c + 'z' for c in letters)}->z",
                             others, *[reaches[q] for q in rest])
        return best_response_to_reach(self.tree, player,
                                      [combined if q == rest[0] else 1.0 for q in range(self.n_players)])

    def same_policy(self, a: np.ndarray, b: np.ndarray) -> bool:
        return a.shape == b.shape and bool(np.array_equal(a, b))

    def to_array(self, player: int, policies: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(policies)

    def from_array(self, player: int, array: np.ndarray) -> list[np.ndarray]:
        return [np.array(a) for a in array]


#: Game class name -> adapter constructor.
ORACLES: dict[str, Callable[[Any], ExactOracle]] = {"MatrixGame": MatrixOracle,
                                                    "SpielGame": SpielOracle}


def oracle_for(game: Any) -> ExactOracle:
    """The exact oracle for ``game``'s kind."""
    kind = type(game).__name__
    if kind not in ORACLES:
        raise PopgamesError(f"no exact best-response oracle for games of kind {kind} "
                            f"(available: {', '.join(ORACLES)})")
    return ORACLES[kind](game)
