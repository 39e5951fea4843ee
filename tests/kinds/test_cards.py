"""Game cards: shipped cards load; every malformed card gives one line naming file, field, cause."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import popgames
from popgames.core.errors import GameCardError

REPO = Path(__file__).resolve().parents[2]

GOOD = """
name = "tiny"
kind = "matrix"
players = ["row", "column"]
actions = [["a", "b"], ["x", "y", "z"]]
[payoffs]
row = [[1, 2, 3], [4, 5, 6]]
column = [[0, 0, 0], [1, 1, 1]]
[solvers.rae]
mean_weight = 0.5
[psro]
meta_solver = "nash"
iterations = 3
"""


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir(exist_ok=True)
    (folder / "game.toml").write_text(text)
    return folder


def test_every_shipped_card_loads():
    names = popgames.builtin_games()
    required = {"rock_paper_scissors", "matching_pennies", "prisoners_dilemma", "stag_hunt",
                "chicken", "battle_of_the_sexes", "shapleys_game"}
    assert required <= set(names)
    assert any(popgames.load_game(n).n_players == 3 for n in names)
    for name in names:
        by_name, by_path = popgames.load_game(name), popgames.load_game(REPO / "games" / name)
        assert type(by_name) is type(by_path) and by_path.name == name and by_path.description
        if isinstance(by_path, popgames.MatrixGame):
            np.testing.assert_array_equal(by_name.payoffs, by_path.payoffs)
        elif by_path.kind == "markov":
            assert by_name.params == by_path.params and by_path.reference_policies()
        elif by_path.kind in ("mean_field", "graphon", "openspiel_mfg"):
            assert by_name.params == by_path.params and by_path.rules.horizon >= 1
        elif by_path.kind == "openspiel":
            assert str(by_name.game) == str(by_path.game)


def test_openspiel_cards():
    kuhn3 = popgames.load_game("kuhn_poker_3p")
    assert kuhn3.n_players == 3 and kuhn3.spiel_name == "kuhn_poker"
    assert popgames.load_game("goofspiel_4").game.get_type().dynamics.name == "SEQUENTIAL"
    assert popgames.load_game("leduc_poker").tree.n_infostates == 936  # Southey et al. 2005


def test_good_card_fields(tmp_path):
    game = popgames.load_game(_write(tmp_path, GOOD))
    assert game.num_actions == (2, 3) and game.players == ("row", "column")
    assert game.payoffs[0, 1, 2] == 6 and game.payoffs[1, 1, 0] == 1
    assert game.solver_options == {"rae": {"mean_weight": 0.5}}
    assert game.psro == {"meta_solver": "nash", "iterations": 3}
    assert popgames.load_game(_write(tmp_path, GOOD) / "game.toml").num_actions == (2, 3)


BAD = [
    ('kind = "matrix"', 'kind = "poker"', "kind", "unknown kind 'poker'"),
    ('kind = "matrix"\n', "", "kind", "missing"),
    ('row = [[1, 2, 3], [4, 5, 6]]', 'row = [[1, 2], [4, 5]]', "payoffs.row", "expected shape (2, 3)"),
    ('row = [[1, 2, 3], [4, 5, 6]]', 'row = [[1, nan, 3], [4, 5, 6]]', "payoffs.row", "NaN"),
    ('row = [[1, 2, 3], [4, 5, 6]]', 'row = [[1, inf, 3], [4, 5, 6]]', "payoffs.row", "infinite"),
    ('row = [[1, 2, 3], [4, 5, 6]]', 'row = [[1, "x", 3], [4, 5, 6]]', "payoffs.row[0][1]",
     "expected a number, got str 'x'"),
    # numpy would read these as 2.0 and 1.0
    ('row = [[1, 2, 3], [4, 5, 6]]', 'row = [[1, 2, 3], ["2", 5, 6]]', "payoffs.row[1][0]",
     "expected a number, got str '2'"),
    ('column = [[0, 0, 0], [1, 1, 1]]', 'column = [[0, 0, 0], [1, true, 1]]', "payoffs.column[1][1]",
     "expected a number, got bool True"),
    ('row = [[1, 2, 3], [4, 5, 6]]', 'row = [[1, 2, 3], [4, 5, {v = 6}]]', "payoffs.row[1][2]",
     "expected a number, got dict"),
    ('row = [[1, 2, 3], [4, 5, 6]]', 'row = [[1, 2, 3], [4, 5]]', "payoffs.row", "not a rectangular array"),
    ('name = "tiny"', 'name = 3', "name", "expected str, got int 3"),
    ('iterations = 3', 'iterations = true', "psro.iterations", "expected int, got bool True"),
    ('iterations = 3', 'iterations = 3\ninitial = ["a", 1]', "psro.initial[1]", "expected str"),
    ('iterations = 3', 'iterations = 3\ninitial = []', "psro.initial", "names no policy"),
    ('row = [[1, 2, 3], [4, 5, 6]]\n', "", "payoffs.row", "missing"),
    ('column = [[0, 0, 0], [1, 1, 1]]', 'columns = [[0, 0, 0], [1, 1, 1]]', "payoffs.columns", "not a player"),
    ('actions = [["a", "b"], ["x", "y", "z"]]', 'actions = [["a", "b"]]', "actions", "1 action lists for 2"),
    ('actions = [["a", "b"], ["x", "y", "z"]]', 'actions = [["a", "a"], ["x", "y", "z"]]', "actions[0]", "duplicate"),
    ('meta_solver = "nash"', 'meta_solver = "nashh"', "psro.meta_solver", "unknown meta-solver 'nashh'"),
    ('iterations = 3', 'iterations = "three"', "psro.iterations", "expected int"),
    ('iterations = 3', 'iterations = 0', "psro.iterations", "at least 1"),
    ('iterations = 3', 'iteratons = 3', "psro.iteratons", "unknown key"),
    ('[solvers.rae]', '[solvers.raee]', "solvers.raee", "unknown meta-solver 'raee'"),
    ('mean_weight = 0.5', 'mean_wieght = 0.5', "solvers.rae.mean_wieght", "unknown option"),
    ('name = "tiny"', 'name = "tiny', "<toml>", "not valid TOML"),
]


@pytest.mark.parametrize("old,new,field,cause", BAD, ids=[b[2] + ":" + b[3] for b in BAD])
def test_malformed_card_names_file_field_cause(tmp_path, old, new, field, cause):
    assert old in GOOD
    folder = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(GameCardError) as err:
        popgames.load_game(folder)
    message = str(err.value)
    assert str(folder / "game.toml") in message and f"field '{field}'" in message, message
    assert cause in message, message
    assert "\n" not in message


SPIEL = """
name = "tiny_poker"
kind = "openspiel"
game = "kuhn_poker"
[params]
players = 2
"""


@pytest.mark.parametrize("old,new,field,cause", [
    ('game = "kuhn_poker"', 'game = "kuhn_pokr"', "game", "OpenSpiel has no game 'kuhn_pokr'"),
    ("players = 2", "player = 2", "params.player", "no such parameter"),
    ("players = 2", "players = 1", "params", "OpenSpiel rejected"),
    ('game = "kuhn_poker"\n[params]\nplayers = 2', 'game = "mfg_crowd_modelling"', "game", "only turn-based games"),
])
def test_malformed_openspiel_card(tmp_path, old, new, field, cause):
    folder = _write(tmp_path, SPIEL.replace(old, new))
    with pytest.raises(GameCardError) as err:
        popgames.load_game(folder)
    assert f"field '{field}'" in str(err.value) and cause in str(err.value)


def test_missing_game_folder(tmp_path):
    with pytest.raises(GameCardError, match="no game folder"):
        popgames.load_game(tmp_path / "nowhere")


def test_cli_reports_bad_card_in_one_line_without_traceback(tmp_path):
    folder = _write(tmp_path, GOOD.replace("row = [[1, 2, 3], [4, 5, 6]]", "row = [[1, 2], [4, 5]]"))
    proc = subprocess.run([sys.executable, "-m", "popgames.solve", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "payoffs.row" in lines[0] and "game.toml" in lines[0]


def test_matrix_game_from_array_checks_input():
    with pytest.raises(GameCardError, match="non-finite"):
        popgames.MatrixGame(np.array([[[1.0, np.nan]], [[0.0, 0.0]]]))
    with pytest.raises(GameCardError, match="expected shape"):
        popgames.MatrixGame(np.zeros((3, 2, 2)))
    game = popgames.MatrixGame(np.zeros((2, 2, 3)))
    assert game.actions == (("a0", "a1"), ("a0", "a1", "a2")) and game.is_constant_sum


TEAM = """
kind = "team_matrix"
[params]
N = 2
C = 1.5
epsilon = 0.1
"""


@pytest.mark.parametrize("old,new,field", [
    ("C = 1.5", "C = true", "params.C"),            # float(True) would be 1.0
    ("epsilon = 0.1", 'epsilon = "0.1"', "params.epsilon"),
    ("N = 2", "N = true", "params.N"),
    ('kind = "team_matrix"', 'kind = "team_matrix"\nname = 7', "name"),
])
def test_team_card_numbers_are_numbers(tmp_path, old, new, field):
    assert popgames.load_game(_write(tmp_path, TEAM)).team_size == 2
    with pytest.raises(GameCardError, match=f"field '{field}': expected"):
        popgames.load_game(_write(tmp_path, TEAM.replace(old, new)))
