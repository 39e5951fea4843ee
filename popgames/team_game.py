"""Two-team games of binary agents, and FXP's counter-example to self-play.

Xu et al. (AAMAS 2023, "Fictitious Cross-Play: Learning Global Nash Equilibrium in
Mixed Cooperative-Competitive Games") build a game in which two teams of ``N``
agents each pick 0 or 1. With ``a_j`` the probability agent ``j`` plays 1, ``S`` the
sum of a team's ``a_j`` and ``p0`` / ``p1`` the product over a team of P(0) / P(1), the
row team gets

    u = S_my - S_opp + (1+eps) p0_my S_opp - (1+eps) p0_opp S_my
        + (C - N eps) (p0_my p1_opp - p0_opp p1_my)

and the column team ``-u``. All-1 is a local equilibrium (one agent leaving it loses
1) and all-0 the global one (value 0; all-0 beats all-1 by ``C``), so decentralised
self-play from a random start usually ends at all-1.

``u`` is multilinear in the agents' probabilities, hence exactly the mixed extension
of a two-player zero-sum matrix game over the ``2^N`` joint team actions played with
independent agents: :class:`TeamMatrixGame` is that :class:`~popgames.MatrixGame`
plus the team structure, built from a ``kind = "team_matrix"`` card. The
decentralised learner FXP trains on it (:class:`TeamPGLearner`) lives here too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.special import expit

from popgames.errors import GameCardError, PopgamesError
from popgames.exact_oracles import ORACLES, MatrixOracle
from popgames.matrix_game import MatrixGame


def joint_actions(n: int) -> np.ndarray:
    """All ``2^n`` joint actions of a team as rows of bits ``[2^n, n]`` (agent 0 first)."""
    return np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.int64).reshape(-1, n)


def fxp_team_payoff(a: np.ndarray, b: np.ndarray, c: float = 1.5, eps: float = 0.1) -> np.ndarray:
    """The row team's payoff ``u`` for P(1) vectors ``a`` (row) and ``b`` (column) ``[..., N]``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = a.shape[-1]
    s_my, s_op = a.sum(-1), b.sum(-1)
    p0_my, p0_op = np.prod(1 - a, -1), np.prod(1 - b, -1)
    p1_my, p1_op = np.prod(a, -1), np.prod(b, -1)
    return (s_my - s_op + (1 + eps) * (p0_my * s_op - p0_op * s_my)
            + (c - n * eps) * (p0_my * p1_op - p0_op * p1_my))


def team_strategy(probs: np.ndarray) -> np.ndarray:
    """Distribution over the team's joint actions when agent ``j`` plays 1 w.p. ``probs[j]``."""
    probs = np.asarray(probs, np.float64)
    bits = joint_actions(probs.shape[-1])
    return np.prod(np.where(bits == 1, probs, 1 - probs), axis=-1)


@dataclass(frozen=True, eq=False, repr=False)
class TeamMatrixGame(MatrixGame):
    """A two-team game as a 2-player matrix game over joint team actions.

    Attributes (beyond :class:`~popgames.MatrixGame`)
    ----------
    team_size
        ``N``, agents per team; each agent picks 0 or 1, so each team has ``2^N``
        joint actions, ordered as :func:`joint_actions`.
    params
        The card's ``[params]`` (``N``, ``C``, ``epsilon``).
    fxp
        The card's ``[fxp]`` table of loop defaults.
    """

    team_size: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    fxp: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bits(self) -> np.ndarray:
        return joint_actions(self.team_size)


# PSRO's exact oracle treats the team game as the matrix game it is (team best responses).
ORACLES.setdefault("TeamMatrixGame", MatrixOracle)


def build_fxp_team_game(n: int = 3, c: float = 1.5, epsilon: float = 0.1, **kwargs: Any) -> TeamMatrixGame:
    """The ``2^n x 2^n`` zero-sum matrix game of FXP's counter-example."""
    bits = joint_actions(n).astype(np.float64)
    u = fxp_team_payoff(bits[:, None, :], bits[None, :, :], c, epsilon)
    names = tuple("".join(map(str, row)) for row in joint_actions(n))
    kwargs.setdefault("name", "fxp_team_game")
    kwargs.setdefault("players", ("row_team", "column_team"))
    # 0.0 - u: the column team's zeros are +0.0, not -0.0
    return TeamMatrixGame(np.stack([u, 0.0 - u]), actions=(names, names), team_size=n,
                          params={"N": n, "C": c, "epsilon": epsilon}, **kwargs)


def parse_team_matrix(card: dict, src: str) -> TeamMatrixGame:
    """Build a :class:`TeamMatrixGame` from a ``kind = "team_matrix"`` card.

    ``[params]`` holds ``N`` (agents per team, 1..10), ``C`` and ``epsilon``; ``[fxp]``
    defaults of the FXP loop (checked when the loop starts); ``[psro]`` as for matrix cards.
    """
    from popgames.game_card import _name, _psro_table, _solver_tables, _typed

    params = dict(_typed(card.get("params", {}), dict, src, "params"))
    known = {"N": 3, "C": 1.5, "epsilon": 0.1}
    for key in params:
        if key not in known:
            raise GameCardError(src, f"params.{key}", f"unknown parameter (known: {', '.join(known)})")
    n = _typed(params.get("N", known["N"]), int, src, "params.N")
    c = float(_typed(params.get("C", known["C"]), (int, float), src, "params.C"))
    eps = float(_typed(params.get("epsilon", known["epsilon"]), (int, float), src, "params.epsilon"))
    if not 1 <= n <= 10:
        raise GameCardError(src, "params.N", f"need 1 <= N <= 10 (2^N joint actions), got {n}")
    if not (np.isfinite(c) and np.isfinite(eps)):
        raise GameCardError(src, "params", "C and epsilon must be finite")
    return build_fxp_team_game(
        n, c, eps, name=_name(card, src),
        description=_typed(card.get("description", ""), str, src, "description"),
        solver_options=_solver_tables(card, src), psro=_psro_table(card, src),
        fxp=_fxp_table(card, src), source=src)


def _fxp_table(card: dict, src: str) -> dict[str, Any]:
    from popgames.fxp import check_card_table
    from popgames.game_card import _typed

    table = _typed(card.get("fxp", {}), dict, src, "fxp")
    check_card_table(table, src)
    return table


class TeamPGLearner:
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

    def __init__(self, game: TeamMatrixGame, **options: Any):
        if not isinstance(game, TeamMatrixGame):
            raise PopgamesError(f"learner 'team_pg' needs a team_matrix game, not {type(game).__name__}")
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
        from popgames.analysis.exploitability import nash_regrets

        regrets = nash_regrets(self.game.payoffs, [self.strategy(p) for p in profile])
        return float(regrets.sum()), regrets.tolist()

    def describe(self, profile: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
        """Per team, each agent's probability of playing 1 (for metrics and reports)."""
        return {"main_p1": [expit(p).tolist() for p in profile]}

    def to_array(self, policies: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([np.asarray(p, np.float64) for p in policies])

    def from_array(self, array: np.ndarray) -> list[np.ndarray]:
        return [np.array(a, np.float64) for a in array]
