"""Graphon mean-field games (Cui & Koeppl, ICLR 2022) from ``kind = "graphon"`` cards.

Agents ``alpha_i`` sit on the grid ``linspace(0, 1, M)``; agent ``alpha`` sees the
neighbourhood field ``G_t^alpha = (1 / M) sum_j W(alpha, alpha_j) mu_t^{alpha_j}`` (a measure
over the states, not normalised), which its transitions and rewards depend on. The card's
``[graphon]`` table names ``W`` (:mod:`popgames.kinds.graphon.graphons`) and ``M``; its
``rules`` file defines ``PARAMS`` and ``make(params) -> rules`` with ``n_states``,
``n_actions``, ``horizon``, ``mu0`` (``[X]``, every agent's start) and the pure functions
``transition(t, field) -> P[M, X, A, X]`` and ``reward(t, field) -> r[M, X, A]`` of the
field ``[M, X]``, vectorised over the agents. :class:`GraphonRules` turns them into the
:class:`~popgames.kinds.mean_field.exact.MeanFieldRules` the exact machinery takes (a
leading agent axis), so every mean-field algorithm runs on graphon games unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from popgames.core.errors import GameCardError
from popgames.kinds.cards import RulesCard, checked_params, meanfield_table, rules_path, shared_tables, typed
from popgames.kinds.graphon.graphons import graphon_matrix
from popgames.kinds.mean_field.exact import AgentGrid
from popgames.kinds.mean_field.game import check_flow, make_rules

#: Agents on the grid unless the card's [graphon] table says otherwise.
DEFAULT_AGENTS = 101


class GraphonRules(AgentGrid):
    """A graphon game's rules on its agent grid: every agent's distribution in, the field formed here."""

    def __init__(self, rules: Any, w: np.ndarray):
        self.inner, self.w = rules, w
        self._w_scaled = w / len(w)
        self.agents = (len(w),)
        self.n_states, self.n_actions, self.horizon = rules.n_states, rules.n_actions, rules.horizon
        self.mu0 = np.broadcast_to(np.asarray(rules.mu0, dtype=np.float64), (len(w), rules.n_states))
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def field(self, mu: np.ndarray) -> np.ndarray:
        """``G[alpha, x] = (1 / M) sum_j W(alpha, alpha_j) mu[alpha_j, x]``; the last one is kept,
        since a flow asks for the transitions and the rewards of the same ``mu`` object."""
        if self._last is None or self._last[0] is not mu:
            self._last = (mu, self._w_scaled @ mu)
        return self._last[1]

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self.inner.transition(t, self.field(mu))

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self.inner.reward(t, self.field(mu))


@dataclass(kw_only=True)
class GraphonGame(RulesCard):
    """A loaded ``graphon`` card: its rules on the agent grid, the graphon and the card's tables."""

    rules: GraphonRules
    graphon: dict[str, Any]
    meanfield: dict[str, Any] = field(default_factory=dict)   # the card's [meanfield] defaults
    kind: ClassVar[str] = "graphon"

    @property
    def n_players(self) -> int:
        return 1


def parse_graphon(card: dict, src: str) -> GraphonGame:
    """Build a :class:`GraphonGame` from a ``kind = "graphon"`` card (module doc)."""
    from popgames.kinds.rules_module import forget_rules_module, load_rules_module

    table = dict(typed(card.get("graphon", {}), dict, src, "graphon"))
    agents = typed(table.get("M", DEFAULT_AGENTS), int, src, "graphon.M")
    if agents < 1:
        raise GameCardError(src, "graphon.M", f"must be at least 1, got {agents}")
    w = graphon_matrix(table, agents, src)
    path = rules_path(card, src)
    module = load_rules_module(path, src, needed=("make", "PARAMS"))
    try:
        params = checked_params(module, typed(card.get("params", {}), dict, src, "params"), src)
        rules = GraphonRules(make_rules(module, params, path, src), w)
        check_flow(rules, str(path))
    except GameCardError:
        forget_rules_module(module)  # an edited file is read afresh on the next load
        raise
    return GraphonGame(rules=rules, params=params, graphon={**table, "M": agents}, module=module,
                       meanfield=meanfield_table(card, src), **shared_tables(card, src))
