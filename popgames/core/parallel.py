"""Plain-data tasks through joblib: in this process, on local processes (loky) or on Ray.

Every expensive unit of work (a meta-game entry, an N-agent check, a best-response
training) is a function of a picklable, plain-data task (a card path, policies as arrays,
episodes, a seed and position below the run's root seed). :func:`run_tasks` sends a list
of them through joblib, so where they run is joblib's configuration:

* nothing configured: in this process (or ``n_jobs`` local processes when a caller asks);
* ``with use_backend(Backend("loky", workers=4)):`` local worker processes;
* ``with use_backend(Backend("ray", address=..., workers=...)):`` a Ray cluster, started
  here or joined, and shut down on exit (interrupts too), with one warm pool of actors;
* ``with joblib.parallel_config(backend="ray"):`` (after ``ray.util.joblib.register_ray()``):
  fresh Ray actors (which import torch again) for every call.

Results are those of the task's data alone: every backend gives the same bits (a torch
task sets its thread count from its data). A task's own exception becomes one
:class:`TaskError` naming it; when a worker process dies (killed, out of memory, a lost
node) the unfinished tasks run again, at most ``retries`` times (under a bare
``parallel_config``, whose joblib call returns all results or none: all of the call's).
With one worker joblib runs tasks in the calling process. Ray is imported only when asked.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from popgames.core.errors import PopgamesError

T = TypeVar("T")
R = TypeVar("R")

#: Backend names: in this process, local worker processes, a Ray cluster.
BACKENDS = ("inline", "loky", "ray")
#: How to get Ray, said when it is asked for and absent.
RAY_MISSING = "--backend ray needs Ray, which is not installed: pip install 'popgames[ray]'"


class TaskError(PopgamesError):
    """A task failed for good (its code raised, or its worker died ``retries + 1`` times);
    ``details`` is the traceback where it ran, left out of the one-line message."""

    def __init__(self, task: str, cause: str, details: str = ""):
        self.task, self.cause, self.details = task, cause, details
        super().__init__(f"task {task} failed: {cause}")


@dataclass(frozen=True)
class Backend:
    """Where tasks run: ``inline`` (joblib's defaults), ``loky`` (local processes) or ``ray``
    (``address``: a running cluster to join); ``workers`` at once (default: the CPUs of this
    machine, or of the joined cluster)."""

    name: str = "inline"
    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise PopgamesError(f"--backend {self.name!r}: expected one of {', '.join(BACKENDS)}")
        if self.address is not None and self.name != "ray":
            raise PopgamesError(f"--address {self.address}: only --backend ray joins a cluster")
        if self.workers is not None and (self.workers < 1 or self.name == "inline"):
            raise PopgamesError(f"--workers {self.workers}: must be at least 1, with --backend "
                                "loky or ray")


def import_ray() -> Any:
    """The ``ray`` module, or one :class:`PopgamesError` line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise PopgamesError(RAY_MISSING) from None
    return ray


@dataclass
class _Session:
    """A :func:`use_backend` block's backend and warm pools (one per GPU share)."""

    spec: Backend
    n_jobs: int
    stack: ExitStack = field(default_factory=ExitStack)
    pools: dict[float, Any] = field(default_factory=dict)

    def pool(self, gpus: float) -> Any:
        """A managed joblib ``Parallel``: its workers stay up from one call to the next."""
        if gpus not in self.pools:
            from joblib import Parallel

            backend, n_jobs = self.spec.name, self.n_jobs
            if self.spec.name == "ray":
                if gpus:  # the pool's actors hold the GPUs, so its tasks land on GPU workers
                    available = float(import_ray().cluster_resources().get("GPU", 0.0))
                    if available < gpus:
                        raise PopgamesError(f"tasks ask for {gpus:g} GPU each; the Ray cluster "
                                            f"has {available:g}")
                    n_jobs = max(1, min(n_jobs, int(available // gpus)))
                backend = _ray_backend()(ray_remote_args={"num_gpus": gpus} if gpus else {})
            self.pools[gpus] = self.stack.enter_context(
                Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered"))
        return self.pools[gpus]


@cache
def _ray_backend() -> type:
    """joblib's Ray backend yielding results as they finish (a lost worker costs only unfinished
    tasks): Ray's fears a generator dropped half-read; :func:`run_tasks` reads or closes each."""
    from ray.util.joblib.ray_backend import RayBackend

    class GeneratorRayBackend(RayBackend):
        supports_return_generator = True

    return GeneratorRayBackend


_SESSION: ContextVar[_Session | None] = ContextVar("popgames_parallel_session", default=None)


@contextmanager
def use_backend(spec: Backend) -> Iterator[None]:
    """Run the block's tasks (:func:`run_tasks`, and any joblib ``Parallel``) on ``spec``.

    ``inline`` changes nothing; ``loky`` and ``ray`` set ``joblib.parallel_config`` and keep
    one warm pool of workers for the block. An initialised Ray is used as it is; else a
    cluster is started here or ``address`` joined, and on exit (interrupts too) the pool's
    actors are stopped and Ray shut down: no Ray process outlives the block."""
    if spec.name == "inline":
        yield
        return
    import joblib

    with ExitStack() as stack:
        if spec.name == "ray":
            ray = import_ray()
            if not ray.is_initialized():
                stack.enter_context(_ray_cluster(ray, spec))
            from ray.util.joblib import register_ray

            register_ray()
            n_jobs = spec.workers or int(ray.cluster_resources().get("CPU", 1))
        else:
            n_jobs = spec.workers or os.cpu_count() or 1
        stack.enter_context(joblib.parallel_config(backend=spec.name, n_jobs=n_jobs))
        session = _Session(spec, n_jobs)
        stack.enter_context(session.stack)  # pools close before Ray shuts down
        token = _SESSION.set(session)
        stack.callback(_SESSION.reset, token)
        yield


@contextmanager
def _ray_cluster(ray: Any, spec: Backend) -> Iterator[None]:
    """Ray for the block: a local cluster started, or ``spec.address`` joined (Ray's logs off
    stdout); then shut down, and what is left of a local one killed: its workers die with
    their raylet, but one busy or still starting may outlive it by seconds."""
    import logging

    before = _tree({os.getpid()})
    local = {"num_cpus": spec.workers or os.cpu_count() or 1, "include_dashboard": False}
    try:
        ray.init(address=spec.address or "local", logging_level=logging.ERROR, log_to_driver=False,
                 **(local if spec.address is None else {}))
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = spec.address or "a local cluster"
        raise PopgamesError(f"--backend ray: could not start or join {where}: {exc}") from exc
    heads = _tree({os.getpid()}) - before  # a local cluster's head processes
    try:
        yield
    finally:
        left = _tree(heads) if heads else set()
        ray.shutdown()
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _tree(roots: set[int]) -> set[int]:
    """``roots`` and every process below them (from Linux's /proc; elsewhere just ``roots``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):  # gone meanwhile, or not a process
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(
                int(stat.parent.name))
    found, todo = set(roots), list(roots)
    while todo:
        todo += [kid for kid in children.get(todo.pop(), []) if kid not in found]
        found.update(todo)
    return found


@dataclass(frozen=True)
class _Failure:
    """A task's own exception, as text: exceptions need not pickle back to the driver."""
    cause: str
    details: str


def _attempt(fn: Callable[[T], R], index: int, task: T) -> tuple[int, R | _Failure]:
    """Run one task where it landed; its own exception is a value, not a lost worker."""
    try:
        return index, fn(task)
    except Exception as exc:  # noqa: BLE001 -- any error of the task's code fails the task
        return index, _Failure(f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _lost_worker_errors() -> tuple[type[BaseException], ...]:
    """What joblib raises when a worker process died under a task (not the task's error)."""
    from concurrent.futures import BrokenExecutor

    from joblib.externals.loky.process_executor import BrokenProcessPool

    lost: tuple[type[BaseException], ...] = (BrokenExecutor, BrokenProcessPool)
    if sys.modules.get("ray") is not None:  # Ray can only have failed if it was imported
        rx = sys.modules["ray"].exceptions
        lost += (rx.RayActorError, rx.WorkerCrashedError, rx.NodeDiedError, rx.ObjectLostError,
                 rx.OutOfMemoryError)
    return lost


def run_tasks(fn: Callable[[T], R], tasks: Sequence[T], *, describe: Callable[[T], str] = repr,
              n_jobs: int | None = None, gpus: float = 0.0, retries: int = 2) -> list[R]:
    """``[fn(task) for task in tasks]``, run through joblib wherever it is configured.

    Parameters
    ----------
    fn
        A module-level function of one task.
    tasks
        Plain-data tasks: picklable, and all ``fn`` needs (no live objects, no shared state).
    describe
        A task's name in error messages, e.g. ``"meta-game entry (0, 1) of trust_split"``.
    n_jobs
        Workers when no backend is configured: ``None`` or 1 runs the tasks in this process.
        Inside :func:`use_backend` its ``workers`` rule instead.
    gpus
        GPUs (or a share of one) each task needs. Inside ``use_backend`` with Ray, the tasks
        run on actors that ask for that much each (as many as the cluster's GPUs allow, at
        most ``workers``; one alone runs in this process, joblib's rule); elsewhere tasks
        use whatever device they name.
    retries
        How many times the unfinished tasks run again after a worker process died.

    Returns
    -------
    list
        The results, in the order of ``tasks``.

    Raises
    ------
    TaskError
        The first task whose code raised, or whose worker died ``retries + 1`` times; the
        tasks still running are stopped.
    """
    results: dict[int, R] = {}
    lost, attempt = _lost_worker_errors(), 0
    while True:
        pending = [(i, task) for i, task in enumerate(tasks) if i not in results]
        try:
            with warnings.catch_warnings(), closing(_outcomes(fn, pending, n_jobs, gpus)) as outcomes:
                # joblib's note on results a failed task leaves unused: on purpose, so silenced
                warnings.filterwarnings("ignore", r".*tasks .*(not used|cancelled)", UserWarning)
                for i, outcome in outcomes:
                    if isinstance(outcome, _Failure):
                        raise TaskError(describe(tasks[i]), outcome.cause, outcome.details)
                    results[i] = outcome
            return [results[i] for i in range(len(tasks))]
        except lost as exc:
            left = [i for i in range(len(tasks)) if i not in results]
            if attempt == retries:
                raise TaskError(describe(tasks[left[0]]), f"its worker process died {retries + 1} "
                                f"times ({type(exc).__name__}: {exc})") from exc
            attempt += 1
            warnings.warn(f"a worker process died ({type(exc).__name__}); running the "
                          f"{len(left)} unfinished tasks again", RuntimeWarning, stacklevel=2)


def _outcomes(fn: Callable[[T], R], items: list[tuple[int, T]], n_jobs: int | None,
              gpus: float) -> Iterator[tuple[int, R | _Failure]]:
    """``(index, result or failure)`` as tasks finish: from the block's warm pool, else from a
    fresh ``Parallel`` under whatever ``joblib.parallel_config`` holds."""
    from joblib import Parallel, delayed

    calls = (delayed(_attempt)(fn, i, task) for i, task in items)
    session = _SESSION.get()
    if session is not None:
        yield from session.pool(gpus)(calls)  # closing this generator closes joblib's
    else:  # n_jobs None: the configured one. A list: what any backend returns (not Ray's generator)
        yield from Parallel(n_jobs=None if n_jobs == 1 else n_jobs)(calls)
