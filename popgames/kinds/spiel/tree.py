"""An OpenSpiel game tree flattened into numpy arrays.

The tree is walked once (breadth first, so nodes are ordered by depth) and kept
as flat arrays. Every algorithm then works in *sequence form*: a player's reach
contribution at a node is the realisation weight of the player's last own
(infostate, action) pair on the path to it, and that weight is a product along
the player's own sequence tree, which is far smaller than the game tree
(leduc: 936 infostates against 9457 histories). So evaluating a policy is one
pass per own-depth level (a handful of slices) plus a gather at the terminals,
and a best response is a ``bincount`` of counterfactual values into sequences
followed by one max per level, bottom up. This needs perfect recall, which
:func:`build_tree` checks (kuhn, leduc, goofspiel and liar's dice have it).

Policies on the tree and their exact evaluation are :mod:`popgames.kinds.spiel.policies`;
best responses and mixtures :mod:`popgames.kinds.spiel.best_response`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyspiel

from popgames.core.errors import GameCardError

DECISION, CHANCE, TERMINAL = 0, 1, 2


@dataclass(frozen=True, eq=False)
class GameTree:
    """A finite turn-based game with perfect recall as flat arrays (see module doc).

    Per node (breadth-first order; depth ``d`` is ``depth_offsets[d]:depth_offsets[d+1]``):
    ``parent`` (-1 at the root), ``action`` (action or chance outcome taken from the
    parent), ``kind`` (``DECISION``/``CHANCE``/``TERMINAL``), ``player`` (acting player,
    -1 if none), ``infoset`` (global infostate index, -1 if none), ``edge_prob``
    (chance probability of the edge from the parent, 1 after a decision),
    ``chance_reach`` and ``node_seq[p]`` (player ``p``'s last own sequence, a local
    index ``i * n_actions + a``; ``empty_seq(p)`` if none yet).
    Per terminal: ``terminals`` (node indices), ``returns`` ``[Z, n_players]``,
    ``terminal_chance`` ``[Z]`` and ``terminal_seq`` ``[n_players, Z]``.
    Per infostate: ``info_player``, ``legal`` (bool ``[I, n_actions]``), ``info_strings``
    (with ``info_index``, their inverse), ``info_history`` (the actions to one of its histories),
    ``info_parent_seq`` (local index of the own sequence leading to it) and
    ``info_level`` (own actions before it). ``level_bounds[p]`` cuts player ``p``'s
    block (sorted by level) into levels.
    """

    game: pyspiel.Game
    n_players: int
    n_actions: int
    depth_offsets: np.ndarray
    parent: np.ndarray
    action: np.ndarray
    kind: np.ndarray
    player: np.ndarray
    infoset: np.ndarray
    edge_prob: np.ndarray
    chance_reach: np.ndarray
    node_seq: np.ndarray
    terminals: np.ndarray
    returns: np.ndarray
    terminal_chance: np.ndarray
    terminal_seq: np.ndarray
    info_start: np.ndarray
    info_player: np.ndarray
    legal: np.ndarray
    info_strings: tuple[str, ...]
    info_index: dict[str, int]
    info_history: tuple[tuple[int, ...], ...]
    info_parent_seq: np.ndarray
    info_level: np.ndarray
    level_bounds: tuple[np.ndarray, ...]

    @property
    def n_nodes(self) -> int:
        return len(self.parent)

    @property
    def n_infostates(self) -> int:
        return len(self.info_player)

    def n_info(self, player: int) -> int:
        """Number of infostates of ``player``."""
        return int(self.info_start[player + 1] - self.info_start[player])

    def info_slice(self, player: int) -> slice:
        """Rows of ``player`` in a joint policy."""
        return slice(int(self.info_start[player]), int(self.info_start[player + 1]))

    def empty_seq(self, player: int) -> int:
        """Local index of ``player``'s empty sequence (realisation weight 1)."""
        return self.n_info(player) * self.n_actions

    def __repr__(self) -> str:
        return (f"GameTree({self.game}, nodes={self.n_nodes}, terminals={len(self.terminals)}, "
                f"infostates={[self.n_info(p) for p in range(self.n_players)]})")


def _walk(game: pyspiel.Game):
    """Breadth-first walk; returns per-node lists, infostate data and depth offsets."""
    parent, action, prob, kind, player, info = [-1], [-1], [1.0], [], [], []
    ids: dict[str, int] = {}
    strings, owners, legals, histories, rets, offsets = [], [], [], [], [], [0]
    level, base = [game.new_initial_state()], 0
    terminal, chance = int(pyspiel.PlayerId.TERMINAL), int(pyspiel.PlayerId.CHANCE)
    while level:
        nxt = []
        for k, state in enumerate(level):
            node = base + k
            cp = state.current_player()   # one call tells terminal / chance / decision
            if cp == terminal:
                kind.append(TERMINAL), player.append(-1), info.append(-1)
                rets.append(state.returns())
                continue
            if cp == chance:
                kind.append(CHANCE), player.append(-1), info.append(-1)
                moves, probs = zip(*state.chance_outcomes())
            else:
                key = state.information_state_string(cp)
                tid = ids.get(key)
                moves = state.legal_actions()
                probs = [1.0] * len(moves)
                if tid is None:
                    tid = ids[key] = len(strings)
                    strings.append(key), owners.append(cp), legals.append(moves)
                    histories.append(tuple(state.history()))
                kind.append(DECISION), player.append(cp), info.append(tid)
            nxt.extend(map(state.child, moves)), action.extend(moves), prob.extend(probs)
            parent.extend([node] * len(moves))
        base += len(level)
        offsets.append(base)
        level = nxt
    return (parent, action, prob, kind, player, info, strings, owners, legals, histories, rets,
            offsets)


def build_tree(game: pyspiel.Game) -> GameTree:
    """Walk the whole tree of ``game`` once and flatten it (see :class:`GameTree`).

    Simultaneous-move games are converted to turn-based first (``tree.game`` is the
    converted game, whose information-state strings policies refer to).

    Raises
    ------
    GameCardError
        If the game is not turn-based (e.g. mean-field), has sampled chance, has no
        information-state strings, or has imperfect recall.
    """
    if game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
        game = pyspiel.convert_to_turn_based(game)
    gtype = game.get_type()
    for bad, why in ((gtype.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL,
                      f"{gtype.dynamics}: only turn-based games have a tree"),
                     (gtype.chance_mode == pyspiel.GameType.ChanceMode.SAMPLED_STOCHASTIC,
                      "sampled chance: outcomes must be explicit"),
                     (not gtype.provides_information_state_string,
                      "the game has no information_state_string")):
        if bad:
            raise GameCardError(str(game), "game", why)
    (parent, action, prob, kind, player, info, strings, owners, legals, histories, rets,
     offsets) = _walk(game)
    parent, action, player, info, owners, offsets = (
        np.asarray(x, np.int64) for x in (parent, action, player, info, owners, offsets))
    prob, kind = np.asarray(prob, np.float64), np.asarray(kind, np.int8)
    n, n_act = game.num_players(), game.num_distinct_actions()

    # Per player, the last own (temporary infostate, action) and own depth at every node.
    n_nodes = len(parent)
    last_info = np.full((n, n_nodes), -1, np.int64)
    last_act = np.zeros((n, n_nodes), np.int64)
    depth = np.zeros((n, n_nodes), np.int64)
    reach = np.ones(n_nodes)
    for d in range(1, len(offsets) - 1):
        lvl = np.arange(offsets[d], offsets[d + 1])
        par = parent[lvl]
        last_info[:, lvl], last_act[:, lvl] = last_info[:, par], last_act[:, par]
        depth[:, lvl] = depth[:, par]
        reach[lvl] = reach[par] * prob[lvl]
        dec = kind[par] == DECISION
        who, idx = player[par[dec]], lvl[dec]
        last_info[who, idx], last_act[who, idx] = info[par[dec]], action[idx]
        depth[who, idx] += 1

    # Perfect recall: every history of an infostate has the same own last sequence.
    dnodes = np.flatnonzero(kind == DECISION)
    tinfo, tplayer = info[dnodes], player[dnodes]
    n_inf = len(strings)
    first = np.full(n_inf, -1, np.int64)
    first[tinfo[::-1]] = dnodes[::-1]
    key = np.stack([last_info[tplayer, dnodes], last_act[tplayer, dnodes]])
    fkey = np.stack([last_info[player[first], first], last_act[player[first], first]])
    bad = np.flatnonzero((key != fkey[:, tinfo]).any(axis=0))
    if len(bad):
        raise GameCardError(str(game), "game", f"imperfect recall at infostate "
                            f"{strings[tinfo[bad[0]]]!r}: the algorithms need perfect recall")

    # Number infostates by (player, own depth, first visit): player blocks are contiguous
    # and each own-depth level inside a block is a slice.
    levels_t = depth[owners, first]
    order = np.lexsort((np.arange(n_inf), levels_t, owners))
    new_id = np.empty(n_inf, np.int64)
    new_id[order] = np.arange(n_inf)
    info_player, info_level = owners[order], levels_t[order]
    info_start = np.searchsorted(info_player, np.arange(n + 1))
    legal = np.zeros((n_inf, n_act), bool)
    for t, acts in enumerate(legals):
        legal[new_id[t], acts] = True

    # Local sequence index per player and node: i_local * n_act + a, empty = n_p * n_act.
    node_seq = np.empty((n, n_nodes), np.int64)
    for p in range(n):
        has = last_info[p] >= 0
        local = new_id[np.where(has, last_info[p], 0)] - info_start[p]
        empty = (info_start[p + 1] - info_start[p]) * n_act
        node_seq[p] = np.where(has, local * n_act + last_act[p], empty)
    level_bounds = tuple(_level_bounds(info_level[info_start[p]:info_start[p + 1]])
                         for p in range(n))
    terminals = np.flatnonzero(kind == TERMINAL)
    node_info = np.where(info >= 0, new_id[np.maximum(info, 0)], -1)
    return GameTree(
        game=game, n_players=n, n_actions=n_act, depth_offsets=offsets, parent=parent,
        action=action, kind=kind, player=player, infoset=node_info, edge_prob=prob,
        chance_reach=reach, node_seq=node_seq, terminals=terminals,
        returns=np.asarray(rets, np.float64).reshape(len(terminals), n),
        terminal_chance=reach[terminals], terminal_seq=node_seq[:, terminals],
        info_start=info_start, info_player=info_player, legal=legal,
        info_strings=tuple(strings[t] for t in order),
        info_index={strings[t]: i for i, t in enumerate(order)},
        info_history=tuple(histories[t] for t in order),
        info_parent_seq=node_seq[info_player, first[order]], info_level=info_level,
        level_bounds=level_bounds)


def _level_bounds(levels: np.ndarray) -> np.ndarray:
    """Slice bounds of each level in a sorted array of levels (empty levels give empty slices)."""
    return np.searchsorted(levels, np.arange(levels.max(initial=-1) + 2))
