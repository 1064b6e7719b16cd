"""Sufficiency: projected demand against places, checked by hand on a tiny projection."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher.forecast.outputs import need_chart, write_need_chart
from matcher.forecast.sufficiency import (
    ALL_NEEDS,
    NEED_CHART_COLUMNS,
    SUFFICIENCY_COLUMNS,
    PlannedSetting,
    demand_and_places_by_need,
    kinds_of_place_problem,
    phase_of,
    places_by_phase,
    planned_settings,
    sufficiency,
)
from matcher.forecast.types import Projection, State
from matcher.models import Provision, ProvisionKind, SettingType
from matcher.planning import parse_scenario
from tests.factories import setting

YEARS = (2028, 2029)
STATES = (
    State("ASD", "special", 8),  # secondary
    State("ASD", "special", 3),  # primary
    State("SEMH", "resourced_provision", 9),  # secondary
)
# counts[simulation, year, state]: 2028 observed (equal in every simulation), 2029 simulated.
ASD_SECONDARY_2029 = [50, 60, 80, 100, 110]  # mean 80; 2.5% = 50 + 0.1*10 = 51; 97.5% = 109
ASD_PRIMARY_2029 = [20, 22, 24, 26, 28]  # mean 24; 20.2 and 27.8
SEMH_RP_2029 = [4, 5, 6, 7, 8]  # mean 6; 4.1 and 7.9


def projection() -> Projection:
    counts = np.zeros((5, 2, 3), np.int32)
    counts[:, 0, :] = [60, 20, 7]
    counts[:, 1, 0] = ASD_SECONDARY_2029
    counts[:, 1, 1] = ASD_PRIMARY_2029
    counts[:, 1, 2] = SEMH_RP_2029
    return Projection(YEARS, STATES, counts)


def settings() -> list:
    special = SettingType.SPECIAL
    return [
        # ASD alone, NC 7-11: 16 secondary places for ASD alone.
        setting("A", setting_type=special, designated_needs=frozenset({"ASD"}), total_places=16),
        # ASD and SEMH, NC 0-11 (12 years): 24 places, 14 primary (7 years) and 10 secondary.
        setting(
            "B",
            setting_type=special,
            designated_needs=frozenset({"ASD", "SEMH"}),
            low_age=4,
            total_places=24,
        ),
        # A mainstream school with a 6-place SEMH resourced provision; its own places are
        # open to every pupil and not compared.
        setting(
            "C",
            total_places=900,
            provisions=(
                Provision(
                    kind=ProvisionKind.RESOURCED_PROVISION,
                    designated_needs=frozenset({"SEMH"}),
                    places=6,
                ),
            ),
        ),
        # A college: post-16 places, open to every student, not compared.
        setting("D", setting_type=SettingType.FURTHER_EDUCATION, low_age=16, high_age=19),
    ]


def row(table: pd.DataFrame, year: int, kind: str, phase: str, need: str) -> pd.Series:
    found = table[
        (table["calendar_year"] == year)
        & (table["kind_of_place"] == kind)
        & (table["phase"] == phase)
        & (table["need"] == need)
    ]
    assert len(found) == 1, (year, kind, phase, need)
    return found.iloc[0]


def test_shortfall_of_a_need_by_hand() -> None:
    table = sufficiency(projection(), settings())
    assert tuple(table.columns) == SUFFICIENCY_COLUMNS
    asd = row(table, 2029, "special", "secondary", "ASD")
    assert asd["demand_mean"] == pytest.approx(80)
    assert (asd["demand_low_95"], asd["demand_high_95"]) == pytest.approx((51, 109))
    assert (asd["places"], asd["planned_places"], asd["shared_places"]) == (16, 0, 10)
    assert asd["shortfall_mean"] == pytest.approx(64)
    assert (asd["shortfall_low_95"], asd["shortfall_high_95"]) == pytest.approx((35, 93))
    assert asd["sentence"] == (
        "In 2029 the LA is short of 64 ASD special places for secondary age "
        "(95% interval 35–93): projected demand 80 against 16 places; 10 more places are "
        "shared with other needs."
    )


def test_kind_and_phase_totals_count_shared_places() -> None:
    table = sufficiency(projection(), settings())
    secondary = row(table, 2029, "special", "secondary", ALL_NEEDS)
    assert secondary["places"] == 26  # 16 from A and 10 of B's 24
    assert secondary["shortfall_mean"] == pytest.approx(54)
    assert (secondary["shortfall_low_95"], secondary["shortfall_high_95"]) == pytest.approx(
        (25, 83)
    )
    primary = row(table, 2029, "special", "primary", ALL_NEEDS)
    assert primary["places"] == 14
    assert (primary["shortfall_low_95"], primary["shortfall_high_95"]) == pytest.approx((6.2, 13.8))
    # ASD primary has no place for ASD alone: its gap is 0 to 14 places smaller if it gets
    # all of B's shared primary places.
    asd_primary = row(table, 2029, "special", "primary", "ASD")
    assert (asd_primary["places"], asd_primary["shared_places"]) == (0, 14)
    assert asd_primary["shortfall_mean"] == pytest.approx(24)


def test_resourced_provision_and_the_observed_year() -> None:
    table = sufficiency(projection(), settings())
    rp = row(table, 2029, "resourced_provision", "secondary", "SEMH")
    assert rp["places"] == 6
    assert rp["shortfall_mean"] == pytest.approx(0)
    assert (rp["shortfall_low_95"], rp["shortfall_high_95"]) == pytest.approx((-1.9, 1.9))
    assert rp["sentence"].startswith(
        "In 2029 the LA's SEMH resourced provision places for secondary age match projected "
        "demand (95% interval from 2 spare to 2 short)"
    )
    # The observed year is the same in every simulation: no interval in the sentence.
    spare = row(table, 2028, "special", "secondary", ALL_NEEDS)
    assert spare["shortfall_mean"] == pytest.approx(60 - 26)
    assert spare["sentence"] == (
        "In 2028 the LA is short of 34 special places for secondary age: projected demand 60 "
        "against 26 places."
    )


def test_places_without_demand_and_kinds_not_compared() -> None:
    nursery = setting("N", setting_type=SettingType.SPECIAL, low_age=2, high_age=4, total_places=12)
    table = sufficiency(projection(), [*settings(), nursery])
    # Mainstream and college places give no rows; places nobody is projected into do.
    assert set(table["kind_of_place"]) == {"special", "resourced_provision"}
    spare = row(table, 2029, "special", "early years", ALL_NEEDS)
    assert (spare["demand_mean"], spare["places"], spare["shortfall_mean"]) == (0, 12, -12)
    assert spare["sentence"] == (
        "In 2029 the LA has 12 special places for early years to spare: projected demand 0 "
        "against 12 places."
    )
    # Mainstream demand is shown, never compared with a school's places.
    mainstream = Projection((2029,), (State("SEMH", "mainstream", 9),), np.full((5, 1, 1), 7))
    shown = row(sufficiency(mainstream, settings()), 2029, "mainstream", "secondary", "SEMH")
    assert shown["demand_mean"] == 7
    assert all(math.isnan(shown[c]) for c in ("places", "shortfall_mean", "shortfall_high_95"))
    assert shown["sentence"] == (
        "In 2029, 7 children with an EHCP for SEMH of secondary age are projected in "
        "mainstream; mainstream places are open to every pupil, so not compared."
    )


def test_places_planned_count_from_their_first_year() -> None:
    new_school = setting(
        "NEW",
        setting_type=SettingType.SPECIAL,
        designated_needs=frozenset({"ASD"}),
        total_places=30,
    )
    table = sufficiency(
        projection(), settings(), extra_places=[PlannedSetting(new_school, first_year=2029)]
    )
    before = row(table, 2028, "special", "secondary", "ASD")
    after = row(table, 2029, "special", "secondary", "ASD")
    assert (before["planned_places"], after["planned_places"]) == (0, 30)
    assert after["shortfall_mean"] == pytest.approx(80 - 16 - 30)
    assert after["sentence"].endswith(
        "against 16 places and 30 planned; 10 more places are shared with other needs."
    )
    # A plain setting counts in every year.
    always = sufficiency(projection(), settings(), extra_places=[new_school])
    assert row(always, 2028, "special", "secondary", "ASD")["planned_places"] == 30


def test_planned_settings_from_a_scenario() -> None:
    scenario = parse_scenario(
        {
            "name": "New ASD school",
            "edits": [
                {
                    "kind": "new_setting",
                    "name": "Oak Special",
                    "location": {"latitude": 52.2, "longitude": -1.1},
                    "low_age": 11,
                    "high_age": 16,
                    "designated_needs": ["ASD"],
                    "total_places": 40,
                    "opening_year": 2028,
                },
                {
                    "kind": "new_resourced_provision",
                    "urn": "C",
                    "designated_needs": ["SEMH"],
                    "places": 8,
                },
                {"kind": "demand_growth", "rate": 0.05},
            ],
        }
    )
    planned = planned_settings(scenario, settings())
    assert [p.first_year for p in planned] == [2029, None]  # opens September 2028
    table = sufficiency(projection(), settings(), extra_places=planned)
    assert row(table, 2029, "special", "secondary", "ASD")["planned_places"] == 40
    assert row(table, 2028, "special", "secondary", "ASD")["planned_places"] == 0
    rp = row(table, 2028, "resourced_provision", "secondary", "SEMH")
    assert (rp["places"], rp["planned_places"]) == (6, 8)  # the host's 900 places not added
    closure = parse_scenario({"name": "Close", "edits": [{"kind": "closure", "urn": "A"}]})
    with pytest.raises(ValueError, match=r"edits\[0\] is a closure"):
        planned_settings(closure, settings())


@pytest.mark.parametrize(
    ("nc_year", "phase"),
    [
        (-2, "early years"),
        (-1, "early years"),
        (0, "primary"),
        (6, "primary"),
        (7, "secondary"),
        (11, "secondary"),
        (12, "post-16"),
        (20, "post-16"),
    ],
)
def test_phase_of_nc_year(nc_year: int, phase: str) -> None:
    assert phase_of(nc_year) == phase


def test_places_shared_out_by_phase() -> None:
    all_through = list(range(-2, 15))  # ages 2-19: 2 + 7 + 5 + 3 NC years
    assert places_by_phase(100, all_through, {}) == {
        "early years": 12,
        "primary": 41,
        "secondary": 29,
        "post-16": 18,
    }
    # Year 7 holds its 10; the other 40 spread over Y8-Y14: 4 x 40/7 secondary, 3 x 40/7 post-16.
    assert places_by_phase(50, list(range(7, 15)), {7: 10}) == {"secondary": 33, "post-16": 17}
    # Year groups holding more than the total are scaled down to it.
    assert places_by_phase(10, [7, 12], {7: 10, 12: 10}) == {"secondary": 5, "post-16": 5}
    # An all-through setting's phase split reaches the table.
    school = setting(
        "E", setting_type=SettingType.SPECIAL, low_age=2, high_age=19, total_places=100
    )
    table = sufficiency(projection(), [school])
    assert row(table, 2029, "special", "primary", ALL_NEEDS)["places"] == 41
    assert row(table, 2029, "special", "post-16", ALL_NEEDS)["places"] == 18
    # Designated for no need, a special school shares its places with every need.
    asd = row(table, 2029, "special", "secondary", "ASD")
    assert (asd["places"], asd["shared_places"]) == (0, 29)


def test_labels_that_are_not_kinds_or_needs() -> None:
    witan = Projection((2029,), (State("T", "B", 8),), np.full((5, 1, 1), 3))
    with pytest.raises(ValueError, match=r"settings 'B' are not kinds of place.*needs 'T'"):
        sufficiency(witan, settings())
    table = sufficiency(witan, settings(), kinds={"B": "Special school"}, needs={"T": "autism"})
    assert row(table, 2029, "special", "secondary", "ASD")["demand_mean"] == 3


def test_a_forecast_of_codes_is_described_for_a_planner() -> None:
    assert kinds_of_place_problem(projection()) is None
    witan = Projection(
        (2029,),
        (State("T", "MMSIB", 8), State("ASD", "B", 8), State("U", "special", 3)),
        np.ones((2, 1, 3), np.int32),
    )
    problem = kinds_of_place_problem(witan)
    assert problem is not None
    assert problem.startswith(
        "this forecast's settings are witan.send codes or other labels ('B', 'MMSIB'), not "
        "kinds of place (mainstream, resourced_provision, special,"
    )
    assert "; its needs 'T', 'U' are not SEN2 primary need codes (SPLD, MLD," in problem
    usual = Projection((2029,), (State("autism", "Special school", 8),), witan.counts[..., :1])
    assert kinds_of_place_problem(usual) is None  # usual spellings are fine
    odd_need = Projection((2029,), (State("T", "special", 8),), witan.counts[..., :1])
    assert str(kinds_of_place_problem(odd_need)).startswith("this forecast's needs 'T' are not")


def test_demand_and_places_by_need_by_hand() -> None:
    """Each need's children in every compared kind and phase together, bounds of the sum:
    ASD is 70, 82, 104, 126, 138 in 2029 (secondary + primary), against A's 16 places for ASD
    alone and B's 24 shared; SEMH is the resourced provision's 4-8 against its 6 places."""
    new_school = setting(
        "NEW",
        setting_type=SettingType.SPECIAL,
        designated_needs=frozenset({"ASD"}),
        total_places=10,
    )
    table = demand_and_places_by_need(
        projection(), settings(), extra_places=[PlannedSetting(new_school, first_year=2029)]
    )
    assert tuple(table.columns) == NEED_CHART_COLUMNS
    by = {(r["calendar_year"], r["need"]): r for r in table.to_dict("records")}
    assert set(by) == {(y, n) for y in YEARS for n in (ALL_NEEDS, "ASD", "SEMH")}
    asd = by[(2029, "ASD")]
    assert asd["demand_mean"] == pytest.approx(104)
    assert (asd["demand_low_95"], asd["demand_high_95"]) == pytest.approx((71.2, 136.8))
    assert (asd["places"], asd["shared_places"]) == (26, 24)  # 16 + 10 planned; B's 24
    assert (by[(2028, "ASD")]["places"], by[(2028, "ASD")]["demand_mean"]) == (16, 80)
    semh = by[(2029, "SEMH")]
    assert (semh["demand_mean"], semh["places"], semh["shared_places"]) == (6, 6, 24)
    every = by[(2029, ALL_NEEDS)]
    assert (every["demand_low_95"], every["demand_high_95"]) == pytest.approx((75.3, 144.7))
    assert (every["places"], every["shared_places"]) == (56, 0)  # A, B, the RP, planned


def test_the_chart_of_demand_against_places_has_a_panel_per_need(tmp_path: Path) -> None:
    table = demand_and_places_by_need(projection(), settings())
    figure = need_chart(table)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["All needs", "ASD", "SEMH"]
    asd = figure.axes[1]
    labels = [line.get_label() for line in asd.get_lines()]
    assert labels == ["demand (mean)", "places", "places, with those shared with other needs"]
    assert list(asd.get_lines()[1].get_ydata()) == [16, 16]
    path = tmp_path / "sufficiency_by_need.png"
    write_need_chart(table, path)
    assert path.read_bytes().startswith(b"\x89PNG")
