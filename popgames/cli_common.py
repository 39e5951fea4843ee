"""What every command-line driver shares: one-line errors and ``KEY=VALUE`` options."""

from __future__ import annotations

import sys
import tomllib
from typing import Any, Callable

from popgames.errors import PopgamesError


def parse_option(text: str) -> tuple[str, Any]:
    """``"mean_weight=0.5"`` -> ``("mean_weight", 0.5)``; values are read as TOML, else kept as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PopgamesError(f"option '{text}': expected KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a CLI ``main``; a :class:`PopgamesError` becomes one line on stderr and exit code 2."""
    try:
        return main(argv)
    except PopgamesError as exc:
        print(f"popgames: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("popgames: interrupted", file=sys.stderr)
        return 130
