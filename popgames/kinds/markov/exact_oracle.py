"""The ``exact`` PSRO oracle of small Markov games: best responses by backward induction,
meta-game entries computed exactly.

Where the rules are deterministic (``deterministic = True``) or enumerate their chance,
:mod:`popgames.kinds.markov.exact` answers a mixture of population profiles exactly. This
oracle makes those answers population members (:class:`~popgames.kinds.markov.policies.TablePolicy`,
one action per observation row) and computes every meta-game entry by the same induction
with each seat's member as the learner, so entries carry no sampling noise and the loop's
NashConv is exact (``exact = True``) -- over the members a population can hold, policies
of the observation. A best response over whole histories may do better where the
observation forgets what the opponents' play revealed; each response reports that value
(``history_value``) and the difference (``representation_gap``), and the per-iteration game
metrics keep the history-dependent ``exact_nash_conv`` beside the loop's.

Everything else (seed policies, checkpoints, the game metrics against the reference
policies) is the PPO oracle's: :class:`~popgames.kinds.markov.oracle.MarkovOracle`.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from popgames.core.errors import GameCardError
from popgames.core.protocols import Entries, Oracle, OracleSettings, Population, Response
from popgames.kinds.markov.exact import best_response, evaluate_response
from popgames.kinds.markov.game import MarkovGame
from popgames.kinds.markov.oracle import MarkovOracle


class ExactMarkovOracle(MarkovOracle):
    """Exact best responses and exact entries on a small :class:`MarkovGame`."""

    exact = True

    def __init__(self, game: MarkovGame, seed: int = 0, device: str | None = None,
                 options: Mapping[str, Any] | None = None):
        if not (game.deterministic or game.enumerates_chance):
            raise GameCardError(game.source or game.name, "psro.oracle",
                                "the exact oracle needs rules that declare deterministic = True or "
                                "enumerate their chance (initial_outcomes and outcomes); use oracle = \"ppo\"")
        super().__init__(game, seed=seed, device=device, options=options)
        self.shares_parameters = False   # one table per seat: the learner's seat is in its rows

    def evaluate(self, population: Population, profiles: list[tuple[int, ...]]) -> Entries:
        """Each profile's exact expected returns, seat by seat (no variances: nothing is sampled)."""
        means = np.zeros((len(profiles), self.n_players))
        for row, index in enumerate(profiles):
            profile = [population[i][k] for i, k in enumerate(index)]
            for seat in range(self.n_players):
                means[row, seat] = evaluate_response(self.game, [(1.0, profile)], seat, profile[seat])
        return Entries(means)

    # The protocol's default, one exact answer after another in this process (each takes
    # seconds at most), not the PPO oracle's training tasks.
    best_responses = Oracle.best_responses

    def best_response(self, population: Sequence[Sequence[Any]], player: int,
                      others: np.ndarray) -> Response:
        started = time.perf_counter()
        mixture = self._mix(population, player, others)[player]
        answer = best_response(self.game, mixture, player, name=f"exact_p{player}_{len(population[player])}")
        return Response(answer.policy, answer.value, {
            "player": player, "history_value": answer.history_value,
            "representation_gap": answer.representation_gap, "table_rows": len(answer.policy.actions),
            "seconds": time.perf_counter() - started})


def exact_markov_oracle(game: MarkovGame, settings: OracleSettings) -> ExactMarkovOracle:
    """The ``exact`` oracle of the Markov kind."""
    return ExactMarkovOracle(game, seed=settings.seed, device=settings.device, options=settings.options)
