"""Risk-averse equilibrium (RAE) of an N-player matrix game.

Slumbers et al., "A Game-Theoretic Framework for Managing Risk in Multi-Agent
Systems", ICML 2023. Player ``i`` treats its pure strategies as assets whose
returns are random through the others' mixed strategies: mean ``mu_i`` and
covariance ``Sigma_i`` (:func:`popgames.analysis.exploitability.risk_moments`).
It minimises the convex objective ``pi' Sigma_i pi - lambda mu_i' pi`` over its
simplex (``lambda`` = ``mean_weight``); an RAE is a profile where every player's
strategy is such a minimiser given the others. Its regret is the Frank-Wolfe gap
of that objective (:func:`~popgames.analysis.exploitability.risk_averse_regrets`).

How it is computed -- a damped best-response iteration with a local polish:

1. From uniform strategies, every player simultaneously replaces its strategy
   by its *proximal* QP response ``argmin_z f_i(z; x_-i) + rho ||z - x_i||^2``.
   The proximal term damps the iteration like fictitious play's averaging does,
   and, unlike the plain QP response, it is unique: with ``lambda = 0`` the QP
   response is often a whole face of the simplex (a player can zero its variance
   in many ways), and jumping around that face made the plain iteration erratic.
   If the gap stalls, the iteration switches to an extragradient form (each
   player responds to the others' look-ahead responses) with more damping; that
   form converges where the plain one cycles (monotone-like games, large
   ``lambda``).
2. Every few steps the support of the current profile (and of the average of
   recent iterates) is frozen and the KKT equations of all players' QPs on
   those supports are solved by least squares. Near an equilibrium this lands
   on it to round-off, where the iteration alone approaches boundary points
   only sublinearly (as in the stag hunt).

Each QP response goes straight to Clarabel (OSQP is the fallback; both, and SciPy's
sparse matrices, are imported on first use), and the whole iteration runs with
single-threaded BLAS. Cost per step grows as ``A^3`` (the QP and the polish's least
squares); :data:`MAX_ACTIONS` bounds the size accepted. The payoff moments and the
polish live in :mod:`popgames.solvers.risk_averse_polish`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, Callable, Mapping

import numpy as np

from popgames.core.errors import SolverError
from popgames.core.regrets import risk_averse_regrets
from popgames.solvers.blas import single_thread_blas
from popgames.solvers.registry import Candidate, register
from popgames.solvers.risk_averse_polish import _Moments, _polish

#: (form, damping) per stage; damping is rho relative to the objective's scale.
_STAGES = (("jacobi", 0.01), ("extragradient", 0.1), ("extragradient", 1.0))
_PATIENCE = 30        # steps a stage gets to halve the best gap before the next one
_POLISH_EVERY = 10    # steps between polish attempts
_POLISH_SUPPORT = (1e-2, 1e-4)  # probability below which an action is frozen at zero
_POLISH_RADIUS = 0.1  # a polished profile further than this (max-norm) is not taken
_ROUND_OFF = 1e-14    # gap (on payoffs scaled to [0, 1]) indistinguishable from zero
#: Most actions a player may have. Each step solves a QP per player (O(A^3)) and the polish
#: least-squares systems over the supports: 2-player n x n games took 1.2 / 3.5 / 17 / 27 /
#: 40 s at n = 50 / 100 / 200 / 250 / 300 (standard normal payoffs, default options; at
#: these sizes the iteration mostly stops at a gap near 1e-3, unconverged). Games with more
#: players and fewer actions are cheap (3 x 50 actions: 0.7 s; 5 x 10: 0.6 s).
MAX_ACTIONS = 250


def _too_large(payoffs: np.ndarray, options: Mapping[str, Any] | None = None) -> str | None:
    actions = max(payoffs.shape[1:])
    if actions <= MAX_ACTIONS:
        return None
    return (f"rae: a player with {actions} actions exceeds the limit of {MAX_ACTIONS} actions "
            f"per player (about 27 s at the limit); use a smaller meta-game")


def _prox_response(cov: np.ndarray, lin: np.ndarray, rho: float) -> np.ndarray:
    """``argmin z' (Sigma + rho I) z + lin' z`` over the simplex: Clarabel, OSQP as fallback.

    Both are called directly on the QP (``P`` dense ``n x n``, upper triangle): the cvxpy
    model this replaces (``||R z||^2`` as a second-order cone, ``R`` from an eigensolve)
    took 6x longer per call at 100-200 actions and stopped at 1e-8 instead of 1e-10.
    """
    import clarabel
    import scipy.sparse as sp

    n = lin.shape[0]
    P = sp.csc_matrix(np.triu(2.0 * (0.5 * (cov + cov.T) + rho * np.eye(n))))
    simplex = sp.vstack([sp.csc_matrix(np.ones((1, n))), sp.identity(n, format="csc")],
                        format="csc")  # rows: sum z = 1, then z >= 0
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(n)]
    signs = sp.diags(np.r_[1.0, -np.ones(n)])  # Clarabel: A z + s = b, s in the cones
    solution = clarabel.DefaultSolver(P, lin, (signs @ simplex).tocsc(), np.r_[1.0, np.zeros(n)],
                                      cones, settings).solve()
    z, status = np.asarray(solution.x), str(solution.status)
    if status not in ("Solved", "AlmostSolved") or not np.isfinite(z).all():
        import osqp

        fallback = osqp.OSQP()
        fallback.setup(P=P, q=lin, A=simplex, l=np.r_[1.0, np.zeros(n)],
                       u=np.r_[1.0, np.full(n, np.inf)], eps_abs=1e-10, eps_rel=1e-10,
                       max_iter=100_000, verbose=False)
        with warnings.catch_warnings():  # osqp 1.x: "default of raise_error will change"
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            result = fallback.solve()
        first, (z, status) = status, (np.asarray(result.x), str(result.info.status))
        if status not in ("solved", "solved inaccurate") or not np.isfinite(z).all():
            raise SolverError("rae", f"QP response failed: Clarabel {first}; OSQP {status}")
    z = np.clip(z, 0.0, None)
    return z / z.sum()


def _responses(moments: _Moments, others: list[np.ndarray], anchor: list[np.ndarray],
               rho: float) -> list[np.ndarray]:
    """Every player's proximal QP response to ``others``, anchored at its ``anchor`` strategy."""
    out = []
    for i, a in enumerate(anchor):
        if a.shape[0] == 1:
            out.append(np.ones(1))
            continue
        mean, cov = moments(others, i)
        out.append(_prox_response(cov, -moments.weight * mean - 2.0 * rho * a, rho))
    return out


@single_thread_blas()  # hundreds of small eigh / lstsq calls (see popgames.solvers.blas)
def risk_averse_equilibrium(payoffs: np.ndarray, *, mean_weight: float = 0.0,
                            iterations: int = 200, tol: float = 1e-6,
                            entry_variances: np.ndarray | None = None) -> Candidate:
    """A risk-averse equilibrium, by damped best-response iteration from uniform plus polish.

    Parameters
    ----------
    payoffs
        Payoff tensor ``[n, A_1, ..., A_n]``.
    mean_weight
        ``lambda >= 0``: weight of the expected payoff against the variance. ``0``
        (default) minimises variance only; large values approach best responses.
    iterations
        Maximum number of iteration steps (each is one or two QP solves per player).
    entry_variances
        For sampled meta-games: each entry's outcome variance, shape of ``payoffs``.
        A player's risk then includes the noise of the entries it plays into, not
        only the spread of their means over the others' mixed strategies.
    tol
        Stop once the summed risk-averse regret is at most ``tol`` times
        ``span**2 + mean_weight * span`` (``span``: the largest player's payoff range);
        the registry reports convergence against ``tol`` times the same with the whole
        tensor's range, which is never smaller.

    Returns
    -------
    Candidate
        ``marginals``: the profile with the smallest gap seen. ``info``: ``gap``,
        ``iterations``, ``stage`` (the iteration form used last), ``qp_solves``,
        ``polished`` (whether the returned profile came from the polish).

    Raises
    ------
    SolverError
        If a player has more than :data:`MAX_ACTIONS` actions, or on invalid options.
    """
    refusal = _too_large(payoffs)
    if refusal is not None:
        raise SolverError("rae", refusal)
    if isinstance(iterations, bool) or not isinstance(iterations, Integral) or iterations < 1:
        raise SolverError("rae", f"option iterations must be a positive integer, "
                                 f"got {iterations!r}")
    if not (isinstance(mean_weight, Real) and not isinstance(mean_weight, bool) and 0 <= mean_weight < np.inf):
        raise SolverError("rae", f"option mean_weight must be a number >= 0, got {mean_weight!r}")
    if not (isinstance(tol, Real) and tol > 0):
        raise SolverError("rae", f"option tol must be a positive number, got {tol!r}")
    variances = None
    if entry_variances is not None:
        variances = np.asarray(entry_variances, dtype=np.float64)
        if variances.shape != payoffs.shape or not np.isfinite(variances).all() or variances.min() < 0:
            raise SolverError("rae", f"option entry_variances must be finite, >= 0 and shaped like the "
                                     f"payoffs {payoffs.shape}, got shape {variances.shape}")
    # Shift each player's payoffs to start at 0 (moments ignore the shift) and divide
    # by the largest player's range: the objective becomes f / span^2 with mean weight
    # lambda / span, so the QPs are well scaled, and nothing depends on a constant
    # added to one player's payoffs. The stopping goal uses span, not the registry's
    # global range (which a constant does change): it is never looser than the
    # registry's, so a converged answer here is reported converged there.
    low = payoffs.reshape(payoffs.shape[0], -1).min(axis=1)
    game = payoffs - low.reshape((-1,) + (1,) * (payoffs.ndim - 1))
    span = float(game.max())
    if span == 0.0 and (variances is None or not variances.any()):
        # Every player's payoff is constant and noiseless: every profile is riskless.
        return Candidate(marginals=[np.full(a, 1.0 / a) for a in payoffs.shape[1:]],
                         info={"gap": 0.0, "iterations": 0})
    span = span or float(np.sqrt(variances.max()))  # constant means, noisy entries
    game /= span
    weight = float(mean_weight) / span
    scale = 1.0 + weight  # size of the objective's curvature plus slope on [0, 1] payoffs
    # The registry's tolerance, tol * (R^2 + mean_weight R) for the tensor's range R >= span,
    # in these units (no floor: a game in units of 1e-9 is held to the same standard).
    goal = tol * scale
    if variances is not None:
        variances = variances / span ** 2
    gap_of: Callable[[list[np.ndarray]], float] = (
        lambda prof: float(risk_averse_regrets(game, prof, weight, variances).sum()))

    x = [np.full(a, 1.0 / a) for a in game.shape[1:]]
    best: dict[str, Any] = {"gap": gap_of(x), "profile": x, "polished": False}
    history: list[list[np.ndarray]] = []
    stage, stage_start, reference, qp_solves = 0, 0, best["gap"], 0

    def consider(profile: list[np.ndarray], polished: bool) -> None:
        # Gaps at round-off level all count as zero: the first such profile is kept, so
        # round-off (which differs when actions are relabelled) does not pick the answer.
        gap = gap_of(profile)
        if gap < best["gap"] and best["gap"] > _ROUND_OFF:
            best.update(gap=gap, profile=profile, polished=polished)

    moments = _Moments(game, weight, variances)

    def polish_near(profile: list[np.ndarray]) -> None:
        tried: set[tuple[bytes, ...]] = set()
        for threshold in _POLISH_SUPPORT:
            key = tuple((p > threshold).tobytes() for p in profile)
            if key in tried:  # same support as a smaller threshold: same system
                continue
            tried.add(key)
            candidate = _polish(moments, profile, threshold)
            if max(np.abs(c - p).max() for c, p in zip(candidate, profile)) <= _POLISH_RADIUS:
                consider(candidate, True)

    step = 0
    for step in range(1, iterations + 1 if best["gap"] > goal else 1):
        form, damping = _STAGES[stage]
        rho = damping * scale
        if form == "jacobi":
            x = _responses(moments, x, x, rho)
        else:
            look_ahead = _responses(moments, x, x, rho)
            x = _responses(moments, look_ahead, x, rho)
        qp_solves += (1 if form == "jacobi" else 2) * len(x)
        history.append(x)
        consider(x, False)
        if step % _POLISH_EVERY == 0 and best["gap"] > goal:
            polish_near(x)
            if form != "jacobi" and len(history) >= 4:  # average recent iterates: cycles
                recent = history[len(history) // 2:]
                mean = [np.mean([h[i] for h in recent], axis=0) for i in range(len(x))]
                consider(mean, False)
                polish_near(mean)
        if best["gap"] <= goal:
            break
        if (step - stage_start) % _PATIENCE == 0:
            if best["gap"] > 0.5 * reference:  # stalled: more damping, restart from the best
                if stage == len(_STAGES) - 1:
                    break
                stage, stage_start, history, x = stage + 1, step, [], list(best["profile"])
            reference = best["gap"]
    polish_near(best["profile"])  # pure-looking answers become exactly pure here
    return Candidate(marginals=best["profile"],
                     info={"gap": best["gap"] * span ** 2, "iterations": step,
                           "stage": _STAGES[stage][0], "qp_solves": qp_solves,
                           "polished": best["polished"], "mean_weight": mean_weight})


register("rae", "prox_best_response", risk_averse_equilibrium, concept="rae", exact=False,
         applies=_too_large,
         summary="risk-averse equilibrium (Slumbers et al. 2023): damped QP best responses")
