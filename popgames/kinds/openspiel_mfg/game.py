"""Any OpenSpiel mean-field game by name, tabulated once (``kind = "openspiel_mfg"``).

The game tree is walked once, depth first in OpenSpiel's own order (initial states,
then actions, then chance outcomes), keeping for every decision node ``(x, t)`` the path
that reaches it first: its transitions ``P_t(x' | x, a)`` are read off the chance nodes
below it, and its reward under a distribution ``mu_t`` is OpenSpiel's own, by setting
``mu_t`` at the mean-field node on that path. Rewards computed so are exactly what
OpenSpiel's value functions use, since they cache decision nodes by ``(x, t)`` after the
first visit (in crowd modelling this keeps the move charge of the first path). States at
time ``t`` are the ``distribution_support()`` of its mean-field nodes, in order.

Several populations are tabulated one by one from ``game.new_initial_states()``; each
population's reward is read with the joint distribution of all of them. Assumed, and
checked where possible: the same actions at every decision node; transitions that do not depend on the distribution (tabulated once; a game whose
chance outcomes change with ``mu`` would need re-tabulation); no rewards at mean-field
nodes. Every algorithm of :mod:`popgames.loops.mean_field` then runs on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from popgames.core.errors import GameCardError
from popgames.kinds.cards import RulesCard, meanfield_table, require, shared_tables, typed


class _Walk:
    """One population's tree, walked once (module doc): its start distribution over the
    initial chance outcomes, transitions per time, and the nodes that give its rewards."""

    def __init__(self, root: Any, n_actions: int, src: str):
        import pyspiel

        if not root.is_chance_node():
            raise GameCardError(src, "game", "expected an initial chance node over the start states")
        start = root.chance_outcomes()
        self.start = np.array([p for _, p in start], dtype=np.float64)
        self.rows: list[dict[int, Any]] = [{x: root.child(o) for x, (o, _) in enumerate(start)}]
        self.parents: list[dict[int, Any]] = [{}]     # per time: state index -> node to set mu at
        self.transitions: list[dict[tuple[int, int], dict[int, float]]] = []
        self.support: list[str] | None = None
        while True:
            t, moves, parents, support = len(self.transitions), {}, {}, None
            for x, node in self.rows[t].items():       # first-visit order within the time step
                if node.is_terminal():
                    break
                if node.current_player() < 0 or len(node.legal_actions()) != n_actions:
                    raise GameCardError(src, "game", f"decision node {node} does not offer the game's "
                                        f"{n_actions} actions")
                for a in node.legal_actions():
                    chance = node.child(a)
                    row = moves.setdefault((x, a), {})
                    for outcome, prob in chance.chance_outcomes():
                        field = chance.child(outcome)
                        # The last step's mean-field nodes are terminal: positions still count.
                        if not field.is_terminal() and field.current_player() != pyspiel.PlayerId.MEAN_FIELD:
                            raise GameCardError(src, "game", f"expected a mean-field node after {chance}")
                        support = support or list(field.distribution_support())   # this time's
                        y = support.index(str(field))
                        row[y] = row.get(y, 0.0) + prob
                        if y not in parents and not field.is_terminal():
                            parents[y] = field
            if not moves:
                break
            self.transitions.append(moves)
            self.support = support
            if not parents:
                break
            uniform = [1.0 / len(support)] * len(support)
            nxt = {}
            for y, field in parents.items():
                child = field.clone()
                child.update_distribution(uniform)
                nxt[y] = child
            self.parents.append(parents)
            self.rows.append(nxt)


class SpielMeanFieldRules:
    """:class:`~popgames.kinds.mean_field.exact.MeanFieldRules` of a tabulated OpenSpiel game.

    States at ``t >= 1`` are the positions in the mean-field nodes' ``distribution_support()``
    (every population's, in OpenSpiel's order); at ``t = 0`` they are the initial chance
    outcomes, in order (labels need not mean the same at every time: the flow only follows
    the transitions). Several populations (``game.num_players() > 1``) give ``agents = (K,)``,
    each population's distribution living on its own support entries; the joint
    distribution OpenSpiel's nodes take is their sum.
    """

    def __init__(self, game: Any, src: str):
        self.game = game
        self.n_actions = game.num_distinct_actions()
        k = game.num_players()
        self.agents = (k,) if k > 1 else ()
        walks = [_Walk(root, self.n_actions, src) for root in game.new_initial_states()]
        if len({len(w.transitions) for w in walks}) != 1 or not walks[0].transitions:
            raise GameCardError(src, "game", "the game ends before any decision, or its populations' "
                                "horizons differ")
        self.horizon = len(walks[0].transitions)
        support = walks[0].support or []
        self.n_states = max(len(support), *(len(w.start) for w in walks))
        self.mu0 = np.zeros((k, self.n_states))
        for p, w in enumerate(walks):
            self.mu0[p, :len(w.start)] = w.start
        self._transitions = np.zeros((self.horizon, k, self.n_states, self.n_actions, self.n_states))
        for p, w in enumerate(walks):
            for t, moves in enumerate(w.transitions):
                for (x, a), row in moves.items():
                    for y, prob in row.items():
                        self._transitions[t, p, x, a, y] = prob
        if not self.agents:
            self.mu0, self._transitions = self.mu0[0], self._transitions[:, 0]
        self._walks = walks
        #: Decision node string -> (t, x), or (population, t, x) with several populations.
        self.index = {str(node): ((p,) if self.agents else ()) + (t, x)
                      for p, w in enumerate(walks) for t, row in enumerate(w.rows[:self.horizon])
                      for x, node in row.items()}

    def openspiel_policy(self, pi: np.ndarray) -> Any:
        """``pi[(k,) t, x, a]`` as an OpenSpiel ``Policy`` of the game (for its own algorithms)."""
        from open_spiel.python import policy as os_policy

        index = self.index

        class ArrayPolicy(os_policy.Policy):
            def action_probabilities(self, state: Any, player_id: Any = None) -> dict[int, float]:
                where = index[str(state)]
                return {a: float(pi[where][a]) for a in state.legal_actions()}

        return ArrayPolicy(self.game, list(range(self.game.num_players())))

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._transitions[t]

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        # t = 0: OpenSpiel's own initial distribution (it never sets one there); later: the
        # joint distribution over the support set at the mean-field node on the first path.
        joint = None if t == 0 else list(map(float, np.atleast_2d(mu).sum(axis=0)))
        out = np.zeros((len(self._walks), self.n_states))
        for p, walk in enumerate(self._walks):
            for x in range(self.n_states):
                if t == 0:
                    node = walk.rows[0].get(x)
                else:
                    parent = walk.parents[t].get(x)
                    node = None
                    if parent is not None:
                        node = parent.clone()
                        node.update_distribution(joint)
                out[p, x] = node.rewards()[p] if node is not None else 0.0
        gains = np.repeat(out[:, :, None], self.n_actions, axis=2)
        return gains if self.agents else gains[0]


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
    if game.get_type().dynamics != pyspiel.GameType.Dynamics.MEAN_FIELD:
        raise GameCardError(src, "game", f"'{name}' is not a mean-field game")
    return SpielMeanFieldGame(rules=SpielMeanFieldRules(game, src), params=dict(params), module=None,
                              meanfield=meanfield_table(card, src), **shared_tables(card, src))
