"""Trust-and-Split, the TAS-RPS variant (Piche et al. 2025), batched in torch, without an LLM.

Each round two players split ``coins`` coins. Both are dealt different rock/paper/
scissors hands; the winning hand values a coin at ``high_value``, the losing one at
``low_value``; each sees only its own hand. Three steps per round:

1. the first speaker sends one cheap-talk token (never verified);
2. the other player answers with one token (it has seen the first);
3. both claim x_i in {0..coins} at once; q_i = coins * x_i / max(coins, x_1 + x_2),
   reward r_i = q_i * v_i.

The first speaker is drawn at random, then alternates every round. At the start of
the next round each player sees the opponent's previous hand, message and claim, so
lies come out afterwards. One round alone makes claiming everything weakly dominant
(welfare 55 of 100 with the defaults); cooperation can only come from reciprocity.

Actions share one index space of size ``max(coins + 1, len(vocabulary))``: a token
index while speaking, a claim while claiming; a player that does not move has
action 0 as its only legal action.
"""

from __future__ import annotations

from typing import Any

import torch

from popgames.markov_game import State
from popgames.markov_policies import ScriptedPolicy, UniformPolicy

PARAMS: dict[str, Any] = {
    "coins": 10,
    "rounds": 10,
    "high_value": 10.0,
    "low_value": 1.0,
    "vocabulary": ["rock", "paper", "scissors", "silence"],
    "history": 2,  # past rounds shown in the observation window
}
HANDS = ("rock", "paper", "scissors")
STEPS_PER_ROUND = 3


def beats(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Paper (1) beats rock (0), scissors (2) beat paper, rock beats scissors."""
    return b == (a + 2) % 3


class TrustSplit:
    """Pure rules of TAS-RPS; every method is a function of its arguments."""

    def __init__(self, params: dict[str, Any], device: torch.device):
        self.coins, self.rounds = int(params["coins"]), int(params["rounds"])
        self.high, self.low = float(params["high_value"]), float(params["low_value"])
        self.vocabulary = list(params["vocabulary"])
        self.window = int(params["history"])
        for key, value, low in (("coins", self.coins, 1), ("rounds", self.rounds, 1),
                                ("history", self.window, 0)):
            if value < low:
                raise ValueError(f"{key} must be >= {low}, got {value}")
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError(f"vocabulary has repeated tokens: {self.vocabulary}")
        if not self.high > self.low >= 0:
            raise ValueError(f"high_value must exceed low_value >= 0, got {self.high} and {self.low}")
        self.device = torch.device(device)
        self.obs_bounds = (-1.0, 1.0)  # past claims are -1/coins before the first round
        self.n_players = 2
        self.n_tokens = len(self.vocabulary)
        self.n_actions = max(self.coins + 1, self.n_tokens)
        self.horizon = self.rounds * STEPS_PER_ROUND
        # Observation layout: name -> slice, so reference policies can read it.
        sizes = [("hand", 3), ("phase", 3), ("acting", 1), ("first", 1),
                 ("own_msg", self.n_tokens + 1), ("opp_msg", self.n_tokens + 1), ("progress", 1)]
        for k in range(self.window):
            sizes += [(f"past{k}_own_hand", 4), (f"past{k}_opp_hand", 4),
                      (f"past{k}_own_msg", self.n_tokens + 1), (f"past{k}_opp_msg", self.n_tokens + 1),
                      (f"past{k}_own_claim", 1), (f"past{k}_opp_claim", 1), (f"past{k}_won", 1)]
        self.layout, start = {}, 0
        for name, size in sizes:
            self.layout[name] = slice(start, start + size)
            start += size
        self.obs_dim = start

    # -- rules ------------------------------------------------------------------------
    def _deal(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        first = torch.randint(3, (batch,), generator=generator, device=self.device)
        second = (first + 1 + torch.randint(2, (batch,), generator=generator, device=self.device)) % 3
        return torch.stack([first, second], 1)

    def reset(self, batch: int, generator: torch.Generator) -> State:
        dev, w = self.device, max(self.window, 1)
        return {
            "t": torch.zeros(batch, dtype=torch.long, device=dev),
            "hands": self._deal(batch, generator),
            "first": torch.randint(2, (batch,), generator=generator, device=dev),
            "msg": torch.full((batch, 2), self.n_tokens, dtype=torch.long, device=dev),
            # Past rounds, most recent first; hand 3 / token n_tokens / claim -1 mean "none".
            "past_hands": torch.full((batch, w, 2), 3, dtype=torch.long, device=dev),
            "past_msg": torch.full((batch, w, 2), self.n_tokens, dtype=torch.long, device=dev),
            "past_claims": torch.full((batch, w, 2), -1.0, device=dev),
            "returns": torch.zeros(batch, 2, device=dev),
            "claim_sum": torch.zeros(batch, 2, 2, device=dev),  # [player, lost/won]
            "claim_count": torch.zeros(batch, 2, 2, device=dev),
        }

    def values(self, hands: torch.Tensor) -> torch.Tensor:
        won = beats(hands, hands.flip(1))
        return torch.where(won, self.high, self.low)

    def step(self, state: State, actions: torch.Tensor,
             generator: torch.Generator) -> tuple[State, torch.Tensor, torch.Tensor]:
        s = dict(state)
        phase = s["t"] % STEPS_PER_ROUND
        batch = actions.shape[0]
        rewards = torch.zeros(batch, 2, device=self.device)
        rows = torch.arange(batch, device=self.device)
        speaker = torch.where(phase == 0, s["first"], 1 - s["first"])
        token = actions[rows, speaker].clamp(0, self.n_tokens - 1)
        speaking = phase < 2
        msg = s["msg"].clone()
        msg[rows, speaker] = torch.where(speaking, token, msg[rows, speaker])
        claiming = phase == 2
        claims = actions.clamp(0, self.coins).to(torch.float32)
        total = claims.sum(1, keepdim=True).clamp(min=self.coins)
        values = self.values(s["hands"])
        round_rewards = self.coins * claims / total * values
        rewards = torch.where(claiming[:, None], round_rewards, rewards)
        c = claiming[:, None, None].to(torch.float32)
        won = (values == self.high).long()
        onehot = torch.nn.functional.one_hot(won, 2).to(torch.float32)
        s["claim_sum"] = s["claim_sum"] + c * onehot * claims[:, :, None]
        s["claim_count"] = s["claim_count"] + c * onehot
        s["returns"] = s["returns"] + rewards
        # End of a round: push it into the history window, deal anew, swap speakers.
        if self.window > 0:
            cm = claiming[:, None, None]
            s["past_hands"] = torch.where(cm, torch.cat([s["hands"][:, None], s["past_hands"][:, :-1]], 1),
                                          s["past_hands"])
            s["past_msg"] = torch.where(cm, torch.cat([msg[:, None], s["past_msg"][:, :-1]], 1), s["past_msg"])
            s["past_claims"] = torch.where(cm, torch.cat([claims[:, None], s["past_claims"][:, :-1]], 1),
                                           s["past_claims"])
        s["hands"] = torch.where(claiming[:, None], self._deal(batch, generator), s["hands"])
        s["msg"] = torch.where(claiming[:, None], torch.full_like(msg, self.n_tokens), msg)
        s["first"] = torch.where(claiming, 1 - s["first"], s["first"])
        s["t"] = s["t"] + 1
        return s, rewards, s["t"] >= self.horizon

    def legal(self, state: State) -> torch.Tensor:
        batch = state["t"].shape[0]
        phase = state["t"] % STEPS_PER_ROUND
        idx = torch.arange(self.n_actions, device=self.device)
        speaker = torch.where(phase == 0, state["first"], 1 - state["first"])
        player = torch.arange(2, device=self.device)[None, :]
        speaks = (phase < 2)[:, None] & (player == speaker[:, None])
        claims = (phase == 2)[:, None].expand(batch, 2)
        mask = torch.where(speaks[..., None], idx < self.n_tokens,
                           torch.where(claims[..., None], idx <= self.coins, idx == 0))
        return mask

    def observe(self, state: State) -> torch.Tensor:
        batch = state["t"].shape[0]
        phase = state["t"] % STEPS_PER_ROUND
        speaker = torch.where(phase == 0, state["first"], 1 - state["first"])
        one_hot = torch.nn.functional.one_hot
        views = []
        for me in (0, 1):
            you = 1 - me
            parts = [one_hot(state["hands"][:, me], 3), one_hot(phase, 3),
                     ((phase == 2) | (speaker == me))[:, None], (state["first"] == me)[:, None],
                     one_hot(state["msg"][:, me], self.n_tokens + 1),
                     one_hot(state["msg"][:, you], self.n_tokens + 1),
                     (state["t"] / self.horizon)[:, None]]
            for k in range(self.window):
                hands = state["past_hands"][:, k]
                seen = hands[:, me] < 3
                won = seen & beats(hands[:, me].clamp(max=2), hands[:, you].clamp(max=2))
                parts += [one_hot(hands[:, me], 4), one_hot(hands[:, you], 4),
                          one_hot(state["past_msg"][:, k, me], self.n_tokens + 1),
                          one_hot(state["past_msg"][:, k, you], self.n_tokens + 1),
                          (state["past_claims"][:, k, me] / self.coins)[:, None],
                          (state["past_claims"][:, k, you] / self.coins)[:, None], won[:, None]]
            views.append(torch.cat([p.to(torch.float32) for p in parts], 1))
        return torch.stack(views, 1)


def make(params: dict[str, Any], device: torch.device) -> TrustSplit:
    return TrustSplit(params, device)


# -- reference policies ---------------------------------------------------------------
def reference_policies(rules: TrustSplit) -> dict[str, Any]:
    """greedy, welfare (honest, concede when losing), tit_for_tat, uniform."""
    L = rules.layout
    token_of_hand = torch.tensor([rules.vocabulary.index(h) if h in rules.vocabulary else 0
                                  for h in HANDS] + [0], device=rules.device)
    hand_of_token = torch.tensor([HANDS.index(t) if t in HANDS else 3 for t in rules.vocabulary] + [3],
                                 device=rules.device)
    silence = rules.vocabulary.index("silence") if "silence" in rules.vocabulary else rules.n_tokens - 1
    honest_tokens = all(h in rules.vocabulary for h in HANDS)

    def decode(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hand = obs[:, L["hand"]].argmax(1)
        speaking = obs[:, L["phase"]].argmax(1) < 2
        claimed = hand_of_token[obs[:, L["opp_msg"]].argmax(1)]  # 3: silent or no hand named
        return hand, speaking, claimed

    def cooperative(obs: torch.Tensor) -> torch.Tensor:
        hand, speaking, claimed = decode(obs)
        known = (claimed < 3) & (claimed != hand)
        win = known & beats(hand, claimed.clamp(max=2))
        full, half = torch.full_like(hand, rules.coins), torch.full_like(hand, rules.coins // 2)
        claim = torch.where(known, torch.where(win, full, torch.zeros_like(hand)), half)
        token = token_of_hand[hand] if honest_tokens else torch.full_like(hand, silence)
        return torch.where(speaking, token, claim)

    def greedy(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        hand, speaking, _ = decode(obs)
        return torch.where(speaking, torch.full_like(hand, silence), torch.full_like(hand, rules.coins))

    def welfare(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        return cooperative(obs)

    def tit_for_tat(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        # Cooperate unless last round the opponent lost and still claimed more than half.
        if rules.window == 0:
            return cooperative(obs)
        opp_claim = obs[:, L["past0_opp_claim"]].squeeze(1) * rules.coins
        i_won = obs[:, L["past0_won"]].squeeze(1) == 1  # hands differ: then the opponent lost
        defected = i_won & (opp_claim > rules.coins / 2)
        return torch.where(defected, greedy(obs, legal), cooperative(obs))

    return {"greedy": ScriptedPolicy("greedy", greedy), "welfare": ScriptedPolicy("welfare", welfare),
            "tit_for_tat": ScriptedPolicy("tit_for_tat", tit_for_tat), "uniform": UniformPolicy()}


def episode_metrics(rules: TrustSplit, state: State) -> dict[str, torch.Tensor]:
    """Per-episode split efficiency and mean claims when winning / losing (player 0 and 1)."""
    best = rules.rounds * rules.high * rules.coins  # hands always differ: max(v1, v2) = high
    out = {"split_efficiency": state["returns"].sum(1) / best}
    count = state["claim_count"].sum(1)
    total = state["claim_sum"].sum(1)
    out["claim_when_winning"] = total[:, 1] / count[:, 1].clamp(min=1)
    out["claim_when_losing"] = total[:, 0] / count[:, 0].clamp(min=1)
    return out
