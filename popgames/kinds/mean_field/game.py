"""Finite mean-field games from ``kind = "mean_field"`` cards, their rules checked on load.

A card names a ``rules`` file in its folder (default ``rules.py``) defining ``PARAMS``
(defaults; the allowed keys and their types) and ``make(params) -> rules`` with
``n_states``, ``n_actions``, ``horizon``, ``mu0``, ``agents = ()`` and the pure functions
``transition(t, mu) -> P[x, a, x']`` and ``reward(t, mu) -> r[x, a]`` of
:class:`~popgames.kinds.mean_field.exact.MeanFieldRules`. A game of ``K`` populations says
``agents = (K,)`` and carries the population axis first everywhere: ``mu0 [K, X]``,
``transition(t, mu [K, X]) -> [K, X, A, X]``, ``reward(t, mu) -> [K, X, A]`` (each
population's dynamics and rewards may depend on every population's distribution). When the card loads, the
uniform policy's flow is computed once and every output checked (shapes, finite values,
transition rows on the simplex, ``mu0`` on the simplex, a horizon of at least 1): a
broken rules file is one card error naming the file, the field and the cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from popgames.core.errors import GameCardError
from popgames.kinds.cards import RulesCard, checked_params, meanfield_table, rules_path, shared_tables, typed
from popgames.kinds.mean_field.exact import MeanFieldRules, uniform_policy

#: Tolerance of the simplex checks (rows of P, mu0): round-off of a sum of probabilities.
SIMPLEX_ATOL = 1e-9


@dataclass(kw_only=True)
class MeanFieldGame(RulesCard):
    """A loaded ``mean_field`` card: its rules and parameters, and the card's tables."""

    rules: MeanFieldRules
    meanfield: dict[str, Any] = field(default_factory=dict)   # the card's [meanfield] defaults
    kind: ClassVar[str] = "mean_field"

    @property
    def n_players(self) -> int:
        return 1


def _simplex(array: np.ndarray, axis: int) -> bool:
    return bool((array >= -SIMPLEX_ATOL).all() and np.abs(array.sum(axis=axis) - 1.0).max() <= SIMPLEX_ATOL)


def check_flow(rules: Any, where: str) -> None:
    """Raise a card error on ``where`` (the rules file) unless ``rules`` keeps the contract:
    its sizes, ``mu0``, and every transition and reward along the uniform policy's flow.
    A graphon game's rules carry their agent axis (``agents = (M,)``) in every shape."""
    for attr in ("n_states", "n_actions", "horizon"):
        value = getattr(rules, attr, None)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise GameCardError(where, f"rules.{attr}", f"expected an int >= 1, got {value!r}")
    agents, n, a = tuple(rules.agents), rules.n_states, rules.n_actions
    mu0 = np.asarray(rules.mu0, dtype=np.float64)
    if mu0.shape != (*agents, n) or not np.isfinite(mu0).all() or not _simplex(mu0, -1):
        raise GameCardError(where, "rules.mu0", f"must be a distribution over the {n} states")
    policy = uniform_policy(rules)
    mu = mu0
    for t in range(rules.horizon):
        try:
            p = np.asarray(rules.transition(t, mu), dtype=np.float64)
            r = np.asarray(rules.reward(t, mu), dtype=np.float64)
        except Exception as exc:  # the user's transition/reward raised: one card line
            from popgames.kinds.rules_module import raised

            raise raised(Path(where), "rules", f"the rules at t={t}", exc) from exc
        if p.shape != (*agents, n, a, n) or not np.isfinite(p).all() or not _simplex(p, -1):
            raise GameCardError(where, "rules.transition", f"at t={t}: expected rows P[..., x, a, :] of "
                                f"shape {(*agents, n, a, n)} that are distributions, got shape {p.shape}")
        if r.shape != (*agents, n, a) or not np.isfinite(r).all():
            raise GameCardError(where, "rules.reward", f"at t={t}: expected finite values of shape "
                                f"{(*agents, n, a)}, got shape {r.shape}")
        mu = np.einsum("...x,...xa,...xay->...y", mu, policy[..., t, :, :], p)


def make_rules(module: ModuleType, params: dict[str, Any], path: Path, src: str) -> Any:
    """``module.make(params)``; a ``ValueError`` whose message starts with a parameter's name
    is blamed on that parameter, any other error on the rules file."""
    from popgames.kinds.rules_module import raised

    try:
        return module.make(dict(params))
    except ValueError as exc:
        key = next((k for k in params if str(exc).startswith(k)), None)
        if key is None:
            raise raised(path, "rules.make", "make()", exc) from exc
        raise GameCardError(src, f"params.{key}", str(exc)) from None
    except Exception as exc:  # a user's rules code: any error becomes one card line
        raise raised(path, "rules.make", "make()", exc) from exc


def parse_mean_field(card: dict, src: str) -> MeanFieldGame:
    """Build a :class:`MeanFieldGame` from a ``kind = "mean_field"`` card (module doc)."""
    from popgames.kinds.rules_module import forget_rules_module, load_rules_module

    path = rules_path(card, src)
    module = load_rules_module(path, src, needed=("make", "PARAMS"))
    try:
        params = checked_params(module, typed(card.get("params", {}), dict, src, "params"), src)
        rules = make_rules(module, params, path, src)
        agents = getattr(rules, "agents", None)   # a user's object: checked, not assumed
        if not (agents == () or (isinstance(agents, tuple) and len(agents) == 1
                                 and isinstance(agents[0], int) and agents[0] >= 1)):
            raise GameCardError(str(path), "rules.agents", f"must be () (one population) or (K,) for K "
                                f"populations, got {agents!r}")
        check_flow(rules, str(path))
    except GameCardError:
        forget_rules_module(module)  # an edited file is read afresh on the next load
        raise
    return MeanFieldGame(rules=rules, params=params, module=module, meanfield=meanfield_table(card, src),
                       **shared_tables(card, src))


def policy_of(game: MeanFieldGame, policy: Any) -> np.ndarray:
    """A policy ``[T, X, A]`` for ``game`` (checked); see :func:`~popgames.kinds.mean_field.exact.check_policy`."""
    from popgames.kinds.mean_field.exact import check_policy

    return check_policy(game.rules, policy, game.source or game.name)



