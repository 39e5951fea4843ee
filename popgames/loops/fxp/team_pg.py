"""FXP's decentralised learner for two-team games (:mod:`popgames.kinds.team.game`).

Each agent is one Bernoulli logit trained by exact-gradient policy gradient on its
team's expected payoff against the fixed opponent mixture; counters are exact team
best responses or decentralised learners of their own (:class:`TeamPGLearner`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from scipy.special import expit

from popgames.core.errors import PopgamesError
from popgames.core.protocols import Learner
from popgames.core.regrets import nash_regrets
from popgames.kinds.team.game import TeamMatrixGame, team_strategy


class TeamPGLearner(Learner):
    """Decentralised agents: agent ``j``'s policy is one Bernoulli logit, trained by
    exact-gradient policy gradient on its team's expected payoff.

    A policy is a logit vector ``[N]`` (``+-inf`` for the deterministic team best
    responses). :meth:`train` takes ``steps`` gradient steps against the fixed opponent
    mixture: natural gradient by default (for a Bernoulli logit that is the payoff
    difference of the agent's two actions; the plain gradient is that times
    ``p (1 - p)``, which freezes saturated agents), with an entropy bonus of weight
    ``entropy * entropy_decay**iteration``. The bonus keeps logits finite and close
    across agents, so a team that is driven away from all-1 moves as a team
    instead of one agent at a time; decaying it lets the final policy become pure.

    Counters are exact team best responses (``counter="exact"``: argmax over the
    ``2^N`` joint actions, what PSRO's team oracle returns) or decentralised learners
    trained from a random start (``counter="pg"``, ``counter_steps`` steps).
    """

    symmetric = True
    OPTIONS = {"lr": 5.0, "steps": 20, "natural": True, "entropy": 0.05, "entropy_decay": 0.9,
               "counter": "exact", "counter_steps": 200}

    def __init__(self, game: TeamMatrixGame, options: Mapping[str, Any] | None = None, *,
                 seed: int = 0, device: str | None = None):
        if not isinstance(game, TeamMatrixGame):
            raise PopgamesError(f"learner 'team_pg' needs a team_matrix game, not {type(game).__name__}")
        options = dict(options or {})
        unknown = set(options) - set(self.OPTIONS)
        if unknown:
            raise PopgamesError(f"unknown team_pg learner option(s) {sorted(unknown)} "
                                f"(known: {', '.join(self.OPTIONS)})")
        self.options = {**self.OPTIONS, **options}
        if self.options["counter"] not in ("exact", "pg"):
            raise PopgamesError(f"team_pg option counter={self.options['counter']!r}: "
                                "expected 'exact' or 'pg'")
        self.game, self.bits = game, game.bits
        self.n_players = 2
        self.symmetric = bool(np.array_equal(game.payoffs[1], game.payoffs[0].T))

    def initial_policy(self, player: int, generator: np.random.Generator) -> np.ndarray:
        """Each agent plays 1 with a probability drawn uniformly from (0, 1)."""
        p = generator.uniform(0.02, 0.98, size=self.game.team_size)
        return np.log(p / (1 - p))

    def strategy(self, policy: np.ndarray) -> np.ndarray:
        return team_strategy(expit(policy))

    def _mixture(self, opponents: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
        return sum(w * self.strategy(q) for q, w in opponents)

    def _values(self, player: int, opponent_mix: np.ndarray) -> np.ndarray:
        """Expected payoff of each own joint action against the opponents' joint mixture."""
        payoff = self.game.payoffs[player]
        return payoff @ opponent_mix if player == 0 else opponent_mix @ payoff

    def agent_gradient(self, policy: np.ndarray, values: np.ndarray) -> np.ndarray:
        """d(expected payoff)/d(P(agent j plays 1)) for every agent ``j``: ``[N]``."""
        p = expit(policy)
        per_agent = np.where(self.bits == 1, p, 1 - p)                  # [2^N, N]
        grads = np.empty_like(p)
        for j in range(len(p)):
            others = np.prod(np.delete(per_agent, j, axis=1), axis=1)    # own agent j removed
            grads[j] = (others * np.where(self.bits[:, j] == 1, 1.0, -1.0)) @ values
        return grads

    def train(self, policy: np.ndarray, opponents: Sequence[tuple[np.ndarray, float]], player: int,
              generator: np.random.Generator, iteration: int) -> np.ndarray:
        o = self.options
        values = self._values(player, self._mixture(opponents))
        tau = o["entropy"] * o["entropy_decay"] ** iteration
        theta = np.array(policy, np.float64)
        for _ in range(int(o["steps"])):
            step = self.agent_gradient(theta, values) - tau * theta       # entropy: d H / d p = -theta
            if not o["natural"]:
                p = expit(theta)
                step = step * p * (1 - p)
            theta = theta + o["lr"] * step
        return theta

    def best_response(self, opponents: Sequence[tuple[np.ndarray, float]], player: int,
                      generator: np.random.Generator, iteration: int) -> np.ndarray:
        if self.options["counter"] == "pg":
            start = self.initial_policy(player, generator)
            return self.train(start, opponents, player, generator, iteration)
        values = self._values(player, self._mixture(opponents))
        best = self.bits[int(np.argmax(values))]                        # ties -> lowest index
        return np.where(best == 1, np.inf, -np.inf)

    def payoffs(self, profiles: Sequence[tuple[np.ndarray, np.ndarray]],
                generator: np.random.Generator | None = None) -> np.ndarray:
        out = np.empty((len(profiles), 2))
        for k, (x, y) in enumerate(profiles):
            sx, sy = self.strategy(x), self.strategy(y)
            out[k] = [sx @ self.game.payoffs[0] @ sy, sx @ self.game.payoffs[1] @ sy]
        return out

    def exploitability(self, profile: tuple[np.ndarray, np.ndarray]) -> tuple[float, list[float]]:
        regrets = nash_regrets(self.game.payoffs, [self.strategy(p) for p in profile])
        return float(regrets.sum()), regrets.tolist()

    def describe(self, profile: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
        """Per team, each agent's probability of playing 1 (for metrics and reports)."""
        return {"main_p1": [expit(p).tolist() for p in profile]}

    def to_array(self, policies: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([np.asarray(p, np.float64) for p in policies])

    def from_array(self, array: np.ndarray) -> list[np.ndarray]:
        return [np.array(a, np.float64) for a in array]
