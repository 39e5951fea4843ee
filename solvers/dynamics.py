"""Learning-dynamics meta-solvers: projected replicator dynamics, regret matching, uniform.

All three work for any number of players and return per-player mixed strategies.
They are approximate (``exact=False``): the registry reports the NashConv they
reached. Every iteration needs each player's deviation payoffs (its pure actions
against the others' current mixes); :class:`_Deviations` computes all players'
at once from tables laid out once per call, and the updates act on all players'
strategies as one padded array.

* ``replicator`` -- projected replicator dynamics (PRD, Lanctot et al. 2017,
  "A Unified Game-Theoretic Approach to Multiagent Reinforcement Learning",
  Sec. 3.1): Euler steps of the replicator equation, each projected onto the
  simplex with every probability at least ``gamma / |A_i|``; the average of the
  iterates is returned (in zero-sum games it is the average, not the last
  iterate, that approaches equilibrium).
* ``regret_matching`` -- simultaneous regret matching (Hart & Mas-Colell 2000,
  "A Simple Adaptive Procedure Leading to Correlated Equilibrium"); the average
  strategy is returned. ``variant="rm+"`` (the default) uses regret matching+
  (Tammelin 2014; clipped cumulative regrets) with linearly weighted averaging;
  ``alternating=True`` lets players update in turn (faster in zero-sum games).
* ``uniform`` -- every player mixes uniformly (PSRO's fictitious-play meta-solver).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Literal, Sequence

import numpy as np

from popgames.core.errors import SolverError
from popgames.solvers.registry import Candidate, register


class _Deviations:
    """Deviation payoffs ``u_i(a, x_-i)`` of every player against the others' strategies.

    Strategies are rows of an ``[n, A_max]`` array, zero-padded past each player's
    action count, so a step of the dynamics updates every player with a handful
    of array operations rather than a handful per player: in small meta-games the
    Python overhead, not the arithmetic, is the cost. For the same reason all
    players' deviation payoffs come from one batched product: two players share a
    block matrix ``[[0, A], [B', 0]]`` (one matrix-vector product); ``n`` players
    contract zero-padded tables ``[n, A_max, A_max^(n-1)]`` with the outer product
    of each player's opponents' strategies. When padding would inflate the tables
    more than 4x (very unequal action counts), each player's table is contracted
    on its own, one opponent at a time.
    """

    def __init__(self, payoffs: np.ndarray):
        n = payoffs.shape[0]
        self.n, self.sizes, width = n, payoffs.shape[1:], max(payoffs.shape[1:])
        self.others = [[j for j in range(n) if j != i] for i in range(n)]
        # Player i's table with axes [i, others in increasing order], contiguous.
        self.tables = [np.ascontiguousarray(np.moveaxis(payoffs[i], i, 0)) for i in range(n)]
        self.out = np.zeros((n, width))
        self.batched = None
        if n >= 2 and n * width ** n <= 4 * payoffs.size:
            padded = np.zeros((n, width) + (width,) * (n - 1))
            for i, table in enumerate(self.tables):
                padded[(i,) + tuple(slice(0, a) for a in table.shape)] = table
            if n == 2:  # row block i, column block j != i holds player i's table
                self.batched = np.zeros((2 * width, 2 * width))
                self.batched[:width, width:] = padded[0]
                self.batched[width:, :width] = padded[1]
            else:
                self.batched = padded.reshape(n, width, -1)
                self.index = np.array(self.others)  # [n, n-1]: each player's opponents

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """All players' deviation payoffs as an ``[n, A_max]`` array (0 in the padding)."""
        if self.batched is None:
            for i, size in enumerate(self.sizes):
                self.out[i, :size] = self.player(i, x)
            return self.out
        if self.n == 2:
            return (self.batched @ x.reshape(-1)).reshape(2, -1)
        outer = x[self.index[:, 0]]
        for c in range(1, self.n - 1):
            outer = (outer[:, :, None] * x[self.index[:, c]][:, None, :]).reshape(self.n, -1)
        return np.matmul(self.batched, outer[:, :, None])[:, :, 0]

    def player(self, i: int, x: np.ndarray) -> np.ndarray:
        """Player ``i``'s payoff for each of its actions against the others' strategies."""
        t = self.tables[i]
        for j in reversed(self.others[i]):  # the last axis is contracted first
            t = t.reshape(-1, self.sizes[j]) @ x[j, :self.sizes[j]]
        return t.reshape(-1)


def _check_iterations(name: str, iterations: int) -> int:
    if isinstance(iterations, bool) or not isinstance(iterations, Integral) or iterations < 1:
        raise SolverError(name, f"option iterations must be a positive integer, got {iterations!r}")
    return int(iterations)


def _project_floored(v: np.ndarray, floor: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean projection onto ``{x : sum x = 1, x >= floor}`` (sort-based, exact).

    ``v`` is ``[n, A_max]``; only the ``valid`` entries of a row take part, the rest
    stay 0. The coordinates kept above the floor are a prefix of the sorted ones
    (Held, Wolfe & Crowder 1974), found for all rows at once.
    """
    sizes = valid.sum(axis=1)
    w = np.where(valid, v - floor[:, None], -np.inf)
    u = -np.sort(-w, axis=1)
    rank = np.arange(1, v.shape[1] + 1)
    in_row = rank[None, :] <= sizes[:, None]
    u = np.where(in_row, u, 0.0)
    css = np.cumsum(u, axis=1) - (1.0 - sizes * floor)[:, None]
    kept = np.count_nonzero((u * rank > css) & in_row, axis=1)
    theta = css[np.arange(v.shape[0]), kept - 1] / kept
    return np.where(valid, np.maximum(w - theta[:, None], 0.0) + floor[:, None], 0.0)


def _initial(name: str, sizes: tuple[int, ...], initial: Sequence[Any] | None) -> np.ndarray:
    """Uniform strategies, or the user's ``initial`` profile after checking it, as padded rows."""
    x = np.zeros((len(sizes), max(sizes)))
    if initial is None:
        for i, a in enumerate(sizes):
            x[i, :a] = 1.0 / a
        return x
    try:
        rows = [np.asarray(m, dtype=np.float64) for m in initial]
    except (TypeError, ValueError) as exc:
        raise SolverError(name, f"option initial is not a list of vectors ({exc})") from None
    if [m.shape for m in rows] != [(a,) for a in sizes] or any(
            not np.isfinite(m).all() or m.min() < 0 or abs(m.sum() - 1) > 1e-9 for m in rows):
        raise SolverError(name, f"option initial must hold one distribution per player "
                                f"with sizes {list(sizes)}")
    for i, m in enumerate(rows):
        x[i, :m.shape[0]] = m
    return x


def _unpad(rows: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    return [r[:a] / r[:a].sum() for r, a in zip(rows, sizes)]


def replicator(payoffs: np.ndarray, *, iterations: int = 20000, dt: float = 0.1,
               gamma: float = 1e-6, average: float = 0.5,
               initial: Sequence[Any] | None = None) -> Candidate:
    """Projected replicator dynamics; returns the average of the late iterates.

    Parameters
    ----------
    payoffs
        Payoff tensor ``[n, A_1, ..., A_n]``.
    iterations
        Number of Euler steps.
    dt
        Step size, in units of the payoff range: each player's payoffs are shifted
        to start at 0 (replicator dynamics ignore such a shift) and all are divided
        by the largest player's range, so neither the payoff scale nor a constant
        added to a player's payoffs changes the iterates.
    gamma
        Exploration floor: every probability stays at least ``gamma / |A_i|``
        (keeps the dynamics off the boundary, where replicator would stall).
    average
        Fraction of the iterates ``x_0 .. x_T``, counted from the end, that are
        averaged. ``1.0`` averages the whole trajectory (OpenSpiel's default);
        the default ``0.5`` drops the transient, which otherwise dominates the
        NashConv of the average in games where the dynamics settle.
    initial
        Starting profile (default: uniform).

    Returns
    -------
    Candidate
        ``marginals`` = average strategy per player; ``info`` has the settings.
    """
    iterations = _check_iterations("replicator", iterations)
    if not (isinstance(dt, Real) and 0 < dt < np.inf):
        raise SolverError("replicator", f"option dt must be a positive number, got {dt!r}")
    if not (isinstance(gamma, Real) and 0 <= gamma < 1):
        raise SolverError("replicator", f"option gamma must be in [0, 1), got {gamma!r}")
    if not (isinstance(average, Real) and 0 < average <= 1):
        raise SolverError("replicator", f"option average must be in (0, 1], got {average!r}")
    sizes = payoffs.shape[1:]
    # Replicator dynamics ignore a constant added to a player's payoffs: shift each
    # player to start at 0, then divide by the largest player's range.
    low = payoffs.reshape(payoffs.shape[0], -1).min(axis=1)
    shifted = payoffs - low.reshape((-1,) + (1,) * (payoffs.ndim - 1))
    dev = _Deviations(shifted / (float(shifted.max()) or 1.0))
    x = _initial("replicator", sizes, initial)
    valid = np.arange(x.shape[1])[None, :] < np.array(sizes)[:, None]
    floor = gamma / np.array(sizes, dtype=float)
    # Iterates x_0 .. x_T; the last `kept` of them are averaged.
    kept = max(1, int(np.ceil(average * (iterations + 1))))
    first_kept = iterations + 1 - kept
    total = x.copy() if first_kept == 0 else np.zeros_like(x)
    for t in range(1, iterations + 1):
        u = dev(x)
        step = x + dt * x * (u - (x * u).sum(axis=1, keepdims=True))
        # The step preserves the sum only up to round-off, and that error compounds
        # over many steps: renormalise. Projection is needed only near the floor.
        step /= step.sum(axis=1, keepdims=True)
        x = (_project_floored(step, floor, valid)
             if (step < floor[:, None])[valid].any() else step)
        if t >= first_kept:
            total += x
    marginals = _unpad(total, sizes)
    return Candidate(marginals=marginals, info={"iterations": iterations, "dt": dt,
                                                "gamma": gamma, "averaged": kept})


def regret_matching(payoffs: np.ndarray, *, iterations: int = 20000,
                    variant: Literal["rm", "rm+"] = "rm+", alternating: bool = False,
                    initial: Sequence[Any] | None = None) -> Candidate:
    """Regret matching for N players; returns the average strategy.

    Parameters
    ----------
    payoffs
        Payoff tensor ``[n, A_1, ..., A_n]``.
    iterations
        Number of rounds (each player updates once per round).
    variant
        ``"rm"``: Hart & Mas-Colell's regret matching with the uniform average of
        the strategies played (the empirical joint play converges to the set of
        coarse correlated equilibria). ``"rm+"`` (default): regret matching+
        (cumulative regrets clipped at zero; Tammelin 2014) with the average
        weighted by round number -- smaller NashConv on every game we measured.
    alternating
        ``False`` (default): simultaneous updates, every player responds to the
        others' strategies of the previous round. ``True``: players update in
        turn, each seeing the others' newest strategies (the CFR+ scheme); in
        two-player zero-sum games this reaches a NashConv 10-100x smaller for
        the same number of rounds.
    initial
        Strategies played in the first round (default: uniform).

    Returns
    -------
    Candidate
        ``marginals`` = average strategy per player.
    """
    iterations = _check_iterations("regret_matching", iterations)
    if variant not in ("rm", "rm+"):
        raise SolverError("regret_matching",
                          f"option variant must be 'rm' or 'rm+', got {variant!r}")
    plus = variant == "rm+"
    sizes = payoffs.shape[1:]
    n = len(sizes)
    dev = _Deviations(payoffs)
    x = _initial("regret_matching", sizes, initial)
    valid = np.arange(x.shape[1])[None, :] < np.array(sizes)[:, None]
    uniform_rows = valid / np.array(sizes, dtype=float)[:, None]
    regret = np.zeros_like(x)
    total = np.zeros_like(x)
    # Rows that move together: each player in turn when alternating, else everyone.
    groups: list[Any] = [[i] for i in range(n)] if alternating else [slice(None)]
    # Cumulative regrets within round-off of zero count as zero: regret matching jumps
    # to a pure strategy on any positive regret, so without this a 1e-17 rounding
    # residue (which depends on summation order) could decide the play.
    flat = payoffs.reshape(n, -1)
    noise = 1e-12 * max(1.0, float((flat.max(axis=1) - flat.min(axis=1)).max()))
    row_u = np.zeros((1, x.shape[1]))
    for t in range(1, iterations + 1):
        weight = float(t) if plus else 1.0
        for g in groups:
            if isinstance(g, slice):
                u = dev(x)
            else:
                row_u[0, :sizes[g[0]]] = dev.player(g[0], x)
                u = row_u
            xg = x[g]
            total[g] += weight * xg
            r = regret[g] + np.where(valid[g], u - (xg * u).sum(axis=1, keepdims=True), 0.0)
            regret[g] = np.maximum(r, 0.0) if plus else r
            pos = np.where(regret[g] > noise * t, regret[g], 0.0)
            mass = pos.sum(axis=1, keepdims=True)
            x[g] = np.where(mass > 0, pos / np.where(mass > 0, mass, 1.0), uniform_rows[g])
    marginals = _unpad(total, sizes)
    return Candidate(marginals=marginals, info={"iterations": iterations, "variant": variant,
                                                "alternating": bool(alternating)})


def uniform(payoffs: np.ndarray) -> Candidate:
    """Every player mixes uniformly over its actions (PSRO's fictitious-play meta-solver)."""
    return Candidate(marginals=[np.full(a, 1.0 / a) for a in payoffs.shape[1:]])


register("replicator", "replicator", replicator, concept="nash", exact=False,
         summary="projected replicator dynamics (Lanctot et al. 2017), average strategy")
register("regret_matching", "regret_matching", regret_matching, concept="nash", exact=False,
         summary="simultaneous regret matching (+), average strategy")
register("uniform", "uniform", uniform, concept="nash", exact=False,
         summary="uniform mixture over each player's population")
