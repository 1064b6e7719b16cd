"""Fair access: in-year places for hard-to-place children, shared fairly between schools.

The School Admissions Code asks each LA's fair access panel to place unplaced and vulnerable
children in-year, quickly, "without any school taking a disproportionate share". This module
turns that into a CP-SAT model. A school's *load* is its fair access placements in the last 12
months plus those proposed now, per school place (``total_places``)::

    load(school) = (history + new) / size

so that a large school takes more children than a small one, and a school that took many in the
past year takes fewer now. CP-SAT needs integers, so a load is measured in ``1 / load_scale`` of
a school's size, rounded down (``load_scale=1000``: per-mille, so 12 children at a 1,200-place
school is 10‰).

The plan is chosen lexicographically, one level after another (like
``matcher.side_constraints``), each level fixed at its optimum before the next. The levels are
the placement flow's (``matcher.placement.level_costs``: children placed, then families with a
preference met, then preference ranks, then travel), with the panel's own level, the highest
load, put second:

1. as many children placed as the caps allow (a min-max alone would place nobody: an empty plan
   adds no load anywhere);
2. the highest load of any school that takes a child in this round, as small as possible. Only
   receiving schools count, so that a school already heavily loaded by its history is kept from
   taking more, rather than setting a floor under which the others are not balanced at all. (The
   highest load over *all* schools is then minimal too: it is the larger of this and the highest
   history load, which no plan can lower.) Load comes before parents' preferences because the
   School Admissions Code gives the fair access panel its purpose as placing children without
   any school taking a disproportionate share: a preference is met where it keeps within the
   fairest load, never by loading a school beyond it;
3. as many children as possible with a parental preference met (put the other way: as few
   families as possible who named schools and have none of them), so that as many families as
   possible get one of theirs before any family's ranking is weighed;
4. preference ranks among them, as small as possible (a k-th preference counts k - 1);
5. total journey time, so that among equally fair plans the children travel least.

With the highest load fixed, what is left is a transportation problem, so each level's optimum
is also computed exactly by max flow, bisection and the lexicographic min-cost flow of
``matcher.lexicographic_flow`` (``_Flows``, milliseconds), levels 3 to 5 each on the optimal
face of the ones before, with no weighted sum. Those bounds and that plan go into the CP-SAT
model, whose own relaxation of a min-max is weak: CP-SAT then certifies the plan quickly, and
the model stays the place to add constraints a flow cannot express (sibling groups, need mix),
as ``matcher.side_constraints`` does for placement.

Only mainstream general places are offered (fair access is about mainstream admissions; a
resourced provision's places are commissioned by the LA and named through an EHCP, not a
panel), within the journey limits of ``matcher.eligibility``, which also supplies, for every
school a child cannot go to, the reasons why. For each child the result gives the proposed
school, the other eligible schools ranked by the load they would reach, and the excluded ones
with their reasons, so that a panel can see why a nearer school was not chosen; and which of
the parents' preferences was met, and for each one ranked above it (or each one, when none was
met) why it was not.

``round_robin_allocation`` is the rota many panels use: schools take turns in a fixed order,
with no regard to preferences. It is the baseline the CP-SAT plan must beat on max load (tests,
benchmark); its result counts the preferences it happens to meet, to compare with the plan's.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from ortools.graph.python import max_flow
from ortools.sat.python import cp_model

from matcher.eligibility import EligibilityConfig, build_arcs, describe
from matcher.fair_access_files import load_fap_history as load_fap_history  # for callers
from matcher.lexicographic_flow import FlowNetwork, solve_lexicographic
from matcher.models import Child, PlacementKind, Setting
from matcher.placement import LEVEL_TITLES, PREFERENCE_LEVELS
from matcher.travel import TravelTimeMatrix

Method = Literal["cp-sat", "round-robin"]

# Reasons fair access adds to eligibility's: they are about this process, not the child's needs.
NO_SIZE_TEXT = "school size (total_places) is 0, so its share of fair access cannot be measured"
CURRENT_SETTING_TEXT = "the child's current school: fair access finds the child a new school"
NOT_MAINSTREAM_TEXT = "not a mainstream school: fair access offers mainstream places only"
UNKNOWN_SCHOOL_TEXT = "not a known school"

#: The levels of the plan, in the order they are solved: the placement flow's
#: (``matcher.placement.level_names``), with the highest load second.
FAIR_ACCESS_LEVELS = (PREFERENCE_LEVELS[0], "highest_load", *PREFERENCE_LEVELS[1:], "travel")


# --------------------------------------------------------------------------------------------
# Configuration and results


def _fair_access_eligibility() -> EligibilityConfig:
    # Fair access places within the journey limits: unlike a named EHCP school, a preference
    # here does not carry a parent's promise to arrange a longer journey.
    return EligibilityConfig(preferences_exempt_from_travel_limit=False)


@dataclass(frozen=True)
class FairAccessConfig:
    """Journey limits, caps on each school in this round, and how load is measured.

    A school's cap in the round is the smallest of: its places left (``total_places - on_roll``,
    and its year group's places left where it sets year places), unless
    ``cap_at_places_left`` is False (a panel may direct admission above a school's published
    number); ``max_per_school``; and its entry in ``school_caps`` (URN → cap).
    """

    eligibility: EligibilityConfig = field(default_factory=_fair_access_eligibility)
    max_per_school: int | None = None
    school_caps: Mapping[str, int] = field(default_factory=dict)
    cap_at_places_left: bool = True
    # The school a child is leaving (or was excluded from) is not offered back.
    exclude_current_setting: bool = True
    # Load units per unit of load: 1000 measures load in per-mille of the school's size.
    load_scale: int = 1000
    time_limit_seconds: float = 10.0
    workers: int = 2

    def __post_init__(self) -> None:
        if self.max_per_school is not None and self.max_per_school < 0:
            raise ValueError("max_per_school must not be negative")
        negative = sorted(urn for urn, cap in self.school_caps.items() if cap < 0)
        if negative:
            raise ValueError(f"school_caps must not be negative (URNs {', '.join(negative)})")
        if self.load_scale < 1:
            raise ValueError("load_scale must be a positive whole number")
        if self.time_limit_seconds <= 0:
            raise ValueError("time_limit_seconds must be positive")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")


def level_titles(load_scale: int) -> dict[str, str]:
    """Each of ``FAIR_ACCESS_LEVELS`` in words, with the unit its objective is counted in."""
    return {
        "placed": LEVEL_TITLES["placed"],
        "highest_load": f"highest load of a school taking a child (1/{load_scale} of size)",
        "preference_met": LEVEL_TITLES["preference_met"],
        "preference_rank": f"{LEVEL_TITLES['preference_rank']} (a k-th preference counts k - 1)",
        "travel": f"{LEVEL_TITLES['travel']} (tenths of a minute)",
    }


@dataclass(frozen=True)
class LevelReport:
    """One lexicographic level of the solve: its value, and how far from optimal it could be.

    ``key`` is one of ``FAIR_ACCESS_LEVELS``; ``name`` is the level in words (``level_titles``),
    for the Solver sheet and the API. ``status`` is CP-SAT's own (OPTIMAL, FEASIBLE, or UNKNOWN
    when it found no plan in time and the best plan so far was kept). ``best_bound`` is the
    tighter of CP-SAT's bound and the one the flows prove, so ``gap`` is 0 whenever the plan is
    proven optimal by either.
    """

    key: str
    name: str
    status: str
    objective: int
    best_bound: int

    @property
    def proven_optimal(self) -> bool:
        return self.objective == self.best_bound

    @property
    def gap(self) -> float:
        """Relative optimality gap of this level (0 when proven optimal)."""
        return abs(self.objective - self.best_bound) / max(abs(self.objective), 1)


@dataclass(frozen=True)
class SchoolOption:
    """An eligible school the child was not proposed for, and what it would mean to use it.

    Loads are per-mille of school size, with everyone else's placements as in the plan:
    ``load_before`` without this child, ``load_after`` with. ``places_left`` is the room the
    school still has in this round under its cap (None: the school has no cap in this round).
    """

    urn: str
    name: str
    minutes: float
    load_before: float
    load_after: float
    places_left: int | None
    note: str


@dataclass(frozen=True)
class ExcludedSchool:
    """A school the child cannot be placed at, with every reason (eligibility's words)."""

    urn: str
    name: str
    minutes: float | None  # None where there is no travel time
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ChildAllocation:
    """One child's outcome. ``school_urn`` is None when unplaced; ``reason`` says why."""

    child_id: str
    school_urn: str | None
    school_name: str | None
    minutes: float | None
    preference_rank: int | None  # 1 = the parents' first preference; None = not a preference
    load_before: float | None  # the proposed school's load without and with this child (‰)
    load_after: float | None
    reason: str
    alternatives: tuple[SchoolOption, ...]  # by resulting load, then journey time
    excluded: tuple[ExcludedSchool, ...]  # schools with a travel time or preferred, by minutes
    schools_beyond_reach: int  # mainstream schools with no travel time at all (not listed)


@dataclass(frozen=True)
class SchoolLoad:
    """One mainstream school's share: loads are per-mille of ``size`` (None when size is 0)."""

    urn: str
    name: str
    size: int
    history: int
    cap: int | None  # most this school may take in this round; None: no cap
    new: int
    load_before: float | None
    load_after: float | None
    load_after_units: int | None  # floor((history + new) * load_scale / size): what CP-SAT sees


@dataclass(frozen=True)
class FairAccessResult:
    method: Method
    allocations: tuple[ChildAllocation, ...]
    schools: tuple[SchoolLoad, ...]
    levels: tuple[LevelReport, ...]  # empty for the round robin
    placed: int
    unplaced: int
    with_preferences: int  # children whose parents named at least one school
    any_preference_met: int  # level 3's objective (the round robin's count, for comparison)
    first_preference_met: int
    # Highest load after the round over every school in the pool, exact (‰) and in units.
    max_load: float
    max_load_units: int
    # Highest load of a school that takes a child in this round (level 2's objective), units.
    max_receiving_load_units: int
    total_minutes: float
    load_scale: int
    travel_model: str
    notes: tuple[str, ...]

    @property
    def status(self) -> str:
        """OPTIMAL when every level is proven optimal, else FEASIBLE (ROUND_ROBIN: no proof)."""
        if not self.levels:
            return "ROUND_ROBIN"
        return "OPTIMAL" if all(level.proven_optimal for level in self.levels) else "FEASIBLE"

    @property
    def proposed(self) -> dict[str, str | None]:
        return {a.child_id: a.school_urn for a in self.allocations}


# --------------------------------------------------------------------------------------------
# The problem, prepared once for either method


@dataclass
class _Problem:
    """Mainstream schools, their sizes, histories and caps, and the eligible (child, school)
    arcs in child order with their preference ranks, every excluded pair already in words."""

    children: Sequence[Child]
    schools: list[Setting]
    size: list[int]
    history: list[int]
    cap: list[int | None]  # None: no cap in this round
    year_cap: dict[tuple[int, int], int]  # (school, NC year) → places left in that year group
    arc_child: list[int]
    arc_school: list[int]
    arc_minutes: list[float]
    arc_rank: list[int]  # the school's rank in the child's preferences; 0: not a preference
    excluded: list[list[ExcludedSchool]]
    beyond_reach: list[int]
    scale: int
    travel_model: str
    notes: list[str]
    setting_names: dict[str, str]  # every setting given, mainstream or not: URN → name

    def arcs_of_child(self) -> list[list[int]]:
        by_child: list[list[int]] = [[] for _ in self.children]
        for a, i in enumerate(self.arc_child):
            by_child[i].append(a)
        return by_child

    def limit(self, school: int) -> int:
        """The cap as a number: with no cap, every child in the round could go there."""
        cap = self.cap[school]
        return len(self.children) if cap is None else cap

    def units(self, school: int, count: int) -> int:
        """Load in model units: floor((history + count) * scale / size)."""
        return (self.history[school] + count) * self.scale // self.size[school]

    def per_mille(self, school: int, count: int) -> float:
        return (self.history[school] + count) * 1000 / self.size[school]


def _prepare(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    history: Mapping[str, int],
    config: FairAccessConfig,
) -> _Problem:
    """Everything both methods need, with every pair that is not an option put in words."""
    ids = [c.child_id for c in children]
    if len(set(ids)) != len(ids):
        raise ValueError("child_id values must be unique")
    bad = sorted(urn for urn, count in history.items() if count < 0)
    if bad:
        raise ValueError(f"fair access history must not be negative (URNs {', '.join(bad)})")
    # General places only: a resourced provision is named through an EHCP, not a panel.
    schools = [
        s.model_copy(update={"provisions": ()})
        for s in settings
        if s.placement_kind is PlacementKind.MAINSTREAM
    ]
    notes: list[str] = []
    skipped = len(settings) - len(schools)
    if skipped:
        notes.append(f"{skipped} setting(s) that are not mainstream schools are not considered")
    urns = {s.urn for s in schools}
    unknown = sorted(set(history) - urns)
    if unknown:
        notes.append(
            "fair access history names URN(s) not among the mainstream schools: "
            + ", ".join(unknown)
        )
    unknown_caps = sorted(set(config.school_caps) - urns)
    if unknown_caps:
        notes.append(
            "school_caps names URN(s) not among the mainstream schools: " + ", ".join(unknown_caps)
        )
    size = [s.total_places for s in schools]
    for s in schools:
        if s.total_places == 0:
            notes.append(f"{s.name} ({s.urn}) has total_places 0 and is not offered")

    cap: list[int | None] = []
    year_cap: dict[tuple[int, int], int] = {}
    for j, s in enumerate(schools):
        limits = []
        if config.cap_at_places_left:
            limits.append(s.places_left)
            for year in s.year_places:
                year_cap[(j, year)] = s.year_places_left(year) or 0
        if config.max_per_school is not None:
            limits.append(config.max_per_school)
        if s.urn in config.school_caps:
            limits.append(config.school_caps[s.urn])
        cap.append(min(limits) if limits else None)

    arcs = build_arcs(children, schools, travel, config.eligibility)
    extra: dict[tuple[int, int], list[str]] = defaultdict(list)
    unsized = [j for j, s in enumerate(schools) if s.total_places == 0]
    school_index = {s.urn: j for j, s in enumerate(schools)}
    for i, child in enumerate(children):
        for j in unsized:
            extra[(i, j)].append(NO_SIZE_TEXT)
        current = school_index.get(child.current_setting or "")
        if config.exclude_current_setting and current is not None:
            extra[(i, current)].append(CURRENT_SETTING_TEXT)

    excluded: list[list[ExcludedSchool]] = [[] for _ in children]

    def exclude(i: int, j: int, minutes: float, reasons: list[str]) -> None:
        s = schools[j]
        known = None if math.isnan(minutes) else minutes
        excluded[i].append(ExcludedSchool(s.urn, s.name, known, tuple(reasons)))

    arc_child, arc_school, arc_minutes, arc_rank = [], [], [], []
    for i, j, minutes, rank in zip(
        arcs.child.tolist(),
        arcs.setting.tolist(),
        arcs.minutes.tolist(),
        arcs.preference_rank.tolist(),
        strict=True,
    ):
        if (i, j) in extra:
            exclude(i, j, minutes, extra[(i, j)])
            continue
        arc_child.append(i)
        arc_school.append(j)
        arc_minutes.append(minutes)
        arc_rank.append(rank)
    for i, j, reasons, minutes in zip(
        arcs.excluded_child.tolist(),
        arcs.excluded_setting.tolist(),
        arcs.excluded_reasons.tolist(),
        arcs.excluded_minutes.tolist(),
        strict=True,
    ):
        exclude(i, j, minutes, [*describe(reasons), *extra.get((i, j), [])])
    for rows in excluded:
        rows.sort(key=lambda e: (e.minutes is None, e.minutes or 0.0, e.urn))
    listed = Counter(arc_child) + Counter(e for e, rows in enumerate(excluded) for _ in rows)
    beyond = [len(schools) - listed[i] for i in range(len(children))]
    return _Problem(
        children=children,
        schools=schools,
        size=size,
        history=[history.get(s.urn, 0) for s in schools],
        cap=cap,
        year_cap=year_cap,
        arc_child=arc_child,
        arc_school=arc_school,
        arc_minutes=arc_minutes,
        arc_rank=arc_rank,
        excluded=excluded,
        beyond_reach=beyond,
        scale=config.load_scale,
        travel_model=travel.model,
        notes=notes,
        setting_names={s.urn: s.name for s in settings},
    )


# --------------------------------------------------------------------------------------------
# Round robin


def _round_robin(p: _Problem) -> list[int]:
    """The chosen arc for each child (-1: none), schools taking turns in the given order."""
    by_child = p.arcs_of_child()
    taken = [0] * len(p.schools)
    taken_year: Counter[tuple[int, int]] = Counter()
    turn = 0
    chosen = [-1] * len(p.children)
    for i, options in enumerate(by_child):
        year = p.children[i].nc_year
        at = {p.arc_school[a]: a for a in options}
        for step in range(len(p.schools)):
            j = (turn + step) % len(p.schools)
            if j not in at or taken[j] >= p.limit(j):
                continue
            if (j, year) in p.year_cap and taken_year[(j, year)] >= p.year_cap[(j, year)]:
                continue
            chosen[i] = at[j]
            taken[j] += 1
            taken_year[(j, year)] += 1
            turn = j + 1
            break
    return chosen


def round_robin_allocation(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    history: Mapping[str, int] | None = None,
    config: FairAccessConfig | None = None,
) -> FairAccessResult:
    """The rota baseline: each child, in the order given, goes to the next school in turn.

    Mainstream schools take turns in the order given; a child goes to the first school from the
    current turn on that is eligible for it and has room, and the turn passes to the school
    after that one. History is ignored in the choice (as on a plain rota) but counted in loads,
    so the result compares directly with ``allocate_fair_access``.
    """
    config = config or FairAccessConfig()
    p = _prepare(children, settings, travel, history or {}, config)
    return _explain(p, _round_robin(p), (), "round-robin")


# --------------------------------------------------------------------------------------------
# CP-SAT


PlanLevels = tuple[int, int, int, int, int]


def _plan_levels(p: _Problem, chosen: Sequence[int]) -> PlanLevels:
    """A plan's value at each of ``FAIR_ACCESS_LEVELS``: (children placed, highest receiving
    load in units, children with a preference met, preference ranks, travel in tenths)."""
    arcs = [a for a in chosen if a >= 0]
    new: Counter[int] = Counter(p.arc_school[a] for a in arcs)
    highest = max((p.units(j, n) for j, n in new.items()), default=0)
    met = sum(1 for a in arcs if p.arc_rank[a])
    ranks = sum(p.arc_rank[a] - 1 for a in arcs if p.arc_rank[a])
    tenths = sum(_tenths(p.arc_minutes[a]) for a in arcs)
    return len(arcs), highest, met, ranks, tenths


def _tenths(minutes: float) -> int:
    return round(minutes * 10)


class _Flows:
    """The fair access plan as flows, for exact bounds and an optimal starting plan.

    Once the highest load is fixed, each school may take a fixed number of children, so what
    is left is a transportation problem (source → child → year group → school → sink, or
    child → sink unplaced): a max flow says how many children can be placed, and a bisection
    over the load thresholds finds the least highest load. Under it, the placement flow's own
    levels (``matcher.placement.level_costs``: unplaced, families with no preference met,
    preference ranks, tenths of a minute) are solved one after another by
    ``matcher.lexicographic_flow``, each exact on the optimal face of the ones before. These
    bounds take milliseconds, where CP-SAT's own relaxation of a min-max is weak (a 200 × 300
    round left a wide gap in 10 s); ``_solve`` puts them in the CP-SAT model.
    """

    def __init__(self, p: _Problem) -> None:
        self.p = p
        n, m = len(p.children), len(p.schools)
        self.source, self.sink = 0, 1
        school_node = [2 + n + j for j in range(m)]
        year_node = {key: 2 + n + m + k for k, key in enumerate(p.year_cap)}
        self.n_nodes = 2 + n + m + len(year_node)
        tails: list[int] = []
        heads: list[int] = []
        caps: list[int] = []
        for i, j in zip(p.arc_child, p.arc_school, strict=True):  # option arcs come first
            tails.append(2 + i)
            heads.append(year_node.get((j, p.children[i].nc_year), school_node[j]))
            caps.append(1)
        for i in range(n):  # each child's supply, then its "unplaced" arc
            tails += [self.source, 2 + i]
            heads += [2 + i, self.sink]
            caps += [1, 1]
        self.unplaced_arcs = np.arange(len(p.arc_child) + 1, len(tails), 2)
        for (j, year), node in year_node.items():
            tails.append(node)
            heads.append(school_node[j])
            caps.append(p.year_cap[(j, year)])
        self.school_arcs = np.arange(len(tails), len(tails) + m)
        for j in range(m):
            tails.append(school_node[j])
            heads.append(self.sink)
            caps.append(p.limit(j))
        self.tails = np.asarray(tails, np.int64)
        self.heads = np.asarray(heads, np.int64)
        self.caps = np.asarray(caps, np.int64)
        self.with_preferences = sum(1 for c in p.children if c.preferences)
        self.levels = self._level_costs()

    def _level_costs(self) -> list[npt.NDArray[np.int64]]:
        """Costs per arc of the levels after the load, as ``matcher.placement.level_costs``."""
        p = self.p
        n_options = len(p.arc_child)
        rank = np.asarray(p.arc_rank, np.int64)
        child = np.asarray(p.arc_child, np.int64)
        named = np.array([bool(c.preferences) for c in p.children], np.int64)

        def level(
            option_costs: npt.NDArray[np.int64], unplaced: npt.NDArray[np.int64] | int = 0
        ) -> npt.NDArray[np.int64]:
            costs = np.zeros(len(self.tails), np.int64)
            costs[:n_options] = option_costs
            costs[self.unplaced_arcs] = unplaced
            return costs

        tenths = np.asarray([_tenths(minutes) for minutes in p.arc_minutes], np.int64)
        return [
            level(np.zeros(n_options, np.int64), 1),
            level(np.where(rank > 0, 0, named[child]), named),
            level(np.maximum(rank - 1, 0)),
            level(tenths),
        ]

    def allowed(self, school: int, highest: int) -> int:
        """Most children the school may take with its load at most ``highest`` units."""
        p = self.p
        room = ((highest + 1) * p.size[school] - 1) // p.scale - p.history[school]
        return min(max(room, 0), p.limit(school))

    def _capacities(self, highest: int | None) -> npt.NDArray[np.int64]:
        caps = self.caps.copy()
        if highest is not None:
            caps[self.school_arcs] = [self.allowed(j, highest) for j in range(len(self.p.schools))]
        return caps

    def most_placed(self, highest: int | None = None) -> int:
        """How many children can be placed with no school above ``highest`` (None: no limit)."""
        caps = self._capacities(highest)
        caps[self.unplaced_arcs] = 0
        solver = max_flow.SimpleMaxFlow()
        solver.add_arcs_with_capacity(self.tails, self.heads, caps)
        status = solver.solve(self.source, self.sink)
        if status != max_flow.SimpleMaxFlow.OPTIMAL:
            raise RuntimeError(f"fair access max flow failed (status {status}): a bug")
        return int(solver.optimal_flow())

    def least_highest_load(self, most: int, candidates: Sequence[int]) -> int:
        """The least of the sorted ``candidates`` as highest load that still places ``most``.

        The optimum is one of them: the load some school reaches with some number of children.
        """
        if most == 0 or not candidates:
            return 0
        lo, hi = 0, len(candidates) - 1  # the largest lets every school take all it could
        while lo < hi:
            mid = (lo + hi) // 2
            if self.most_placed(candidates[mid]) >= most:
                hi = mid
            else:
                lo = mid + 1
        return candidates[hi]

    def best(self, highest: int) -> tuple[list[int], PlanLevels]:
        """The lexicographically best plan with no receiving school above ``highest`` units,
        and its ``_plan_levels`` (the highest load given is the one that bounds it)."""
        n = len(self.p.children)
        if n == 0:
            return [], (0, highest, 0, 0, 0)
        supplies = np.zeros(self.n_nodes, np.int64)
        supplies[self.source], supplies[self.sink] = n, -n
        network = FlowNetwork(
            self.n_nodes, self.tails, self.heads, self._capacities(highest), supplies
        )
        solution = solve_lexicographic(network, self.levels)
        plan = np.nonzero(solution.flows[: len(self.p.arc_child)] > 0)[0].tolist()
        unplaced, unmet, ranks, tenths = solution.level_objectives
        return plan, (n - unplaced, highest, self.with_preferences - unmet, ranks, tenths)


def _solve(
    p: _Problem, hint: list[int], config: FairAccessConfig, *, use_flows: bool = True
) -> tuple[list[int], tuple[LevelReport, ...]]:
    """The five levels in CP-SAT, in turn, each fixed at its optimum before the next.

    Load is order-encoded: ``at_least[v]`` holds when the highest load is v units or more; a
    school may take its n-th child only when ``at_least[units(school, n)]`` holds; the highest
    load is the sum of the steps between the thresholds that hold. Every constraint is then
    linear, with no "only if the school takes a child" indicators, so side constraints a flow
    cannot express (as in ``matcher.side_constraints``) can be added here later.

    Each level's bound, proven by ``_Flows``, is added to the model, and the flows' optimal plan
    is the hint (with ``hint``, the round robin's plan, as a floor on quality). A hint guides
    CP-SAT but does not bind it, so the better plan is kept whatever CP-SAT returns in time.
    ``use_flows=False`` leaves the flows out, so that tests can check the model on its own.
    """
    model = cp_model.CpModel()
    n_arcs = len(p.arc_child)
    x = [model.new_bool_var(f"x{a}") for a in range(n_arcs)]
    by_school: dict[int, list[int]] = defaultdict(list)
    by_school_year: dict[tuple[int, int], list[int]] = defaultdict(list)
    for a, (i, j) in enumerate(zip(p.arc_child, p.arc_school, strict=True)):
        by_school[j].append(a)
        by_school_year[(j, p.children[i].nc_year)].append(a)
    for options in p.arcs_of_child():
        if len(options) > 1:
            model.add_at_most_one(x[a] for a in options)
    for school_year, options in by_school_year.items():
        cap = p.year_cap.get(school_year)
        if cap is not None and len(options) > cap:
            model.add(cp_model.LinearExpr.sum([x[a] for a in options]) <= cap)

    # The n-th child at school j needs the highest load to reach units(j, n); only as many
    # children as could ever go there (eligible ones, within the cap) need a threshold. A
    # school's cap is the count of its thresholds, so it needs no constraint of its own.
    thresholds = {
        j: [p.units(j, n) for n in range(1, min(p.limit(j), len(options)) + 1)]
        for j, options in by_school.items()
    }
    loads = sorted({v for steps in thresholds.values() for v in steps})
    at_least = {v: model.new_bool_var(f"load_at_least_{v}") for v in loads}
    for lower, upper in itertools.pairwise(loads):
        model.add_implication(at_least[upper], at_least[lower])
    for j, options in by_school.items():
        new = cp_model.LinearExpr.sum([x[a] for a in options])
        model.add(new <= cp_model.LinearExpr.sum([at_least[v] for v in thresholds[j]]))
    steps = [v - lower for lower, v in zip([0, *loads], loads, strict=False)]
    expressions = {
        "placed": cp_model.LinearExpr.sum(x),
        "highest_load": cp_model.LinearExpr.weighted_sum([at_least[v] for v in loads], steps),
        "preference_met": cp_model.LinearExpr.weighted_sum(x, [int(r > 0) for r in p.arc_rank]),
        "preference_rank": cp_model.LinearExpr.weighted_sum(x, [max(r - 1, 0) for r in p.arc_rank]),
        "travel": cp_model.LinearExpr.weighted_sum(x, [_tenths(m) for m in p.arc_minutes]),
    }
    maximised = {"placed", "preference_met"}
    # What a maximised level cannot exceed whatever the plan: the children who could reach it.
    ceiling = {
        "placed": len(p.children),
        "preference_met": len({p.arc_child[a] for a in range(n_arcs) if p.arc_rank[a]}),
    }
    titles = level_titles(p.scale)

    proven: list[int | None] = [None] * len(FAIR_ACCESS_LEVELS)
    plans = [[a for a in hint if a >= 0]]
    if use_flows:
        flows = _Flows(p)
        most = flows.most_placed()
        flow_plan, flow_levels = flows.best(flows.least_highest_load(most, loads))
        proven = list(flow_levels)
        plans.append(flow_plan)

    def rank(plan: list[int]) -> tuple[int, ...]:
        values = zip(FAIR_ACCESS_LEVELS, _plan_levels(p, plan), strict=True)
        return tuple(-v if key in maximised else v for key, v in values)

    best_plan = min(plans, key=rank)
    reports: list[LevelReport] = []
    deadline = time.monotonic() + config.time_limit_seconds
    for index, key in enumerate(FAIR_ACCESS_LEVELS):
        expr, maximise, bound_proven = expressions[key], key in maximised, proven[index]
        if bound_proven is not None:
            model.add(expr <= bound_proven if maximise else expr >= bound_proven)
        model.clear_hints()
        chosen_arcs = set(best_plan)
        for a in range(n_arcs):
            model.add_hint(x[a], a in chosen_arcs)
        hint_highest = _plan_levels(p, best_plan)[1]
        for v in loads:
            model.add_hint(at_least[v], v <= hint_highest)
        if maximise:
            model.maximize(expr)
        else:
            model.minimize(expr)
        solver = cp_model.CpSolver()
        remaining = max(deadline - time.monotonic(), 0.01)
        solver.parameters.max_time_in_seconds = remaining / (len(FAIR_ACCESS_LEVELS) - index)
        solver.parameters.num_workers = config.workers
        # With a proven bound the hint meets it, and presolve would only cost time (6 s of a
        # 200 × 300 round, against 0.1 s to check the hint and stop).
        solver.parameters.cp_model_presolve = bound_proven is None
        status = solver.solve(model, _StopAtBound(bound_proven, maximise))
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            found = [a for a in range(n_arcs) if solver.value(x[a])]
            if rank(found) <= rank(best_plan):
                best_plan = found
        elif status != cp_model.UNKNOWN:
            raise RuntimeError(f"fair access model is {solver.status_name(status)}: a bug")
        # UNKNOWN (out of time before any solution): the best plan so far meets every level
        # fixed before this one, so it is kept.
        objective = _plan_levels(p, best_plan)[index]
        trivial = ceiling[key] if maximise else 0
        bound = _bound(solver, status, maximise, objective, bound_proven, trivial)
        reports.append(LevelReport(key, titles[key], solver.status_name(status), objective, bound))
        model.add(expr >= objective if maximise else expr <= objective)
    chosen = [-1] * len(p.children)
    for a in best_plan:
        chosen[p.arc_child[a]] = a
    return chosen, tuple(reports)


class _StopAtBound(cp_model.CpSolverSolutionCallback):
    """Stops the search at the first plan that meets the flows' proven bound: it is optimal,
    and CP-SAT would otherwise spend the time limit failing to prove what is already known."""

    def __init__(self, bound: int | None, maximise: bool) -> None:
        super().__init__()
        self.bound, self.maximise = bound, maximise

    def on_solution_callback(self) -> None:
        if self.bound is None:
            return
        value = round(self.objective_value)
        if (value >= self.bound) if self.maximise else (value <= self.bound):
            self.stop_search()


def _bound(
    solver: cp_model.CpSolver,
    status: cp_model.CpSolverStatus,
    maximise: bool,
    objective: int,
    proven: int | None,
    trivial: int,
) -> int:
    """The tightest proven bound: CP-SAT's (when it has one), the flows', else ``trivial``."""
    bounds = [] if proven is None else [proven]
    bound = solver.best_objective_bound
    if status != cp_model.UNKNOWN and math.isfinite(bound):
        bounds.append(math.floor(bound + 1e-9) if maximise else math.ceil(bound - 1e-9))
    if maximise:
        return max(min(bounds, default=trivial), objective)
    return min(max(bounds, default=trivial), objective)


def allocate_fair_access(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    history: Mapping[str, int] | None = None,
    config: FairAccessConfig | None = None,
) -> FairAccessResult:
    """Propose a mainstream school for each child: most placed, then fairest, then the
    parents' preferences (as many families as possible, then the best ranks), then nearest.

    ``history`` maps URN → fair access placements in the last 12 months (``load_fap_history``);
    a school it does not name had none. Non-mainstream settings are ignored (and noted). The
    round robin's plan is among the CP-SAT hints and the better plan is always kept, so the
    answer is never worse than the rota, even when the time limit cuts the search short.
    """
    config = config or FairAccessConfig()
    p = _prepare(children, settings, travel, history or {}, config)
    chosen, levels = _solve(p, _round_robin(p), config)
    return _explain(p, chosen, levels, "cp-sat")


# --------------------------------------------------------------------------------------------
# Explaining a plan


def _explain(
    p: _Problem, chosen: Sequence[int], levels: tuple[LevelReport, ...], method: Method
) -> FairAccessResult:
    """One row per child and per school, in the words and figures a panel works with."""
    words = _Words(p, chosen, method)
    allocations = tuple(words.allocation(i) for i in range(len(p.children)))
    new = words.new
    schools = tuple(
        SchoolLoad(
            urn=s.urn,
            name=s.name,
            size=p.size[j],
            history=p.history[j],
            cap=p.cap[j],
            new=new[j],
            load_before=p.per_mille(j, 0) if p.size[j] else None,
            load_after=p.per_mille(j, new[j]) if p.size[j] else None,
            load_after_units=p.units(j, new[j]) if p.size[j] else None,
        )
        for j, s in enumerate(p.schools)
    )
    sized = [s for s in schools if s.load_after is not None]
    placed = sum(1 for a in chosen if a >= 0)
    ranks = [a.preference_rank for a in allocations if a.preference_rank is not None]
    return FairAccessResult(
        method=method,
        allocations=allocations,
        schools=schools,
        levels=levels,
        placed=placed,
        unplaced=len(p.children) - placed,
        with_preferences=sum(1 for c in p.children if c.preferences),
        any_preference_met=len(ranks),
        first_preference_met=ranks.count(1),
        max_load=max((s.load_after or 0.0 for s in sized), default=0.0),
        max_load_units=max((s.load_after_units or 0 for s in sized), default=0),
        max_receiving_load_units=words.highest_units,
        total_minutes=float(sum(p.arc_minutes[a] for a in chosen if a >= 0)),
        load_scale=p.scale,
        travel_model=p.travel_model,
        notes=tuple(p.notes),
    )


class _Words:
    """A plan's outcome for each child in words: rooms left, loads, and the preferences met."""

    def __init__(self, p: _Problem, chosen: Sequence[int], method: Method) -> None:
        self.p, self.chosen, self.method = p, chosen, method
        self.new = [0] * len(p.schools)
        self.new_year: Counter[tuple[int, int]] = Counter()
        for i, a in enumerate(chosen):
            if a >= 0:
                self.new[p.arc_school[a]] += 1
                self.new_year[(p.arc_school[a], p.children[i].nc_year)] += 1
        receiving = [j for j, count in enumerate(self.new) if count]
        self.highest_units = max((p.units(j, self.new[j]) for j in receiving), default=0)
        self.highest = max((p.per_mille(j, self.new[j]) for j in receiving), default=0.0)
        self.by_child = p.arcs_of_child()

    def room(self, j: int, year: int) -> int | None:
        cap = self.p.cap[j]
        left = None if cap is None else cap - self.new[j]
        if (j, year) in self.p.year_cap:
            in_year = self.p.year_cap[(j, year)] - self.new_year[(j, year)]
            left = in_year if left is None else min(left, in_year)
        return None if left is None else max(left, 0)

    def note(self, option: int, own: int) -> str:
        """Why the child is not proposed for ``option`` (an arc) but for ``own`` (-1: none)."""
        p = self.p
        j, rank = p.arc_school[option], p.arc_rank[option]
        if self.room(j, p.children[p.arc_child[option]].nc_year) == 0:
            return "full in this round"
        if p.units(j, self.new[j] + 1) > self.highest_units:
            return (
                f"would raise its load to {p.per_mille(j, self.new[j] + 1):.1f}‰, above the "
                f"highest load of any school taking a child in this round ({self.highest:.1f}‰)"
            )
        if self.method == "round-robin":
            return "has room, but another school had the turn on the rota"
        within = "has room within the round's highest load"
        own_rank = p.arc_rank[own] if own >= 0 else 0
        if own < 0 or _preferred(rank, own_rank):
            return f"{within} (the plan is not proven optimal)"
        if _preferred(own_rank, rank):
            if not rank:
                return f"{within}, but is not one of the parents' preferences"
            return (
                f"{within}, but is the parents' {_ordinal(rank)} preference, after their "
                f"{_ordinal(own_rank)}"
            )
        if p.arc_minutes[option] < p.arc_minutes[own]:
            return f"{within} (the plan is not proven optimal)"
        return f"{within}, but is no nearer"

    def allocation(self, i: int) -> ChildAllocation:
        p, child, a = self.p, self.p.children[i], self.chosen[i]
        options = self.by_child[i]
        alternatives = tuple(
            sorted(
                (self.option(b, a) for b in options if b != a),
                key=lambda o: (o.load_after, o.minutes, o.urn),
            )
        )
        excluded = tuple(p.excluded[i])
        if a < 0:
            return ChildAllocation(
                child_id=child.child_id,
                school_urn=None,
                school_name=None,
                minutes=None,
                preference_rank=None,
                load_before=None,
                load_after=None,
                reason=_unplaced_reason(len(options), excluded, p.beyond_reach[i]),
                alternatives=alternatives,
                excluded=excluded,
                schools_beyond_reach=p.beyond_reach[i],
            )
        j = p.arc_school[a]
        before, after = p.per_mille(j, self.new[j] - 1), p.per_mille(j, self.new[j])
        rise = f"its load rises from {before:.1f}‰ to {after:.1f}‰ of its size"
        return ChildAllocation(
            child_id=child.child_id,
            school_urn=p.schools[j].urn,
            school_name=p.schools[j].name,
            minutes=p.arc_minutes[a],
            preference_rank=p.arc_rank[a] or None,
            load_before=before,
            load_after=after,
            reason=f"{self.placed_reason(i, alternatives)}; {rise}",
            alternatives=alternatives,
            excluded=excluded,
            schools_beyond_reach=p.beyond_reach[i],
        )

    def option(self, b: int, own: int) -> SchoolOption:
        p, j = self.p, self.p.arc_school[b]
        return SchoolOption(
            p.schools[j].urn,
            p.schools[j].name,
            p.arc_minutes[b],
            p.per_mille(j, self.new[j]),
            p.per_mille(j, self.new[j] + 1),
            self.room(j, p.children[p.arc_child[b]].nc_year),
            self.note(b, own),
        )

    def placed_reason(self, i: int, alternatives: Sequence[SchoolOption]) -> str:
        p, child, a = self.p, self.p.children[i], self.chosen[i]
        rank = p.arc_rank[a]
        if self.method == "round-robin":
            turn = "next school in turn on the rota that is eligible with room"
            if rank:
                return f"{turn}, and the parents' {_ordinal(rank)} preference"
            if child.preferences:
                return f"{turn}; the rota does not look at preferences, and none is met"
            return turn
        unmet = self.unmet_preferences(i, rank, alternatives)
        if rank:
            return "; ".join([f"the parents' {_ordinal(rank)} preference", *unmet])
        nearer = [o for o in alternatives if o.minutes < p.arc_minutes[a]]
        nearest = "nearest eligible school"
        if nearer:
            near = min(nearer, key=lambda o: (o.minutes, o.urn))
            nearest += f", {near.name} ({near.urn}, {near.minutes:.0f} min), not proposed: "
            nearest += near.note
        if not child.preferences:
            return nearest
        return "; ".join(["no parental preference met", *unmet, nearest])

    def unmet_preferences(
        self, i: int, rank: int, alternatives: Sequence[SchoolOption]
    ) -> list[str]:
        """For each preference ranked above ``rank`` (0: every one), why it was not met."""
        child = self.p.children[i]
        eligible = {o.urn: o.note for o in alternatives}
        excluded = {e.urn: e.reasons for e in self.p.excluded[i]}
        grounds = []
        for r, urn in enumerate(child.preferences[: rank - 1 if rank else None], start=1):
            if urn in eligible:
                why = eligible[urn]
            elif urn in excluded:
                why = "not eligible: " + "; ".join(excluded[urn])
            else:  # every preference at a mainstream school is an option or excluded
                why = NOT_MAINSTREAM_TEXT if urn in self.p.setting_names else UNKNOWN_SCHOOL_TEXT
            name = self.p.setting_names.get(urn)
            school = f"{name} ({urn})" if name else f"URN {urn}"
            grounds.append(f"{_ordinal(r)} preference, {school}, not proposed: {why}")
        return grounds


def _preferred(rank: int, other: int) -> bool:
    """Whether a school of preference ``rank`` is one the parents put before ``other`` (0 is
    not a preference: any preference comes before it)."""
    return rank > 0 and (other == 0 or rank < other)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _unplaced_reason(eligible: int, excluded: Sequence[ExcludedSchool], beyond: int) -> str:
    if eligible:
        return f"no room: all {eligible} eligible school(s) are full in this round"
    if not excluded:
        return "no mainstream school within the travel-time cutoff of home"
    counts = Counter(reason for e in excluded for reason in e.reasons)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    detail = "; ".join(f"{text} ({count})" for text, count in ranked)
    more = f", and {beyond} more beyond the travel-time cutoff" if beyond else ""
    return f"no eligible school: of {len(excluded)} school(s) considered{more}, {detail}"
