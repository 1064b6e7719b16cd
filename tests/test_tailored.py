from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.models import Child, PlacementKind, PrimaryNeed, Provision, ProvisionKind, Setting
from matcher.tailored import TailoredListConfig, TailoredListModel
from matcher.travel import TravelTimeMatrix
from tests.factories import child, matrix, placement_instances, setting


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_instances(max_children=8, max_settings=4), st.integers(1, 4))
def test_lists_hold_the_plan_every_preference_and_every_exclusion_reason(
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix], max_options: int
) -> None:
    children, settings_, travel = instance
    model = TailoredListModel(children, settings_, travel)
    lists = model.lists(config=TailoredListConfig(max_options=max_options))
    for c, tl, row in zip(children, lists, model.plan.placements, strict=True):
        assert tl.child_id == c.child_id == row.child_id
        assert tl.proposed_urn == row.setting_urn
        proposed = [o for o in tl.options if o.proposed]
        if row.setting_urn is None:
            assert proposed == []
        else:
            assert [o.urn for o in proposed] == [row.setting_urn]
            assert proposed[0].marginal is not None
            assert proposed[0].marginal.key == (0, 0, 0, 0.0, 0)
        for e in tl.excluded:
            assert e.reasons, "every excluded setting needs a reason"
        assert [p.rank for p in tl.preferences] == list(range(1, len(c.preferences) + 1))
        for p in tl.preferences:
            assert p.ground and p.evidence
            assert p.met == (row.preference_rank == p.rank)
            listed = any(o.urn == p.urn for o in tl.options)
            shut_out = any(e.urn == p.urn for e in tl.excluded)
            assert listed or shut_out, "a preference is either an option or an exclusion"
        # The list is ordered by what naming each option costs the LA-wide plan.
        keys = [(o.marginal is None, o.marginal.key if o.marginal else ()) for o in tl.options]
        assert keys == sorted(keys)
        others = [o for o in tl.options if not o.proposed and not o.preference_rank]
        kinds = {o.placement_kind for o in others}
        assert len(others) <= max(max_options, len(kinds))


def test_unmet_preference_over_capacity_says_who_would_lose() -> None:
    # Both want school 1 (one place); b is further from school 2, so a is refused.
    kids = [child("a", preferences=("1",)), child("b", preferences=("1",))]
    sets = [setting("1", total_places=1), setting("2", total_places=2)]
    travel = matrix(kids, sets, np.array([[10.0, 12.0], [10.0, 40.0]]))
    model = TailoredListModel(kids, sets, travel)
    a = model.for_child("a")
    assert a.proposed_urn == "2"
    statement = a.preferences[0]
    assert not statement.met
    assert statement.ground == "incompatible with the efficient use of resources"
    assert "+28.0 minutes of travel" in statement.evidence
    school_1 = next(o for o in a.options if o.urn == "1")
    assert school_1.marginal is not None and school_1.marginal.minutes == 28.0
    assert school_1.places_left == 1


def test_unsuitable_preference_gives_the_suitability_ground() -> None:
    kids = [child("a", primary_need=PrimaryNeed.SLD, preferences=("1",))]
    sets = [setting("1"), setting("2", setting_type="special")]
    model = TailoredListModel(kids, sets, matrix(kids, sets, np.array([[5.0, 20.0]])))
    statement = model.for_child("a").preferences[0]
    assert statement.ground.startswith("unsuitable")
    assert "not suitable under the child's EHCP" in statement.evidence


def test_mix_has_the_best_option_of_each_suitable_kind() -> None:
    rp = Provision(
        kind=ProvisionKind.RESOURCED_PROVISION, designated_needs=frozenset({"ASD"}), places=3
    )
    kids = [child("a")]
    sets = [
        *(setting(str(j), total_places=5) for j in range(1, 6)),
        setting("9", provisions=(rp,)),
        setting("10", setting_type="special", designated_needs=frozenset({"ASD"})),
    ]
    minutes = np.array([[3.0, 4.0, 5.0, 6.0, 7.0, 30.0, 40.0]])
    model = TailoredListModel(kids, sets, matrix(kids, sets, minutes))
    tl = model.for_child("a", TailoredListConfig(max_options=2))
    kinds = {o.placement_kind for o in tl.options}
    assert {PlacementKind.MAINSTREAM, PlacementKind.RESOURCED_PROVISION, PlacementKind.SPECIAL} <= (
        kinds
    )
    rp_row = next(o for o in tl.options if o.placement_kind is PlacementKind.RESOURCED_PROVISION)
    assert rp_row.needs_matched == ("ASD",)
    assert rp_row.why_listed == "best resourced provision option"


def test_unknown_child_is_a_clear_error() -> None:
    kids = [child("a")]
    sets = [setting("1")]
    model = TailoredListModel(kids, sets, matrix(kids, sets, np.array([[5.0]])))
    with pytest.raises(KeyError, match="no child with id 'zz'"):
        model.for_child("zz")


def test_exclusions_beyond_the_limit_are_counted_by_reason_but_preferences_always_shown() -> None:
    kids = [child("a", preferences=("9",))]
    sets = [setting(str(j), sex_admitted="girls") for j in range(1, 10)]
    minutes = np.arange(1.0, 10.0)[None, :]
    model = TailoredListModel(kids, sets, matrix(kids, sets, minutes))
    tl = model.lists(config=TailoredListConfig(max_excluded=3))[0]
    shown = [e.urn for e in tl.excluded]
    assert shown == ["1", "2", "3", "9"]  # nearest three, and the preference however far
    assert tl.excluded_not_shown == 5
    assert tl.excluded_not_shown_reasons == (
        ("single-sex setting does not admit the child's sex", 5),
    )
    everything = model.lists(config=TailoredListConfig(max_excluded=None))[0]
    assert len(everything.excluded) == 9 and everything.excluded_not_shown == 0


def test_a_preference_refused_so_another_family_keeps_theirs_says_so() -> None:
    from tests.test_placement import three_families

    kids, sets, travel = three_families()
    model = TailoredListModel(kids, sets, travel)
    first = model.for_child("C1").preferences[0]
    assert (first.urn, first.met) == ("W", False)
    assert first.ground == "incompatible with the efficient education of others"
    assert "leave 1 other family with none of their parents' preferences met" in first.evidence
    west = next(o for o in model.for_child("C1").options if o.urn == "W")
    assert west.marginal is not None
    assert (west.marginal.children_unplaced, west.marginal.preferences_unmet) == (0, 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    placement_instances(max_children=8, max_settings=4),
    st.integers(1, 4),
    st.sampled_from([None, 15.0, 60.0]),
    st.booleans(),
    st.sampled_from([None, 0, 1, 3]),
    st.data(),
)
def test_every_list_at_once_equals_each_child_listed_on_its_own(
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix],
    max_options: int,
    max_minutes: float | None,
    one_of_each_kind: bool,
    max_excluded: int | None,
    data: st.DataObject,
) -> None:
    from tests.tailored_reference import reference_list

    children, settings_, travel = instance
    model = TailoredListModel(children, settings_, travel)
    config = TailoredListConfig(max_options, max_minutes, one_of_each_kind, max_excluded)
    # Any order, a child asked for twice included: each slot gets that child's own list.
    wanted = data.draw(st.lists(st.integers(0, len(children) - 1), min_size=1, max_size=10))
    expected = [reference_list(model, i, config) for i in wanted]
    assert model.lists(wanted, config) == expected
    assert model.lists(config=config) == [
        reference_list(model, i, config) for i in range(len(children))
    ]


def test_lists_repeat_a_child_asked_for_twice() -> None:
    kids = [child("a", preferences=("2",)), child("b")]
    sets = [setting("1", total_places=1), setting("2", total_places=1), setting("3")]
    model = TailoredListModel(kids, sets, matrix(kids, sets, np.array([[5.0, 9, 20], [6, 7, 8]])))
    a, b = model.for_child("a"), model.for_child("b")
    assert model.lists([1, 0, 1]) == [b, a, b]
