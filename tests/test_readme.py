"""CI must run the README's test command, and the README's commands must name real entry points."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
    assert main.index("torch==2.13.0") < main.index("pip install -q -e")
    module = re.search(r"python -m (popgames\.\w+)", main).group(1)
    assert (REPO / "popgames" / (module.split(".")[1] + ".py")).is_file()
