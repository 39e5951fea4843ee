"""Plain-array helpers on payoff tensors of shape ``[n_players, A_1, ..., A_n]``.

Every solver and every exploitability measure reduces to a handful of tensor
contractions; they live here once so that solvers and their verification share
no code path beyond these (deliberately simple) primitives.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from popgames.core.errors import GameCardError
from popgames.core.protocols import PayoffTable


def as_payoff_tensor(game: Any, source: str = "<array>") -> np.ndarray:
    """Return the float64 payoff tensor of ``game`` after checking it.

    ``game`` may be a :class:`~popgames.MatrixGame` (any
    :class:`~popgames.core.protocols.PayoffTable`) or an array ``[n_players, A_1, ..., A_n]``.

    Raises
    ------
    GameCardError
        If the shape is not ``[n, A_1..A_n]`` with ``n >= 1`` and every ``A_i >= 1``,
        if any entry is NaN or infinite, or if the payoff range ``max - min`` overflows.
    """
    raw = game
    if isinstance(game, PayoffTable):
        raw, source = game.payoffs, str(game.source or source)
    try:
        payoffs = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GameCardError(source, "payoffs", f"not a numeric array ({exc})") from None
    if payoffs.ndim < 2 or payoffs.shape[0] != payoffs.ndim - 1:
        raise GameCardError(source, "payoffs",
                            f"expected shape [n_players, A_1, ..., A_n], got {payoffs.shape}")
    if min(payoffs.shape[1:]) < 1:
        raise GameCardError(source, "payoffs", f"a player has no actions: shape {payoffs.shape}")
    if not np.isfinite(payoffs).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(payoffs))[0])
        raise GameCardError(source, "payoffs", f"non-finite entry {payoffs[bad]} at index {bad}")
    with np.errstate(over="ignore"):
        span = payoffs.max() - payoffs.min()
    if not np.isfinite(span):
        # Every gap and tolerance is measured against the payoff range; rescale the game.
        raise GameCardError(source, "payoffs", f"payoff range {payoffs.min():.3g} .. "
                            f"{payoffs.max():.3g} overflows float64 (max - min is infinite)")
    return payoffs


def num_actions(payoffs: np.ndarray) -> tuple[int, ...]:
    """Actions per player."""
    return tuple(payoffs.shape[1:])


def outer(marginals: Sequence[np.ndarray]) -> np.ndarray:
    """Joint distribution of independent per-player mixed strategies (of none: ``1``)."""
    joint = np.ones(())
    for m in marginals:
        joint = np.multiply.outer(joint, np.asarray(m, dtype=np.float64))
    return joint


def joint_marginals(joint: np.ndarray) -> list[np.ndarray]:
    """Per-player marginals of a joint distribution over action profiles."""
    axes = range(joint.ndim)
    return [joint.sum(axis=tuple(a for a in axes if a != i)) for i in axes]


def expected_payoffs(payoffs: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Expected payoff of every player under a joint distribution."""
    n = payoffs.shape[0]
    return payoffs.reshape(n, -1) @ np.asarray(joint, dtype=np.float64).reshape(-1)


def others_matrix(payoffs: np.ndarray, player: int) -> np.ndarray:
    """``payoffs[player]`` as a matrix ``[A_player, prod(A_others)]``.

    Rows are the player's pure actions; columns enumerate the others' joint
    actions in C order of the remaining axes.
    """
    return np.moveaxis(payoffs[player], player, 0).reshape(payoffs.shape[1 + player], -1)


def others_distribution(marginals: Sequence[np.ndarray], player: int) -> np.ndarray:
    """Product distribution of everyone but ``player``, flattened like :func:`others_matrix`."""
    rest = [np.asarray(m, dtype=np.float64) for i, m in enumerate(marginals) if i != player]
    return outer(rest).reshape(-1) if rest else np.ones(1)


def deviation_payoffs(payoffs: np.ndarray, marginals: Sequence[np.ndarray],
                      player: int) -> np.ndarray:
    """Payoff of each pure action of ``player`` against the others' mixed strategies."""
    table = payoffs[player]
    # Contract the other players' axes from the last to the first so axis indices stay valid.
    for other in reversed(range(len(marginals))):
        if other != player:
            table = np.tensordot(table, np.asarray(marginals[other], dtype=np.float64),
                                 axes=([other], [0]))
    return table
