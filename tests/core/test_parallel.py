"""The task layer (:mod:`popgames.core.parallel`): in-process, loky and Ray give the same bits;
a worker killed mid-task is retried; a task that raises is one error naming it; a missing
Ray is one line.

Ray runs as a local cluster of 2 CPUs started once for the module and shut down after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import astuple
from pathlib import Path

import joblib
import numpy as np
import pytest

import popgames
from popgames.core.errors import PopgamesError
from popgames.core.parallel import (
    RAY_MISSING,
    Backend,
    TaskError,
    import_ray,
    run_tasks,
    use_backend,
)

REPO = Path(__file__).resolve().parents[2]
LOKY = Backend("loky", workers=2)
RAY = Backend("ray", workers=2)


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray head with 2 CPUs for the module; ``use_backend`` then joins it as it is."""
    ray = pytest.importorskip("ray")
    import logging

    # Workers import this module's task functions by name, as loky's do from sys.path.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *filter(None, [old])])
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inline() -> dict:
    """Meta-game entries of trust_split (a random network among references) and N-agent checks
    of sis_graphon, their tasks and the numbers this process gives."""
    import torch

    from popgames.kinds.markov.oracle import MarkovOracle
    from popgames.kinds.markov.policies import MlpPolicy
    from popgames.kinds.mean_field.exact import uniform_policy
    from popgames.kinds.mean_field.n_agent import NAgentTask

    game = popgames.load_game(REPO / "games" / "trust_split")
    oracle = MarkovOracle(game, seed=3, options={"eval_episodes": 64})
    net = MlpPolicy(game.rules.obs_dim, game.rules.n_actions, 16, name="net")
    net.init_weights(torch.Generator().manual_seed(0))
    refs = oracle.references
    population = [[refs["greedy"], net], [refs["welfare"], refs["tit_for_tat"], net]]
    sis = popgames.load_game("sis_graphon")
    out = {"markov": (oracle, population, [(i, j) for i in range(2) for j in range(3)]),
           "n_agent": [NAgentTask(str(sis.source), uniform_policy(sis.rules), n, 10, 3)
                       for n in (10, 20, 30)]}
    return {**out, "numbers": _numbers(out)}


def _numbers(inline: dict) -> tuple:
    from popgames.kinds.mean_field.n_agent import run_n_agent_checks

    oracle, population, profiles = inline["markov"]
    return astuple(oracle.evaluate(population, profiles)), run_n_agent_checks(inline["n_agent"])


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b)


# Tasks of the fault tests; this module imports nothing heavy at the top, as a worker that
# runs them imports it.
def slow_square(task: tuple[int, str]) -> tuple[int, int]:
    """Task 3 marks itself with its pid and waits to be killed the first time it runs."""
    i, folder = task
    mark = Path(folder) / f"{i}.pid"
    if i == 3 and not mark.exists():
        mark.write_text(str(os.getpid()))
        time.sleep(120)
    return i * i, os.getpid()


def fails_on_three(i: int) -> int:
    if i == 3:
        raise ValueError("three is not allowed")
    return i


def _kill_when_marked(mark: Path) -> None:
    deadline = time.monotonic() + 60
    while not (mark.exists() and mark.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(int(mark.read_text()), signal.SIGKILL)


def _raising_task_is_one_error() -> None:
    with pytest.raises(TaskError) as caught:
        run_tasks(fails_on_three, list(range(8)), describe=lambda i: f"number {i}")
    assert str(caught.value) == "task number 3 failed: ValueError: three is not allowed"
    assert "fails_on_three" in caught.value.details  # where it ran, for whoever digs further
    assert run_tasks(fails_on_three, [0, 1, 2]) == [0, 1, 2]  # the pool still works


def test_inline_raising_task_is_one_error():
    _raising_task_is_one_error()


@pytest.mark.parametrize("spec", [LOKY, RAY], ids=["loky", "ray"])
def test_workers_give_the_same_bits_and_survive_faults(request, inline, tmp_path, spec):
    """One pool per backend (workers start once): the numbers of this process; a task that
    raises is one error naming it; a worker killed mid-task is replaced and its task rerun."""
    if spec.name == "ray":
        request.getfixturevalue("ray_cluster")
    with use_backend(spec):
        assert _same(_numbers(inline), inline["numbers"])
        _raising_task_is_one_error()
        killer = threading.Thread(target=_kill_when_marked, args=(tmp_path / "3.pid",))
        killer.start()
        with pytest.warns(RuntimeWarning, match="worker process died"):
            results = run_tasks(slow_square, [(i, str(tmp_path)) for i in range(8)])
        killer.join()
    assert [r for r, _ in results] == [i * i for i in range(8)]
    assert results[3][1] != int((tmp_path / "3.pid").read_text())  # run again elsewhere


def test_joblib_parallel_config_alone_sends_tasks_to_ray(ray_cluster, inline):
    """The library form, without use_backend: a fresh pool of actors for the call."""
    from ray.util.joblib import register_ray

    from popgames.kinds.mean_field.n_agent import run_n_agent_checks

    register_ray()
    with joblib.parallel_config(backend="ray", n_jobs=2):
        assert _same(run_n_agent_checks(inline["n_agent"]), inline["numbers"][1])


def test_gpu_tasks_on_a_cluster_without_gpus_are_refused(ray_cluster):
    with use_backend(RAY), pytest.raises(PopgamesError, match="1 GPU each; the Ray cluster has 0"):
        run_tasks(fails_on_three, [0], gpus=1.0)


# -- no Ray ----------------------------------------------------------------------------------------

def test_a_missing_ray_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when not installed
    with pytest.raises(PopgamesError) as caught:
        import_ray()
    assert str(caught.value) == RAY_MISSING and "\n" not in RAY_MISSING
    with pytest.raises(PopgamesError, match="popgames\\[ray\\]"), use_backend(RAY):
        pass
    assert run_tasks(fails_on_three, [0, 1]) == [0, 1]  # other backends never need it


def test_importing_popgames_never_imports_ray():
    code = ("import sys, popgames, popgames.core.parallel, popgames.runs.driver, popgames.psro; "
            "assert 'ray' not in sys.modules and 'joblib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("spec, needle", [({"name": "dask"}, "expected one of"),
                                          ({"name": "loky", "address": "h:1"}, "only --backend ray"),
                                          ({"name": "loky", "workers": 0}, "at least 1"),
                                          ({"name": "inline", "workers": 2}, "loky or ray")])
def test_bad_backends_are_one_line(spec, needle):
    with pytest.raises(PopgamesError, match=needle):
        Backend(**spec)
