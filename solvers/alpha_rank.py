"""alpha-Rank: evolutionary ranking of pure strategy profiles.

Omidshafiei et al., "alpha-Rank: Multi-Agent Evaluation by Evolution",
Scientific Reports 9 (2019), multi-population model. The states of a Markov
chain are the pure joint profiles. From profile ``s`` one player ``k`` at a time
considers a mutant action: the chain moves to the profile ``r`` that differs from
``s`` in player ``k``'s action with probability ``eta * rho``, where
``eta = 1 / sum_k (|S_k| - 1)`` and ``rho`` is the probability that the mutant
fixates in player ``k``'s population of ``m`` individuals,

    rho = (1 - exp(-u)) / (1 - exp(-m u)),   u = alpha * (f_k(r) - f_k(s)),

and ``rho = 1/m`` on a tie (neutral drift). The stationary distribution of the
chain ranks the profiles; its per-player marginals rank each player's actions.

The infinite-alpha limit follows OpenSpiel's epsilon-perturbed chain
(``open_spiel/python/egt/alpharank.py``, ``use_inf_alpha``): a transition goes with
``eta * (1 - eps)`` when it improves the mover's payoff, ``eta * eps`` when it
worsens it and ``eta / 2`` on a tie.

Numerics. ``rho`` is evaluated in log space from ``expm1`` forms, so large
``alpha`` neither overflows nor divides 0 by 0. With the default ``alpha = 100``
and ``m = 50`` (OpenSpiel's defaults) most worsening moves have probabilities like
``exp(-2000)``: they underflow, and the stationary distribution is decided by
ratios of such numbers. Transitions are kept per player and per *fiber* (the
profiles that differ only in that player's action): ``count * A_k`` numbers, never a
``count x count`` matrix (:mod:`popgames.solvers.alpha_rank_stationary`). So:

* when the transitions with ``rho >= 1e-6`` already connect every profile to
  every other, the chain is well conditioned: up to ``_LU_LIMIT`` profiles a sparse
  LU solve of ``pi Q = 0, sum pi = 1`` answers (``Q`` is built with diagonal
  ``-sum of the row``, not ``1 - sum``, so no small rate is lost to cancellation);
  above it GMRES preconditioned by exact solves on one player's fibers (LU's fill-in
  is nearly dense on this chain: 144 s and 1.3 GB at 100 x 100; GMRES takes 0.5 s
  there, about 1.5 s at 200 x 200 and agrees with LU to 1e-14);
* otherwise the Grassmann-Taksar-Heyman state reduction runs in log space. It
  uses no subtraction, so every stationary probability comes out with full
  relative accuracy even where OpenSpiel's eigen-solver reports "multiple
  stationary distributions". It is dense, ``O(states^3)``: about 0.03 s for 125
  profiles and 4 s for 1,000, so chains above ``_DENSE_LIMIT`` profiles in this
  regime raise :class:`~popgames.core.errors.SolverError` (use ``alpha="inf"``, or an
  ``alpha`` small enough for the first regime). Linear-space iterations do not
  replace it: their fiber blocks turn singular and their answers go negative.

Meta-games above ``MAX_PROFILES`` profiles are refused before anything is built.

Ties (finite alpha): ``|u| <= 1e-14`` as in OpenSpiel. Ties (infinite alpha):
``|f_k(r) - f_k(s)| <= 1e-12 * max(1, payoff range)`` -- OpenSpiel compares with
``numpy.isclose`` (relative tolerance 1e-5), which is not invariant to adding a
constant to the payoffs; the two agree except on near-ties.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Mapping

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers.alpha_rank_stationary import (edges, stationary_gth, stationary_iterative,
                                                    stationary_lu)
from popgames.solvers.blas import single_thread_blas
from popgames.solvers.registry import Candidate, register

#: Largest chain solved by dense log-space state reduction (about 15 s at this size).
_DENSE_LIMIT = 1500
#: Largest well-conditioned chain solved by sparse LU (0.05 s at 30 x 30, 0.9 s at 50 x 50);
#: GMRES above (0.02 s at 50 x 50; both agree to 1e-14).
_LU_LIMIT = 1000
#: Largest meta-game accepted at all, in profiles: about 4 s and 1.4 GB at 300 x 300 (GMRES
#: or the refusal above _DENSE_LIMIT); 7 s and 2.8 GB at 350 x 350.
MAX_PROFILES = 90_000
#: Transitions with fixation probability at least this keep the linear solves well conditioned.
_STRONG = 1e-6


def _parse_alpha(alpha: Any) -> float:
    if isinstance(alpha, str) and alpha.strip().lower() in ("inf", "infinity"):
        return np.inf
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not alpha >= 0:
        raise SolverError("alpharank",
                          f"option alpha must be a number >= 0 or 'inf', got {alpha!r}")
    return float(alpha)


def _log_rates(payoffs: np.ndarray, alpha: float, m: int, eps: float) -> dict[int, np.ndarray]:
    """Per moving player ``k``: log fixation probabilities, laid out as
    :func:`~popgames.solvers.alpha_rank_stationary.fibers` plus ``[from, to]`` (``-inf``
    on the diagonal). Players with one action never move and have no entry."""
    shape = payoffs.shape[1:]
    tie = 1e-12 * max(1.0, float(payoffs.max() - payoffs.min()))
    out = {}
    for k, size in enumerate(shape):
        if size == 1:
            continue
        fitness = np.moveaxis(payoffs[k], k, -1)
        gain = fitness[..., None, :] - fitness[..., :, None]  # [..., a, b] = f(b) - f(a)
        if np.isinf(alpha):
            log_rho = np.where(gain > tie, np.log1p(-eps), np.log(eps))
            log_rho[np.abs(gain) <= tie] = np.log(0.5)
        else:
            log_rho = _log_fixation(gain, alpha, m)
        diag = np.arange(size)
        log_rho[..., diag, diag] = -np.inf
        out[k] = log_rho
    return out


def _strongly_connected(shape: tuple[int, ...], log_rho: dict[int, np.ndarray]) -> bool:
    """Whether the transitions with ``rho >= _STRONG`` connect every profile to every other.

    Breadth-first search from profile 0 forwards and backwards, a whole frontier per step
    on the fiber arrays (no edge list: a few boolean arrays of ``count * A_k`` bytes).
    """
    cut = np.log(_STRONG)
    strong = {k: r >= cut for k, r in log_rho.items()}
    for forward in (True, False):
        reached = np.zeros(shape, dtype=bool)
        reached.flat[0] = True
        while True:
            grown = reached.copy()
            for k, edge in strong.items():
                here = np.moveaxis(reached, k, -1)
                step = ((edge & here[..., :, None]).any(axis=-2) if forward
                        else (edge & here[..., None, :]).any(axis=-1))
                grown |= np.moveaxis(step, -1, k)
            if grown.all():
                break
            if np.array_equal(grown, reached):
                return False
            reached = grown
    return True


def _too_large(shape: tuple[int, ...]) -> str | None:
    count = int(np.prod(shape))
    if count <= MAX_PROFILES:
        return None
    return (f"{count} action profiles exceed the limit of {MAX_PROFILES} for alpharank "
            f"(about 4 s and 1.4 GB at the limit); use a smaller meta-game")


def _applies(payoffs: np.ndarray, options: Mapping[str, Any]) -> str | None:
    return _too_large(payoffs.shape[1:])


def _log_fixation(gain: np.ndarray, alpha: float, m: int) -> np.ndarray:
    """``log rho`` for payoff changes ``gain``, stable for any ``alpha * gain``."""
    u = alpha * gain
    out = np.full(u.shape, -np.log(m))
    up, down = u > 1e-14, u < -1e-14
    # u > 0: rho = (1 - e^-u) / (1 - e^-mu); both factors in (0, 1].
    out[up] = np.log(-np.expm1(-u[up])) - np.log(-np.expm1(-m * u[up]))
    # u < 0, v = -u: rho = e^{-(m-1)v} (1 - e^-v) / (1 - e^-mv).
    v = -u[down]
    out[down] = -(m - 1) * v + np.log(-np.expm1(-v)) - np.log(-np.expm1(-m * v))
    return out


def _stationary(shape: tuple[int, ...], log_rho: dict[int, np.ndarray],
                info: dict[str, Any]) -> np.ndarray:
    """The chain's stationary distribution by the regime's solver (see the module notes)."""
    count = int(np.prod(shape))
    log_eta = np.log(1.0 / sum(a - 1 for a in shape))
    pi = None
    if _strongly_connected(shape, log_rho):
        if count <= _LU_LIMIT:
            src, dst, log_r = edges(shape, log_rho)
            pi = stationary_lu(count, src, dst, np.exp(log_eta + log_r))
            info["solver"] = "sparse_lu"
        else:
            pi, facts = stationary_iterative(
                shape, {k: np.exp(log_eta + r) for k, r in log_rho.items()})
            info.update(solver="gmres", **facts)
    if pi is None:
        if count > _DENSE_LIMIT:
            why = (f"GMRES stalled (residual {info['residual']:.1e})" if "residual" in info else
                   f"transitions with fixation probability >= {_STRONG:g} do not connect it")
            raise SolverError(
                "alpharank",
                f"alpha={info['alpha']:g}: {why}, so the chain needs the exact log-space solve, "
                f"and {count} action profiles exceed its limit of {_DENSE_LIMIT} (about 15 s "
                f"at the limit); use alpha='inf', a smaller alpha or a smaller meta-game")
        src, dst, log_r = edges(shape, log_rho)
        pi = stationary_gth(count, src, dst, log_eta + log_r)
        info["solver"] = "gth_log"
    return pi


def alpharank(payoffs: np.ndarray, *, alpha: float | str = 100.0, population_size: int = 50,
              inf_alpha_eps: float = 0.01) -> Candidate:
    """alpha-Rank stationary distribution over pure profiles (multi-population model).

    Parameters
    ----------
    payoffs
        Payoff tensor ``[n, A_1, ..., A_n]``; player ``k``'s payoff is its fitness.
    alpha
        Ranking intensity (selection strength), ``>= 0``; default 100 as in
        OpenSpiel's ``alpharank.compute``. ``"inf"`` (or ``float("inf")``) gives the
        infinite-alpha chain perturbed by ``inf_alpha_eps``.
    population_size
        ``m``, individuals per population (default 50, OpenSpiel's default).
    inf_alpha_eps
        Noise of the infinite-alpha chain, in (0, 1); default 0.01 as in OpenSpiel.

    Returns
    -------
    Candidate
        ``joint``: the stationary distribution, shaped like the action profiles;
        ``marginals``: its per-player marginals (each player's ranking of its actions).
        ``info``: ``solver`` (``"sparse_lu"``, ``"gmres"`` or ``"gth_log"``), ``states``.

    Raises
    ------
    SolverError
        Above ``MAX_PROFILES`` profiles; above ``_DENSE_LIMIT`` profiles when the chain
        needs the log-space solve; on invalid options.
    """
    alpha = _parse_alpha(alpha)
    m = population_size
    if isinstance(m, bool) or not isinstance(m, Integral) or m < 2:
        raise SolverError("alpharank", f"option population_size must be an integer >= 2, got {m!r}")
    if not (isinstance(inf_alpha_eps, Real) and 0 < inf_alpha_eps < 1):
        raise SolverError("alpharank",
                          f"option inf_alpha_eps must be in (0, 1), got {inf_alpha_eps!r}")
    shape = payoffs.shape[1:]
    refusal = _too_large(shape)
    if refusal is not None:
        raise SolverError("alpharank", refusal)
    count = int(np.prod(shape))
    info: dict[str, Any] = {"alpha": alpha, "population_size": int(m), "states": count}
    if count == 1:
        return Candidate(marginals=[np.ones(1)] * len(shape), joint=np.ones(shape),
                         info={**info, "solver": "trivial"})

    log_rho = _log_rates(payoffs, alpha, int(m), float(inf_alpha_eps))
    with single_thread_blas():
        pi = _stationary(shape, log_rho, info)
    joint = pi.reshape(shape)
    marginals = [joint.sum(axis=tuple(a for a in range(len(shape)) if a != i))
                 for i in range(len(shape))]
    return Candidate(marginals=marginals, joint=joint, info=info)


register("alpharank", "alpharank", alpharank, concept="nash", exact=False, applies=_applies,
         summary="alpha-Rank stationary distribution over profiles (Omidshafiei et al. 2019)")
