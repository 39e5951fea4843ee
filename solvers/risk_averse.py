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

Each QP is compiled once per action count with cvxpy parameters: the objective is
``||R z||^2 + c' z`` with ``R = [Sigma^{1/2}; sqrt(rho) I]`` (from an
eigendecomposition) and ``c`` parameters, which keeps it DPP so repeated solves
skip canonicalisation. Clarabel solves it, OSQP is the fallback.
"""

from __future__ import annotations

import threading
import warnings
from numbers import Integral, Real
from typing import Any, Callable

import cvxpy as cp
import numpy as np

from popgames.analysis.exploitability import risk_averse_regrets
from popgames.errors import SolverError
from popgames.payoff_tensor import others_matrix
from popgames.solvers.registry import Candidate, register

#: (form, damping) per stage; damping is rho relative to the objective's scale.
_STAGES = (("jacobi", 0.01), ("extragradient", 0.1), ("extragradient", 1.0))
_PATIENCE = 30        # steps a stage gets to halve the best gap before the next one
_POLISH_EVERY = 10    # steps between polish attempts
_POLISH_SUPPORT = (1e-2, 1e-4)  # probability below which an action is frozen at zero
_POLISH_RADIUS = 0.1  # a polished profile further than this (max-norm) is not taken
_POLISH_STEPS = 30    # Gauss-Newton steps per polish
_ROUND_OFF = 1e-14    # gap (on payoffs scaled to [0, 1]) indistinguishable from zero
_QPS = threading.local()  # cvxpy problems are stateful: one cache per thread


class _ProxQP:
    """``min ||R z||^2 + c'z`` over the simplex, compiled once for ``n`` actions."""

    def __init__(self, n: int):
        self.z = cp.Variable(n)
        self.root = cp.Parameter((2 * n, n))
        self.lin = cp.Parameter(n)
        objective = cp.sum_squares(self.root @ self.z) + self.lin @ self.z
        self.problem = cp.Problem(cp.Minimize(objective), [self.z >= 0, cp.sum(self.z) == 1])
        # cvxpy's first solve compiles and its numbers differ from later (cached) solves in
        # the last digits; degenerate games amplify that. Compile now on dummy data so every
        # real solve takes the same path and the answer does not depend on call history.
        self.solve(np.eye(n), np.zeros(n), 1.0)

    def solve(self, cov: np.ndarray, lin: np.ndarray, rho: float) -> np.ndarray:
        w, v = np.linalg.eigh(cov)
        n = lin.shape[0]
        self.root.value = np.vstack([np.sqrt(np.clip(w, 0.0, None))[:, None] * v.T,
                                     np.sqrt(rho) * np.eye(n)])
        self.lin.value = lin
        statuses = []
        for solver, kwargs in (("CLARABEL", {}),
                               ("OSQP", {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iter": 100000})):
            try:
                with warnings.catch_warnings():  # "may be inaccurate": the gap check decides
                    warnings.simplefilter("ignore", UserWarning)
                    self.problem.solve(solver=solver, **kwargs)
            except cp.error.SolverError as exc:
                statuses.append(f"{solver}: {exc}")
                continue
            solved = self.problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
            if solved and self.z.value is not None:
                z = np.clip(self.z.value, 0.0, None)
                return z / z.sum()
            statuses.append(f"{solver}: status {self.problem.status}")
        raise SolverError("rae", "QP response failed: " + "; ".join(statuses))


def _qp(n: int) -> _ProxQP:
    cache = _QPS.__dict__.setdefault("problems", {})
    if n not in cache:
        cache[n] = _ProxQP(n)
    return cache[n]


class _Moments:
    """Each player's payoff moments under a profile, and the gradient of its objective.

    With ``T`` player ``i``'s payoff table against the others' joint actions ``b``
    (:func:`~popgames.payoff_tensor.others_matrix`) and ``p(b)`` their product
    probability: ``mu = T p`` and ``Sigma = T diag(p) T' - mu mu'``. The gradient of
    ``x' Sigma x - lambda mu' x`` in ``x = x_i`` is, with ``w = T' x`` and ``v = p' w``,
    ``g = 2 T (p * w) - (2 v + lambda) mu``. Its derivatives: ``2 Sigma`` in ``x_i``;
    in ``x_j`` through ``dp/dx_j = D_j`` (``D_j[b, c] = [b_j = c]`` times the product
    of the remaining players' probabilities):
    ``2 T (w * D_j) - (2 v + lambda) T D_j - 2 mu (w' D_j)``.
    """

    def __init__(self, payoffs: np.ndarray, mean_weight: float, variances: np.ndarray | None = None):
        n = payoffs.shape[0]
        self.weight = mean_weight
        self.tables = [others_matrix(payoffs, i) for i in range(n)]
        # Entry noise (sampled meta-games) adds x' diag(V p) x to the variance.
        self.noise = None if variances is None else [others_matrix(variances, i) for i in range(n)]
        self.others = [[j for j in range(n) if j != i] for i in range(n)]
        # Per player, the action each other player takes in joint column b.
        self.index = [dict(zip(o, np.unravel_index(np.arange(self.tables[i].shape[1]),
                                                   tuple(payoffs.shape[1 + j] for j in o))))
                      if o else {} for i, o in enumerate(self.others)]

    def _factors(self, xs: list[np.ndarray], i: int) -> tuple[dict[int, np.ndarray], np.ndarray]:
        factors = {j: xs[j][self.index[i][j]] for j in self.others[i]}
        p = np.prod(list(factors.values()), axis=0) if factors else np.ones(1)
        return factors, p

    def __call__(self, xs: list[np.ndarray], i: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean vector and covariance matrix of player ``i``'s pure-action payoffs."""
        table = self.tables[i]
        p = self._factors(xs, i)[1]
        mu = table @ p
        centred = table - mu[:, None]
        cov = (centred * p) @ centred.T
        if self.noise is not None:
            cov = cov + np.diag(self.noise[i] @ p)
        return mu, cov

    def gradient(self, xs: list[np.ndarray], i: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Gradient of player ``i``'s objective and its Jacobian in every player's strategy."""
        table, index = self.tables[i], self.index[i]
        factors, p = self._factors(xs, i)
        w = table.T @ xs[i]
        mu, v = table @ p, p @ w
        grad = 2.0 * table @ (p * w) - (2.0 * v + self.weight) * mu
        centred = table - mu[:, None]
        jac = {i: 2.0 * (centred * p) @ centred.T}
        noise = self.noise[i] if self.noise is not None else None
        if noise is not None:
            grad = grad + 2.0 * (noise @ p) * xs[i]
            jac[i] = jac[i] + 2.0 * np.diag(noise @ p)
        for j in self.others[i]:
            rest = np.prod([f for k, f in factors.items() if k != j], axis=0) \
                if len(factors) > 1 else np.ones_like(p)
            d = np.zeros((p.shape[0], xs[j].shape[0]))
            d[np.arange(p.shape[0]), index[j]] = rest
            jac[j] = 2.0 * table @ (w[:, None] * d) - (2.0 * v + self.weight) * (table @ d) \
                - 2.0 * np.outer(mu, w @ d)
            if noise is not None:
                jac[j] = jac[j] + 2.0 * xs[i][:, None] * (noise @ d)
        return grad, jac


def _responses(moments: _Moments, others: list[np.ndarray], anchor: list[np.ndarray],
               rho: float) -> list[np.ndarray]:
    """Every player's proximal QP response to ``others``, anchored at its ``anchor`` strategy."""
    out = []
    for i, a in enumerate(anchor):
        if a.shape[0] == 1:
            out.append(np.ones(1))
            continue
        mean, cov = moments(others, i)
        out.append(_qp(a.shape[0]).solve(cov, -moments.weight * mean - 2.0 * rho * a, rho))
    return out


def _polish(moments: _Moments, profile: list[np.ndarray], threshold: float) -> list[np.ndarray]:
    """Solve every player's KKT equations with the support of ``profile`` frozen.

    Unknowns: each player's probabilities on its support and the multiplier of its
    simplex constraint. Equations: on the support the gradient
    ``2 Sigma_i x_i - lambda mu_i`` equals the multiplier, and ``sum x_i = 1``.
    Neither ``x >= 0`` nor off-support optimality is imposed; the caller checks the gap.
    """
    n = len(profile)
    support = [np.flatnonzero(x > threshold) for x in profile]
    sizes = [len(s) for s in support]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    rows = starts + np.arange(n + 1)  # each player's block: |S_i| gradient rows + 1 sum row

    def unpack(v: np.ndarray) -> list[np.ndarray]:
        out = [np.zeros_like(x) for x in profile]
        for i, s in enumerate(support):
            out[i][s] = v[starts[i]:starts[i + 1]]
        return out

    def residual(v: np.ndarray) -> np.ndarray:
        xs, res = unpack(v), []
        for i, s in enumerate(support):
            res.append(moments.gradient(xs, i)[0][s] - v[starts[-1] + i])
            res.append([xs[i].sum() - 1.0])
        return np.concatenate(res)

    def jacobian(v: np.ndarray) -> np.ndarray:
        xs = unpack(v)
        out = np.zeros((rows[-1], len(v)))
        for i, s in enumerate(support):
            block = slice(rows[i], rows[i] + sizes[i])
            for j, d in moments.gradient(xs, i)[1].items():
                out[block, starts[j]:starts[j + 1]] = d[np.ix_(s, support[j])]
            out[block, starts[-1] + i] = -1.0
            out[rows[i] + sizes[i], starts[i]:starts[i + 1]] = 1.0
        return out

    nu0 = [moments.gradient(profile, i)[0][s].mean() for i, s in enumerate(support)]
    v0 = np.concatenate([x[s] for x, s in zip(profile, support)] + [np.array(nu0)])
    # Levenberg-Marquardt with a multiple of the identity as damping, each step a
    # least-squares solve of [J; sqrt(mu) I] d = [r; 0]. At a degenerate equilibrium
    # -- with lambda = 0 they often form a continuum -- J is rank-deficient and the
    # damped steps head for (about) the nearest solution, which does not depend on
    # how actions are ordered (MINPACK's LM pivots on column order and did).
    v, res = v0, residual(v0)
    mu = 1e-6
    for _ in range(_POLISH_STEPS):
        if not np.abs(res).max() > 1e-15:
            break
        jac = jacobian(v)
        damped = np.vstack([jac, np.sqrt(mu) * np.eye(len(v))])
        step = np.linalg.lstsq(damped, np.concatenate([res, np.zeros(len(v))]), rcond=None)[0]
        trial = residual(v - step)
        if np.linalg.norm(trial) < np.linalg.norm(res):
            v, res, mu = v - step, trial, max(mu / 10, 1e-15)
        else:
            mu *= 10
            if mu > 1e6:
                break
    xs = [np.clip(x, 0.0, None) for x in unpack(v)]
    # A probability that went negative means the frozen support was wrong; clipping
    # it leaves the caller a worse gap to reject.
    return [x / x.sum() if x.sum() > 0 else p for x, p in zip(xs, profile)]


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
        Stop once the summed risk-averse regret is at most ``tol`` times the largest
        player's payoff range (at least 1); the registry reports convergence against
        ``tol`` times the whole tensor's range, which is never smaller.

    Returns
    -------
    Candidate
        ``marginals``: the profile with the smallest gap seen. ``info``: ``gap``,
        ``iterations``, ``stage`` (the iteration form used last), ``qp_solves``,
        ``polished`` (whether the returned profile came from the polish).
    """
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
    goal = tol * max(1.0, span) / span ** 2
    scale = 1.0 + weight  # size of the objective's curvature plus slope on [0, 1] payoffs
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
         summary="risk-averse equilibrium (Slumbers et al. 2023): damped QP best responses")
