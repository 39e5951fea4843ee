"""Fictitious play for mean-field games (Perrin et al. 2020): one step of :mod:`.loop`.

Each iteration best-responds to the flow of the current policy and averages the
response in: the new policy is the one whose flow is the average of the flows,
``pi_{k+1}(a | x, t) = ((1 - w) mu^{pi_k}_t(x) pi_k(a | x, t) + w mu^{br}_t(x) br(a | x, t))
/ ((1 - w) mu^{pi_k}_t(x) + w mu^{br}_t(x))`` (uniform where neither reaches ``x``), with
``w = 1 / (k + 2)`` at iteration ``k`` (0-based), so the policy after iteration ``k``
plays the average of the uniform start and the ``k + 1`` best responses. This is
OpenSpiel's ``FictitiousPlay`` step (its ``MergedPolicy``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from popgames.kinds.mean_field.exact import Evaluation, MeanFieldRules, flow, greedy, mix_policies

OPTIONS: dict[str, Any] = {}


def step(rules: MeanFieldRules, k: int, arrays: Mapping[str, np.ndarray], options: Mapping[str, Any],
         current: Evaluation) -> dict[str, np.ndarray]:
    response = greedy(current.q_best)
    mu_response = flow(rules, response, rewards=False)[0]
    weight = 1.0 / (k + 2)
    return {"policy": mix_policies([current.policy, response], [current.mu, mu_response], [1.0 - weight, weight])}
