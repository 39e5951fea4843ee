"""Mean-field PSRO's exact oracle: tabular policies, exact values, best responses by backward induction.

Each population of a mean-field game is a player of the PSRO loop
(:mod:`popgames.loops.psro`), its population of policies ``pi[T, X, A]``. The meta-game
tensor holds what pure profiles give (every population playing one member: each
population's value against the flow they make together), for the report; the
restricted equilibrium itself needs the payoffs of mixtures, which are not linear in the
shares, so this oracle solves its own meta-game (``solves_meta_game``) with the
``nash`` and ``cce`` solvers of :mod:`popgames.kinds.mean_field.meta_game`, and its best
responses answer that solution. The loop's exploitability is then the mean-field
exploitability of the restricted equilibrium (Nash: of the mixed population, the sum over
populations) or its CCE gap in the full game.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from popgames.core.errors import PopgamesError
from popgames.core.protocols import Entries, Oracle, OracleSettings, Population, Response
from popgames.kinds.mean_field.exact import evaluate, uniform_policy
from popgames.kinds.mean_field.meta_game import META_ITERATIONS, META_SOLVERS, MetaSolution, best_responses


def check_oracle_options(game: Any, options: Mapping[str, Any], blame: Mapping[str, str]) -> None:
    """The oracle's one option, ``meta_iterations`` (an int >= 1); anything else is one line."""
    for key, value in options.items():
        where = blame.get(key, f"{game.source or game.name} [oracle]")
        if key != "meta_iterations":
            raise PopgamesError(f"{where}: mean-field PSRO's oracle has no option '{key}' (known: meta_iterations)")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PopgamesError(f"{where}: meta_iterations must be an int >= 1, got {value!r}")


def mean_field_oracle(game: Any, settings: OracleSettings) -> "MeanFieldOracle":
    """The ``exact`` oracle of the mean_field and openspiel_mfg kinds."""
    return MeanFieldOracle(game, settings)


class MeanFieldOracle(Oracle):
    """Exact mean-field PSRO oracle (module doc); ``meta_iterations`` sets the meta-solvers' steps."""

    solves_meta_game = True

    def __init__(self, game: Any, settings: OracleSettings | None = None):
        self.rules = game.rules
        self.n_players = self.rules.agents[0] if self.rules.agents else 1
        options = dict((settings or OracleSettings()).options)
        check_oracle_options(game, options, {})
        self.meta_iterations = int(options.get("meta_iterations", META_ITERATIONS))

    def initial_policies(self, player: int) -> list[Any]:
        start = uniform_policy(self.rules)
        return [start[player] if self.rules.agents else start]

    def evaluate(self, population: Population, profiles: list[tuple[int, ...]]) -> Entries:
        values = np.empty((len(profiles), self.n_players))
        for row, profile in enumerate(profiles):
            joint = np.stack([population[k][i] for k, i in enumerate(profile)])
            values[row] = np.atleast_1d(evaluate(self.rules, joint if self.rules.agents else joint[0],
                                                 checked=True).value)
        return Entries(values)

    def solve_meta_game(self, population: Population, meta_solver: str, options: Mapping[str, Any]
                        ) -> MetaSolution:
        """The restricted equilibrium of ``population`` (``nash`` or ``cce``; no options)."""
        if meta_solver not in META_SOLVERS:
            raise PopgamesError(f"mean-field PSRO: no meta-solver '{meta_solver}' (choices: "
                                f"{', '.join(META_SOLVERS)})")
        if options:
            raise PopgamesError(f"mean-field PSRO: meta-solver '{meta_solver}' takes no options "
                                f"(got {', '.join(options)}); the oracle's meta_iterations sets its steps")
        return META_SOLVERS[meta_solver](self.rules, population, self.meta_iterations)

    def meta_best_responses(self, population: Population, solution: MetaSolution) -> list[Response]:
        """One best response per population to ``solution`` (its value beside it)."""
        return [Response(policy, value) for policy, value in best_responses(self.rules, solution)]

    def best_response(self, population: Population, player: int, opponents: np.ndarray) -> Response:
        raise PopgamesError("mean-field PSRO best-responds to its own meta-solution (meta_best_responses)")

    def save(self, player: int, policies: Sequence[Any]) -> dict[str, np.ndarray]:
        return {f"population_{player}": np.stack(list(policies))}

    def load(self, player: int, arrays: Mapping[str, np.ndarray]) -> list[Any]:
        return list(np.asarray(arrays[f"population_{player}"], dtype=np.float64))

    def same(self, a: Any, b: Any) -> bool:
        return bool(np.array_equal(a, b))
