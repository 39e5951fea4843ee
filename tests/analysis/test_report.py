"""Run reports: contents, figures and the quantities they show, from real run folders."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest

from popgames.analysis.reports import write_report
from popgames.analysis.reports.population import deviation_payoffs, player_weights, policy_origins
from popgames.analysis.reports.run_data import read_final, read_run
from popgames.core.errors import PopgamesError
from popgames.psro import main as psro_main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three small runs made in-process: 2-player PSRO, 3-player JPSRO, a matrix game."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for key, args in {"kuhn": ["games/kuhn_poker", "--iterations", "5"],
                      "kuhn3": ["games/kuhn_poker_3p", "--iterations", "4"],
                      "rps": ["games/rock_paper_scissors", "--iterations", "6"]}.items():
        assert psro_main([*args, "--out", str(root / key)]) == 0
        made[key] = root / key
    return made


def _report(run) -> str:
    return (run / "report.md").read_text()


def test_two_player_report(runs):
    run = runs["kuhn"]
    config, records = read_run(run)
    text = _report(run)
    for needle in ("# kuhn_poker: PSRO with `nash` meta-solver", "## Configuration",
                   "| meta-solver | `nash`, options none; answered by `nash/zero_sum_lp` |",
                   "ties broken by `tremble`", "| iterations | 5 of 5 |", "| seed | 0 |",
                   "## Result", "## Final meta-strategy", "## NashConv by iteration",
                   "![final meta-game](meta_game.png)", "| 0 | #4 | best response, it 3 |"):
        assert needle in text, needle
    last = records[-1]
    assert f"| final NashConv (iteration 4) | {last['exploitability']:.4f} |" in text
    for p, gain in enumerate(last["per_player"]):
        assert f"| player {p}'s regret (best-response gain in the full game) |" in text
    assert sum(last["per_player"]) == pytest.approx(last["exploitability"])
    for name in ("exploitability.png", "meta_strategy.png", "meta_game.png"):
        image = mpimg.imread(run / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    heatmap = mpimg.imread(run / "meta_game.png")
    assert heatmap.shape[1] > 2 * heatmap.shape[0]   # one panel per player
    _, pops = read_final(run)
    origins = policy_origins(records, [6, 6], pops, None)
    assert origins[0][0] == "initial (uniform random)" and origins[1][5] == "best response, it 4"


def test_deviation_payoffs_show_the_equilibrium_property(runs):
    """What the heatmap / bar figure and the strategy table show, checked by definition:
    under a Nash meta-strategy every supported policy earns the meta payoff and none earns
    more; under a CCE no policy earns more against the others' marginal than the joint."""
    for key in ("kuhn", "kuhn3"):
        _, records = read_run(runs[key])
        meta, pops = read_final(runs[key])
        last = records[-1]
        assert meta.shape[1:] == tuple(len(p) for p in pops)
        for p, w in enumerate(player_weights(last)):
            dev = deviation_payoffs(meta, last, p)[: len(w)]
            assert dev.max() <= last["meta_payoffs"][p] + 1e-9
            if key == "kuhn":
                np.testing.assert_allclose(dev[w > 1e-9], last["meta_payoffs"][p], atol=1e-9)
                # Brute force for two players: the row (or column) against the other's weights.
                other = np.asarray(last["meta_strategy"][1 - p])
                block = meta[p][: len(w), : len(other)] if p == 0 else meta[p][: len(other), : len(w)].T
                np.testing.assert_allclose(dev, block @ other, atol=1e-12)


def test_three_player_joint_report(runs):
    text = _report(runs["kuhn3"])
    assert "JPSRO with CCE meta-solver" in text and "Joint meta-strategy:" in text
    assert "| player 2's regret" in text and "CCE gap by iteration" in text
    assert "payoff against the others' part of the final meta-strategy" in text
    image = mpimg.imread(runs["kuhn3"] / "meta_game.png")
    assert image.shape[1] > 3 * image.shape[0]   # one panel per player


def test_matrix_report_names_actions_and_early_stop(runs):
    text = _report(runs["rps"])
    assert "action rock (initial)" in text and "action paper (best response, it 0)" in text
    assert "(stopped early: the meta-strategy is an equilibrium of the full game)" in text


def test_policy_origins_with_several_responses_per_iteration():
    records = [{"iteration": 0, "population_size": [1, 1]},
               {"iteration": 1, "population_size": [2, 3]}]
    assert policy_origins(records, [4, 3], None, None) == [
        ["initial", "best response, it 0", "best response, it 1", "best response, it 1"],
        ["initial", "best response, it 0", "best response, it 0"]]


def test_report_without_checkpoint_and_bad_folders(runs, tmp_path):
    run = tmp_path / "copy"
    run.mkdir()
    for name in ("config.toml", "metrics.jsonl"):
        (run / name).write_bytes((runs["kuhn"] / name).read_bytes())
    text = write_report(run).read_text()
    assert "meta_game.png" not in text and not (run / "meta_game.png").exists()
    assert "payoff vs others" not in text and "## Final meta-strategy" in text
    with pytest.raises(PopgamesError, match="not a readable run folder"):
        write_report(tmp_path / "nothing")
    (run / "metrics.jsonl").write_text("")
    with pytest.raises(PopgamesError, match="no iterations yet"):
        write_report(run)
    (run / "metrics.jsonl").write_text(json.dumps({"x": 1})[:-1])
    with pytest.raises(PopgamesError, match="not a readable run folder"):
        write_report(run)


def test_rebuilding_a_received_report_runs_no_game_code(runs, tmp_path):
    """A run folder someone sends you: its config.toml may name any game. Rebuilding the
    report once loaded that game, and a Markov card's rules.py ran on this machine."""
    trap = tmp_path / "trap"
    trap.mkdir()
    marker = tmp_path / "rules_ran"
    (trap / "game.toml").write_text('kind = "markov"\nname = "trap"\n')
    (trap / "rules.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    received = tmp_path / "received"
    received.mkdir()
    for item in runs["rps"].iterdir():
        if item.is_file():
            (received / item.name).write_bytes(item.read_bytes())
        else:
            (received / item.name).mkdir()
            for inner in item.iterdir():
                (received / item.name / inner.name).write_bytes(inner.read_bytes())
    config = (received / "config.toml").read_text()
    (received / "config.toml").write_text(config.replace("games/rock_paper_scissors", str(trap)))
    out = subprocess.run([sys.executable, "-m", "popgames.report", str(received)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not marker.exists()
    # The action names still appear: they come from the folder's game_facts.json.
    assert "action rock (initial)" in (received / "report.md").read_text()


def test_malformed_game_facts_are_one_clear_error(runs, tmp_path):
    run = tmp_path / "copy"
    run.mkdir()
    for name in ("config.toml", "metrics.jsonl"):
        (run / name).write_bytes((runs["rps"] / name).read_bytes())
    (run / "game_facts.json").write_text('{"actions": [[1, 2]]}')
    with pytest.raises(PopgamesError, match="game_facts.json: field 'actions'"):
        write_report(run)
