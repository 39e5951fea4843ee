"""The meta-game grows by evaluating only new profiles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from popgames.core.empirical_game import EmpiricalGame, new_profiles
from popgames.core.protocols import Entries


def test_only_new_profiles_are_evaluated():
    truth = np.random.default_rng(0).random((3, 4, 3, 5))
    asked: list[tuple[int, ...]] = []

    def fill(profiles):
        asked.extend(profiles)
        return Entries(np.array([truth[(slice(None), *p)] for p in profiles]))

    game = EmpiricalGame.empty(3)
    for sizes in [(1, 1, 1), (2, 1, 3), (2, 3, 3), (4, 3, 5)]:
        game.grow(sizes, fill)
        np.testing.assert_array_equal(game.payoffs, truth[(slice(None),) + tuple(slice(0, s) for s in sizes)])
    assert len(asked) == len(set(asked)) == 4 * 3 * 5


def test_new_profiles_partition_the_grid():
    old, new = (2, 1), (3, 2)
    fresh = set(new_profiles(old, new))
    assert fresh | set(itertools.product(range(2), range(1))) == set(itertools.product(range(3), range(2)))
    assert not fresh & set(itertools.product(range(2), range(1)))


def test_bad_growth_and_bad_values():
    game = EmpiricalGame.empty(2)
    game.grow((2, 2), lambda p: Entries(np.zeros((len(p), 2))))
    with pytest.raises(ValueError, match="only grow"):
        game.grow((1, 2), lambda p: Entries(np.zeros((len(p), 2))))
    with pytest.raises(ValueError, match="finite"):
        game.grow((3, 2), lambda p: Entries(np.full((len(p), 2), np.nan)))
    assert game.sizes == (2, 2)
