"""Exact best responses in small Markov games, by backward induction over histories.

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
rows (:mod:`.exact_tree`). The rules must declare that they are deterministic given the
actions (``deterministic = True``, :attr:`MarkovGame.deterministic`; the generator is
never drawn from), or enumerate their chance (:attr:`MarkovGame.enumerates_chance`), in
which case histories that reach the same observations with the same belief merge
(:mod:`.exact_chance`). The tree must fit ``max_entries`` (nodes times profiles); a game
too large for it is one clear error.

:func:`evaluate_response` runs the same induction with a given policy for the learner (an
expectation over its action probabilities instead of the max), which measures a learned
best response exactly against the same mixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from popgames.core.errors import PopgamesError
from popgames.kinds.markov.exact_chance import chance_induction, chance_levels
from popgames.kinds.markov.exact_tree import MAX_ENTRIES, Profile, TreeTooLarge, distinct_rows, induction, tree
from popgames.kinds.markov.policies import TablePolicy

__all__ = ["MAX_ENTRIES", "ExactResponse", "TreeTooLarge", "best_response", "best_response_value",
           "evaluate_response", "exact_gaps"]


@dataclass(frozen=True)
class ExactResponse:
    """An exact best response as a population member: the ``policy`` (a table on the
    learner's observations), its exact ``value`` against the mixture, and the value of the
    best response over whole histories (``history_value >= value``; equal when the
    history-dependent answer is a function of the observation)."""

    policy: TablePolicy
    value: float
    history_value: float

    @property
    def representation_gap(self) -> float:
        """What answering from the observation alone costs against this mixture."""
        return self.history_value - self.value


def best_response_value(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int,
                        max_entries: int = MAX_ENTRIES) -> float:
    """The exact best response's expected return in ``seat`` of a Markov ``game`` against
    ``mixture`` (``(weight, profile)`` pairs; module doc)."""
    return _solve(game, mixture, seat, None, max_entries)


def evaluate_response(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int, policy: Any,
                      max_entries: int = MAX_ENTRIES) -> float:
    """``policy``'s exact expected return in ``seat`` against ``mixture``."""
    return _solve(game, mixture, seat, policy, max_entries)


def best_response(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int, name: str = "exact",
                  max_entries: int = MAX_ENTRIES) -> ExactResponse:
    """The exact best response of ``seat`` to ``mixture`` as a policy a population can hold.

    A member acts on its observation, while the best response may use the whole history
    (module doc). Each observation row therefore plays the action with the most
    reach-weighted value summed over the histories that show it: the history best response
    itself wherever those histories agree (always, when the observation recalls the history
    the opponents' play reveals), else its projection. The table's value is computed
    exactly, so the projection's cost is measured (:attr:`ExactResponse.representation_gap`).
    """
    rows, q_levels = [], []
    history_value = _solve(game, mixture, seat, None, max_entries, q_levels, rows)
    q = torch.cat(q_levels)
    width = game.rules.obs_dim
    table = torch.cat(rows)
    unique, inverse = distinct_rows(table[:, :width], table[:, width:])
    total = torch.zeros(len(unique), q.shape[1], dtype=q.dtype, device=q.device)
    total.index_add_(0, inverse, q.nan_to_num(neginf=0.0))
    open_ = unique[:, width:] > 0.5
    actions = total.masked_fill(~open_, -torch.inf).argmax(1)   # ties: the lowest action
    policy = TablePolicy(unique.to(torch.float32), actions, name)
    return ExactResponse(policy, evaluate_response(game, mixture, seat, policy, max_entries), history_value)


def _solve(game: Any, mixture: Sequence[tuple[float, Profile]], seat: int, learner: Any | None,
           max_entries: int, q_levels: list[torch.Tensor] | None = None,
           rows: list[torch.Tensor] | None = None) -> float:
    """The history tree for deterministic rules, the merged graph for rules that enumerate
    chance. With ``q_levels`` and ``rows``: each level's action values and learner rows too."""
    mixture, maximise, keep = _normalised(mixture), learner is None, rows is not None
    if not game.deterministic and game.enumerates_chance:
        levels = chance_levels(game, mixture, seat, learner, max_entries, keep)
        value = chance_induction(levels, game.rules.n_actions, maximise, q_levels)
    else:
        levels = tree(game, mixture, seat, learner, max_entries, keep)
        value = induction(levels, game.rules.n_actions, maximise, q_levels)
    if keep:
        rows.extend(level.rows for level in levels)
    return value


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
