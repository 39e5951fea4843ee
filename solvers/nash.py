"""The ``nash`` entry: the best available Nash backend for the game at hand, in declared order.

1. ``zero_sum_lp`` -- 2-player constant-sum games, by linear programming (every
   equilibrium there has the same payoffs, so welfare objectives are met too);
2. ``lemke_howson`` -- 2-player general-sum games when no selection objective is asked;
3. ``nash_milp`` -- 2-player games with a selection ``objective`` (max welfare, max of
   the minimum payoff, max/min support, feasibility), and the fallback when
   Lemke-Howson's answer fails verification;
4. ``dynamics`` -- N-player games: regret matching and projected replicator dynamics
   both run and the profile with the smaller NashConv is returned (approximate; the
   registry reports the NashConv reached and whether it met the tolerance).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from popgames.core.regrets import nash_regrets
from popgames.solvers.dynamics import regret_matching, replicator
from popgames.solvers.lemke_howson import lemke_howson
from popgames.solvers.nash_milp import nash_milp
from popgames.solvers.registry import Candidate, register
from popgames.solvers.zero_sum_lp import constant_sum_applies, zero_sum_lp

#: Objectives every equilibrium of a constant-sum game attains equally.
_VALUE_OBJECTIVES = (None, "feasibility", "max_welfare", "max_min_payoff")


def _zero_sum_applies(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    if options.get("objective") not in _VALUE_OBJECTIVES:
        return f"objective {options['objective']!r} needs equilibrium selection"
    return constant_sum_applies(payoffs, options)


def _lemke_howson_applies(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    if payoffs.shape[0] != 2:
        return f"{payoffs.shape[0]} players"
    if options.get("objective") not in (None, "feasibility"):
        return f"objective {options['objective']!r} needs equilibrium selection"
    return _select_unsupported(options)


def _select_unsupported(options: Mapping[str, Any]) -> str | None:
    # `select` chooses among a zero-sum game's equilibria; other backends cannot honour it.
    if options.get("select", "vertex") != "vertex":
        return f"select={options['select']!r} is only for 2-player zero-sum games"
    return None


def _two_players(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    return f"{payoffs.shape[0]} players" if payoffs.shape[0] != 2 else _select_unsupported(options)


def _many_players(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    if payoffs.shape[0] == 2:
        return "2-player games have exact backends"
    if options.get("objective") is not None:
        return "no equilibrium selection for N-player games"
    return None


def dynamics(payoffs: np.ndarray, *, iterations: int = 20000) -> Candidate:
    """Approximate N-player Nash: the better of regret matching and projected replicator dynamics.

    Both are run for ``iterations`` steps; the profile with the smaller NashConv is returned,
    and ``info`` records the NashConv each reached.
    """
    tried = {"regret_matching": regret_matching(payoffs, iterations=iterations),
             "replicator": replicator(payoffs, iterations=iterations)}
    conv = {name: float(nash_regrets(payoffs, c.marginals).sum()) for name, c in tried.items()}
    best = min(conv, key=conv.get)
    return Candidate(marginals=tried[best].marginals,
                     info={"method": best, "nash_conv_by_method": conv})


_SUMMARY = "Nash equilibrium: zero-sum LP, Lemke-Howson, MILP with selection, N-player dynamics"
register("nash", "zero_sum_lp", zero_sum_lp, concept="nash", exact=True,
         applies=_zero_sum_applies, summary=_SUMMARY)
register("nash", "lemke_howson", lemke_howson, concept="nash", exact=True,
         applies=_lemke_howson_applies)
register("nash", "nash_milp", nash_milp, concept="nash", exact=True, applies=_two_players)
register("nash", "dynamics", dynamics, concept="nash", exact=False, applies=_many_players)
