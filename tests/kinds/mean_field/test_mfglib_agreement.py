"""Our susceptible_infected and beach_bar cards against mfglib 0.3.0, the library they follow.

Live tests (skipped without mfglib; ``pip install --no-deps -r benchmarks/peers.txt``) run
mfglib through ``benchmarks/peers/mfglib_peer.py`` in float64 on the same policies as ours.
The reference tests always run: they hold numbers mfglib 0.3.0 printed, with the call that
printed them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import popgames
from popgames.kinds.mean_field.exact import exploitability, uniform_policy
from popgames.loops.mean_field.loop import mean_field

REPO = Path(__file__).resolve().parents[3]
CARDS = ("susceptible_infected", "beach_bar")


def _peer():
    pytest.importorskip("mfglib")
    spec = importlib.util.spec_from_file_location("popgames_mfglib_peer",
                                                  REPO / "benchmarks" / "peers" / "mfglib_peer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not module.available():
        pytest.skip("mfglib is installed but mfglib.alg does not import")
    return module


def _policies(rules) -> list[np.ndarray]:
    """The uniform policy and three seeded random ones, ``pi[t, x, a]``."""
    shape = (rules.horizon, rules.n_states)
    return [uniform_policy(rules)] + [np.random.default_rng(seed).dirichlet(np.ones(rules.n_actions), size=shape)
                                      for seed in (0, 1, 2)]


def _ours(name: str, policy: np.ndarray) -> float:
    return exploitability(popgames.load_game(name).rules, policy)["exploitability"]


# --- live: mfglib installed ------------------------------------------------------------

@pytest.mark.parametrize("name", CARDS)
def test_exploitability_agrees_with_mfglib(name):
    peer = _peer()
    rules = popgames.load_game(name).rules
    for policy in _policies(rules):
        ours = _ours(name, policy)
        # float64 mfglib: the same model, so round-off only (measured: <= 2.5e-14).
        assert peer.exploitability(name, policy) == pytest.approx(ours, rel=0, abs=1e-11)
        # mfglib as it runs by default, float32 (measured: <= 2.7e-6).
        assert peer.exploitability(name, policy, "float32") == pytest.approx(ours, rel=0, abs=2e-5)


@pytest.mark.parametrize("algorithm", ["fp", "omd"])
@pytest.mark.parametrize("name", CARDS)
def test_first_iterations_agree_with_mfglib(name, algorithm):
    """mfglib's FictitiousPlay (weight 1 / (i + 2)) and OnlineMirrorDescent (alpha 1.0) are
    our fp and omd steps: the same exploitability after each of the first 8 iterations."""
    peer = _peer()
    theirs, _ = peer.run(name, algorithm, 8, warm=False)
    ours = [r.exploitability for r in mean_field(popgames.load_game(name), 8, algorithm=algorithm)]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-11)


# --- always: numbers measured with mfglib 0.3.0 ----------------------------------------

# mfglib 0.3.0 (torch 2.13.0, CPU):
#   import torch, mfglib.alg; from mfglib.env import Environment
#   from mfglib.scoring import exploitability_score
#   torch.set_default_dtype(torch.float64)   # FLOAT64 only; FLOAT32 is without this line
#   env = Environment.susceptible_infected()   # resp. Environment.beach_bar()
#   exploitability_score(env, torch.ones(env.T + 1, *env.S, *env.A) / env.n_actions)
UNIFORM_FLOAT64 = {"susceptible_infected": 5.466873913228518, "beach_bar": 1.2212622552965304}
UNIFORM_FLOAT32 = {"susceptible_infected": 5.46687126159668, "beach_bar": 1.2212623357772827}


@pytest.mark.parametrize("name", CARDS)
def test_uniform_exploitability_matches_mfglib_reference(name):
    ours = _ours(name, uniform_policy(popgames.load_game(name).rules))
    assert ours == pytest.approx(UNIFORM_FLOAT64[name], rel=0, abs=1e-12)
    # float32 round-off over the horizon's steps (measured 2.7e-6 and 8e-8).
    assert ours == pytest.approx(UNIFORM_FLOAT32[name], rel=0, abs=1e-5)


# mfglib 0.3.0, float64 as above, then the exploitability after iteration k (expls[k]) of
#   FictitiousPlay(alpha=0.0).solve(env, max_iter=100, atol=None, rtol=None)
#   OnlineMirrorDescent(alpha=1.0).solve(env, max_iter=100, atol=None, rtol=None)
CURVES = {
    ("susceptible_infected", "fp"): {1: 3.656916928345993, 2: 5.75421251202625, 10: 1.1168072467973182,
                                     100: 0.8611284597036715},
    ("susceptible_infected", "omd"): {1: 4.577030744522592, 2: 3.7205885589005163, 10: 0.383170888719814,
                                      100: 0.6452652470743878},
    ("beach_bar", "fp"): {1: 0.40143711297554163, 2: 0.24035002386848237, 10: 0.05801913474363052,
                          100: 0.006342986853306254},
    ("beach_bar", "omd"): {1: 0.5316852096715952, 2: 0.34105417264124527, 10: 0.07609383801372371,
                           100: 0.001699598728281293},
}


@pytest.mark.parametrize("name, algorithm", list(CURVES))
def test_loop_curves_match_mfglib_reference(name, algorithm):
    curve = [r.exploitability for r in mean_field(popgames.load_game(name), 100, algorithm=algorithm)]
    for k, value in CURVES[name, algorithm].items():
        # 100 iterations of round-off (measured: <= 4.7e-13 from mfglib's float64 run).
        assert curve[k - 1] == pytest.approx(value, rel=0, abs=1e-9), k
