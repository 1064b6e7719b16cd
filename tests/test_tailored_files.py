"""Tailored lists written column by column: the same bytes as the row-by-row tables, and the
exclusions each list shows chosen without sorting them all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.eligibility import EXCLUSION_TEXT
from matcher.list_choice import hidden_reasons, shown_exclusions
from matcher.models import Child, Setting
from matcher.output_files import Cell, Table, write_tables
from matcher.system_prices import MarginalCost
from matcher.tailored import (
    TailoredList,
    TailoredListConfig,
    TailoredListModel,
    marginal_text,
    marginal_texts,
)
from matcher.tailored_list_files import (
    EXCLUDED_COLUMNS,
    OPTION_COLUMNS,
    PREFERENCE_COLUMNS,
    TAILORED_SHEETS,
    tailored_list_tables,
    write_tailored_lists,
)
from matcher.travel import TravelTimeMatrix
from tests.factories import child, matrix, placement_instances, setting

FILES = ("lists.csv", "lists_excluded.csv", "lists_preferences.csv")


def reference_tables(lists: list[TailoredList]) -> list[Table]:
    """The lists as they were written before they were held as columns: a dict per row."""
    options: list[dict[str, Cell]] = []
    excluded: list[dict[str, Cell]] = []
    preferences: list[dict[str, Cell]] = []
    for tl in lists:
        for n, o in enumerate(tl.options, start=1):
            m = o.marginal
            options.append(
                {
                    "child_id": tl.child_id,
                    "rank": n,
                    "setting_urn": o.urn,
                    "setting_name": o.name,
                    "setting_type": o.setting_type,
                    "placement_kind": o.placement_kind.value,
                    "provision": o.provision,
                    "needs_matched": ";".join(o.needs_matched) or None,
                    "travel_minutes": round(o.minutes, 1),
                    "places_left": o.places_left,
                    "placement_cost": o.placement_cost,
                    "transport_cost": o.transport_cost,
                    "annual_cost": o.placement_cost + o.transport_cost,
                    "preference_rank": o.preference_rank,
                    "proposed": "yes" if o.proposed else "no",
                    "marginal_children_unplaced": m.children_unplaced if m else None,
                    "marginal_preferences_unmet": m.preferences_unmet if m else None,
                    "marginal_preference_ranks": m.preference_ranks if m else None,
                    "marginal_minutes": m.minutes if m else None,
                    "marginal_pounds": m.pounds if m else None,
                    "marginal_system_cost": o.marginal_text,
                    "why_listed": o.why_listed,
                }
            )
        for e in tl.excluded:
            excluded.append(
                {
                    "child_id": tl.child_id,
                    "setting_urn": e.urn,
                    "setting_name": e.name,
                    "setting_type": e.setting_type,
                    "travel_minutes": None if e.minutes is None else round(e.minutes, 1),
                    "preference_rank": e.preference_rank,
                    "reasons": "; ".join(e.reasons),
                }
            )
        if tl.excluded_not_shown:
            excluded.append(
                {
                    "child_id": tl.child_id,
                    "setting_name": f"({tl.excluded_not_shown} further settings not shown)",
                    "reasons": "; ".join(f"{t} ({n})" for t, n in tl.excluded_not_shown_reasons),
                }
            )
        for p in tl.preferences:
            preferences.append(
                {
                    "child_id": tl.child_id,
                    "rank": p.rank,
                    "setting_urn": p.urn,
                    "setting_name": p.name,
                    "met": "yes" if p.met else "no",
                    "ground": p.ground,
                    "evidence": p.evidence,
                }
            )
    return [
        Table(TAILORED_SHEETS[0], OPTION_COLUMNS, options),
        Table(TAILORED_SHEETS[1], EXCLUDED_COLUMNS, excluded),
        Table(TAILORED_SHEETS[2], PREFERENCE_COLUMNS, preferences),
    ]


def _same_bytes_as_the_tables(lists: list[TailoredList], folder: Path) -> None:
    (folder / "columns").mkdir()
    (folder / "rows").mkdir()
    written = write_tailored_lists(lists, folder / "columns" / "lists.csv")
    write_tables(folder / "rows" / "lists.csv", reference_tables(lists))
    assert [p.name for p in written] == list(FILES)
    for name in FILES:
        assert (folder / "columns" / name).read_bytes() == (folder / "rows" / name).read_bytes()
    # A workbook holds the same values, sheet by sheet, as the rows would give.
    for table, reference in zip(tailored_list_tables(lists), reference_tables(lists), strict=True):
        assert [dict(r) for r in table.records] == [
            {c: r.get(c) for c in table.columns} for r in reference.records
        ]


def test_hostile_ids_and_names_are_written_as_the_tables_write_them(tmp_path: Path) -> None:
    kids = [
        child("=HYPERLINK(1)", preferences=("2", "9")),
        child("-0.71", preferences=("3",)),
        child('a "quoted", id', sex="F"),
        child("@home"),
    ]
    sets = [
        setting("1", name='St "Mary\'s", upper', total_places=1),
        setting("2", name="+44 line\nbreak", total_places=1),
        setting("3", name="-1.5", sex_admitted="girls"),
        setting("4", name="\tTabbed, school", total_places=0),
        *(setting(str(j), name=f"Far {j}", low_age=3, high_age=7) for j in range(5, 12)),
    ]
    minutes = np.tile(np.arange(1.0, 12.0), (len(kids), 1)) + np.arange(len(kids))[:, None]
    model = TailoredListModel(kids, sets, matrix(kids, sets, minutes))
    lists = model.lists(config=TailoredListConfig(max_options=2, max_excluded=3))
    assert any(tl.excluded_not_shown for tl in lists)  # the "further settings" rows too
    _same_bytes_as_the_tables(lists, tmp_path)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    placement_instances(max_children=8, max_settings=5),
    st.sampled_from([None, 0, 1, 3]),
    st.sampled_from([None, 20.0]),
)
def test_every_list_is_written_as_the_tables_write_it(
    tmp_path_factory: pytest.TempPathFactory,
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix],
    max_excluded: int | None,
    max_minutes: float | None,
) -> None:
    children, settings_, travel = instance
    model = TailoredListModel(children, settings_, travel)
    config = TailoredListConfig(max_minutes=max_minutes, max_excluded=max_excluded)
    _same_bytes_as_the_tables(model.lists(config=config), tmp_path_factory.mktemp("lists"))


def test_no_children_writes_the_headers_alone(tmp_path: Path) -> None:
    _same_bytes_as_the_tables([], tmp_path)


def test_a_workbook_keeps_its_three_sheets(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    kids = [child("a", preferences=("1",))]
    sets = [setting("1"), setting("2", sex_admitted="girls")]
    model = TailoredListModel(kids, sets, matrix(kids, sets, np.array([[5.0, 7.0]])))
    out = tmp_path / "lists.xlsx"
    assert write_tailored_lists(model.lists(), out) == [out]
    assert load_workbook(out, read_only=True).sheetnames == list(TAILORED_SHEETS)


_COUNTS = st.integers(-3, 3) | st.integers(-(10**6), 10**6)
_MINUTES = st.sampled_from([0.0, -0.0, 0.05, 0.15, -2.25, 10.05]) | st.floats(
    -1e5, 1e5, allow_nan=False
)
_MARGINALS = st.none() | st.builds(MarginalCost, _COUNTS, _COUNTS, _COUNTS, _MINUTES, _COUNTS)


@given(st.lists(_MARGINALS, max_size=30))
def test_marginal_texts_word_each_cost_as_its_own_description(
    marginals: list[MarginalCost | None],
) -> None:
    assert marginal_texts(marginals) == [marginal_text(m) for m in marginals]


_BITS = [int(flag) for flag in EXCLUSION_TEXT]


@settings(max_examples=200, deadline=None)
@given(st.data(), st.sampled_from([None, 0, 1, 3, 10]))
def test_exclusions_shown_are_the_nearest_and_the_preferences_in_order(
    data: st.DataObject, limit: int | None
) -> None:
    """Against a plain sort of each slot's rows: ties, no route (NaN) and infinity included."""
    sizes = data.draw(st.lists(st.integers(0, 40), min_size=1, max_size=5))
    n = sum(sizes)
    slot = np.repeat(np.arange(len(sizes)), sizes)
    near = st.sampled_from([0.0, 1.5, 1.5, 30.0, 30.0, np.inf, np.nan]) | st.floats(0, 500)
    minutes = np.array(data.draw(st.lists(near, min_size=n, max_size=n)), np.float32)
    setting_ = np.array(data.draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)), np.int32)
    rank = np.array(data.draw(st.lists(st.sampled_from([0] * 8 + [1, 2]), min_size=n, max_size=n)))
    reasons = np.array(
        data.draw(st.lists(st.integers(1, 2 ** len(_BITS) - 1), min_size=n, max_size=n)), np.int32
    )

    expected: list[int] = []
    for k in range(len(sizes)):
        rows = np.flatnonzero(slot == k)
        far = np.nan_to_num(minutes[rows], nan=np.inf)
        rows = rows[np.lexsort((setting_[rows], far))]
        keep = (np.arange(len(rows)) < (len(rows) if limit is None else limit)) | (rank[rows] > 0)
        expected += rows[keep].tolist()
    shown = shown_exclusions(minutes, setting_, slot, rank, limit)
    assert shown.tolist() == expected

    hidden = np.setdiff1d(np.arange(n), shown)
    counted = hidden_reasons(reasons, slot, shown, len(sizes))
    for k, (total, by_reason) in enumerate(counted):
        mine = hidden[slot[hidden] == k]
        assert total == len(mine)
        plain = [
            (text, int(np.count_nonzero(reasons[mine] & bit)))
            for bit, text in zip(_BITS, EXCLUSION_TEXT.values(), strict=True)
        ]
        assert by_reason == tuple((text, c) for text, c in plain if c)
