"""List every (nested) package explicitly.

pyproject.toml maps ``solvers/``, ``analysis/`` and ``games/`` into the ``popgames``
namespace; setuptools' automatic discovery does not follow such mappings into
nested folders, so a wheel would silently drop e.g. ``popgames.games.trust_split``.
``tests/test_packaging.py`` builds the wheel and checks its contents.

``popgames.solvers._lh_pivot`` is the Lemke-Howson pivot loop in plain C (CPython API
only, no numpy headers). It is optional: when it cannot be compiled the build goes on
and ``popgames.solvers.lemke_howson`` uses its numpy implementation.
"""

from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).parent
MAPPED = {"popgames": "popgames", "popgames.solvers": "solvers",
          "popgames.analysis": "analysis", "popgames.games": "games"}


def _packages() -> list[str]:
    found = []
    for name, folder in MAPPED.items():
        base = ROOT / folder
        for init in sorted(base.rglob("__init__.py")):
            rel = init.parent.relative_to(base)
            if "__pycache__" in rel.parts:
                continue
            found.append(".".join([name, *rel.parts]))
    return found


LH_PIVOT = Extension("popgames.solvers._lh_pivot", sources=["solvers/_lh_pivot.c"],
                     extra_compile_args=["-O3", "-ffp-contract=off", "-falign-loops=32"], optional=True)

setup(packages=_packages(), ext_modules=[LH_PIVOT])
