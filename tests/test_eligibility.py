from __future__ import annotations

import numpy as np

from matcher.eligibility import EligibilityConfig, Exclusion, build_arcs, describe
from matcher.models import (
    PlacementKind,
    PrimaryNeed,
    Provision,
    ProvisionKind,
    Requirement,
    SettingType,
    Sex,
    SexAdmitted,
)
from tests.factories import child, matrix, setting


def _reasons(arcs, i: int, j: int) -> int:  # type: ignore[no-untyped-def]
    hit = (arcs.excluded_child == i) & (arcs.excluded_setting == j)
    return int(arcs.excluded_reasons[hit][0]) if hit.any() else 0


def _eligible(arcs, i: int, j: int) -> list[int]:  # type: ignore[no-untyped-def]
    hit = (arcs.child == i) & (arcs.setting == j)
    return sorted(arcs.provision[hit].tolist())


def test_each_hard_rule_excludes_with_its_reason() -> None:
    kids = [
        child("young", nc_year=3),
        child("girl", sex=Sex.FEMALE),
        child("sld", primary_need=PrimaryNeed.SLD),
        child("wheelchair", requirements=frozenset({Requirement.WHEELCHAIR_ACCESS})),
        child("ok"),
    ]
    sets = [
        setting("1", sex_admitted=SexAdmitted.BOYS),
        setting("2", setting_type=SettingType.SPECIAL, designated_needs=frozenset({"SEMH"})),
    ]
    arcs = build_arcs(kids, sets, matrix(kids, sets, np.full((5, 2), 10.0)))
    assert _reasons(arcs, 0, 0) & Exclusion.AGE_RANGE
    assert _reasons(arcs, 1, 0) == Exclusion.SEX_ADMITTED
    assert _reasons(arcs, 2, 0) == Exclusion.KIND_NOT_SUITABLE  # SLD: specialist places only
    assert _reasons(arcs, 3, 0) == Exclusion.NO_WHEELCHAIR_ACCESS
    assert _reasons(arcs, 4, 1) == Exclusion.NEED_NOT_DESIGNATED
    assert _eligible(arcs, 4, 0) == [-1]
    assert _eligible(arcs, 1, 1) == []


def test_travel_limit_depends_on_phase_and_spares_preferences() -> None:
    kids = [
        child("primary", nc_year=6),
        child("secondary", nc_year=7),
        child("pref", nc_year=6, preferences=("1",)),
    ]
    sets = [setting("1", low_age=4, high_age=16)]
    arcs = build_arcs(kids, sets, matrix(kids, sets, np.full((3, 1), 60.0)))
    assert _reasons(arcs, 0, 0) == Exclusion.OVER_TRAVEL_LIMIT
    assert _eligible(arcs, 1, 0) == [-1]
    assert _eligible(arcs, 2, 0) == [-1]
    strict = EligibilityConfig(preferences_exempt_from_travel_limit=False)
    arcs = build_arcs(kids, sets, matrix(kids, sets, np.full((3, 1), 60.0)), strict)
    assert _reasons(arcs, 2, 0) == Exclusion.OVER_TRAVEL_LIMIT


def test_preference_without_travel_time_is_excluded_for_no_route() -> None:
    kids = [child("a", preferences=("2",))]
    sets = [setting("1"), setting("2")]
    arcs = build_arcs(kids, sets, matrix(kids, sets, np.array([[5.0, np.nan]])))
    assert _reasons(arcs, 0, 1) == Exclusion.NO_ROUTE
    assert arcs.preference_rank[arcs.setting == 0].tolist() == [0]


def test_resourced_provision_is_its_own_option() -> None:
    rp = Provision(
        kind=ProvisionKind.RESOURCED_PROVISION, designated_needs=frozenset({"SLD"}), places=4
    )
    kids = [child("sld", primary_need=PrimaryNeed.SLD), child("asd")]
    sets = [setting("1", provisions=(rp,))]
    arcs = build_arcs(kids, sets, matrix(kids, sets, np.full((2, 1), 10.0)))
    assert _eligible(arcs, 0, 0) == [0]  # only through the provision
    assert arcs.kind[(arcs.child == 0)].tolist() == [
        list(PlacementKind).index(PlacementKind.RESOURCED_PROVISION)
    ]
    assert _eligible(arcs, 1, 0) == [-1]  # general place; provision not designated for ASD


def test_excluded_pair_reasons_are_the_union_over_its_options() -> None:
    rp = Provision(kind=ProvisionKind.SEN_UNIT, designated_needs=frozenset({"HI"}), places=4)
    kids = [child("sld", primary_need=PrimaryNeed.SLD)]
    sets = [setting("1", provisions=(rp,))]
    arcs = build_arcs(kids, sets, matrix(kids, sets, np.full((1, 1), 10.0)))
    assert _reasons(arcs, 0, 0) == Exclusion.KIND_NOT_SUITABLE | Exclusion.NEED_NOT_DESIGNATED


def test_every_excluded_pair_has_a_reason_and_words_for_it() -> None:
    kids = [child(f"c{i}", nc_year=y) for i, y in enumerate([0, 7, 12])]
    sets = [setting("1"), setting("2", sex_admitted=SexAdmitted.GIRLS)]
    arcs = build_arcs(kids, sets, matrix(kids, sets, np.full((3, 2), 80.0)))
    assert len(arcs.excluded_reasons) > 0
    for reasons in arcs.excluded_reasons:
        assert reasons != 0
        assert describe(int(reasons))
