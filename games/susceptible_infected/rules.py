"""Susceptible-infected (Cui & Koeppl 2021), as mfglib 0.3's ``Environment.susceptible_infected``.

States S (0) and I (1); actions 0 (go out) and 1 (social distancing). A susceptible agent
going out is infected with probability ``infection * mu(I)`` (``0.9 ** 2`` in mfglib); one
distancing stays susceptible; an infected agent recovers with probability ``recovery``
whatever it does. Costs: distancing ``distancing_cost``, being infected ``infected_cost``
(both when infected and distancing). ``mu_0``: mfglib's ``mu0 = (0.4, 0.6)`` lists S then I,
so 60% start infected. mfglib's horizon ``T = 50`` has ``T + 1 = 51`` decision times: here
``horizon = 51``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAMS: dict[str, Any] = {"horizon": 51, "infection": 0.81, "recovery": 0.3, "distancing_cost": 0.5,
                          "infected_cost": 1.0, "initial_infected": 0.6}


class SusceptibleInfected:
    agents = ()

    def __init__(self, params: dict[str, Any]):
        self.horizon = int(params["horizon"])
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        self.p = dict(params)
        self.n_states, self.n_actions = 2, 2
        self.mu0 = np.array([1.0 - params["initial_infected"], params["initial_infected"]])
        self._base = np.zeros((2, 2, 2))
        self._base[0, 1] = [1.0, 0.0]                                   # S, distancing
        self._base[1, :] = [params["recovery"], 1.0 - params["recovery"]]
        self._reward = -np.array([[0.0, params["distancing_cost"]],
                                  [params["infected_cost"], params["infected_cost"] + params["distancing_cost"]]])

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        infect = self.p["infection"] * mu[1]
        p = self._base.copy()                  # only a susceptible agent going out depends on mu
        p[0, 0, 0], p[0, 0, 1] = 1.0 - infect, infect
        return p

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._reward


def make(params: dict[str, Any]) -> SusceptibleInfected:
    return SusceptibleInfected(params)
