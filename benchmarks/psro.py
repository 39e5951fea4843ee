"""Exact PSRO and JPSRO loops (popgames.psro) beside OpenSpiel's, same games, one process run.

    .venv/bin/python benchmarks/psro.py                  # full run (about 10 minutes)
    .venv/bin/python benchmarks/psro.py --quick          # kuhn only, 10 iterations (seconds)
    .venv/bin/python benchmarks/psro.py --only leduc     # kuhn | leduc | kuhn3p_jpsro

PSRO (kuhn_poker, leduc_poker; 2-player zero-sum, Nash meta-solver). Iteration ``t``
is the meta-strategy over ``t + 1`` policies per player, starting from the uniform
policy, and its exploitability is **NashConv** (sum over players of the best-response
gain in the full game; not NashConv / 2) on both sides.

* ours: ``popgames.psro(SpielGame(name), meta_solver="nash", iterations=N)``; the time
  includes loading the game and flattening its tree; NashConv comes with the loop.
* peer: OpenSpiel ``psro_v2.PSROSolver`` with ``BestResponseOracle`` (C++ backend),
  ``meta_strategy_method="nash"`` (its LP through cvxpy/ECOS),
  ``training_strategy_selector="top_k_probabilities"``, ``number_policies_selected=1``
  (one exact best response per player per iteration, deterministic),
  ``sample_from_marginals=True``, uniform ``TabularPolicy`` start. Its meta-game is
  normally estimated from ``sims_per_entry`` sampled episodes; here ``sample_episodes``
  is overridden to return exact expected returns (each policy converted once to a
  ``pyspiel.TabularPolicy``, then ``pyspiel.expected_returns`` in C++), the closest
  exact configuration. NashConv per iteration as in ``psro_v2_example.py``:
  ``PolicyAggregator`` + ``exploitability.nash_conv``. ``N - 1`` calls of
  ``iteration()`` give the ``N`` meta-strategies ours gives in ``N`` iterations. Two
  peer times are reported: the loop alone and the loop plus the per-iteration NashConv.

JPSRO (kuhn_poker, 3 players; max-Gini CCE meta-solver, CCE best responses), run until
the CCE gap (sum over players of the best-response gain against the meta-distribution's
marginal over the others) is <= 1e-6, or a time / iteration cap.

* ours: ``psro(game, meta_solver="cce", solver_options={"objective": "max_gini"})``.
* peer: OpenSpiel ``jpsro`` driven with its own functions exactly as ``jpsro.run_loop``
  (``train_meta_solver="mgcce"``, ``target_equilibrium="cce"``,
  ``update_players_strategy="all"``, ``br_selection="largest_gap"``,
  ``policy_init="uniform"``, ``ignore_repeats=False``) but without the evaluation
  meta-solver's second best-response pass (``run_loop`` always makes it; it does not
  change the training trajectory). Its QP tries CVXOPT first and falls back to OSQP when
  cvxopt is not installed (it is not a dependency of open_spiel); the row's note says which.

Peers print a lot; their stdout is swallowed. Each side runs once (a cold run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings
from typing import Any

import cvxpy
import numpy as np
import pyspiel
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms import exploitability, jpsro, policy_aggregator
from open_spiel.python.algorithms.psro_v2 import best_response_oracle, psro_v2

from popgames import solvers
from popgames.psro import psro
from popgames.spiel_game import SpielGame

JPSRO_GAP = 1e-6
JPSRO_TIME_CAP = 400.0  # seconds, each side
JPSRO_MAX_ITERATIONS = 300


def _nash_solver() -> str:
    # "nash" dispatches to the 2-player zero-sum LP; while it is not registered, use that LP directly.
    return "nash" if "nash" in solvers.names() else "zero_sum_lp"


def _cce_available() -> bool:
    return "cce" in solvers.names() and "objective" in solvers.entry("cce").options


# --------------------------------------------------------------------------- ours

def _ours(name: str, params: dict, iterations: int, meta_solver: str, options: dict | None = None,
          stop_gap: float | None = None, time_cap: float = np.inf) -> dict[str, Any]:
    """Run our loop; per iteration: exploitability, cumulative seconds, player 0's meta value."""
    start = time.perf_counter()
    game = SpielGame(name, params)
    gaps, times, values, pops = [], [], [], []
    solver_used = ""
    for rec in psro(game, meta_solver=meta_solver, iterations=iterations, seed=0,
                    solver_options=options):
        gaps.append(rec.exploitability)
        times.append(time.perf_counter() - start)
        values.append(rec.meta_payoffs[0])
        pops.append(rec.population_size[0])
        solver_used = rec.meta_solver
        if (stop_gap is not None and rec.exploitability <= stop_gap) or times[-1] > time_cap:
            break
    return {"gaps": gaps, "times": times, "values": values, "pops": pops,
            "total": time.perf_counter() - start, "solver": solver_used}


# --------------------------------------------------------------------------- peer PSRO

class _ExactPSROSolver(psro_v2.PSROSolver):
    """psro_v2 with exact meta-game entries instead of ``sims_per_entry`` sampled episodes."""

    def sample_episodes(self, policies, num_episodes):
        del num_episodes
        tabular = [self._tabular(p, player) for player, p in enumerate(policies)]
        return np.array(pyspiel.expected_returns(self._game.new_initial_state(), tabular, -1, True))

    def _tabular(self, pol, player: int) -> pyspiel.TabularPolicy:
        # One conversion per policy object (kept alive in the cache so its id stays unique).
        cache = self.__dict__.setdefault("_tabular_cache", {})
        if id(pol) not in cache:
            oracle = self._oracle
            table = {oracle.state_to_information_state[h]: list(pol.action_probabilities(s).items())
                     for h, s in oracle.all_states.items() if s.current_player() == player}
            cache[id(pol)] = (pol, pyspiel.TabularPolicy(table))
        return cache[id(pol)][1]


def _peer_psro(name: str, iterations: int) -> dict[str, Any]:
    """OpenSpiel psro_v2 (exact BR, exact meta-game, LP Nash) with NashConv per iteration."""
    start = time.perf_counter()
    nash_conv_s = 0.0
    game = pyspiel.load_game(name)
    n = game.num_players()
    with contextlib.redirect_stdout(io.StringIO()):
        oracle = best_response_oracle.BestResponseOracle(game=game, best_response_backend="cpp")
        solver = _ExactPSROSolver(
            game, oracle, sims_per_entry=1,
            initial_policies=[os_policy.TabularPolicy(game) for _ in range(n)],
            training_strategy_selector="top_k_probabilities", meta_strategy_method="nash",
            sample_from_marginals=True, number_policies_selected=1)
    gaps, times, values, pops = [], [], [], []
    for it in range(iterations):
        if it:
            with contextlib.redirect_stdout(io.StringIO()):
                solver.iteration()
        tick = time.perf_counter()
        meta = solver.get_meta_strategies()
        aggregated = policy_aggregator.PolicyAggregator(game).aggregate(
            range(n), solver.get_policies(), meta)
        gaps.append(float(exploitability.nash_conv(game, aggregated)))
        nash_conv_s += time.perf_counter() - tick
        times.append(time.perf_counter() - start)
        values.append(float(meta[0] @ solver.get_meta_game()[0] @ meta[1]))
        pops.append(len(solver.get_policies()[0]))
    total = time.perf_counter() - start
    return {"gaps": gaps, "times": times, "values": values, "pops": pops, "total": total,
            "loop": total - nash_conv_s}


def _psro_case(name: str, iterations: int) -> list[dict]:
    meta_solver = _nash_solver()
    print(f"\n## {name}: exact PSRO, {iterations} iterations, Nash meta-solver "
          f"(ours: '{meta_solver}'), NashConv (sum over players)")
    ours = _ours(name, {}, iterations, meta_solver)
    peer = _peer_psro(name, iterations)
    print(f"{'it':>3} {'pop':>4} {'ours NashConv':>15} {'peer NashConv':>15} {'ours-peer':>11} "
          f"{'ours v0':>10} {'peer v0':>10} {'ours t(s)':>10} {'peer t(s)':>10}")
    for t, (a, b) in enumerate(zip(ours["gaps"], peer["gaps"])):
        print(f"{t:3d} {ours['pops'][t]:4d} {a:15.9g} {b:15.9g} {a - b:11.3g} "
              f"{ours['values'][t]:10.6f} {peer['values'][t]:10.6f} "
              f"{ours['times'][t]:10.4f} {peer['times'][t]:10.3f}")
    # Both sides' best responses are exact but break ties differently, so the populations (and
    # curves) part ways after a few iterations; 1e-6 absorbs the peer's LP tolerance.
    worse = [t for t, (a, b) in enumerate(zip(ours["gaps"], peer["gaps"])) if a > b + 1e-6]
    note = (f"ours used {ours['solver']}; final NashConv ours {ours['gaps'][-1]:.6g}, "
            f"peer {peer['gaps'][-1]:.6g}; mean over iterations ours {np.mean(ours['gaps']):.4g}, "
            f"peer {np.mean(peer['gaps']):.4g}; ours worse (by >1e-6) at iterations {worse or 'none'}")
    solved = next((t for t, g in enumerate(ours["gaps"]) if g <= 1e-9), None)
    if solved is not None:
        note += (f"; ours NashConv<=1e-9 first at it {solved} (v0 {ours['values'][solved]:.12f}, "
                 f"-1/18 = {-1 / 18:.12f})")
    peer_solved = next((t for t, g in enumerate(peer["gaps"]) if g <= 1e-9), None)
    if peer_solved is not None:
        note += f"; peer NashConv<=1e-9 first at it {peer_solved}"
    print(note)
    return [
        _row(f"{name}: PSRO x{iterations} + NashConv per it", ours["total"],
             "psro_v2 exact + PolicyAggregator/nash_conv", peer["total"], note),
        _row(f"{name}: PSRO x{iterations}, peer loop only", ours["total"],
             "psro_v2 exact (BR oracle, LP nash)", peer["loop"], "peer time without its NashConv"),
    ]


# --------------------------------------------------------------------------- JPSRO

def _peer_jpsro(game: pyspiel.Game) -> dict[str, Any]:
    """OpenSpiel jpsro's run_loop steps (mgcce, CCE best responses) minus the eval pass."""
    start = time.perf_counter()
    (iteration, repeats, policies, joint_policies, joint_returns, meta_games, train_dists,
     _, train_values, _, _, _) = jpsro.initialize(game, "mgcce", "uni", "uniform", False, "largest_gap")
    gaps, times, pops, stop = [], [], [], "iteration cap"
    while True:
        new, incentives = jpsro.find_best_response(game, train_dists[-1], meta_games[-1], iteration,
                                                   joint_policies, "cce", "all", -1.0)
        gaps.append(float(sum(sum(g) for g in incentives)))
        times.append(time.perf_counter() - start)
        pops.append(sum(repeats[0]))
        if gaps[-1] <= JPSRO_GAP:
            stop = "converged"
            break
        if times[-1] > JPSRO_TIME_CAP:
            stop = f"time cap {JPSRO_TIME_CAP:.0f} s"
            break
        if iteration + 1 >= JPSRO_MAX_ITERATIONS:
            break
        jpsro.add_new_policies(new, incentives, repeats, policies, joint_policies, joint_returns,
                               game, "largest_gap")
        jpsro.add_meta_game(meta_games, policies, joint_returns)
        jpsro.add_meta_dist(train_dists, train_values, "mgcce", meta_games[-1], repeats, False)
        iteration += 1
    return {"gaps": gaps, "times": times, "pops": pops, "total": time.perf_counter() - start,
            "stop": stop, "unique": [len(p) for p in policies]}


def _jpsro_case(peer_too: bool = True) -> list[dict]:
    print(f"\n## kuhn_poker(players=3): JPSRO, max-Gini CCE, until CCE gap <= {JPSRO_GAP:g} "
          f"(caps: {JPSRO_TIME_CAP:.0f} s, {JPSRO_MAX_ITERATIONS} iterations per side)")
    if not _cce_available():
        print("ours: registry entry 'cce' with option 'objective' is not available yet; skipped")
        return []
    ours = _ours("kuhn_poker", {"players": 3}, JPSRO_MAX_ITERATIONS, "cce", {"objective": "max_gini"},
                 stop_gap=JPSRO_GAP, time_cap=JPSRO_TIME_CAP)
    ours_stop = "converged" if ours["gaps"][-1] <= JPSRO_GAP else "cap"
    if not peer_too:
        for t, g in enumerate(ours["gaps"]):
            print(f"{t:3d} {ours['pops'][t]:4d} {g:15.9g} {ours['times'][t]:10.4f}")
        print(f"ours: {ours_stop} after {len(ours['gaps'])} iterations, {ours['total']:.3f} s")
        return []
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scipy.sparse.diags inside jpsro's QP
        peer = _peer_jpsro(pyspiel.load_game("kuhn_poker", {"players": 3}))
    print(f"{'it':>3} {'pop':>4} {'ours CCE gap':>15} {'ours t(s)':>10} | {'pop':>4} "
          f"{'peer CCE gap':>15} {'peer t(s)':>10}")
    for t in range(max(len(ours["gaps"]), len(peer["gaps"]))):
        left = (f"{ours['pops'][t]:4d} {ours['gaps'][t]:15.9g} {ours['times'][t]:10.4f}"
                if t < len(ours["gaps"]) else " " * 31)
        right = (f"{peer['pops'][t]:4d} {peer['gaps'][t]:15.9g} {peer['times'][t]:10.3f}"
                 if t < len(peer["gaps"]) else "")
        print(f"{t:3d} {left} | {right}")
    qp = "CVXOPT" if "CVXOPT" in cvxpy.installed_solvers() else "OSQP (no cvxopt)"
    note = (f"ours {ours_stop} at it {len(ours['gaps']) - 1} (gap {ours['gaps'][-1]:.3g}, "
            f"{ours['solver']}); peer {peer['stop']} at it {len(peer['gaps']) - 1} "
            f"(gap {peer['gaps'][-1]:.3g}, unique policies {peer['unique']}, QP {qp})")
    if peer["stop"] != "converged":
        note += "; peer time is a lower bound"
    print(note)
    return [_row(f"kuhn_3p: JPSRO max-Gini CCE to gap<={JPSRO_GAP:g}", ours["times"][-1],
                 "open_spiel jpsro (mgcce, cce BR)", peer["times"][-1], note)]


# --------------------------------------------------------------------------- driver

def _row(case: str, ours: float, peer: str, peer_s: float, note: str = "") -> dict:
    row = {"case": case, "ours_s": ours, "peer": peer, "peer_s": peer_s,
           "ratio": peer_s / ours, "note": note}
    print(f"ROW {case:44s} ours {ours:9.3f} s | {peer:42s} {peer_s:9.2f} s | x{row['ratio']:8.1f}")
    return row


CASES = ("kuhn", "leduc", "kuhn3p_jpsro")


def run(quick: bool = False, only: list[str] | None = None) -> list[dict]:
    """Rows ``{"case", "ours_s", "peer", "peer_s", "ratio", "note"}`` (ratio = peer / ours)."""
    cases = only or (["kuhn"] if quick else list(CASES))
    rows: list[dict] = []
    if "kuhn" in cases:
        rows += _psro_case("kuhn_poker", 10 if quick else 30)
    if "leduc" in cases:
        rows += _psro_case("leduc_poker", 10 if quick else 30)
    if "kuhn3p_jpsro" in cases:
        rows += _jpsro_case(peer_too=not quick)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="kuhn only, 10 iterations")
    parser.add_argument("--only", choices=CASES, action="append", help="run only these cases")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(quick=args.quick, only=args.only)
    print("\n| case | ours (s) | peer | peer (s) | peer/ours | note |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['ours_s']:.4g} | {r['peer']} | {r['peer_s']:.4g} | "
              f"{r['ratio']:.3g} | {r['note']} |")
    print(f"(total {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
