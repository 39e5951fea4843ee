"""Warm starts for PPO best responses: begin from the population's best member against the mix.

A best response must beat the meta-strategy's own payoff, and the population already holds
a policy that does at least as well against the same mix (a Nash meta-strategy's support
earns its payoff). Trained from scratch, PPO can end below it (on trust_split the
defaults fell short by up to 56 of 500). So the oracle first finds the member with the
highest estimated return against the mix (:func:`best_member`), and PPO starts from it:
a learned member is copied; a scripted one is imitated first (:func:`imitate`): its play
against the mix is recorded, the actor fitted to its actions by cross-entropy and the
critic to its discounted returns (in the units PPO's first rollout will use), so the
first PPO update starts from the member's behaviour rather than from noise.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from popgames.kinds.markov.game import MarkovRules
from popgames.kinds.markov.policies import ILLEGAL_LOGIT, MlpPolicy
from popgames.kinds.markov.ppo import OpponentMix, PpoConfig, play_against

#: Rollouts (of ``num_envs`` episodes each) recorded for imitation, and passes over them.
IMITATION_ROLLOUTS, IMITATION_EPOCHS = 2, 30


def best_member(rules: MarkovRules, mix: OpponentMix, members: Sequence[Any], config: PpoConfig,
                generator: torch.Generator) -> tuple[int, list[float]]:
    """The index of the member with the highest mean return against ``mix`` (``num_envs``
    episodes each), and every member's estimate."""
    values = [float(play_against(rules, mix, member, config.num_envs, generator)[2].double().mean())
              for member in members]
    return max(range(len(values)), key=values.__getitem__), values


def imitate(rules: MarkovRules, mix: OpponentMix, member: Any, config: PpoConfig, generator: torch.Generator,
            name: str) -> MlpPolicy:
    """An actor-critic network playing like ``member`` against ``mix`` (module doc)."""
    heads = 2 if config.advantage_alignment else 1
    obs, legal, actions, targets = [], [], [], []
    rewards_seen = []
    for _ in range(IMITATION_ROLLOUTS):
        traj, seats, _ = play_against(rules, mix, member, config.num_envs, generator, heads)
        own = traj.rewards[:, torch.arange(config.num_envs, device=rules.device), seats]
        streams = torch.stack([own] + ([traj.rewards.sum(-1) - own] if heads == 2 else []), -1)   # [T, B, h]
        rewards_seen.append(streams)
        obs.append(traj.obs.flatten(0, 1))
        legal.append(traj.legal.flatten(0, 1))
        actions.append(traj.actions.flatten())
    scale = rewards_seen[0].std().clamp(min=1e-6)       # what PPO's first rollout will use
    for streams in rewards_seen:
        to_go = torch.zeros_like(streams)
        ahead = torch.zeros_like(streams[0])
        for t in range(streams.shape[0] - 1, -1, -1):
            ahead = streams[t] / scale + config.gamma * ahead
            to_go[t] = ahead
        targets.append(to_go.flatten(0, 1))
    obs, legal, actions, targets = (torch.cat(x) for x in (obs, legal, actions, targets))
    net = MlpPolicy(rules.obs_dim, rules.n_actions, config.hidden, name, heads).to(rules.device)
    net.init_weights(generator)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    choice = legal.sum(-1) > 1
    size = max(len(obs) // 8, 1)
    for _ in range(IMITATION_EPOCHS):
        order = torch.randperm(len(obs), generator=generator, device=generator.device).to(obs.device)
        for start in range(0, len(obs), size):
            idx = order[start:start + size]
            logits, values = net(obs[idx])
            logp = torch.log_softmax(logits.masked_fill(~legal[idx], ILLEGAL_LOGIT), -1)
            c = choice[idx].to(logp.dtype)
            nll = -(logp.gather(1, actions[idx, None]).squeeze(1) * c).sum() / c.sum().clamp(min=1)
            loss = nll + config.vf_coef * ((values - targets[idx]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net
