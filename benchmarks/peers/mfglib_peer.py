"""mfglib 0.3.0 (``pip install mfglib``) as a live peer for our mean-field cards.

Our cards ``games/susceptible_infected`` and ``games/beach_bar`` were written after
mfglib's ``Environment.susceptible_infected()`` and ``Environment.beach_bar()`` with
their default parameters; a card's ``horizon`` is mfglib's ``T + 1`` (mfglib decides at
times ``0..T``). mfglib's policies are torch tensors ``pi[t, *S, *A]``; with one state
and one action coordinate that is our ``pi[t, x, a]`` as it is, so no reordering is
needed. Its transition tensors are ``P[x', x, a]`` (ours ``P[x, a, x']``): that is its
business, only policies cross over.

mfglib computes in torch's *default* dtype (``torch.ones``, ``torch.empty`` and
``torch.zeros`` everywhere, also inside its reward and transition functions), float32
unless changed. Every function here runs mfglib under :func:`default_dtype`, float64
unless asked otherwise, and puts the previous default back afterwards.

Install with ``pip install --no-deps -r benchmarks/peers.txt`` (mfglib pins
``osqp<1.0``, which our ``osqp`` pin contradicts; only its occupation-measure-inclusion
algorithm uses osqp and nothing here runs it).
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any, Iterator, Literal

import numpy as np

#: Our card names: mfglib's ``Environment`` constructors of the same name, default parameters.
CARDS = ("susceptible_infected", "beach_bar")
Dtype = Literal["float64", "float32"]


def available() -> bool:
    """Whether mfglib and its algorithms import (``mfglib.alg`` also needs optuna, rich, osqp)."""
    if importlib.util.find_spec("mfglib") is None:
        return False
    try:
        import mfglib.alg  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def default_dtype(dtype: Dtype = "float64") -> Iterator[Any]:
    """Run the body with torch's default dtype set to ``dtype``; yields the torch dtype.

    Parameters
    ----------
    dtype : {"float64", "float32"}
        ``"float32"`` is mfglib's own precision (torch's usual default).
    """
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        yield getattr(torch, dtype)
    finally:
        torch.set_default_dtype(previous)


def environment(name: str, dtype: Dtype = "float64") -> Any:
    """mfglib's environment behind our card ``name``, with mfglib's default parameters.

    Parameters
    ----------
    name : str
        ``"susceptible_infected"`` (``T = 50``, ``mu0 = (0.4, 0.6)``) or ``"beach_bar"``
        (``T = 2``, ``n = 4``, ``bar_loc = 2``, ``log_eps = 1e-20``, ``p_still = 0.5``).
    dtype : {"float64", "float32"}
        Built under this default dtype (beach bar's transition tensor and both ``mu0`` are
        made here); later calls must run under the same one, as this module's do.

    Returns
    -------
    mfglib.env.Environment
    """
    if name not in CARDS:
        raise ValueError(f"no mfglib environment for card '{name}' (known: {', '.join(CARDS)})")
    import mfglib.alg  # noqa: F401  (first: importing mfglib.scoring first is a circular import)
    from mfglib.env import Environment

    with default_dtype(dtype):
        return getattr(Environment, name)()


def _tensor(env: Any, policy: np.ndarray, torch_dtype: Any) -> Any:
    import torch

    shape = (env.T + 1, *env.S, *env.A)
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != shape:
        raise ValueError(f"policy shape {policy.shape} is not mfglib's (T + 1, X, A) = {shape}")
    return torch.tensor(policy, dtype=torch_dtype)


def exploitability(name: str, policy: np.ndarray, dtype: Dtype = "float64") -> float:
    """mfglib's exploitability (``mfglib.scoring.exploitability_score``) of our policy.

    Parameters
    ----------
    name : str
        A card of :data:`CARDS`.
    policy : np.ndarray
        Our ``pi[t, x, a]`` of shape ``(horizon, X, A)``; it is mfglib's layout already.
    dtype : {"float64", "float32"}
        Precision of the whole mfglib computation (float64 by default; float32 is what a
        plain mfglib call gives, about 1e-6 relative round-off on these cards).

    Returns
    -------
    float
        ``max_pi' J(pi', mu^pi) - J(pi, mu^pi)`` as mfglib computes it.
    """
    env = environment(name, dtype)
    from mfglib.scoring import exploitability_score

    with default_dtype(dtype) as torch_dtype:
        return float(exploitability_score(env, _tensor(env, policy, torch_dtype)))


def run(name: str, algorithm: Literal["fp", "omd"], iterations: int, *, dtype: Dtype = "float64",
        warm: bool = True) -> tuple[list[float], float]:
    """Run mfglib's own solver from the uniform policy, exploitability at every iteration.

    ``fp`` is ``FictitiousPlay(alpha=0.0)`` (weight ``1 / (i + 2)`` at 0-based iteration
    ``i``: our ``fp`` step). ``omd`` is ``OnlineMirrorDescent(alpha=lr)`` with ``lr`` our
    ``mirror_descent`` default (1.0, mfglib's default too). Both go through
    ``solver.solve(env, max_iter=iterations, atol=None, rtol=None)`` (no early stop), which
    scores every iterate with ``exploitability_score`` and times the loop.

    Parameters
    ----------
    name : str
        A card of :data:`CARDS`.
    algorithm : {"fp", "omd"}
        Our loop name of the algorithm.
    iterations : int
        Number of iterations (``max_iter``).
    dtype : {"float64", "float32"}
        Precision of the run (see :func:`exploitability`).
    warm : bool
        Run a 2-iteration solve first, untimed (torch's first calls are slow).

    Returns
    -------
    curve : list[float]
        Exploitability after each iteration, ``iterations`` values, aligned with our
        ``[r.exploitability for r in mean_field(game, iterations, algorithm=...)]``
        (mfglib's ``expls[1:]``; its ``expls[0]`` is the uniform start).
    seconds_per_iteration : float
        mfglib's own ``runtimes[-1] / iterations``: steps and scoring, setup excluded.
    """
    from mfglib.alg import FictitiousPlay, OnlineMirrorDescent

    from popgames.loops.mean_field import mirror_descent

    if algorithm == "fp":
        solver: Any = FictitiousPlay(alpha=0.0)
    elif algorithm == "omd":
        solver = OnlineMirrorDescent(alpha=float(mirror_descent.OPTIONS["lr"]))
    else:
        raise ValueError(f"mfglib peer runs 'fp' or 'omd', not '{algorithm}'")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    env = environment(name, dtype)
    with default_dtype(dtype):
        if warm:
            solver.solve(env, max_iter=2, atol=None, rtol=None)
        _, expls, runtimes = solver.solve(env, max_iter=iterations, atol=None, rtol=None)
    return [float(e) for e in expls[1:]], float(runtimes[-1]) / iterations
