"""SIS epidemics on a graphon (Cui & Koeppl, ICLR 2022, "Learning Graphon Mean Field Games").

States S (0) and I (1); actions 0 (none) and 1 (precaution). A susceptible agent is
infected with probability ``(1 - u) * infection * G(I)``, where ``G(I)`` is the
infected mass of its graphon neighbourhood; an infected one recovers with probability
``recovery``. Each step costs ``infected_cost`` when infected and ``precaution_cost``
per precaution: ``r = -infected_cost * 1{x = I} - precaution_cost * u``. Every agent
starts infected with probability ``initial_infected``; ``horizon`` decisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAMS: dict[str, Any] = {"horizon": 50, "infection": 0.8, "recovery": 0.2, "infected_cost": 2.0,
                          "precaution_cost": 0.5, "initial_infected": 0.5}


class SisGraphon:
    def __init__(self, params: dict[str, Any]):
        self.horizon = int(params["horizon"])
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        for key in ("infection", "recovery", "initial_infected"):
            if not 0.0 <= params[key] <= 1.0:
                raise ValueError(f"{key} must be a probability, got {params[key]}")
        self.p = dict(params)
        self.n_states, self.n_actions = 2, 2
        self.mu0 = np.array([1.0 - params["initial_infected"], params["initial_infected"]])
        cost = np.array([[0.0, params["precaution_cost"]],
                         [params["infected_cost"], params["infected_cost"] + params["precaution_cost"]]])
        self._reward = -cost
        self._exposure = (1.0 - np.arange(2)) * params["infection"]   # no precaution: exposed
        self._base: np.ndarray | None = None
        self._rewards: np.ndarray | None = None

    def transition(self, t: int, field: np.ndarray) -> np.ndarray:
        m = len(field)
        if self._base is None or len(self._base) != m:   # the infected rows do not change
            self._base = np.empty((m, 2, 2, 2))
            self._base[:, 1, :, 0] = self.p["recovery"]
            self._base[:, 1, :, 1] = 1.0 - self.p["recovery"]
        p = self._base.copy()
        infect = self._exposure * field[:, 1, None]                          # [M, u]
        p[:, 0, :, 1] = infect
        p[:, 0, :, 0] = 1.0 - infect
        return p

    def reward(self, t: int, field: np.ndarray) -> np.ndarray:
        if self._rewards is None or len(self._rewards) != len(field):   # the same at every step
            self._rewards = np.broadcast_to(self._reward, (len(field), 2, 2))
        return self._rewards


def make(params: dict[str, Any]) -> SisGraphon:
    return SisGraphon(params)
