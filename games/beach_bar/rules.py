"""The beach bar process (Perrin et al. 2020), as mfglib 0.3's ``Environment.beach_bar``.

``n`` positions on a clipped line (mfglib clips at both ends; OpenSpiel's crowd models use
a ring). An agent moves left, stays or moves right (actions 0, 1, 2), then is pushed by a
noise of -1, 0, +1 with probabilities ``((1 - p_still) / 2, p_still, (1 - p_still) / 2)``,
clipped to the line. Reward: minus the distance to the bar (measured around the ring, as
mfglib's rolled ``min`` does), minus ``1 / n`` per move, minus ``log(mu(x) + log_eps)``.
``mu_0`` uniform. mfglib's horizon ``T = 2`` has ``T + 1 = 3`` decision times: here
``horizon = 3``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAMS: dict[str, Any] = {"horizon": 3, "n": 4, "bar_loc": 2, "log_eps": 1e-20, "p_still": 0.5}


class BeachBar:
    agents = ()

    def __init__(self, params: dict[str, Any]):
        n, bar = int(params["n"]), int(params["bar_loc"])
        self.horizon = int(params["horizon"])
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if not 0 <= bar < n:
            raise ValueError(f"bar_loc must be between 0 and n - 1, got {bar}")
        if not 0.0 <= params["p_still"] <= 1.0:
            raise ValueError(f"p_still must be a probability, got {params['p_still']}")
        self.n_states, self.n_actions = n, 3
        self.mu0 = np.full(n, 1.0 / n)
        self.log_eps = float(params["log_eps"])
        noise = ((1 - params["p_still"]) / 2, params["p_still"], (1 - params["p_still"]) / 2)
        step = np.zeros((n, 3, n))
        for s in range(n):
            for a in range(3):
                for eps, pr in zip((-1, 0, 1), noise):
                    step[s, a, min(max(s + a - 1 + eps, 0), n - 1)] += pr
        self._step = step
        x = np.arange(n)
        distance = np.minimum(np.roll(x, bar), np.roll(x[::-1], bar + 1))
        self._fixed = -distance[:, None] - np.array([1.0, 0.0, 1.0])[None, :] / n

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._step

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._fixed - np.log(mu + self.log_eps)[:, None]


def make(params: dict[str, Any]) -> BeachBar:
    return BeachBar(params)
