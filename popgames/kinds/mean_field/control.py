"""The social optimum (mean-field control) beside the Nash equilibrium: the price of anarchy.

Mean-field control maximises the population's average return ``J(pi, mu^pi)`` (several
populations: the sum of their returns; a graphon grid: the mean over it) with the
flow ``mu^pi`` propagated from the policy itself -- unlike a Nash equilibrium, each agent
accounts for what its behaviour does to the others. The objective is differentiated end
to end by the adjoint (reverse-mode) recursion through the flow:
``lambda_t = dJ / dmu_t`` runs backwards in time, and the rules' own dependence on the
distribution enters through vector-Jacobian products of ``reward`` and ``transition`` with
respect to the (neighbourhood) field, taken by central differences, one per state, every
row of a graphon game's field at once (each agent's rules see only its own row; the
rules of several populations see all of them, so there it is one per population and state). The
policy is a softmax of logits, optimised by L-BFGS with that gradient.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from popgames.kinds.mean_field.exact import AgentGrid, MeanFieldRules, flow, uniform_policy

#: Finite-difference step of the rules' field derivatives (relative to 1, the field's scale).
STEP = 1e-6


def _field_map(rules: Any) -> tuple[Any, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """``(rules seen per field, mu -> field, d field -> d mu)``: the identity for populations;
    ``G = W mu / M`` and its transpose on a graphon grid."""
    if not isinstance(rules, AgentGrid):
        return rules, (lambda mu: mu), (lambda g: g)
    w, m = rules.w, len(rules.w)
    return rules.inner, (lambda mu: w @ mu / m), (lambda g: w.T @ g / m)


def _vjp(fn: Callable[[np.ndarray], np.ndarray], field: np.ndarray, weights: np.ndarray, by_row: bool
         ) -> np.ndarray:
    """``sum(weights * d fn(field) / d field[..., x])`` for every entry of ``field`` (central
    differences; forward ones where the field is within a step of 0): every row at once when
    ``by_row`` (row ``i`` of the output depends on row ``i`` of the field only), else entry by entry."""
    out = np.empty(field.shape)
    entries = [(..., x) for x in range(field.shape[-1])] if by_row else list(np.ndindex(field.shape))
    for entry in entries:
        down = np.minimum(STEP, field[entry])
        up_field, down_field = field.copy(), field.copy()
        up_field[entry] += STEP
        down_field[entry] -= down
        delta = (np.asarray(fn(up_field)) - np.asarray(fn(down_field))) * weights
        if by_row:
            span = (STEP + down).reshape(down.shape + (1,) * (delta.ndim - down.ndim))
            out[entry] = (delta / span).reshape(*field.shape[:-1], -1).sum(axis=-1)
        else:
            out[entry] = delta.sum() / (STEP + down)
    return out


def social_value_and_gradient(rules: MeanFieldRules, logits: np.ndarray) -> tuple[float, np.ndarray]:
    """The population's average return of ``softmax(logits)`` and its gradient in the logits."""
    inner, field_of, field_back = _field_map(rules)
    grid = isinstance(rules, AgentGrid)
    policy = np.exp(logits - logits.max(axis=-1, keepdims=True))
    policy /= policy.sum(axis=-1, keepdims=True)
    mu, transitions, rewards = flow(rules, policy)
    total = 0.0
    grad = np.empty_like(policy)
    lam = np.zeros((*rules.agents, rules.n_states))
    for t in range(rules.horizon - 1, -1, -1):
        mass = mu[..., t, :, None] * policy[..., t, :, :]
        total += float((mass * rewards[t]).sum())
        ahead = rewards[t] + np.einsum("...xay,...y->...xa", transitions[t], lam)
        grad[..., t, :, :] = mu[..., t, :, None] * ahead
        field = field_of(mu[..., t, :])
        by_row = grid or not rules.agents
        through_field = (_vjp(lambda g: inner.reward(t, g), field, mass, by_row)
                         + _vjp(lambda g: inner.transition(t, g), field,
                                mass[..., None] * lam[..., None, None, :], by_row))
        lam = (policy[..., t, :, :] * ahead).sum(axis=-1) + field_back(through_field)
    grad = policy * (grad - (policy * grad).sum(axis=-1, keepdims=True))   # through the softmax
    agents = rules.agents[0] if grid else 1   # a grid's mean, the populations' sum
    return total / agents, grad / agents


def social_optimum(rules: MeanFieldRules, start: np.ndarray | None = None, iterations: int = 500
                   ) -> dict[str, Any]:
    """The policy maximising the population's average return (a local optimum, by L-BFGS from
    ``start``, default uniform): ``policy``, ``value`` and the optimiser's ``converged``."""
    from scipy.optimize import minimize

    start = uniform_policy(rules) if start is None else np.asarray(start, np.float64)
    x0 = np.log(np.maximum(start, 1e-12)).ravel()

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = social_value_and_gradient(rules, x.reshape(start.shape))
        return -value, -grad.ravel()

    result = minimize(negative, x0, jac=True, method="L-BFGS-B", options={"maxiter": iterations})
    logits = result.x.reshape(start.shape)
    policy = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return {"policy": policy / policy.sum(axis=-1, keepdims=True), "value": -float(result.fun),
            "converged": bool(result.success), "iterations": int(result.nit)}


def price_of_anarchy(rules: MeanFieldRules, nash: np.ndarray) -> dict[str, Any]:
    """The social optimum beside the (approximate) equilibrium ``nash``: each one's average
    return, per agent on graphons and per population, how often each takes a non-default action (the first
    action is the default: no precaution, no investment, no move...), the welfare lost and
    the ratio of the two.

    The social optimum is the better of L-BFGS from the uniform policy and from ``nash``.
    """
    from popgames.kinds.mean_field.exact import combine, evaluate

    candidates = [social_optimum(rules), social_optimum(rules, start=nash)]
    best = max(candidates, key=lambda c: c["value"])
    out: dict[str, Any] = {"social_value": best["value"], "converged": best["converged"]}
    for name, policy in (("social", best["policy"]), ("nash", nash)):
        evaluation = evaluate(rules, policy)
        mass = evaluation.mu[..., :-1, :, None] * evaluation.policy
        out[f"{name}_per_agent"] = np.atleast_1d(evaluation.value)
        out[f"{name}_action_rate"] = float(mass[..., 1:].sum() / mass.sum())
    out["nash_value"] = combine(out["nash_per_agent"], isinstance(rules, AgentGrid))
    out["welfare_loss"] = out["social_value"] - out["nash_value"]
    # Above 1 the equilibrium is worse: the ratio of returns (of costs, when returns are negative).
    social, nash_value = out["social_value"], out["nash_value"]
    out["price_of_anarchy"] = (social / nash_value if social > 0 and nash_value > 0
                               else nash_value / social if social < 0 and nash_value < 0 else float("nan"))
    out["social_policy"] = best["policy"]
    return out
