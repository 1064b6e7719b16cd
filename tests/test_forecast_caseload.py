"""A projected year as a caseload: counts, ids, homes, reproducibility, and the engine places it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from geodata.straight_line import haversine_km
from matcher.forecast.outputs import read_projection, write_projection
from matcher.forecast.projected_caseload import projected_caseload, projected_counts
from matcher.forecast.types import Projection, State
from matcher.models import Child, Location, PlacementKind, Provision, ProvisionKind, SettingType
from matcher.placement import place
from tests.factories import child, matrix, setting

STATES = (
    State("ASD", "special", 8),
    State("ASD", "special", 3),
    State("SEMH", "resourced_provision", 9),
)
# counts[simulation, year, state] for 2028 and 2029, five simulations.
COUNTS = np.array(
    [
        [[6, 2, 1], [7, 3, 1]],
        [[6, 2, 1], [8, 2, 2]],
        [[6, 2, 1], [9, 4, 0]],
        [[6, 2, 1], [5, 3, 3]],
        [[6, 2, 1], [7, 2, 1]],
    ],
    np.int32,
)
# ASD families live in one town, SEMH families in another 30 km away: a home borrowed from
# the wrong need is far from every current child of the projected child's need.
ASD_TOWN = Location(latitude=52.20, longitude=-1.10)
SEMH_TOWN = Location(latitude=52.47, longitude=-1.10)


def projection() -> Projection:
    return Projection((2028, 2029), STATES, COUNTS)


def current() -> list[Child]:
    asd = [child(f"A{i}", home=ASD_TOWN, home_la_code="855", nc_year=5, sex="F") for i in range(3)]
    semh = [child("S1", home=SEMH_TOWN, home_la_code="856", primary_need="SEMH", nc_year=10)]
    return asd + semh


def per_state(caseload: list[Child]) -> list[int]:
    tally = [0] * len(STATES)
    for c in caseload:
        kind = (
            "resourced_provision"
            if c.suitable_kinds == {PlacementKind.RESOURCED_PROVISION}
            else "special"
        )
        tally[STATES.index(State(c.primary_need.value, kind, c.nc_year))] += 1
    return tally


def test_counts_are_the_chosen_simulation() -> None:
    for simulation in range(5):
        caseload = projected_caseload(projection(), 2029, current(), simulation=simulation)
        assert per_state(caseload) == COUNTS[simulation, 1].tolist()


def test_rounded_mean_keeps_the_total() -> None:
    # Means 7.2, 2.8 and 1.4, total 11.4: floors 7, 2, 1 and the 11th child to the largest
    # fraction (2.8).
    assert projected_counts(projection(), 2029).tolist() == [7, 3, 1]
    # Rounding each state alone would lose every child here.
    thirds = Projection((2029,), STATES, np.eye(3, dtype=np.int32)[:, None, :])
    # Each state has mean 1/3 and the total mean is 1: one child, in the first state (a tie).
    assert projected_counts(thirds, 2029).tolist() == [1, 0, 0]
    caseload = projected_caseload(thirds, 2029, current())
    assert [(c.primary_need, c.nc_year) for c in caseload] == [("ASD", 8)]


def test_ids_are_pseudonymous_and_unique() -> None:
    caseload = projected_caseload(projection(), 2029, current(), simulation=2)
    ids = [c.child_id for c in caseload]
    assert len(set(ids)) == len(ids) == 13
    assert all(re.fullmatch(r"F2029-\d{6}", i) for i in ids)
    assert ids[0] == "F2029-000001"
    assert not set(ids) & {c.child_id for c in current()}


def test_children_are_what_their_state_says() -> None:
    caseload = projected_caseload(projection(), 2029, current(), simulation=0)
    special = [c for c in caseload if c.primary_need == "ASD"]
    assert {c.suitable_kinds for c in special} == {
        frozenset({PlacementKind.SPECIAL, PlacementKind.INDEPENDENT})
    }
    assert all(c.preferences == () and c.current_setting is None for c in caseload)
    assert {c.home_la_code for c in special} == {"855"}
    assert {c.sex for c in special} == {"F"}


def test_homes_are_near_current_children_of_the_same_need() -> None:
    caseload = projected_caseload(projection(), 2029, current(), simulation=3)
    for c in caseload:
        town = ASD_TOWN if c.primary_need == "ASD" else SEMH_TOWN
        km = haversine_km(c.home.latitude, c.home.longitude, town.latitude, town.longitude)
        assert km <= 0.5 + 1e-6
    assert len({c.home for c in caseload}) == len(caseload)  # jittered, not stacked


def test_a_need_nobody_has_now_borrows_any_home() -> None:
    asd_only = [c for c in current() if c.primary_need == "ASD"]
    caseload = projected_caseload(projection(), 2029, asd_only, simulation=0)
    semh = [c for c in caseload if c.primary_need == "SEMH"]
    assert len(semh) == 1
    home = semh[0].home
    assert haversine_km(home.latitude, home.longitude, ASD_TOWN.latitude, ASD_TOWN.longitude) <= 0.5
    assert semh[0].requirements == frozenset()


def test_a_saved_forecast_gives_the_same_caseload(tmp_path: Path) -> None:
    write_projection(projection(), tmp_path / "forecast_simulations.npz")
    saved = read_projection(tmp_path / "forecast.xlsx")
    for simulation in (None, 3):
        assert projected_caseload(
            saved, 2029, current(), simulation=simulation, seed=5
        ) == projected_caseload(projection(), 2029, current(), simulation=simulation, seed=5)


def test_same_seed_same_caseload() -> None:
    first = projected_caseload(projection(), 2029, current(), seed=7)
    assert projected_caseload(projection(), 2029, current(), seed=7) == first
    other = projected_caseload(projection(), 2029, current(), seed=8)
    assert [c.home for c in other] != [c.home for c in first]


def test_other_arrangements_take_no_place() -> None:
    states = (*STATES[:2], State("ASD", "other", 9))
    caseload = projected_caseload(Projection((2029,), states, COUNTS[:, 1:, :]), 2029, current())
    assert len(caseload) == 7 + 3  # the rounded mean of the first two states


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="2031 is not a year of this forecast: it runs from 2028"):
        projected_caseload(projection(), 2031, current())
    with pytest.raises(ValueError, match="current caseload is empty"):
        projected_caseload(projection(), 2029, [])
    with pytest.raises(ValueError, match="simulation 5 does not exist"):
        projected_caseload(projection(), 2029, current(), simulation=5)
    far = Projection((2029,), (State("ASD", "special", 22),), np.ones((1, 1, 1), np.int32))
    with pytest.raises(ValueError, match="NC years 22"):
        projected_caseload(far, 2029, current())


def test_the_engine_places_the_projected_caseload() -> None:
    caseload = projected_caseload(projection(), 2029, current(), simulation=3)
    assert per_state(caseload) == [5, 3, 3]
    settings = [
        setting(
            "SP",
            setting_type=SettingType.SPECIAL,
            low_age=4,
            high_age=19,
            total_places=20,
            designated_needs=frozenset({"ASD"}),
        ),
        setting(
            "MS",
            total_places=100,
            location=SEMH_TOWN,
            provisions=(
                Provision(
                    kind=ProvisionKind.RESOURCED_PROVISION,
                    designated_needs=frozenset({"SEMH"}),
                    places=4,
                ),
            ),
        ),
    ]
    minutes = np.full((len(caseload), len(settings)), 20.0)
    result = place(caseload, settings, matrix(caseload, settings, minutes))
    assert [p.child_id for p in result.placements] == [c.child_id for c in caseload]
    assert result.summary.placed == len(caseload)
    kinds = {p.child_id: p.placement_kind for p in result.placements}
    assert all(
        kinds[c.child_id] is PlacementKind.RESOURCED_PROVISION
        for c in caseload
        if c.primary_need == "SEMH"
    )
