"""``sendmatch place`` times only the journeys that could be options: the same plan, the same words.

A round that only places children (no tailored lists) asks the travel model for the pairs that
pass every rule but the journey, each within its child's own journey limit, plus the named
settings (:func:`matcher.eligibility.option_screen`). These tests hold it to what the whole
matrix gives: the same options, the same placements, and the same reasons, including for a
child with no option at all, whose reason counts every setting excluded within reach.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.straight_line import straight_line_matrix
from matcher import io, pipeline
from matcher.eligibility import build_arcs, option_screen
from matcher.models import (
    Child,
    Location,
    PlacementKind,
    PrimaryNeed,
    Provision,
    ProvisionKind,
    Requirement,
    Setting,
    SettingType,
)
from matcher.placement import place
from matcher.travel_estimate import build_travel_matrix, named_pairs
from tests.factories import child, setting

NEEDS = [PrimaryNeed.ASD, PrimaryNeed.SEMH, PrimaryNeed.SLD, PrimaryNeed.SLCN]
TYPES = [SettingType.MAINSTREAM, SettingType.SPECIAL, SettingType.INDEPENDENT_SPECIAL]


def _place_near(draw: st.DrawFn) -> Location:
    """Within about 60 km of one another: journeys either side of 45 and 75 minutes."""
    return Location(latitude=draw(st.floats(52.0, 52.5)), longitude=draw(st.floats(-1.5, -0.7)))


@st.composite
def rounds(draw: st.DrawFn) -> tuple[list[Child], list[Setting]]:
    """Small rounds with every rule in play: ages, sex, kinds, needs, facilities, provisions."""
    settings_ = []
    for j in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(TYPES))
        low = draw(st.sampled_from([2, 4, 11]))
        kw: dict[str, Any] = {
            "setting_type": kind,
            "location": _place_near(draw),
            "low_age": low,
            "high_age": draw(st.sampled_from([11, 16, 19])) if low < 11 else 19,
            "sex_admitted": draw(st.sampled_from(["mixed", "mixed", "boys", "girls"])),
            "facilities": frozenset(draw(st.sets(st.sampled_from(list(Requirement))))),
            "total_places": draw(st.integers(0, 3)),
        }
        if kind is not SettingType.MAINSTREAM:
            kw["designated_needs"] = frozenset(draw(st.sets(st.sampled_from(NEEDS), max_size=2)))
        if kind is SettingType.INDEPENDENT_SPECIAL:
            kw["annual_fee"] = 50_000
        if kind is SettingType.MAINSTREAM and draw(st.booleans()):
            kw["provisions"] = tuple(
                Provision(
                    kind=draw(st.sampled_from(list(ProvisionKind))),
                    designated_needs=frozenset({need}),
                    places=draw(st.integers(0, 2)),
                )
                for need in draw(st.sets(st.sampled_from(NEEDS), min_size=1, max_size=2))
            )
        settings_.append(setting(str(300000 + j), **kw))
    urns = [s.urn for s in settings_]
    children = []
    for i in range(draw(st.integers(1, 8))):
        suitable = draw(
            st.one_of(st.none(), st.sets(st.sampled_from(list(PlacementKind)), min_size=1))
        )
        children.append(
            child(
                f"C{i}",
                nc_year=draw(st.sampled_from([0, 3, 6, 7, 10, 12])),
                sex=draw(st.sampled_from(["M", "F", "U"])),
                home=_place_near(draw),
                primary_need=draw(st.sampled_from(NEEDS)),
                requirements=frozenset(draw(st.sets(st.sampled_from(list(Requirement))))),
                suitable_kinds=None if suitable is None else frozenset(suitable),
                preferences=tuple(draw(st.lists(st.sampled_from(urns), unique=True, max_size=2))),
            )
        )
    return children, settings_


def _pairs(rows: npt.NDArray[Any], cols: npt.NDArray[Any]) -> set[tuple[int, int]]:
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


@settings(max_examples=150, deadline=None)
@given(rounds())
def test_the_screen_keeps_exactly_the_pairs_with_an_eligible_option(
    instance: tuple[list[Child], list[Setting]],
) -> None:
    children, settings_ = instance
    config = pipeline.placement_config(io.RoundInputs(children, settings_)).eligibility
    full = build_travel_matrix(children, settings_, config.cutoff_minutes).matrix
    eligible = _pairs(*_option_pairs(build_arcs(children, settings_, full, config)))
    named = set(named_pairs(children, settings_))
    screen = option_screen(children, settings_, config)

    kept = screen.keep(full.rows, full.cols) & (full.minutes <= screen.cutoffs[full.rows])
    for pair, keep in zip(_pair_list(full.rows, full.cols), kept.tolist(), strict=True):
        if pair not in named:
            assert keep == (pair in eligible), pair

    read = build_arcs(children, settings_, full, config, screen)
    made = build_arcs(children, settings_, full, config)
    for name in made.__dataclass_fields__:
        assert np.array_equal(getattr(read, name), getattr(made, name), equal_nan=True), name

    lean = build_travel_matrix(children, settings_, config.cutoff_minutes, screen=screen).matrix
    wanted = kept | np.array([p in named for p in _pair_list(full.rows, full.cols)], bool)
    assert np.array_equal(lean.rows, full.rows[wanted])
    assert np.array_equal(lean.cols, full.cols[wanted])
    assert np.array_equal(lean.minutes, full.minutes[wanted])


@settings(max_examples=100, deadline=None)
@given(rounds())
def test_a_round_that_times_only_options_places_and_explains_as_the_whole_matrix_does(
    instance: tuple[list[Child], list[Setting]],
) -> None:
    children, settings_ = instance
    inputs = io.RoundInputs(children, settings_)
    config = pipeline.placement_config(inputs)
    cutoff = config.eligibility.cutoff_minutes
    screen = option_screen(children, settings_, config.eligibility)
    lean = build_travel_matrix(children, settings_, cutoff, screen=screen)
    prepared = pipeline.PreparedRound(inputs, config, lean, date(2026, 9, 1), screen=screen)

    plan, _ = pipeline.solve_round(prepared)

    whole = build_travel_matrix(children, settings_, cutoff).matrix
    assert plan == place(children, settings_, whole, config)


def test_a_child_with_no_option_is_told_of_every_setting_within_reach() -> None:
    """The one case the screened matrix cannot explain alone: its pairs are timed again."""
    near = [
        setting(str(400000 + j), setting_type="special", designated_needs={"ASD"}) for j in range(3)
    ]
    children = [
        child("C1", primary_need=PrimaryNeed.ASD),
        child("C2", primary_need=PrimaryNeed.SLD, suitable_kinds=frozenset({"special"})),
    ]
    inputs = io.RoundInputs(children, near)
    config = pipeline.placement_config(inputs)
    screen = option_screen(children, near, config.eligibility)
    lean = build_travel_matrix(children, near, config.eligibility.cutoff_minutes, screen=screen)
    assert lean.matrix.rows.tolist() == [0, 0, 0]  # C2's journeys were not timed at first

    prepared = pipeline.PreparedRound(inputs, config, lean, date(2026, 9, 1), screen=screen)
    plan, _ = pipeline.solve_round(prepared)

    reason = plan.placements[1].reason
    assert reason == (
        "no suitable setting: of 3 setting(s) considered, "
        "not designated for the child's primary need (3)"
    )


def test_a_school_whose_only_place_for_the_child_is_its_provision_is_timed() -> None:
    unit = Provision(
        kind=ProvisionKind.RESOURCED_PROVISION,
        designated_needs=frozenset({PrimaryNeed.SLCN}),
        places=2,
    )
    schools = [
        setting("500001", provisions=(unit,)),
        setting("500002", provisions=(unit.model_copy(update={"designated_needs": {"ASD"}}),)),
    ]
    only_provision = frozenset({PlacementKind.RESOURCED_PROVISION})
    children = [child("C1", primary_need=PrimaryNeed.SLCN, suitable_kinds=only_provision)]
    config = pipeline.placement_config(io.RoundInputs(children, schools)).eligibility
    screen = option_screen(children, schools, config)

    assert screen.keep(np.array([0, 0]), np.array([0, 1])).tolist() == [True, False]


def test_straight_lines_with_a_screen_are_the_whole_matrix_filtered() -> None:
    rng = np.random.default_rng(7)
    homes = [
        Location(latitude=52 + rng.random() / 2, longitude=-1 - rng.random()) for _ in range(300)
    ]
    places = [
        Location(latitude=52 + rng.random() / 2, longitude=-1 - rng.random()) for _ in range(40)
    ]
    ids, urns = [f"C{i}" for i in range(300)], [str(j) for j in range(40)]
    required = [(0, 39), (5, 3), (299, 0)]

    class EveryThirdOut:
        cutoffs = np.where(np.arange(300) % 2 == 0, 45.0, 75.0).astype(np.float32)

        def keep(self, rows: npt.NDArray[Any], cols: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
            return np.asarray((rows + cols) % 3 != 0)

    screen = EveryThirdOut()
    full = straight_line_matrix(ids, homes, urns, places, 75.0, required)
    lean = straight_line_matrix(ids, homes, urns, places, 75.0, required, screen=screen)

    wanted = screen.keep(full.rows, full.cols) & (full.minutes <= screen.cutoffs[full.rows])
    wanted |= np.array([p in set(required) for p in _pair_list(full.rows, full.cols)], bool)
    assert 0 < wanted.sum() < len(wanted)
    assert np.array_equal(lean.rows, full.rows[wanted])
    assert np.array_equal(lean.cols, full.cols[wanted])
    assert np.array_equal(lean.minutes, full.minutes[wanted])


def _option_pairs(arcs: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    return arcs.child, arcs.setting


def _pair_list(rows: npt.NDArray[Any], cols: npt.NDArray[Any]) -> list[tuple[int, int]]:
    return list(zip(rows.tolist(), cols.tolist(), strict=True))
