"""Fictitious play for mean-field games (Perrin et al. 2020), as a generator of records.

Each iteration best-responds to the flow of the current policy and averages the
response in: the new policy is the one whose flow is the average of the flows,
``pi_{k+1}(a | x, t) = ((1 - w) mu^{pi_k}_t(x) pi_k(a | x, t) + w mu^{br}_t(x) br(a | x, t))
/ ((1 - w) mu^{pi_k}_t(x) + w mu^{br}_t(x))`` (uniform where neither reaches ``x``), with
``w = 1 / (k + 2)`` at iteration ``k`` (0-based), so ``pi_k`` plays the average of the
uniform start and the ``k + 1`` best responses. This is OpenSpiel's ``FictitiousPlay``
step (its ``MergedPolicy``); its exploitability after iteration ``k`` is reported in
record ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from popgames.kinds.mean_field.exact import (MeanFieldRules, best_response, exploitability, flow,
                                             uniform_policy)


@dataclass
class FictitiousPlayRecord:
    """Iteration ``iteration``: the averaged ``policy`` after it and its ``exploitability``."""

    iteration: int
    policy: np.ndarray
    exploitability: float
    value: float


def average_policies(policy: np.ndarray, mu: np.ndarray, response: np.ndarray, mu_response: np.ndarray,
                     weight: float) -> np.ndarray:
    """The policy whose flow is ``(1 - weight)`` of ``policy``'s plus ``weight`` of ``response``'s."""
    old = (1.0 - weight) * mu[..., :-1, :, None]
    new = weight * mu_response[..., :-1, :, None]
    mass = old + new
    mixed = np.divide(old * policy + new * response, mass, out=np.zeros_like(policy), where=mass > 0)
    return np.where(mass > 0, mixed, 1.0 / policy.shape[-1])


def fictitious_play(rules: MeanFieldRules, iterations: int, policy: np.ndarray | None = None
                    ) -> Iterator[FictitiousPlayRecord]:
    """Run ``iterations`` steps of fictitious play from ``policy`` (default uniform)."""
    policy = uniform_policy(rules) if policy is None else np.asarray(policy, np.float64)
    for k in range(iterations):
        mu, transitions, rewards = flow(rules, policy)
        response, _ = best_response(transitions, rewards)
        mu_response = flow(rules, response)[0]
        policy = average_policies(policy, mu, response, mu_response, 1.0 / (k + 2))
        scored: dict[str, Any] = exploitability(rules, policy)
        yield FictitiousPlayRecord(k, policy, scored["exploitability"], scored["value"])
