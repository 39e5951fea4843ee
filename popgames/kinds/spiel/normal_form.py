"""The reduced normal form of a small OpenSpiel game, as a matrix game.

A pure strategy of a player chooses one action at each of its infostates; two choices
that differ only at infostates the player's own earlier actions rule out are the same
plan (identical payoffs against everything), so the *reduced* normal form keeps one of
them: a reduced pure strategy chooses an action exactly at the infostates its own
earlier choices leave reachable. Kuhn poker: the first player has 27 reduced plans (of
2^6 = 64 pure strategies; per card: bet, or check then fold or call), the second 64.

Payoffs come from the exact tree evaluation, vectorised: each plan's own reach of every
terminal (:func:`~popgames.kinds.spiel.tree.terminal_reach` on all plans at once), then one
contraction over players (:func:`~popgames.kinds.spiel.tree.expected_returns_many`).

Beyond :data:`MAX_NORMAL_FORM_PROFILES` profiles the tensor is refused: it grows as the
product of the players' plan counts (leduc: astronomically many), and population methods
(``python -m popgames.psro``) are the way to solve such games.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from popgames.core.errors import PopgamesError
from popgames.kinds.matrix.game import MatrixGame
from popgames.kinds.spiel.game import SpielGame, replay
from popgames.kinds.spiel.policies import expected_returns_many, terminal_reach
from popgames.kinds.spiel.tree import GameTree

#: Most pure-strategy profiles (cells of the payoff tensor, per player) built: 1e6 cells is
#: 8 MB per player and seconds for every default meta-solver; far more is out of reach of
#: the LP / CE solvers anyway.
MAX_NORMAL_FORM_PROFILES = 1_000_000


@dataclass(frozen=True)
class NormalForm:
    """A game's reduced normal form.

    Attributes
    ----------
    matrix
        The matrix game: payoffs ``[n, K_0, ..., K_{n-1}]``, action names the plans' labels
        (``"0:Pass 0pb:Bet 1:Bet ..."``: infostate, then action), the card's solver options.
    plans
        Per player ``[K_p, n_info_p]``: the action chosen at each own infostate, ``-1`` where
        the plan's own earlier actions rule the infostate out.
    game
        The OpenSpiel game (its ``tree`` is what the plans refer to).
    """

    matrix: MatrixGame
    plans: tuple[np.ndarray, ...]
    game: SpielGame

    def policies(self, player: int) -> np.ndarray:
        """``player``'s plans as policy blocks ``[K_p, n_info_p, A]`` (the lowest legal action
        where a plan chooses none: the plan never gets there)."""
        return _blocks(self.game.tree, player, self.plans[player])


def plan_count(tree: GameTree, player: int) -> int:
    """Number of reduced pure strategies of ``player`` (exact; may be astronomically large)."""
    n_p, n_act = tree.n_info(player), tree.n_actions
    legal = tree.legal[tree.info_slice(player)]
    pseq = tree.info_parent_seq[tree.info_slice(player)]
    count = [1] * ((n_p + 1) * n_act)            # per own sequence: plans of what lies below it
    for i in range(n_p - 1, -1, -1):            # deepest own level first (rows sorted by level)
        ways = sum(count[i * n_act + a] for a in np.flatnonzero(legal[i]))
        count[pseq[i]] *= ways
    return count[tree.empty_seq(player)]


def reduced_plans(tree: GameTree, player: int) -> np.ndarray:
    """All reduced pure strategies of ``player``, ``[K_p, n_info_p]`` (see :class:`NormalForm`)."""
    n_p, n_act = tree.n_info(player), tree.n_actions
    legal = tree.legal[tree.info_slice(player)]
    pseq = tree.info_parent_seq[tree.info_slice(player)]
    below = {}                                    # own sequence -> plans of the infostates below it
    for i in range(n_p - 1, -1, -1):
        options = []
        for a in np.flatnonzero(legal[i]):
            plans = below.pop(i * n_act + a, np.full((1, n_p), -1, np.int64)).copy()
            plans[:, i] = a
            options.append(plans)
        here = np.concatenate(options)
        parent = below.get(pseq[i])
        # Sibling infostates choose independently: a Cartesian product; their columns are
        # disjoint and unset entries are -1, so the maximum merges two partial plans.
        below[pseq[i]] = here if parent is None else np.maximum(
            parent[:, None, :], here[None, :, :]).reshape(-1, n_p)
    return below.get(tree.empty_seq(player), np.full((1, n_p), -1, np.int64))


def _blocks(tree: GameTree, player: int, plans: np.ndarray) -> np.ndarray:
    legal = tree.legal[tree.info_slice(player)]
    chosen = np.where(plans >= 0, plans, np.argmax(legal, axis=1))
    return np.eye(tree.n_actions)[chosen]                       # [K, n_info_p, A]


def _labels(tree: GameTree, player: int, plans: np.ndarray) -> tuple[str, ...]:
    """Per plan ``"infostate:action ..."``, infostates in string order (Kuhn: grouped by card)."""
    start = int(tree.info_start[player])
    names = {}
    for i in range(tree.n_info(player)):
        state = replay(tree, tree.info_history[start + i])
        names[i] = {int(a): state.action_to_string(player, int(a))
                    for a in np.flatnonzero(tree.legal[start + i])}
    order = sorted(range(tree.n_info(player)), key=lambda i: tree.info_strings[start + i])
    return tuple(" ".join(f"{tree.info_strings[start + i]}:{names[i][plan[i]]}"
                          for i in order if plan[i] >= 0) for plan in plans)


def _magnitude(n: int) -> str:
    """``n`` for print: exact when small, else ``~1.2e34`` (counts can exceed any float)."""
    digits = str(n)
    return digits if len(digits) <= 7 else f"~{digits[0]}.{digits[1]}e{len(digits) - 1}"


def normal_form(game: SpielGame, max_profiles: int = MAX_NORMAL_FORM_PROFILES) -> NormalForm:
    """The reduced normal form of ``game`` with exact payoffs.

    Raises
    ------
    PopgamesError
        If the number of pure-strategy profiles exceeds ``max_profiles`` (one line with
        the per-player counts and the limit).
    """
    tree = game.tree
    counts = [plan_count(tree, p) for p in range(tree.n_players)]
    total = prod(counts)
    if total > max_profiles:
        raise PopgamesError(
            f"{game.name}: its reduced normal form has {' x '.join(map(_magnitude, counts))} = "
            f"{_magnitude(total)} pure-strategy profiles, over the limit of {max_profiles:,} "
            f"(MAX_NORMAL_FORM_PROFILES); solve it by PSRO instead (python -m popgames.psro)")
    plans = tuple(reduced_plans(tree, p) for p in range(tree.n_players))
    reaches = [terminal_reach(tree, p, _blocks(tree, p, plans[p])) for p in range(tree.n_players)]
    payoffs = expected_returns_many(tree, reaches)
    matrix = MatrixGame(payoffs, name=game.name, players=tuple(f"p{p}" for p in range(tree.n_players)),
                        actions=tuple(_labels(tree, p, plans[p]) for p in range(tree.n_players)),
                        description=game.description, solver_options=game.solver_options,
                        psro=game.psro, source=game.source)
    return NormalForm(matrix, plans, game)
