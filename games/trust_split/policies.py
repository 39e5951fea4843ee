"""Trust-and-Split's reference policies: greedy, welfare, tit_for_tat and uniform.

Scripted on the observation layout of :class:`rules.TrustSplit`; ``rules.py`` re-exports
:func:`reference_policies` as part of its module interface.
"""

from __future__ import annotations

from typing import Any

import torch

from popgames.kinds.markov.policies import ScriptedPolicy, UniformPolicy

from .hands import HANDS, beats


def reference_policies(rules: Any) -> dict[str, Any]:
    """greedy, welfare (honest, concede when losing), tit_for_tat, uniform."""
    L, vocab, coins, dev = rules.layout, rules.vocabulary, rules.coins, rules.device
    token_of_hand = torch.tensor([vocab.index(h) if h in vocab else 0 for h in HANDS] + [0], device=dev)
    hand_of_token = torch.tensor([HANDS.index(t) if t in HANDS else 3 for t in vocab] + [3], device=dev)
    silence = vocab.index("silence") if "silence" in vocab else rules.n_tokens - 1
    honest_tokens = all(h in vocab for h in HANDS)

    def decode(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hand = obs[:, L["hand"]].argmax(1)
        speaking = obs[:, L["phase"]].argmax(1) < 2
        claimed = hand_of_token[obs[:, L["opp_msg"]].argmax(1)]  # 3: silent or no hand named
        return hand, speaking, claimed

    def welfare(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        hand, speaking, claimed = decode(obs)
        known = (claimed < 3) & (claimed != hand)
        win = known & beats(hand, claimed.clamp(max=2))
        full, half = torch.full_like(hand, coins), torch.full_like(hand, coins // 2)
        claim = torch.where(known, torch.where(win, full, torch.zeros_like(hand)), half)
        token = token_of_hand[hand] if honest_tokens else torch.full_like(hand, silence)
        return torch.where(speaking, token, claim)

    def greedy(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        hand, speaking, _ = decode(obs)
        return torch.where(speaking, torch.full_like(hand, silence), torch.full_like(hand, coins))

    def tit_for_tat(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        # Cooperate unless last round the opponent lost and still claimed more than half.
        if rules.window == 0:
            return welfare(obs, legal)
        opp_claim = obs[:, L["past0_opp_claim"]].squeeze(1) * coins
        i_won = obs[:, L["past0_won"]].squeeze(1) == 1  # hands differ: then the opponent lost
        defected = i_won & (opp_claim > coins / 2)
        return torch.where(defected, greedy(obs, legal), welfare(obs, legal))

    return {"greedy": ScriptedPolicy("greedy", greedy), "welfare": ScriptedPolicy("welfare", welfare),
            "tit_for_tat": ScriptedPolicy("tit_for_tat", tit_for_tat), "uniform": UniformPolicy()}
