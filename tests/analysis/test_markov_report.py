"""The report of a markov-game run: social-dilemma metrics against reference baselines,
the sampled meta-game with intervals, its verified equilibria."""

import re

import numpy as np

import popgames
from popgames.analysis.reports import write_report
from popgames.kinds.markov.evaluation import reference_baselines
from popgames.psro import main as psro_main
from popgames.runs.facts import read_game_facts
from popgames.runs.options import run_main


def test_markov_report_sections(tmp_path):
    run = tmp_path / "run"
    assert run_main(psro_main, ["games/trust_split", "--iterations", "2", "--out", str(run), "--device", "cpu",
                                "--oracle-option", "updates=1", "--oracle-option", "num_envs=32",
                                "--oracle-option", "eval_episodes=64", "--no-report"]) == 0
    text = write_report(run).read_text()
    for heading in ("## Social-dilemma metrics", "## Final meta-game", "## Equilibria of the final meta-game",
                    "NashConv (PPO estimate)"):
        assert heading in text
    assert (run / "game_metrics.png").stat().st_size > 1000
    # The baselines come from the game facts the driver stored, not from reloading the game.
    assert "| greedy vs greedy |" in text
    assert np.isclose(read_game_facts(run)["baselines"]["greedy vs greedy"]["split_efficiency"], 0.55)
    # Every equilibrium line carries a verified gap that is small.
    gaps = [float(g) for g in re.findall(r"\| ([0-9.]+e[-+][0-9]+) \|$", text, flags=re.M)]
    assert gaps and max(gaps) < 1e-3
    # The verdict sentence agrees with the numbers it quotes.
    final = float(re.search(r"Final split efficiency: \*\*([0-9.]+)", text).group(1))
    if "above the greedy baseline" in text:
        assert final > 0.55
    if "below even the greedy baseline" in text:
        assert final < 0.55


def test_reference_baselines_match_hand_values():
    # greedy vs greedy: 5 coins each a round -> efficiency (50 + 5) / 100 = 0.55 (see
    # tests/games/test_trust_split.py); honest conceding gives every coin to the winner: 1.0.
    base = reference_baselines(popgames.load_game("games/trust_split"))
    assert np.isclose(base["greedy vs greedy"]["split_efficiency"], 0.55)
    assert np.isclose(base["welfare vs welfare"]["split_efficiency"], 1.0)
