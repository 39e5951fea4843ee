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

from popgames.kinds.mean_field.exact import Evaluation, MeanFieldRules, boltzmann

OPTIONS: dict[str, Any] = {"temperature": 1.0, "inner": 1}


def step(rules: MeanFieldRules, k: int, arrays: Mapping[str, np.ndarray], options: Mapping[str, Any],
         current: Evaluation) -> dict[str, np.ndarray]:
    prior = arrays.get("prior", np.full_like(current.policy, 1.0 / current.policy.shape[-1]))
    temperature = float(options["temperature"])
    with np.errstate(divide="ignore"):   # a zero prior probability stays zero
        policy = boltzmann(current.q_best + temperature * np.log(prior), temperature)
    if (k + 1) % int(options["inner"]) == 0:
        prior = policy
    return {"policy": policy, "prior": prior}
