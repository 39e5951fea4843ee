"""The types every layer shares: :class:`Game`, :class:`Oracle`, :class:`Learner`, :class:`Kind`.

Declared here so that no caller learns what an object can do by probing it. Optional
capabilities are part of the protocol with a default: an oracle or learner class
subclasses its protocol explicitly and inherits the defaults it does not override
(``shares_parameters = False``, ``iteration_metrics`` returning ``{}``, ...). A kind of
game is one :class:`Kind` record (see :mod:`popgames.kinds.registry`): its card parser,
its oracles by name, and what reports and :func:`popgames.exploitability` ask of its games.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from popgames.core.errors import PopgamesError

#: How exact oracles choose among equally good best responses (see popgames.kinds.matrix.oracle).
TIE_BREAKS = ("tremble", "lowest")

Population = Sequence[Sequence[Any]]   # per player, its policies
Opponents = Sequence[tuple[Any, float]]  # FXP: (policy of the other seat, weight); weights sum to 1


@runtime_checkable
class Game(Protocol):
    """A loaded game card: what loops, drivers and reports may ask of any game.

    ``kind`` is the card's ``kind`` (the :class:`Kind` record's name); ``source`` the card
    file (``None`` for a game built in code); the mappings are the card's tables
    (``[solvers.<name>]``, ``[psro]``, ``[fxp]``, ``[oracle]``), empty when absent.
    """

    kind: ClassVar[str]
    name: str
    source: str | None
    solver_options: Mapping[str, Mapping[str, Any]]
    psro: Mapping[str, Any]
    fxp: Mapping[str, Any]
    oracle_options: Mapping[str, Any]

    @property
    def n_players(self) -> int: ...


@runtime_checkable
class PayoffTable(Protocol):
    """A game given by its payoff tensor ``payoffs [n_players, A_1, ..., A_n]`` (matrix and
    team games): what the solvers take besides a bare array."""

    payoffs: np.ndarray
    source: str | None


@dataclass(frozen=True)
class Entries:
    """Meta-game entries of ``len(profiles)`` profiles: payoff ``means [len, n_players]``;
    for sampled entries also the sample ``variances`` (same shape) and episode ``counts [len]``."""

    means: np.ndarray
    variances: np.ndarray | None = None
    counts: np.ndarray | None = None

    @property
    def sampled(self) -> bool:
        return self.variances is not None


@dataclass(frozen=True)
class Response:
    """A best response: the ``policy``, its ``value`` against the opponents it answers
    (exact, or estimated by a learned oracle), and what training it cost (``stats``,
    JSON-ready; empty for exact oracles)."""

    policy: Any
    value: float
    stats: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OracleSettings:
    """What a run fixes for its oracle: the root ``seed``, the torch ``device`` (``None``:
    ``cuda`` when present), the exact oracles' ``tie_break`` and the ``options`` over the
    card's ``[oracle]`` table (learned oracles)."""

    seed: int = 0
    device: str | None = None
    tie_break: str = "tremble"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tie_break not in TIE_BREAKS:
            raise PopgamesError(f"tie_break {self.tie_break!r}: expected one of {', '.join(TIE_BREAKS)}")


class Oracle(Protocol):
    """What PSRO asks of a game: seed policies, meta-game entries, best responses, storage.

    ``exact``: values and best responses are exact, so the loop's NashConv is exact; a
    learned oracle (``exact = False``) gives estimates, and its NashConv is a lower bound.
    """

    n_players: int
    exact: bool = True
    #: One policy trained for every seat at once (:meth:`shared_best_response`).
    shares_parameters: bool = False
    #: The oracle solves its own meta-game (:meth:`solve_meta_game`, :meth:`meta_best_responses`):
    #: a mean-field game's mixtures have payoffs that are not linear in the shares, so no
    #: payoff tensor holds its restricted game.
    solves_meta_game: bool = False

    def initial_policies(self, player: int) -> list[Any]:
        """The policies ``player``'s population starts with."""
        ...

    def evaluate(self, population: Population, profiles: list[tuple[int, ...]]) -> Entries:
        """Payoffs of the ``profiles`` (tuples of population indices, one per player)."""
        ...

    def best_response(self, population: Population, player: int, opponents: np.ndarray) -> Response:
        """A best response of ``player`` to ``opponents``, a distribution over the other
        players' population profiles (their axes in player order)."""
        ...

    def best_responses(self, population: Population,
                       requests: Sequence[tuple[int, np.ndarray]]) -> list[Response]:
        """:meth:`best_response` for each ``(player, opponents)`` request; an oracle whose
        responses are expensive runs them at once (as plain-data tasks)."""
        return [self.best_response(population, player, opponents) for player, opponents in requests]

    def shared_best_response(self, population: Population,
                             opponents: Sequence[np.ndarray]) -> list[Response]:
        """One policy for every seat, answering each seat's ``opponents[seat]``: one
        :class:`Response` per seat (the same policy, that seat's value)."""
        raise PopgamesError(f"{type(self).__name__} does not share parameters across seats")

    def solve_meta_game(self, population: Population, meta_solver: str, options: Mapping[str, Any]) -> Any:
        """The restricted equilibrium (``marginals``, ``payoffs``, verified ``gap``, ``solver``,
        ``concept`` and each member's ``deviation_payoffs`` against it), where
        :attr:`solves_meta_game`."""
        raise PopgamesError(f"{type(self).__name__} leaves its meta-game to the solver registry")

    def meta_best_responses(self, population: Population, solution: Any) -> list[Response]:
        """One best response per player to :meth:`solve_meta_game`'s ``solution``."""
        raise PopgamesError(f"{type(self).__name__} leaves its meta-game to the solver registry")

    def iteration_metrics(self, population: Population, joint: np.ndarray,
                          iteration: int) -> dict[str, float]:
        """The game's own metrics of a meta-strategy (a joint over population profiles)."""
        return {}

    def save(self, player: int, policies: Sequence[Any]) -> dict[str, np.ndarray]:
        """``player``'s policies as named arrays (a checkpoint holds no pickle)."""
        ...

    def load(self, player: int, arrays: Mapping[str, np.ndarray]) -> list[Any]:
        """Inverse of :meth:`save`, reading ``player``'s arrays out of a whole checkpoint."""
        ...

    def same(self, a: Any, b: Any) -> bool:
        """Whether two policies are the same (duplicate best responses join once)."""
        ...


@dataclass(frozen=True)
class TrainJob:
    """One training of an FXP iteration: continue ``policy`` (a main) against ``opponents``,
    or, with ``policy = None``, train a fresh counter; ``generator`` is the job's own."""

    policy: Any
    opponents: Opponents
    player: int
    generator: np.random.Generator
    iteration: int


class Learner(Protocol):
    """What fictitious cross-play trains through (two seats; policies are opaque objects)."""

    n_players: int
    symmetric: bool  # the game is symmetric and a policy can sit in either seat

    def initial_policy(self, player: int, generator: np.random.Generator) -> Any: ...

    def train(self, policy: Any, opponents: Opponents, player: int,
              generator: np.random.Generator, iteration: int) -> Any:
        """Improve ``policy`` (in seat ``player``) against the mixture ``opponents``."""
        ...

    def best_response(self, opponents: Opponents, player: int,
                      generator: np.random.Generator, iteration: int) -> Any:
        """A (counter) policy for seat ``player`` against the mixture ``opponents``."""
        ...

    def train_all(self, jobs: Sequence[TrainJob]) -> list[Any]:
        """Each job's new policy (:meth:`train` or :meth:`best_response`); a learner whose
        training is expensive runs the jobs at once (as plain-data tasks)."""
        return [self.train(j.policy, j.opponents, j.player, j.generator, j.iteration) if j.policy is not None
                else self.best_response(j.opponents, j.player, j.generator, j.iteration) for j in jobs]

    def payoffs(self, profiles: Sequence[tuple[Any, Any]],
                generator: np.random.Generator | None = None) -> np.ndarray:
        """Expected payoffs ``[len(profiles), 2]`` of (seat-0 policy, seat-1 policy) pairs."""
        ...

    def exploitability(self, profile: tuple[Any, Any]) -> tuple[float, list[float]] | None:
        """NashConv and per-seat gains of a profile, or ``None`` where not computable."""
        ...

    def describe(self, profile: tuple[Any, Any]) -> dict[str, Any]:
        """Game-specific metrics of the current mains, added to each record."""
        return {}

    def to_array(self, policies: Sequence[Any]) -> np.ndarray: ...

    def from_array(self, array: np.ndarray) -> list[Any]: ...


class MetricsRecord:
    """A loop's per-iteration record: its JSON-ready ``metrics`` read as attributes
    (``record.exploitability``, ``record.iteration``, ...). Loops' record dataclasses
    subclass it and hold a ``metrics`` dict."""

    metrics: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["metrics"][name]
        except KeyError:
            raise AttributeError(name) from None


OracleFactory = Callable[[Game, OracleSettings], Oracle]
#: FXP learner constructor: (game, options, seed, device) -> Learner.
LearnerFactory = Callable[[Game, Mapping[str, Any], int, "str | None"], Learner]


@dataclass(frozen=True)
class Kind:
    """A kind of game: everything the loops, the driver and reports ask of it by name.

    Attributes
    ----------
    name
        The card's ``kind``.
    parse
        ``parse(card, source) -> Game`` for a card dict read from ``source``.
    oracles
        PSRO oracles by name (``[psro] oracle`` / ``--oracle`` chooses); ``default_oracle``
        is used when none is named (``None``: the kind has no PSRO oracle).
    check_oracle_options
        ``check(game, options, blame)`` raises a one-line error for a bad ``[oracle]`` /
        ``--oracle-option`` value (``blame``: key -> where it was given); ``None``: the
        kind's oracles take no options.
    default_learner
        The FXP learner its games get unless one is named (``popgames.loops.fxp.options``).
    facts
        What a run's report shows of the game beyond its name (``game_facts.json``).
    exploitability
        ``exploitability(game, profile, concept) -> (value, per_player, kind)`` for
        :func:`popgames.exploitability`; ``None`` where the kind has no exact one.
    loops
        The command-line loops that run its games (``psro``, ``fxp``, ``meanfield``).
    torch_device
        Whether its oracles and learners run on a torch device (``--device auto`` is then
        resolved, which imports torch; other kinds run on the CPU without it).
    """

    name: str
    parse: Callable[[dict, str], Game]
    oracles: Mapping[str, OracleFactory]
    default_oracle: str | None
    check_oracle_options: Callable[[Game, Mapping[str, Any], Mapping[str, str]], None] | None = None
    default_learner: str | None = None
    facts: Callable[[Game], dict[str, Any]] = lambda game: {}
    exploitability: Callable[[Game, Any, str | None], tuple[float, np.ndarray, str]] | None = None
    loops: tuple[str, ...] = ("psro", "fxp")
    torch_device: bool = False
