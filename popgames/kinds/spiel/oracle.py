"""The exact oracle of OpenSpiel games, an :class:`~popgames.core.protocols.Oracle`.

Ties are broken as the matrix oracle's (:mod:`popgames.kinds.matrix.oracle`):
``tie_break="tremble"`` computes, with ``eps`` symbolic, the limit of best responses
to opponents that tremble (:func:`~popgames.kinds.spiel.best_response.lexicographic_best_response`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from popgames.core.protocols import Entries, Oracle, OracleSettings, Population, Response
from popgames.kinds.matrix.oracle import TREMBLE_ORDER, population_array
from popgames.kinds.spiel.best_response import lexicographic_best_response, tremble_reach
from popgames.kinds.spiel.policies import expected_returns_many, player_rows, uniform_policy


class SpielOracle(Oracle):
    """OpenSpiel games: policies are per-player tabular blocks ``[n_info_p, A]``.

    Everything goes through the flattened tree (:mod:`popgames.kinds.spiel.tree`): each
    population policy's own reach of every terminal is computed once and cached
    (with ``tie_break="tremble"``, as the coefficients of its trembling reach, see
    :func:`~popgames.kinds.spiel.best_response.tremble_reach`), a meta-game entry is then one
    product over players, and a best response to any distribution over the others'
    population profiles -- product or correlated -- needs only the others' combined
    terminal reach.
    """

    def __init__(self, game: Any, tie_break: str = "tremble"):
        self.game = game
        self.tree = game.tree
        self.n_players = self.tree.n_players
        self.tie_break = OracleSettings(tie_break=tie_break).tie_break
        self.order = TREMBLE_ORDER if tie_break == "tremble" else 0
        # Per player: reach coefficients [capacity, order + 1, Z] of the first _count[p]
        # population members (grown by doubling: populations only grow).
        self._reach = [np.zeros((0, self.order + 1, len(self.tree.terminals)))
                       for _ in range(self.n_players)]
        self._count = [0] * self.n_players

    def _reaches(self, population: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
        for p, pop in enumerate(population):
            done = self._count[p]
            if len(pop) > done:  # reach the new members once
                if len(pop) > len(self._reach[p]):
                    grown = np.empty((max(2 * len(pop), 8),) + self._reach[p].shape[1:])
                    grown[:done] = self._reach[p][:done]
                    self._reach[p] = grown
                self._reach[p][done:len(pop)] = tremble_reach(self.tree, p, np.stack(pop[done:]),
                                                              self.order)
                self._count[p] = len(pop)
        return [self._reach[p][: len(pop)] for p, pop in enumerate(population)]

    def initial_policies(self, player: int) -> list[np.ndarray]:
        return [player_rows(self.tree, player, uniform_policy(self.tree)).copy()]

    def evaluate(self, population: Population, profiles: list[tuple[int, ...]]) -> Entries:
        reaches = [r[:, 0] for r in self._reaches(population)]
        return Entries(expected_returns_many(self.tree, reaches, np.array(profiles)))

    def best_response(self, population: Sequence[Sequence[np.ndarray]], player: int,
                      others: np.ndarray) -> Response:
        reaches = self._reaches(population)
        rest = [q for q in range(self.n_players) if q != player]
        # Only policies the distribution plays matter (trembles included): restrict every
        # axis to its support, which is usually far smaller than the population.
        others = np.asarray(others, np.float64)
        support = [np.flatnonzero(others.sum(axis=tuple(a for a in range(others.ndim) if a != k)))
                   for k in range(others.ndim)]
        others = others[np.ix_(*support)]
        members = [reaches[q] if len(s) == len(reaches[q]) else reaches[q][s]   # no copy if full
                   for q, s in zip(rest, support)]
        # Sum over the others' profiles of their probability times the product of their
        # reaches; the products are of polynomials in eps, truncated at order self.order.
        combined = np.tensordot(others, members[0], axes=(0, 0))
        for member in members[1:]:
            combined = _poly_contract(combined, member, self.order)
        return Response(*lexicographic_best_response(self.tree, player, combined))

    def same(self, a: np.ndarray, b: np.ndarray) -> bool:
        return a.shape == b.shape and bool(np.array_equal(a, b))

    def save(self, player: int, policies: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return {f"population_{player}": np.stack(policies)}

    def load(self, player: int, arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return [np.array(a) for a in population_array(arrays, player)]


def _poly_contract(acc: np.ndarray, reach: np.ndarray, order: int) -> np.ndarray:
    """``sum_k acc[k, ...] * reach[k]`` where both carry polynomial coefficients.

    ``acc`` is ``[K, ..., L1, Z]`` (leading axis: the next player's population index),
    ``reach`` is ``[K, L2, Z]``; the result ``[..., min(L1 + L2 - 1, order + 1), Z]``
    holds the coefficients of the product, truncated after ``eps**order``.
    """
    n_l = min(acc.shape[-2] + reach.shape[1] - 1, order + 1)
    out = np.zeros(acc.shape[1:-2] + (n_l, acc.shape[-1]))
    for e in range(min(reach.shape[1], n_l)):
        m = min(acc.shape[-2], n_l - e)
        out[..., e:e + m, :] += np.einsum("k...dz,kz->...dz", acc[..., :m, :], reach[:, e])
    return out


def spiel_oracle(game: Any, settings: OracleSettings) -> SpielOracle:
    """The ``exact`` oracle of the OpenSpiel kind."""
    return SpielOracle(game, settings.tie_break)
