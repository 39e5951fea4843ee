"""Prior descent (Cui & Koeppl 2021, as in mfglib): one step of :mod:`.loop`.

A Boltzmann fixed point relative to a prior policy ``q``:
``pi_{k+1}(a | x, t) ∝ q(a | x, t) exp(Q*_k(x, a, t) / temperature)``, with ``Q*_k`` the
optimal action values against the flow of ``pi_k``; every ``inner`` iterations the prior
moves to the current policy (``q_0`` uniform). The regularisation towards an improving
prior lets the temperature stay large while the answer approaches a Nash equilibrium.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from popgames.kinds.mean_field.exact import MeanFieldRules, boltzmann, flow, q_functions

OPTIONS: dict[str, Any] = {"temperature": 1.0, "inner": 1}


def step(rules: MeanFieldRules, k: int, arrays: Mapping[str, np.ndarray],
         options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    policy = arrays["policy"]
    prior = arrays.get("prior", np.full_like(policy, 1.0 / policy.shape[-1]))
    _, transitions, rewards = flow(rules, policy)
    q, _ = q_functions(transitions, rewards)
    temperature = float(options["temperature"])
    with np.errstate(divide="ignore"):   # a zero prior probability stays zero
        policy = boltzmann(q + temperature * np.log(prior), temperature)
    if (k + 1) % int(options["inner"]) == 0:
        prior = policy
    return {"policy": policy, "prior": prior}
