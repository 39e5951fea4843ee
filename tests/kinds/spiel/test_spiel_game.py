"""``SpielGame`` policy conversion: every kind of OpenSpiel policy reads into popgames' rows."""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest
from open_spiel.python import policy as os_policy
from open_spiel.python.games import data

import popgames


@pytest.fixture(scope="module")
def kuhn():
    return popgames.load_game("kuhn_poker")


def test_pyspiel_tabular_policy_is_read(kuhn):
    # OpenSpiel's data.kuhn_nash_equilibrium returns a pyspiel.TabularPolicy (C++), which
    # from_tabular_policy used to call with the python signature (TypeError).
    policy = data.kuhn_nash_equilibrium(alpha=0.2)
    assert isinstance(policy, pyspiel.TabularPolicy)
    rows = kuhn.from_tabular_policy(policy)
    table = dict(policy.policy_table())
    for i, info in enumerate(kuhn.tree.info_strings):
        np.testing.assert_allclose(rows[i], [p for _, p in sorted(table[info])], atol=1e-15)
    # Kuhn (1950): with the jack, the first player bets with probability alpha.
    assert rows[kuhn.tree.info_index["0"]].tolist() == pytest.approx([0.8, 0.2])


@pytest.mark.parametrize("make", [os_policy.TabularPolicy, os_policy.FirstActionPolicy,
                                  os_policy.UniformRandomPolicy, pyspiel.UniformRandomPolicy])
def test_every_policy_kind_round_trips(kuhn, make):
    rows = kuhn.from_tabular_policy(make(kuhn.game))
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
    back = kuhn.from_tabular_policy(kuhn.to_tabular_policy(rows))
    np.testing.assert_array_equal(back, rows)


def test_not_a_policy_is_one_line(kuhn):
    with pytest.raises(popgames.GameCardError, match="expected an OpenSpiel policy"):
        kuhn.from_tabular_policy({"0": [1.0, 0.0]})
