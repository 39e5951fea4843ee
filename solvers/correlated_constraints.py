"""Gain matrices of (coarse) correlated-equilibrium constraints.

A joint distribution ``x`` over action profiles (flattened in the payoff tensor's C
order) is an epsilon-CE iff ``G x <= epsilon`` row by row (Aumann 1974): one row per
(player i, recommendation a, deviation b != a) holding ``u_i(b, a_-i) - u_i(a, a_-i)`` on
the profiles that recommend ``a``. For a CCE (Moulin & Vial 1978) one row per (player i,
deviation b) holds ``u_i(b, a_-i) - u_i(a)`` on every profile.

The exact solvers over these rows work on a *working set* of them, because at an optimum
only a few hundred of the thousands of rows bind (2-player, 50 actions: ~400 of 4900):
:mod:`popgames.solvers.correlated_highs` (max welfare / min epsilon by HiGHS with
constraint generation, and the polytope's face) and
:mod:`popgames.solvers.correlated_newton` (max Gini / max entropy by dual Newton).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from popgames.core.payoff_tensor import others_matrix

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass(frozen=True)
class GainRows:
    """Constraint rows ``G x <= epsilon`` scaled so that ``max |G| = 1``.

    ``group[k]`` is the (player, recommendation) pair of row ``k`` for a CE, the player
    for a CCE; ``scale`` is the factor divided out (payoff units per unit of ``G``).
    """

    matrix: sp.csr_matrix | np.ndarray
    group: np.ndarray
    scale: float


def ce_rows(payoffs: np.ndarray) -> GainRows:
    """Correlated-equilibrium gain rows as a sparse matrix (built without profile loops)."""
    import scipy.sparse as sp

    shape = payoffs.shape[1:]
    flat = np.arange(int(np.prod(shape))).reshape(shape)
    data, cols, lengths, group = [], [], [], []
    for i, a_i in enumerate(shape):
        table = others_matrix(payoffs, i)                      # [A_i, prod(A_-i)]
        where = np.moveaxis(flat, i, 0).reshape(a_i, -1)       # profile index of (a, a_-i)
        rec, dev = np.nonzero(~np.eye(a_i, dtype=bool))
        data.append((table[dev] - table[rec]).ravel())
        cols.append(where[rec].ravel())
        lengths.append(np.full(len(rec), table.shape[1]))
        group.append(sum(shape[:i]) + rec)
    indptr = np.r_[0, np.cumsum(np.concatenate(lengths))]
    matrix = sp.csr_matrix((np.concatenate(data), np.concatenate(cols), indptr),
                           shape=(len(indptr) - 1, flat.size))
    return _scaled(matrix, np.concatenate(group))


def cce_rows(payoffs: np.ndarray) -> GainRows:
    """Coarse-correlated-equilibrium gain rows as a dense matrix (one row per deviation)."""
    shape = payoffs.shape[1:]
    blocks = []
    for i, a_i in enumerate(shape):
        table = others_matrix(payoffs, i)
        gain = (table[:, None, :] - table[None, :, :]).reshape(a_i, a_i, *shape[:i], *shape[i + 1:])
        blocks.append(np.moveaxis(gain, 1, 1 + i).reshape(a_i, -1))
    return _scaled(np.concatenate(blocks), np.repeat(np.arange(len(shape)), shape))


def _scaled(matrix: sp.csr_matrix | np.ndarray, group: np.ndarray) -> GainRows:
    import scipy.sparse as sp

    values = matrix.data if sp.issparse(matrix) else matrix
    scale = float(np.abs(values).max(initial=0.0)) or 1.0
    return GainRows(matrix / scale, group, scale)
