"""Crowd modelling on a ring (Perrin et al. 2020, section 4.2; OpenSpiel's ``mfg_crowd_modelling``).

``size`` positions on a ring; an agent moves left, stays or moves right (actions 0, 1, 2),
then is pushed by a uniform noise in {-1, 0, +1}. Its reward at position ``x`` under the
population's distribution ``mu`` is ``1 - |x - size // 2| / (size // 2)`` (the centre is
best), minus ``|move| / size`` for moving, minus ``log(mu(x) + 1e-25)`` (crowds are
avoided). ``mu_0`` is uniform; ``horizon`` decisions.

Clean model (default): a move is charged when it is made. OpenSpiel charges each move at
the next decision node, so the last move is never charged, and its value functions cache
decision nodes by ``(x, t)`` alone, so the charge kept at ``(x, t)`` is that of the move
on the first depth-first path to reach it, whatever move the agent made.
``openspiel_compat = true`` reproduces that: the move charge becomes the constant of the
first-visited path (:func:`first_visit_moves`), the same for every action, which is why
OpenSpiel's numbers (uniform-policy NashConv 2.813536554387) differ from the clean model's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAMS: dict[str, Any] = {"size": 10, "horizon": 10, "openspiel_compat": False}
MOVES = np.array([-1, 0, 1])   # action -> displacement (noise outcome -> displacement too)
NEUTRAL = 1
EPSILON = 1e-25


def first_visit_moves(size: int, horizon: int) -> np.ndarray:
    """``last[t, x]``: the action on the first depth-first path of OpenSpiel's tree to decision
    node ``(x, t)`` (initial states in order, then actions 0..2, then noise 0..2; a node already
    visited is not entered again). Time 0's is the neutral action."""
    last = np.full((horizon, size), NEUTRAL)
    decisions = list(range(size))
    for t in range(horizon - 1):
        chance: dict[int, int] = {}     # post-move position -> the action that first reached it
        for y in decisions:
            for a, move in enumerate(MOVES):
                chance.setdefault(int((y + move) % size), a)
        seen: list[int] = []
        for position, action in chance.items():   # dicts keep first-visit order
            for noise in MOVES:
                x = int((position + noise) % size)
                if x not in seen:
                    seen.append(x)
                    last[t + 1, x] = action
        decisions = seen
    return last


class CrowdModelling:
    agents = ()   # one population (a graphon game's rules have (M,))

    def __init__(self, params: dict[str, Any]):
        self.size, self.horizon = int(params["size"]), int(params["horizon"])
        if self.size < 2:
            raise ValueError(f"size must be >= 2, got {self.size}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        self.n_states, self.n_actions = self.size, len(MOVES)
        self.mu0 = np.full(self.size, 1.0 / self.size)
        x = np.arange(self.size)
        half = self.size // 2
        self._place = 1.0 - np.abs(x - half) / half
        step = np.zeros((self.size, 3, self.size))
        for a, move in enumerate(MOVES):
            for noise in MOVES:
                step[x, a, (x + move + noise) % self.size] += 1.0 / 3.0
        self._step = step
        cost = np.abs(MOVES) / self.size
        if params["openspiel_compat"]:
            charged = cost[first_visit_moves(self.size, self.horizon)]       # [T, X]
            self._cost = np.repeat(charged[:, :, None], 3, axis=2)
        else:
            self._cost = np.broadcast_to(cost, (self.horizon, self.size, 3))

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._step

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        return (self._place - np.log(mu + EPSILON))[:, None] - self._cost[t]


def make(params: dict[str, Any]) -> CrowdModelling:
    return CrowdModelling(params)
