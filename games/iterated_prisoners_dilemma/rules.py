"""The iterated prisoner's dilemma, batched in torch.

Two players play the same stage game for ``rounds`` rounds, both moving at once:
action 0 cooperates, 1 defects. The stage payoffs are the card's ``R`` (both
cooperate), ``P`` (both defect), ``T`` (defect against a cooperator) and ``S``
(cooperate against a defector), with ``T > R > P > S`` so that defection strictly
dominates in every round (Axelrod 1984; defaults R=3, P=1, T=5, S=0).

Each player observes the last ``history`` joint actions (own and opponent's action,
one-hot over cooperate / defect / none-yet), whether either player has ever
defected (so grim trigger is exact whatever the window) and the progress
``t / rounds``. Observations are from the player's own side, so one policy can play
either seat.
"""

from __future__ import annotations

from typing import Any

import torch

from popgames.kinds.markov.game import State
from popgames.kinds.markov.policies import ScriptedPolicy, UniformPolicy

PARAMS: dict[str, Any] = {
    "R": 3.0,  # reward for mutual cooperation
    "T": 5.0,  # temptation: defect against a cooperator
    "S": 0.0,  # sucker's payoff: cooperate against a defector
    "P": 1.0,  # punishment for mutual defection
    "rounds": 10,
    "history": 2,  # past joint actions shown in the observation window
}
COOPERATE, DEFECT, NONE = 0, 1, 2


class IteratedPrisonersDilemma:
    """Pure rules of the iterated prisoner's dilemma; every method is a function of its arguments."""

    obs_bounds = (0.0, 1.0)
    deterministic = True  # no chance after the reset: exact best responses enumerate histories

    def __init__(self, params: dict[str, Any], device: torch.device):
        R, T, S, P = (float(params[k]) for k in ("R", "T", "S", "P"))
        self.rounds, self.window = int(params["rounds"]), int(params["history"])
        if not T > R > P > S:
            raise ValueError(f"T, R, P, S: a prisoner's dilemma needs T > R > P > S, "
                             f"got T={T}, R={R}, P={P}, S={S}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if self.window < 1:
            raise ValueError(f"history must be >= 1 (tit-for-tat needs the last round), got {self.window}")
        self.R, self.T, self.S, self.P = R, T, S, P
        self.device = torch.device(device)
        self.n_players, self.n_actions = 2, 2
        self.horizon = self.rounds
        # payoff[my action, opponent's action] -> my reward
        self.payoff = torch.tensor([[R, S], [T, P]], device=self.device)
        sizes = []
        for k in range(self.window):
            sizes += [(f"past{k}_own", 3), (f"past{k}_opp", 3)]
        sizes += [("opp_ever_defected", 1), ("own_ever_defected", 1), ("progress", 1)]
        self.layout, start = {}, 0
        for name, size in sizes:
            self.layout[name] = slice(start, start + size)
            start += size
        self.obs_dim = start

    def reset(self, batch: int, generator: torch.Generator) -> State:
        dev = self.device
        return {
            "t": torch.zeros(batch, dtype=torch.long, device=dev),
            # Past joint actions, most recent first; NONE before the first rounds.
            "past": torch.full((batch, self.window, 2), NONE, dtype=torch.long, device=dev),
            "ever_defected": torch.zeros(batch, 2, dtype=torch.bool, device=dev),
            "returns": torch.zeros(batch, 2, device=dev),
            "cooperations": torch.zeros(batch, 2, device=dev),
            "mutual_cooperations": torch.zeros(batch, device=dev),
        }

    def step(self, state: State, actions: torch.Tensor,
             generator: torch.Generator) -> tuple[State, torch.Tensor, torch.Tensor]:
        s = dict(state)
        a = actions.clamp(0, 1)
        rewards = self.payoff[a, a.flip(1)]
        coop = (a == COOPERATE).to(torch.float32)
        s["past"] = torch.cat([a[:, None], s["past"][:, :-1]], 1)
        s["ever_defected"] = s["ever_defected"] | (a == DEFECT)
        s["returns"] = s["returns"] + rewards
        s["cooperations"] = s["cooperations"] + coop
        s["mutual_cooperations"] = s["mutual_cooperations"] + coop.prod(1)
        s["t"] = s["t"] + 1
        return s, rewards, s["t"] >= self.horizon

    def legal(self, state: State) -> torch.Tensor:
        return torch.ones(state["t"].shape[0], 2, 2, dtype=torch.bool, device=self.device)

    def observe(self, state: State) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot
        past = one_hot(state["past"], 3)  # [B, window, 2, 3]
        ever = state["ever_defected"].to(torch.float32)
        progress = (state["t"] / self.horizon)[:, None]
        views = []
        for me in (0, 1):
            window = past if me == 0 else past.flip(2)  # own action first
            views.append(torch.cat([window.flatten(1).to(torch.float32), ever[:, 1 - me, None],
                                    ever[:, me, None], progress], 1))
        return torch.stack(views, 1)


def make(params: dict[str, Any], device: torch.device) -> IteratedPrisonersDilemma:
    return IteratedPrisonersDilemma(params, device)


# -- reference policies ---------------------------------------------------------------
def reference_policies(rules: IteratedPrisonersDilemma) -> dict[str, Any]:
    """always_cooperate (= welfare), always_defect (= greedy), tit_for_tat, grim_trigger,
    pavlov (win-stay, lose-shift) and uniform."""
    L = rules.layout

    def last(obs: torch.Tensor, who: str) -> torch.Tensor:
        return obs[:, L[f"past0_{who}"]].argmax(1)  # COOPERATE, DEFECT or NONE

    def constant(action: int):
        def choose(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
            return torch.full((obs.shape[0],), action, dtype=torch.long, device=obs.device)
        return choose

    def tit_for_tat(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        return (last(obs, "opp") == DEFECT).long()  # cooperate first, then copy

    def grim_trigger(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        return (obs[:, L["opp_ever_defected"]].squeeze(1) > 0.5).long()

    def pavlov(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        # Nowak & Sigmund 1993: repeat the last move after R or T, switch after S or P;
        # equivalently cooperate iff both moved alike last round (and in the first round).
        own, opp = last(obs, "own"), last(obs, "opp")
        return ((own != opp) & (own != NONE)).long()

    always_cooperate, always_defect = constant(COOPERATE), constant(DEFECT)
    return {
        "always_cooperate": ScriptedPolicy("always_cooperate", always_cooperate),
        "always_defect": ScriptedPolicy("always_defect", always_defect),
        "greedy": ScriptedPolicy("greedy", always_defect),
        "welfare": ScriptedPolicy("welfare", always_cooperate),
        "tit_for_tat": ScriptedPolicy("tit_for_tat", tit_for_tat),
        "grim_trigger": ScriptedPolicy("grim_trigger", grim_trigger),
        "pavlov": ScriptedPolicy("pavlov", pavlov),
        "uniform": UniformPolicy(),
    }


def episode_metrics(rules: IteratedPrisonersDilemma, state: State) -> dict[str, torch.Tensor]:
    """Per episode: cooperation rate (both players), mutual-cooperation rate, welfare efficiency."""
    rounds = state["t"].clamp(min=1).to(torch.float32)
    best = max(2 * rules.R, rules.T + rules.S)  # the best joint payoff of one round
    return {
        "cooperation_rate": state["cooperations"].sum(1) / (2 * rounds),
        "mutual_cooperation": state["mutual_cooperations"] / rounds,
        "welfare_efficiency": state["returns"].sum(1) / (best * rounds),
    }
