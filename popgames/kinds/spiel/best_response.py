"""Exact best responses, NashConv and behavioural mixtures on a flattened game tree.

All of them work in sequence form on :class:`popgames.kinds.spiel.tree.GameTree` (perfect
recall, checked when the tree is built):

- a best response of player ``i`` first sums, per own sequence ``(I, a)``, the
  counterfactual value of the terminals whose last ``i``-sequence it is (chance
  reach x the others' reach x ``i``'s return; one ``bincount``), then walks
  ``i``'s infostates from the deepest own level up, taking the best action per
  infostate and adding its value into the parent sequence. The root value is the
  best-response value.
- a mixture of population policies with weights ``w`` is, by Kuhn's theorem, the
  behaviour policy whose realisation plan is ``sum_k w_k x_k``: per infostate the
  reach-weighted average of the policies' rows.

The others' behaviour enters only through their terminal reach, so a best response
to a *mixture* of opponent populations needs no mixture policy: pass
``w @ terminal_reach(tree, q, population_q)`` to :func:`best_response_to_reach`.

Many best responses are tied: wherever the others never go, every action is worth 0.
:func:`lexicographic_best_response` with :func:`tremble_reach` levels picks, among the
exact best responses, the limit of best responses to opponents that tremble with a
vanishing probability -- a response that is also sensible off the others' path.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from popgames.kinds.spiel.policies import player_rows, realization_plan, terminal_reach
from popgames.kinds.spiel.tree import GameTree

# Actions whose value is within this (relative) margin of the best count as tied, so
# that round-off never decides between equal actions (see lexicographic_best_response).
_TIE_RTOL = 1e-12


def best_response_to_reach(tree: GameTree, player: int,
                           reaches: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Pure best response of ``player`` to the others' terminal reach.

    Parameters
    ----------
    reaches
        Per player ``q``, ``q``'s own reach contribution at every terminal ``[Z]``
        (:func:`~popgames.kinds.spiel.tree.terminal_reach`, or a weighted sum of those for a
        mixture); ``reaches[player]`` is ignored.

    Returns
    -------
    rows, value
        ``player``'s deterministic policy block ``[n_info_p, A]`` (ties go to the lowest
        action index; unreachable infostates get their lowest legal action) and its
        expected return against the others.
    """
    others = np.ones(len(tree.terminals))
    for q, r in enumerate(reaches):
        if q != player:
            others = others * r
    return lexicographic_best_response(tree, player, others[None])


def lexicographic_best_response(tree: GameTree, player: int,
                                levels: np.ndarray) -> tuple[np.ndarray, float]:
    """Pure best response of ``player`` that maximises its value lexicographically.

    Parameters
    ----------
    levels
        ``[L, Z]``: the others' combined terminal reach (chance excluded), level by
        level. Level 0 is what the response must be optimal against; level ``l``
        decides only between responses tied on levels ``0..l-1``. With
        :func:`tremble_reach`, level ``l`` is the coefficient of ``eps**l`` of the reach
        when every other policy trembles with probability ``eps``, and the result is
        the limit ``eps -> 0+`` of best responses to the trembling opponents.

    Returns
    -------
    rows, value
        ``player``'s deterministic block ``[n_info_p, A]`` and its level-0 value. Values
        are compared per infostate and level with a tolerance of ``1e-12`` times that
        level's largest magnitude there; ties left after the last level go to the
        lowest action index.

    Notes
    -----
    Backward induction is exact for the lexicographic order: a sequence's value is a
    sum over the child infostates' independent choices, and the lexicographic order
    is compatible with addition.
    """
    levels = np.atleast_2d(levels)
    weight = levels * (tree.terminal_chance * tree.returns[:, player])
    n_l, (n_p, n_act) = len(weight), (tree.n_info(player), tree.n_actions)
    size = (n_p + 1) * n_act
    seq = tree.terminal_seq[player]
    value = np.stack([np.bincount(seq, weights=w, minlength=size) for w in weight])
    q3 = value.reshape(n_l, n_p + 1, n_act)
    legal = tree.legal[tree.info_slice(player)]
    pseq = tree.info_parent_seq[tree.info_slice(player)]
    bounds = tree.level_bounds[player]
    rows = np.zeros((n_p, n_act))
    for lo, hi in zip(bounds[-2::-1], bounds[:0:-1]):   # deepest own level first
        if lo == hi:
            continue
        keep = legal[lo:hi].copy()
        for q_lvl in q3[:, lo:hi]:
            best = np.where(keep, q_lvl, -np.inf).max(axis=1, keepdims=True)
            tol = _TIE_RTOL * np.abs(np.where(legal[lo:hi], q_lvl, 0.0)).max(axis=1, keepdims=True)
            keep &= q_lvl >= best - tol
        choice = np.argmax(keep, axis=1)
        idx = np.arange(hi - lo)
        rows[lo + idx, choice] = 1.0
        for lvl in range(n_l):
            value[lvl] += np.bincount(pseq[lo:hi], weights=q3[lvl, lo + idx, choice], minlength=size)
    return rows, float(value[0, tree.empty_seq(player)])


def tremble_reach(tree: GameTree, player: int, policy: np.ndarray, order: int) -> np.ndarray:
    """``player``'s terminal reach when it trembles, as a polynomial in the tremble size.

    At every own infostate the player follows ``policy`` with probability ``1 - eps``
    and picks a uniformly random legal action with probability ``eps`` (Selten's
    trembling hand, agent form). Its reach of terminal ``z`` is a polynomial in
    ``eps``; this returns its coefficients up to ``eps**order``, ``[..., order + 1, Z]``
    (batched like ``policy``). Coefficient 0 is :func:`terminal_reach` exactly.
    Symbolic perturbations of this kind are how Miltersen and Sorensen (2010) compute
    quasi-perfect equilibria in sequence form.
    """
    rows = player_rows(tree, player, policy)
    legal = tree.legal[tree.info_slice(player)]
    shift = legal / legal.sum(axis=1, keepdims=True) - rows     # (1-eps) pi + eps u = pi + eps (u - pi)
    n_p, n_act, lead = rows.shape[-2], tree.n_actions, rows.shape[:-2]
    x = np.zeros(lead + (order + 1, (n_p + 1) * n_act))
    x3 = x.reshape(lead + (order + 1, n_p + 1, n_act))
    x3[..., 0, n_p, 0] = 1.0
    bounds, pseq = tree.level_bounds[player], tree.info_parent_seq[tree.info_slice(player)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        parent = x[..., pseq[lo:hi], None]                       # [..., L, m, 1]
        block = parent * rows[..., None, lo:hi, :]
        block[..., 1:, :, :] += parent[..., :-1, :, :] * shift[..., None, lo:hi, :]
        x3[..., lo:hi, :] = block
    return x[..., tree.terminal_seq[player]]


def best_response(tree: GameTree, player: int, policy: np.ndarray) -> tuple[np.ndarray, float]:
    """Pure best response of ``player`` to the others' rows of the joint ``policy``.

    Returns ``player``'s block ``[n_info_p, A]`` and its value; see
    :func:`best_response_to_reach`.
    """
    reaches = [None if q == player else terminal_reach(tree, q, policy)
               for q in range(tree.n_players)]
    return best_response_to_reach(tree, player, reaches)


def nash_conv_from_reach(tree: GameTree,
                         reaches: Sequence[np.ndarray]) -> tuple[float, np.ndarray]:
    """NashConv of the profile whose per-player terminal reaches are ``reaches`` ``[Z]`` each.

    Returns the total and the per-player gains (best-response value minus value).
    """
    joint = tree.terminal_chance * np.prod(np.stack(reaches), axis=0)
    values = joint @ tree.returns
    br = np.array([best_response_to_reach(tree, p, reaches)[1] for p in range(tree.n_players)])
    gains = br - values
    return float(gains.sum()), gains


def nash_conv(tree: GameTree, policy: np.ndarray) -> tuple[float, np.ndarray]:
    """NashConv of the joint behaviour policy: ``sum_p (BR value_p - value_p)``, and the gains."""
    reaches = [terminal_reach(tree, p, policy) for p in range(tree.n_players)]
    return nash_conv_from_reach(tree, reaches)


def mixture_policy(tree: GameTree, policies: np.ndarray, weights: np.ndarray,
                   player: int) -> np.ndarray:
    """``player``'s behaviour block equivalent to playing policy ``k`` w.p. ``weights[k]``.

    Parameters
    ----------
    policies
        ``[K, n_info_p, A]`` (the player's blocks) or ``[K, n_infostates, A]`` (joint policies).
    weights
        ``[K]``, non-negative, summing to one.

    Returns
    -------
    np.ndarray
        ``[n_info_p, A]``: per infostate, the average of the rows weighted by
        ``weights[k]`` times policy ``k``'s own reach of the infostate; where no policy
        reaches it, the plain weighted average (any row would do there).
    """
    rows = player_rows(tree, player, policies)
    weights = np.asarray(weights, np.float64)
    plan = realization_plan(tree, player, rows)                      # [K, seq]
    parent_reach = plan[:, tree.info_parent_seq[tree.info_slice(player)]] * weights[:, None]
    num = np.einsum("ki,kia->ia", parent_reach, rows)
    den = parent_reach.sum(axis=0)[:, None]
    plain = np.einsum("k,kia->ia", weights / weights.sum(), rows)
    return np.divide(num, den, out=plain, where=den > 0)
