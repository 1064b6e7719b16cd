"""Placement with side constraints a flow cannot express, in CP-SAT, warm-started from the flow.

Sibling groups kept together, a cap on one need type's share of a setting's places in the
round, and an LA budget cap break the network structure, so they are solved only when asked
for, with the same lexicographic levels as the flow (solved one after another), the flow's
optimum as the hint, and each level's proven bound reported so a panel knows how close to
optimal the plan is.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.models import Child, Setting
from matcher.placement import (
    LEVEL_TITLES,
    PlacementConfig,
    PlacementNetwork,
    PlacementResult,
    ProgressCallback,
    explain_solution,
    level_costs,
    level_names,
    solve_flow,
)
from matcher.travel import TravelTimeMatrix


@dataclass(frozen=True)
class SideConstraints:
    keep_siblings_together: bool = False
    # At most this share (0-1] of a setting's places in the round for any one primary need;
    # the cap is rounded up so a small setting can still take one child of each need.
    max_need_share: float | None = None
    budget_cap: int | None = None  # £ a year, placements plus transport
    time_limit_seconds: float = 60.0
    workers: int = 2

    def __post_init__(self) -> None:
        if self.max_need_share is not None and not 0 < self.max_need_share <= 1:
            raise ValueError("max_need_share must be in (0, 1]")
        if self.budget_cap is not None and self.budget_cap < 0:
            raise ValueError("budget_cap must not be negative")

    @property
    def any(self) -> bool:
        return (
            self.keep_siblings_together
            or self.max_need_share is not None
            or self.budget_cap is not None
        )


@dataclass(frozen=True)
class LevelReport:
    name: str  # one of ``matcher.placement.level_names()``
    objective: int
    best_bound: int
    proven_optimal: bool

    @property
    def title(self) -> str:
        return LEVEL_TITLES.get(self.name, self.name)

    @property
    def gap(self) -> float:
        """Relative optimality gap of this level (0 when proven optimal)."""
        if self.proven_optimal or self.objective == self.best_bound:
            return 0.0
        return abs(self.objective - self.best_bound) / max(abs(self.objective), 1)


@dataclass(frozen=True)
class ConstrainedPlacement:
    result: PlacementResult
    levels: tuple[LevelReport, ...]
    flow_levels: tuple[int, ...]  # the unconstrained optimum, for the price of the constraints
    notes: tuple[str, ...]  # e.g. sibling groups that no setting can take together


def place_with_side_constraints(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    constraints: SideConstraints,
    config: PlacementConfig | None = None,
    progress: ProgressCallback | None = None,
) -> ConstrainedPlacement:
    config = config or PlacementConfig()
    report = progress or (lambda _stage: None)
    network, flow_solution = solve_flow(children, settings, travel, config, report)
    report("building the CP-SAT model for the side constraints")
    n_options = network.n_options
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{a}") for a in range(n_options)]
    notes = _add_structure(model, x, children, settings, network, constraints)
    levels = level_costs(network, len(children), config.objective_order)
    names = level_names(config.objective_order)
    hint = flow_solution.flows[:n_options]
    reports: list[LevelReport] = []
    values = hint
    placed_by = _options_by_child(network, len(children))
    for index, costs in enumerate(levels):
        report(f"CP-SAT: level {index + 1} of {len(levels)}")
        expr = _level_expr(x, costs, placed_by, n_options)
        model.clear_hints()
        for a in range(n_options):
            model.add_hint(x[a], bool(values[a]))
        model.minimize(expr)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = constraints.time_limit_seconds / len(levels)
        solver.parameters.num_workers = constraints.workers
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            raise ValueError(
                "the side constraints cannot all be met (e.g. the budget cap is below the cost "
                "of any plan); relax them and run again"
            )
        values = np.array([solver.value(v) for v in x], dtype=np.int64)
        objective = round(solver.objective_value)
        reports.append(
            LevelReport(
                names[index],
                objective,
                math.floor(solver.best_objective_bound + 1e-9),
                status == cp_model.OPTIMAL,
            )
        )
        model.add(expr <= objective)
    flows = _full_flows(network, values, len(children))
    result = explain_solution(children, settings, network, flows, travel.model, config)
    return ConstrainedPlacement(
        result=result,
        levels=tuple(reports),
        flow_levels=flow_solution.level_objectives,
        notes=notes,
    )


def _options_by_child(network: PlacementNetwork, n_children: int) -> list[list[int]]:
    by_child: list[list[int]] = [[] for _ in range(n_children)]
    for a, c in enumerate(network.arcs.child.tolist()):
        by_child[c].append(a)
    return by_child


def _level_expr(
    x: list[cp_model.IntVar],
    costs: npt.NDArray[np.int64],
    by_child: list[list[int]],
    n_options: int,
) -> cp_model.LinearExprT:
    """Option costs, plus each child's unplaced cost as (1 - Σ its options) × cost."""
    unplaced = costs[n_options : n_options + len(by_child)]
    coeffs = costs[:n_options].copy()
    for c, options in enumerate(by_child):
        coeffs[options] -= unplaced[c]
    return cp_model.LinearExpr.weighted_sum(x, coeffs.tolist()) + int(unplaced.sum())


def _add_structure(
    model: cp_model.CpModel,
    x: list[cp_model.IntVar],
    children: Sequence[Child],
    settings: Sequence[Setting],
    network: PlacementNetwork,
    constraints: SideConstraints,
) -> tuple[str, ...]:
    arcs = network.arcs
    n = len(children)
    by_child = _options_by_child(network, n)
    for options in by_child:
        if len(options) > 1:
            model.add_at_most_one(x[a] for a in options)
    # Every capacity node: the options that enter it, or a year-group node below it.
    into: dict[int, list[int]] = defaultdict(list)
    for a, (head, s, p) in enumerate(
        zip(
            network.option_head.tolist(),
            arcs.setting.tolist(),
            arcs.provision.tolist(),
            strict=True,
        )
    ):
        into[head].append(a)
        if p < 0 and head != n + s:
            into[n + s].append(a)
    flow = network.flow
    capacity = dict(
        zip(
            flow.tails[len(arcs) + n :].tolist(),
            flow.capacities[len(arcs) + n :].tolist(),
            strict=True,
        )
    )
    for node, options in into.items():
        model.add(sum(x[a] for a in options) <= capacity[node])

    notes: list[str] = []
    if constraints.keep_siblings_together:
        notes += _siblings_together(model, x, children, network, by_child)
    if constraints.max_need_share is not None:
        share = constraints.max_need_share
        by_setting_need: dict[tuple[int, str], list[int]] = defaultdict(list)
        for a, (c, s) in enumerate(zip(arcs.child.tolist(), arcs.setting.tolist(), strict=True)):
            by_setting_need[(s, children[c].primary_need.value)].append(a)
        for (s, _need), options in by_setting_need.items():
            cap = math.ceil(share * settings[s].places_left)
            if len(options) > cap:
                model.add(sum(x[a] for a in options) <= cap)
    if constraints.budget_cap is not None:
        money = (network.placement_cost + network.transport_cost).tolist()
        model.add(cp_model.LinearExpr.weighted_sum(x, money) <= constraints.budget_cap)
    return tuple(notes)


def _siblings_together(
    model: cp_model.CpModel,
    x: list[cp_model.IntVar],
    children: Sequence[Child],
    network: PlacementNetwork,
    by_child: list[list[int]],
) -> list[str]:
    """Members of a sibling group go to the same setting, where one setting suits them all."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(children):
        if c.sibling_group:
            groups[c.sibling_group].append(i)
    setting_of = network.arcs.setting.tolist()
    notes = []
    for name, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        at: list[dict[int, list[int]]] = [defaultdict(list) for _ in members]
        for slot, i in enumerate(members):
            for a in by_child[i]:
                at[slot][setting_of[a]].append(a)
        shared = set.intersection(*(set(m) for m in at))
        if not shared:
            ids = ", ".join(children[i].child_id for i in members)
            notes.append(f"sibling group {name} ({ids}): no setting suits all, placed apart")
            continue
        every = set().union(*(set(m) for m in at))
        for slot in range(1, len(members)):
            for s in every:
                first = sum(x[a] for a in at[0].get(s, []))
                other = sum(x[a] for a in at[slot].get(s, []))
                model.add(first == other)
    return notes


def _full_flows(
    network: PlacementNetwork, chosen: npt.NDArray[np.int64], n_children: int
) -> npt.NDArray[np.int64]:
    """Flows on every arc of the network for a choice of options, for ``explain_solution``."""
    flow = network.flow
    n_options = network.n_options
    flows = np.zeros(len(flow.tails), np.int64)
    flows[:n_options] = chosen
    placed = np.bincount(network.arcs.child, weights=chosen, minlength=n_children)
    flows[n_options : n_options + n_children] = 1 - placed.astype(np.int64)
    into = np.bincount(network.option_head, weights=chosen, minlength=flow.n_nodes)
    general = np.where(network.arcs.provision < 0, chosen, 0)
    by_setting = np.bincount(
        network.arcs.setting.astype(np.int64) + n_children, weights=general, minlength=flow.n_nodes
    )
    cap = slice(n_options + n_children, None)
    tails = flow.tails[cap]
    is_setting = np.array([network.node_label[t] == "setting" for t in tails.tolist()], bool)
    flows[cap] = np.where(is_setting, by_setting[tails], into[tails]).astype(np.int64)
    return flows
