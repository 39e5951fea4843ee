"""Any single-population OpenSpiel mean-field game by name, tabulated once (``kind = "openspiel_mfg"``).

The game tree is walked once, depth first in OpenSpiel's own order (initial states,
then actions, then chance outcomes), keeping for every decision node ``(x, t)`` the path
that reaches it first: its transitions ``P_t(x' | x, a)`` are read off the chance nodes
below it, and its reward under a distribution ``mu_t`` is OpenSpiel's own, by setting
``mu_t`` at the mean-field node on that path. Rewards computed so are exactly what
OpenSpiel's value functions use, since they cache decision nodes by ``(x, t)`` after the
first visit (in crowd modelling this keeps the move charge of the first path). States at
time ``t`` are the ``distribution_support()`` of its mean-field nodes, in order.

Assumed, and checked where possible: one population; the same actions at every decision
node; transitions that do not depend on the distribution (tabulated once; a game whose
chance outcomes change with ``mu`` would need re-tabulation); no rewards at mean-field
nodes. Every algorithm of :mod:`popgames.loops.mean_field` then runs on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from popgames.core.errors import GameCardError
from popgames.kinds.cards import RulesCard, meanfield_table, require, shared_tables, typed


class SpielMeanFieldRules:
    """:class:`~popgames.kinds.mean_field.exact.MeanFieldRules` of a tabulated OpenSpiel game."""

    agents = ()

    def __init__(self, game: Any, src: str):
        import pyspiel

        self.game = game
        root = game.new_initial_state()
        if not root.is_chance_node():
            raise GameCardError(src, "game", "expected an initial chance node over the start states")
        start = root.chance_outcomes()
        self.mu0 = np.array([p for _, p in start], dtype=np.float64)
        self.n_states = len(start)
        self.n_actions = game.num_distinct_actions()
        parents: list[dict[int, Any]] = [{}]          # per time: state index -> node to set mu at
        rows: list[dict[int, Any]] = [{}]             # per time: state index -> first decision node
        for index, (outcome, _) in enumerate(start):
            rows[0][index] = root.child(outcome)
        transitions = []
        t = 0
        while rows[t]:
            p = np.zeros((self.n_states, self.n_actions, self.n_states))
            nxt_rows: dict[int, Any] = {}
            nxt_parents: dict[int, Any] = {}
            support: list[str] | None = None
            for x, node in rows[t].items():           # first-visit order within the time step
                if node.is_terminal():
                    break
                if node.current_player() < 0 or len(node.legal_actions()) != self.n_actions:
                    raise GameCardError(src, "game", f"decision node {node} does not offer the game's "
                                        f"{self.n_actions} actions")
                for a in node.legal_actions():
                    chance = node.child(a)
                    for outcome, prob in chance.chance_outcomes():
                        field = chance.child(outcome)
                        # The last step's mean-field nodes are terminal: positions still count.
                        if not field.is_terminal() and field.current_player() != pyspiel.PlayerId.MEAN_FIELD:
                            raise GameCardError(src, "game", f"expected a mean-field node after {chance}")
                        support = support or list(field.distribution_support())
                        y = support.index(str(field))
                        p[x, a, y] += prob
                        if y not in nxt_parents and not field.is_terminal():
                            nxt_parents[y] = field
            if support is None:
                break
            transitions.append(p)
            if not nxt_parents:
                break
            uniform = [1.0 / len(support)] * len(support)
            for y, field in nxt_parents.items():
                child = field.clone()
                child.update_distribution(uniform)
                nxt_rows[y] = child
            parents.append(nxt_parents)
            rows.append(nxt_rows)
            t += 1
        self.horizon = len(transitions)
        if self.horizon < 1:
            raise GameCardError(src, "game", "the game ends before any decision")
        self._transitions, self._parents, self._first = transitions, parents, rows[0]
        #: Decision node string -> (t, x): where an OpenSpiel state sits in ``pi[t, x, a]``.
        self.index = {str(node): (s, x) for s, row in enumerate(rows[:self.horizon]) for x, node in row.items()}

    def openspiel_policy(self, pi: np.ndarray) -> Any:
        """``pi[t, x, a]`` as an OpenSpiel ``Policy`` of the game (for its own algorithms)."""
        from open_spiel.python import policy as os_policy

        index = self.index

        class ArrayPolicy(os_policy.Policy):
            def action_probabilities(self, state: Any, player_id: Any = None) -> dict[int, float]:
                t, x = index[str(state)]
                return {a: float(pi[t, x, a]) for a in state.legal_actions()}

        return ArrayPolicy(self.game, [0])

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._transitions[t]

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_states)
        for x in range(self.n_states):
            if t == 0:
                node = self._first.get(x)
            else:
                parent = self._parents[t].get(x)
                node = None
                if parent is not None:
                    node = parent.clone()
                    node.update_distribution(list(map(float, mu)))
            out[x] = node.rewards()[0] if node is not None else 0.0
        return np.repeat(out[:, None], self.n_actions, axis=1)


@dataclass(kw_only=True)
class SpielMeanFieldGame(RulesCard):
    """A loaded ``openspiel_mfg`` card: the OpenSpiel game tabulated (module doc)."""

    rules: SpielMeanFieldRules
    meanfield: dict[str, Any]
    kind: ClassVar[str] = "openspiel_mfg"

    @property
    def n_players(self) -> int:
        return 1


def parse_openspiel_mfg(card: dict, src: str) -> SpielMeanFieldGame:
    """Build a :class:`SpielMeanFieldGame` from a card naming ``game`` (and ``[params]``)."""
    import pyspiel

    name = require(card, "game", str, src)
    params = typed(card.get("params", {}), dict, src, "params")
    if name not in pyspiel.registered_names():   # OpenSpiel's python MFGs register on import
        from open_spiel.python.mfg import games  # noqa: F401
    try:
        game = pyspiel.load_game(name, dict(params)) if params else pyspiel.load_game(name)
    except pyspiel.SpielError as exc:
        raise GameCardError(src, "game", f"OpenSpiel cannot load '{name}' ({exc})") from None
    if game.get_type().dynamics != pyspiel.GameType.Dynamics.MEAN_FIELD or game.num_players() != 1:
        raise GameCardError(src, "game", f"'{name}' is not a single-population mean-field game")
    return SpielMeanFieldGame(rules=SpielMeanFieldRules(game, src), params=dict(params), module=None,
                              meanfield=meanfield_table(card, src), **shared_tables(card, src))
