"""Caseload and settings files read and checked a column at a time (issue 16).

The columnar loaders must be invisible to users: the same children and settings, field for
field, as the row checker builds, and the same problems, in the same words and order. The
problem lists below were pinned by running the row-by-row loader (matcher/io.py before the
split) on these crafted files; the loaders are also compared with the row checker, which is
kept as the reference, on a synthetic LA written in several spellings.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from pydantic import BaseModel

from geodata.synthetic import synthetic_caseload, synthetic_settings
from matcher import arrow_csv, caseload_columns, io
from matcher.caseload_columns import checked_children, checked_settings
from matcher.caseload_rows import (
    SETTING_COLUMNS,
    children_by_rows,
    is_child_column,
    preference_columns,
    settings_by_rows,
)
from matcher.input_tables import InputError, InputTable, read_table
from matcher.input_writers import (
    CHILD_WRITE_COLUMNS,
    child_row,
    setting_row,
    write_children,
    write_settings,
)
from matcher.models import Child, Location, Setting
from tests.conftest import DATA

YEAR = date(2026, 9, 1)
ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# Crafted files: each row one mistake an officer makes (or a spelling the reader accepts)

CHILD_HEADER = (
    "child_id",
    "nc_year",
    "date_of_birth",
    "sex",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "home_la_code",
    "primary_need",
    "secondary_needs",
    "has_ehcp",
    "current_setting",
    "preferences",
    "sibling_group",
    "requirements",
    "suitable_kinds",
    "top_up_band",
    "forename",
)
GOOD_CHILD = {
    "nc_year": "7",
    "sex": "F",
    "latitude": "52.242",
    "longitude": "0.718",
    "home_la_code": "935",
    "primary_need": "ASD",
    "secondary_needs": "SLCN",
    "has_ehcp": "yes",
    "preferences": "990004;990003",
    "top_up_band": "B",
    "forename": "Alex",
}
CHILD_EDITS: tuple[dict[str, str], ...] = (
    {},
    {"child_id": "C01"},  # a duplicate of row 2
    {"child_id": "C\u202e03"},
    {"child_id": "C" * 65},
    {"nc_year": "Y7x"},
    {"nc_year": "25"},
    {"nc_year": "-3"},
    {"nc_year": "", "date_of_birth": "2025-01-01"},
    {"nc_year": "", "date_of_birth": "31/02/2014"},
    {"nc_year": "", "date_of_birth": ""},
    {"nc_year": "", "date_of_birth": "14/05/2015"},  # good: a UK date
    {"nc_year": "R"},  # good
    {"nc_year": "Year 10"},  # good
    {"longitude": ""},
    {"latitude": "abc"},
    {"latitude": "inf"},
    {"latitude": "95"},
    {"latitude": "0.718", "longitude": "52.242"},
    {"latitude": "48.0", "longitude": "-20.0"},
    {"latitude": "52,24"},
    {"latitude": "", "longitude": "", "easting": "586782", "northing": "283211"},  # good
    {"latitude": "", "longitude": "", "easting": "586782", "northing": ""},
    {"latitude": "", "longitude": "", "easting": "-5", "northing": "283211"},
    {"latitude": "", "longitude": "", "easting": "100", "northing": "100"},  # good: Scilly
    {"latitude": "", "longitude": ""},
    {"primary_need": ""},
    {"primary_need": "AUT"},
    {"primary_need": " autistic spectrum disorder "},  # good
    {"secondary_needs": "ASD, SLCN"},
    {"secondary_needs": "ASD;XYZ;QQ"},
    {"sex": "X"},
    {"sex": "female"},  # good
    {"has_ehcp": "maybe"},
    {"has_ehcp": "FALSE"},  # good
    {"preferences": "990001;990001"},
    {"preferences": "990001,990002"},  # good: a comma is read as a separator
    {"requirements": "lift"},
    {"requirements": "Wheelchair;nursing"},  # good
    {"suitable_kinds": "school"},
    {"suitable_kinds": "RP;special"},  # good
    {"child_id": "", "forename": "Sam"},
    {"child_id": "'=C40"},  # good: an id as sendmatch writes it, apostrophe and all
    {"child_id": " C41 ", "current_setting": "990001", "sibling_group": "S1"},  # good
    {"nc_year": "30", "latitude": "x", "primary_need": "", "sex": "?", "has_ehcp": "2"},
    {"home_la_code": "", "top_up_band": "", "secondary_needs": "", "preferences": ""},  # good
    {"child_id": "C01", "nc_year": "N1"},  # a second duplicate, good otherwise
)
# Pinned from the row-by-row loader; a blank line follows the sixth child (row 7).
CHILD_PROBLEMS: list[tuple[int | None, str | None, str]] = [
    (3, "child_id", "duplicate child_id 'C01': also on row 2"),
    (
        4,
        "child_id",
        "an id may hold printable characters only: no control, formatting or "
        "bidirectional-override codes",
    ),
    (5, "child_id", "must be at most 64 characters long"),
    (6, "nc_year", "'Y7x' is not an NC year; use N1, N2, R, or a year such as 7 or Y7"),
    (7, "nc_year", "must be 20 or less (got 25)"),
    (9, "nc_year", "must be -2 or more (got -3)"),
    (
        10,
        "date_of_birth",
        "born 2025-01-01 gives NC year -3 for the school year starting 2026-09-01, outside N1 "
        "to 20; check the date or give nc_year",
    ),
    (11, "date_of_birth", "'31/02/2014' is not a date; use 2014-03-05 or 05/03/2014"),
    (12, "nc_year", "give nc_year or date_of_birth"),
    (16, "longitude", "required but blank"),
    (17, "latitude", "'abc' is not a number"),
    (18, "latitude", "'inf' is not a number"),
    (19, "latitude", "must be 90.0 or less (got 95.0)"),
    (
        20,
        "latitude",
        "latitude 0.718, longitude 52.242 is outside the UK; are latitude and longitude swapped?",
    ),
    (21, "latitude", "latitude 48, longitude -20 is outside the UK"),
    (22, "latitude", "must be 90.0 or less (got 5224.0)"),
    (24, "northing", "required but blank"),
    (25, "easting", "easting -5, northing 283211 is outside the British National Grid"),
    (27, "latitude", "no location: give latitude and longitude, or easting and northing"),
    (28, "primary_need", "required but blank"),
    (
        29,
        "primary_need",
        "unknown need code 'AUT'; expected one of SPLD, MLD, SLD, PMLD, SEMH, SLCN, HI, VI, MSI, "
        "PD, ASD, OTH, NSA",
    ),
    (
        31,
        "secondary_needs",
        "unknown need code 'ASD, SLCN'; expected one of SPLD, MLD, SLD, PMLD, SEMH, SLCN, HI, "
        "VI, MSI, PD, ASD, OTH, NSA (separate several needs with ';')",
    ),
    (
        32,
        "secondary_needs",
        "unknown need code 'XYZ'; expected one of SPLD, MLD, SLD, PMLD, SEMH, SLCN, HI, VI, MSI, "
        "PD, ASD, OTH, NSA; unknown need code 'QQ'; expected one of SPLD, MLD, SLD, PMLD, SEMH, "
        "SLCN, HI, VI, MSI, PD, ASD, OTH, NSA",
    ),
    (33, "sex", "'X' is not one of: F, M, U"),
    (35, "has_ehcp", "'maybe' is not yes or no"),
    (37, "preferences", "a setting appears twice in the ranked preferences"),
    (39, "requirements", "'lift' is not one of: wheelchair_access, residential, nursing"),
    (
        41,
        "suitable_kinds",
        "'school' is not one of: mainstream, resourced_provision, special, independent, "
        "alternative_provision",
    ),
    (43, "child_id", "required but blank"),
    (46, "latitude", "'x' is not a number"),
    (46, "sex", "'?' is not one of: F, M, U"),
    (46, "primary_need", "required but blank"),
    (46, "has_ehcp", "'2' is not yes or no"),
    (46, "nc_year", "must be 20 or less (got 30)"),
    (48, "child_id", "duplicate child_id 'C01': also on row 2"),
]

SETTING_HEADER = (
    "urn",
    "name",
    "setting_type",
    "la_code",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "low_age",
    "high_age",
    "sex_admitted",
    "designated_needs",
    "facilities",
    "total_places",
    "on_roll",
    "year_places",
    "year_on_roll",
    "rp_needs",
    "rp_places",
    "rp_on_roll",
    "unit_needs",
    "unit_places",
    "unit_on_roll",
    "annual_fee",
    "top_up",
)
GOOD_SETTING = {
    "name": "Lark Valley Primary School",
    "setting_type": "mainstream",
    "la_code": "935",
    "latitude": "52.253",
    "longitude": "0.705",
    "low_age": "4",
    "high_age": "11",
    "sex_admitted": "mixed",
    "facilities": "wheelchair_access",
    "total_places": "420",
    "on_roll": "409",
    "year_places": "0:60;4:60",
    "year_on_roll": "0:57;4:59",
    "rp_needs": "ASD",
    "rp_places": "12",
    "rp_on_roll": "9",
}
NO_RP = {"rp_needs": "", "rp_places": "", "rp_on_roll": ""}
SETTING_EDITS: tuple[dict[str, str], ...] = (
    {},
    {"urn": "990001"},  # a duplicate of row 2
    {"urn": "9" * 33},
    {"name": ""},
    {"setting_type": "academy"},
    {"setting_type": "Special", **NO_RP},  # good
    {"low_age": "x"},
    {"high_age": "30"},
    {"low_age": "11", "high_age": "4"},
    {"sex_admitted": "co-ed"},
    {"designated_needs": "AUT"},
    {"facilities": "pool"},
    {"total_places": "-1"},
    {"total_places": "1e30"},
    {"total_places": "lots"},
    {"on_roll": "5.5"},
    {"year_places": "7-30"},
    {"year_places": "7:30;7:28"},
    {"year_places": "", "year_on_roll": "0:57"},
    {"rp_places": ""},
    {**NO_RP, "unit_places": "4"},
    {"setting_type": "special"},  # a resourced provision outside mainstream
    {"setting_type": "independent_special", **NO_RP},
    {"annual_fee": "£20,000,000"},
    {"top_up": "abc"},
    {"latitude": "", "longitude": "", "easting": "9000000", "northing": "1"},
    {"latitude": "40.0", "longitude": "10.0"},
    {"year_places": "R:30;7:00:00", "year_on_roll": "R:28"},  # good
    {"annual_fee": "£55,000.00", "top_up": "12000"},  # good
    {"low_age": "", "high_age": "", "total_places": "", "setting_type": ""},
)
# Pinned from the row-by-row loader; a blank line follows the fourth setting (row 5).
SETTING_PROBLEMS: list[tuple[int | None, str | None, str]] = [
    (3, "urn", "duplicate urn '990001': also on row 2"),
    (4, "urn", "must be at most 32 characters long"),
    (5, "name", "required but blank"),
    (
        7,
        "setting_type",
        "'academy' is not one of: mainstream, special, non_maintained_special, "
        "independent_special, alternative_provision, further_education, specialist_post16",
    ),
    (9, "low_age", "'x' is not a whole number"),
    (10, "high_age", "must be 26 or less (got 30)"),
    (11, None, "age range inverted or empty: low_age 11 >= high_age 4"),
    (12, "sex_admitted", "'co-ed' is not one of: mixed, boys, girls"),
    (
        13,
        "designated_needs",
        "unknown need code 'AUT'; expected one of SPLD, MLD, SLD, PMLD, SEMH, SLCN, HI, VI, MSI, "
        "PD, ASD, OTH, NSA",
    ),
    (14, "facilities", "'pool' is not one of: wheelchair_access, residential, nursing"),
    (15, "total_places", "must be 0 or more (got -1)"),
    (16, "total_places", "must be 10,000 or less (got 1e+30)"),
    (17, "total_places", "'lots' is not a whole number"),
    (18, "on_roll", "'5.5' is not a whole number"),
    (19, "year_places", "'7-30' should be NC year:number, for example 7:30"),
    (19, None, "year_on_roll names years without year_places: [0, 4]"),
    (20, "year_places", "NC year 7 is given twice"),
    (20, None, "year_on_roll names years without year_places: [0, 4]"),
    (21, None, "year_on_roll names years without year_places: [0]"),
    (
        22,
        "rp_places",
        "the setting has a resourced provision (rp_needs or rp_on_roll given) but no rp_places",
    ),
    (23, "unit_needs", "a resourced provision or SEN unit must be designated for a need"),
    (24, None, "resourced provisions and SEN units belong to mainstream settings"),
    (25, None, "independent and non-maintained settings need an annual_fee"),
    (26, "annual_fee", "must be 10,000,000 or less (got 20,000,000)"),
    (27, "top_up", "'abc' is not an amount in pounds"),
    (28, "easting", "easting 9e+06, northing 1 is outside the British National Grid"),
    (29, "latitude", "latitude 40, longitude 10 is outside the UK"),
    (32, "setting_type", "required but blank"),
    (32, "low_age", "required but blank"),
    (32, "high_age", "required but blank"),
    (32, "total_places", "required but blank"),
]

PREFERENCE_HEADER = (
    "child_id",
    "nc_year",
    "latitude",
    "longitude",
    "primary_need",
    "preference_1",
    "pref_2",
    "preference3",
)
PREFERENCE_ROWS: tuple[tuple[str, ...], ...] = (
    ("P01", "7", "52.2", "0.7", "ASD", "990001", "990002", "990003"),
    ("P02", "7", "52.2", "0.7", "ASD", "", "990002", ""),
    ("P03", "7", "52.2", "0.7", "ASD", "990001", "", "990003"),
    ("P04", "7", "52.2", "0.7", "ASD", "990001", "990001", ""),
    ("P05", "7", "52.2", "0.7", "ASD", "", "", ""),
    ("P06", "7", "52.2", "0.7", "ASD", "'=1", "990001", ""),
)
PREFERENCE_PROBLEMS: list[tuple[int | None, str | None, str]] = [
    (
        3,
        "pref_2",
        "pref_2 is given but preference_1 is blank; fill the preferences in rank order",
    ),
    (
        4,
        "preference3",
        "preference3 is given but pref_2 is blank; fill the preferences in rank order",
    ),
    (5, "preference_1", "a setting appears twice in the ranked preferences"),
]


def crafted(edits: Sequence[Mapping[str, str]], good: Mapping[str, str], key: str) -> list[dict]:
    rows = []
    for n, edit in enumerate(edits, start=1):
        row = {**good, key: f"{'C' if key == 'child_id' else '9900'}{n:02d}"}
        row.update(edit)
        rows.append(row)
    return rows


def write_rows(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Mapping[str, str]],
    blank_after: int | None = None,
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for n, row in enumerate(rows):
            writer.writerow([row.get(h, "") for h in header])
            if n == blank_after:
                writer.writerow([""] * len(header))
    return path


def crafted_children(tmp_path: Path) -> Path:
    rows = crafted(CHILD_EDITS, GOOD_CHILD, "child_id")
    return write_rows(tmp_path / "children.csv", CHILD_HEADER, rows, blank_after=5)


def crafted_settings(tmp_path: Path) -> Path:
    rows = crafted(SETTING_EDITS, GOOD_SETTING, "urn")
    return write_rows(tmp_path / "settings.csv", SETTING_HEADER, rows, blank_after=3)


def located(problems: Sequence[io.InputProblem]) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.field, p.message) for p in problems]


def children_both_ways(path: Path, extra_areas: Sequence[io.Area] = ()) -> tuple[Any, Any]:
    table = read_table(path, keep=is_child_column)
    pref_columns = preference_columns(table.columns)
    return (
        checked_children(table, YEAR, pref_columns, extra_areas),
        children_by_rows(table, YEAR, pref_columns, extra_areas),
    )


def settings_both_ways(path: Path) -> tuple[Any, Any]:
    table = read_table(path, keep=SETTING_COLUMNS.__contains__)
    return checked_settings(table), settings_by_rows(table)


@pytest.fixture
def rows_checked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The numbers of the rows the columnar loaders hand to the row checker."""
    handed: list[int] = []
    for name in ("child_from_row", "setting_from_row"):
        checker = getattr(caseload_columns, name)

        def counted(file: str, row: Any, *args: Any, checker: Any = checker) -> Any:
            handed.append(row.number)
            return checker(file, row, *args)

        monkeypatch.setattr(caseload_columns, name, counted)
    return handed


def assert_same_models(columnar: Sequence[BaseModel], by_rows: Sequence[BaseModel]) -> None:
    """Equal field for field, and with the same fields given (what ``exclude_unset`` sees)."""
    assert len(columnar) == len(by_rows)
    for built, checked in zip(columnar, by_rows, strict=True):
        assert type(built) is type(checked)
        assert built == checked
        assert built.model_fields_set == checked.model_fields_set
        assert built.model_dump(exclude_unset=True) == checked.model_dump(exclude_unset=True)
        for name in type(built).model_fields:
            assert type(getattr(built, name)) is type(getattr(checked, name)), name


# --------------------------------------------------------------------------------------------
# The same problems as before


def test_crafted_caseload_gives_the_pinned_problems(tmp_path: Path) -> None:
    path = crafted_children(tmp_path)
    with pytest.raises(InputError) as caught:
        io.load_children(path, YEAR)
    assert located(caught.value.problems) == CHILD_PROBLEMS
    assert {p.file for p in caught.value.problems} == {"children.csv"}


def test_crafted_settings_give_the_pinned_problems(tmp_path: Path) -> None:
    path = crafted_settings(tmp_path)
    with pytest.raises(InputError) as caught:
        io.load_settings(path)
    assert located(caught.value.problems) == SETTING_PROBLEMS


def test_numbered_preference_columns_give_the_pinned_problems(tmp_path: Path) -> None:
    rows = [dict(zip(PREFERENCE_HEADER, row, strict=True)) for row in PREFERENCE_ROWS]
    path = write_rows(tmp_path / "children.csv", PREFERENCE_HEADER, rows)
    with pytest.raises(InputError) as caught:
        io.load_children(path, YEAR)
    assert located(caught.value.problems) == PREFERENCE_PROBLEMS


def test_crafted_files_read_by_columns_and_by_rows_agree(
    tmp_path: Path, rows_checked: list[int]
) -> None:
    (children, problems), (children_ref, problems_ref) = children_both_ways(
        crafted_children(tmp_path)
    )
    assert problems == problems_ref
    assert {p.row for p in problems} <= set(rows_checked)
    assert 2 not in rows_checked  # a good row is read by columns
    assert_same_models(children, children_ref)  # the good rows among the bad
    (settings_, problems), (settings_ref, problems_ref) = settings_both_ways(
        crafted_settings(tmp_path)
    )
    assert problems == problems_ref
    assert_same_models(settings_, settings_ref)


def test_crafted_xlsx_gives_the_same_problems_as_csv(tmp_path: Path) -> None:
    """The workbook reader feeds the same column checks: the same problems, row for row."""
    for path, load in (
        (crafted_children(tmp_path), lambda p: io.load_children(p, YEAR)),
        (crafted_settings(tmp_path), io.load_settings),
    ):
        with path.open(newline="", encoding="utf-8") as fh:
            records = list(csv.reader(fh))
        workbook = Workbook()
        sheet = workbook.active
        assert sheet is not None
        for record in records:
            sheet.append([cell or None for cell in record])
        xlsx = path.with_suffix(".xlsx")
        workbook.save(xlsx)
        problems = []
        for each in (path, xlsx):
            with pytest.raises(InputError) as caught:
                load(each)
            problems.append(located(caught.value.problems))
        assert problems[0] == problems[1]


# --------------------------------------------------------------------------------------------
# The same children and settings as before


@pytest.fixture(scope="module")
def synthetic_la() -> tuple[list[Child], list[Setting]]:
    rng = np.random.default_rng(16)
    lat = 52.63 + rng.normal(0.0, 0.03, 2000)
    lon = -1.13 + rng.normal(0.0, 0.05, 2000)
    settings_ = synthetic_settings(120, lat, lon, seed=16, expected_children=3000)
    children = synthetic_caseload(3000, settings_, lat, lon, seed=16)
    return children, settings_


def test_synthetic_la_reads_back_the_same_by_columns_and_by_rows(
    tmp_path: Path, synthetic_la: tuple[list[Child], list[Setting]], rows_checked: list[int]
) -> None:
    children, settings_ = synthetic_la
    write_children(children, tmp_path / "children.csv")
    write_settings(settings_, tmp_path / "settings.csv")

    (read, problems), (read_ref, problems_ref) = children_both_ways(tmp_path / "children.csv")
    assert problems == problems_ref == []
    assert_same_models(read, read_ref)
    assert read == children

    (read_s, problems), (read_s_ref, problems_ref) = settings_both_ways(tmp_path / "settings.csv")
    assert problems == problems_ref == []
    assert_same_models(read_s, read_s_ref)
    assert read_s == settings_
    assert rows_checked == []  # every row read by columns


def _spelled_differently(row: dict[str, str], n: int, to_grid: Any) -> dict[str, str]:
    """A child's row as officers type it: grid references, years, yes/no, needs by name."""
    if n % 3 == 0:
        east, north = to_grid.transform(float(row["longitude"]), float(row["latitude"]))
        row.update(latitude="", longitude="", easting=f"{east:.1f}", northing=f"{north:.1f}")
    if n % 4 == 1:
        row["nc_year"] = {"R": "Reception", "N1": "nursery 1"}.get(
            row["nc_year"], f"Year {row['nc_year']}"
        )
    if n % 5 == 2:
        row["has_ehcp"] = {"yes": "TRUE", "no": "FALSE"}[row["has_ehcp"]]
        row["sex"] = {"F": "female", "M": "male", "U": "unknown"}[row["sex"]]
    if n % 7 == 3:
        row["primary_need"] = row["primary_need"].lower()
        row["preferences"] = row["preferences"].replace(";", ", ")
    if n % 11 == 4:
        row["child_id"] = f" {row['child_id']} "
    return row


def test_every_spelling_reads_the_same_by_columns_and_by_rows(
    tmp_path: Path, synthetic_la: tuple[list[Child], list[Setting]], rows_checked: list[int]
) -> None:
    from pyproj import Transformer

    children, _ = synthetic_la
    to_grid = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    rows = [_spelled_differently(child_row(c), n, to_grid) for n, c in enumerate(children)]
    header = [*CHILD_WRITE_COLUMNS, "easting", "northing"]
    path = write_rows(tmp_path / "children.csv", header, rows)

    (read, problems), (read_ref, problems_ref) = children_both_ways(path)
    assert problems == problems_ref == []
    assert_same_models(read, read_ref)
    assert [c.child_id for c in read] == [c.child_id for c in children]
    assert rows_checked == []


def test_the_demo_road_network_area_is_allowed_by_columns_as_by_rows(tmp_path: Path) -> None:
    helsinki = io.Area("the road network", (60.1, 60.3), (24.8, 25.1))
    rows = crafted([{}, {"latitude": "60.17", "longitude": "24.94"}], GOOD_CHILD, "child_id")
    path = write_rows(tmp_path / "children.csv", CHILD_HEADER, rows)
    (read, problems), (read_ref, problems_ref) = children_both_ways(path, [helsinki])
    assert problems == problems_ref == []
    assert_same_models(read, read_ref)
    assert read[1].home == Location(latitude=60.17, longitude=24.94)
    (_, problems), (_, problems_ref) = children_both_ways(path)  # without the network
    assert located(problems) == located(problems_ref)
    assert located(problems) == [
        (3, "latitude", "latitude 60.17, longitude 24.94 is outside the UK")
    ]


def test_settings_written_with_provisions_read_back_the_same(
    tmp_path: Path, synthetic_la: tuple[list[Child], list[Setting]]
) -> None:
    _, settings_ = synthetic_la
    with_provisions = [s for s in settings_ if s.provisions]
    assert with_provisions, "the synthetic LA has resourced provisions to read back"
    rows = [setting_row(s) for s in settings_]
    path = write_rows(tmp_path / "settings.csv", list(rows[0]), rows)
    (read, _), (read_ref, _) = settings_both_ways(path)
    assert_same_models(read, read_ref)
    assert read == settings_


def test_the_columnar_checks_know_every_rule_of_the_child_model() -> None:
    """Children are built without a second validation, so the checks must cover every field
    and validator of the model: a new one fails here until the checks learn it."""
    assert tuple(Child.model_fields) == caseload_columns.CHILD_FIELDS_CHECKED
    validators = set(Child.__pydantic_decorators__.field_validators)
    validators |= set(Child.__pydantic_decorators__.model_validators)
    assert validators == caseload_columns.CHILD_VALIDATORS_CHECKED
    id_limits = {type(m).__name__: m for m in Child.model_fields["child_id"].metadata}
    assert id_limits["MaxLen"].max_length == caseload_columns.CHILD_ID_MAX_LENGTH
    point_fields = {
        name: sorted(repr(m) for m in info.metadata) for name, info in Location.model_fields.items()
    }
    assert point_fields == {
        "latitude": ["Ge(ge=-90)", "Le(le=90)"],
        "longitude": ["Ge(ge=-180)", "Le(le=180)"],
    }
    assert not Location.__pydantic_decorators__.field_validators


# --------------------------------------------------------------------------------------------
# pyarrow's CSV reader and the csv module see the same cells

_CELL_TEXT = st.text(
    alphabet=["a", "7", ",", '"', "\n", "\r", " ", "'", "=", "é", "\t", "\x00", "\xa0", "\x1c"]
)


def _read_with(path: Path, arrow: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as patch:
        if not arrow:

            def refuse(*args: object) -> None:
                raise arrow_csv.NotPlainCsv("the csv module's way, for comparison")

            patch.setattr(arrow_csv, "ArrowCsv", refuse)
        try:
            table = read_table(path)
        except InputError as exc:
            return [str(p) for p in exc.problems]
    assert isinstance(table, InputTable)
    return table.columns, table.numbers, table.cells


@settings(max_examples=150, deadline=None)
@given(st.lists(_CELL_TEXT, min_size=1, max_size=4), st.lists(_CELL_TEXT, max_size=40))
def test_pyarrow_reads_every_csv_as_the_csv_module_does(
    tmp_path_factory: pytest.TempPathFactory, header: list[str], body: list[str]
) -> None:
    """Random files (ragged rows, quotes, blank lines, line endings, apostrophes): the fast
    reader, with its fallback, gives the same table or the same problems."""
    path = tmp_path_factory.mktemp("csv") / "table.csv"
    path.write_bytes((",".join(header) + "\n" + "".join(body)).encode("utf-8"))
    monkeypatch = pytest.MonkeyPatch()
    try:
        assert _read_with(path, True, monkeypatch) == _read_with(path, False, monkeypatch)
    finally:
        monkeypatch.undo()


@st.composite
def _rectangular_csv(draw: st.DrawFn) -> str:
    """A CSV as spreadsheets write them: rows as wide as the header, cells quoted where they
    must be (and some where they need not), blank lines, any of the three line endings."""
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(_CELL_TEXT, min_size=width, max_size=width), max_size=12))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = []
    for row in rows:
        cells = []
        for cell in row:
            quoted = any(c in cell for c in ',"\r\n') or draw(st.booleans())
            cells.append('"' + cell.replace('"', '""') + '"' if quoted else cell)
        lines.append(",".join(cells))
        if draw(st.integers(0, 9)) == 0:
            lines.append("")
    return ending.join(lines) + draw(st.sampled_from(["", ending]))


@settings(max_examples=150, deadline=None)
@given(_rectangular_csv())
def test_pyarrow_reads_spreadsheet_csv_as_the_csv_module_does(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """The files pyarrow does read (not the ragged ones it hands back) read cell for cell as
    the csv module reads them, blank rows and apostrophes included."""
    path = tmp_path_factory.mktemp("csv") / "table.csv"
    path.write_bytes(text.encode("utf-8"))
    monkeypatch = pytest.MonkeyPatch()
    try:
        assert _read_with(path, True, monkeypatch) == _read_with(path, False, monkeypatch)
    finally:
        monkeypatch.undo()


def test_blank_cells_are_found_as_python_trims_them() -> None:
    """pyarrow finds blank rows by a pattern of what ``str.strip`` removes: the same set."""
    whitespace = {c for c in range(0x110000) if chr(c).isspace()}
    ranges = arrow_csv.PYTHON_WHITESPACE
    assert {c for low, high in ranges for c in range(low, high + 1)} == whitespace


def test_columns_not_kept_never_become_python_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caseload export's names are looked at by pyarrow only to see if a row is blank."""
    converted: list[str] = []
    texts = arrow_csv._texts

    def recorded(column: Any) -> tuple[list[str], bool]:
        found = texts(column)
        converted.extend(found[0])
        return found

    monkeypatch.setattr(arrow_csv, "_texts", recorded)
    rows = crafted([{}, {"child_id": "", "forename": "Sam"}], GOOD_CHILD, "child_id")
    path = write_rows(tmp_path / "children.csv", CHILD_HEADER, rows)
    table = read_table(path, keep=is_child_column)
    assert table.numbers == [2, 3]  # the row with only a name in it is not blank
    assert "C01" in converted
    assert not {"Alex", "Sam"} & set(converted)


def test_a_cell_beyond_the_csv_modules_limit_is_refused_as_before(tmp_path: Path) -> None:
    path = tmp_path / "children.csv"
    path.write_text("child_id,nc_year\nC1," + "7" * (csv.field_size_limit() + 1) + "\n")
    with pytest.raises(InputError) as caught:
        io.load_children(path, YEAR)
    assert located(caught.value.problems) == [
        (None, None, "could not be read as CSV: field larger than field limit (131072)")
    ]


def test_cells_beyond_the_header_and_short_rows_read_as_before(tmp_path: Path) -> None:
    rows = ["child_id,nc_year,primary_need,latitude,longitude", "C1,7,ASD,52.2,0.7,St Mary’s,x"]
    rows += ["C2,7,ASD,52.2", "", "C3,R,SLD,52.2,0.7"]
    path = tmp_path / "children.csv"
    path.write_text("\n".join(rows) + "\n", encoding="cp1252")
    with pytest.raises(InputError) as caught:
        io.load_children(path, YEAR)
    assert located(caught.value.problems) == [(3, "longitude", "required but blank")]


# --------------------------------------------------------------------------------------------
# One module a kind of file, and no cycle between io and fair access


def _imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(done.stdout.split())


def test_file_formats_and_fair_access_do_not_import_each_other() -> None:
    after_io = _imported_after("from matcher import io")
    assert "matcher.fair_access" not in after_io
    assert not {"ortools", "pyarrow", "numpy"} & after_io  # read lazily, when a file is
    assert "matcher.io" not in _imported_after("import matcher.fair_access")


def test_reading_a_caseload_calls_pyarrow_compute_without_importing_it() -> None:
    """``pyarrow.compute`` builds a wrapper per function on import: longer than the reading."""
    after = _imported_after(
        f"from matcher import io\nio.load_round({str(DATA / 'children.csv')!r}, "
        f"{str(DATA / 'settings.csv')!r})"
    )
    assert "pyarrow.csv" in after
    assert "pyarrow.compute" not in after


def test_scenarios_and_assumptions_share_one_problem_type() -> None:
    from matcher.file_problems import FieldProblem, FieldProblems
    from matcher.forecast.knobs import AssumptionProblem, AssumptionsError
    from matcher.planning import ScenarioError, ScenarioProblem

    assert issubclass(AssumptionProblem, FieldProblem)
    assert issubclass(ScenarioProblem, FieldProblem)
    assert issubclass(AssumptionsError, FieldProblems) and issubclass(AssumptionsError, ValueError)
    assert issubclass(ScenarioError, FieldProblems)
    after = _imported_after("import matcher.forecast.knobs")
    assert not {"matcher.placement", "matcher.planning", "ortools"} & after
