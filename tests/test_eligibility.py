from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from geodata.straight_line import straight_line_matrix
from geodata.synthetic import synthetic_caseload, synthetic_settings
from matcher.eligibility import (
    EligibilityConfig,
    EligibleArcs,
    Exclusion,
    build_arcs,
    describe,
)
from matcher.models import (
    Child,
    PlacementKind,
    PrimaryNeed,
    Provision,
    ProvisionKind,
    Requirement,
    Setting,
    SettingType,
    Sex,
    SexAdmitted,
)
from matcher.travel import TravelTimeMatrix
from tests.eligibility_reference import reference_build_arcs
from tests.factories import child, matrix, placement_instances, setting


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


# --- The same arcs and reasons as the pair-by-pair rules -------------------------------------


def _assert_same_arcs(got: EligibleArcs, expected: EligibleArcs) -> None:
    for field in fields(EligibleArcs):
        a, b = getattr(got, field.name), getattr(expected, field.name)
        assert a.dtype == b.dtype, field.name
        assert a.tobytes() == b.tobytes(), field.name  # same values, same order, NaN included


def _synthetic_la(
    n_children: int, n_settings: int, seed: int, cutoff: float
) -> tuple[list[Child], list[Setting], TravelTimeMatrix]:
    rng = np.random.default_rng(seed)
    s_lat, s_lon = rng.uniform(52.0, 52.4, 4 * n_settings), rng.uniform(-1.4, -0.8, 4 * n_settings)
    c_lat, c_lon = rng.uniform(52.0, 52.4, n_children), rng.uniform(-1.4, -0.8, n_children)
    sets = synthetic_settings(n_settings, s_lat, s_lon, seed, expected_children=n_children)
    kids = synthetic_caseload(n_children, sets, c_lat, c_lon, seed)
    column = {s.urn: j for j, s in enumerate(sets)}
    named = [(i, column[u]) for i, c in enumerate(kids) for u in c.preferences if u in column]
    travel = straight_line_matrix(
        [c.child_id for c in kids],
        [c.home for c in kids],
        [s.urn for s in sets],
        [s.location for s in sets],
        cutoff,
        named[::2],  # half the preferences timed whatever the distance, half left unreached
    )
    return kids, sets, travel


@pytest.mark.parametrize(
    ("seed", "cutoff"),
    [(1, 75.0), (2, 30.0), (3, 4.0)],  # 4 minutes: fewer pairs than kinds of child × settings
)
def test_synthetic_la_arcs_match_the_pair_by_pair_rules(seed: int, cutoff: float) -> None:
    kids, sets, travel = _synthetic_la(1500, 80, seed, cutoff)
    for config in (EligibilityConfig(), EligibilityConfig(60.0, 40.0, False)):
        _assert_same_arcs(
            build_arcs(kids, sets, travel, config),
            reference_build_arcs(kids, sets, travel, config),
        )


def test_shuffled_matrix_and_unknown_preferences_match_the_pair_by_pair_rules() -> None:
    kids, sets, travel = _synthetic_la(400, 30, 4, 45.0)
    kids[0] = kids[0].model_copy(update={"preferences": ("not-a-urn", sets[3].urn)})
    order = np.random.default_rng(0).permutation(len(travel.rows))
    shuffled = TravelTimeMatrix(
        travel.child_ids,
        travel.setting_urns,
        travel.rows[order],
        travel.cols[order],
        travel.minutes[order],
        travel.model,
    )
    reordered = shuffled.reindexed(travel.child_ids[::-1], travel.setting_urns)
    for matrix_ in (shuffled, reordered):
        _assert_same_arcs(
            build_arcs(kids, sets, matrix_), reference_build_arcs(kids, sets, matrix_)
        )


@hyp_settings(max_examples=60, deadline=None)
@given(placement_instances(max_children=6, max_settings=4), st.booleans())
def test_factory_arcs_match_the_pair_by_pair_rules(
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix], exempt: bool
) -> None:
    kids, sets, travel = instance
    config = EligibilityConfig(preferences_exempt_from_travel_limit=exempt)
    _assert_same_arcs(
        build_arcs(kids, sets, travel, config), reference_build_arcs(kids, sets, travel, config)
    )
