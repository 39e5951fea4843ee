"""Predator-prey with three populations (OpenSpiel's ``python_mfg_predator_prey``; Perolat et al. 2022).

Each population ``k`` moves on a ``size x size`` grid (stay or one step in four
directions; then a random step with probability ``noise``, see
:mod:`popgames.kinds.mean_field.grid`). At a cell ``x`` at time ``t`` it earns
``-congestion * log(mu_t^k(x) + 1e-25) + sum_j R[k, j] mu_t^j(x)``: it avoids its own
crowd, seeks populations with ``R[k, j] > 0`` (its prey) and flees those with
``R[k, j] < 0``. The default ``R`` makes population 0 chase 1, 1 chase 2 and 2 chase 0.
Every population starts at one corner (``start``: a cell per population, numbered
``x + y * size``). The rewards do not depend on the action, as in OpenSpiel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from popgames.kinds.mean_field.grid import move_matrices, noisy_steps

PARAMS: dict[str, Any] = {"horizon": 10, "size": 5, "noise": 0.8, "congestion": 1.0, "torus": False,
                          "reward_matrix": [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]],
                          "start": [0, 4, 20]}
#: OpenSpiel's guard inside the log.
LOG_EPS = 1e-25


class PredatorPrey:
    def __init__(self, params: dict[str, Any]):
        self.horizon, size = int(params["horizon"]), int(params["size"])
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        if not 0.0 <= params["noise"] <= 1.0:
            raise ValueError(f"noise must be a probability, got {params['noise']}")
        self.payoff = np.asarray(params["reward_matrix"], dtype=np.float64)
        k = len(self.payoff)
        if self.payoff.shape != (k, k):
            raise ValueError(f"reward_matrix must be square, got shape {self.payoff.shape}")
        start = [int(s) for s in params["start"]]
        if len(start) != k or not all(0 <= s < size * size for s in start):
            raise ValueError(f"start must name one cell in [0, {size * size}) per population ({k})")
        self.agents = (k,)
        self.n_states, self.n_actions = size * size, 5
        self.mu0 = np.zeros((k, size * size))
        self.mu0[np.arange(k), start] = 1.0
        self.congestion = float(params["congestion"])
        step = noisy_steps(move_matrices(size, torus=bool(params["torus"])), float(params["noise"]))
        self._step = np.broadcast_to(step, (k, *step.shape))

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._step

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        gain = -self.congestion * np.log(mu + LOG_EPS) + self.payoff @ mu        # [K, X]
        return np.repeat(gain[:, :, None], self.n_actions, axis=2)


def make(params: dict[str, Any]) -> PredatorPrey:
    return PredatorPrey(params)
