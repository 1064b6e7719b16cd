"""The child page's words from a stored result (api.pages.child_words) and the child's details
stored with each result (api.child_details): pure functions, no server."""

from __future__ import annotations

from typing import Any

from api.child_details import add_child_details
from api.pages.child_map import MARGIN, child_map
from api.pages.child_words import (
    OVER_LIMIT,
    effect_words,
    option_rows,
    preference_lines,
    proposal_words,
    unplaced_explanation,
)
from matcher.models import Child, Location, Requirement
from matcher.needs import PrimaryNeed

NOTHING = {"children_unplaced": 0, "preferences_unmet": 0, "preference_ranks": 0}


def option(urn: str, rank: int | None = None, proposed: bool = False, **marginal: Any) -> dict:
    return {
        "urn": urn,
        "name": f"School {urn}",
        "setting_type": "mainstream",
        "placement_kind": "mainstream",
        "provision": None,
        "minutes": 12.4,
        "places_left": 3,
        "placement_cost": 6000,
        "transport_cost": 1500,
        "preference_rank": rank,
        "proposed": proposed,
        "marginal": {**NOTHING, "minutes": 0.0, "pounds": 0, **marginal},
        "why_listed": "nearest",
        "location": None,
    }


def test_the_childs_own_change_is_not_counted_as_other_childrens() -> None:
    # Moving this child from their 1st to their 2nd preference costs one rank: their own.
    second = option("2", rank=2, preference_ranks=1, pounds=900)
    assert effect_words(second, 1, True, True) == (
        "No effect on other children. Costs the LA £900 more a year in all"
    )
    # Two ranks lost in all, one of them this child's: one other child moves down.
    crowding = option("2", rank=2, preference_ranks=2)
    assert effect_words(crowding, 1, True, True) == (
        "Naming this moves 1 other child to a later preference"
    )
    # A setting that is none of the preferences: this child's parents get none; not others'.
    other = option("3", preferences_unmet=1, pounds=-400)
    assert effect_words(other, 1, True, True) == (
        "No effect on other children. Saves the LA £400 a year in all"
    )
    displacing = option("3", children_unplaced=1, preferences_unmet=3, preference_ranks=4)
    assert effect_words(displacing, 1, True, True) == (
        "Naming this leaves 1 other child without a place. Naming this leaves 2 other children "
        "with none of their parents' preferences. Naming this moves other children 4 "
        "preferences later in all"
    )
    full = {**option("4"), "marginal": None}
    assert effect_words(full, 1, True, True).startswith("No place can be made there")
    assert effect_words(option("1", rank=1, proposed=True), 1, True, True).startswith(
        "This is the proposed place"
    )


def test_parents_preferences_come_first_in_their_order() -> None:
    result = {
        "setting_urn": "A",
        "preference_rank": None,
        "tailored_list": {
            "options": [option("A", proposed=True), option("B", rank=2), option("C", rank=1)],
            "preferences": [{"rank": 1, "urn": "C"}, {"rank": 2, "urn": "B"}],
        },
    }
    assert [r.urn for r in option_rows(result)] == ["C", "B", "A"]
    assert [r.number for r in option_rows(result)] == [1, 2, 3]


def test_proposal_in_plain_words_and_none_when_unplaced() -> None:
    placed = {
        "setting_urn": "1",
        "setting_name": "Oakfield Special School",
        "travel_minutes": 23.2,
        "placement_cost": 20000,
        "transport_cost": 4000,
    }
    assert proposal_words(placed, by_road=True) == (
        "Proposed: Oakfield Special School, 23 minutes by road, £24,000 a year"
    )
    assert proposal_words({**placed, "setting_urn": None, "setting_name": None}, True) is None


def excluded(name: str, minutes: float, *reasons: str) -> dict:
    return {"urn": name, "name": name, "minutes": minutes, "reasons": list(reasons)}


def test_unplaced_explanations_name_the_rule_that_binds() -> None:
    full = {"tailored_list": {"options": [option("1", marginal=None)], "excluded": []}}
    assert unplaced_explanation(full, 3, {}).cause == "full"
    journey = {
        "tailored_list": {
            "options": [],
            "excluded": [
                excluded("Far", 80.0, OVER_LIMIT),
                excluded("Near", 50.0, OVER_LIMIT),
                excluded("Wrong age", 20.0, "outside the setting's age range"),
            ],
        }
    }
    explained = unplaced_explanation(journey, 3, {"primary_limit_minutes": 40})
    assert explained.cause == "journey"
    assert "40-minute journey limit" in explained.headline
    assert [(n.name, n.minutes) for n in explained.nearest] == [("Near", 50.0), ("Far", 80.0)]
    needs = {
        "tailored_list": {
            "options": [],
            "excluded": [excluded("A", 10.0, "not designated for the child's primary need")],
            "excluded_not_shown_reasons": [
                {"reason": "not designated for the child's primary need", "count": 4}
            ],
        }
    }
    explained = unplaced_explanation(needs, 9, {})
    assert explained.cause == "needs"
    assert explained.details == ["5 settings: Not designated for the child's primary need"]
    assert explained.next_steps


def test_each_result_stores_who_the_child_is() -> None:
    child = Child(
        child_id="C1",
        nc_year=7,
        home=Location(latitude=52.2, longitude=0.7),
        primary_need=PrimaryNeed.ASD,
        secondary_needs=frozenset({PrimaryNeed.SLCN, PrimaryNeed.HI}),
        requirements=frozenset({Requirement.WHEELCHAIR_ACCESS}),
        current_setting="100",
        preferences=("200", "100"),
    )
    rows: list[dict[str, Any]] = [{"child_id": "C1", "result": {}}]

    class Named:
        urn, name = "100", "Oak Primary"

    add_child_details(rows, [child], [Named()])  # type: ignore[list-item]
    stored = rows[0]["result"]["child"]
    assert stored["primary_need"] == "ASD"
    assert stored["secondary_needs"] == ["HI", "SLCN"]
    assert stored["nc_year"] == 7 and stored["has_ehcp"] is True
    assert stored["requirements"] == ["wheelchair_access"]
    assert stored["current_setting_name"] == "Oak Primary"
    assert stored["preferences"] == ["200", "100"]


def test_preferences_say_whether_each_is_proposed_and_on_what_ground() -> None:
    lines = preference_lines(
        [
            {"rank": 2, "name": "Westley", "met": False, "ground": "not needed"},
            {"rank": 1, "name": "Eastgate", "met": True, "ground": "named"},
            {"rank": 3, "name": "Far", "met": False, "ground": "unsuitable for the child's SEN"},
        ]
    )
    assert lines == [
        ("1st", "Eastgate", "Proposed"),
        ("2nd", "Westley", "Not needed: an earlier preference is proposed"),
        ("3rd", "Far", "Not proposed: unsuitable for the child's SEN"),
    ]


def test_the_map_draws_home_as_a_marker_and_far_options_at_its_edge() -> None:
    home = {"lat": 52.2420, "lon": 0.7180}
    result = {
        "setting_urn": "A",
        "tailored_list": {
            "options": [
                {**option("A", proposed=True), "location": {"lat": 52.2380, "lon": 0.7250}},
                {
                    **option("A", rank=1),
                    "provision": "resourced_provision",
                    "location": {"lat": 52.2380, "lon": 0.7250},
                },
                {**option("B"), "location": {"lat": 52.2470, "lon": 0.6870}},
                {**option("C"), "location": {"lat": 52.4150, "lon": 0.7450}},  # 19 km north
            ],
            "preferences": [],
        },
    }
    drawn = child_map(home, option_rows(result))
    assert drawn is not None
    labels = {m.label: m for m in drawn.markers}
    assert set(labels) == {"1,2", "3", "4"}  # one school's two kinds of place share a spot
    far = labels["4"]
    assert far.beyond and MARGIN - 1 <= far.y <= drawn.height / 2  # at the top edge
    assert not labels["3"].beyond and labels["1,2"].proposed
    assert "4: School C, 19.3 km north of home (beyond the edge of the map)" in drawn.description
    assert "52.2" not in drawn.description and "0.71" not in drawn.description
