"""Fair access mode (matcher.fair_access): caps, eligibility, min-max load, parents'
preferences, and the rota baseline.

The optimality checks compare against a brute force written here from the definition (most
children placed, then the lowest highest load of a receiving school, then most children with a
parental preference met, then least preference ranks, then least travel), not against the
module's own arithmetic.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from matcher import fair_access
from matcher.eligibility import EligibilityConfig, build_arcs
from matcher.fair_access import (
    CURRENT_SETTING_TEXT,
    FairAccessConfig,
    FairAccessResult,
    allocate_fair_access,
    load_fap_history,
    round_robin_allocation,
)
from matcher.io import InputError, InputProblem
from matcher.models import Child, PlacementKind, PrimaryNeed, Setting
from matcher.travel import TravelTimeMatrix
from tests.factories import child, matrix, setting

DATA = Path(__file__).parent / "data" / "fair_access"

Instance = tuple[list[Child], list[Setting], TravelTimeMatrix, dict[str, int], FairAccessConfig]


# --------------------------------------------------------------------------------------------
# Random instances


@st.composite
def fair_access_instances(
    draw: st.DrawFn, max_children: int = 6, max_schools: int = 4, caps: bool = True
) -> Instance:
    """Small mainstream rounds: sizes, on-roll, history, year places and caps all vary."""
    n_schools = draw(st.integers(1, max_schools))
    schools = []
    history = {}
    for j in range(n_schools):
        # Divisors of 1000 make loads land exactly on a per-mille: the floor's edge case.
        size = draw(st.one_of(st.sampled_from([1, 2, 4, 5, 8, 10, 20, 25, 40]), st.integers(1, 40)))
        kw: dict[str, Any] = {
            "low_age": draw(st.sampled_from([4, 11])),
            "high_age": 19,
            "total_places": size,
            "on_roll": draw(st.integers(max(size - 4, 0), size)),
        }
        if draw(st.booleans()):
            kw["year_places"] = {7: draw(st.integers(0, 3))}
        if draw(st.integers(0, 5)) == 0:
            kw["setting_type"] = "special"
        urn = str(300000 + j)
        schools.append(setting(urn, **kw))
        history[urn] = draw(st.integers(0, 8))
    n_children = draw(st.integers(1, max_children))
    children = []
    # Preferences may name any school, a special one (not offered) or an unknown URN.
    named = st.lists(
        st.sampled_from([*(s.urn for s in schools), "999999"]), unique=True, max_size=3
    )
    for i in range(n_children):
        kw = {"nc_year": draw(st.sampled_from([5, 7, 7, 9]))}
        if draw(st.integers(0, 2)):
            kw["preferences"] = tuple(draw(named))
        if draw(st.integers(0, 6)) == 0:
            kw["suitable_kinds"] = frozenset({PlacementKind.SPECIAL})
        if draw(st.integers(0, 6)) == 0:
            kw["current_setting"] = draw(st.sampled_from([s.urn for s in schools]))
        children.append(child(f"K{i}", **kw))
    minutes = np.array(
        draw(
            st.lists(
                st.one_of(st.integers(1, 90).map(float), st.just(float("nan"))),
                min_size=n_children * n_schools,
                max_size=n_children * n_schools,
            )
        )
    ).reshape(n_children, n_schools)
    config_kw: dict[str, Any] = {}
    if caps and draw(st.booleans()):
        config_kw["max_per_school"] = draw(st.integers(0, 3))
    if caps and draw(st.booleans()):
        config_kw["school_caps"] = {schools[0].urn: draw(st.integers(0, 2))}
    if draw(st.integers(0, 3)) == 0:
        config_kw["cap_at_places_left"] = False
    config = FairAccessConfig(time_limit_seconds=20, **config_kw)
    return children, schools, matrix(children, schools, minutes), history, config


def _eligible(
    children: list[Child], schools: list[Setting], travel: TravelTimeMatrix, config: Any
) -> dict[int, dict[str, float]]:
    """child index → URN → minutes, from eligibility over mainstream general places only."""
    pool = [s.model_copy(update={"provisions": ()}) for s in schools]
    pool = [s for s in pool if s.placement_kind is PlacementKind.MAINSTREAM]
    arcs = build_arcs(children, pool, travel, config.eligibility)
    out: dict[int, dict[str, float]] = {i: {} for i in range(len(children))}
    for i, j, m in zip(
        arcs.child.tolist(), arcs.setting.tolist(), arcs.minutes.tolist(), strict=True
    ):
        if children[i].current_setting != pool[j].urn and pool[j].total_places > 0:
            out[i][pool[j].urn] = m
    return out


def _caps(schools: list[Setting], config: FairAccessConfig, n: int) -> dict[str, int]:
    caps = {}
    for s in schools:
        limits = [n]
        if config.cap_at_places_left:
            limits.append(s.places_left)
        if config.max_per_school is not None:
            limits.append(config.max_per_school)
        if s.urn in config.school_caps:
            limits.append(config.school_caps[s.urn])
        caps[s.urn] = min(limits)
    return caps


def _units(history: int, new: int, size: int, scale: int = 1000) -> int:
    return (history + new) * scale // size


class Optimum(NamedTuple):
    """The brute force's best plan, level by level, and the highest load over every school."""

    placed: int
    receiving: int  # highest load of a school taking a child, in units
    met: int  # children with a parental preference met
    ranks: int  # a k-th preference counts k - 1
    tenths: int  # total travel in tenths of a minute
    overall: int

    @property
    def levels(self) -> list[int]:
        return [self.placed, self.receiving, self.met, self.ranks, self.tenths]

    def key(self) -> tuple[int, ...]:
        """Smaller is better: placed and met are maximised, the rest minimised."""
        return (-self.placed, self.receiving, -self.met, self.ranks, self.tenths)


def _brute_force(instance: Instance) -> Optimum:
    """Every plan within the caps, judged level by level from the definition."""
    children, schools, travel, history, config = instance
    eligible = _eligible(children, schools, travel, config)
    caps = _caps(schools, config, len(children))
    by_urn = {s.urn: s for s in schools}
    mainstream = [s for s in schools if s.placement_kind is PlacementKind.MAINSTREAM]
    choices = [[None, *sorted(eligible[i])] for i in range(len(children))]
    best: Optimum | None = None
    for plan in itertools.product(*choices):
        new = Counter(u for u in plan if u is not None)
        if any(new[u] > caps[u] for u in new):
            continue
        if config.cap_at_places_left:
            by_year = Counter((u, children[i].nc_year) for i, u in enumerate(plan) if u)
            left = {(u, y): by_urn[u].year_places_left(y) for (u, y) in by_year}
            if any(v is not None and by_year[k] > v for k, v in left.items()):
                continue
        receiving = max(
            (_units(history[u], n, by_urn[u].total_places) for u, n in new.items()), default=0
        )
        overall = max(
            (_units(history[s.urn], new[s.urn], s.total_places) for s in mainstream), default=0
        )
        tenths = sum(round(eligible[i][u] * 10) for i, u in enumerate(plan) if u)
        ranks = [
            children[i].preferences.index(u) + 1
            for i, u in enumerate(plan)
            if u in children[i].preferences
        ]
        found = Optimum(
            sum(1 for u in plan if u),
            receiving,
            len(ranks),
            sum(ranks) - len(ranks),
            tenths,
            overall,
        )
        if best is None or found.key() < best.key():
            best = found
    assert best is not None
    return best


def _check_plan(instance: Instance, result: FairAccessResult) -> None:
    """Caps never exceeded; every allocation eligible and within the child's journey limit."""
    children, schools, travel, _history, config = instance
    caps = _caps(schools, config, len(children))
    eligible = _eligible(children, schools, travel, config)
    by_urn = {s.urn: s for s in schools}
    new = Counter(a.school_urn for a in result.allocations if a.school_urn)
    for urn, count in new.items():
        assert count <= caps[urn]
        if config.cap_at_places_left:
            assert count <= by_urn[urn].places_left
        if config.max_per_school is not None:
            assert count <= config.max_per_school
        if urn in config.school_caps:
            assert count <= config.school_caps[urn]
    if config.cap_at_places_left:
        by_year = Counter(
            (a.school_urn, c.nc_year)
            for a, c in zip(result.allocations, children, strict=True)
            if a.school_urn
        )
        for (urn, year), count in by_year.items():
            left = by_urn[urn].year_places_left(year)
            assert left is None or count <= left
    for i, (a, c) in enumerate(zip(result.allocations, children, strict=True)):
        assert a.child_id == c.child_id
        if a.school_urn is None:
            continue
        assert by_urn[a.school_urn].placement_kind is PlacementKind.MAINSTREAM
        assert a.school_urn in eligible[i]
        assert a.minutes is not None
        assert a.minutes <= config.eligibility.limit_for(c.nc_year)
        assert a.school_urn != c.current_setting
    table = {s.urn: s for s in result.schools}
    assert sum(s.new for s in result.schools) == result.placed
    for urn, count in new.items():
        assert table[urn].new == count


# --------------------------------------------------------------------------------------------
# Properties on random instances


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fair_access_instances())
def test_never_exceeds_a_cap_and_every_allocation_is_eligible(instance: Instance) -> None:
    children, schools, travel, history, config = instance
    for result in (
        allocate_fair_access(children, schools, travel, history, config),
        round_robin_allocation(children, schools, travel, history, config),
    ):
        _check_plan(instance, result)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fair_access_instances())
def test_cp_sat_is_never_worse_than_round_robin(instance: Instance) -> None:
    """Lexicographically: at least as many placed, and if no more, max load no higher."""
    children, schools, travel, history, config = instance
    cp = allocate_fair_access(children, schools, travel, history, config)
    rr = round_robin_allocation(children, schools, travel, history, config)
    assert cp.placed >= rr.placed
    if cp.placed == rr.placed:
        assert cp.max_load_units <= rr.max_load_units
        assert cp.max_receiving_load_units <= rr.max_receiving_load_units
        if cp.max_receiving_load_units == rr.max_receiving_load_units:
            assert cp.any_preference_met >= rr.any_preference_met


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fair_access_instances(max_children=5, max_schools=3))
def test_cp_sat_matches_brute_force_on_tiny_instances(instance: Instance) -> None:
    children, schools, travel, history, config = instance
    result = allocate_fair_access(children, schools, travel, history, config)
    best = _brute_force(instance)
    assert result.status == "OPTIMAL"
    assert result.placed == best.placed
    assert result.max_receiving_load_units == best.receiving
    assert result.any_preference_met == best.met
    assert [level.key for level in result.levels] == list(fair_access.FAIR_ACCESS_LEVELS)
    assert [level.objective for level in result.levels] == best.levels
    assert all(level.gap == 0.0 for level in result.levels)
    met = [a.preference_rank for a in result.allocations if a.preference_rank is not None]
    assert sum(met) - len(met) == best.ranks
    # The highest load over every school is then minimal too: max(receiving, history alone).
    history_only = max(
        (
            _units(history[s.urn], 0, s.total_places)
            for s in schools
            if s.setting_type == "mainstream"
        ),
        default=0,
    )
    assert result.max_load_units == max(best.receiving, history_only)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fair_access_instances(max_children=5, max_schools=3))
def test_the_cp_sat_model_alone_reaches_the_brute_force_optimum(instance: Instance) -> None:
    """Without the flows' bounds and plan, and with no hint: the model itself is right, so side
    constraints can be added to it."""
    children, schools, travel, history, config = instance
    problem = fair_access._prepare(children, schools, travel, history, config)
    chosen, levels = fair_access._solve(problem, [-1] * len(children), config, use_flows=False)
    best = _brute_force(instance)
    assert [level.objective for level in levels] == best.levels
    assert all(level.status == "OPTIMAL" and level.proven_optimal for level in levels)
    assert list(fair_access._plan_levels(problem, chosen)) == best.levels


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fair_access_instances(max_children=5, max_schools=3))
def test_the_flows_alone_reach_the_brute_force_optimum(instance: Instance) -> None:
    """The max flow, bisection and lexicographic min-cost flow that bound the CP-SAT levels
    are exact."""
    children, schools, travel, history, config = instance
    problem = fair_access._prepare(children, schools, travel, history, config)
    flows = fair_access._Flows(problem)
    most = flows.most_placed()
    # Any superset of the loads a school can reach will do; the module uses only reachable ones.
    candidates = sorted(
        {
            problem.units(j, n)
            for j in range(len(problem.schools))
            if problem.size[j] > 0
            for n in range(1, len(children) + 1)
        }
    )
    least = flows.least_highest_load(most, candidates)
    plan, levels = flows.best(least)
    best = _brute_force(instance)
    assert (most, least) == (best.placed, best.receiving)
    assert list(levels) == best.levels
    assert fair_access._plan_levels(problem, plan) == levels


def test_cp_sat_strictly_beats_round_robin_on_seeded_random_instances() -> None:
    """The rota ignores history and size, so on most loaded rounds it is strictly worse."""
    rng = np.random.default_rng(20260901)
    wins = ties = 0
    for _ in range(20):
        m, n = 5, 12
        schools = [
            setting(str(400000 + j), total_places=int(rng.integers(300, 1500)), on_roll=0)
            for j in range(m)
        ]
        history = {s.urn: int(rng.integers(0, 12)) for s in schools}
        kids = [child(f"R{i}") for i in range(n)]
        travel = matrix(kids, schools, rng.uniform(5, 70, size=(n, m)))
        cp = allocate_fair_access(kids, schools, travel, history)
        rr = round_robin_allocation(kids, schools, travel, history)
        assert cp.placed == rr.placed == n
        assert cp.max_load_units <= rr.max_load_units
        wins += cp.max_load_units < rr.max_load_units
        ties += cp.max_load_units == rr.max_load_units
    assert wins == 20, (wins, ties)


# --------------------------------------------------------------------------------------------
# Hand instances


def test_history_makes_a_nearer_school_lose_to_a_less_loaded_one() -> None:
    kids = [child("a")]
    near = setting("1", name="Near High", total_places=100, on_roll=90)
    far = setting("2", name="Far Academy", total_places=100, on_roll=90)
    travel = matrix(kids, [near, far], np.array([[10.0, 40.0]]))

    fresh = allocate_fair_access(kids, [near, far], travel, {})
    assert fresh.proposed == {"a": "1"}
    assert fresh.allocations[0].reason.startswith("nearest eligible school;")

    history = {"1": 6, "2": 1}  # near has taken 60‰ of its size already, far 10‰
    out = allocate_fair_access(kids, [near, far], travel, history)
    assert out.proposed == {"a": "2"}
    row = out.allocations[0]
    assert (row.load_before, row.load_after) == (10.0, 20.0)
    assert "Near High (1, 10 min), not proposed" in row.reason
    assert "above the highest load" in row.reason
    (alt,) = row.alternatives
    assert (alt.urn, alt.load_before, alt.load_after, alt.places_left) == ("1", 60.0, 70.0, 10)
    assert out.max_receiving_load_units == 20
    assert out.max_load_units == 60  # the near school's history alone: no plan can lower it
    assert [lvl.objective for lvl in out.levels] == [1, 20, 0, 0, 400]
    assert out.status == "OPTIMAL"
    table = {s.urn: s for s in out.schools}
    assert (table["1"].history, table["1"].new, table["1"].load_after) == (6, 0, 60.0)
    assert (table["2"].history, table["2"].new, table["2"].load_after) == (1, 1, 20.0)


def _two_schools(
    a_preferences: tuple[str, ...], b_preferences: tuple[str, ...]
) -> tuple[list[Child], list[Setting], TravelTimeMatrix]:
    """Children a and b, each 10 min from the school the other is 30 min from. Each school has
    100 places and no history, so the fairest plan puts one child at each (10‰ apiece)."""
    kids = [child("a", preferences=a_preferences), child("b", preferences=b_preferences)]
    schools = [
        setting("1", name="Oak High", total_places=100),
        setting("2", name="Elm Academy", total_places=100),
    ]
    return kids, schools, matrix(kids, schools, np.array([[30.0, 10.0], [10.0, 30.0]]))


def test_more_families_with_a_preference_met_beats_better_ranks_and_travel() -> None:
    """Both plans place 2 with the highest load 10‰. a→1, b→2 meets both families' preferences
    (b's 2nd: ranks 1, 60 min); a→2, b→1 meets only b's 1st (ranks 0, 20 min)."""
    kids, schools, travel = _two_schools(("1",), ("1", "2"))
    out = allocate_fair_access(kids, schools, travel, {})
    assert out.proposed == {"a": "1", "b": "2"}
    assert [lvl.objective for lvl in out.levels] == [2, 10, 2, 1, 600]
    assert out.status == "OPTIMAL"
    assert (out.with_preferences, out.any_preference_met, out.first_preference_met) == (2, 2, 1)
    a, b = out.allocations
    assert (a.preference_rank, b.preference_rank) == (1, 2)
    assert a.reason == "the parents' 1st preference; its load rises from 0.0‰ to 10.0‰ of its size"
    assert b.reason == (
        "the parents' 2nd preference; 1st preference, Oak High (1), not proposed: would raise "
        "its load to 20.0‰, above the highest load of any school taking a child in this round "
        "(10.0‰); its load rises from 0.0‰ to 10.0‰ of its size"
    )
    # The CP-SAT model alone, and the flows alone, find the same levels.
    problem = fair_access._prepare(kids, schools, travel, {}, FairAccessConfig())
    chosen, levels = fair_access._solve(problem, [-1, -1], FairAccessConfig(), use_flows=False)
    assert [lvl.objective for lvl in levels] == [2, 10, 2, 1, 600]
    assert [problem.arc_school[a] for a in chosen] == [0, 1]
    flows = fair_access._Flows(problem)
    assert flows.best(10)[1] == (2, 10, 2, 1, 600)


def test_with_as_many_families_met_better_ranks_beat_travel() -> None:
    """Both plans meet both families' preferences; a→1, b→2 gives each their 1st (ranks 0,
    60 min), a→2, b→1 each their 2nd (ranks 2, 20 min)."""
    kids, schools, travel = _two_schools(("1", "2"), ("2", "1"))
    out = allocate_fair_access(kids, schools, travel, {})
    assert out.proposed == {"a": "1", "b": "2"}
    assert [lvl.objective for lvl in out.levels] == [2, 10, 2, 0, 600]
    assert (out.any_preference_met, out.first_preference_met) == (2, 2)
    problem = fair_access._prepare(kids, schools, travel, {}, FairAccessConfig())
    chosen, levels = fair_access._solve(problem, [-1, -1], FairAccessConfig(), use_flows=False)
    assert [lvl.objective for lvl in levels] == [2, 10, 2, 0, 600]
    assert [problem.arc_school[a] for a in chosen] == [0, 1]
    assert fair_access._Flows(problem).best(10)[1] == (2, 10, 2, 0, 600)


def test_load_comes_before_a_preference() -> None:
    """The parents' only preference has taken many fair access children this year: the child
    goes to the less loaded school, and the reason says so."""
    kids = [child("a", preferences=("1",))]
    schools = [setting("1", name="Oak High"), setting("2", name="Elm Academy")]
    travel = matrix(kids, schools, [[5.0, 20.0]])
    out = allocate_fair_access(kids, schools, travel, {"1": 3, "2": 1})
    assert out.proposed == {"a": "2"} and out.any_preference_met == 0
    assert out.allocations[0].reason == (
        "no parental preference met; 1st preference, Oak High (1), not proposed: would raise its "
        "load to 400.0‰, above the highest load of any school taking a child in this round "
        "(200.0‰); nearest eligible school, Oak High (1, 5 min), not proposed: would raise its "
        "load to 400.0‰, above the highest load of any school taking a child in this round "
        "(200.0‰); its load rises from 100.0‰ to 200.0‰ of its size"
    )


def test_every_unmet_preference_is_explained() -> None:
    schools = [
        setting("1", name="Oak High"),
        setting("2", name="Elm Academy"),
        setting("3", name="Ash Special", setting_type="special", designated_needs={"ASD"}),
    ]
    # Oak is over the secondary journey limit (75 min); 999999 is no school given.
    kids = [child("p", preferences=("3", "999999", "1"))]
    out = allocate_fair_access(kids, schools, matrix(kids, schools, [[90.0, 20.0, 5.0]]), {})
    assert out.proposed == {"p": "2"}
    assert out.allocations[0].preference_rank is None
    assert out.allocations[0].reason == (
        "no parental preference met; "
        "1st preference, Ash Special (3), not proposed: not a mainstream school: fair access "
        "offers mainstream places only; "
        "2nd preference, URN 999999, not proposed: not a known school; "
        "3rd preference, Oak High (1), not proposed: not eligible: journey over the travel-time "
        "limit for the child's phase; "
        "nearest eligible school; its load rises from 0.0‰ to 100.0‰ of its size"
    )
    # A school with room within the load that is a later preference, or none, says so.
    kids = [child("q", preferences=("1", "2")), child("r", preferences=("1",))]
    travel = matrix(kids, schools, [[30.0, 5.0, 5.0], [30.0, 5.0, 5.0]])
    out = allocate_fair_access(kids[:1], schools, travel, {})
    assert out.proposed == {"q": "1"}
    assert [o.note for o in out.allocations[0].alternatives] == [
        "has room within the round's highest load, but is the parents' 2nd preference, after "
        "their 1st"
    ]
    out = allocate_fair_access(kids[1:], schools, travel, {})
    assert out.proposed == {"r": "1"}
    assert [o.note for o in out.allocations[0].alternatives] == [
        "has room within the round's highest load, but is not one of the parents' preferences"
    ]


def test_round_robin_ignores_preferences_but_reports_them() -> None:
    kids, schools, travel = _two_schools(("2",), ("2",))
    rr = round_robin_allocation(kids, schools, travel, {})
    assert rr.proposed == {"a": "1", "b": "2"}
    assert (rr.with_preferences, rr.any_preference_met, rr.first_preference_met) == (2, 1, 1)
    assert [a.preference_rank for a in rr.allocations] == [None, 1]
    assert rr.allocations[0].reason.startswith(
        "next school in turn on the rota that is eligible with room; the rota does not look at "
        "preferences, and none is met; its load rises"
    )
    assert rr.allocations[1].reason.startswith(
        "next school in turn on the rota that is eligible with room, and the parents' 1st "
        "preference; its load rises"
    )


def test_size_matters_a_big_school_takes_more() -> None:
    kids = [child(f"k{i}") for i in range(6)]
    small = setting("1", total_places=200)
    big = setting("2", total_places=1000)
    travel = matrix(kids, [small, big], np.full((6, 2), 20.0))
    config = FairAccessConfig()
    out = allocate_fair_access(kids, [small, big], travel, {}, config)
    # 1 at the small school is 5‰; 5 at the big one is 5‰: the min-max.
    assert Counter(out.proposed.values()) == {"1": 1, "2": 5}
    assert out.max_receiving_load_units == 5
    # Loads land exactly on 5‰: the flows must not let a school reach it under a bound of 4.
    flows = fair_access._Flows(fair_access._prepare(kids, [small, big], travel, {}, config))
    allowed = [flows.allowed(j, v) for j, v in [(0, 4), (0, 5), (1, 4), (1, 5)]]
    assert allowed == [0, 1, 4, 5]
    assert flows.least_highest_load(6, [4, 5, 10]) == 5


def test_round_robin_takes_turns_and_overloads_a_busy_school() -> None:
    kids = [child(f"k{i}") for i in range(4)]
    schools = [setting("1", total_places=100), setting("2", total_places=100)]
    travel = matrix(kids, schools, np.full((4, 2), 15.0))
    history = {"1": 10, "2": 0}
    rr = round_robin_allocation(kids, schools, travel, history)
    assert [a.school_urn for a in rr.allocations] == ["1", "2", "1", "2"]
    assert rr.max_load_units == 120
    assert rr.status == "ROUND_ROBIN" and rr.levels == ()
    cp = allocate_fair_access(kids, schools, travel, history)
    assert Counter(cp.proposed.values()) == {"2": 4}
    assert cp.max_load_units == 100


def test_cap_is_the_smallest_of_places_left_max_per_school_and_school_caps() -> None:
    kids = [child(f"k{i}") for i in range(6)]
    schools = [
        setting("1", total_places=10, on_roll=8),  # 2 places left
        setting("2", total_places=10, on_roll=0),
        setting("3", total_places=10, on_roll=0, year_places={7: 5}, year_on_roll={7: 4}),
    ]
    travel = matrix(kids, schools, np.tile([[5.0, 30.0, 10.0]], (6, 1)))
    config = FairAccessConfig(max_per_school=3, school_caps={"2": 1})
    out = allocate_fair_access(kids, schools, travel, {}, config)
    assert [s.cap for s in out.schools] == [2, 1, 3]
    assert Counter(out.proposed.values()) == {"1": 2, "2": 1, "3": 1, None: 2}
    unplaced = [a for a in out.allocations if a.school_urn is None]
    assert all(
        a.reason == "no room: all 3 eligible school(s) are full in this round" for a in unplaced
    )
    assert all(o.note == "full in this round" for a in unplaced for o in a.alternatives)
    loose = FairAccessConfig(cap_at_places_left=False)
    assert allocate_fair_access(kids, schools, travel, {}, loose).placed == 6
    # The CP-SAT model on its own (no flows, no hint) keeps every cap too.
    problem = fair_access._prepare(kids, schools, travel, {}, config)
    chosen, _ = fair_access._solve(problem, [-1] * 6, config, use_flows=False)
    alone = Counter(schools[problem.arc_school[a]].urn for a in chosen if a >= 0)
    assert alone == {"1": 2, "2": 1, "3": 1}


def test_children_with_no_eligible_school_are_reported_with_reasons() -> None:
    wheelchair = child("w", requirements=frozenset({"wheelchair_access"}))
    infant = child("y1", nc_year=1)
    specialist = child("s", primary_need=PrimaryNeed.PMLD)
    far = child("far")
    leaving = child("leaving", current_setting="1")
    kids = [wheelchair, infant, specialist, far, leaving]
    schools = [setting("1"), setting("2", setting_type="special", designated_needs={"PMLD"})]
    minutes = np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0], [80.0, np.nan], [10.0, 5.0]])
    out = allocate_fair_access(kids, schools, matrix(kids, schools, minutes), {})
    assert out.placed == 0
    assert any("not mainstream" in n for n in out.notes)
    rows = {a.child_id: a for a in out.allocations}
    expected = {
        "w": "no wheelchair access",
        "y1": "outside the setting's age range",
        "s": "this kind of place is not suitable under the child's EHCP",
        "far": "journey over the travel-time limit for the child's phase",
        "leaving": CURRENT_SETTING_TEXT,
    }
    for child_id, text in expected.items():
        row = rows[child_id]
        assert row.school_urn is None and row.alternatives == ()
        assert row.reason.startswith("no eligible school: of 1 school(s) considered")
        assert text in row.reason
        (excluded,) = row.excluded
        assert excluded.urn == "1" and text in excluded.reasons
    assert rows["far"].excluded[0].minutes == 80.0


def test_no_travel_time_at_all_is_its_own_reason() -> None:
    kids = [child("x")]
    schools = [setting("1"), setting("2")]
    out = allocate_fair_access(kids, schools, matrix(kids, schools, [[np.nan, np.nan]]), {})
    row = out.allocations[0]
    assert row.reason == "no mainstream school within the travel-time cutoff of home"
    assert row.schools_beyond_reach == 2


def test_a_preference_beyond_the_limit_is_not_exempt_in_fair_access() -> None:
    kids = [child("p", preferences=("1",))]
    schools = [setting("1")]
    travel = matrix(kids, schools, [[90.0]])
    assert allocate_fair_access(kids, schools, travel, {}).placed == 0
    exempt = FairAccessConfig(eligibility=EligibilityConfig())
    assert allocate_fair_access(kids, schools, travel, {}, exempt).placed == 1


def test_resourced_provision_places_are_not_offered() -> None:
    kids = [child("r", suitable_kinds=frozenset({PlacementKind.RESOURCED_PROVISION}))]
    schools = [
        setting(
            "1",
            provisions=({"kind": "resourced_provision", "designated_needs": {"ASD"}, "places": 5},),
        )
    ]
    out = allocate_fair_access(kids, schools, matrix(kids, schools, [[5.0]]), {})
    assert out.placed == 0
    assert "not suitable under the child's EHCP" in out.allocations[0].reason


def test_unknown_history_and_cap_urns_are_noted_and_bad_values_refused() -> None:
    kids = [child("a")]
    schools = [setting("1")]
    travel = matrix(kids, schools, [[5.0]])
    out = allocate_fair_access(
        kids, schools, travel, {"9": 3}, FairAccessConfig(school_caps={"8": 1})
    )
    assert any("history names URN(s)" in n and "9" in n for n in out.notes)
    assert any("school_caps names URN(s)" in n and "8" in n for n in out.notes)
    with pytest.raises(ValueError, match="history must not be negative"):
        allocate_fair_access(kids, schools, travel, {"1": -1})
    with pytest.raises(ValueError, match="max_per_school"):
        FairAccessConfig(max_per_school=-1)
    with pytest.raises(ValueError, match="load_scale"):
        FairAccessConfig(load_scale=0)


def test_zero_size_school_is_excluded_with_a_reason() -> None:
    kids = [child("a")]
    schools = [setting("1", total_places=0), setting("2")]
    out = allocate_fair_access(kids, schools, matrix(kids, schools, [[5.0, 9.0]]), {})
    assert out.proposed == {"a": "2"}
    assert "total_places" in out.allocations[0].excluded[0].reasons[0]
    assert out.schools[0].load_after is None


def test_empty_round() -> None:
    schools = [setting("1")]
    out = allocate_fair_access([], schools, matrix([], schools, np.zeros((0, 1))), {"1": 2})
    assert out.placed == 0 and out.allocations == ()
    assert out.max_load_units == 200 and out.max_receiving_load_units == 0


# --------------------------------------------------------------------------------------------
# Loading the history


def test_history_loads_with_forgiving_headers() -> None:
    assert load_fap_history(DATA / "history.csv") == {"990003": 4, "990004": 0, "990009": 2}


def test_history_problems_name_file_row_and_field() -> None:
    with pytest.raises(InputError) as caught:
        load_fap_history(DATA / "history_bad.csv")
    found = {(p.file, p.row, p.field) for p in caught.value.problems}
    assert found == {
        ("history_bad.csv", 3, "placements_last_12_months"),
        ("history_bad.csv", 4, "placements_last_12_months"),
        ("history_bad.csv", 5, "urn"),
        ("history_bad.csv", 6, "urn"),
        ("history_bad.csv", 7, "placements_last_12_months"),
    }
    text = str(caught.value)
    assert "history_bad.csv, row 3, placements_last_12_months: 'many' is not a whole number" in text
    assert "row 4, placements_last_12_months: must be 0 or more (got -1)" in text
    assert "row 5, urn: duplicate urn '990003': also on row 2" in text
    assert "row 6, urn: required but blank" in text


def test_history_missing_or_misspelt_column(tmp_path: Path) -> None:
    path = tmp_path / "fap.csv"
    path.write_text("urn,placements_last_12_month\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_fap_history(path)
    problems = caught.value.problems
    assert InputProblem("fap.csv", None, "placements_last_12_months", problems[0].message) in (
        problems
    )
    assert any("did you mean 'placements_last_12_months'" in p.message for p in problems)


def test_history_reads_xlsx_and_rejects_an_empty_file(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["URN", "placements_last_12_months"])
    sheet.append([990001, 3.0])  # Excel's floats
    sheet.append([990002, None])
    path = tmp_path / "fap.xlsx"
    workbook.save(path)
    with pytest.raises(InputError) as caught:
        load_fap_history(path)
    assert [(p.file, p.row, p.field) for p in caught.value.problems] == [
        ("fap.xlsx", 3, "placements_last_12_months")
    ]
    sheet.delete_rows(3)
    workbook.save(path)
    assert load_fap_history(path) == {"990001": 3}
    empty = tmp_path / "empty.csv"
    empty.write_text("urn,placements_last_12_months\n", encoding="utf-8")
    with pytest.raises(InputError, match="no schools in it"):
        load_fap_history(empty)
