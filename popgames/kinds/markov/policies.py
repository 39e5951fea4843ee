"""Policies for batched Markov games: scripted references, small torch networks and tables.

Every policy maps one player's observations ``[B, obs_dim]`` and legal masks
``[B, A]`` to action probabilities ``[B, A]``, and can be stored as plain arrays
(``to_arrays`` / ``policy_from_arrays``): a scripted policy by its name in the
game's reference set, a network by its flattened parameters, a table by its rows.
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


class TablePolicy:
    """A deterministic policy as a table: each listed (observation, legal) row plays its
    action; a row the table lacks plays uniformly over its legal actions. The exact oracle's
    best responses take this form (:func:`popgames.kinds.markov.exact.best_response`)."""

    kind = "table"

    def __init__(self, rows: torch.Tensor, actions: torch.Tensor, name: str = "exact"):
        self.rows = rows.to(torch.float32)        # [R, obs_dim + n_actions]: observation, legal mask
        self.actions = actions.to(torch.int64)    # [R]
        self.name = name
        self._projection = row_projection(rows.shape[1], rows.device)
        self._keys, self._order = torch.sort(row_keys(self.rows, self._projection))

    def probs(self, obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        query = torch.cat([obs.to(torch.float32), legal.to(torch.float32)], 1)
        uniform = legal.to(obs.dtype) / legal.sum(1, keepdim=True).to(obs.dtype)
        if not len(self.actions):
            return uniform
        # Keys are compared with a tolerance (their round-off may depend on the batch), and
        # the two nearest candidates are checked against the row itself.
        key = row_keys(query, self._projection)
        at = torch.searchsorted(self._keys, key - 1e-9 * (1 + key.abs()))
        found = torch.zeros(len(query), dtype=torch.bool, device=query.device)
        action = torch.zeros(len(query), dtype=torch.int64, device=query.device)
        for shift in (0, 1):
            index = self._order[(at + shift).clamp(max=len(self._keys) - 1)]
            hit = ~found & (self.rows[index] == query).all(1)
            action = torch.where(hit, self.actions[index], action)
            found |= hit
        chosen = torch.nn.functional.one_hot(action, legal.shape[1]).to(obs.dtype)
        return torch.where(found[:, None], chosen, uniform)

    def __repr__(self) -> str:
        return f"TablePolicy({self.name!r}, {len(self.actions)} rows)"


def row_projection(width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A fixed random vector that keys observation rows by one float64 each."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(width, dtype=torch.float64, generator=generator).to(device)


def row_keys(rows: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """One float64 key per row."""
    return (rows.to(torch.float64) * projection).sum(1)


def to_arrays(policy, prefix: str) -> dict[str, np.ndarray]:
    """A policy as named arrays (no pickle): its kind, name and parameters."""
    out = {f"{prefix}.name": np.frombuffer(policy.name.encode(), np.uint8).copy()}
    if isinstance(policy, MlpPolicy):
        out[f"{prefix}.shape"] = np.array([policy.obs_dim, policy.n_actions, policy.hidden,
                                           policy.value_heads], np.int64)
        for key, value in policy.state_dict().items():
            out[f"{prefix}.param.{key}"] = value.detach().cpu().numpy()
    elif isinstance(policy, TablePolicy):
        out[f"{prefix}.table_rows"] = policy.rows.cpu().numpy()
        out[f"{prefix}.table_actions"] = policy.actions.cpu().numpy()
    return out


def policy_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str,
                       references: Mapping[str, object], device: torch.device):
    """Inverse of :func:`to_arrays`; scripted policies are looked up in ``references``."""
    name = bytes(arrays[f"{prefix}.name"].astype(np.uint8)).decode()
    if f"{prefix}.table_rows" in arrays:
        return TablePolicy(torch.tensor(np.array(arrays[f"{prefix}.table_rows"]), device=device),
                           torch.tensor(np.array(arrays[f"{prefix}.table_actions"]), device=device), name)
    if f"{prefix}.shape" not in arrays:
        if name not in references:
            raise KeyError(f"checkpoint names reference policy '{name}', which this game lacks")
        return references[name]
    obs_dim, n_actions, hidden, heads = (int(v) for v in arrays[f"{prefix}.shape"])
    policy = MlpPolicy(obs_dim, n_actions, hidden, name=name, value_heads=heads).to(device)
    mark = f"{prefix}.param."
    # Copies: arrays that come back from another process (Ray) may be read-only.
    policy.load_state_dict({k[len(mark):]: torch.tensor(np.array(v)) for k, v in arrays.items()
                            if k.startswith(mark)})
    return policy
