"""A repeated N-player linear public-goods game (the commons), batched in torch.

Every round each of ``n_players`` players receives ``endowment`` tokens and
contributes c_i in {0..endowment} to a common pot at once; the pot is multiplied by
``multiplier`` (r) and shared equally:

    payoff_i = endowment - c_i + r * (c_1 + ... + c_N) / N.

With 1 < r < N a token given returns only r / N < 1 to its giver but r > 1 to the
group, so contributing nothing is strictly dominant in every round while full
contribution maximises welfare: the linear public-goods game of experimental
economics (Isaac & Walker 1988; Fehr & Gächter 2000). The defaults (N = 3, r = 1.8)
are those of ``games/public_goods_3p``.

Each player observes the last ``history`` rounds' contributions as fractions of the
endowment, its own first, then the others in seat order after it (so one policy can
play any seat), a flag per round saying whether that round has happened yet, and the
progress ``t / rounds``.
"""

from __future__ import annotations

from typing import Any

import torch

from popgames.kinds.markov.game import State
from popgames.kinds.markov.policies import ScriptedPolicy, UniformPolicy

PARAMS: dict[str, Any] = {
    "n_players": 3,
    "endowment": 4,  # tokens per player and round; actions are 0..endowment
    "multiplier": 1.8,  # r, with 1 < r < n_players
    "rounds": 10,
    "history": 1,  # past rounds shown in the observation window
}


class Commons:
    """Pure rules of the repeated public-goods game; every method is a function of its arguments."""

    deterministic = True  # no chance after the reset: exact best responses enumerate histories
    obs_bounds = (0.0, 1.0)

    def __init__(self, params: dict[str, Any], device: torch.device):
        self.n_players, self.endowment = int(params["n_players"]), int(params["endowment"])
        self.multiplier = float(params["multiplier"])
        self.rounds, self.window = int(params["rounds"]), int(params["history"])
        if self.n_players < 2:
            raise ValueError(f"n_players must be >= 2, got {self.n_players}")
        if self.endowment < 1:
            raise ValueError(f"endowment must be >= 1, got {self.endowment}")
        if not 1.0 < self.multiplier < self.n_players:
            raise ValueError(f"multiplier must lie strictly between 1 and n_players = {self.n_players} "
                             f"for a social dilemma, got {self.multiplier}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if self.window < 1:
            raise ValueError(f"history must be >= 1, got {self.window}")
        self.device = torch.device(device)
        self.n_actions = self.endowment + 1
        self.horizon = self.rounds
        n = self.n_players
        # seats[i] = (i, i+1, ..., i+N-1) mod N: player i's view of the table, itself first.
        self.seats = (torch.arange(n)[:, None] + torch.arange(n)[None]).remainder(n).to(self.device)
        self.obs_dim = self.window * (n + 1) + 1

    def reset(self, batch: int, generator: torch.Generator) -> State:
        dev, n = self.device, self.n_players
        return {
            "t": torch.zeros(batch, dtype=torch.long, device=dev),
            # Past contributions, most recent round first; -1 before the first rounds.
            "past": torch.full((batch, self.window, n), -1, dtype=torch.long, device=dev),
            "returns": torch.zeros(batch, n, device=dev),
            "contributed": torch.zeros(batch, n, device=dev),
        }

    def payoffs(self, contributions: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` contributions -> ``[B, N]`` payoffs of one round."""
        c = contributions.to(torch.float32)
        return self.endowment - c + self.multiplier * c.mean(1, keepdim=True)

    def step(self, state: State, actions: torch.Tensor,
             generator: torch.Generator) -> tuple[State, torch.Tensor, torch.Tensor]:
        s = dict(state)
        c = actions.clamp(0, self.endowment)
        rewards = self.payoffs(c)
        s["past"] = torch.cat([c[:, None], s["past"][:, :-1]], 1)
        s["returns"] = s["returns"] + rewards
        s["contributed"] = s["contributed"] + c
        s["t"] = s["t"] + 1
        return s, rewards, s["t"] >= self.horizon

    def legal(self, state: State) -> torch.Tensor:
        return torch.ones(state["t"].shape[0], self.n_players, self.n_actions, dtype=torch.bool,
                          device=self.device)

    def observe(self, state: State) -> torch.Tensor:
        past = state["past"]  # [B, W, N]
        seen = (past[..., :1] >= 0).to(torch.float32)  # [B, W, 1]
        frac = past.clamp(min=0).to(torch.float32) / self.endowment
        by_seat = frac[:, :, self.seats]  # [B, W, N (viewer), N (seat from the viewer)]
        seen = seen[:, :, None].expand(-1, -1, self.n_players, 1)
        window = torch.cat([seen, by_seat], -1).transpose(1, 2).flatten(2)  # [B, N, W * (N + 1)]
        progress = (state["t"] / self.horizon)[:, None, None].expand(-1, self.n_players, 1)
        return torch.cat([window, progress], -1)


def make(params: dict[str, Any], device: torch.device) -> Commons:
    return Commons(params, device)


# -- reference policies ---------------------------------------------------------------
def reference_policies(rules: Commons) -> dict[str, Any]:
    """free_rider (= greedy), full_contributor (= welfare), conditional_cooperator, uniform."""
    n, e = rules.n_players, rules.endowment

    def constant(tokens: int):
        def choose(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
            return torch.full((obs.shape[0],), tokens, dtype=torch.long, device=obs.device)
        return choose

    def conditional_cooperator(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        # Give everything in the first round, then match the others' mean contribution of
        # the last round (the "perfect conditional cooperator" of Fischbacher, Gächter & Fehr
        # 2001), rounded half up.
        seen = obs[:, 0] > 0.5
        others = obs[:, 2:n + 1].mean(1) * e
        match = torch.floor(others + 0.5 + 1e-6).long().clamp(0, e)
        return torch.where(seen, match, torch.full_like(match, e))

    free_rider, full_contributor = constant(0), constant(e)
    return {
        "free_rider": ScriptedPolicy("free_rider", free_rider),
        "full_contributor": ScriptedPolicy("full_contributor", full_contributor),
        "greedy": ScriptedPolicy("greedy", free_rider),
        "welfare": ScriptedPolicy("welfare", full_contributor),
        "conditional_cooperator": ScriptedPolicy("conditional_cooperator", conditional_cooperator),
        "uniform": UniformPolicy(),
    }


def episode_metrics(rules: Commons, state: State) -> dict[str, torch.Tensor]:
    """Per episode: contribution rate (share of all endowments given) and welfare efficiency
    (realised welfare over the welfare of full contribution by everyone)."""
    rounds = state["t"].clamp(min=1).to(torch.float32)
    budget = rules.n_players * rules.endowment * rounds
    return {
        "contribution_rate": state["contributed"].sum(1) / budget,
        "welfare_efficiency": state["returns"].sum(1) / (budget * rules.multiplier),
    }
