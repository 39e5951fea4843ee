"""Exact best responses in Markov games with enumerated chance (coin respawns, random starts).

The history tree of :mod:`popgames.kinds.markov.exact` is hopeless once chance branches at
every step (the coin game: 28 children a step). What keeps it finite here is merging.
Rules that enumerate their chance (``initial_outcomes()`` and ``outcomes(state,
actions)``, see :class:`popgames.kinds.markov.game.MarkovGame`) declare with it that the
players' observations together determine the state's future. Two histories that reach
the same observations at the same step with proportional reach vectors (the same belief
over the opponents' profiles) then face the same continuation, and the learner's value,
linear in the reach vector, is the same function of it: they merge into one node whose
reach vector is their sum. Each history's share of a merged node's value is its share
of the node's total reach. Beliefs are compared after normalising and rounding to 1e-12;
merging two beliefs closer than that moves the value by a like relative amount.

Levels are batched like the deterministic tree's: every node steps with every joint
action at once, the rules return each step's chance outcomes, and the opponents' policies
run once per distinct observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, Sequence

import torch

from popgames.kinds.markov.exact_tree import (Profile, TreeTooLarge, distinct_rows, first_rows, joint_reach,
                                              learner_rows)

#: Beliefs are merged when their normalised reach vectors agree to this many decimals.
BELIEF_DIGITS = 12


@dataclass
class ChanceLevel:
    """One step: per (node, joint action) the reach-weighted reward and the learner's action
    and probability; per kept chance child, its (node, joint action) pair, merged node and share."""

    reward: torch.Tensor          # [B, J]
    learner_action: torch.Tensor  # [J]
    learner_legal: torch.Tensor   # [B, A]
    learner_prob: torch.Tensor | None   # [B, J]
    pair: torch.Tensor            # [K] flat index b * J + j
    merged: torch.Tensor          # [K]
    share: torch.Tensor           # [K]
    rows: torch.Tensor | None = None   # [B, obs + A]: the learner's row at each node, if kept


def _merge(rules: Any, states: dict[str, torch.Tensor], reach: torch.Tensor
           ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merge rows with the same observations and belief: ``(states, reach, index, share)``."""
    obs = rules.observe(states).flatten(1)
    legal = rules.legal(states).flatten(1)
    _, obs_id = distinct_rows(obs, legal)
    total = reach.sum(1)
    belief = torch.round(reach / total[:, None] * 10 ** BELIEF_DIGITS).to(torch.int64)
    keys = torch.cat([obs_id[:, None], belief], 1)
    unique, index = torch.unique(keys, dim=0, return_inverse=True)
    merged_reach = torch.zeros(len(unique), reach.shape[1], dtype=reach.dtype, device=reach.device)
    merged_reach.index_add_(0, index, reach)
    first = first_rows(index, len(unique))
    share = total / merged_reach.sum(1)[index]
    return {k: v[first] for k, v in states.items()}, merged_reach, index, share


def chance_levels(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int, learner: Any | None,
                  max_entries: int, keep_rows: bool = False) -> list[ChanceLevel]:
    rules = game.rules
    n, a = rules.n_players, rules.n_actions
    joint = torch.tensor(list(product(range(a), repeat=n)), device=rules.device)        # [J, n]
    states, probs = rules.initial_outcomes()
    weights = torch.tensor([w for w, _ in mixture], dtype=torch.float64, device=rules.device)
    states, reach, _, _ = _merge(rules, states, probs.to(torch.float64)[:, None] * weights[None])
    levels = []
    for _ in range(rules.horizon):
        batch, joints, profiles = reach.shape[0], joint.shape[0], reach.shape[1]
        legal, obs = rules.legal(states), rules.observe(states)
        pair_reach, learner_prob = joint_reach(obs, legal, reach, mixture, seat, joint, learner)
        pair_reach = pair_reach * legal[:, seat][:, joint[:, seat]][:, None].to(pair_reach.dtype)
        flat = {k: v.repeat_interleave(joints, 0) for k, v in states.items()}
        nxt, chance, rewards = rules.outcomes(flat, joint.repeat(batch, 1))   # chance [B*J, K]
        outcomes = chance.shape[1]
        if batch * joints * outcomes * profiles > max_entries:
            raise TreeTooLarge(f"the exact best response's graph has {batch * joints * outcomes} children x "
                               f"{profiles} profiles at one step here, beyond {max_entries:,} entries")
        child_reach = pair_reach.permute(0, 2, 1).reshape(batch * joints, profiles)[:, None] * \
            chance.to(torch.float64)[:, :, None]                                       # [B*J, K, C]
        keep = child_reach.sum(-1).flatten() > 0
        kept = keep.nonzero(as_tuple=True)[0]
        children = {k: v[kept] for k, v in nxt.items()}
        states, reach, merged, share = _merge(rules, children, child_reach.reshape(-1, profiles)[kept])
        reward = (pair_reach.sum(1) * rewards[:, seat].double().reshape(batch, joints))   # [B, J]
        levels.append(ChanceLevel(reward, joint[:, seat], legal[:, seat], learner_prob, kept // outcomes,
                                  merged, share, learner_rows(obs, legal, seat) if keep_rows else None))
    return levels


def chance_induction(levels: list[ChanceLevel], n_actions: int, maximise: bool,
                     q_levels: list[torch.Tensor] | None = None) -> float:
    """As :func:`popgames.kinds.markov.exact_tree.induction`, over the merged graph."""
    ahead: torch.Tensor | None = None
    for level in reversed(levels):
        value = level.reward.clone()                                                    # [B, J]
        if ahead is not None:
            value.view(-1).index_add_(0, level.pair, ahead[level.merged] * level.share)
        if maximise:
            q = torch.zeros(value.shape[0], n_actions, dtype=value.dtype, device=value.device)
            q.index_add_(1, level.learner_action, value)
            q = q.masked_fill(~level.learner_legal, -torch.inf)
            ahead = q.max(1).values
            if q_levels is not None:
                q_levels.insert(0, q)
        else:
            ahead = (value * level.learner_prob).sum(1)
    # The initial outcomes were merged into the first level's nodes: their values add up.
    return float(ahead.sum())
