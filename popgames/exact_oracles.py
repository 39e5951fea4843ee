"""Exact best-response oracles and evaluators, one adapter per game kind.

PSRO needs four things from a game: a first policy per player, the payoffs of
profiles of population policies, a best response of one player to a (possibly
correlated) distribution over the others' population policies, and a way to store
policies as arrays. An adapter supplies them; ``oracle_for(game)`` picks it from the
registry ``ORACLES`` keyed by game class name.

The best response also returns its value, so the loop gets the exploitability of the
meta-strategy in the full game (NashConv, or the CE/CCE gap) at no extra cost.

**Ties.** Exact best responses are rarely unique: wherever the meta-strategy never
goes, every action is worth the same (nothing), and a rule must pick one. The rule
shapes the whole run, because today's tie-break is tomorrow's population member.
``tie_break="tremble"`` (the default) returns, among the exact best responses, the
limit of best responses to opponents that tremble -- play a uniformly random legal
action with probability ``eps`` at each of their decisions -- as ``eps -> 0+``
(Selten's trembling hand; computed exactly, with ``eps`` symbolic, by
:func:`~popgames.spiel_best_response.lexicographic_best_response`). The response is
still an exact best response to the meta-strategy, and it also plays well at
infostates the meta-strategy does not reach, which later meta-strategies do reach.
``tie_break="lowest"`` takes the lowest action index (OpenSpiel's
``TabularBestResponse`` on the same exact input); off the meta-strategy's path that
means action 0 everywhere (fold, in poker), and PSRO then needs more iterations.
psro_v2 gets a tremble-like refinement by accident: its ``PolicyAggregator`` adds
``1e-40`` to every action probability, which makes every infostate reachable.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from popgames.errors import PopgamesError
from popgames.matrix_game import MatrixGame
from popgames.payoff_tensor import others_matrix
from popgames.spiel_best_response import lexicographic_best_response, tremble_reach
from popgames.spiel_tree import expected_returns_many, player_rows, uniform_policy

#: Tie-breaking rules of the exact oracles (see the module docstring).
TIE_BREAKS = ("tremble", "lowest")
#: Trembles counted by ``tie_break="tremble"`` on game trees: ties that only ``TREMBLE_ORDER + 1``
#: simultaneous trembles would decide go to the lowest index. Each order costs one more
#: reach vector per policy; 30-iteration PSRO runs on leduc and liar's dice were the same
#: with orders 3 and 5 (order 1, and on liar's dice order 2, gave different runs).
TREMBLE_ORDER = 3
#: Relative tolerance under which two values count as tied.
TIE_RTOL = 1e-12


def _check_tie_break(tie_break: str) -> str:
    if tie_break not in TIE_BREAKS:
        raise PopgamesError(f"tie_break {tie_break!r}: expected one of {', '.join(TIE_BREAKS)}")
    return tie_break


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
    array with one axis per other player (in player order). With ``tie_break="tremble"``
    the others tremble jointly to uniform play, ``(1 - eps) others + eps uniform``, so
    ties go to the action best against uniformly random opponents, then the lowest.
    """

    def __init__(self, game: MatrixGame, tie_break: str = "tremble"):
        self.game = game
        self.n_players = game.n_players
        self.tie_break = _check_tie_break(tie_break)

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
        payoffs = others_matrix(self.game.payoffs, player)
        values = payoffs @ grid.reshape(-1)
        tied = values >= values.max() - TIE_RTOL * np.abs(values).max()
        if self.tie_break == "tremble" and tied.sum() > 1:
            # Opponents trembling to uniform play: the next order of (1-eps) others + eps
            # uniform is the value against uniform opponents.
            uniform = payoffs.mean(axis=1)
            tied &= uniform >= np.where(tied, uniform, -np.inf).max() - TIE_RTOL * np.abs(uniform).max()
        best = int(np.argmax(tied))   # remaining ties -> lowest action index
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
    population policy's own reach of every terminal is computed once and cached
    (with ``tie_break="tremble"``, as the coefficients of its trembling reach, see
    :func:`~popgames.spiel_best_response.tremble_reach`), a meta-game entry is then one
    product over players, and a best response to any distribution over the others'
    population profiles -- product or correlated -- needs only the others' combined
    terminal reach.
    """

    def __init__(self, game: Any, tie_break: str = "tremble"):
        self.game = game
        self.tree = game.tree
        self.n_players = self.tree.n_players
        self.tie_break = _check_tie_break(tie_break)
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

    def initial_policy(self, player: int) -> np.ndarray:
        return player_rows(self.tree, player, uniform_policy(self.tree)).copy()

    def payoffs(self, population: Sequence[Sequence[np.ndarray]],
                profiles: list[tuple[int, ...]]) -> np.ndarray:
        reaches = [r[:, 0] for r in self._reaches(population)]
        return expected_returns_many(self.tree, reaches, np.array(profiles))

    def best_response(self, population: Sequence[Sequence[np.ndarray]], player: int,
                      others: np.ndarray) -> tuple[np.ndarray, float]:
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
        return lexicographic_best_response(self.tree, player, combined)

    def same_policy(self, a: np.ndarray, b: np.ndarray) -> bool:
        return a.shape == b.shape and bool(np.array_equal(a, b))

    def to_array(self, player: int, policies: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(policies)

    def from_array(self, player: int, array: np.ndarray) -> list[np.ndarray]:
        return [np.array(a) for a in array]


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


#: Game class name -> adapter constructor.
ORACLES: dict[str, Callable[..., ExactOracle]] = {"MatrixGame": MatrixOracle,
                                                 "SpielGame": SpielOracle}


def _markov_oracle(game: Any, seed: int = 0, device: str | None = None,
                   options: Any = None) -> Any:
    # Imported here: matrix and OpenSpiel runs never load torch for it.
    from popgames.markov_oracle import MarkovOracle

    return MarkovOracle(game, seed=seed, device=device, options=options)


ORACLES["MarkovGame"] = _markov_oracle


def oracle_for(game: Any, tie_break: str = "tremble", **settings: Any) -> ExactOracle:
    """The oracle for ``game``'s kind, breaking ties by ``tie_break`` (see module doc).

    ``tie_break`` and ``settings`` (``seed``, ``device``, ``options`` for learned
    oracles) are passed to adapters whose constructor takes them; ``tie_break`` is
    validated for all.
    """
    kind = type(game).__name__
    if kind not in ORACLES:
        raise PopgamesError(f"no best-response oracle for games of kind {kind} "
                            f"(available: {', '.join(ORACLES)})")
    make = ORACLES[kind]
    _check_tie_break(tie_break)
    takes = inspect.signature(make).parameters
    given = {"tie_break": tie_break, **settings}
    return make(game, **{k: v for k, v in given.items() if k in takes})
