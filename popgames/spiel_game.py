"""An OpenSpiel game by name, its flattened tree, and policy conversion to/from OpenSpiel.

A policy here is an array ``[n_infostates, n_actions]`` over the rows of
:class:`popgames.spiel_tree.GameTree` (see that module); OpenSpiel's
``TabularPolicy`` keys its rows by information-state string, which each tree
row also carries, so conversion is a row permutation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

import numpy as np
import pyspiel
from open_spiel.python import policy as os_policy

from popgames.spiel_tree import GameTree, build_tree


def _replay(tree: GameTree, history: tuple[int, ...]) -> pyspiel.State:
    state = tree.game.new_initial_state()
    for a in history:
        state.apply_action(a)
    return state


def tabular_template(tree: GameTree) -> os_policy.TabularPolicy:
    """A uniform ``TabularPolicy`` of ``tree.game`` whose rows are in the tree's order.

    Built from one stored history per infostate, so it skips OpenSpiel's enumeration
    of all states (seconds on larger games).
    """
    width = len(str(len(tree.info_history)))
    states = {str(i).zfill(width): _replay(tree, h) for i, h in enumerate(tree.info_history)}
    return os_policy.TabularPolicy(tree.game, states=states)


def to_tabular_policy(tree: GameTree, rows: np.ndarray,
                      template: os_policy.TabularPolicy | None = None) -> os_policy.TabularPolicy:
    """The joint policy ``rows`` ``[n_infostates, A]`` as an OpenSpiel ``TabularPolicy``.

    ``template`` (any ``TabularPolicy`` of ``tree.game``, e.g. ``TabularPolicy(game)``)
    fixes the layout of the result's rows; its own probabilities are not changed.
    """
    rows = np.asarray(rows, np.float64)
    if rows.shape != tree.legal.shape:
        raise ValueError(f"policy shape {rows.shape} != {tree.legal.shape}")
    template = template if template is not None else tabular_template(tree)
    out = template.__copy__(copy_action_probability_array=True)
    index = np.array([template.state_lookup[s] for s in tree.info_strings], np.int64)
    out.action_probability_array[index] = rows
    return out


def from_tabular_policy(tree: GameTree, policy: os_policy.Policy) -> np.ndarray:
    """Rows ``[n_infostates, A]`` of an OpenSpiel policy of ``tree.game``.

    A ``TabularPolicy`` is read by information-state string; any other
    ``open_spiel.python.policy.Policy`` is asked at one history of each infostate.
    """
    if isinstance(policy, os_policy.TabularPolicy):
        try:
            index = np.array([policy.state_lookup[s] for s in tree.info_strings], np.int64)
        except KeyError as exc:
            raise ValueError(f"TabularPolicy has no row for infostate {exc.args[0]!r}") from None
        rows = np.asarray(policy.action_probability_array, np.float64)[index]
        return np.where(tree.legal, rows, 0.0)
    rows = np.zeros(tree.legal.shape)
    for i, h in enumerate(tree.info_history):
        state = _replay(tree, h)
        for a, p in policy.action_probabilities(state, int(tree.info_player[i])).items():
            rows[i, a] = p
    return rows


@dataclass(frozen=True, eq=False)
class SpielGame:
    """An OpenSpiel game loaded by name, with its flattened tree built on first use.

    Attributes
    ----------
    spiel_name
        OpenSpiel short name (``"leduc_poker"``), or a full string with parameters
        (``"kuhn_poker(players=3)"``) when ``params`` is empty.
    params
        Game parameters passed to ``pyspiel.load_game``.
    name
        The card's name (``"kuhn_poker_3p"``); defaults to OpenSpiel's description.
    description, solver_options, psro, source
        As on :class:`popgames.MatrixGame`: the card's text, ``[solvers.*]`` and
        ``[psro]`` tables, and the card file.
    game
        The loaded game; simultaneous-move games are converted to turn-based, which
        is the game every policy array and ``TabularPolicy`` refers to.
    """

    spiel_name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    description: str = ""
    solver_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    psro: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    game: pyspiel.Game = field(init=False, repr=False)

    def __post_init__(self) -> None:
        game = pyspiel.load_game(self.spiel_name, dict(self.params)) if self.params \
            else pyspiel.load_game(self.spiel_name)
        if game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
            game = pyspiel.convert_to_turn_based(game)
        object.__setattr__(self, "game", game)
        if not self.name:
            object.__setattr__(self, "name", str(game))

    @cached_property
    def tree(self) -> GameTree:
        """The flattened game tree (built on first access, about 40 ms for leduc)."""
        return build_tree(self.game)

    @cached_property
    def _template(self) -> os_policy.TabularPolicy:
        return tabular_template(self.tree)

    @property
    def n_players(self) -> int:
        return self.game.num_players()

    def to_tabular_policy(self, policy_rows: np.ndarray) -> os_policy.TabularPolicy:
        """Joint policy rows ``[n_infostates, A]`` as an OpenSpiel ``TabularPolicy``."""
        return to_tabular_policy(self.tree, policy_rows, self._template)

    def from_tabular_policy(self, tabular: os_policy.Policy) -> np.ndarray:
        """Rows ``[n_infostates, A]`` of an OpenSpiel policy (tabular or not)."""
        return from_tabular_policy(self.tree, tabular)
