"""The history tree of deterministic Markov games, one batched level per step (see
:mod:`popgames.kinds.markov.exact`), and the helpers both exact solvers share: distinct
observation rows and the entry budget."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, Sequence

import torch

from popgames.core.errors import PopgamesError
from popgames.kinds.markov.policies import row_projection

#: Most tree entries (histories times profiles) one induction may hold per level.
MAX_ENTRIES = 60_000_000
Profile = Sequence[Any]   # one policy per seat; the learner's seat is ignored


class TreeTooLarge(PopgamesError):
    """The history tree would exceed its entry budget: the game is too large to answer exactly."""


@dataclass
class Level:
    """One step of the tree: for every kept child, its parent, the learner's action, its
    reach-weighted reward ``sum_c w_c r_i`` and (for the expectation) the learner's probability."""

    parent: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    learner_prob: torch.Tensor | None
    n_parents: int
    rows: torch.Tensor | None = None   # the learner's (observation, legal) row at each parent, if kept


def distinct_rows(obs: torch.Tensor, legal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct (observation, legal) rows and each row's index among them. Rows are keyed
    by a fixed random projection (a 1-D unique is far cheaper than ``unique(dim=0)``); the
    keys are checked against the rows, with the exact row-wise unique as the fallback."""
    rows = torch.cat([obs, legal.to(obs.dtype)], 1).to(torch.float64)
    keys = rows @ row_projection(rows.shape[1], rows.device)
    unique_keys, inverse = torch.unique(keys, return_inverse=True)
    first = first_rows(inverse, len(unique_keys))
    if not torch.equal(rows[first][inverse], rows):   # two rows shared a key: do it row by row
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        return unique, inverse
    return rows[first], inverse


def first_rows(inverse: torch.Tensor, count: int) -> torch.Tensor:
    """For each of ``count`` groups (``inverse``: each row's group), the index of its first row."""
    first = torch.full((count,), len(inverse), dtype=torch.long, device=inverse.device)
    return first.scatter_reduce_(0, inverse, torch.arange(len(inverse), device=inverse.device), "amin")


def probs_by_row(policy: Any, distinct: tuple[torch.Tensor, torch.Tensor], width: int) -> torch.Tensor:
    """``policy.probs`` of every row, computed once per distinct (observation, legal) row."""
    unique, inverse = distinct
    probs = policy.probs(unique[:, :width].to(torch.float32), unique[:, width:] > 0.5)
    return probs.to(torch.float64)[inverse]


def joint_reach(obs: torch.Tensor, legal: torch.Tensor, weights: torch.Tensor,
                mixture: Sequence[tuple[float, Profile]], seat: int, joint: torch.Tensor, learner: Any | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per node, profile and joint action ``[B, C, J]``: the node's reach ``weights [B, C]``
    times the probability that the profile's opponents play their part of the joint action;
    and the learner's probability of its part ``[B, J]`` (``None`` without a learner)."""
    reach = weights[:, :, None].expand(*weights.shape, joint.shape[0]).clone()
    width = obs.shape[2]
    for j in range(obs.shape[1]):
        if j != seat:
            distinct = distinct_rows(obs[:, j], legal[:, j])
            for c, (_, profile) in enumerate(mixture):
                reach[:, c] *= probs_by_row(profile[j], distinct, width)[:, joint[:, j]]
    if learner is None:
        return reach, None
    return reach, probs_by_row(learner, distinct_rows(obs[:, seat], legal[:, seat]), width)[:, joint[:, seat]]


def tree(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int, learner: Any | None,
          max_entries: int, keep_rows: bool = False) -> list[Level]:
    if not game.deterministic:
        raise PopgamesError(f"{game.name}: exact best responses need rules that declare "
                            "deterministic = True (no chance after the reset) or enumerate their chance "
                            "(initial_outcomes and outcomes)")
    rules = game.rules
    n, a = rules.n_players, rules.n_actions
    joint = torch.tensor(list(product(range(a), repeat=n)), device=rules.device)        # [J, n]
    generator = torch.Generator(device=rules.device).manual_seed(0)   # never drawn from
    state = rules.reset(1, generator)
    weights = torch.tensor([[float(w) for w, _ in mixture]], dtype=torch.float64, device=rules.device)
    levels = []
    for _ in range(rules.horizon):
        batch, joints = weights.shape[0], joint.shape[0]
        if batch * joints * weights.shape[1] > max_entries:
            raise TreeTooLarge(f"the exact best response's tree has {batch * joints} histories x "
                                f"{weights.shape[1]} profiles here, beyond {max_entries:,} entries: "
                                f"it is for small games (fewer rounds, players or profiles)")
        legal, obs = rules.legal(state), rules.observe(state)
        reach, learner_prob = joint_reach(obs, legal, weights, mixture, seat, joint, learner)
        learner_ok = legal[:, seat][:, joint[:, seat]]                                   # [B, J]
        keep = (reach.sum(1) > 0) & learner_ok
        parent, which = keep.nonzero(as_tuple=True)
        step_state = {k: v[parent] for k, v in state.items()}
        state, rewards, _ = rules.step(step_state, joint[which], generator)
        weights = reach[parent, :, which]                                                 # [K, C]
        levels.append(Level(parent, joint[which, seat], (weights * rewards[:, seat, None].double()).sum(1),
                            None if learner_prob is None else learner_prob[parent, which], batch,
                            learner_rows(obs, legal, seat) if keep_rows else None))
    return levels


def learner_rows(obs: torch.Tensor, legal: torch.Tensor, seat: int) -> torch.Tensor:
    """The learner's (observation, legal mask) rows, as :class:`TablePolicy` keys them."""
    return torch.cat([obs[:, seat].to(torch.float32), legal[:, seat].to(torch.float32)], 1)


def induction(levels: list[Level], n_actions: int, maximise: bool,
              q_levels: list[torch.Tensor] | None = None) -> float:
    """The learner's value at the root: the best response's (``maximise``) or the given
    learner's. With ``q_levels``, each level's action values ``[n_parents, A]`` (reach-weighted;
    ``-inf`` for actions not open) are put in it, first level first."""
    ahead = torch.zeros(0, dtype=torch.float64)
    for t in range(len(levels) - 1, -1, -1):
        level = levels[t]
        value = level.reward + (ahead if t < len(levels) - 1 else 0.0)
        if maximise:   # the learner picks, per history, the action with the most reach-weighted value
            q = torch.zeros(level.n_parents, n_actions, dtype=torch.float64, device=value.device)
            q.index_put_((level.parent, level.action), value, accumulate=True)
            seen = torch.zeros(level.n_parents, n_actions, dtype=torch.bool, device=value.device)
            seen[level.parent, level.action] = True
            q = q.masked_fill(~seen, -torch.inf)
            ahead = q.max(1).values
            if q_levels is not None:
                q_levels.insert(0, q)
        else:          # the learner's own mixed action: its probability times the child's value
            ahead = torch.zeros(level.n_parents, dtype=torch.float64, device=value.device)
            ahead.index_add_(0, level.parent, value * level.learner_prob)
    return float(ahead[0])
