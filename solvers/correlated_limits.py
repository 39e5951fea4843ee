"""Size limits of the (coarse) correlated equilibrium backends, and their refusal messages.

A CE's constraint rows hold ``profiles x sum_i (A_i - 1)`` gains (2 players, ``n x n``:
``2 n^2 (n - 1)``, 16 million at 200 x 200), a CCE's ``profiles x sum_i A_i`` in a dense
matrix, so time and memory grow about as ``profiles^1.5``. Each backend accepts games up
to a number of action profiles per concept and objective, chosen from
``benchmarks/_large_games.py`` (2 players, standard normal payoffs, this project's
2-core machine) so that an accepted game finishes well under a minute; bigger ones are
refused with a message naming the limit, before any row is built.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from popgames.solvers.zero_sum_lp import constant_sum_applies

#: Direct backend: (largest number of action profiles, worst seconds measured at that
#: size), per concept and objective. CE max welfare varies most with the game: 1-29 s over
#: four 250 x 250 games (row generation takes 1 to 50 rounds). ``min_epsilon=True`` uses
#: :data:`MIN_EPSILON_LIMIT` instead.
DIRECT_LIMITS: dict[str, dict[str, tuple[int, float]]] = {
    "ce": {"max_welfare": (62_500, 29.0), "max_gini": (62_500, 16.0),
           "max_entropy": (62_500, 11.0)},
    "cce": {"max_welfare": (90_000, 10.0), "max_gini": (90_000, 10.0),
            "max_entropy": (90_000, 6.0)},
}
#: Direct backend with ``min_epsilon=True`` (an LP with nearly every row first): CE 1.5 /
#: 7 / 33 s at 50 / 70 / 100 squared, CCE 2 / 12 / 38 s at 100 / 150 / 200 squared.
MIN_EPSILON_LIMIT: dict[str, tuple[int, float]] = {"ce": (4_900, 7.0), "cce": (22_500, 12.0)}
#: The plain cvxpy models (the fallback): Clarabel takes 11-28 s on a 50 x 50 CE.
CVXPY_LIMIT = (2_500, 28.0)
#: Clarabel on the polytope's face is the direct backend's max-Gini / max-entropy fallback
#: when dual Newton stalls, and its first choice on flat polytopes. When the face is not
#: known it comes from an LP over every profile: 9.5 s for the LP and 16 s in all on a
#: 50 x 50 CE, more than 5 minutes at 100 x 100. Above this many profiles it is not tried.
FACE_LP_LIMIT = (2_500, 16.0)
#: When the face is known without the LP (2-player constant-sum CCE), Clarabel's limit is
#: on the face's profiles: max Gini 29 s, max entropy 183 s on 10,000 (200 x 200 zero-sum);
#: max entropy 15 s on 2,500.
CLARABEL_LIMIT = {"max_gini": (10_000, 29.0), "max_entropy": (2_500, 15.0)}


def refusal(payoffs: np.ndarray, concept: str, options: Mapping[str, Any],
            direct: bool = True) -> str | None:
    """Why ``payoffs`` is too large for a backend (``None`` if it is not).

    ``direct`` picks the direct backend's limits, else the cvxpy fallback's.
    """
    objective = options.get("objective", "max_welfare")
    advice = "use a smaller meta-game"
    if not direct:
        (limit, seconds), what = CVXPY_LIMIT, "(plain cvxpy fallback)"
    elif options.get("min_epsilon"):
        (limit, seconds), what = MIN_EPSILON_LIMIT[concept], "min_epsilon=True"
    elif objective in DIRECT_LIMITS[concept]:
        (limit, seconds), what = DIRECT_LIMITS[concept][objective], f"objective={objective}"
        if objective != "max_welfare":
            advice = "use objective=max_welfare or a smaller meta-game"
    else:
        return None  # an unknown objective is reported by the backend's own check
    count = int(np.prod(payoffs.shape[1:]))
    epsilon = options.get("epsilon", 0.0)
    loosened = isinstance(epsilon, (int, float)) and epsilon > 0 and not options.get("min_epsilon")
    if (direct and concept == "ce" and objective in CLARABEL_LIMIT and count > FACE_LP_LIMIT[0]
            and not loosened and constant_sum_applies(payoffs, {}) is None):
        # A constant-sum game's CE polytope is flat (see correlated._direct): dual Newton
        # stalls on it (100 x 100: 6 s, 200 x 200: over 5 minutes), Clarabel needs the face LP.
        (limit, seconds), what = FACE_LP_LIMIT, f"objective={objective} (2-player constant-sum)"
    if count <= limit:
        return None
    return (f"{concept} {what}: {count} action profiles exceed the limit of {limit} "
            f"(about {seconds:g} s at the limit); {advice}")


def guarded(applies: Callable[[np.ndarray, Mapping[str, Any]], str | None], concept: str,
            direct: bool) -> Callable[[np.ndarray, Mapping[str, Any]], str | None]:
    """``applies`` followed by the size check of :func:`refusal`."""
    def check(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
        reason = applies(payoffs, options)
        return reason if reason is not None else refusal(payoffs, concept, options, direct)
    return check
