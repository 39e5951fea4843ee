"""Investment on a graphon (Cui & Koeppl, ICLR 2022, "Investment-Graphon", after Weintraub et al.).

A firm's product quality is ``x`` in ``0 .. levels - 1``. Investing (action 1) costs
``investment_cost`` a step; an investing firm keeps its quality with probability
``(1 + x) / levels`` and rises one level with probability ``(levels - 1 - x) / levels``
(the top level stays); a firm that does not invest keeps its quality. Its profit,
``profit * x / (1 + Q)``, falls with ``Q = sum_x' x' G(x')``, the quality its graphon
neighbourhood offers (``G`` the neighbourhood field). Every firm starts at quality 0;
``horizon`` decisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAMS: dict[str, Any] = {"horizon": 50, "levels": 10, "profit": 0.3, "investment_cost": 2.0}


class InvestmentGraphon:
    def __init__(self, params: dict[str, Any]):
        self.horizon, levels = int(params["horizon"]), int(params["levels"])
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        self.n_states, self.n_actions = levels, 2
        self.mu0 = np.eye(levels)[0]
        self.quality = np.arange(levels, dtype=np.float64)
        step = np.zeros((levels, 2, levels))
        x = np.arange(levels)
        step[x, 0, x] = 1.0
        rise = (levels - 1 - x) / levels
        step[x, 1, x] = 1.0 - rise
        step[x[:-1], 1, x[:-1] + 1] = rise[:-1]
        self._step = step
        self.profit, self.cost = float(params["profit"]), float(params["investment_cost"])

    def transition(self, t: int, field: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._step, (len(field), *self._step.shape))

    def reward(self, t: int, field: np.ndarray) -> np.ndarray:
        offered = field @ self.quality                                     # [M]
        sales = self.profit * self.quality[None, :] / (1.0 + offered[:, None])   # [M, X]
        return sales[:, :, None] - self.cost * np.arange(2)[None, None, :]


def make(params: dict[str, Any]) -> InvestmentGraphon:
    return InvestmentGraphon(params)
