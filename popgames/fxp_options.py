"""What fictitious cross-play asks of a learner, and the checks of its options.

:class:`Learner` is the interface :func:`popgames.fxp.fxp` trains through; the
learners themselves live in :mod:`popgames.fxp_learners` (``exact``: matrix and
OpenSpiel games), :mod:`popgames.team_game` (``team_pg``: FXP's team game) and
:mod:`popgames.fxp_ppo` (``ppo``: batched Markov games). Option checks raise one-line
:class:`~popgames.errors.PopgamesError` s before anything runs, so a bad command
line leaves no run folder behind.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from popgames.errors import GameCardError, PopgamesError

Opponents = Sequence[tuple[Any, float]]  # (policy of the other seat, weight); weights sum to 1

LOOP_OPTIONS = ("cross_play", "cross_weights", "self_play", "symmetric")
CROSS_WEIGHTS = ("exploit", "nash", "uniform")

#: Learner names -> (module, class). A class may list ``RUNTIME_ARGS`` (of ``seed``,
#: ``device``) that :func:`make_learner` passes besides the user's options.
LEARNERS = {"exact": ("popgames.fxp_learners", "ExactLearner"),
            "team_pg": ("popgames.team_game", "TeamPGLearner"),
            "ppo": ("popgames.fxp_ppo", "PpoLearner")}


class Learner(Protocol):
    """What FXP asks of a learning method (two seats, policies are opaque objects).

    Optional: ``describe(profile) -> dict`` adds game-specific metrics to each record,
    ``RUNTIME_ARGS`` (see :data:`LEARNERS`).
    """

    n_players: int
    symmetric: bool  # the game is symmetric and a policy can sit in either seat

    def initial_policy(self, player: int, generator: np.random.Generator) -> Any: ...

    def train(self, policy: Any, opponents: Opponents, player: int,
              generator: np.random.Generator, iteration: int) -> Any:
        """Improve ``policy`` (in seat ``player``) against the mixture ``opponents``."""

    def best_response(self, opponents: Opponents, player: int,
                      generator: np.random.Generator, iteration: int) -> Any:
        """A (counter) policy for seat ``player`` against the mixture ``opponents``."""

    def payoffs(self, profiles: Sequence[tuple[Any, Any]],
                generator: np.random.Generator | None = None) -> np.ndarray:
        """Expected payoffs ``[len(profiles), 2]`` of (seat-0 policy, seat-1 policy) pairs."""

    def exploitability(self, profile: tuple[Any, Any]) -> tuple[float, list[float]] | None:
        """NashConv and per-seat gains of a profile, or ``None`` where not computable."""

    def to_array(self, policies: Sequence[Any]) -> np.ndarray: ...

    def from_array(self, array: np.ndarray) -> list[Any]: ...


#: Keys of a card's ``[fxp]`` table and their types (loop options' values: see the loop).
CARD_KEYS: dict[str, type | tuple[type, ...]] = {
    "iterations": int, "seed": int, "learner": str, "meta_solver": str, "learner_options": dict,
    **{k: (bool, int, float, str) for k in LOOP_OPTIONS}}


def check_card_table(table: Mapping[str, Any], src: str) -> None:
    """Raise :class:`~popgames.errors.GameCardError` for a bad key or type in a card's ``[fxp]``."""
    from popgames.game_card import _typed

    for key, value in table.items():
        if key not in CARD_KEYS:
            raise GameCardError(src, f"fxp.{key}", f"unknown key (known: {', '.join(CARD_KEYS)})")
        _typed(value, CARD_KEYS[key], src, f"fxp.{key}")
    if table.get("iterations", 1) < 1:
        raise GameCardError(src, "fxp.iterations", "must be at least 1")


def check_loop_options(learner: Learner, **options: Any) -> None:
    """Raise :class:`PopgamesError` (one line) for a bad or unknown loop option, or a game
    that is not two-sided."""
    for key in options:
        if key not in LOOP_OPTIONS:
            raise PopgamesError(f"unknown FXP option '{key}' (loop options: {', '.join(LOOP_OPTIONS)})")
    if learner.n_players != 2:
        raise PopgamesError(f"FXP needs a two-sided game, not {learner.n_players} players")
    cross = options.get("cross_play", 0.75)
    if isinstance(cross, bool) or not isinstance(cross, (int, float)) or not 0.0 <= cross <= 1.0:
        raise PopgamesError(f"cross_play={cross!r}: expected a number in [0, 1]")
    if options.get("cross_weights", "exploit") not in CROSS_WEIGHTS:
        raise PopgamesError(f"cross_weights={options['cross_weights']!r}: expected one of "
                            f"{', '.join(CROSS_WEIGHTS)}")
    if options.get("self_play", "latest") not in ("latest", "history"):
        raise PopgamesError(f"self_play={options['self_play']!r}: expected 'latest' or 'history'")
    symmetric = options.get("symmetric")
    if symmetric not in (None, True, False):
        raise PopgamesError(f"symmetric={symmetric!r}: expected true or false")
    if symmetric and not learner.symmetric:
        raise PopgamesError("symmetric=true needs a symmetric game and seat-independent policies")


def default_learner(game: Any) -> str:
    """``team_pg`` for team games, ``ppo`` for Markov games, ``exact`` otherwise."""
    kind = type(game).__name__
    return {"TeamMatrixGame": "team_pg", "MarkovGame": "ppo"}.get(kind, "exact")


def make_learner(game: Any, name: str | None = None, options: Mapping[str, Any] | None = None,
                 *, seed: int = 0, device: str | None = None) -> Learner:
    """The learner ``name`` for ``game`` (default: :func:`default_learner`).

    ``seed`` and ``device`` reach learners that take them (``ppo``: the root seed of its
    metric episodes, and the torch device -- ``None``/``"auto"``: ``cuda`` when present).
    """
    name = name or default_learner(game)
    if name not in LEARNERS:
        raise PopgamesError(f"unknown FXP learner '{name}' (known: {', '.join(LEARNERS)})")
    module, cls_name = LEARNERS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    runtime = {"seed": seed, "device": device}
    extra = {k: runtime[k] for k in getattr(cls, "RUNTIME_ARGS", ())}
    clash = sorted(set(extra) & set(options or {}))
    if clash:
        raise PopgamesError(f"learner option(s) {clash}: set by the run (--seed / --device), not options")
    return cls(game, **extra, **dict(options or {}))
