"""PPO best responses on batched Markov games (torch; ``cuda`` when asked for and present).

The learner is trained against an *opponent mix*: per learner seat, a weighted list
of full profiles whose learner position is ``None``. Every rollout draws, per
environment, the learner's seat and one profile of the mix, so one batch plays
against the whole meta-strategy at once (PSRO's "opponent drawn from the
population"); a profile may also hold :data:`SELF`, a frozen copy of the learner
taken at the start of each update (self-play, used by fictitious cross-play).

Option ``advantage_alignment`` (Duque et al., "Advantage Alignment Algorithms",
ICLR 2025) shapes the opponent: a second critic head estimates the others' returns,
and the surrogate's advantage becomes
``A*_t = A1_t + beta * gamma * (sum_{k<t} gamma^(t-k) A1_k) * A2_t``
with both advantages scaled to unit variance first so that ``beta`` is scale-free.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

import torch

from popgames.core.errors import GameCardError
from popgames.kinds.markov.evaluation import mixture_groups, rollout
from popgames.kinds.markov.game import MarkovRules
from popgames.kinds.markov.policies import ILLEGAL_LOGIT, MlpPolicy

SELF = "self"  # marks a seat played by a frozen copy of the learner

OpponentMix = Mapping[int, Sequence[tuple[float, Sequence[Any]]]]


@dataclass(frozen=True)
class PpoConfig:
    """PPO hyper-parameters; a card's ``[oracle]`` table or ``--option`` overrides them."""

    num_envs: int = 512
    updates: int = 80            # PPO iterations (one episode per environment each)
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 64
    share_parameters: bool = False  # one network for every seat: added to every population
    advantage_alignment: bool = False
    alignment_beta: float = 1.0
    warm_start: bool = False  # start from the population's best member against the mix
    # Share of training episodes against a frozen copy of the learner (refreshed every update)
    # in the other seats: a learning opponent, which opponent shaping needs to act on.
    self_play: float = 0.0
    eval_episodes: int = 2048
    eval_jobs: int = 1  # joblib workers for meta-game entries (plain-data tasks)
    threads: int = 1  # torch intra-op threads: small batched ops run faster on one

    @classmethod
    def from_options(cls, options: Mapping[str, Any], source: str = "oracle",
                     flagged: Mapping[str, str] | None = None) -> "PpoConfig":
        """The config of ``options`` (a card's ``[oracle]`` table merged with command-line ones).

        Errors name ``source`` (the card file), or for a key in ``flagged`` the flag that set
        it (``{"updates": "--oracle-option"}``), so a bad value is blamed where it was written.
        """
        flagged = flagged or {}
        known = {f.name: f.type for f in fields(cls)}
        values = {}
        for key, value in options.items():
            where = flagged.get(key, source)
            if key not in known:
                raise GameCardError(where, f"oracle.{key}", f"unknown PPO option (known: {', '.join(known)})")
            default = getattr(cls, key)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise GameCardError(where, f"oracle.{key}", f"expected true/false, got {value!r}")
            elif not isinstance(value, (int, float)) or isinstance(value, bool) or (
                    isinstance(default, int) and not float(value).is_integer()):
                raise GameCardError(where, f"oracle.{key}", f"expected a number, got {value!r}")
            values[key] = type(default)(value)
        config = cls(**values)
        if config.num_envs < config.minibatches or config.updates < 0 or config.epochs < 1:
            involved = [flagged[k] for k in ("num_envs", "minibatches", "updates", "epochs") if k in flagged]
            raise GameCardError(involved[0] if involved else source, "oracle",
                                "need num_envs >= minibatches, updates >= 0, epochs >= 1")
        if not 0.0 <= config.self_play < 1.0:
            raise GameCardError(flagged.get("self_play", source), "oracle.self_play",
                                f"expected a share in [0, 1), got {config.self_play}")
        return config

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def with_self_play(mix: OpponentMix, share: float, n_players: int) -> dict[int, list[tuple[float, list[Any]]]]:
    """``mix`` with ``share`` of each seat's episodes against :data:`SELF` in every other seat."""
    if share <= 0:
        return {seat: list(items) for seat, items in mix.items()}
    out = {}
    for seat, items in mix.items():
        total = sum(w for w, _ in items)
        out[seat] = [(w * (1 - share), p) for w, p in items] + [
            (total * share, [None if j == seat else SELF for j in range(n_players)])]
    return out


def opponent_groups(rules: MarkovRules, mix: OpponentMix, learner: MlpPolicy, batch: int,
            generator: torch.Generator) -> tuple[list[list[tuple[Any, torch.Tensor]]], torch.Tensor]:
    """Draw each environment's learner seat and opponent profile; group by policy."""
    snapshot = None
    entries = []
    for seat, items in sorted(mix.items()):
        for weight, profile in items:
            if weight <= 0:
                continue
            if any(isinstance(p, str) and p == SELF for p in profile):
                snapshot = snapshot or copy.deepcopy(learner)  # one frozen copy per update
                profile = [snapshot if isinstance(p, str) and p == SELF else p for p in profile]
            entries.append((weight, seat, profile))
    groups, seats = mixture_groups(entries, rules.n_players, batch, generator)
    return groups, seats.to(rules.device)


class AsLearner(torch.nn.Module):
    """Any policy as the actor-critic module a rollout's learner must be (zero values): a
    scripted reference can then be recorded like a network."""

    def __init__(self, policy: Any, n_actions: int, heads: int = 1):
        super().__init__()
        self.policy, self.n_actions, self.heads = policy, n_actions, heads

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The rollout masks illegal actions afterwards, renormalising over the legal ones.
        legal = torch.ones(obs.shape[0], self.n_actions, dtype=torch.bool, device=obs.device)
        probs = self.policy.probs(obs, legal)
        return torch.log(probs.clamp(min=1e-12)), torch.zeros(obs.shape[0], self.heads, device=obs.device)


def play_against(rules: MarkovRules, mix: OpponentMix, policy: Any, episodes: int, generator: torch.Generator,
                 heads: int = 1) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """``episodes`` episodes of ``policy`` in the learner's seats of ``mix`` (a network as it
    is, any other policy through :class:`AsLearner`): the trajectory, each episode's seat
    for the policy, and its return there."""
    learner = policy if isinstance(policy, MlpPolicy) else AsLearner(policy, rules.n_actions, heads)
    groups, seats = opponent_groups(rules, mix, learner, episodes, generator)
    traj = rollout(rules, groups, episodes, generator, learner=learner, learner_seat=seats)
    return traj, seats, traj.returns[torch.arange(episodes, device=rules.device), seats]


def _advantages(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """GAE over a fixed-horizon episode (no bootstrap after the last step): ``[T, B, heads]``."""
    adv = torch.zeros_like(values)
    last = torch.zeros_like(values[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        next_v = values[t + 1] if t + 1 < rewards.shape[0] else torch.zeros_like(values[t])
        last = rewards[t] + gamma * next_v - values[t] + gamma * lam * last
        adv[t] = last
    return adv


def aligned_advantage(own: torch.Tensor, other: torch.Tensor, gamma: float, beta: float) -> torch.Tensor:
    """``A1_t + beta * gamma * (sum_{k<t} gamma^(t-k) A1_k) * A2_t`` over ``[T, B]``."""
    own_n, other_n = own / (own.std() + 1e-8), other / (other.std() + 1e-8)
    past = torch.zeros_like(own[0])
    out = torch.empty_like(own)
    for t in range(own.shape[0]):
        out[t] = own_n[t] + beta * gamma * past * other_n[t]
        past = gamma * (past + own_n[t])
    return out


def train(rules: MarkovRules, mix: OpponentMix, config: PpoConfig, generator: torch.Generator,
          init: MlpPolicy | None = None, name: str = "ppo") -> tuple[MlpPolicy, dict[str, float]]:
    """Train a PPO learner against ``mix``; returns the network and training statistics."""
    heads = 2 if config.advantage_alignment else 1
    if init is not None:
        net = copy.deepcopy(init)
        net.name = name
    else:
        net = MlpPolicy(rules.obs_dim, rules.n_actions, config.hidden, name, heads).to(rules.device)
        net.init_weights(generator)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, eps=1e-5)
    B, T = config.num_envs, rules.horizon
    scale, steps, started = None, 0, time.perf_counter()
    mean_return = float("nan")
    for _ in range(config.updates):
        groups, seats = opponent_groups(rules, mix, net, B, generator)
        traj = rollout(rules, groups, B, generator, learner=net, learner_seat=seats)
        rows = torch.arange(B, device=rules.device)
        own = traj.rewards[:, rows, seats]                              # [T, B]
        streams = [own] + ([traj.rewards.sum(-1) - own] if heads == 2 else [])
        rewards = torch.stack(streams, -1)
        if scale is None:  # fixed after the first rollout, so value targets stay comparable
            scale = rewards.std().clamp(min=1e-6)
        adv = _advantages(rewards / scale, traj.values, config.gamma, config.gae_lambda)
        targets = adv + traj.values
        pg_adv = (aligned_advantage(adv[..., 0], adv[..., 1], config.gamma, config.alignment_beta)
                  if heads == 2 else adv[..., 0])
        mean_return = float(traj.returns[rows, seats].mean())
        _update(net, opt, config, generator, traj.obs.flatten(0, 1), traj.legal.flatten(0, 1),
                traj.actions.flatten(), traj.logp.flatten(), pg_adv.flatten(), targets.flatten(0, 1))
        steps += B * T
    seconds = time.perf_counter() - started
    return net, {"env_steps": steps, "train_seconds": seconds,
                 "steps_per_second": steps / seconds if seconds > 0 else float("nan"),
                 "final_train_return": mean_return}


def _update(net: MlpPolicy, opt: torch.optim.Optimizer, config: PpoConfig, generator: torch.Generator,
            obs: torch.Tensor, legal: torch.Tensor, actions: torch.Tensor, old_logp: torch.Tensor,
            adv: torch.Tensor, targets: torch.Tensor) -> None:
    # Steps where the learner has a single legal action carry no policy gradient.
    choice = legal.sum(-1) > 1
    n = obs.shape[0]
    size = n // config.minibatches
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator, device=generator.device).to(obs.device)
        for m in range(config.minibatches):
            idx = order[m * size:(m + 1) * size]
            logits, values = net(obs[idx])
            logp_all = torch.log_softmax(logits.masked_fill(~legal[idx], ILLEGAL_LOGIT), -1)
            logp = logp_all.gather(1, actions[idx, None]).squeeze(1)
            entropy = -torch.where(legal[idx], logp_all.exp() * logp_all, torch.zeros_like(logp_all)).sum(1)
            c = choice[idx].to(logp.dtype)
            k = c.sum().clamp(min=1)
            a = adv[idx]
            a_mean = (a * c).sum() / k
            a = (a - a_mean) / (((a - a_mean) ** 2 * c).sum() / k).sqrt().clamp(min=1e-8)
            ratio = (logp - old_logp[idx]).exp()
            pg = -(torch.min(ratio * a, ratio.clamp(1 - config.clip, 1 + config.clip) * a) * c).sum() / k
            v_loss = 0.5 * ((values - targets[idx]) ** 2).mean()
            loss = pg + config.vf_coef * v_loss - config.ent_coef * (entropy * c).sum() / k
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
            opt.step()


def resolve_device(device: str | None) -> torch.device:
    """``cuda`` when present and not told otherwise; asking for an absent ``cuda`` is an error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GameCardError("--device", "device", f"'{device}' asked for, but torch sees no CUDA device "
                            f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA)")
    return dev
