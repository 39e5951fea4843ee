"""Online mirror descent for mean-field games (Pérolat et al. 2022): one step of :mod:`.loop`.

The textbook update: evaluate the current policy ``pi_k`` against its own flow,
``Q_k = Q^{pi_k, mu^{pi_k}}``, accumulate ``y_{k+1} = y_k + lr * Q_k`` (``y_0 = 0``) and play
``pi_{k+1} = softmax(y_{k+1})``. (OpenSpiel's ``MirrorDescent`` evaluates a policy that
its own update mutates in place, so its iterates differ; its ``MunchausenMirrorDescent``
is this one.)
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from popgames.kinds.mean_field.exact import Evaluation, MeanFieldRules, boltzmann

OPTIONS: dict[str, Any] = {"lr": 1.0}


def step(rules: MeanFieldRules, k: int, arrays: Mapping[str, np.ndarray], options: Mapping[str, Any],
         current: Evaluation) -> dict[str, np.ndarray]:
    y = arrays.get("y", np.zeros_like(current.policy)) + float(options["lr"]) * current.q
    return {"policy": boltzmann(y, 1.0), "y": y}
