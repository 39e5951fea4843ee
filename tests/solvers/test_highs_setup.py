"""No HiGHS banner reaches standard output, whichever path builds the first HiGHS model.

highspy 1.16 prints "Running HiGHS ..." to file descriptor 1 on the first ``Highs()`` of
a process; it broke ``python -m popgames.solve --json``. Each case runs in a fresh
interpreter (the banner comes once per process) with stdout piped, so C's buffered
output is flushed into the pipe at exit and would be seen.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

GAME = "import numpy as np; P = np.array([[[3, 0], [5, 1]], [[3, 5], [0, 1]]], float)\n"
CASES = {
    "zero-sum LP": "solve(np.stack([P[0], -P[0]]), 'zero_sum_lp')",
    "CE by HiGHS row generation": "solve(P, 'ce', objective='max_welfare')",
    "SGC branch and bound": "solve(P, 'nash_milp')",
    "cvxpy HiGHS MILP": "solve(P, 'nash_milp', method='milp')",
    "cvxpy HiGHS CE": "from popgames.solvers.correlated import correlated_equilibrium_cvxpy\n"
                      "correlated_equilibrium_cvxpy(P, cvxpy_solver='HIGHS')",
}


@pytest.mark.parametrize("case", list(CASES))
def test_first_highs_model_prints_nothing_to_stdout(case):
    code = (GAME + "import popgames\nfrom popgames.solvers import solve\n" + CASES[case]
            + "\nprint('END')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "END\n", f"stdout polluted: {out.stdout!r}"


def test_highs_instances_work_after_cvxpy_started_the_thread_scheduler():
    """HiGHS keeps one thread scheduler per process: an instance asking for ``threads=1``
    after cvxpy's MILP started it with the default failed every solve ("Not Set")."""
    code = (GAME + "from popgames.solvers import solve\n"
            "solve(P, 'nash_milp', method='milp')\n"          # cvxpy's HiGHS runs first
            "print(solve(P, 'nash_milp').solver, solve(np.stack([P[0], -P[0]]), 'zero_sum_lp').solver)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["nash_milp/sgc", "zero_sum_lp/highs_lp"]
