"""CI must run the README's test command, the README's commands must name real entry points,
both must install the tested versions pinned in ``constraints.txt``, and its Python examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def _readme_commands() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    found = dict(re.findall(r"<!-- (main|test) command -->\n```bash\n(.+?)\n```", text))
    assert set(found) == {"main", "test"}, "README must mark its main and test commands"
    return found


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    (ci_command,) = re.findall(r"^TEST_COMMAND='(.+)'$", ci, flags=re.M)
    assert ci_command == _readme_commands()["test"]
    assert 'bash -c "$TEST_COMMAND"' in ci


def test_main_command_installs_torch_cpu_first_and_runs_a_module():
    main = _readme_commands()["main"]
    assert main.index("torch==2.13.0") < main.index("pip install -q -c constraints.txt -e")
    module = re.search(r"python -m (popgames\.\w+)", main).group(1)
    assert (REPO / "popgames" / (module.split(".")[1] + ".py")).is_file()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def test_both_readme_commands_install_the_pinned_versions():
    for name, command in _readme_commands().items():
        assert "pip install -q -c constraints.txt -e" in command, name


def test_constraints_pin_everything_the_test_install_brings():
    """Every distribution that popgames[test] needs, transitively, is pinned, and this
    environment has the pinned version (so a passing run vouches for the pins)."""
    pins = _pins()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = [(r, "test") for r in metadata.requires("popgames") or []]
    while todo:
        req, extra = todo.pop()
        req = Requirement(req)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = (name, tuple(sorted(req.extras)))
        if key in seen or name == "popgames":
            continue
        seen.add(key)
        assert name in pins, f"{req.name} is installed by popgames[test] but not pinned"
        version = metadata.version(req.name)
        assert version == pins[name], f"{req.name} {version} installed, {pins[name]} pinned"
        todo += [(r, extra) for r in metadata.requires(req.name) or []
                 for extra in ("", *req.extras)]


def test_readme_python_examples_run(tmp_path):
    """Every ```python block of the README runs as written, from the repository root."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        proc = subprocess.run([sys.executable, "-c", block], cwd=REPO, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
