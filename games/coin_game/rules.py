"""The Coin Game of LOLA (Foerster et al. 2018), batched in torch.

Two agents, red (player 0) and blue (player 1), move on a ``grid_size`` x
``grid_size`` torus. One coin lies on the grid at a time, coloured red or blue.
Rules as in LOLA's vectorised implementation (github.com/alshedivat/lola,
``lola/envs/coin_game.py`` and ``lola_dice/envs/coin_game.py``, ``CoinGameVec``):

- four moves, no stay action, in LOLA's order: 0 = right (col + 1), 1 = left
  (col - 1), 2 = down (row + 1), 3 = up (row - 1); positions wrap around;
- both agents move at once and may share a cell; they start on distinct cells drawn
  uniformly;
- an agent on the coin's cell after moving gets +1; when the coin is the *other*
  agent's colour, that other agent (its owner) gets -2. If both land on the coin both
  pick it up (the symmetric ``lola_dice`` version; the older ``lola`` version gave the
  coin to red alone, favouring one seat);
- a picked-up coin is replaced at once by a coin of the other colour (LOLA flips the
  colour on every respawn; the first colour is uniform) on a cell drawn uniformly from
  those not occupied by either agent;
- an episode lasts ``episode_length`` steps (LOLA used 150; 16 here for speed).

Each agent observes four ``grid_size**2`` channels, flattened channel-first: its
own position, the other agent's position, a coin of its own colour, a coin of the
other's colour, so one policy can play either seat. With ``egocentric`` (the default)
the same four channels follow, seen from the agent's own cell (the torus rolled so
that it sits at the origin): the dynamics are the same from every cell, and a network
that sees where the coin is *relative to itself* learns to fetch it many times faster
(benchmarks/oracles.py: PPO's share of the exact best response's gain from 47% to 94%
against the welfare policy). ``egocentric = false`` is LOLA's observation. The greedy policy (take every
coin) makes the game a sequential social dilemma: two greedy agents lose on average.
"""

from __future__ import annotations

from typing import Any

import torch

from popgames.kinds.markov.game import State
from popgames.kinds.markov.policies import ScriptedPolicy, UniformPolicy

PARAMS: dict[str, Any] = {
    "grid_size": 3,
    "episode_length": 16,
    "egocentric": True,   # append the channels seen from the agent's own cell
}
#: (row, col) displacement of each action, in LOLA's order.
MOVES = ((0, 1), (0, -1), (1, 0), (-1, 0))
MOVE_NAMES = ("right", "left", "down", "up")


class CoinGame:
    """Pure rules of the Coin Game; every method is a function of its arguments."""

    obs_bounds = (0.0, 1.0)

    def __init__(self, params: dict[str, Any], device: torch.device):
        # The observations (own and other's position, the coin and its colour) determine the
        # future, as initial_outcomes / outcomes declare: exact best responses merge on them.
        self.size, self.length = int(params["grid_size"]), int(params["episode_length"])
        if self.size < 2:
            raise ValueError(f"grid_size must be >= 2, got {self.size}")
        if self.length < 1:
            raise ValueError(f"episode_length must be >= 1, got {self.length}")
        self.device = torch.device(device)
        self.n_players, self.n_actions = 2, len(MOVES)
        self.horizon = self.length
        self.cells = self.size * self.size
        self.egocentric = bool(params["egocentric"])
        self.obs_dim = (8 if self.egocentric else 4) * self.cells
        self.moves = torch.tensor(MOVES, device=self.device)

    # -- helpers ----------------------------------------------------------------------
    def _cell(self, pos: torch.Tensor) -> torch.Tensor:
        return pos[..., 0] * self.size + pos[..., 1]

    def _free_cell(self, occupied: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A cell drawn uniformly from those not marked in ``occupied [B, cells]``."""
        u = torch.rand(occupied.shape, generator=generator, device=self.device)
        return u.masked_fill(occupied, -1.0).argmax(1)

    def _occupied(self, cells: torch.Tensor) -> torch.Tensor:
        """``cells [B, k]`` -> mask ``[B, n_cells]`` of the cells listed."""
        mask = torch.zeros(cells.shape[0], self.cells, dtype=torch.bool, device=self.device)
        return mask.scatter_(1, cells, True)

    def _pos(self, cell: torch.Tensor) -> torch.Tensor:
        return torch.stack([cell // self.size, cell % self.size], -1)

    # -- rules ------------------------------------------------------------------------
    def reset(self, batch: int, generator: torch.Generator) -> State:
        dev = self.device
        none = torch.zeros(batch, 0, dtype=torch.long, device=dev)
        red = self._free_cell(self._occupied(none), generator)
        blue = self._free_cell(self._occupied(red[:, None]), generator)
        coin = self._free_cell(self._occupied(torch.stack([red, blue], 1)), generator)
        return {
            "t": torch.zeros(batch, dtype=torch.long, device=dev),
            "pos": self._pos(torch.stack([red, blue], 1)),  # [B, 2, (row, col)]
            "coin": self._pos(coin),  # [B, (row, col)]
            "colour": torch.randint(2, (batch,), generator=generator, device=dev),  # its owner
            "returns": torch.zeros(batch, 2, device=dev),
            "picks": torch.zeros(batch, 2, 2, device=dev),  # [player, own / other colour]
        }

    def step(self, state: State, actions: torch.Tensor,
             generator: torch.Generator) -> tuple[State, torch.Tensor, torch.Tensor]:
        s = dict(state)
        pos = (s["pos"] + self.moves[actions.clamp(0, 3)]) % self.size
        on = (pos == s["coin"][:, None]).all(-1)  # [B, 2]: agent on the coin
        owner = torch.nn.functional.one_hot(s["colour"], 2).to(torch.bool)
        onf = on.to(torch.float32)
        # +1 to whoever picks it up; -2 to the owner for each pick-up by the other agent.
        rewards = onf - 2.0 * owner.to(torch.float32) * onf.flip(1)
        picked = on.any(1)
        free = self._free_cell(self._occupied(self._cell(pos)), generator)
        s["coin"] = torch.where(picked[:, None], self._pos(free), s["coin"])
        s["colour"] = torch.where(picked, 1 - s["colour"], s["colour"])
        s["pos"] = pos
        own = torch.stack([onf * owner, onf * ~owner], -1)
        s["picks"] = s["picks"] + own
        s["returns"] = s["returns"] + rewards
        s["t"] = s["t"] + 1
        return s, rewards, s["t"] >= self.horizon

    def legal(self, state: State) -> torch.Tensor:
        return torch.ones(state["t"].shape[0], 2, self.n_actions, dtype=torch.bool, device=self.device)

    # -- chance, enumerated (for exact best responses; reset and step draw from the same) --
    def initial_outcomes(self) -> tuple[State, torch.Tensor]:
        """Every start ``reset`` can draw (red, blue, coin on distinct cells; either colour),
        each with its probability."""
        dev, cells = self.device, self.cells
        grid = torch.cartesian_prod(*(torch.arange(cells, device=dev),) * 3, torch.arange(2, device=dev))
        red, blue, coin, colour = grid.unbind(1)
        ok = (red != blue) & (coin != red) & (coin != blue)
        red, blue, coin, colour = red[ok], blue[ok], coin[ok], colour[ok]
        batch = len(red)
        state = {"t": torch.zeros(batch, dtype=torch.long, device=dev),
                 "pos": self._pos(torch.stack([red, blue], 1)), "coin": self._pos(coin), "colour": colour,
                 "returns": torch.zeros(batch, 2, device=dev), "picks": torch.zeros(batch, 2, 2, device=dev)}
        return state, torch.full((batch,), 1.0 / batch, dtype=torch.float64, device=dev)

    def outcomes(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor, torch.Tensor]:
        """``step``'s chance enumerated: one outcome per cell the new coin may take
        (``[B * cells]`` states, in row-major blocks of ``cells``), their probabilities
        ``[B, cells]`` (an unpicked coin stays: all of the mass on outcome 0) and the rewards
        ``[B, 2]``, which chance does not touch."""
        batch, cells = state["t"].shape[0], self.cells
        first, rewards, _ = self.step(state, actions, torch.Generator(device=self.device).manual_seed(0))
        picked = first["colour"] != state["colour"]
        free = ~self._occupied(self._cell(first["pos"]))
        probs = torch.where(picked[:, None], free / free.sum(1, keepdim=True),
                            torch.nn.functional.one_hot(torch.zeros_like(picked, dtype=torch.long), cells))
        out = {k: v.repeat_interleave(cells, 0) for k, v in first.items()}
        spawn = self._pos(torch.arange(cells, device=self.device).repeat(batch))
        out["coin"] = torch.where(picked.repeat_interleave(cells)[:, None], spawn, out["coin"])
        return out, probs.to(torch.float64), rewards

    def observe(self, state: State) -> torch.Tensor:
        batch = state["t"].shape[0]
        rows = torch.arange(batch, device=self.device)
        cells = self._cell(state["pos"])  # [B, 2]
        coin = self._cell(state["coin"])
        views = []
        for me in (0, 1):
            obs = torch.zeros(batch, 4, self.cells, device=self.device)
            obs[rows, 0, cells[:, me]] = 1.0
            obs[rows, 1, cells[:, 1 - me]] = 1.0
            # Channel 2 holds a coin of my colour, channel 3 one of the other's colour.
            obs[rows, 2 + (state["colour"] != me).long(), coin] = 1.0
            if self.egocentric:   # cell (i, j) of the view is (i, j) away from me on the torus
                mine = state["pos"][:, me]
                ar = torch.arange(self.size, device=self.device)
                index = ((ar[None, :, None] + mine[:, 0, None, None]) % self.size) * self.size + \
                    (ar[None, None, :] + mine[:, 1, None, None]) % self.size
                ego = obs.gather(2, index.reshape(batch, 1, self.cells).expand(batch, 4, self.cells))
                obs = torch.cat([obs, ego], 1)
            views.append(obs.flatten(1))
        return torch.stack(views, 1)


def make(params: dict[str, Any], device: torch.device) -> CoinGame:
    return CoinGame(params, device)


# -- reference policies ---------------------------------------------------------------
def reference_policies(rules: CoinGame) -> dict[str, Any]:
    """greedy (nearest coin of any colour), welfare (own-colour coins only, otherwise keep
    away from the coin) and uniform."""
    n, cells = rules.size, rules.cells

    def distances(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Torus distance to the coin after each move ``[B, 4]``, and whether the coin is mine."""
        grid = obs[:, :4 * cells].reshape(obs.shape[0], 4, cells)   # the absolute channels
        me = rules._pos(grid[:, 0].argmax(1))
        coin = rules._pos((grid[:, 2] + grid[:, 3]).argmax(1))
        mine = grid[:, 2].sum(1) > 0.5
        delta = (coin[:, None] - (me[:, None] + rules.moves[None])) % n  # [B, 4, 2]
        return torch.minimum(delta, n - delta).sum(-1), mine

    def greedy(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        return distances(obs)[0].argmin(1)

    def welfare(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        dist, mine = distances(obs)
        return torch.where(mine, dist.argmin(1), dist.argmax(1))

    return {"greedy": ScriptedPolicy("greedy", greedy), "welfare": ScriptedPolicy("welfare", welfare),
            "uniform": UniformPolicy()}


def episode_metrics(rules: CoinGame, state: State) -> dict[str, torch.Tensor]:
    """Per episode: share of pick-ups that were the picker's own colour, pick-ups per step,
    and welfare (sum of both returns) per step."""
    picks = state["picks"].sum(1)  # [B, own / other]
    steps = state["t"].clamp(min=1).to(torch.float32)
    total = picks.sum(1)
    return {
        "own_coin_rate": picks[:, 0] / total.clamp(min=1),
        "pickups_per_step": total / steps,
        "welfare_per_step": state["returns"].sum(1) / steps,
    }
