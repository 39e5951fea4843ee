"""Exact PSRO and JPSRO loops (popgames.loops.psro) beside OpenSpiel's, same games, one process run.

    .venv/bin/python benchmarks/psro.py                  # full run (about 10 minutes)
    .venv/bin/python benchmarks/psro.py --quick          # kuhn only, 10 iterations (seconds)
    .venv/bin/python benchmarks/psro.py --only leduc     # kuhn | leduc | kuhn3p_jpsro | leduc_jpsro

PSRO (kuhn_poker, leduc_poker; 2-player zero-sum, Nash meta-solver). Iteration ``t``
is the meta-strategy over ``t + 1`` policies per player, starting from the uniform
policy, and its exploitability is **NashConv** (sum over players of the best-response
gain in the full game; not NashConv / 2) on both sides.

* ours: ``psro(SpielGame(name), meta_solver="nash", iterations=N,
  stop_exploitability=None)`` (all N iterations, even after an exact equilibrium); the
  time includes loading the game and flattening its tree; NashConv comes with the loop.
  Default ``tie_break="tremble"``; the ``lowest`` column reruns ours with
  ``tie_break="lowest"`` (OpenSpiel's ``TabularBestResponse`` rule on the same input).
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

Why the curves differ (measured on leduc; see ``_emulated``). Both sides' best
responses are exact, and on the same mixture ours with ``tie_break="lowest"`` and
OpenSpiel's ``TabularBestResponse`` choose the same action at every infostate. The
trajectories part because psro_v2 (a) best-responds to ``PolicyAggregator``'s mixture,
which adds ``1e-40`` to every action probability, so every infostate is reachable and
the response is, in effect, a best response to a trembling opponent; and (b) solves the
meta-game by ECOS, an interior-point method, whose answer lies inside the set of
equilibria (more policies in the support, ~1e-10 weights on the rest) where HiGHS's
simplex returns a vertex. The ``emul.`` column is ours with both reproduced (the
peer's own LP solver, and best responses to the aggregator's smoothed mixture): it
follows psro_v2 exactly (kuhn: all 30 iterations; leduc: iterations 0-4, same
meta-strategies to 1e-16) until OpenSpiel's strict ``>`` settles a choice between
actions whose values differ only by round-off, or by the aggregator's 1e-40 terms (a
relative tolerance treats both as ties). Beyond such a point the two curves are
different runs of the same algorithm, and a per-iteration comparison compares two
trajectories of a non-monotone process.

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

JPSRO on leduc_poker, 40 iterations, max-Gini CCE (ours only). OpenSpiel's jpsro was
measured here stalling for over 12 minutes inside its QP at iteration 24 (issue 3), so
the peer is not run; the row's peer time is that lower bound, 720 s, and its note says so.

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

from open_spiel.python.algorithms import lp_solver
from open_spiel.python.algorithms.psro_v2 import meta_strategies

from popgames import solvers
from popgames.core.protocols import Response
from popgames.kinds.spiel.best_response import lexicographic_best_response
from popgames.kinds.spiel.game import SpielGame
from popgames.kinds.spiel.oracle import SpielOracle
from popgames.kinds.spiel.policies import realization_plan, terminal_reach
from popgames.loops.psro import psro
from popgames.solvers.registry import Candidate, register

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
          stop_gap: float | None = None, time_cap: float = np.inf, tie_break: str = "tremble",
          oracle: Any = None) -> dict[str, Any]:
    """Run our loop; per iteration: exploitability, cumulative seconds, player 0's meta value."""
    start = time.perf_counter()
    game = SpielGame(name, params)
    gaps, times, values, pops = [], [], [], []
    solver_used = ""
    for rec in psro(game, meta_solver=meta_solver, iterations=iterations, seed=0,
                    solver_options=options, stop_exploitability=stop_gap, tie_break=tie_break,
                    oracle=oracle(game) if oracle else None):
        gaps.append(rec.exploitability)
        times.append(time.perf_counter() - start)
        values.append(rec.meta_payoffs[0])
        pops.append(rec.population_size[0])
        solver_used = rec.meta_solver
        if times[-1] > time_cap:
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


class _AggregatorOracle(SpielOracle):
    """Diagnostic: best responses to psro_v2's ``PolicyAggregator`` mixture (2 players).

    The aggregator sums, over the histories of an infostate, the meta-weighted own reach
    of each population policy times its action probability, adds ``1e-40`` to every
    legal action and normalises; this rebuilds that behaviour policy and best-responds
    to it with the lowest-index rule (OpenSpiel's, on exact input).
    """

    def __init__(self, game: SpielGame):
        super().__init__(game, tie_break="lowest")
        tree = self.tree
        decision = tree.kind == 0
        self._histories = np.bincount(tree.infoset[decision], minlength=tree.n_infostates)

    def best_response(self, population, player, others):
        tree, q = self.tree, 1 - player
        rows = tree.info_slice(q)
        pols = np.stack(population[q])
        plan = realization_plan(tree, q, pols)
        parent = plan[:, tree.info_parent_seq[rows]] * np.asarray(others)[:, None]
        mass = np.einsum("ki,kia->ia", parent, pols) * self._histories[rows][:, None]
        mass = np.where(tree.legal[rows], mass + 1e-40, 0.0)
        smoothed = terminal_reach(tree, q, mass / mass.sum(axis=1, keepdims=True))
        policy, _ = lexicographic_best_response(tree, player, smoothed[None])
        exact = np.asarray(others) @ self._reaches(population)[q][:, 0]
        return Response(policy, lexicographic_best_response(tree, player, exact[None])[1])


def _ecos_nash(payoffs: np.ndarray) -> Candidate:
    """psro_v2's meta-solver (its LP through cvxpy/ECOS, then its renormalisation)."""
    rows, cols, _, _ = lp_solver.solve_zero_sum_matrix_game(
        pyspiel.create_matrix_game(payoffs[0].tolist(), payoffs[1].tolist()))
    return Candidate(marginals=[meta_strategies.renormalize(np.array(x, float).reshape(-1))
                                for x in (rows, cols)])


def _emulated(name: str, iterations: int) -> dict[str, Any]:
    if "bench_psro_v2_lp" not in solvers.names():
        register("bench_psro_v2_lp", "ecos", _ecos_nash, concept="nash", exact=False,
                 summary="benchmark only: OpenSpiel psro_v2's LP meta-solver (ECOS)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _ours(name, {}, iterations, "bench_psro_v2_lp", oracle=_AggregatorOracle)


def _psro_case(name: str, iterations: int, options: dict | None = None) -> list[dict]:
    meta_solver = _nash_solver()
    print(f"\n## {name}: exact PSRO, {iterations} iterations, Nash meta-solver "
          f"(ours: '{meta_solver}', options {options or {}}), NashConv (sum over players)")
    ours = _ours(name, {}, iterations, meta_solver, options)
    lowest = _ours(name, {}, iterations, meta_solver, options, tie_break="lowest")
    emulated = _emulated(name, iterations)
    peer = _peer_psro(name, iterations)
    print(f"{'it':>3} {'pop':>4} {'ours NashConv':>14} {'peer NashConv':>14} {'ours-peer':>10} "
          f"{'lowest':>10} {'emul.':>10} {'ours v0':>9} {'peer v0':>9} {'ours t(s)':>9} "
          f"{'peer t(s)':>9}")
    for t, (a, b) in enumerate(zip(ours["gaps"], peer["gaps"])):
        flag = " <- ours worse" if a > b + 1e-6 else ""
        print(f"{t:3d} {ours['pops'][t]:4d} {a:14.9g} {b:14.9g} {a - b:10.3g} "
              f"{lowest['gaps'][t]:10.6g} {emulated['gaps'][t]:10.6g} {ours['values'][t]:9.5f} "
              f"{peer['values'][t]:9.5f} {ours['times'][t]:9.4f} {peer['times'][t]:9.3f}{flag}")
    # 1e-6 absorbs the peer's LP tolerance (ECOS stops at 1e-7).
    def worse(curve: list[float]) -> list[int]:
        return [t for t, (a, b) in enumerate(zip(curve, peer["gaps"])) if a > b + 1e-6]

    same = next((t for t, (a, b) in enumerate(zip(emulated["gaps"], peer["gaps"]))
                 if abs(a - b) > 1e-6), len(peer["gaps"]))
    note = (f"ours used {ours['solver']}, tie_break=tremble; final NashConv ours "
            f"{ours['gaps'][-1]:.6g}, peer {peer['gaps'][-1]:.6g}; mean over iterations ours "
            f"{np.mean(ours['gaps']):.4g}, peer {np.mean(peer['gaps']):.4g}; ours worse (by >1e-6) "
            f"at iterations {worse(ours['gaps']) or 'none'}; with tie_break=lowest: mean "
            f"{np.mean(lowest['gaps']):.4g}, worse at {worse(lowest['gaps']) or 'none'}; "
            f"emulating psro_v2's meta-solver and mixture: equal to the peer's curve (1e-6) "
            f"for iterations 0..{same - 1}")
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


LEDUC_JPSRO_ITERATIONS = 40
LEDUC_JPSRO_PEER_STALL_S = 720.0   # measured in issue 3: stalled > 12 min in its QP at it 24


def _leduc_jpsro_case(iterations: int = LEDUC_JPSRO_ITERATIONS) -> list[dict]:
    print(f"\n## leduc_poker: JPSRO, max-Gini CCE, {iterations} iterations (ours only)")
    if not _cce_available():
        print("ours: registry entry 'cce' with option 'objective' is not available yet; skipped")
        return []
    ours = _ours("leduc_poker", {}, iterations, "cce", {"objective": "max_gini"})
    print(f"{'it':>3} {'pop':>4} {'ours CCE gap':>14} {'t(s)':>9}")
    for t, g in enumerate(ours["gaps"]):
        print(f"{t:3d} {ours['pops'][t]:4d} {g:14.9g} {ours['times'][t]:9.3f}")
    note = (f"ours completed {len(ours['gaps'])} iterations ({ours['solver']}), final CCE gap "
            f"{ours['gaps'][-1]:.4g}, min {min(ours['gaps']):.4g}; peer not run: OpenSpiel jpsro "
            f"stalled > {LEDUC_JPSRO_PEER_STALL_S / 60:.0f} min in its QP at iteration 24 "
            "(issue 3), so its time is a lower bound")
    print(note)
    return [_row(f"leduc: JPSRO max-Gini CCE x{iterations}", ours["total"],
                 "open_spiel jpsro (mgcce; stalled, not run)", LEDUC_JPSRO_PEER_STALL_S, note)]


# --------------------------------------------------------------------------- driver

def _row(case: str, ours: float, peer: str, peer_s: float, note: str = "") -> dict:
    row = {"case": case, "ours_s": ours, "peer": peer, "peer_s": peer_s,
           "ratio": peer_s / ours, "note": note}
    print(f"ROW {case:44s} ours {ours:9.3f} s | {peer:42s} {peer_s:9.2f} s | x{row['ratio']:8.1f}")
    return row


CASES = ("kuhn", "leduc", "kuhn3p_jpsro", "leduc_jpsro")


def run(quick: bool = False, only: list[str] | None = None,
        nash_options: dict | None = None) -> list[dict]:
    """Rows ``{"case", "ours_s", "peer", "peer_s", "ratio", "note"}`` (ratio = peer / ours).

    ``nash_options`` go to our Nash meta-solver in the PSRO cases (e.g. ``{"select":
    "max_entropy"}``).
    """
    cases = only or (["kuhn"] if quick else list(CASES))
    rows: list[dict] = []
    if "kuhn" in cases:
        rows += _psro_case("kuhn_poker", 10 if quick else 30, nash_options)
    if "leduc" in cases:
        rows += _psro_case("leduc_poker", 10 if quick else 30, nash_options)
    if "kuhn3p_jpsro" in cases:
        rows += _jpsro_case(peer_too=not quick)
    if "leduc_jpsro" in cases:
        rows += _leduc_jpsro_case()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="kuhn only, 10 iterations")
    parser.add_argument("--only", choices=CASES, action="append", help="run only these cases")
    parser.add_argument("--select", choices=("vertex", "max_entropy"), default=None,
                        help="equilibrium selection of our Nash meta-solver in the PSRO cases "
                             "(solver option 'select'; default: the solver's own default)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(quick=args.quick, only=args.only,
               nash_options={"select": args.select} if args.select else None)
    print("\n| case | ours (s) | peer | peer (s) | peer/ours | note |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['ours_s']:.4g} | {r['peer']} | {r['peer_s']:.4g} | "
              f"{r['ratio']:.3g} | {r['note']} |")
    print(f"(total {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
