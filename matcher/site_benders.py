"""Benders decomposition for choosing sites: exact at LA scale, with a proven bound at every step.

With the sites fixed, the placement is a min-cost flow, and the flow's node potentials price
every arc. Those prices bound what any other set of sites could achieve, so a small master
problem over "which facility opens" (a facility is one size/designation of one candidate) only
needs these bounds, never the children:

* **Cut.** For node potentials ``d`` and arc costs ``c``, every flow on capacities ``u`` costs
  at least ``Σ_a u_a·min(0, c_a + d_tail − d_head) − Σ_v b_v·d_v`` (weak duality; any ``d``).
  A facility's arcs have capacity only when it opens, and the potentials of its own nodes may
  be chosen per facility, so the bound is ``θ ≥ C − Σ_f coef_f·y_f``: for a facility open in
  the evaluated set, ``coef_f`` is what its arcs earn at the flow's own potentials (closing it
  loses at least that); for a closed one, the best its nodes could earn, which is the most a
  child-by-child greedy fill of its places can gain at the children's current prices (the
  places are a laminar matroid, so the greedy is optimal). The cut is tight at the evaluated
  set, and strongest where the flow's duals are: this is the classic capacitated-facility
  Benders cut with the closed sites' duals chosen optimally (Pareto-optimal for them).
* **Core point.** The flow with every facility open gives the first cut (closing penalties for
  every site) and the bound on level 1 that "k sites" can never beat.
* **Levels stay exact.** Level 1 (children placed and preferences, exact integer weights) is
  decided first with its own cuts, from the flow's level-1 potentials. Level 2 (£ a year) is
  then minimised over the sets whose level-1 cuts allow the proven level-1 optimum; its cuts use
  the potentials ``d₂ + λ·d₁`` for the cost ``c₂ + λ·c₁``, with ``λ`` the least multiplier that
  makes them optimal for the evaluated set (so the cut is tight there), and are valid for every
  set with that level-1 value (Lagrangian relaxation of "level 1 stays optimal").
* **Master.** CP-SAT over the facilities: one per candidate, ``k`` (or up to ``k``) candidates,
  the capital budget, and every cut; its optimum (or bound, if it runs out of time) is the
  proven lower bound, every set it proposes is evaluated by the exact flow over every child.

Numbers are exact integers throughout; a coefficient too large for CP-SAT is lowered only in ways
that keep the cut valid (see :func:`_capped`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.side_constraints import LevelReport
from matcher.site_models import LEVEL_NAMES, SolvedChoice
from matcher.site_network import OpeningRule, SiteProblem

IntArray = npt.NDArray[np.int64]

# Coefficients are clipped here so sums stay in int64 (a few thousand places at most per site).
# An open site's coefficient clipped is a weaker cut; a closed site's is marked ``unbounded`` and
# raised again by :func:`_capped` to the most any coefficient needs to be.
PENALTY_CAP = 2**50
CONSTANT_CAP = 2**50
# Potentials times the level-2 multiplier must stay below this to be computed in int64.
INT64_ROOM = 2**61


@dataclass(frozen=True)
class BendersProgress:
    """One step of the search, for the progress display: the best set found so far and the
    proven bound, on the level being decided (1: children placed and preferences, 2: £)."""

    level: int
    iteration: int
    flows: int
    best: int
    bound: int
    seconds: float

    @property
    def gap(self) -> float:
        if self.best <= self.bound:
            return 0.0
        return (self.best - self.bound) / max(abs(self.best), 1)


ProgressCallback = Callable[[BendersProgress], None]


@dataclass(frozen=True)
class Cut:
    """``θ ≥ constant − Σ_f coefficients[f]·y_f``; every coefficient is zero or more."""

    constant: int
    coefficients: IntArray
    unbounded: npt.NDArray[np.bool_]  # closed sites whose coefficient was clipped


@dataclass(frozen=True)
class Evaluated:
    """A set of facilities solved by the exact flow: its levels and the cuts it gives."""

    facilities: tuple[int, ...]
    level_one: int
    money: int  # placement + transport + running costs, £ a year
    level_one_cut: Cut
    combined_cut: Cut | None  # on c₂ + λ·c₁; None when λ·d₁ would overflow int64
    multiplier: int  # λ

    def money_cut(self, level_one_optimum: int) -> Cut | None:
        """The cut on £ for sets at the level-1 optimum L1*: ``L2 = V_λ − λ·L1*``, and
        ``V_λ`` is at least the combined cut. Constants above ``CONSTANT_CAP`` are lowered to
        it (a weaker cut, still valid)."""
        if self.combined_cut is None:
            return None
        cut = self.combined_cut
        constant = min(cut.constant - self.multiplier * level_one_optimum, CONSTANT_CAP)
        return Cut(constant, cut.coefficients, cut.unbounded)


@dataclass
class FacilityArcs:
    """Which arcs belong to each facility, found once: its option arcs, grouped by the top
    capacity node they fill, and its capacity arcs."""

    option: IntArray  # option arcs of every facility
    option_facility: IntArray
    option_root: IntArray  # the facility's top capacity node (next to the sink) each fills
    root_capacity: dict[int, int]
    owned: IntArray  # every arc of every facility (options and capacity arcs)
    owner: IntArray

    @classmethod
    def of(cls, problem: SiteProblem) -> FacilityArcs:
        option = np.flatnonzero(problem.site_of_option >= 0)
        sink = problem.network.sink
        roots, cap_arcs, cap_owner = [], [], []
        seen: set[int] = set()
        for a in option.tolist():
            path = problem.path(a)
            roots.append(path[-1])
            for node in path:
                if node not in seen:
                    seen.add(node)
                    cap_arcs.append(problem.cap_arc[node])
                    cap_owner.append(int(problem.site_of_option[a]))
        caps = problem.network.flow.capacities
        root = np.asarray(roots, np.int64)
        assert all(problem.parent[r] == sink for r in set(roots))
        return cls(
            option,
            problem.site_of_option[option],
            root,
            {r: int(caps[problem.cap_arc[r]]) for r in set(roots)},
            np.concatenate([option, np.asarray(cap_arcs, np.int64)]),
            np.concatenate([problem.site_of_option[option], np.asarray(cap_owner, np.int64)]),
        )


def _python_sum(values: IntArray, weights: IntArray | None = None) -> int:
    """An exact sum in Python integers (products and sums of potentials can pass int64)."""
    if weights is None:
        return sum(values.tolist())
    return sum(v * w for v, w in zip(values.tolist(), weights.tolist(), strict=True))


def _cut(
    problem: SiteProblem,
    arcs: FacilityArcs,
    open_facilities: Sequence[int],
    capacities: IntArray,
    costs: IntArray,
    potentials: IntArray,
    n_facilities: int,
) -> Cut:
    """The Benders cut of one potential vector: ``θ ≥ bound + Σ_{open} coef·(1 − y) −
    Σ_{closed} coef·y``, where ``bound`` is the flow's lower bound at the evaluated set."""
    flow = problem.network.flow
    reduced = costs + potentials[flow.tails] - potentials[flow.heads]
    earning = np.flatnonzero((reduced < 0) & (capacities > 0))
    bound = _python_sum(reduced[earning], capacities[earning])
    n = problem.n_children
    bound -= _python_sum(potentials[:n]) - n * int(potentials[problem.network.sink])
    coefficients = np.zeros(n_facilities, np.int64)
    is_open = np.zeros(n_facilities, bool)
    is_open[list(open_facilities)] = True
    # Open facilities: what their arcs earn at the flow's potentials.
    owned_open = is_open[arcs.owner]
    owned = arcs.owned[owned_open]
    earned = -np.minimum(reduced[owned], 0) * capacities[owned]
    np.add.at(coefficients, arcs.owner[owned_open], np.minimum(earned, PENALTY_CAP))
    # Closed facilities: the most a greedy fill of their places gains at these prices.
    closed = ~is_open[arcs.option_facility]
    option = arcs.option[closed]
    gain = int(potentials[problem.network.sink]) - potentials[flow.tails[option]] - costs[option]
    keep = gain > 0
    option, gain = option[keep], np.minimum(gain[keep], PENALTY_CAP)
    root = arcs.option_root[closed][keep]
    facility = arcs.option_facility[closed][keep]
    order = np.lexsort((-gain, root))
    root, gain, facility = root[order], gain[order], facility[order]
    starts = np.flatnonzero(np.r_[True, root[1:] != root[:-1]]) if len(root) else root
    rank = np.arange(len(root)) - np.repeat(starts, np.diff(np.r_[starts, len(root)]))
    room = np.array([arcs.root_capacity[r] for r in root.tolist()], np.int64)
    taken = rank < room
    np.add.at(coefficients, facility[taken], gain[taken])
    unbounded = ~is_open & (coefficients >= PENALTY_CAP)
    coefficients = np.minimum(coefficients, PENALTY_CAP)
    constant = bound + int(coefficients[is_open].sum())
    return Cut(constant, coefficients, unbounded)


def _multiplier(
    flows: IntArray, capacities: IntArray, reduced_one: IntArray, reduced_money: IntArray
) -> int:
    """The least λ ≥ 0 making ``d₂ + λ·d₁`` optimal for ``c₂ + λ·c₁``: every residual arc's
    reduced cost ``rc₂ + λ·rc₁`` non-negative (level 1 is optimal, so ``rc₁ ≥ 0`` on them)."""
    need = 0
    forward = (flows < capacities) & (reduced_one > 0) & (reduced_money < 0)
    if forward.any():
        need = max(need, int((-(reduced_money[forward] // reduced_one[forward])).max()))
    backward = (flows > 0) & (reduced_one < 0) & (reduced_money > 0)
    if backward.any():
        need = max(need, int((-(-reduced_money[backward] // -reduced_one[backward])).max()))
    return need


def evaluate(
    problem: SiteProblem, arcs: FacilityArcs, rule: OpeningRule, facilities: Sequence[int]
) -> Evaluated:
    """The exact flow over every child with ``facilities`` open, and its two cuts."""
    solution, capacities = problem.lexicographic(facilities)
    flows = solution.flows
    level_one_costs, money_costs = problem.level_one, problem.full_money()
    one = int((level_one_costs * flows).sum())
    money = int((money_costs * flows).sum()) + rule.running(facilities)
    d1, d2 = solution.level_potentials
    n_fac = rule.n_facilities
    level_one_cut = _cut(problem, arcs, facilities, capacities, level_one_costs, d1, n_fac)

    tails, heads = problem.network.flow.tails, problem.network.flow.heads
    rc1 = level_one_costs + d1[tails] - d1[heads]
    rc2 = money_costs + d2[tails] - d2[heads]
    lam = _multiplier(flows, capacities, rc1, rc2)
    widest = max(int(np.abs(d1).max(initial=0)), int(np.abs(level_one_costs).max(initial=0)))
    combined = None
    if lam * widest * 4 < INT64_ROOM:
        # (θ is £ for placements and transport; the master adds the sites' running costs.)
        costs = money_costs + lam * level_one_costs
        combined = _cut(problem, arcs, facilities, capacities, costs, d2 + lam * d1, n_fac)
    return Evaluated(tuple(facilities), one, money, level_one_cut, combined, lam)


def _capped(cut: Cut, floor: int) -> Cut:
    """The cut with no coefficient above ``constant − floor`` (``floor`` a valid lower bound
    of θ everywhere): a set opening such a facility gets at most ``floor`` from the cut either
    way, so the cut stays valid, and CP-SAT's numbers stay small."""
    room = max(cut.constant - floor, 0)
    coefficients = np.where(cut.unbounded, room, np.minimum(cut.coefficients, room))
    return Cut(cut.constant, coefficients, cut.unbounded)


@dataclass
class _Master:
    """The master problem: facilities to open, cuts on each level, solved by CP-SAT."""

    rule: OpeningRule
    workers: int
    level_one_floor: int = 0
    level_one_cuts: list[Cut] = field(default_factory=list)
    evaluated: list[Evaluated] = field(default_factory=list)

    def solve(
        self,
        level: int,
        floor: int,
        level_one_optimum: int | None,
        hint: Sequence[int],
        seconds: float,
        exclude: Sequence[int] | None = None,
    ) -> tuple[list[int], int, bool] | None:
        """The facilities the cuts favour, the proven bound on the level, and whether it is
        proven optimal (``([], floor, False)`` if CP-SAT found no set in its time); None if no
        set is allowed by the rules and the cuts."""
        rule = self.rule
        model = cp_model.CpModel()
        y = [model.new_bool_var(f"open{f}") for f in range(rule.n_facilities)]
        for candidate in set(rule.candidate_of.tolist()):
            model.add_at_most_one(y[f] for f in np.flatnonzero(rule.candidate_of == candidate))
        if rule.at_most:
            model.add(sum(y) <= rule.k)
        else:
            model.add(sum(y) == rule.k)
        if rule.capital_budget is not None:
            model.add(
                cp_model.LinearExpr.weighted_sum(y, rule.capital_cost.tolist())
                <= rule.capital_budget
            )
        if level == 1:
            cuts = self.level_one_cuts
        else:
            assert level_one_optimum is not None
            money = (e.money_cut(level_one_optimum) for e in self.evaluated)
            cuts = [c for c in money if c is not None]
        top = max([floor, *(c.constant for c in cuts)])
        theta = model.new_int_var(floor, top, "theta")
        for cut in cuts:
            capped = _capped(cut, floor)
            model.add(
                theta + cp_model.LinearExpr.weighted_sum(y, capped.coefficients.tolist())
                >= capped.constant
            )
        if level == 2:
            assert level_one_optimum is not None
            for cut in (_capped(c, self.level_one_floor) for c in self.level_one_cuts):
                model.add(
                    cp_model.LinearExpr.weighted_sum(y, cut.coefficients.tolist())
                    >= cut.constant - level_one_optimum
                )
            running = cp_model.LinearExpr.weighted_sum(y, rule.running_cost.tolist())
            model.minimize(theta + running)
        else:
            model.minimize(theta)
        if exclude is not None:  # any set but this one
            inside = [y[f] for f in exclude]
            outside = [y[f] for f in range(rule.n_facilities) if f not in exclude]
            model.add(sum(outside) - sum(inside) >= 1 - len(inside))
        for f in range(rule.n_facilities):
            model.add_hint(y[f], f in hint)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(seconds, 0.05)
        solver.parameters.num_workers = self.workers
        status = solver.solve(model)
        if status == cp_model.INFEASIBLE:
            return None
        if status == cp_model.UNKNOWN:
            return [], floor, False
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # a bug, never the user's input
            raise RuntimeError(f"the site-choice master ended {solver.status_name(status)}")
        chosen = [f for f in range(rule.n_facilities) if solver.value(y[f])]
        bound = int(np.ceil(solver.best_objective_bound - 1e-6))
        return chosen, bound, status == cp_model.OPTIMAL


@dataclass
class BendersSearch:
    """One search: the sets evaluated, the master, the incumbent and bound of each level."""

    problem: SiteProblem
    rule: OpeningRule
    gap: float = 0.0
    workers: int = 2
    on_progress: ProgressCallback | None = None
    evaluated: dict[tuple[int, ...], Evaluated] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.arcs = FacilityArcs.of(self.problem)
        self.master = _Master(self.rule, self.workers)
        self.iteration = 0

    def add(self, facilities: Sequence[int]) -> Evaluated:
        key = tuple(sorted(facilities))
        if key not in self.evaluated:
            found = evaluate(self.problem, self.arcs, self.rule, key)
            self.evaluated[key] = found
            self.master.level_one_cuts.append(found.level_one_cut)
            self.master.evaluated.append(found)
        return self.evaluated[key]

    def _report(self, level: int, best: int, bound: int) -> None:
        if self.on_progress is not None:
            seconds = time.perf_counter() - self.started
            progress = BendersProgress(
                level, self.iteration, len(self.evaluated), best, bound, seconds
            )
            self.on_progress(progress)

    def _allowed(self) -> list[Evaluated]:
        return [e for e in self.evaluated.values() if self.rule.allows(e.facilities)]

    def run(self, deadline: float) -> SolvedChoice:
        """Level 1 to proof (or the deadline), then level 2 to the gap (or the deadline)."""
        everything = self.add(range(self.rule.n_facilities))  # the core point
        self.add(())
        floor_one = everything.level_one  # no set places more than all of them
        self.master.level_one_floor = floor_one
        best_one, bound_one, proven_one = self._level(1, floor_one, None, deadline)
        if proven_one:
            floor_money = self._money_floor(everything, best_one)
            best_money, bound_money, reached = self._level(2, floor_money, best_one, deadline)
        else:  # out of time on level 1: the £ of its best set, bounded only trivially
            best_money = min(e.money for e in self._allowed() if e.level_one == best_one)
            bound_money, reached = self._cheapest(), False
        allowed = sorted(
            (e for e in self._allowed() if e.level_one == best_one),
            key=lambda e: (e.money, e.facilities),
        )
        self._try_runner_up(allowed[0].facilities, floor_one, deadline)
        others = sorted(
            (e for e in self._allowed() if e.facilities != allowed[0].facilities),
            key=lambda e: (e.level_one, e.money),
        )
        runner_up = None
        if others:
            runner_up = (others[0].level_one, others[0].money, others[0].facilities)
        levels = (
            LevelReport(LEVEL_NAMES[0], best_one, bound_one, proven_one),
            LevelReport(LEVEL_NAMES[1], best_money, bound_money, best_money <= bound_money),
        )
        if best_money <= bound_money and proven_one:
            status = "OPTIMAL"
        else:  # stopped at the gap asked for, or at the time limit
            status = "WITHIN_GAP" if reached else "FEASIBLE"
        chosen = list(allowed[0].facilities)
        return SolvedChoice(chosen, levels, status, runner_up, len(self.evaluated))

    def _try_runner_up(self, best: tuple[int, ...], floor_one: int, deadline: float) -> None:
        """If no other allowed set was evaluated, the one the level-1 cuts favour once ``best``
        is excluded (if time is left): a runner-up to show, not a proven second."""
        if any(e.facilities != best for e in self._allowed()):
            return
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        found = self.master.solve(1, floor_one, None, (), min(left, 5.0), exclude=best)
        if found is not None and (found[0] or self.rule.at_most):
            self.add(found[0])

    def _money_floor(self, everything: Evaluated, best_one: int) -> int:
        """A bound no set's £ goes below: with every site open (if that is no better at level
        1 and sites cost nothing to run), else each child's cheapest option or none."""
        if everything.level_one == best_one and not self.rule.running_cost.any():
            return everything.money
        return self._cheapest()

    def _cheapest(self) -> int:
        money = self.problem.full_money()
        flow = self.problem.network.flow
        child_arcs = self.problem.network.n_options + self.problem.n_children
        cheapest = np.zeros(self.problem.n_children, np.int64)
        np.minimum.at(cheapest, flow.tails[:child_arcs], money[:child_arcs])
        return int(cheapest.sum())

    def _level(
        self, level: int, floor: int, level_one_optimum: int | None, deadline: float
    ) -> tuple[int, int, bool]:
        """Master and flow in turn until the bound meets the best set (within ``gap`` on level
        2) or the deadline: (best value, proven bound, whether the gap was reached)."""
        bound = floor
        master_seconds = 5.0
        while True:
            candidates = self._allowed()
            if level == 2:
                candidates = [e for e in candidates if e.level_one == level_one_optimum]
            value = (lambda e: e.level_one) if level == 1 else (lambda e: e.money)
            incumbent = min(candidates, key=value, default=None)
            best = value(incumbent) if incumbent is not None else None
            if best is not None:
                self._report(level, best, bound)
                tolerance = self.gap * abs(best) if level == 2 else 0.0
                if best - bound <= tolerance:
                    return best, min(bound, best), True
            left = deadline - time.perf_counter()
            if left <= 0 and best is not None:
                return best, bound, False
            self.iteration += 1
            hint = incumbent.facilities if incumbent is not None else ()
            found = self.master.solve(
                level, floor, level_one_optimum, hint, min(master_seconds, max(left, 1.0))
            )
            if found is None:
                if best is None:
                    raise ValueError(
                        "no set of sites meets the rules (k, one size per site, budget)"
                    )
                return best, best, True  # no set beats the incumbent
            chosen, master_bound, optimal = found
            bound = max(bound, master_bound)
            if best is not None and best - bound <= (self.gap * abs(best) if level == 2 else 0):
                continue
            key = tuple(sorted(chosen))
            if (not chosen and not optimal) or key in self.evaluated:
                master_seconds *= 2  # the master needs longer to move on
                if left <= 0 and best is not None:
                    return best, bound, False
                continue
            self.add(key)


def solve_benders(
    problem: SiteProblem,
    rule: OpeningRule,
    time_limit: float,
    gap: float = 0.0,
    workers: int = 2,
    on_progress: ProgressCallback | None = None,
) -> SolvedChoice:
    """The optimal set of facilities within ``gap`` (relative, on £ a year) or the best found in
    ``time_limit`` seconds with its proven bound; see the module docstring."""
    search = BendersSearch(problem, rule, gap, workers, on_progress)
    return search.run(search.started + time_limit)
