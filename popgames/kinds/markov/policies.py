"""Policies for batched Markov games: scripted references and small torch networks.

Every policy maps one player's observations ``[B, obs_dim]`` and legal masks
``[B, A]`` to action probabilities ``[B, A]``, and can be stored as plain arrays
(``to_arrays`` / ``policy_from_arrays``): a scripted policy by its name in the
game's reference set, a network by its flattened parameters.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn


#: Logit given to illegal actions: finite, so that 0 * log p stays 0 (``-inf`` would make
#: NaN gradients through the masked branch), yet exp() of it is exactly 0 in float32.
ILLEGAL_LOGIT = -1e9


def masked_probs(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Softmax of ``logits`` over the legal actions only."""
    return torch.softmax(logits.masked_fill(~legal, ILLEGAL_LOGIT), dim=-1)


class ScriptedPolicy:
    """A hand-written policy: ``choose(obs, legal) -> actions [B]`` (deterministic)."""

    kind = "scripted"

    def __init__(self, name: str, choose: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.name, self.choose = name, choose

    def probs(self, obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        actions = self.choose(obs, legal)
        # A scripted choice that is illegal in this phase falls back to the first legal action.
        ok = legal.gather(1, actions[:, None]).squeeze(1)
        actions = torch.where(ok, actions, legal.to(torch.int8).argmax(1))
        return torch.nn.functional.one_hot(actions, legal.shape[1]).to(obs.dtype)

    def __repr__(self) -> str:
        return f"ScriptedPolicy({self.name!r})"


class UniformPolicy:
    """Uniformly random over the legal actions."""

    kind = "scripted"
    name = "uniform"

    def probs(self, obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        p = legal.to(obs.dtype)
        return p / p.sum(1, keepdim=True)


class MlpPolicy(nn.Module):
    """Actor-critic network on a history-window observation: shared trunk, two heads."""

    kind = "mlp"

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64, name: str = "ppo",
                 value_heads: int = 1):
        super().__init__()
        self.obs_dim, self.n_actions, self.hidden, self.name = obs_dim, n_actions, hidden, name
        self.value_heads = value_heads
        self.trunk = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh())
        self.actor = nn.Linear(hidden, n_actions)
        self.critic = nn.Linear(hidden, value_heads)  # own value (+ the others', for alignment)

    def init_weights(self, generator: torch.Generator) -> "MlpPolicy":
        """Orthogonal initialisation drawn from ``generator`` (no global RNG)."""
        with torch.no_grad():
            for layer, gain in ((self.trunk[0], 2 ** 0.5), (self.trunk[2], 2 ** 0.5),
                                (self.actor, 0.01), (self.critic, 1.0)):
                w = torch.randn(layer.weight.shape, generator=generator, device=layer.weight.device)
                q, r = torch.linalg.qr(w.T if w.shape[0] < w.shape[1] else w)
                q = q * torch.sign(torch.diagonal(r))
                layer.weight.copy_(gain * (q.T if w.shape[0] < w.shape[1] else q))
                layer.bias.zero_()
        return self

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits ``[B, A]`` and values ``[B, value_heads]``."""
        h = self.trunk(obs)
        return self.actor(h), self.critic(h)

    @torch.no_grad()
    def probs(self, obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        return masked_probs(self.actor(self.trunk(obs)), legal)


def to_arrays(policy, prefix: str) -> dict[str, np.ndarray]:
    """A policy as named arrays (no pickle): its kind, name and parameters."""
    out = {f"{prefix}.name": np.frombuffer(policy.name.encode(), np.uint8).copy()}
    if isinstance(policy, MlpPolicy):
        out[f"{prefix}.shape"] = np.array([policy.obs_dim, policy.n_actions, policy.hidden,
                                           policy.value_heads], np.int64)
        for key, value in policy.state_dict().items():
            out[f"{prefix}.param.{key}"] = value.detach().cpu().numpy()
    return out


def policy_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str,
                       references: Mapping[str, object], device: torch.device):
    """Inverse of :func:`to_arrays`; scripted policies are looked up in ``references``."""
    name = bytes(arrays[f"{prefix}.name"].astype(np.uint8)).decode()
    if f"{prefix}.shape" not in arrays:
        if name not in references:
            raise KeyError(f"checkpoint names reference policy '{name}', which this game lacks")
        return references[name]
    obs_dim, n_actions, hidden, heads = (int(v) for v in arrays[f"{prefix}.shape"])
    policy = MlpPolicy(obs_dim, n_actions, hidden, name=name, value_heads=heads).to(device)
    mark = f"{prefix}.param."
    policy.load_state_dict({k[len(mark):]: torch.as_tensor(v) for k, v in arrays.items()
                            if k.startswith(mark)})
    return policy
