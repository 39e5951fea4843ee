"""Fixed-point iteration with Boltzmann regularisation (Cui & Koeppl 2021; the GMFG paper's
method): one step of :mod:`.loop`.

``pi_{k+1} = softmax(Q*_k / temperature)``, with ``Q*_k`` the optimal action values against
the flow of ``pi_k``. ``temperature = 0`` is the plain best-response fixed point (ties to
the lowest action), which need not converge; a positive temperature makes the map a
contraction for large enough temperatures, at the price of a regularised equilibrium.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from popgames.kinds.mean_field.exact import Evaluation, MeanFieldRules, boltzmann

OPTIONS: dict[str, Any] = {"temperature": 0.0}


def step(rules: MeanFieldRules, k: int, arrays: Mapping[str, np.ndarray], options: Mapping[str, Any],
         current: Evaluation) -> dict[str, np.ndarray]:
    return {"policy": boltzmann(current.q_best, float(options["temperature"]))}
