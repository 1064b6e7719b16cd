"""The site-choice solvers other than Benders: enumeration, and the facility-location model
(one binary per site and per option of each child in scope) in CP-SAT or HiGHS.

See :mod:`matcher.site_choice` for the decomposition these models use and how their bounds are
raised; :mod:`matcher.site_benders` for the exact method that scales.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.side_constraints import LevelReport
from matcher.site_network import OpeningRule, SiteProblem

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SiteRule:
    """How many sites may open, and what each costs a year (level 2 only)."""

    k: int
    at_most: bool
    site_cost: int


@dataclass
class ScopeModel:
    """The facility-location model over the children in scope, solver-neutral.

    ``options`` are option arcs (a child × a place path); ``site[p]`` is the candidate an
    option needs open (-1 for an existing setting); ``rows`` are the capacity nodes that can
    bind: (option positions through the node, places left after the fixed children, the
    candidate owning the node or -1). Level values are ``coefficients @ x + constant``.
    """

    problem: SiteProblem
    options: IntArray
    site: IntArray
    by_child: list[list[int]]
    rows: list[tuple[list[int], int, int]]
    n_sites: int
    fixed: IntArray
    scope_children: IntArray

    def level(self, costs: IntArray) -> tuple[IntArray, int]:
        """A level's coefficient per option (its cost less the child's unplaced cost) and the
        constant: the held children's options, and the unplaced arc of every child in scope
        and of every child held unplaced."""
        problem = self.problem
        unplaced = problem.network.n_options + np.arange(problem.n_children)
        held = np.nonzero(self.fixed >= 0)[0]
        # Children in scope (FREE) start unplaced; HELD_UNPLACED ones stay so.
        unplaced_children = np.nonzero(self.fixed < 0)[0]
        child = problem.network.arcs.child[self.options]
        coefficients = costs[self.options] - costs[unplaced[child]]
        constant = int(costs[self.fixed[held]].sum()) + int(
            costs[unplaced[unplaced_children]].sum()
        )
        return coefficients.astype(np.int64), constant

    def levels(self) -> tuple[IntArray, ...]:
        return (self.problem.level_one, self.problem.full_money())


def scope_model(
    problem: SiteProblem, in_scope: npt.NDArray[np.bool_], fixed: IntArray, n_sites: int
) -> ScopeModel:
    arcs = problem.network.arcs
    scope_children = np.nonzero(in_scope)[0]
    options = np.nonzero(np.isin(arcs.child, scope_children))[0].astype(np.int64)
    site = problem.site_of_option[options]
    grouped: dict[int, list[int]] = defaultdict(list)
    for p, a in enumerate(options.tolist()):
        grouped[int(arcs.child[a])].append(p)
    fixed_use = problem.node_use(fixed[fixed >= 0])
    into: dict[int, list[int]] = defaultdict(list)
    node_site: dict[int, int] = {}  # every node on an option's path belongs to its setting
    for p, a in enumerate(options.tolist()):
        for node in problem.path(a):
            into[node].append(p)
            node_site[node] = int(site[p])
    caps = problem.network.flow.capacities
    rows = []
    for node, positions in into.items():
        left = int(caps[problem.cap_arc[node]]) - fixed_use.get(node, 0)
        if len(positions) > left:
            rows.append((positions, left, node_site[node]))
    return ScopeModel(
        problem,
        options,
        site,
        list(grouped.values()),
        rows,
        n_sites,
        fixed,
        scope_children.astype(np.int64),
    )


@dataclass(frozen=True)
class SolvedChoice:
    open_sites: list[int]
    levels: tuple[LevelReport, ...]  # whole-LA objective and bound of each level
    status: str
    # The best other set seen: (level 1, £ with running costs, facilities), or None.
    runner_up: tuple[int, int, tuple[int, ...]] | None = None
    flows: int = 0  # exact flows solved to choose (enumeration and Benders)


LEVEL_NAMES = ("children placed and preferences", "cost (placement + transport, £ a year)")


def solve_cp_sat(
    scope: ScopeModel,
    rule: SiteRule,
    hint_sites: Sequence[int],
    hint_choice: IntArray,
    time_limit: float,
    workers: int,
) -> SolvedChoice:
    """open[site] binaries and one binary per option of each child in scope; two levels."""
    model = cp_model.CpModel()
    is_open = [model.new_bool_var(f"open{c}") for c in range(scope.n_sites)]
    if rule.at_most:
        model.add(sum(is_open) <= rule.k)
    else:
        model.add(sum(is_open) == rule.k)
    x = [model.new_bool_var(f"x{a}") for a in scope.options.tolist()]
    for positions in scope.by_child:
        if len(positions) > 1:
            model.add_at_most_one(x[p] for p in positions)
    for p in np.nonzero(scope.site >= 0)[0].tolist():
        model.add_implication(x[p], is_open[int(scope.site[p])])  # x ≤ open, disaggregated
    for positions, left, site in scope.rows:
        if site >= 0:
            model.add(sum(x[p] for p in positions) <= left * is_open[site])
        else:
            model.add(sum(x[p] for p in positions) <= left)

    # The warm start is a whole plan: the current solution until CP-SAT finds a better one,
    # so a level that times out before its first solution still reports a real plan.
    child = scope.problem.network.arcs.child[scope.options]
    open_values = [c in hint_sites for c in range(scope.n_sites)]
    x_values = (hint_choice[child] == scope.options).tolist()

    reports = []
    status_name = "OPTIMAL"
    for index, costs in enumerate(scope.levels()):
        model.clear_hints()
        for c in range(scope.n_sites):
            model.add_hint(is_open[c], open_values[c])
        for var, value in zip(x, x_values, strict=True):
            model.add_hint(var, value)
        coefficients, const = scope.level(costs)
        level_expr = cp_model.LinearExpr.weighted_sum(x, coefficients.tolist())
        if index == 1 and rule.site_cost:
            level_expr = level_expr + rule.site_cost * sum(is_open)
        model.minimize(level_expr)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(time_limit / 2, 0.1)
        solver.parameters.num_workers = workers
        status = solver.solve(model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            open_values = [bool(solver.value(v)) for v in is_open]
            x_values = [bool(solver.value(v)) for v in x]
        elif status != cp_model.UNKNOWN:
            raise RuntimeError(f"CP-SAT found no plan (status {solver.status_name(status)})")
        objective = int(coefficients[np.array(x_values, bool)].sum())
        if index == 1:
            objective += rule.site_cost * sum(open_values)
        if status == cp_model.UNKNOWN:
            # No solution, so no bound either: CP-SAT's value is then not a proof. The trivial
            # one (every option at its best) holds; the flow relaxations raise it later.
            bound = int(np.minimum(coefficients, 0).sum())
        else:
            bound = min(math.ceil(solver.best_objective_bound - 1e-6), objective)
        proven = status == cp_model.OPTIMAL
        report = LevelReport(LEVEL_NAMES[index], objective + const, bound + const, proven)
        reports.append(report)
        status_name = solver.status_name(status)
        # Next level among this level's best found plans.
        model.add(level_expr <= objective)
    return SolvedChoice(
        [c for c in range(scope.n_sites) if open_values[c]], tuple(reports), status_name
    )


def _constraints(scope: ScopeModel, rule: SiteRule) -> tuple[Any, FloatArray, FloatArray]:
    """The model's rows as a sparse matrix over ``[x..., open...]`` with lower and upper bounds:
    one option per child, ``x ≤ open`` (disaggregated linking), capacity rows (a candidate's
    scaled by its ``open``), and the number of sites."""
    import scipy.sparse as sp

    n_x = len(scope.options)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    upper: list[float] = []
    lower: list[float] = []

    def add(columns: Sequence[int], values: Sequence[float], low: float, high: float) -> None:
        rows.extend([len(upper)] * len(columns))
        cols.extend(columns)
        vals.extend(values)
        lower.append(low)
        upper.append(high)

    for positions in scope.by_child:
        if len(positions) > 1:
            add(positions, [1.0] * len(positions), -np.inf, 1.0)
    for p in np.nonzero(scope.site >= 0)[0].tolist():
        add([p, n_x + int(scope.site[p])], [1.0, -1.0], -np.inf, 0.0)
    for positions, left, site in scope.rows:
        if site >= 0:
            add([*positions, n_x + site], [1.0] * len(positions) + [-float(left)], -np.inf, 0.0)
        else:
            add(positions, [1.0] * len(positions), -np.inf, float(left))
    sites = list(range(n_x, n_x + scope.n_sites))
    add(sites, [1.0] * scope.n_sites, 0.0 if rule.at_most else float(rule.k), float(rule.k))
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(upper), n_x + scope.n_sites))
    return matrix, np.array(lower), np.array(upper)


def solve_mip(
    scope: ScopeModel,
    rule: SiteRule,
    time_limit: float,
    fallback: tuple[Sequence[int], IntArray] | None = None,
    *,
    relax: bool,
    level_one_at_most: int | None = None,
) -> SolvedChoice:
    """The same model as a MIP in HiGHS (SciPy's ``milp``), or with ``relax`` its LP relaxation.

    Each level's bound is HiGHS's dual bound. ``fallback`` (sites, each child's option) is the
    plan kept for a level where HiGHS finds none in its time. ``level_one_at_most`` skips level
    1 and bounds it by that value: the LP bound on level 2 for a plan found by another solver,
    valid because any plan as good at level 1 is in that region.
    """
    import scipy.sparse as sp
    from scipy.optimize import Bounds, LinearConstraint, milp

    matrix, lower, upper = _constraints(scope, rule)
    n_x = len(scope.options)
    integrality = np.zeros(n_x + scope.n_sites) if relax else np.ones(n_x + scope.n_sites)
    child = scope.problem.network.arcs.child[scope.options]
    current: FloatArray | None = None
    if fallback is not None:
        open_hint = np.isin(np.arange(scope.n_sites), np.asarray(fallback[0], np.int64))
        x_hint = fallback[1][child] == scope.options
        current = np.concatenate([x_hint, open_hint]).astype(np.float64)
    deadline = time.perf_counter() + time_limit
    reports = []
    status_name = "OPTIMAL"
    for index, costs in enumerate(scope.levels()):
        coefficients, const = scope.level(costs)
        site_costs = np.full(scope.n_sites, float(rule.site_cost if index else 0))
        objective = np.concatenate([coefficients.astype(np.float64), site_costs])
        if index == 0 and level_one_at_most is not None:
            reports.append(LevelReport(LEVEL_NAMES[0], level_one_at_most, level_one_at_most, True))
            value = float(level_one_at_most - const)
        else:
            remaining = max(deadline - time.perf_counter(), 1.0)
            options = {"time_limit": remaining if index else remaining / 2, "mip_rel_gap": 0.0}
            result = milp(
                objective,
                constraints=LinearConstraint(matrix, lower, upper),
                bounds=Bounds(0.0, 1.0),
                integrality=integrality,
                options=options,
            )
            if result.x is not None:
                current = np.round(result.x) if not relax else result.x
            if current is None:
                raise RuntimeError(f"HiGHS found no plan in time ({result.message})")
            proven = result.status == 0
            value = float(objective @ current)
            if relax:
                bound = float(result.fun) if proven else -np.inf
            else:
                dual = getattr(result, "mip_dual_bound", None)
                bound = float(dual) if dual is not None and np.isfinite(dual) else -np.inf
            if not np.isfinite(bound):
                bound = float(np.minimum(objective, 0).sum())  # every variable at its best
            status_name = "OPTIMAL" if proven else "FEASIBLE"
            best = round(value) + const
            floor = math.ceil(bound - 1e-6 * max(1.0, abs(bound))) + const
            reports.append(LevelReport(LEVEL_NAMES[index], best, min(floor, best), proven))
        if index == 0:
            # Level 2 among plans as good at level 1 (+0.5: the value is a whole number).
            cap = sp.csr_matrix(np.concatenate([coefficients, np.zeros(scope.n_sites)]))
            matrix = sp.vstack([matrix, cap], format="csr")
            lower = np.append(lower, -np.inf)
            upper = np.append(upper, value + 0.5)
    opened = [] if current is None else np.nonzero(current[n_x:] > 0.5)[0].tolist()
    return SolvedChoice(opened, tuple(reports), status_name)


def enumerate_sets(problem: SiteProblem, rule: OpeningRule) -> SolvedChoice:
    """Every allowed set of sites, each by the exact lexicographic flow over every child (no
    decomposition): proven optimal for the whole LA by exhaustion. With 20 candidates and
    k = 2 that is 190 flows, which at LA scale beats any bound CP-SAT or a MIP proves in the
    same time. The runner-up is the true second-best set."""
    ranked: list[tuple[int, int, tuple[int, ...]]] = []
    flows = 0
    for subset in rule.sets():
        flows += 1
        _, one, money = problem.solve(subset)
        ranked.append((one, money + rule.running(subset), subset))
        ranked = sorted(ranked, key=lambda v: v[:2])[:2]
    if not ranked:
        raise ValueError("no set of sites meets the rules (k, one size per site, budget)")
    one, money, opened = ranked[0]
    levels = (
        LevelReport(LEVEL_NAMES[0], one, one, True),
        LevelReport(LEVEL_NAMES[1], money, money, True),
    )
    second = ranked[1] if len(ranked) > 1 else None
    return SolvedChoice(list(opened), levels, "OPTIMAL", second, flows)


def exact_levels(
    problem: SiteProblem, fixed: IntArray, solved: SolvedChoice, rule: SiteRule
) -> tuple[LevelReport, ...]:
    """Each level's value for the chosen set is the exact flow's (never worse than the
    solver's plan for that set; the solver's bounds stay valid, see :func:`solve_mip`)."""
    _, one, money = problem.solve(solved.open_sites, fixed)
    money += rule.site_cost * len(solved.open_sites)
    first, second = solved.levels
    first = replace(first, objective=min(first.objective, one))
    if one < solved.levels[0].objective:
        second = replace(second, objective=money)
    else:
        second = replace(second, objective=min(second.objective, money))
    return (settle(first), settle(second))


def settle(level: LevelReport) -> LevelReport:
    return replace(
        level, proven_optimal=level.proven_optimal or level.objective <= level.best_bound
    )


def tighten_bounds(
    problem: SiteProblem,
    scope: ScopeModel,
    rule: SiteRule,
    levels: tuple[LevelReport, ...],
    n_sites: int,
    lp_bound: bool,
    time_limit: float,
) -> tuple[LevelReport, ...]:
    """Raise each level's bound with relaxations the solver may not have found itself.

    Opening every candidate relaxes "k sites": its exact flow bounds level 1, and level 2 too
    when level 1 is no better with every site open. The LP relaxation with ``x ≤ open`` bounds
    level 2 given the plan's level 1 value.
    """
    first, second = levels
    _, all_one, all_money = problem.solve(range(n_sites))
    first = settle(replace(first, best_bound=max(first.best_bound, all_one)))
    if second.proven_optimal:
        return (first, second)
    if first.objective == all_one:
        floor = all_money + (0 if rule.at_most else rule.k * rule.site_cost)
        second = settle(replace(second, best_bound=max(second.best_bound, floor)))
    if lp_bound and not second.proven_optimal:
        try:
            lp = solve_mip(scope, rule, time_limit, relax=True, level_one_at_most=first.objective)
        except RuntimeError:
            return (first, second)  # the LP did not finish in time: keep the other bounds
        raised = max(second.best_bound, lp.levels[1].best_bound)
        second = settle(replace(second, best_bound=raised))
    return (first, second)
