"""FXP's learners by name, and the checks of the loop's options.

The learners implement :class:`~popgames.core.protocols.Learner`: ``exact``
(:mod:`popgames.loops.fxp.exact_learner`, matrix and OpenSpiel games), ``team_pg``
(:mod:`popgames.loops.fxp.team_pg`, FXP's team game) and ``ppo``
(:mod:`popgames.loops.fxp.ppo_learner`, batched Markov games). Whether one fits a
game is the learner's to check; the default its kind says (:class:`~popgames.core.protocols.Kind`).
Option checks raise one-line :class:`~popgames.core.errors.PopgamesError` s before
anything runs, so a bad command line leaves no run folder behind.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from popgames.core.errors import PopgamesError
from popgames.core.protocols import Game, Learner
from popgames.kinds.cards import FXP_LOOP_OPTIONS as LOOP_OPTIONS
from popgames.kinds.registry import kind_of

CROSS_WEIGHTS = ("exploit", "nash", "uniform")

#: Learner names -> (module, class); every class is built as ``cls(game, options, seed=, device=)``.
LEARNERS = {"exact": ("popgames.loops.fxp.exact_learner", "ExactLearner"),
            "team_pg": ("popgames.loops.fxp.team_pg", "TeamPGLearner"),
            "ppo": ("popgames.loops.fxp.ppo_learner", "PpoLearner")}


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


def default_learner(game: Game) -> str:
    """The kind's default FXP learner (``team_pg`` for team games, ``ppo`` for Markov games,
    ``exact`` for matrix and OpenSpiel games)."""
    kind = kind_of(game)
    if kind.default_learner is None:
        raise PopgamesError(f"FXP has no learner for {kind.name} games")
    return kind.default_learner


def make_learner(game: Game, name: str | None = None, options: Mapping[str, Any] | None = None,
                 *, seed: int = 0, device: str | None = None) -> Learner:
    """The learner ``name`` for ``game`` (default: :func:`default_learner`).

    ``seed`` (the root seed of the learner's own episodes) and ``device`` (torch;
    ``None``/``"auto"``: ``cuda`` when present) are the run's, never options. A learner
    refuses, in one line, a game it cannot train on.
    """
    name = name or default_learner(game)
    if name not in LEARNERS:
        raise PopgamesError(f"unknown FXP learner '{name}' (known: {', '.join(LEARNERS)})")
    clash = sorted({"seed", "device"} & set(options or {}))
    if clash:
        raise PopgamesError(f"learner option(s) {clash}: set by the run (--seed / --device), not options")
    module, cls_name = LEARNERS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    return cls(game, options, seed=seed, device=device)
