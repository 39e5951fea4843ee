"""The meta-solver registry: names -> backends, with verification of every answer.

A registry entry is a solution concept users ask for by name (``"nash"``,
``"cce"``, ``"rae"``, ...). It lists backends in a declared fallback order; each
backend is a plain function on the payoff tensor returning a :class:`Candidate`.
:func:`solve` tries the applicable backends in order, verifies each answer
(:mod:`popgames.solvers.verification`, with code the backends do not share) and
returns the first verified one as a :class:`Solution` whose ``solver`` field
names the backend that answered. Exact backends whose answer fails verification
count as failures; when all fail, :class:`~popgames.core.errors.SolverError` carries
every backend's status. Approximate backends (dynamics, alpha-rank) report the
gap they reached and whether it met the tolerance. Option values are checked against
the backends' annotations (:mod:`popgames.solvers.option_types`).
"""

from __future__ import annotations

import inspect
import math
import time
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from popgames.core.errors import GameCardError, PopgamesError, SolverError, UnknownNameError
from popgames.core.payoff_tensor import as_payoff_tensor, expected_payoffs
from popgames.core.protocols import Game
from popgames.solvers.option_types import conforms, describe
from popgames.solvers.verification import DEFAULT_TOL, tolerance, verify

#: Errors of numerical backends (cvxpy's "problem data has inf", overflow in a QP's squared
#: payoffs) that mean "this backend cannot answer", recorded like any other failure.
BACKEND_ERRORS = (PopgamesError, ValueError, ArithmeticError)


@dataclass(frozen=True)
class Candidate:
    """What a backend returns before verification.

    ``marginals`` (per-player mixed strategies), ``joint`` (a distribution over
    action profiles), or both when the joint is not their product (alpha-rank's
    stationary distribution): the joint is then kept as given and the marginals must
    be its marginals. ``info`` carries backend facts worth reporting (status,
    iterations, objective value).
    """

    marginals: list[np.ndarray] | None = None
    joint: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Solution:
    """A verified meta-game solution.

    Attributes
    ----------
    marginals
        Per-player mixed strategies (alpha-rank: its joint's marginals), or ``None``
        for joint-only concepts (CE, CCE).
    joint
        Distribution over joint actions (the outer product for product concepts;
        alpha-rank's stationary distribution).
    payoffs
        Expected payoff per player under ``joint``.
    gap
        The verified regret: NashConv for Nash-type answers, CE/CCE gap for
        correlated ones, summed risk-averse regret for ``rae``.
    per_player_gap
        Each player's part of ``gap``.
    converged
        Whether ``gap`` is within ``tolerance`` (always true for exact backends).
    tolerance
        Absolute tolerance the gap was checked against.
    solver
        ``"<entry>/<backend>"``: which backend answered.
    concept
        What ``gap`` measures: ``"nash"``, ``"ce"``, ``"cce"`` or ``"rae"``.
    info
        Backend facts (status, iterations, objective, wall time in seconds).
    """

    marginals: list[np.ndarray] | None
    joint: np.ndarray
    payoffs: np.ndarray
    gap: float
    per_player_gap: np.ndarray
    converged: bool
    tolerance: float
    solver: str
    concept: str
    info: dict[str, Any]


Applies = Callable[[np.ndarray, Mapping[str, Any]], "str | None"]


@dataclass(frozen=True)
class Backend:
    """One way of computing an entry's concept.

    ``applies(payoffs, options)`` returns ``None`` when the backend can handle the
    input, or a short reason why not (reported if every backend is skipped).
    """

    name: str
    fn: Callable[..., Candidate]
    exact: bool
    applies: Applies
    params: frozenset[str]
    types: Mapping[str, Any] = field(default_factory=dict)   # option -> annotation


@dataclass
class Entry:
    """A registry name: its concept, backends in fallback order and documented options."""

    name: str
    concept: str
    summary: str
    backends: list[Backend] = field(default_factory=list)

    @property
    def options(self) -> set[str]:
        return set().union(*(b.params for b in self.backends)) | {"tol"}


_REGISTRY: dict[str, Entry] = {}
_CONCEPTS = ("nash", "ce", "cce", "rae")


def _always(payoffs: np.ndarray, options: Mapping[str, Any]) -> None:
    return None


def register(name: str, backend: str, fn: Callable[..., Candidate], *, concept: str,
             exact: bool, applies: Applies = _always, summary: str = "") -> None:
    """Add ``backend`` to the end of entry ``name``'s fallback list.

    ``fn(payoffs, **options)`` receives only the options its keyword-only parameters
    name; their annotations (``float``, ``int``, ``bool``, ``str``, ``Literal[...]`` and
    unions of these) are the values :func:`check_options` accepts.
    """
    if concept not in _CONCEPTS:
        raise ValueError(f"concept must be one of {_CONCEPTS}, got {concept!r}")
    entry = _REGISTRY.setdefault(name, Entry(name, concept, summary))
    if entry.concept != concept:
        raise ValueError(f"entry {name!r} verifies {entry.concept!r}, not {concept!r}")
    entry.summary = entry.summary or summary
    params = frozenset(name for name, p in inspect.signature(fn).parameters.items()
                       if p.kind is inspect.Parameter.KEYWORD_ONLY)
    hints = typing.get_type_hints(fn)
    entry.backends.append(Backend(backend, fn, exact, applies, params,
                                  {k: hints[k] for k in params if k in hints}))


def names() -> list[str]:
    """All registry names, sorted."""
    return sorted(_REGISTRY)


def entry(name: str) -> Entry:
    """The registry entry for ``name``; :class:`UnknownNameError` if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("meta-solver", name, list(_REGISTRY)) from None


def check_options(name: str, options: Mapping[str, Any], source: str = "<call>") -> None:
    """Raise :class:`GameCardError` if ``options`` has a name no backend of ``name`` takes,
    or a value one of the backends taking it would not accept (by its annotation)."""
    ent = entry(name)
    known = ent.options
    for key, value in options.items():
        field_name = f"solvers.{name}.{key}"
        if key not in known:
            raise GameCardError(source, field_name,
                                f"unknown option for '{name}' (accepted: {', '.join(sorted(known))})")
        if key == "tol":
            if not conforms(value, float) or not value > 0:
                raise GameCardError(source, field_name, f"expected a positive number, got {value!r}")
            continue
        for backend in ent.backends:
            kind = backend.types.get(key)
            if kind is not None and not conforms(value, kind):
                raise GameCardError(source, field_name, f"expected {describe(kind)}, got "
                                    f"{type(value).__name__} {value!r}")


def solve(game: Any, name: str = "nash", **options: Any) -> Solution:
    """Solve a matrix game or meta-game for the concept registered as ``name``.

    Parameters
    ----------
    game
        A :class:`~popgames.MatrixGame`, an object with ``payoffs``, or a payoff
        tensor ``[n_players, A_1, ..., A_n]``.
    name
        A registry name (see :func:`names`).
    **options
        Solver options; a game card's ``[solvers.<name>]`` table gives defaults.
        ``tol`` (default 1e-6) is the verification tolerance relative to the payoff range
        (see :func:`tolerance`).

    Raises
    ------
    SolverError
        If no backend produced an answer that passed verification.
    """
    ent = entry(name)
    payoffs = as_payoff_tensor(game)
    card = game.solver_options.get(name, {}) if isinstance(game, Game) else {}  # a game's [solvers.*]
    merged = {**dict(card), **options}
    check_options(name, merged)
    tol = tolerance(payoffs, float(merged.get("tol", DEFAULT_TOL)), ent.concept,
                    float(merged.get("mean_weight", 0.0)))
    attempts: list[tuple[str, str]] = []
    for backend in ent.backends:
        reason = backend.applies(payoffs, merged)
        if reason is not None:
            attempts.append((backend.name, f"skipped ({reason})"))
            continue
        start = time.perf_counter()
        try:
            cand = backend.fn(payoffs, **{k: v for k, v in merged.items() if k in backend.params})
            marginals, joint, gaps = verify(payoffs, cand.marginals, cand.joint, ent.concept, merged)
        except BACKEND_ERRORS as exc:
            attempts.append((backend.name, f"{type(exc).__name__}: {exc}"
                             if not isinstance(exc, PopgamesError) else str(exc)))
            continue
        gap = float(gaps.sum())
        if not math.isfinite(gap):     # overflow inside the backend or the check
            attempts.append((backend.name, f"gap is {gap}"))
            continue
        if backend.exact and gap > tol:
            attempts.append((backend.name, f"unverified: gap {gap:.3g} > tolerance {tol:.3g}"))
            continue
        info = {**cand.info, "seconds": time.perf_counter() - start}
        if attempts:
            info["fallbacks"] = list(attempts)
        return Solution(marginals, joint, expected_payoffs(payoffs, joint), gap, gaps,
                        gap <= tol, tol, f"{name}/{backend.name}", ent.concept, info)
    raise SolverError(name, "no backend produced a verified answer", attempts)
