"""One root seed per run; every task's generator is derived from it by its position.

``task_rng(seed, iteration, player, task)`` gives the same stream for the same
position whatever happened before, so a resumed run draws exactly the numbers an
uninterrupted one would, and no generator state needs to be checkpointed.
"""

from __future__ import annotations

import numpy as np


def task_seed(seed: int, *position: int) -> np.random.SeedSequence:
    """The ``SeedSequence`` spawned from the run's root ``seed`` at ``position``."""
    return np.random.SeedSequence(seed, spawn_key=tuple(int(p) for p in position))


def task_rng(seed: int, *position: int) -> np.random.Generator:
    """A numpy ``Generator`` for the task at ``position`` (e.g. iteration, player, task)."""
    return np.random.default_rng(task_seed(seed, *position))


def torch_generator(seed: int, *position: int, device: str | object = "cpu"):
    """A ``torch.Generator`` on ``device`` seeded from the task's ``SeedSequence``."""
    import torch

    state = task_seed(seed, *position).generate_state(1, np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & ((1 << 63) - 1))
