"""A learned best response measured against the population it joins (loops.psro._against_population)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from popgames.core.empirical_game import EmpiricalGame
from popgames.loops.psro import PsroState, _against_population


def test_a_response_behind_the_best_member_beyond_its_interval_is_flagged():
    # Player 0 has two members; against player 1's single member the second earns 4, the
    # first 1. The meta-strategy puts all weight on the first (an unsolved meta-game), so the
    # best member gains 3 over it.
    payoffs = np.zeros((2, 2, 1))
    payoffs[0, :, 0] = [1.0, 4.0]
    state = PsroState([[0, 1], [0]], EmpiricalGame(payoffs))
    sol = SimpleNamespace(marginals=[np.array([1.0, 0.0]), np.array([1.0])], joint=None, concept="nash",
                          payoffs=np.array([1.0, 0.0]))
    stats = [{"player": 0, "value_se": 0.5}, {"player": 1, "value_se": 0.0}]
    out = _against_population(state, sol, np.array([1.5, 0.0]), stats)
    assert out["best_member_gain"] == pytest.approx([3.0, 0.0])
    assert out["best_response_gain_ci95"] == pytest.approx([0.98, 0.0])
    assert out["short_of_population"] == [True, False]    # 1.5 + 0.98 < 3
    out = _against_population(state, sol, np.array([2.5, 0.0]), stats)
    assert out["short_of_population"] == [False, False]   # 2.5 + 0.98 > 3: within its interval
