"""The risk-averse equilibrium's payoff moments, their derivatives, and the KKT polish.

Used by :mod:`popgames.solvers.risk_averse`: :class:`_Moments` gives each player's mean
and covariance under a profile (and the gradient and Jacobian of its mean-variance
objective); :func:`_polish` solves all players' KKT equations on frozen supports.
"""

from __future__ import annotations

import numpy as np

from popgames.core.payoff_tensor import others_matrix

_POLISH_STEPS = 30    # Gauss-Newton steps per polish


class _Moments:
    """Each player's payoff moments under a profile, and the gradient of its objective.

    With ``T`` player ``i``'s payoff table against the others' joint actions ``b``
    (:func:`~popgames.core.payoff_tensor.others_matrix`) and ``p(b)`` their product
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

    def gradient(self, xs: list[np.ndarray], i: int, jacobian: bool = True
                 ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Gradient of player ``i``'s objective and (unless ``jacobian`` is false: ``{}``)
        its Jacobian in every player's strategy."""
        table, index = self.tables[i], self.index[i]
        factors, p = self._factors(xs, i)
        w = table.T @ xs[i]
        mu, v = table @ p, p @ w
        grad = 2.0 * table @ (p * w) - (2.0 * v + self.weight) * mu
        noise = self.noise[i] if self.noise is not None else None
        if noise is not None:
            grad = grad + 2.0 * (noise @ p) * xs[i]
        if not jacobian:  # the Jacobian costs O(A^3) per player; residuals need only grad
            return grad, {}
        centred = table - mu[:, None]
        jac = {i: 2.0 * (centred * p) @ centred.T}
        if noise is not None:
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
            res.append(moments.gradient(xs, i, jacobian=False)[0][s] - v[starts[-1] + i])
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

    nu0 = [moments.gradient(profile, i, jacobian=False)[0][s].mean()
           for i, s in enumerate(support)]
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
