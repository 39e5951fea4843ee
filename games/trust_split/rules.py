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
action 0 as its only legal action. Reference policies: ``policies.py``; hands: ``hands.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from popgames.kinds.markov.game import State

from .hands import beats
from .policies import reference_policies  # noqa: F401  (part of the rules module's interface)

PARAMS: dict[str, Any] = {
    "coins": 10,
    "rounds": 10,
    "high_value": 10.0,
    "low_value": 1.0,
    "vocabulary": ["rock", "paper", "scissors", "silence"],
    "history": 2,  # past rounds shown in the observation window
}
STEPS_PER_ROUND = 3


class TrustSplit:
    """Pure rules of TAS-RPS; every method is a function of its arguments.

    The state: ``t [B]``; ``first [B]``, who speaks first this round; ``hands [B, 2]``
    (0..2); ``msg [B, 2]``, this round's tokens (``n_tokens``: none yet); ``past [B, 2,
    (11 + 2 * (n_tokens + 1)) * history]``, the finished rounds as each player sees them,
    most recent first (its observation's history columns: hands, messages, claims, who
    won); ``returns [B, 2]``; ``claim_sum`` and ``claim_count [B, 2, 2]`` ([player,
    lost/won]).

    Speed: every call is a few gathers from constant tables (:meth:`_build_tables`) by small
    integer codes: the current round's observation (joined to ``past``), the legal mask, a
    claim step's rewards and tallies, and the round it adds to ``past`` (an ``embedding_bag``).
    When all rows share ``t`` (a batch finishes together) and reading it costs no device
    sync (CPU), each call does only the work of its phase; otherwise a branch-free per-row
    path gives the same results (apart from which random draws deal the hands).
    """

    def __init__(self, params: dict[str, Any], device: torch.device):
        self.coins, self.rounds = int(params["coins"]), int(params["rounds"])
        self.high, self.low = float(params["high_value"]), float(params["low_value"])
        self.vocabulary, self.window = list(params["vocabulary"]), int(params["history"])
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
        self.n_players, self.n_tokens = 2, len(self.vocabulary)
        self.n_actions = max(self.coins + 1, self.n_tokens)
        self.horizon = self.rounds * STEPS_PER_ROUND
        # Observation layout: name -> slice, so reference policies can read it.
        m = self.n_tokens + 1
        sizes = [("hand", 3), ("phase", 3), ("acting", 1), ("first", 1), ("own_msg", m), ("opp_msg", m),
                 ("progress", 1)]
        sizes += [(f"past{k}_{name}", size) for k in range(self.window) for name, size in (
            ("own_hand", 4), ("opp_hand", 4), ("own_msg", m), ("opp_msg", m), ("own_claim", 1),
            ("opp_claim", 1), ("won", 1))]
        ends = list(itertools.accumulate(size for _, size in sizes))
        self.layout = {name: slice(end - size, end) for (name, size), end in zip(sizes, ends)}
        self.obs_dim = ends[-1]
        self._build_tables()

    def _build_tables(self) -> None:
        """Lookup tables from small integer codes to observation rows, masks and payoffs.

        With M = n_tokens + 1 message values (M - 1: none yet) and C = coins + 1 claims:
        a round's hands and messages are ``(h_0 * 3 + h_1) * M^2 + m_0 * M + m_1`` (plus
        ``first * 9 * M^2`` for the current round, within its phase); its claims
        ``x_0 * C + x_1``; a claim step ``(h_0 * 3 + h_1) * C^2 + x_0 * C + x_1``. Rows of
        observation tables hold both players' views (player 0's, then player 1's).
        """
        m, c, L, dev = self.n_tokens + 1, self.coins + 1, self.layout, self.device
        cur_dim, blk = L["progress"].stop, 11 + 2 * m  # per view: current round, one past round
        self._m, self._c, self._cur_dim, self._blk = m, c, cur_dim, blk
        rounds = list(itertools.product(range(3), range(3), range(m), range(m)))  # h_0, h_1, m_0, m_1
        # Current round by [phase, first, hands and messages, player]; progress is set per t.
        cur = torch.zeros(3, 2, len(rounds), 2, cur_dim)
        for phase, first, (i, (h0, h1, m0, m1)) in itertools.product(range(3), range(2), enumerate(rounds)):
            speaker = first if phase == 0 else 1 - first
            for me, (mine, yours, said, heard) in enumerate(((h0, h1, m0, m1), (h1, h0, m1, m0))):
                v = cur[phase, first, i, me]
                for name, at in (("hand", mine), ("phase", phase), ("own_msg", said), ("opp_msg", heard)):
                    v[L[name].start + at] = 1
                v[L["acting"].start] = float(phase == 2 or speaker == me)
                v[L["first"].start] = float(first == me)
        # Progress comes from the float32 op a direct computation uses: t / horizon.
        by_t = cur.view(3, -1, 2, cur_dim)[torch.arange(self.horizon + 1) % 3].clone()
        by_t[..., L["progress"].start] = (torch.arange(self.horizon + 1) / self.horizon)[:, None, None]
        self._cur_by_phase = cur.view(-1, 2 * cur_dim).to(dev)     # [(phase, first, round), 2 views]
        self._cur_by_t = by_t.view(self.horizon + 1, -1, 2 * cur_dim).to(dev)  # [t][(first, round)]
        # The round a claim step adds to ``past``: one row by hands and messages plus one by
        # claims, both in the columns of past0 (the newest); and the "no round yet" block.
        none = torch.zeros(2, 0)
        if self.window:
            said = torch.stack([self._finished(hands=(h0, h1), msg=(m0, m1)) for h0, h1, m0, m1 in rounds])
            claimed = torch.stack([self._finished(claims=x) for x in itertools.product(range(c), repeat=2)])
            none = self._finished((3, 3), (m - 1, m - 1), (-1, -1))
            self._round_table = torch.cat([said, claimed]).view(-1, 2 * blk).to(dev)
            self._claims_offset = said.shape[0]
        self._no_past = none.repeat(1, self.window).to(dev)       # [2, blk * history]
        # Claim steps by hands and claims: rewards [.., 2], claims by lost/won [.., 2, 2] and
        # the lost/won one-hot [.., 2, 2]; one more all-zero row for rows that do not claim.
        h0, h1, x0, x1 = torch.tensor(list(itertools.product(range(3), range(3), range(c), range(c)))).T
        hands, claims = torch.stack([h0, h1], 1), torch.stack([x0, x1], 1).to(torch.float32)
        total = claims.sum(1, keepdim=True).clamp(min=self.coins)
        won = torch.nn.functional.one_hot(beats(hands, hands.flip(1)).long(), 2).to(torch.float32)
        self._rewards_table, self._claimed_table, self._won_table = (
            torch.cat([x, x.new_zeros(1, *x.shape[1:])]).to(dev)
            for x in (self.coins * claims / total * self.values(hands), won * claims[:, :, None], won))
        # By [phase, first]: who speaks [.., 2] and the legal masks [.., 2, n_actions].
        phase, first, me = torch.meshgrid(torch.arange(3), torch.arange(2), torch.arange(2), indexing="ij")
        speaks = (phase < 2) & (torch.where(phase == 0, first, 1 - first) == me)
        idx = torch.arange(self.n_actions)
        legal = torch.where((phase == 2)[..., None], idx <= self.coins,
                            torch.where(speaks[..., None], idx < self.n_tokens, idx == 0))
        self._speaks_table, self._legal_table = speaks.to(dev), legal.to(dev)
        # Deals by first hand * 2 + offset of the second: both hands, always different.
        self._deal_table = torch.tensor([[a, (a + 1 + o) % 3] for a in range(3) for o in range(2)],
                                        device=dev)

    def _finished(self, hands: tuple[int, int] | None = None, msg: tuple[int, int] | None = None,
                  claims: tuple[int, int] | None = None) -> torch.Tensor:
        """A finished round's columns in both players' views of past0 ``[2, blk]``; the
        parts not given stay zero (hand 3, message ``n_tokens``, claim -1: none)."""
        L, out = self.layout, torch.zeros(2, self._blk)
        col = {key.removeprefix("past0_"): L[key].start - L["past0_own_hand"].start
               for key in L if key.startswith("past0_")}
        # claim / coins in float32, as a direct computation gives it
        value = torch.tensor(claims if claims is not None else (0, 0), dtype=torch.float32) / self.coins
        for me, you in ((0, 1), (1, 0)):
            if hands is not None:
                out[me, col["own_hand"] + hands[me]] = out[me, col["opp_hand"] + hands[you]] = 1
                mine, yours = min(hands[me], 2), min(hands[you], 2)
                out[me, col["won"]] = float(hands[me] < 3 and yours == (mine + 2) % 3)
            if msg is not None:
                out[me, col["own_msg"] + msg[me]] = out[me, col["opp_msg"] + msg[you]] = 1
            if claims is not None:
                out[me, col["own_claim"]], out[me, col["opp_claim"]] = value[me], value[you]
        return out

    def _deal(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        code = torch.randint(6, (batch,), generator=generator, device=self.device)
        return self._deal_table.index_select(0, code)

    def reset(self, batch: int, generator: torch.Generator) -> State:
        dev = self.device
        return {  # (the deal draws before ``first``)
            "t": torch.zeros(batch, dtype=torch.long, device=dev),
            "hands": self._deal(batch, generator),
            "first": torch.randint(2, (batch,), generator=generator, device=dev),
            "msg": torch.full((batch, 2), self.n_tokens, dtype=torch.long, device=dev),
            "past": self._no_past.expand(batch, -1, -1).clone(),
            "returns": torch.zeros(batch, 2, device=dev),
            "claim_sum": torch.zeros(batch, 2, 2, device=dev),  # [player, lost/won]
            "claim_count": torch.zeros(batch, 2, 2, device=dev),
        }

    def values(self, hands: torch.Tensor) -> torch.Tensor:
        return torch.where(beats(hands, hands.flip(1)), self.high, self.low)

    def _shared_t(self, t: torch.Tensor) -> int | None:
        """``t`` when every row has it and reading it costs no device sync, else None."""
        if t.device.type != "cpu" or t.shape[0] == 0:
            return None
        low, high = (int(x) for x in torch.aminmax(t))
        return low if low == high else None

    def _codes(self, hands: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Codes of the hands, of the claims ``x`` and of the claim step (hands and claims)."""
        pair = torch.add(hands[:, 1], hands[:, 0], alpha=3)
        claims = torch.add(x[:, 1], x[:, 0], alpha=self._c)
        return pair, claims, torch.add(claims, pair, alpha=self._c ** 2)

    def _push(self, past: torch.Tensor, pair: torch.Tensor, msg: torch.Tensor,
              claims: torch.Tensor) -> torch.Tensor:
        """``past`` with the round of these hands, messages and claims (codes) in front: both
        views ``[B, 2, blk]`` of the new round are the sum of the round table's rows by its
        two codes (hands and messages, claims)."""
        m, blk = self._m, self._blk
        codes = torch.stack([torch.add(torch.add(msg[:, 1], msg[:, 0], alpha=m), pair, alpha=m * m),
                             claims + self._claims_offset], 1)
        # The output is allocated before the temporary: a steadier heap, fewer page faults.
        out = torch.empty_like(past) if self.window > 1 else None
        new = torch.nn.functional.embedding_bag(codes, self._round_table, mode="sum").view(len(codes), 2, blk)
        return new if out is None else torch.cat([new, past[:, :, :-blk]], 2, out=out)

    def step(self, state: State, actions: torch.Tensor,
             generator: torch.Generator) -> tuple[State, torch.Tensor, torch.Tensor]:
        t0 = self._shared_t(state["t"])
        if t0 is None:
            return self._step_rows(state, actions, generator)
        s = dict(state, t=state["t"] + 1)
        done = torch.full_like(state["t"], t0 + 1 >= self.horizon, dtype=torch.bool)
        phase = t0 % STEPS_PER_ROUND
        if phase < 2:  # one player speaks
            speaks = self._speaks_table[phase].index_select(0, state["first"])
            s["msg"] = torch.where(speaks, actions.clamp(0, self.n_tokens - 1), state["msg"])
            return s, torch.zeros(actions.shape, device=actions.device), done
        pair, claims, code = self._codes(state["hands"], actions.clamp(0, self.coins))
        rewards = self._rewards_table.index_select(0, code)
        s["returns"] = state["returns"] + rewards
        s["claim_sum"] = state["claim_sum"] + self._claimed_table.index_select(0, code)
        s["claim_count"] = state["claim_count"] + self._won_table.index_select(0, code)
        # End of the round: push it into the history window, deal anew, swap speakers.
        if self.window > 0:
            s["past"] = self._push(state["past"], pair, state["msg"], claims)
        s["hands"] = self._deal(actions.shape[0], generator)
        s["msg"] = torch.full_like(state["msg"], self.n_tokens)
        s["first"] = 1 - state["first"]
        return s, rewards, done

    def _step_rows(self, state: State, actions: torch.Tensor,
                   generator: torch.Generator) -> tuple[State, torch.Tensor, torch.Tensor]:
        """:meth:`step` for rows in any phase, branch-free (deals drawn every step)."""
        t, first = state["t"], state["first"]
        phase = t % STEPS_PER_ROUND
        claiming = phase == 2
        speaks = self._speaks_table.view(6, 2).index_select(0, torch.add(first, phase, alpha=2))
        msg = torch.where(speaks, actions.clamp(0, self.n_tokens - 1), state["msg"])
        pair, claims, code = self._codes(state["hands"], actions.clamp(0, self.coins))
        # Rows that do not claim read the tables' last, all-zero row.
        code = torch.where(claiming, code, self._rewards_table.shape[0] - 1)
        rewards = self._rewards_table.index_select(0, code)
        s = dict(state, t=t + 1)
        s["returns"] = state["returns"] + rewards
        s["claim_sum"] = state["claim_sum"] + self._claimed_table.index_select(0, code)
        s["claim_count"] = state["claim_count"] + self._won_table.index_select(0, code)
        if self.window > 0:
            pushed = self._push(state["past"], pair, msg, claims)
            s["past"] = torch.where(claiming[:, None, None], pushed, state["past"])
        s["hands"] = torch.where(claiming[:, None], self._deal(actions.shape[0], generator), state["hands"])
        s["msg"] = torch.where(claiming[:, None], self.n_tokens, msg)
        s["first"] = first ^ claiming
        return s, rewards, s["t"] >= self.horizon

    def legal(self, state: State) -> torch.Tensor:
        t0, first = self._shared_t(state["t"]), state["first"]
        if t0 is not None:
            return self._legal_table[t0 % STEPS_PER_ROUND].index_select(0, first)
        slot = torch.add(first, state["t"] % STEPS_PER_ROUND, alpha=2)
        return self._legal_table.view(6, 2, -1).index_select(0, slot)

    def observe(self, state: State) -> torch.Tensor:
        t, hands, msg, m = state["t"], state["hands"], state["msg"], self._m
        batch, t0 = t.shape[0], self._shared_t(t)
        # The output is allocated before the temporaries (as in _push): with glibc's heap
        # heuristics this halves the page faults, a good part of the cost at large batches.
        obs = torch.empty(batch, 2, self.obs_dim, device=t.device)
        code = torch.add(torch.add(msg[:, 1], msg[:, 0], alpha=m),
                         torch.add(torch.add(hands[:, 1], hands[:, 0], alpha=3), state["first"], alpha=9),
                         alpha=m * m)
        if t0 is not None and t0 <= self.horizon:
            cur = self._cur_by_t[t0].index_select(0, code).view(batch, 2, self._cur_dim)
            return torch.cat([cur, state["past"]], 2, out=obs)
        code = torch.add(code, t % STEPS_PER_ROUND, alpha=2 * 9 * m * m)
        cur = self._cur_by_phase.index_select(0, code).view(batch, 2, self._cur_dim)
        torch.cat([cur, state["past"]], 2, out=obs)
        obs[:, :, self.layout["progress"].start] = (t / self.horizon)[:, None]
        return obs


make = TrustSplit  # make(params, device) -> rules


def episode_metrics(rules: TrustSplit, state: State) -> dict[str, torch.Tensor]:
    """Per-episode split efficiency and mean claims when winning / losing (player 0 and 1)."""
    best = rules.rounds * rules.high * rules.coins  # hands always differ: max(v1, v2) = high
    count, total = state["claim_count"].sum(1), state["claim_sum"].sum(1)
    return {"split_efficiency": state["returns"].sum(1) / best,
            "claim_when_winning": total[:, 1] / count[:, 1].clamp(min=1),
            "claim_when_losing": total[:, 0] / count[:, 0].clamp(min=1)}
