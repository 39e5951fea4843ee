"""An OpenSpiel game by name (``kind = "openspiel"`` cards), its flattened tree, and policy
conversion to/from OpenSpiel.

A policy here is an array ``[n_infostates, n_actions]`` over the rows of
:class:`popgames.kinds.spiel.tree.GameTree` (see that module); OpenSpiel's
``TabularPolicy`` keys its rows by information-state string, which each tree
row also carries, so conversion is a row permutation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pyspiel
from open_spiel.python import policy as os_policy

from popgames.core.errors import GameCardError
from popgames.kinds.cards import require, shared_tables, typed
from popgames.kinds.spiel.best_response import mixture_policy as mixture_block
from popgames.kinds.spiel.policies import player_rows
from popgames.kinds.spiel.tree import GameTree, build_tree


def replay(tree: GameTree, history: tuple[int, ...]) -> pyspiel.State:
    """The state of ``tree.game`` reached by the actions ``history`` (e.g. ``tree.info_history[i]``)."""
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
    states = {str(i).zfill(width): replay(tree, h) for i, h in enumerate(tree.info_history)}
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


def from_tabular_policy(tree: GameTree, policy: Any, source: str = "<policy>") -> np.ndarray:
    """Rows ``[n_infostates, A]`` of an OpenSpiel policy of ``tree.game``, checked.

    Accepts what researchers hold: a python ``open_spiel.python.policy.TabularPolicy``
    (read by information-state string), any other python ``Policy`` (asked at one
    history of each infostate), and any ``pyspiel.Policy`` -- ``pyspiel.TabularPolicy``
    (e.g. ``pyspiel.kuhn_poker.get_optimal_policy``), ``UniformRandomPolicy``, ... --
    asked with a state (its lookup is by the acting player's infostate string).

    Raises
    ------
    GameCardError
        If an infostate has no row, or a row is not a distribution on its legal actions.
    """
    if isinstance(policy, os_policy.TabularPolicy):
        missing = [s for s in tree.info_strings if s not in policy.state_lookup]
        if missing:
            raise GameCardError(source, f"policy[{missing[0]!r}]",
                                f"the TabularPolicy has no row for this infostate "
                                f"({len(missing)} of {tree.n_infostates} missing)")
        index = np.array([policy.state_lookup[s] for s in tree.info_strings], np.int64)
        rows = np.asarray(policy.action_probability_array, np.float64)[index]
        rows = np.where(tree.legal, rows, 0.0)   # python tables keep zeros on illegal actions
    elif isinstance(policy, (os_policy.Policy, pyspiel.Policy)):
        rows = np.zeros(tree.legal.shape)
        native = isinstance(policy, pyspiel.Policy)   # C++ policies take the state alone
        for i, h in enumerate(tree.info_history):
            state = replay(tree, h)
            probs = (policy.action_probabilities(state) if native
                     else policy.action_probabilities(state, int(tree.info_player[i])))
            for a, p in probs.items():
                if not 0 <= a < tree.n_actions:
                    raise GameCardError(source, f"policy[{tree.info_strings[i]!r}]",
                                        f"action {a} is not an action of {tree.game}")
                rows[i, a] = p
    else:
        raise GameCardError(source, "policy", f"expected an OpenSpiel policy "
                            f"(python Policy or pyspiel.Policy), got {type(policy).__name__}")
    return check_policy_rows(tree, rows, source)


def check_policy_rows(tree: GameTree, rows: Any, source: str = "<policy>") -> np.ndarray:
    """``rows`` as a float joint policy ``[n_infostates, A]`` after checking it.

    Accepts the joint array or a list of per-player blocks ``[n_info_p, A]``.
    Entries within ``1e-9`` below zero (clipped to zero) and rows within ``1e-6`` of
    summing to one are accepted; rows are otherwise returned exactly as given.

    Raises
    ------
    GameCardError
        On a wrong shape, a non-finite or negative entry, mass on an illegal action, or
        a row that does not sum to one; the message names the infostate.
    """
    if isinstance(rows, (list, tuple)) and len(rows) == tree.n_players and all(
            np.shape(b) == (tree.n_info(p), tree.n_actions) for p, b in enumerate(rows)):
        rows = np.concatenate([np.asarray(b, np.float64) for b in rows])
    try:
        rows = np.array(rows, np.float64)
    except (TypeError, ValueError) as exc:
        raise GameCardError(source, "policy", f"not a numeric array ({exc})") from None
    if rows.shape != tree.legal.shape:
        raise GameCardError(source, "policy", f"expected shape {tree.legal.shape} "
                            f"([n_infostates, n_actions]) or per-player blocks, got {rows.shape}")
    bad = ~np.isfinite(rows).all(axis=1) | (rows < -1e-9).any(axis=1) \
        | (np.abs(np.where(tree.legal, 0.0, rows)) > 1e-9).any(axis=1) \
        | (np.abs(np.where(tree.legal, rows, 0.0).sum(axis=1) - 1.0) > 1e-6)
    if bad.any():
        i = int(np.argmax(bad))
        shown = {a: float(p) for a, p in enumerate(rows[i]) if p != 0 or tree.legal[i, a]}
        raise GameCardError(source, f"policy[{tree.info_strings[i]!r}]",
                            f"not a distribution on the legal actions "
                            f"{np.flatnonzero(tree.legal[i]).tolist()}: {shown}")
    return np.where(tree.legal, np.clip(rows, 0.0, None), 0.0)


def mixture_policy(game: SpielGame, populations: Sequence[Sequence[np.ndarray]],
                   weights: Sequence[np.ndarray]) -> os_policy.TabularPolicy:
    """The behaviour policy realisation-equivalent to a mixture of population policies.

    Parameters
    ----------
    game
        The game the policies belong to.
    populations
        Per player, its population: policy blocks ``[n_info_p, A]`` (as PSRO stores
        them) or joint policies ``[n_infostates, A]`` (the player's rows are used).
    weights
        Per player, the mixture weights ``[len(populations[p])]`` (a meta-strategy's
        marginals), non-negative and summing to one.

    Returns
    -------
    os_policy.TabularPolicy
        At each infostate of player ``p``, the average of the members' rows weighted by
        ``weights[p][k]`` times member ``k``'s own reach of the infostate (Kuhn's
        theorem: same outcome distribution as drawing a member once per game); where no
        weighted member reaches it, the weight-averaged rows.
    """
    tree = game.tree
    if len(populations) != tree.n_players or len(weights) != tree.n_players:
        raise GameCardError("<mixture>", "populations", f"expected {tree.n_players} populations "
                            f"and weight vectors, got {len(populations)} and {len(weights)}")
    blocks = []
    for p, (pop, w) in enumerate(zip(populations, weights)):
        w = np.asarray(w, np.float64)
        if w.shape != (len(pop),) or len(pop) == 0:
            raise GameCardError("<mixture>", f"weights[{p}]", f"expected {len(pop)} weights "
                                f"(one per population member), got shape {w.shape}")
        if not np.isfinite(w).all() or (w < -1e-9).any() or abs(w.sum() - 1.0) > 1e-6:
            raise GameCardError("<mixture>", f"weights[{p}]", "not a probability distribution")
        try:
            members = np.stack([player_rows(tree, p, m) for m in pop])
        except ValueError as exc:
            raise GameCardError("<mixture>", f"populations[{p}]", str(exc)) from None
        blocks.append(mixture_block(tree, members, np.clip(w, 0.0, None), p))
    return game.to_tabular_policy(np.concatenate(blocks))


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
    description, solver_options, psro, fxp, oracle_options, source
        As on :class:`popgames.MatrixGame`: the card's text, ``[solvers.*]``, ``[psro]``,
        ``[fxp]`` and ``[oracle]`` tables, and the card file.
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
    fxp: Mapping[str, Any] = field(default_factory=dict)
    oracle_options: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    game: pyspiel.Game = field(init=False, repr=False)
    kind: ClassVar[str] = "openspiel"

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

    def from_tabular_policy(self, tabular: Any) -> np.ndarray:
        """Rows ``[n_infostates, A]`` of an OpenSpiel policy, python or pyspiel (tabular or not)."""
        return from_tabular_policy(self.tree, tabular)


def parse_openspiel(card: dict, src: str) -> Any:
    """Build a :class:`~popgames.kinds.spiel.game.SpielGame` from a ``kind = "openspiel"`` card.

    ``game`` is OpenSpiel's short name; ``[params]`` its parameters. The game tree is
    flattened (and checked for perfect recall) when the card is read, so a game the
    exact oracle cannot handle is reported here rather than mid-run.
    """
    spiel_name = require(card, "game", str, src)
    params = typed(card.get("params", {}), dict, src, "params")
    if spiel_name not in pyspiel.registered_names():
        raise GameCardError(src, "game", f"OpenSpiel has no game '{spiel_name}'")
    known = pyspiel.load_game(spiel_name).get_parameters()
    for key, value in params.items():
        if key not in known:
            raise GameCardError(src, f"params.{key}", f"'{spiel_name}' has no such parameter "
                                f"(known: {', '.join(sorted(known))})")
        typed(value, (bool, int, float, str), src, f"params.{key}")
    try:
        game = SpielGame(spiel_name, params, **shared_tables(card, src))
    except pyspiel.SpielError as exc:
        raise GameCardError(src, "params", f"OpenSpiel rejected the game ({exc})") from None
    try:
        game.tree
    except GameCardError as exc:
        raise GameCardError(src, "game", exc.cause) from None
    return game
