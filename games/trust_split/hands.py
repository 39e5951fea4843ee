"""Trust-and-Split's rock/paper/scissors hands, shared by its rules and reference policies."""

from __future__ import annotations

import torch

HANDS = ("rock", "paper", "scissors")


def beats(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Paper (1) beats rock (0), scissors (2) beat paper, rock beats scissors."""
    return b == (a + 2) % 3
