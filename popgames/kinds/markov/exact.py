"""Exact best responses in small deterministic Markov games, by backward induction over histories.

A best response of the player in ``seat`` to a mixture of opponent profiles (a weight and
one policy per other seat, drawn once per episode, as PSRO's meta-strategy plays them)
may depend on the whole history: what the opponents did so far tells which profile is
playing. So the induction runs over the tree of joint-action histories, not over the
observations. Each node carries, per profile, the probability that the opponents of that
profile reached it (the learner's own choices excluded), and the learner's value is
``U(h) = max_a sum_{a_-i} [ sum_c w_c(h, a) r_i(h, a) + U(h, a) ]`` with
``w_c(h, a) = w_c(h) prod_{j != i} pi_{c,j}(a_j | obs_j(h))``: a sum over profiles of
reach-weighted returns, maximised node by node, which is the best response's value
against the mixture (``U(root)``, the weights summing to 1). Branches no profile reaches
are pruned, so deterministic opponents cost a tree of the learner's own choices only.

Everything is batched: a level of the tree is one batch of game states stepped once with
every joint action; the opponents' policies are evaluated once per distinct observation
of a level (``torch.unique``), so 20 networks cost 20 forward passes over a few thousand
rows. The rules must declare that they are deterministic given the actions
(``deterministic = True``, :attr:`MarkovGame.deterministic`; the generator is never drawn
from), and the tree must fit ``max_entries`` (nodes times
profiles); a game too large for it is one clear error.

:func:`evaluate_response` runs the same induction with a given policy for the learner (an
expectation over its action probabilities instead of the max), which measures a learned
best response exactly against the same mixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, Sequence

import numpy as np
import torch

from popgames.core.errors import PopgamesError

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


def _distinct(obs: torch.Tensor, legal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct (observation, legal) rows and each row's index among them. Rows are keyed
    by a fixed random projection (a 1-D unique is far cheaper than ``unique(dim=0)``); the
    keys are checked against the rows, with the exact row-wise unique as the fallback."""
    rows = torch.cat([obs, legal.to(obs.dtype)], 1).to(torch.float64)
    projection = torch.rand(rows.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    keys = rows @ projection.to(rows.device)
    unique_keys, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((len(unique_keys),), len(rows), dtype=torch.long, device=rows.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(rows), device=rows.device), "amin")
    if not torch.equal(rows[first][inverse], rows):   # two rows shared a key: do it row by row
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        return unique, inverse
    return rows[first], inverse


def _probs_by_unique(policy: Any, distinct: tuple[torch.Tensor, torch.Tensor], width: int) -> torch.Tensor:
    """``policy.probs`` of every row, computed once per distinct (observation, legal) row."""
    unique, inverse = distinct
    probs = policy.probs(unique[:, :width].to(torch.float32), unique[:, width:] > 0.5)
    return probs.to(torch.float64)[inverse]


def _tree(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int, learner: Any | None,
          max_entries: int) -> list[Level]:
    if not game.deterministic:
        raise PopgamesError(f"{game.name}: exact best responses need rules that declare "
                            "deterministic = True (no chance after the reset)")
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
        obs, legal = rules.observe(state), rules.legal(state)
        width = obs.shape[2]
        reach = weights[:, :, None].expand(batch, weights.shape[1], joints).clone()    # [B, C, J]
        for j in range(n):
            if j == seat:
                continue
            distinct = _distinct(obs[:, j], legal[:, j])
            for c, (_, profile) in enumerate(mixture):
                p = _probs_by_unique(profile[j], distinct, width)                        # [B, A]
                reach[:, c] *= p[:, joint[:, j]]
        learner_ok = legal[:, seat][:, joint[:, seat]]                                   # [B, J]
        learner_prob = None
        if learner is not None:
            distinct = _distinct(obs[:, seat], legal[:, seat])
            learner_prob = _probs_by_unique(learner, distinct, width)[:, joint[:, seat]]
        keep = (reach.sum(1) > 0) & learner_ok
        parent, which = keep.nonzero(as_tuple=True)
        step_state = {k: v[parent] for k, v in state.items()}
        state, rewards, _ = rules.step(step_state, joint[which], generator)
        weights = reach[parent, :, which]                                                 # [K, C]
        levels.append(Level(parent, joint[which, seat], (weights * rewards[:, seat, None].double()).sum(1),
                            None if learner_prob is None else learner_prob[parent, which], batch))
    return levels


def _induction(levels: list[Level], n_actions: int, maximise: bool) -> float:
    ahead = torch.zeros(0, dtype=torch.float64)
    for t in range(len(levels) - 1, -1, -1):
        level = levels[t]
        value = level.reward + (ahead if t < len(levels) - 1 else 0.0)
        if maximise:   # the learner picks, per history, the action with the most reach-weighted value
            q = torch.zeros(level.n_parents, n_actions, dtype=torch.float64, device=value.device)
            q.index_put_((level.parent, level.action), value, accumulate=True)
            seen = torch.zeros(level.n_parents, n_actions, dtype=torch.bool, device=value.device)
            seen[level.parent, level.action] = True
            ahead = q.masked_fill(~seen, -torch.inf).max(1).values
        else:          # the learner's own mixed action: its probability times the child's value
            ahead = torch.zeros(level.n_parents, dtype=torch.float64, device=value.device)
            ahead.index_add_(0, level.parent, value * level.learner_prob)
    return float(ahead[0])


def best_response_value(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int,
                        max_entries: int = MAX_ENTRIES) -> float:
    """The exact best response's expected return in ``seat`` of a Markov ``game`` against
    ``mixture`` (``(weight, profile)`` pairs; module doc)."""
    return _induction(_tree(game, _normalised(mixture), seat, None, max_entries), game.rules.n_actions, True)


def evaluate_response(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int, policy: Any,
                      max_entries: int = MAX_ENTRIES) -> float:
    """``policy``'s exact expected return in ``seat`` against ``mixture``."""
    return _induction(_tree(game, _normalised(mixture), seat, policy, max_entries), game.rules.n_actions,
                      False)


def _normalised(mixture: Sequence[tuple[float, Profile]]) -> list[tuple[float, Profile]]:
    kept = [(float(w), profile) for w, profile in mixture if w > 0]
    total = sum(w for w, _ in kept)
    if not kept or not np.isfinite(total):
        raise PopgamesError("an exact best response needs a mixture with positive weights")
    return [(w / total, profile) for w, profile in kept]


def exact_gaps(game: Any, population: Sequence[Sequence[Any]], joint: np.ndarray,
               max_entries: int = MAX_ENTRIES) -> np.ndarray:
    """Each player's exact gain from deviating from the meta-strategy ``joint`` (a distribution
    over population profiles): its best response to the others' part of ``joint`` (their
    marginal profile distribution; the product of marginals for Nash) minus what ``joint``
    gives it. Their sum is the exact NashConv (CCE gap) of the meta-strategy."""
    n = game.rules.n_players
    gaps = np.zeros(n)
    for i in range(n):
        others = joint.sum(axis=i)
        mixture = [(float(w), _profile(population, i, index)) for index, w in np.ndenumerate(others) if w > 1e-12]
        own = 0.0
        for k, weight in enumerate(np.moveaxis(joint, i, 0).reshape(joint.shape[i], -1).sum(1)):
            if weight <= 1e-12:
                continue
            given = np.take(joint, k, axis=i) / weight
            conditional = [(float(w), _profile(population, i, index)) for index, w in np.ndenumerate(given)
                           if w > 1e-12]
            own += weight * evaluate_response(game, conditional, i, population[i][k], max_entries)
        gaps[i] = best_response_value(game, mixture, i, max_entries) - own
    return gaps


def _profile(population: Sequence[Sequence[Any]], seat: int, index: tuple[int, ...]) -> list[Any]:
    """The other seats' policies at ``index`` (their axes in seat order), ``None`` in ``seat``."""
    rest = iter(index)
    return [None if j == seat else population[j][next(rest)] for j in range(len(population))]
