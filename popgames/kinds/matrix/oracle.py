"""Exact best responses in matrix games, and the exact oracles' tie-breaking rule.

The exact oracle of matrix games (and of team games, which are matrix games), an
:class:`~popgames.core.protocols.Oracle`: policies are pure actions, a best response
is an argmax. The OpenSpiel kind's exact oracle (:mod:`popgames.kinds.spiel.oracle`)
follows the same tie-breaking rule, described here once.

The best response also returns its value, so the loop gets the exploitability of the
meta-strategy in the full game (NashConv, or the CE/CCE gap) at no extra cost.

**Ties.** Exact best responses are rarely unique: wherever the meta-strategy never
goes, every action is worth the same (nothing), and a rule must pick one. The rule
shapes the whole run, because today's tie-break is tomorrow's population member.
``tie_break="tremble"`` (the default) returns, among the exact best responses, the
limit of best responses to opponents that tremble -- play a uniformly random legal
action with probability ``eps`` at each of their decisions -- as ``eps -> 0+``
(Selten's trembling hand; computed exactly, with ``eps`` symbolic, by
:func:`~popgames.kinds.spiel.best_response.lexicographic_best_response`). The response is
still an exact best response to the meta-strategy, and it also plays well at
infostates the meta-strategy does not reach, which later meta-strategies do reach.
``tie_break="lowest"`` takes the lowest action index (OpenSpiel's
``TabularBestResponse`` on the same exact input); off the meta-strategy's path that
means action 0 everywhere (fold, in poker), and PSRO then needs more iterations.
psro_v2 gets a tremble-like refinement by accident: its ``PolicyAggregator`` adds
``1e-40`` to every action probability, which makes every infostate reachable.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from popgames.core.payoff_tensor import others_matrix
from popgames.core.protocols import Entries, Oracle, OracleSettings, Population, Response
from popgames.kinds.matrix.game import MatrixGame

#: Trembles counted by ``tie_break="tremble"`` on game trees: ties that only ``TREMBLE_ORDER + 1``
#: simultaneous trembles would decide go to the lowest index. Each order costs one more
#: reach vector per policy; 30-iteration PSRO runs on leduc and liar's dice were the same
#: with orders 3 and 5 (order 1, and on liar's dice order 2, gave different runs).
TREMBLE_ORDER = 3
#: Relative tolerance under which two values count as tied.
TIE_RTOL = 1e-12


class MatrixOracle(Oracle):
    """Matrix games: policies are pure actions; the best response is an argmax.

    ``others`` is a distribution over the other players' population profiles, an
    array with one axis per other player (in player order). With ``tie_break="tremble"``
    the others tremble jointly to uniform play, ``(1 - eps) others + eps uniform``, so
    ties go to the action best against uniformly random opponents, then the lowest.
    """

    def __init__(self, game: MatrixGame, tie_break: str = "tremble"):
        self.game = game
        self.n_players = game.n_players
        self.tie_break = OracleSettings(tie_break=tie_break).tie_break

    def initial_policies(self, player: int) -> list[int]:
        return [0]

    def evaluate(self, population: Population, profiles: list[tuple[int, ...]]) -> Entries:
        actions = np.array([[population[i][k] for i, k in enumerate(p)] for p in profiles])
        return Entries(self.game.payoffs[(slice(None), *actions.T)].T)

    def best_response(self, population: Sequence[Sequence[int]], player: int,
                      others: np.ndarray) -> Response:
        # Spread the distribution over population profiles onto the others' action grid.
        shape = tuple(a for i, a in enumerate(self.game.num_actions) if i != player)
        grid = np.zeros(shape)
        members = [np.asarray(population[i]) for i in range(self.n_players) if i != player]
        index = np.meshgrid(*members, indexing="ij") if members else []
        np.add.at(grid, tuple(index), others)
        payoffs = others_matrix(self.game.payoffs, player)
        values = payoffs @ grid.reshape(-1)
        tied = values >= values.max() - TIE_RTOL * np.abs(values).max()
        if self.tie_break == "tremble" and tied.sum() > 1:
            # Opponents trembling to uniform play: the next order of (1-eps) others + eps
            # uniform is the value against uniform opponents.
            uniform = payoffs.mean(axis=1)
            tied &= uniform >= np.where(tied, uniform, -np.inf).max() - TIE_RTOL * np.abs(uniform).max()
        best = int(np.argmax(tied))   # remaining ties -> lowest action index
        return Response(best, float(values[best]))

    def same(self, a: int, b: int) -> bool:
        return a == b

    def save(self, player: int, policies: Sequence[int]) -> dict[str, np.ndarray]:
        return {f"population_{player}": np.asarray(policies, dtype=np.int64)}

    def load(self, player: int, arrays: Mapping[str, np.ndarray]) -> list[int]:
        return [int(a) for a in population_array(arrays, player)]


def population_array(arrays: Mapping[str, np.ndarray], player: int) -> np.ndarray:
    """The checkpoint's ``population_<player>`` array (one row per policy)."""
    key = f"population_{player}"
    if key not in arrays:
        raise KeyError(f"no '{key}' array")
    return arrays[key]


def matrix_oracle(game: MatrixGame, settings: OracleSettings) -> MatrixOracle:
    """The ``exact`` oracle of the matrix and team kinds."""
    return MatrixOracle(game, settings.tie_break)
