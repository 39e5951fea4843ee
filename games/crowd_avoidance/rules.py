"""Crowd avoidance with two populations (OpenSpiel's ``python_mfg_crowd_avoidance``).

Both populations move in a 7x7 room whose border and inner wall cells (``#`` in
``WALLS``) cannot be entered: a move into a wall stays put, and after each move a
random step follows with probability ``noise`` (:mod:`popgames.kinds.mean_field.grid`).
At cell ``x`` population ``k`` earns ``target_bonus`` on its target cell and pays
``congestion * sum_j C[k, j] mu^j(x)``; the default ``C`` charges each population for the
other one's presence only. OpenSpiel's default ``congestion`` is 0 (no interaction);
the card sets 1. The start distributions are OpenSpiel's (three cells per population,
on opposite sides of the room). The rewards do not depend on the action.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from popgames.kinds.mean_field.grid import cell, move_matrices, noisy_steps

WALLS = ["#######",
         "#  #  #",
         "#     #",
         "#  #  #",
         "#     #",
         "#  #  #",
         "#######"]
PARAMS: dict[str, Any] = {"horizon": 10, "noise": 0.5, "congestion": 0.0, "target_bonus": 1.0,
                          "congestion_matrix": [[0.0, 1.0], [1.0, 0.0]],
                          "targets": [[5, 3], [1, 3]],
                          # (x, y, probability) per population
                          "start": [[[1, 2, 0.4], [2, 2, 0.4], [1, 4, 0.2]],
                                    [[5, 2, 0.2], [4, 4, 0.4], [5, 4, 0.4]]]}
SIZE = len(WALLS)


class CrowdAvoidance:
    agents = (2,)

    def __init__(self, params: dict[str, Any]):
        self.horizon = int(params["horizon"])
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if not 0.0 <= params["noise"] <= 1.0:
            raise ValueError(f"noise must be a probability, got {params['noise']}")
        self.matrix = np.asarray(params["congestion_matrix"], dtype=np.float64)
        if self.matrix.shape != (2, 2):
            raise ValueError(f"congestion_matrix must be 2x2, got shape {self.matrix.shape}")
        self.n_states, self.n_actions = SIZE * SIZE, 5
        self.mu0 = np.zeros((2, self.n_states))
        for k, cells in enumerate(params["start"]):
            for x, y, p in cells:
                self.mu0[k, cell(int(x), int(y), SIZE)] += float(p)
        walls = [(x, y) for y, row in enumerate(WALLS) for x, c in enumerate(row) if c == "#"]
        self._step = np.broadcast_to(noisy_steps(move_matrices(SIZE, forbidden=walls), float(params["noise"])),
                                     (2, self.n_states, 5, self.n_states))
        self._bonus = np.zeros((2, self.n_states))
        for k, (x, y) in enumerate(params["targets"]):
            self._bonus[k, cell(int(x), int(y), SIZE)] = float(params["target_bonus"])
        self.congestion = float(params["congestion"])

    def transition(self, t: int, mu: np.ndarray) -> np.ndarray:
        return self._step

    def reward(self, t: int, mu: np.ndarray) -> np.ndarray:
        gain = self._bonus - self.congestion * (self.matrix @ mu)                  # [2, X]
        return np.repeat(gain[:, :, None], self.n_actions, axis=2)


def make(params: dict[str, Any]) -> CrowdAvoidance:
    return CrowdAvoidance(params)
