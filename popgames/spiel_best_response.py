"""Exact best responses, NashConv and behavioural mixtures on a flattened game tree.

All three work in sequence form on :class:`popgames.spiel_tree.GameTree` (perfect
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
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from popgames.spiel_tree import GameTree, player_rows, realization_plan, terminal_reach

# Actions whose value is within this (relative) margin of the best count as tied, so
# that round-off never decides between equal actions: the lowest index wins.
_TIE_RTOL = 1e-12


def best_response_to_reach(tree: GameTree, player: int,
                           reaches: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Pure best response of ``player`` to the others' terminal reach.

    Parameters
    ----------
    reaches
        Per player ``q``, ``q``'s own reach contribution at every terminal ``[Z]``
        (:func:`~popgames.spiel_tree.terminal_reach`, or a weighted sum of those for a
        mixture); ``reaches[player]`` is ignored.

    Returns
    -------
    rows, value
        ``player``'s deterministic policy block ``[n_info_p, A]`` (ties go to the lowest
        action index; unreachable infostates get their lowest legal action) and its
        expected return against the others.
    """
    weight = tree.terminal_chance * tree.returns[:, player]
    for q, r in enumerate(reaches):
        if q != player:
            weight = weight * r
    n_p, n_act = tree.n_info(player), tree.n_actions
    size = (n_p + 1) * n_act
    value = np.bincount(tree.terminal_seq[player], weights=weight, minlength=size)
    q2 = value.reshape(n_p + 1, n_act)
    legal = tree.legal[tree.info_slice(player)]
    pseq = tree.info_parent_seq[tree.info_slice(player)]
    bounds = tree.level_bounds[player]
    rows = np.zeros((n_p, n_act))
    for lo, hi in zip(bounds[-2::-1], bounds[:0:-1]):
        if lo == hi:
            continue
        q_lvl = np.where(legal[lo:hi], q2[lo:hi], -np.inf)
        best = q_lvl.max(axis=1, keepdims=True)
        tol = _TIE_RTOL * np.abs(np.where(legal[lo:hi], q_lvl, 0.0)).max(axis=1, keepdims=True)
        choice = np.argmax(q_lvl >= best - tol, axis=1)
        idx = np.arange(hi - lo)
        rows[lo + idx, choice] = 1.0
        value += np.bincount(pseq[lo:hi], weights=q_lvl[idx, choice], minlength=size)
    return rows, float(value[tree.empty_seq(player)])


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
