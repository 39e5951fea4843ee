"""Checking that a Markov game's rules keep the rules contract (importing them:
:mod:`popgames.kinds.rules_module`).

A ``kind = "markov"`` card runs user code. So that a broken rules file is reported
when the card loads, as one :class:`~popgames.core.errors.GameCardError` line naming the
rules file, the function and the problem, rather than as a traceback (or silently
wrong results) mid-run, :func:`check_rules` plays one episode on a small batch with
uniformly random legal actions drawn from an explicit ``torch.Generator`` and checks
every output against the contract of :mod:`popgames.kinds.markov.game`: shapes, dtypes,
finite values, a legal action for every player, ``done`` exactly at the horizon,
the reference policies' distributions and the episode metrics.
"""

from __future__ import annotations

import numbers
import weakref
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping

import torch

from popgames.core.errors import GameCardError
from popgames.kinds.rules_module import raised

#: Batch sizes tried for the check: the first that equals no dimension of the game, so a
#: tensor with two axes swapped cannot pass for the right shape.
BATCHES = (5, 7, 11, 13, 17)
#: Integer attributes every rules object has (``>= 1``).
DIMENSIONS = ("n_players", "n_actions", "obs_dim", "horizon")
METHODS = ("reset", "observe", "legal", "step")
#: Rules module -> the parameter sets whose rules passed :func:`check_rules`. The check is
#: deterministic, so a card loaded again (every test, every evaluation task) skips it.
_PASSED: weakref.WeakKeyDictionary[ModuleType, set[str]] = weakref.WeakKeyDictionary()


def _call(path: Path, function: str, fn: Callable, *args: Any, at: str = "") -> Any:
    """``fn(*args)``, with any exception turned into a card error on ``rules.<function>``."""
    try:
        return fn(*args)
    except GameCardError:
        raise
    except Exception as exc:  # a user's rules code: any error becomes one card line naming its line
        raise raised(path, f"rules.{function}", f"{function}()", exc, at) from exc


def build_rules(module: ModuleType, params: dict[str, Any], path: Path, src: str) -> Any:
    """``module.make(params, cpu)``; a ``ValueError`` naming a parameter first (``"coins must
    be >= 1"``) is a card error on that parameter, any other error one on ``rules.make``."""
    rng = torch.get_rng_state()
    try:
        rules = module.make(params, torch.device("cpu"))
    except GameCardError:
        raise
    except Exception as exc:  # a user's rules code: any error becomes one card line
        first = str(exc).replace(",", " ").replace(":", " ").split(" ")[0]
        if isinstance(exc, ValueError) and first in params:
            raise GameCardError(src, f"params.{first}", str(exc)) from None
        raise raised(path, "rules.make", "make()", exc) from exc
    _rng_untouched(rng, path, "make")
    where = f"make() returned a {type(rules).__name__}"
    for attr in DIMENSIONS:
        value = getattr(rules, attr, None)
        if value is None:
            raise GameCardError(str(path), "rules.make", f"{where} that has no attribute '{attr}'")
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise GameCardError(str(path), "rules.make", f"{where} whose {attr} is "
                                f"{type(value).__name__} {value!r}, expected an int >= 1")
    if not isinstance(getattr(rules, "device", None), torch.device):
        raise GameCardError(str(path), "rules.make", f"{where} without a torch.device 'device'")
    for method in METHODS:
        if not callable(getattr(rules, method, None)):
            raise GameCardError(str(path), "rules.make", f"{where} without a '{method}' method")
    bounds = getattr(rules, "obs_bounds", None)
    if bounds is not None and not (isinstance(bounds, (tuple, list)) and len(bounds) == 2 and all(
            isinstance(b, numbers.Real) for b in bounds) and bounds[0] < bounds[1]):
        raise GameCardError(str(path), "rules.make", f"{where} whose obs_bounds is {bounds!r}, "
                            "expected (low, high) with low < high")
    return rules


def _rng_untouched(before: torch.Tensor, path: Path, function: str) -> None:
    if not torch.equal(torch.get_rng_state(), before):
        raise GameCardError(str(path), f"rules.{function}", "draws from torch's global random number "
                            "generator; draw from the torch.Generator passed in (runs must be repeatable)")


def _tensor(value: Any, path: Path, function: str, what: str, shape: tuple[int, ...],
            dtype: torch.dtype | None, at: str) -> torch.Tensor:
    """``value`` if it is a tensor of ``shape`` and ``dtype`` (``None``: any floating dtype)."""
    field = f"rules.{function}"
    if not isinstance(value, torch.Tensor):
        raise GameCardError(str(path), field, f"returned {what} of type {type(value).__name__}, "
                            f"expected a torch.Tensor{at}")
    if tuple(value.shape) != shape:
        raise GameCardError(str(path), field, f"returned {what} of shape {tuple(value.shape)}, "
                            f"expected {shape}{at}")
    if dtype is None and not value.dtype.is_floating_point:
        raise GameCardError(str(path), field, f"returned {what} of dtype {value.dtype}, "
                            f"expected a floating dtype{at}")
    if dtype is not None and value.dtype != dtype:
        raise GameCardError(str(path), field, f"returned {what} of dtype {value.dtype}, expected {dtype}{at}")
    if value.dtype.is_floating_point and not torch.isfinite(value).all():
        kind = "NaN" if torch.isnan(value).any() else "infinite values"
        raise GameCardError(str(path), field, f"{what} contain{'s' if what == 'observation' else ''} "
                            f"{kind}{at}")
    return value


def _state(state: Any, batch: int, path: Path, function: str, at: str) -> dict:
    if not isinstance(state, Mapping):
        raise GameCardError(str(path), f"rules.{function}", f"returned {type(state).__name__}, "
                            f"expected a dict of tensors (the state){at}")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != batch:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise GameCardError(str(path), f"rules.{function}", f"returned state[{key!r}] of shape "
                                f"{shape}, expected a tensor with a leading batch of {batch}{at}")
    return dict(state)


def check_rules(module: ModuleType, rules: Any, params: Mapping[str, Any], path: Path) -> None:
    """Play one episode of ``rules`` (made from ``params``) on a small batch and check every
    output (module docstring); skipped for parameters that already passed in this process.

    Raises
    ------
    GameCardError
        On ``rules.<function>`` of the rules file ``path``, for the first problem found.
    """
    key = repr(sorted(params.items()))
    if key in _PASSED.get(module, ()):
        return
    threads = torch.get_num_threads()
    # A batch this small gains nothing from intra-op threads, while waking them can cost
    # milliseconds per op on a busy machine: play on one thread, restored afterwards.
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            _play(module, rules, path)
    finally:
        torch.set_num_threads(threads)
    _PASSED.setdefault(module, set()).add(key)


def _play(module: ModuleType, rules: Any, path: Path) -> None:
    """The episode of :func:`check_rules`, checking each output as it comes."""
    n, a, obs_dim, horizon = (int(getattr(rules, d)) for d in DIMENSIONS)
    batch = next(b for b in BATCHES if b not in (n, a, obs_dim))
    gen = torch.Generator(device=rules.device).manual_seed(0)
    bounds = getattr(rules, "obs_bounds", None)
    rng = torch.get_rng_state()
    state = _state(_call(path, "reset", rules.reset, batch, gen), batch, path, "reset", "")
    _rng_untouched(rng, path, "reset")
    seen_obs, seen_legal = [], []
    for t in range(horizon + 1):
        at = f" at step {t}"
        obs = _tensor(_call(path, "observe", rules.observe, state, at=at), path, "observe",
                      "observation", (batch, n, obs_dim), torch.float32, at)
        if bounds is not None and ((obs < bounds[0]).any() or (obs > bounds[1]).any()):
            raise GameCardError(str(path), "rules.observe", f"returned values outside obs_bounds "
                                f"{tuple(bounds)}{at}: from {obs.min().item()} to {obs.max().item()}")
        legal = _tensor(_call(path, "legal", rules.legal, state, at=at), path, "legal", "mask",
                        (batch, n, a), torch.bool, at)
        stuck = ~legal.any(-1)  # [B, n]
        if stuck.any():
            player = int(stuck.any(0).nonzero()[0])
            raise GameCardError(str(path), "rules.legal", f"legal() leaves player {player} with no legal "
                                f"action in {int(stuck[:, player].sum())} of {batch} games{at}")
        seen_obs.append(obs)
        seen_legal.append(legal)
        if t == horizon:
            break
        # Uniform over each row's legal actions: the largest of iid uniforms, illegal ones masked.
        draws = torch.rand(legal.shape, generator=gen, device=legal.device)
        actions = draws.masked_fill(~legal, -1.0).argmax(-1)
        out = _call(path, "step", rules.step, state, actions, gen, at=at)
        if not isinstance(out, tuple) or len(out) != 3:
            size = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
            raise GameCardError(str(path), "rules.step", f"returned {size}, "
                                f"expected (state, rewards, done){at}")
        state = _state(out[0], batch, path, "step", at)
        _tensor(out[1], path, "step", "rewards", (batch, n), None, at)
        done = _tensor(out[2], path, "step", "done", (batch,), torch.bool, at)
        if t < horizon - 1 and done.any():
            raise GameCardError(str(path), "rules.step", f"done before the horizon ({horizon} steps) in "
                                f"{int(done.sum())} of {batch} games{at}; every episode lasts horizon steps")
        if t == horizon - 1 and not done.all():
            raise GameCardError(str(path), "rules.step", f"done is not all true after the last step "
                                f"(horizon {horizon}){at}: {int(done.sum())} of {batch} games done")
    _rng_untouched(rng, path, "step")
    # Policies act at steps 0 .. horizon - 1, not on the final observation.
    _check_policies(module, rules, path, torch.stack(seen_obs[:-1]), torch.stack(seen_legal[:-1]))
    _rng_untouched(rng, path, "reference_policies")
    metrics = getattr(module, "episode_metrics", None)
    if metrics is not None:
        _check_metrics(_call(path, "episode_metrics", metrics, rules, state), batch, path)
        _rng_untouched(rng, path, "episode_metrics")


def _check_policies(module: ModuleType, rules: Any, path: Path, obs: torch.Tensor,
                    legal: torch.Tensor) -> None:
    """Each reference policy on every observation it acts on, at once: ``obs [T, B, n,
    obs_dim]`` and ``legal [T, B, n, A]`` as rows ``[T * B * n, ...]``."""
    field, (_, batch, n, a) = "rules.reference_policies", legal.shape
    refs = _call(path, "reference_policies", module.reference_policies, rules)
    if not isinstance(refs, Mapping):
        raise GameCardError(str(path), field, f"returned {type(refs).__name__}, expected a dict "
                            "of name -> policy")
    rows, masks = obs.reshape(-1, obs.shape[-1]), legal.reshape(-1, a)

    def where(row: int) -> str:  # row -> step and player, from the [T, B, n] layout
        return f" at step {row // (batch * n)} (player {row % n})"

    for key, policy in refs.items():
        name = getattr(policy, "name", None)
        if name not in refs:  # checkpoints store a reference policy by its name
            raise GameCardError(str(path), field, f"policy {key!r} has name {name!r}, which is not a "
                                "key of the dict (checkpoints look reference policies up by name)")
        if not callable(getattr(policy, "probs", None)):
            raise GameCardError(str(path), field, f"policy {key!r} has no probs(obs, legal)")
        p = _call(path, "reference_policies", policy.probs, rows, masks, at=f" (policy {key!r}, probs)")
        if not (isinstance(p, torch.Tensor) and p.shape == masks.shape and p.dtype.is_floating_point):
            got = f"{tuple(p.shape)} {p.dtype}" if isinstance(p, torch.Tensor) else type(p).__name__
            raise GameCardError(str(path), field, f"policy {key!r}: probs() of shape {got} for "
                                f"{len(rows)} observations, expected a float tensor {tuple(masks.shape)}")
        problems = ((~torch.isfinite(p).all(1) | (p < 0).any(1),
                     "has NaN, infinite or negative probabilities"),
                    ((p.sum(1) - 1).abs() > 1e-4, "has probabilities that do not sum to 1"),
                    (((p > 0) & ~masks).any(1), "puts probability on an illegal action"))
        for bad, what in problems:
            if bad.any():
                row = int(bad.nonzero()[0])
                raise GameCardError(str(path), field, f"policy {key!r} {what}{where(row)}: "
                                    f"{[round(v, 4) for v in p[row].tolist()]}")


def _check_metrics(metrics: Any, batch: int, path: Path) -> None:
    if not isinstance(metrics, Mapping):
        raise GameCardError(str(path), "rules.episode_metrics", f"returned {type(metrics).__name__}, "
                            "expected a dict of name -> per-episode tensor")
    for key, value in metrics.items():
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (batch,):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise GameCardError(str(path), "rules.episode_metrics", f"returned {key!r} of shape {got}, "
                                f"expected ({batch},): one value per episode")
