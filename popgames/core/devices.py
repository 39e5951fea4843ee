"""Torch device names, checked once where a run starts."""

from __future__ import annotations

from popgames.core.errors import PopgamesError


def check_device(device: str) -> str:
    """Validate a torch device name; asking for CUDA where there is none is an error.

    ``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu`` (torch is imported
    only then, so matrix runs on ``cpu`` never load it).
    """
    if device == "cpu":
        return device
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if not device.startswith("cuda"):
        raise PopgamesError(f"--device {device!r}: expected 'cpu' or 'cuda[:N]'")
    import torch  # only paid for when a GPU is asked for

    if not torch.cuda.is_available():
        raise PopgamesError(f"--device {device!r}: CUDA is not available on this machine")
    return device
