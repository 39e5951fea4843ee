"""FXP's exact learner for matrix and OpenSpiel games.

With exact best responses the counters are exact (a matrix argmax, or OpenSpiel's
tree best response through :mod:`popgames.kinds.spiel.best_response`), and the main
policy's update is a *fictitious-play step*: compute the exact best response ``b``
to the main's training mix (self-play part + cross-play part, see
:mod:`popgames.loops.fxp.loop`) and move the main to ``(1 - alpha) main + alpha b``, with
``alpha = 1 / (iteration + 2)`` (``step = "fictitious"``: the main is then the
running average of its best responses, as in fictitious play) or a constant
``step``. In OpenSpiel games the average is taken in sequence form (the
behaviour policy whose realisation plan is the convex combination, as in
full-width extensive-form fictitious play, Heinrich et al. 2015), so it is the
mixture the two policies would be if played as a whole.

Policies: a mixed strategy ``[A_player]`` in matrix games, the player's tabular
block ``[n_info_player, A]`` in OpenSpiel games.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from popgames.core.errors import PopgamesError
from popgames.core.payoff_tensor import others_matrix
from popgames.core.protocols import Learner
from popgames.core.regrets import nash_regrets
from popgames.kinds.matrix.game import MatrixGame

Opponents = Sequence[tuple[np.ndarray, float]]


class ExactLearner(Learner):
    """Exact best responses and fictitious-play main updates (module doc).

    Options: ``init`` -- ``"random"`` (Dirichlet(1) rows from the generator, default)
    or ``"uniform"``; ``step`` -- ``"fictitious"`` or a constant in (0, 1].
    """

    OPTIONS = {"init": "random", "step": "fictitious"}

    def __init__(self, game: Any, options: Mapping[str, Any] | None = None, *,
                 seed: int = 0, device: str | None = None):
        options = dict(options or {})
        unknown = set(options) - set(self.OPTIONS)
        if unknown:
            raise PopgamesError(f"unknown exact learner option(s) {sorted(unknown)} "
                                f"(known: {', '.join(self.OPTIONS)})")
        self.options = {**self.OPTIONS, **options}
        step = self.options["step"]
        if self.options["init"] not in ("random", "uniform"):
            raise PopgamesError(f"exact learner init={self.options['init']!r}: "
                                "expected 'random' or 'uniform'")
        if step != "fictitious" and not (isinstance(step, (int, float)) and not isinstance(step, bool)
                                         and 0 < step <= 1):
            raise PopgamesError(f"exact learner step={step!r}: expected 'fictitious' or a number in (0, 1]")
        self.game = game
        if not isinstance(game, MatrixGame) and game.kind != "openspiel":
            raise PopgamesError(f"learner 'exact' needs a matrix or OpenSpiel game, "
                                f"not a {game.kind} game")
        self.tree = None if isinstance(game, MatrixGame) else game.tree
        self.n_players = game.n_players if self.tree is None else self.tree.n_players
        if self.n_players == 2 and not self._zero_sum():
            raise PopgamesError(f"FXP needs a zero-sum game; {game.name} is not")
        payoffs = game.payoffs if self.tree is None else None
        self.symmetric = bool(self.tree is None and self.n_players == 2
                              and payoffs.shape[1] == payoffs.shape[2]
                              and np.allclose(payoffs[1], payoffs[0].T, rtol=0,
                                              atol=1e-12 * float(np.abs(payoffs).max())))
        self._reach: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _zero_sum(self) -> bool:
        returns = self.game.payoffs if self.tree is None else self.tree.returns.T
        # Relative to the payoffs themselves: a zero-sum total is near 0 whatever their scale.
        return bool(np.ptp(returns.sum(axis=0)) <= 1e-9 * float(np.abs(returns).max()))

    # -- policies --------------------------------------------------------------------------
    def initial_policy(self, player: int, generator: np.random.Generator) -> np.ndarray:
        if self.tree is None:
            k = self.game.num_actions[player]
            return generator.dirichlet(np.ones(k)) if self.options["init"] == "random" else np.full(k, 1 / k)
        from popgames.kinds.spiel.policies import player_rows, random_policy, uniform_policy

        rows = (random_policy(self.tree, generator) if self.options["init"] == "random"
                else uniform_policy(self.tree))
        return player_rows(self.tree, player, rows).copy()

    def _reach_of(self, player: int, policy: np.ndarray) -> np.ndarray:
        from popgames.kinds.spiel.policies import terminal_reach

        hit = self._reach.get(id(policy))
        if hit is None or hit[0] is not policy:  # keep the policy alive so its id stays unique
            hit = (policy, terminal_reach(self.tree, player, policy))
            self._reach[id(policy)] = hit
        return hit[1]

    # -- best responses and training ---------------------------------------------------------
    def _best(self, opponents: Opponents, player: int) -> tuple[np.ndarray, float]:
        if self.tree is None:
            mix = sum(w * np.asarray(q) for q, w in opponents)
            values = others_matrix(self.game.payoffs, player) @ mix
            best = np.zeros(len(values))
            best[int(np.argmax(values))] = 1.0  # ties -> lowest action index
            return best, float(values.max())
        from popgames.kinds.spiel.best_response import best_response_to_reach

        o = 1 - player
        combined = sum(w * self._reach_of(o, q) for q, w in opponents)
        return best_response_to_reach(self.tree, player, [combined if p == o else None for p in range(2)])

    def best_response(self, opponents: Opponents, player: int, generator: np.random.Generator,
                      iteration: int) -> np.ndarray:
        return self._best(opponents, player)[0]

    def train(self, policy: np.ndarray, opponents: Opponents, player: int,
              generator: np.random.Generator, iteration: int) -> np.ndarray:
        best = self._best(opponents, player)[0]
        step = self.options["step"]
        alpha = 1.0 / (iteration + 2) if step == "fictitious" else float(step)
        if self.tree is None:
            return (1 - alpha) * np.asarray(policy) + alpha * best
        from popgames.kinds.spiel.best_response import mixture_policy

        return mixture_policy(self.tree, np.stack([policy, best]), np.array([1 - alpha, alpha]), player)

    # -- evaluation ----------------------------------------------------------------------------
    def payoffs(self, profiles: Sequence[tuple[np.ndarray, np.ndarray]],
                generator: np.random.Generator | None = None) -> np.ndarray:
        if self.tree is None:
            return np.array([[x @ self.game.payoffs[p] @ y for p in range(2)] for x, y in profiles])
        weighted = self.tree.terminal_chance[:, None] * self.tree.returns
        return np.array([(self._reach_of(0, x) * self._reach_of(1, y)) @ weighted for x, y in profiles])

    def exploitability(self, profile: tuple[np.ndarray, np.ndarray]) -> tuple[float, list[float]]:
        if self.tree is None:
            regrets = nash_regrets(self.game.payoffs, [np.asarray(p) for p in profile])
            return float(regrets.sum()), regrets.tolist()
        from popgames.kinds.spiel.best_response import nash_conv_from_reach

        total, gains = nash_conv_from_reach(self.tree, [self._reach_of(p, q) for p, q in enumerate(profile)])
        return float(total), gains.tolist()

    def to_array(self, policies: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([np.asarray(p, np.float64) for p in policies])

    def from_array(self, array: np.ndarray) -> list[np.ndarray]:
        return [np.array(a, np.float64) for a in array]
