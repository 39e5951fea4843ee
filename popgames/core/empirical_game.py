"""The meta-game over a population: payoff means (and, where sampled, variances and counts).

Entries are filled incrementally: when the population grows, only profiles that use
at least one new policy are evaluated; existing entries are copied.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from popgames.core.protocols import Entries

#: Fills entries: receives profiles (tuples of policy indices), returns their
#: :class:`~popgames.core.protocols.Entries` (an oracle's ``evaluate``).
EntryFiller = Callable[[list[tuple[int, ...]]], Entries]


@dataclass
class EmpiricalGame:
    """Meta-game tensor ``payoffs[n_players, K_0, ..., K_{n-1}]``.

    ``variances`` and ``counts`` are ``None`` for exactly evaluated games; sampled
    evaluators store the per-entry sample variance and number of episodes.
    """

    payoffs: np.ndarray
    variances: np.ndarray | None = None
    counts: np.ndarray | None = None

    @classmethod
    def empty(cls, n_players: int) -> "EmpiricalGame":
        return cls(np.zeros((n_players,) + (0,) * n_players))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.payoffs.shape[1:])

    def grow(self, sizes: Sequence[int], fill: EntryFiller) -> int:
        """Enlarge to ``sizes`` policies per player, evaluating only the new profiles.

        Returns the number of entries evaluated.
        """
        old, sizes = self.sizes, tuple(int(s) for s in sizes)
        if len(sizes) != len(old) or any(s < o for s, o in zip(sizes, old)):
            raise ValueError(f"population can only grow: {old} -> {sizes}")
        new = new_profiles(old, sizes)
        corner = tuple(slice(0, o) for o in old)
        payoffs = np.zeros((len(sizes),) + sizes)
        payoffs[(slice(None),) + corner] = self.payoffs
        variances = counts = None
        if new:
            filled = fill(new)
            values = np.asarray(filled.means, dtype=np.float64)
            if values.shape != (len(new), len(sizes)) or not np.isfinite(values).all():
                raise ValueError(f"evaluator returned {values.shape} values (need {(len(new), len(sizes))}"
                                 f", finite) for {len(new)} new profiles")
            index = tuple(np.array(new).T)
            payoffs[(slice(None),) + index] = values.T
            if filled.sampled:
                variances = np.zeros_like(payoffs)
                counts = np.zeros(sizes)
                if self.variances is not None:
                    variances[(slice(None),) + corner] = self.variances
                    counts[corner] = self.counts
                variances[(slice(None),) + index] = np.asarray(filled.variances, np.float64).T
                counts[index] = np.asarray(filled.counts, np.float64)
        self.payoffs = payoffs
        if variances is not None:
            self.variances, self.counts = variances, counts
        return len(new)

    def standard_errors(self) -> np.ndarray | None:
        """Per-entry standard error of the mean (``None`` when entries are exact)."""
        if self.variances is None:
            return None
        return np.sqrt(self.variances / np.maximum(self.counts, 1))


def new_profiles(old: Sequence[int], new: Sequence[int]) -> list[tuple[int, ...]]:
    """Profiles of the ``new``-sized population that use at least one policy beyond ``old``."""
    return [p for p in itertools.product(*map(range, new))
            if any(k >= o for k, o in zip(p, old))]
