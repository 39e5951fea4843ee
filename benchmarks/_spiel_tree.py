"""Exact extensive-form evaluation (popgames.kinds.spiel.tree) beside OpenSpiel's, same policies.

    .venv/bin/python benchmarks/_spiel_tree.py [--quick]

Peers: OpenSpiel's C++ (``pyspiel.expected_returns``, ``TabularBestResponse``,
``pyspiel.nash_conv``) and Python (``policy_value``, ``BestResponsePolicy``,
``exploitability.nash_conv``, ``PolicyAggregator``). Policies are converted to the
peer's format outside the timed region. Each time is the best of several runs.
The last case is the oracle + evaluator work of a PSRO run on leduc (uniform
meta-strategy, so no meta-solver): per iteration a best response per player to
the opponents' mixture, the new meta-game entries and the mixture's NashConv;
both sides must end at the same NashConv. Ours is also printed for 30 iterations.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np
import pyspiel
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms import best_response as os_br
from open_spiel.python.algorithms import expected_game_score, exploitability, get_all_states
from open_spiel.python.algorithms import policy_aggregator

from popgames.kinds.spiel.best_response import (best_response, best_response_to_reach, mixture_policy,
                                          nash_conv, nash_conv_from_reach)
from popgames.kinds.spiel.game import SpielGame, to_tabular_policy
from popgames.kinds.spiel.policies import expected_returns, expected_returns_many, random_policy, terminal_reach
from popgames.kinds.spiel.tree import build_tree


def _best(fn: Callable[[], object], budget: float, max_runs: int = 200) -> float:
    """Best wall time of ``fn`` over repeated runs within about ``budget`` seconds."""
    best, spent, runs = np.inf, 0.0, 0
    while runs < max_runs and (runs < 1 or spent < budget):
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best


def _row(case: str, ours: float, peer: str, peer_s: float, note: str = "") -> dict:
    row = {"case": case, "ours_s": ours, "peer": peer, "peer_s": peer_s,
           "ratio": peer_s / ours, "note": note}
    print(f"{case:38s} ours {ours * 1e3:9.3f} ms | {peer:34s} {peer_s * 1e3:10.2f} ms | "
          f"x{row['ratio']:8.1f}  {note}")
    return row


def _game_rows(name: str, quick: bool) -> list[dict]:
    sg = SpielGame(name)
    game, tree = sg.game, sg.tree
    n, root = tree.n_players, game.new_initial_state()
    rng = np.random.default_rng(0)
    rows = random_policy(tree, rng)
    tab = to_tabular_policy(tree, rows, os_policy.TabularPolicy(game))
    cpp = os_policy.python_policy_to_pyspiel_policy(tab)
    fast, slow = (0.2, 0.0) if quick else (1.0, 2.0)
    out = []

    ours = _best(lambda: build_tree(game), fast, 20)
    peer = _best(lambda: get_all_states.get_all_states(game, -1, True, True), slow, 3)
    out.append(_row(f"{name}: build tree", ours, "open_spiel get_all_states (py)", peer,
                    f"{tree.n_nodes} nodes, {tree.n_infostates} infostates"))

    ours = _best(lambda: expected_returns(tree, rows), fast)
    out.append(_row(f"{name}: expected_returns", ours, "pyspiel.expected_returns (C++)",
                    _best(lambda: pyspiel.expected_returns(root, cpp, -1, True), fast)))
    out.append(_row(f"{name}: expected_returns", ours, "expected_game_score.policy_value (py)",
                    _best(lambda: expected_game_score.policy_value(root, [tab] * n), slow, 3)))

    ours = _best(lambda: [best_response(tree, p, rows) for p in range(n)], fast)
    peer = _best(lambda: [pyspiel.TabularBestResponse(game, p, cpp).value(root.history_str())
                          for p in range(n)], fast, 20)
    out.append(_row(f"{name}: best_response (all players)", ours,
                    "pyspiel.TabularBestResponse (C++)", peer))
    peer = _best(lambda: [os_br.BestResponsePolicy(game, p, tab).value(root) for p in range(n)],
                 slow, 3)
    out.append(_row(f"{name}: best_response (all players)", ours, "BestResponsePolicy (py)", peer))

    ours = _best(lambda: nash_conv(tree, rows), fast)
    out.append(_row(f"{name}: nash_conv", ours, "pyspiel.nash_conv (C++)",
                    _best(lambda: pyspiel.nash_conv(game, cpp), fast, 20)))
    out.append(_row(f"{name}: nash_conv", ours, "exploitability.nash_conv (py)",
                    _best(lambda: exploitability.nash_conv(game, tab), slow, 3)))

    # NashConv of a 3-policy mixture: behavioural mixture + NashConv, both sides.
    pops = np.stack([random_policy(tree, rng) for _ in range(3)])
    weights = rng.dirichlet(np.ones(3))
    tabs = [to_tabular_policy(tree, r, tab) for r in pops]

    def ours_mix():
        mix = np.concatenate([mixture_policy(tree, pops, weights, p) for p in range(n)])
        return nash_conv(tree, mix)

    def peer_mix():
        agg = policy_aggregator.PolicyAggregator(game).aggregate(
            list(range(n)), [tabs] * n, [list(weights)] * n)
        return exploitability.nash_conv(game, agg)

    out.append(_row(f"{name}: nash_conv of a 3-mixture", _best(ours_mix, fast),
                    "PolicyAggregator + nash_conv (py)", _best(peer_mix, slow, 3)))

    # A K x K meta-game of population policies (both players' populations random).
    k = 10 if quick else 30
    popk = [np.stack([random_policy(tree, rng) for _ in range(k)]) for _ in range(n)]
    cpps = [[os_policy.python_policy_to_pyspiel_policy(to_tabular_policy(tree, r, tab))
             for r in pop] for pop in popk]

    def ours_table():
        return expected_returns_many(tree, [terminal_reach(tree, p, popk[p]) for p in range(n)])

    def peer_table():
        return [pyspiel.expected_returns(root, [cpps[0][a], cpps[1][b]], -1, False)
                for a in range(k) for b in range(k)]

    if n == 2:
        out.append(_row(f"{name}: {k}x{k} meta-game", _best(ours_table, fast),
                        "pyspiel.expected_returns x K^2 (C++)", _best(peer_table, slow, 2)))
    return out


def _psro_workload(iterations: int, peer: bool) -> list[dict]:
    """Oracle + evaluator of PSRO on leduc with a uniform meta-strategy, ours vs OpenSpiel."""
    sg = SpielGame("leduc_poker")
    game, tree = sg.game, sg.tree
    root = game.new_initial_state()
    start_rows = np.where(tree.legal, 1.0, 0.0) / tree.legal.sum(axis=1, keepdims=True)

    def ours():
        pops = [[start_rows[tree.info_slice(p)]] for p in range(2)]
        reach = [terminal_reach(tree, p, pops[p][0])[None] for p in range(2)]
        for _ in range(iterations):
            mixed = [r.mean(axis=0) for r in reach]
            new = [best_response_to_reach(tree, p, mixed)[0] for p in range(2)]
            for p in range(2):
                pops[p].append(new[p])
                reach[p] = np.vstack([reach[p], terminal_reach(tree, p, new[p])[None]])
            table = expected_returns_many(tree, reach)
            gap = nash_conv_from_reach(tree, [r.mean(axis=0) for r in reach])[0]
        return table, gap

    start = time.perf_counter()
    table, gap = ours()
    ours_s = time.perf_counter() - start
    if not peer:
        print(f"PSRO-style leduc x{iterations}: ours {ours_s:.3f} s, final NashConv {gap:.4f}")
        return []

    template = os_policy.TabularPolicy(game)

    def peer_run():
        pops = [[template.__copy__()] for _ in range(2)]
        values = {}
        for it in range(iterations):
            k = len(pops[0])
            w = [1.0 / k] * k
            agg = policy_aggregator.PolicyAggregator(game).aggregate([0, 1], pops, [w, w])
            agg_tab = os_policy.tabular_policy_from_callable(game, agg)
            cpp_agg = os_policy.python_policy_to_pyspiel_policy(agg_tab)
            for p in range(2):
                actions = pyspiel.TabularBestResponse(game, p, cpp_agg).get_best_response_actions()
                br = template.__copy__()
                for key, a in actions.items():
                    if key in br.state_lookup and br.legal_actions_mask[br.state_lookup[key]].sum():
                        br.action_probability_array[br.state_lookup[key]] = np.eye(3)[a]
                pops[p].append(br)
            cpp_pops = [[os_policy.python_policy_to_pyspiel_policy(t) for t in pop] for pop in pops]
            for a in range(k + 1):
                for b in range(k + 1):
                    if (a, b) not in values:
                        values[a, b] = pyspiel.expected_returns(
                            root, [cpp_pops[0][a], cpp_pops[1][b]], -1, False)
            w = [1.0 / (k + 1)] * (k + 1)
            agg = policy_aggregator.PolicyAggregator(game).aggregate([0, 1], pops, [w, w])
            gap = pyspiel.nash_conv(game, os_policy.python_policy_to_pyspiel_policy(
                os_policy.tabular_policy_from_callable(game, agg)))
        return gap

    start = time.perf_counter()
    peer_gap = peer_run()
    peer_s = time.perf_counter() - start
    note = f"final NashConv ours {gap:.6f}, peer {peer_gap:.6f}"
    return [_row(f"leduc: PSRO oracle+evaluator x{iterations}", ours_s,
                 "OpenSpiel aggregator + C++ BR/eval", peer_s, note)]


def run(quick: bool = False) -> list[dict]:
    rows = []
    for name in ("kuhn_poker", "leduc_poker"):
        rows += _game_rows(name, quick)
    # OpenSpiel's side of the PSRO workload grows to minutes past ~10 iterations.
    rows += _psro_workload(3 if quick else 10, peer=True)
    if not quick:
        _psro_workload(30, peer=False)
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
