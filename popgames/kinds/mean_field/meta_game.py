"""The restricted mean-field game over a population of policies, and its Nash and CCE solvers.

Mean-field PSRO (Muller et al. 2022, "Learning Equilibria in Mean-Field Games: Introducing
Mean-Field PSRO") cannot solve a payoff tensor: a population in which a share
``sigma_i`` plays policy ``pi_i`` induces the flow ``mu^sigma`` (every member moving under
the common field), and the payoff of a member, ``F_i(sigma) = J(pi_i, mu^sigma)``, is not
linear in ``sigma``. Everything here is exact and vectorised over the members:

* :func:`member_flows` -- every member's own flow under the mixture's common field, hence
  ``mu^sigma = sum_i sigma_i mu^i`` (several populations: one mixture per population);
* :func:`member_values` -- ``F(sigma)``, every member's value against ``mu^sigma``;
* ``nash`` -- the restricted Nash equilibrium, by fictitious play on the members' shares
  (``meta_iterations`` steps; its average converges in monotone games such as crowd
  aversion), returned with its verified gap ``max_i F_i - sum_i sigma_i F_i``;
* ``cce`` -- the restricted coarse correlated equilibrium of OpenSpiel's ``mf_psro``: a
  device draws one of the mixtures ``sigma_s`` that regret matching visits over
  ``meta_iterations`` steps (each with its flow ``mu_s``); its gap is the average regret
  ``max_j mean_s F_j(sigma_s) - mean_s sigma_s . F(sigma_s)``. A deviation does not know
  the draw, so its best response faces the mixture of the ``mu_s``: exact by backward
  induction when the transitions do not depend on the distribution (as OpenSpiel's
  ``JointBestResponse`` requires too), refused otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from popgames.core.errors import PopgamesError
from popgames.kinds.mean_field.exact import MeanFieldRules, greedy, mix_policies, q_functions, uniform_policy

#: Steps of the restricted game's fictitious play (Nash) or regret matching (CCE).
META_ITERATIONS = 300


@dataclass
class MetaSolution:
    """A restricted equilibrium: per population its shares (``marginals``; CCE: the device's
    average, its draws in ``draws [S, n]``), the ``payoffs`` per population, the verified
    ``gap``, each member's payoff against the solution (``deviation_payoffs``, per
    population), and the flows and rewards the best responses face (``fields``: one
    ``(transitions, rewards)`` per draw, equally likely). Read like the solver registry's
    ``Solution`` by the PSRO loop."""

    concept: str
    marginals: list[np.ndarray]
    payoffs: np.ndarray
    gap: float
    per_player_gap: np.ndarray
    deviation_payoffs: list[np.ndarray]
    fields: list[tuple[list[np.ndarray], list[np.ndarray]]] = field(repr=False)
    draws: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    joint: None = None

    @property
    def solver(self) -> str:
        return f"mean_field_{self.concept}/{'fictitious_play' if self.concept == 'nash' else 'regret_matching'}"


def _by_population(rules: MeanFieldRules, members: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each population's members as one array ``[n_k, T, X, A]`` (one population: ``[n, T, X, A]``)."""
    return [np.stack(list(group)) for group in members]


def member_flows(rules: MeanFieldRules, policies: list[np.ndarray], shares: list[np.ndarray]
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Every member's flow ``[n_k, T + 1, X]`` when population ``k`` is the mixture ``shares[k]``
    of ``policies[k]``, and the transitions and rewards of the common field along the way."""
    single = not rules.agents
    n, a = rules.n_states, rules.n_actions
    mu0 = np.asarray(rules.mu0).reshape(len(policies), n)
    flows = [np.empty((len(p), rules.horizon + 1, n)) for p in policies]
    for k, f in enumerate(flows):
        f[:, 0] = mu0[k]
    transitions, rewards = [], []
    for t in range(rules.horizon):
        total = np.stack([s @ f[:, t] for s, f in zip(shares, flows)])      # [K, X]
        now = total[0] if single else total
        p, r = rules.transition(t, now), rules.reward(t, now)
        transitions.append(p)
        rewards.append(r)
        p_k = np.asarray(p).reshape(len(policies), n * a, n)
        for k, (pi, f) in enumerate(zip(policies, flows)):
            mass = (f[:, t, :, None] * pi[:, t]).reshape(len(pi), 1, n * a)
            f[:, t + 1] = (mass @ p_k[k])[:, 0]
    return flows, transitions, rewards


def member_values(rules: MeanFieldRules, policies: list[np.ndarray], transitions: list[np.ndarray],
                  rewards: list[np.ndarray]) -> list[np.ndarray]:
    """Each member's value ``J(pi_i, mu)`` against the fixed field the transitions and rewards
    come from: ``[n_k]`` per population."""
    n, a = rules.n_states, rules.n_actions
    mu0 = np.asarray(rules.mu0).reshape(len(policies), n)
    out = []
    for k, pi in enumerate(policies):
        p_k = [np.broadcast_to(np.asarray(p).reshape(len(policies), n, a, n)[k], (len(pi), n, a, n)) for p in transitions]
        r_k = [np.broadcast_to(np.asarray(r).reshape(len(policies), n, a)[k], (len(pi), n, a)) for r in rewards]
        _, v = q_functions(p_k, r_k, pi)
        out.append(v[:, 0] @ mu0[k])
    return out


def _payoffs(rules: MeanFieldRules, policies: list[np.ndarray], shares: list[np.ndarray]
             ) -> tuple[list[np.ndarray], tuple[list[np.ndarray], list[np.ndarray]]]:
    _, transitions, rewards = member_flows(rules, policies, shares)
    return member_values(rules, policies, transitions, rewards), (transitions, rewards)


def solve_nash(rules: MeanFieldRules, members: Sequence[Sequence[np.ndarray]], iterations: int = META_ITERATIONS
               ) -> MetaSolution:
    """The restricted Nash equilibrium by fictitious play on the shares (module doc)."""
    policies = _by_population(rules, members)
    shares = [np.full(len(p), 1.0 / len(p)) for p in policies]
    for step in range(iterations):
        values, _ = _payoffs(rules, policies, shares)
        weight = 1.0 / (step + 2)
        shares = [(1 - weight) * s + weight * np.eye(len(s))[int(np.argmax(v))] for s, v in zip(shares, values)]
    values, fields = _payoffs(rules, policies, shares)
    payoffs = np.array([s @ v for s, v in zip(shares, values)])
    per_player = np.array([v.max() for v in values]) - payoffs
    return MetaSolution("nash", shares, payoffs, float(per_player.sum()), per_player, values, [fields],
                        info={"iterations": iterations})


MIXED_DYNAMICS = ("mean-field PSRO's cce meta-solver needs transitions that do not depend on the "
                  "distribution (a deviation that does not know the draw faces a mixture of dynamics); use nash")


def dynamics_depend_on_distribution(rules: MeanFieldRules) -> bool:
    """Whether the transitions change along the flows of the uniform policy and of each
    constant action (a check on distributions the game itself produces)."""
    from popgames.kinds.mean_field.exact import flow

    uniform = flow(rules, uniform_policy(rules), rewards=False)[1]
    for a in range(rules.n_actions):
        constant = np.zeros(uniform_policy(rules).shape)
        constant[..., a] = 1.0
        if any(not np.allclose(p, q, rtol=0, atol=1e-15) for p, q in zip(flow(rules, constant, rewards=False)[1], uniform)):
            return True
    return False


def solve_cce(rules: MeanFieldRules, members: Sequence[Sequence[np.ndarray]], iterations: int = META_ITERATIONS
              ) -> MetaSolution:
    """The restricted CCE of regret matching's visited mixtures (module doc; one population)."""
    if rules.agents:
        raise PopgamesError("mean-field PSRO's cce meta-solver takes one population (use nash)")
    if dynamics_depend_on_distribution(rules):
        raise PopgamesError(MIXED_DYNAMICS)
    policies = _by_population(rules, members)
    n = len(policies[0])
    regrets, draws, values_seen, fields = np.zeros(n), [], [], []
    for _ in range(iterations):
        positive = np.maximum(regrets, 0.0)
        share = positive / positive.sum() if positive.sum() > 0 else np.full(n, 1.0 / n)
        values, field_s = _payoffs(rules, policies, [share])
        regrets += values[0] - share @ values[0]
        draws.append(share)
        values_seen.append(values[0])
        fields.append(field_s)
    draws_a, values_a = np.array(draws), np.array(values_seen)
    payoff = float((draws_a * values_a).sum(axis=1).mean())
    gap = float(values_a.mean(axis=0).max() - payoff)
    return MetaSolution("cce", [draws_a.mean(axis=0)], np.array([payoff]), gap, np.array([gap]),
                        [values_a.mean(axis=0)], fields,
                        draws=draws_a, info={"iterations": iterations})


def mixed_policy(rules: MeanFieldRules, members: Sequence[Sequence[np.ndarray]], shares: Sequence[np.ndarray]
                 ) -> np.ndarray:
    """The behaviour policy of the mixed population (Kuhn): at ``(t, x)`` each member's action
    distribution weighted by its share of the mass there; it induces the mixture's flow and
    its value is the shares' mean of the members' values. Uniform where no member goes."""
    policies = _by_population(rules, members)
    flows = member_flows(rules, policies, [np.asarray(s, np.float64) for s in shares])[0]
    mixed = [mix_policies(list(pi), list(f), s) for pi, f, s in zip(policies, flows, shares)]
    return np.stack(mixed) if rules.agents else mixed[0]


def best_responses(rules: MeanFieldRules, solution: MetaSolution) -> list[tuple[np.ndarray, float]]:
    """Per population a deterministic best response to what ``solution`` makes it face, and
    its value: the mean field of the shares (Nash), or the device's mixture of mean fields (CCE)."""
    transitions, rewards = solution.fields[0]
    if len(solution.fields) > 1:
        if any(not np.array_equal(p, q) for f in solution.fields[1:] for p, q in zip(f[0], transitions)):
            raise PopgamesError(MIXED_DYNAMICS)
        rewards = [np.mean([f[1][t] for f in solution.fields], axis=0) for t in range(rules.horizon)]
    q, v = q_functions(transitions, rewards)
    response, start = greedy(q), (np.asarray(rules.mu0) * v[..., 0, :]).sum(axis=-1)
    if not rules.agents:
        return [(response, float(start))]
    return [(response[k], float(start[k])) for k in range(rules.agents[0])]


META_SOLVERS = {"nash": solve_nash, "cce": solve_cce}
