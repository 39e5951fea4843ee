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
decentralised learner FXP trains on it is :class:`popgames.loops.fxp.team_pg.TeamPGLearner`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from popgames.core.errors import GameCardError
from popgames.kinds.cards import shared_tables, typed
from popgames.kinds.matrix.game import MatrixGame


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
    """

    team_size: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "team_matrix"

    @property
    def bits(self) -> np.ndarray:
        return joint_actions(self.team_size)


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
    params = dict(typed(card.get("params", {}), dict, src, "params"))
    known = {"N": 3, "C": 1.5, "epsilon": 0.1}
    for key in params:
        if key not in known:
            raise GameCardError(src, f"params.{key}", f"unknown parameter (known: {', '.join(known)})")
    n = typed(params.get("N", known["N"]), int, src, "params.N")
    c = float(typed(params.get("C", known["C"]), (int, float), src, "params.C"))
    eps = float(typed(params.get("epsilon", known["epsilon"]), (int, float), src, "params.epsilon"))
    if not 1 <= n <= 10:
        raise GameCardError(src, "params.N", f"need 1 <= N <= 10 (2^N joint actions), got {n}")
    if not (np.isfinite(c) and np.isfinite(eps)):
        raise GameCardError(src, "params", "C and epsilon must be finite")
    return build_fxp_team_game(n, c, eps, **shared_tables(card, src))
