"""Policies on a flattened OpenSpiel tree (:mod:`popgames.kinds.spiel.tree`), evaluated exactly.

Policies are arrays ``[n_infostates, n_actions]`` over all players' infostates,
which are numbered player by player: player ``p`` owns the contiguous rows
``tree.info_start[p]:tree.info_start[p + 1]``, so a joint policy is the
concatenation of per-player blocks ``[n_info_p, n_actions]``. Rows are zero on
illegal actions and sum to one. Evaluation is in sequence form: a player's reach of
a node is the realisation weight of its last own (infostate, action) pair, one pass
per own-depth level.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from popgames.kinds.spiel.tree import GameTree


def uniform_policy(tree: GameTree) -> np.ndarray:
    """The uniform random joint policy ``[n_infostates, n_actions]``."""
    return tree.legal / tree.legal.sum(axis=1, keepdims=True)


def random_policy(tree: GameTree, rng: np.random.Generator,
                  concentration: float = 1.0) -> np.ndarray:
    """A joint policy whose rows are Dirichlet(``concentration``) on the legal actions."""
    g = rng.gamma(concentration, size=tree.legal.shape) * tree.legal
    return g / g.sum(axis=1, keepdims=True)


def player_rows(tree: GameTree, player: int, policy: np.ndarray) -> np.ndarray:
    """``player``'s block ``[..., n_info_p, A]`` of a joint policy (a block is returned as is)."""
    policy = np.asarray(policy, np.float64)
    n_p = tree.n_info(player)
    if policy.shape[-2] == n_p:
        return policy
    if policy.shape[-2:] != tree.legal.shape:
        raise ValueError(f"policy shape {policy.shape} fits neither the joint policy "
                         f"{tree.legal.shape} nor player {player}'s block "
                         f"({n_p}, {tree.n_actions})")
    return policy[..., tree.info_slice(player), :]


def realization_plan(tree: GameTree, player: int, policy: np.ndarray) -> np.ndarray:
    """Sequence-form realisation weights ``[..., (n_info_p + 1) * A]`` of ``player``.

    Entry ``i * A + a`` is the product of the player's own action probabilities on
    the way to infostate ``i`` times ``policy[i, a]``; the last block's first entry
    (``tree.empty_seq(player)``) is the empty sequence, 1. ``policy`` is the joint
    policy or the player's block, optionally with leading batch axes ``[K, ...]``.
    """
    rows = player_rows(tree, player, policy)
    n_p, n_act, lead = rows.shape[-2], tree.n_actions, rows.shape[:-2]
    x2 = np.zeros(lead + (n_p + 1, n_act))
    x2[..., n_p, 0] = 1.0
    x = x2.reshape(lead + ((n_p + 1) * n_act,))
    bounds, pseq = tree.level_bounds[player], tree.info_parent_seq[tree.info_slice(player)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        x2[..., lo:hi, :] = x[..., pseq[lo:hi], None] * rows[..., lo:hi, :]
    return x


def terminal_reach(tree: GameTree, player: int, policy: np.ndarray) -> np.ndarray:
    """``player``'s own reach at the terminals ``[..., Z]`` (batched like ``policy``)."""
    return realization_plan(tree, player, policy)[..., tree.terminal_seq[player]]


def reach_probabilities(tree: GameTree, policy: np.ndarray) -> np.ndarray:
    """Per-node reach split by contributor, ``[n_players + 1, n_nodes]``: row ``p`` is player
    ``p``'s own contribution, the last row chance's; the reach is the column product."""
    out = np.empty((tree.n_players + 1, tree.n_nodes))
    for p in range(tree.n_players):
        out[p] = realization_plan(tree, p, policy)[tree.node_seq[p]]
    out[-1] = tree.chance_reach
    return out


def expected_returns(tree: GameTree, policy: np.ndarray) -> np.ndarray:
    """Expected returns ``[n_players]`` of the joint behaviour policy ``[n_infostates, A]``."""
    reach = tree.terminal_chance.copy()
    for p in range(tree.n_players):
        reach *= terminal_reach(tree, p, policy)
    return reach @ tree.returns


def expected_returns_many(tree: GameTree, reaches: Sequence[np.ndarray],
                          profiles: np.ndarray | None = None) -> np.ndarray:
    """Expected returns of many pure profiles of population policies in one pass.

    Parameters
    ----------
    reaches
        Per player ``p``, ``terminal_reach(tree, p, population_p)``: ``[K_p, Z]``.
    profiles
        Optional int array ``[M, n_players]`` of population indices ``(k_0, ..., k_{n-1})``.

    Returns
    -------
    np.ndarray
        ``[M, n_players]`` for the given profiles, else the full meta-game payoff
        tensor ``[n_players, K_0, ..., K_{n-1}]``.
    """
    weighted = tree.terminal_chance[:, None] * tree.returns   # [Z, n]
    if profiles is not None:
        profiles = np.asarray(profiles, np.int64).reshape(-1, tree.n_players)
        joint = np.ones((len(profiles), len(tree.terminals)))
        for p, r in enumerate(reaches):
            joint *= np.asarray(r)[profiles[:, p]]
        return joint @ weighted
    # Outer products over all but the last player, then one 2-d matmul with the last
    # (a batched 3-d matmul is several times slower in numpy).
    acc = weighted.T                                           # [n, Z]
    for r in reaches[:-1]:
        acc = acc[..., None, :] * np.asarray(r)
    last = np.asarray(reaches[-1])
    return (acc.reshape(-1, acc.shape[-1]) @ last.T).reshape(acc.shape[:-1] + last.shape[:1])
