"""The errors popgames raises for bad input or failed computations.

Each carries one human-readable line naming where the problem is (file, field)
and why; the command-line drivers print that line and exit non-zero instead of
showing a traceback.
"""

from __future__ import annotations


class PopgamesError(Exception):
    """Base class: a problem the user can fix, reported as one line."""


class GameCardError(PopgamesError, ValueError):
    """A game card (``game.toml``) or payoff array is malformed.

    Parameters
    ----------
    source
        The file (or ``"<array>"``) the bad input came from.
    field
        Dotted name of the offending field, e.g. ``"payoffs.row"``.
    cause
        What is wrong with it.
    """

    def __init__(self, source: str, field: str, cause: str):
        self.source, self.field, self.cause = str(source), field, cause
        super().__init__(f"{self.source}: field '{field}': {cause}")


class SolverError(PopgamesError, RuntimeError):
    """A meta-game solve failed or could not be verified.

    ``attempts`` lists ``(backend, status)`` for every backend that was tried,
    so the message carries each backend's own status.
    """

    def __init__(self, solver: str, cause: str,
                 attempts: list[tuple[str, str]] | None = None):
        self.solver, self.cause = solver, cause
        self.attempts = list(attempts or [])
        tried = "; ".join(f"{b}: {s}" for b, s in self.attempts)
        super().__init__(f"solver '{solver}': {cause}" + (f" [{tried}]" if tried else ""))


class UnknownNameError(PopgamesError, KeyError):
    """A registry lookup (solver, game, oracle) used a name that does not exist."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} '{name}' (known: {', '.join(self.known)})")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
