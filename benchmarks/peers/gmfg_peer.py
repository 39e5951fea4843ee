"""Cui & Koeppl's graphon mean-field game code as a live benchmark peer.

The peer is the research code of "Learning Graphon Mean Field Games and
Approximate Nash Equilibria" (ICLR 2022, GitHub ``tudkcui/gmfg-learning``).
This script imports it from a checkout (``--code``), builds their
``SISGraphon`` game, and computes the uniform policy's exploitability the way
their ``experiments/run_uniform_exploitability.py`` does: the exact
discretised mean field of the uniform policy
(``DiscretizedGraphonExactSimulatorFinite``), the exact best response to it
(``DiscretizedGraphonExactSolverFinite(eta=0)``), and the two mean returns
(``DiscretizedGraphonEvaluatorFinite``), all on ``np.linspace(0, 1, M)``.
It prints one JSON line::

    {"graphon": ..., "M": ..., "exploitability": ..., "seconds": ...}

where ``seconds`` is the wall time of those four steps (imports and game
construction excluded). Their code needs only numpy, torch and gym, so it runs
in its own venv, set up once::

    python3.11 -m venv /work/peers/venv
    /work/peers/venv/bin/pip install numpy torch==2.13.0 gym==0.26.2
    /work/peers/venv/bin/python benchmarks/peers/gmfg_peer.py \\
        --code /work/peers/gmfg-learning --graphon er --M 101

Our benchmark (run with the project's venv) calls :func:`run`, which starts
this file with the peer's interpreter in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

#: Our graphon names -> the function names in their ``games/graphons.py``.
GRAPHONS = {
    "uniform_attachment": "uniform_attachment_graphon",  # 1 - max(x, y)
    "ranked_attachment": "ranked_attachment_graphon",    # 1 - x y
    "er": "er_graphon",                                  # p = 0.5 (their default)
    "erdos_renyi": "er_graphon",                         # our card's name for it
}


def exploitability(code: Path, graphon: str, M: int) -> dict:
    """Compute the uniform policy's exploitability with the peer's code.

    Parameters
    ----------
    code : Path
        Root of the ``gmfg-learning`` checkout; it goes first on ``sys.path``
        (their packages ``games``, ``solver`` ... are top-level names).
    graphon : str
        One of the keys of :data:`GRAPHONS` (``er`` and ``erdos_renyi`` are
        the same graphon, their ``er_graphon`` with its default ``p = 0.5``).
    M : int
        Number of graphon grid points, ``np.linspace(0, 1, M)``.

    Returns
    -------
    dict
        ``graphon``, ``M``, ``exploitability`` (best-response mean return
        minus the uniform policy's) and ``seconds`` (wall time of the
        simulation, best response and both evaluations).
    """
    sys.path.insert(0, str(Path(code).resolve()))
    from evaluator.graphon_evaluator import DiscretizedGraphonEvaluatorFinite
    from games import graphons
    from games.finite.sis import SISGraphon
    from simulator.graphon_simulator import DiscretizedGraphonExactSimulatorFinite
    from solver.graphon_solver import DiscretizedGraphonExactSolverFinite
    from solver.policy.random_policy import RandomFinitePolicy

    game = SISGraphon(graphon=getattr(graphons, GRAPHONS[graphon]))
    policy = RandomFinitePolicy(game.agent_observation_space, game.agent_action_space)
    simulator = DiscretizedGraphonExactSimulatorFinite(num_alphas=M)
    solver = DiscretizedGraphonExactSolverFinite(eta=0, num_alphas=M)
    evaluator = DiscretizedGraphonEvaluatorFinite(num_alphas=M)

    start = time.perf_counter()
    mu, _ = simulator.simulate(game, policy)
    best_response, _ = solver.solve(game, mu)
    value_pi = evaluator.evaluate(game, mu, policy)["eval_mean_returns"]
    value_br = evaluator.evaluate(game, mu, best_response)["eval_mean_returns"]
    seconds = time.perf_counter() - start
    return {"graphon": graphon, "M": M,
            "exploitability": float(value_br - value_pi), "seconds": seconds}


def run(code: Path, python: Path, graphon: str, M: int) -> dict:
    """Run this script with the peer's interpreter and parse its JSON line.

    Parameters
    ----------
    code : Path
        Root of the ``gmfg-learning`` checkout.
    python : Path
        Interpreter of the peer's venv (numpy, torch, gym installed).
    graphon : str
        One of the keys of :data:`GRAPHONS`.
    M : int
        Number of graphon grid points.

    Returns
    -------
    dict
        The script's JSON record (see :func:`exploitability`).

    Raises
    ------
    RuntimeError
        If the subprocess fails or prints no JSON line; the message carries
        the tail of its stderr.
    """
    if graphon not in GRAPHONS:
        raise ValueError(f"graphon must be one of {sorted(GRAPHONS)}, not {graphon!r}")
    cmd = [str(python), str(Path(__file__).resolve()), "--code", str(code),
           "--graphon", graphon, "--M", str(M)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"gmfg peer failed (rc={proc.returncode}): "
                           f"{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, compute, and print one JSON line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, required=True,
                        help="root of the gmfg-learning checkout")
    parser.add_argument("--graphon", choices=sorted(GRAPHONS), required=True)
    parser.add_argument("--M", type=int, default=101, help="graphon grid points")
    args = parser.parse_args(argv)
    print(json.dumps(exploitability(args.code, args.graphon, args.M)), flush=True)


if __name__ == "__main__":
    main()
