"""Importing a card's rules file (Markov and mean-field games; each kind checks what it defines).

The file is imported as a module of a package made of the card's folder, under names
unique to that folder, so it may import sibling files relatively and two cards never
share modules. Errors are one card line naming the file and, where the user's code
raised, its line.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from popgames.core.errors import GameCardError


def line_in(exc: BaseException, path: Path) -> str:
    """`` (rules.py line N)`` for the innermost frame of ``exc`` in the rules file, else ``""``."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return f" ({path.name} line {lines[-1]})" if lines else ""


def raised(path: Path, field: str, what: str, exc: Exception, at: str = "") -> GameCardError:
    """A card error on ``field`` saying that ``what`` raised ``exc`` (one line, with its line number)."""
    text = " ".join(str(exc).split())  # one line, whatever the exception's message holds
    text = text if len(text) <= 300 else text[:297] + "..."
    return GameCardError(str(path), field,
                         f"{what} raised {type(exc).__name__}: {text}{at}{line_in(exc, path)}")


def load_rules_module(path: Path, src: str, needed: tuple[str, ...] = ("make", "PARAMS", "reference_policies")
                      ) -> ModuleType:
    """Import a game folder's rules file under a stable, unique module name.

    ``path`` is the resolved rules file; ``src`` the card. The file is a module of a
    package made of the card's folder, so it may import its siblings relatively
    (``from .policies import reference_policies``); nothing outside the folder is on that
    package's path. A module that fails to import or lacks one of the ``needed`` names
    (``PARAMS`` a dict, the others callable) is not left in ``sys.modules``, nor are its
    siblings.
    """
    if not path.is_file():
        raise GameCardError(src, "rules", f"no rules file {path.name} next to the card")
    package = f"popgames_rules_{abs(hash(str(path.parent))):x}"
    name = f"{package}.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    if package not in sys.modules:
        folder = importlib.machinery.ModuleSpec(package, None, is_package=True)
        folder.submodule_search_locations = [str(path.parent)]
        sys.modules[package] = importlib.util.module_from_spec(folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # registered during execution, as a normal import does
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        forget_rules_module(module)
        where = "" if exc.filename == str(path) else f" in {exc.filename}"
        raise GameCardError(str(path), "rules",
                            f"syntax error{where} at line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # a user's rules code: an import-time error becomes one card line
        forget_rules_module(module)
        raise raised(path, "rules", "importing the file", exc) from exc
    for name in needed:
        ok = (lambda v: isinstance(v, dict)) if name == "PARAMS" else callable
        if not ok(getattr(module, name, None)):
            forget_rules_module(module)
            what = "defines no" if not hasattr(module, name) else "has a malformed"
            raise GameCardError(str(path), "rules", f"{path.name} {what} '{name}'")
    return module


def forget_rules_module(module: ModuleType) -> None:
    """Drop a rules module whose game failed to load, and the sibling modules of its folder,
    so that the files are read afresh next time."""
    package = module.__name__.rpartition(".")[0]
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
