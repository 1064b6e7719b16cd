"""Reading the three input files and writing placements (through matcher.io).

Bad-row tests edit one cell of the good fixtures in tests/data/io/ and check that the problem
names the file, the row as Excel shows it (header = row 1) and the column to fix.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from matcher import io, output_files
from matcher.io import InputError, InputProblem
from matcher.models import (
    Child,
    Location,
    PlacementKind,
    ProvisionKind,
    Requirement,
    SettingType,
)
from matcher.needs import PrimaryNeed
from matcher.placement import ChildPlacement, PlacementResult, PlacementSummary

DATA = Path(__file__).parent / "data" / "io"
YEAR = date(2026, 9, 1)


# --------------------------------------------------------------------------------------------
# helpers


def read_fixture(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (DATA / name).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Mapping[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(header))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})
    return path


def edited(
    tmp_path: Path,
    name: str,
    edits: Mapping[int, Mapping[str, str]] | None = None,
    *,
    drop: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
) -> Path:
    """A copy of a fixture with cells changed; ``edits`` is keyed by Excel row (2 = first)."""
    header, rows = read_fixture(name)
    for row_number, changes in (edits or {}).items():
        rows[row_number - 2].update(changes)
    header = [h for h in header if h not in drop]
    if rename:
        header = [rename.get(h, h) for h in header]
        rows = [{rename.get(k, k): v for k, v in r.items()} for r in rows]
    return write_csv(tmp_path / name, header, rows)


def problems_of(load: Callable[[Path], object], path: Path) -> list[InputProblem]:
    with pytest.raises(InputError) as caught:
        load(path)
    return caught.value.problems


def load_children(path: Path) -> list[Child]:
    return io.load_children(path, YEAR)


def only(problems: Sequence[InputProblem], row: int | None, field: str | None) -> InputProblem:
    found = [p for p in problems if p.row == row and p.field == field]
    assert len(found) == 1, f"expected one problem at row {row}, {field}; got {problems}"
    return found[0]


# --------------------------------------------------------------------------------------------
# good files


def test_good_children_load() -> None:
    children = load_children(DATA / "children.csv")
    assert len(children) == 12
    by_id = {c.child_id: c for c in children}
    assert by_id["C001"].preferences == ("990004", "990003")
    assert by_id["C001"].secondary_needs == {PrimaryNeed.SLCN}
    assert by_id["C002"].nc_year == 0  # "R"
    assert by_id["C003"].nc_year == 8  # born 2014-05-14: 12 on 31 August 2026
    assert by_id["C006"].nc_year == 7  # "Y7"
    assert by_id["C007"].primary_need is PrimaryNeed.ASD  # "Autistic spectrum disorder"
    assert by_id["C005"].requirements == {Requirement.WHEELCHAIR_ACCESS, Requirement.NURSING}
    assert by_id["C011"].has_ehcp is False
    assert by_id["C011"].suitable_kinds == {
        PlacementKind.ALTERNATIVE_PROVISION,
        PlacementKind.SPECIAL,
    }
    assert by_id["C001"].suitable_kinds is None  # blank: the default by need applies
    assert by_id["C009"].sibling_group == by_id["C010"].sibling_group == "S1"
    assert by_id["C008"].preferences == ()
    assert by_id["C003"].current_setting == "990003"
    assert by_id["C001"].home == Location(latitude=52.242, longitude=0.718)


def test_good_settings_load() -> None:
    settings = {s.urn: s for s in io.load_settings(DATA / "settings.csv")}
    assert len(settings) == 8
    lark = settings["990001"]
    assert lark.year_places == {0: 60, 4: 60} and lark.year_on_roll == {0: 57, 4: 59}
    (rp,) = lark.provisions
    assert rp.kind is ProvisionKind.RESOURCED_PROVISION
    assert (rp.designated_needs, rp.places, rp.on_roll) == ({PrimaryNeed.ASD}, 12, 9)
    (unit,) = settings["990003"].provisions
    assert unit.kind is ProvisionKind.SEN_UNIT and unit.designated_needs == {PrimaryNeed.HI}
    thornbury = settings["990007"]
    assert thornbury.setting_type is SettingType.INDEPENDENT_SPECIAL
    assert thornbury.annual_fee == 68_000
    # given as easting 586782, northing 283211: near Thetford
    assert thornbury.location.latitude == pytest.approx(52.415, abs=1e-3)
    assert thornbury.location.longitude == pytest.approx(0.745, abs=1e-3)
    assert settings["990005"].top_up == 22_000


def test_good_tariffs_load() -> None:
    bands = io.load_tariffs(DATA / "tariffs.csv")
    assert len(bands) == 15
    assert {(b.band, b.placement_kind, b.annual_top_up) for b in bands} >= {
        ("A", PlacementKind.MAINSTREAM, 3000),
        ("D", PlacementKind.SPECIAL, 26000),
    }


def test_good_files_have_no_cross_file_problems() -> None:
    children = load_children(DATA / "children.csv")
    settings = io.load_settings(DATA / "settings.csv")
    tariffs = io.load_tariffs(DATA / "tariffs.csv")
    assert io.check_references(children, settings, DATA / "children.csv", tariffs=tariffs) == []


def test_easting_northing_match_ordnance_survey_worked_example(tmp_path: Path) -> None:
    # OS "A guide to coordinate systems in Great Britain": E 651409.903, N 313177.270 is
    # 52°39'27.2531"N 1°43'4.5177"E on OSGB36; WGS84 differs from it by well under 0.003°.
    path = edited(
        tmp_path,
        "settings.csv",
        {2: {"latitude": "", "longitude": "", "easting": "651409.903", "northing": "313177.270"}},
    )
    location = io.load_settings(path)[0].location
    assert location.latitude == pytest.approx(52 + 39 / 60 + 27.2531 / 3600, abs=3e-3)
    assert location.longitude == pytest.approx(1 + 43 / 60 + 4.5177 / 3600, abs=3e-3)


def test_column_names_are_case_and_space_insensitive(tmp_path: Path) -> None:
    header, rows = read_fixture("children.csv")
    messy = {h: f"  {h.replace('_', ' ').title()} " for h in header}
    path = write_csv(
        tmp_path / "children.csv",
        [messy[h] for h in header],
        [{messy[k]: v for k, v in r.items()} for r in rows],
    )
    assert load_children(path) == load_children(DATA / "children.csv")


def test_preference_columns_equal_preferences_list(tmp_path: Path) -> None:
    header, rows = read_fixture("children.csv")
    for row in rows:
        for rank, urn in enumerate(row.pop("preferences").split(";"), start=1):
            row[f"preference_{rank}"] = urn
    header = [h for h in header if h != "preferences"] + ["preference_1", "preference_2"]
    path = write_csv(tmp_path / "children.csv", header, rows)
    assert load_children(path) == load_children(DATA / "children.csv")


def test_extra_columns_are_ignored_and_never_reach_the_model(tmp_path: Path) -> None:
    header, rows = read_fixture("children.csv")
    for row in rows:
        row["forename"] = "Alex"
    path = write_csv(tmp_path / "children.csv", [*header, "forename"], rows)
    children = load_children(path)
    assert all("Alex" not in repr(c) for c in children)


def test_uk_dates_and_excel_style_values(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        "children.csv",
        {2: {"nc_year": "", "date_of_birth": "14/05/2015", "has_ehcp": "TRUE", "sex": "female"}},
    )
    child = load_children(path)[0]
    assert (child.nc_year, child.has_ehcp, child.sex.value) == (7, True, "F")


def test_nc_year_wins_over_date_of_birth(tmp_path: Path) -> None:
    # children with SEND are often educated out of their chronological year group
    path = edited(tmp_path, "children.csv", {2: {"nc_year": "6", "date_of_birth": "2014-05-14"}})
    assert load_children(path)[0].nc_year == 6


def test_windows_1252_csv_loads(tmp_path: Path) -> None:
    header, rows = read_fixture("settings.csv")
    rows[0]["name"] = "St Mary’s Primary School"
    path = tmp_path / "settings.csv"
    write_csv(path, header, rows)
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))
    assert io.load_settings(path)[0].name == "St Mary’s Primary School"


def test_xlsx_input_gives_the_same_models_as_csv(tmp_path: Path) -> None:
    """Excel stores numbers as floats and dates as dates; reading must undo that."""
    for name, load in (
        ("children.csv", load_children),
        ("settings.csv", io.load_settings),
        ("tariffs.csv", io.load_tariffs),
    ):
        header, rows = read_fixture(name)
        workbook = Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.append(header)
        for row in rows:
            sheet.append([_as_excel_value(row[h]) for h in header])
        path = tmp_path / name.replace(".csv", ".xlsx")
        workbook.save(path)
        assert load(path) == load(DATA / name), name


def _as_excel_value(text: str) -> Any:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# --------------------------------------------------------------------------------------------
# bad rows: each names file, row and column


def test_unknown_need_code(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", {5: {"primary_need": "AUT"}})
    problem = only(problems_of(load_children, path), 5, "primary_need")
    assert problem.file == "children.csv"
    assert "'AUT'" in problem.message and "ASD" in problem.message
    assert str(problem).startswith("children.csv, row 5, primary_need: unknown need code 'AUT'")


def test_unknown_secondary_need_and_comma_hint(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", {3: {"secondary_needs": "ASD, SLCN"}})
    problem = only(problems_of(load_children, path), 3, "secondary_needs")
    assert "separate several needs with ';'" in problem.message


def test_inverted_age_range(tmp_path: Path) -> None:
    path = edited(tmp_path, "settings.csv", {3: {"low_age": "11", "high_age": "4"}})
    problem = only(problems_of(io.load_settings, path), 3, None)
    assert "low_age 11 >= high_age 4" in problem.message
    assert str(problem).startswith("settings.csv, row 3: age range inverted")


@pytest.mark.parametrize("column", ["total_places", "on_roll", "rp_places", "unit_on_roll"])
def test_negative_capacity(tmp_path: Path, column: str) -> None:
    row = 4 if column.startswith("unit") else 2  # Westley Park has the SEN unit
    path = edited(tmp_path, "settings.csv", {row: {column: "-5"}})
    problem = only(problems_of(io.load_settings, path), row, column)
    assert problem.message == "must be 0 or more (got -5)"


def test_resourced_provision_without_places(tmp_path: Path) -> None:
    path = edited(tmp_path, "settings.csv", {2: {"rp_places": ""}})
    problem = only(problems_of(io.load_settings, path), 2, "rp_places")
    assert "resourced provision" in problem.message


def test_independent_setting_without_fee(tmp_path: Path) -> None:
    path = edited(tmp_path, "settings.csv", {8: {"annual_fee": ""}})
    assert "annual_fee" in only(problems_of(io.load_settings, path), 8, None).message


def test_bad_setting_type_and_year_places(tmp_path: Path) -> None:
    path = edited(tmp_path, "settings.csv", {3: {"setting_type": "academy", "year_places": "7-30"}})
    problems = problems_of(io.load_settings, path)
    assert "mainstream" in only(problems, 3, "setting_type").message
    assert "7:30" in only(problems, 3, "year_places").message


def test_duplicate_child_id_names_both_rows(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", {9: {"child_id": "C003"}})
    problem = only(problems_of(load_children, path), 9, "child_id")
    assert "'C003'" in problem.message and "row 4" in problem.message


def test_duplicate_urn_names_both_rows(tmp_path: Path) -> None:
    path = edited(tmp_path, "settings.csv", {6: {"urn": "990001"}})
    problem = only(problems_of(io.load_settings, path), 6, "urn")
    assert "'990001'" in problem.message and "row 2" in problem.message


def test_tariff_band_for_independent_places_is_refused(tmp_path: Path) -> None:
    # independent placements cost their annual_fee; a band for them would be silently unused
    path = edited(tmp_path, "tariffs.csv", {4: {"placement_kind": "independent"}})
    problem = only(problems_of(io.load_tariffs, path), 4, "placement_kind")
    assert "annual_fee" in problem.message


def test_duplicate_tariff_band(tmp_path: Path) -> None:
    path = edited(tmp_path, "tariffs.csv", {3: {"band": "A"}})
    problem = only(problems_of(io.load_tariffs, path), 3, "band")
    assert "row 2" in problem.message


def test_missing_coordinates(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        "children.csv",
        {4: {"latitude": "", "longitude": ""}, 6: {"longitude": ""}},
    )
    problems = problems_of(load_children, path)
    assert "no location" in only(problems, 4, "latitude").message
    assert only(problems, 6, "longitude").message == "required but blank"
    assert len(problems) == 2  # and no second "home is required" for the same mistake


def test_swapped_coordinates_get_a_hint(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", {2: {"latitude": "0.7180", "longitude": "52.2420"}})
    problem = only(problems_of(load_children, path), 2, "latitude")
    assert "outside the UK" in problem.message and "swapped" in problem.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Y7x", "not an NC year"), ("25", "20 or less"), ("-3", "-2 or more")],
)
def test_bad_nc_year(tmp_path: Path, value: str, expected: str) -> None:
    path = edited(tmp_path, "children.csv", {7: {"nc_year": value}})
    assert expected in only(problems_of(load_children, path), 7, "nc_year").message


def test_date_of_birth_out_of_range_and_unreadable(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        "children.csv",
        {
            2: {"nc_year": "", "date_of_birth": "2025-01-01"},
            3: {"nc_year": "", "date_of_birth": "31/02/2014"},
            4: {"nc_year": "", "date_of_birth": ""},
        },
    )
    problems = problems_of(load_children, path)
    assert "gives NC year" in only(problems, 2, "date_of_birth").message
    assert "not a date" in only(problems, 3, "date_of_birth").message
    assert "nc_year or date_of_birth" in only(problems, 4, "nc_year").message


def test_preference_gap_is_a_problem(tmp_path: Path) -> None:
    header, rows = read_fixture("children.csv")
    for row in rows:
        row["preference_2"] = row.pop("preferences")
    header = [h for h in header if h != "preferences"] + ["preference_1", "preference_2"]
    path = write_csv(tmp_path / "children.csv", header, rows)
    problem = only(problems_of(load_children, path), 2, "preference_2")
    assert "preference_1 is blank" in problem.message


def test_both_preference_styles_is_a_problem(tmp_path: Path) -> None:
    header, rows = read_fixture("children.csv")
    path = write_csv(tmp_path / "children.csv", [*header, "preference_1"], rows)
    assert "not both" in only(problems_of(load_children, path), None, "preferences").message


def test_repeated_preference(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", {2: {"preferences": "990004;990004"}})
    assert "twice" in only(problems_of(load_children, path), 2, "preferences").message


def test_missing_required_column(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", drop=["primary_need"])
    problem = only(problems_of(load_children, path), None, "primary_need")
    assert "missing" in problem.message
    assert str(problem).startswith("children.csv, column primary_need:")


def test_missing_location_columns(tmp_path: Path) -> None:
    path = edited(tmp_path, "settings.csv", drop=["latitude", "longitude", "easting", "northing"])
    problem = only(problems_of(io.load_settings, path), None, "latitude")
    assert "easting and northing" in problem.message


def test_misspelt_optional_column_is_not_silently_ignored(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", rename={"preferences": "prefrences"})
    problem = only(problems_of(load_children, path), None, "prefrences")
    assert "did you mean 'preferences'" in problem.message


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        "settings.csv",
        {
            2: {"total_places": "lots"},
            4: {"designated_needs": "AUT"},
            6: {"sex_admitted": "co-ed"},
            9: {"urn": "990002"},
        },
    )
    problems = problems_of(io.load_settings, path)
    assert [(p.row, p.field) for p in problems] == [
        (2, "total_places"),
        (4, "designated_needs"),
        (6, "sex_admitted"),
        (9, "urn"),
    ]


def test_messages_are_plain_english_not_pydantic_dumps(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        "settings.csv",
        {
            2: {"low_age": "30", "total_places": "-1", "rp_needs": ""},
            3: {"name": "", "year_on_roll": "9:4"},
            8: {"annual_fee": ""},
        },
    )
    problems = problems_of(io.load_settings, path)
    assert len(problems) >= 4
    for problem in problems:
        text = str(problem)
        assert "validation error" not in text.lower()
        assert "Input should" not in text and "pydantic" not in text and "[type=" not in text


# --------------------------------------------------------------------------------------------
# files that cannot be read


def test_missing_file(tmp_path: Path) -> None:
    problem = only(problems_of(load_children, tmp_path / "nope.csv"), None, None)
    assert problem.file == "nope.csv" and "not found" in problem.message


@pytest.mark.parametrize(
    ("name", "expected"), [("children.txt", ".csv or .xlsx"), ("children.xls", "Save As")]
)
def test_wrong_extension(tmp_path: Path, name: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text("child_id\nC1\n")
    assert expected in only(problems_of(load_children, path), None, None).message


def test_not_really_an_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "children.xlsx"
    path.write_text("child_id,nc_year\nC1,7\n")
    assert "Excel" in only(problems_of(load_children, path), None, None).message


@pytest.mark.parametrize("content", ["", "child_id,nc_year,primary_need,latitude,longitude\n"])
def test_empty_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "children.csv"
    path.write_text(content)
    assert problems_of(load_children, path)


# --------------------------------------------------------------------------------------------
# across files


def test_reference_to_unknown_urn(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        "children.csv",
        {3: {"preferences": "990001;123456"}, 5: {"current_setting": "654321"}},
    )
    children = load_children(path)
    settings = io.load_settings(DATA / "settings.csv")
    problems = io.check_references(children, settings, path)
    pref = only(problems, 3, "preferences")
    assert "preference 2" in pref.message and "'123456'" in pref.message
    assert "C002" in pref.message
    # A current setting outside the settings file is normal in a phase transfer.
    assert not [p for p in problems if p.field == "current_setting"]


def test_reference_by_school_name_gets_a_hint(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", {2: {"preferences": "Eastgate High School"}})
    problems = io.check_references(
        load_children(path), io.load_settings(DATA / "settings.csv"), path
    )
    assert "did you mean URN 990004" in only(problems, 2, "preferences").message


def test_reference_rows_follow_blank_lines(tmp_path: Path) -> None:
    # Row numbers must be the ones the user sees, even after a blank line in the file.
    path = edited(tmp_path, "children.csv", {4: {"preferences": "999999"}})
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], ",,,,", *lines[2:]]) + "\n")
    children = load_children(path)
    problems = io.check_references(children, io.load_settings(DATA / "settings.csv"), path)
    assert only(problems, 5, "preferences")


def test_unknown_top_up_band(tmp_path: Path) -> None:
    path = edited(tmp_path, "children.csv", {2: {"top_up_band": "Z"}})
    problems = io.check_references(
        load_children(path),
        io.load_settings(DATA / "settings.csv"),
        path,
        tariffs=io.load_tariffs(DATA / "tariffs.csv"),
    )
    assert "'Z'" in only(problems, 2, "top_up_band").message


def test_child_without_usable_location() -> None:
    # Children built elsewhere (API, synthetic data) are checked too.
    child = load_children(DATA / "children.csv")[0].model_copy(
        update={"home": Location(latitude=0.718, longitude=52.242)}
    )
    problems = io.check_references([child], io.load_settings(DATA / "settings.csv"), "x.csv")
    assert "no usable home location" in only(problems, None, "latitude").message


def test_load_round_collects_problems_from_every_file(tmp_path: Path) -> None:
    children = edited(tmp_path, "children.csv", {2: {"primary_need": "AUT"}})
    settings = edited(tmp_path, "settings.csv", {3: {"total_places": "-1"}})
    with pytest.raises(InputError) as caught:
        io.load_round(children, settings, tmp_path / "tariffs.csv", YEAR)
    files = {p.file for p in caught.value.problems}
    assert files == {"children.csv", "settings.csv", "tariffs.csv"}


# --------------------------------------------------------------------------------------------
# writing placements


def make_result(reason: str = "first parental preference") -> PlacementResult:
    placed = ChildPlacement(
        child_id="C001",
        setting_urn="990004",
        setting_name="Eastgate High School",
        placement_kind=PlacementKind.RESOURCED_PROVISION,
        provision=ProvisionKind.RESOURCED_PROVISION,
        preference_rank=1,
        minutes=12.345,
        placement_cost=17_000,
        transport_cost=7_258,
        out_of_area=False,
        reason=reason,
    )
    unplaced = ChildPlacement(
        child_id="C002",
        setting_urn=None,
        setting_name=None,
        placement_kind=None,
        provision=None,
        preference_rank=None,
        minutes=None,
        placement_cost=0,
        transport_cost=0,
        out_of_area=False,
        reason="no suitable setting within 45 minutes has a place",
    )
    summary = PlacementSummary(
        children=2,
        placed=1,
        unplaced=1,
        with_preferences=2,
        first_preference_met=1,
        any_preference_met=1,
        mean_minutes=12.345,
        max_minutes=12.345,
        total_placement_cost=17_000,
        total_transport_cost=7_258,
        out_of_area=0,
        independent=0,
        travel_model="straight-line estimate",
        eligible_arcs=7,
    )
    return PlacementResult((placed, unplaced), summary)


def test_write_csv(tmp_path: Path) -> None:
    path = tmp_path / "placements.csv"
    io.write_placements(make_result(), path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(io.PLACEMENT_COLUMNS)
    assert rows[0]["travel_minutes"] == "12.3"
    assert rows[0]["placement_kind"] == "resourced_provision"
    assert rows[0]["out_of_area"] == "no"
    assert rows[1]["setting_urn"] == "" and rows[1]["travel_minutes"] == ""
    assert rows[1]["reason"].startswith("no suitable setting")


def test_write_xlsx_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "placements.xlsx"
    io.write_placements(make_result(), path)
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Placements", "Summary"]
    rows = list(workbook["Placements"].iter_rows(values_only=True))
    assert rows[0] == io.PLACEMENT_COLUMNS
    record = dict(zip(io.PLACEMENT_COLUMNS, rows[1], strict=True))
    assert record["travel_minutes"] == 12.3 and record["placement_cost"] == 17_000
    assert record["preference_rank"] == 1
    assert rows[2][1] is None  # unplaced: no setting
    summary = dict(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert summary["Children"] == 2 and summary["Eligible child-setting pairs considered"] == 7
    assert summary["First preference met (% of those with preferences)"] == 50.0
    assert summary["Travel-time model"] == "straight-line estimate"
    assert len(summary) == len(io.summary_rows(make_result().summary))


def test_xlsx_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "placements.xlsx"
    io.write_placements(make_result(reason="=HYPERLINK(1)"), path)
    cell = load_workbook(path)["Placements"]["K2"]
    assert cell.data_type == "s" and cell.value == "=HYPERLINK(1)"


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_write(records: Sequence[Mapping[str, object]], path: Path) -> None:
        path.write_text("child_id\nC001\n")
        raise RuntimeError("disk full")

    monkeypatch.setattr(output_files, "_write_csv", half_write)
    with pytest.raises(RuntimeError):
        io.write_placements(make_result(), tmp_path / "placements.csv")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "placements.xlsx"
    path.write_bytes(b"previous run")

    def broken(*args: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(output_files, "write_workbook", broken)
    with pytest.raises(OSError):
        io.write_placements(make_result(), path)
    assert path.read_bytes() == b"previous run"
    assert [p.name for p in tmp_path.iterdir()] == ["placements.xlsx"]


def test_write_refuses_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.xlsx"):
        io.write_placements(make_result(), tmp_path / "placements.txt")
    assert list(tmp_path.iterdir()) == []


def test_check_output_path(tmp_path: Path) -> None:
    inputs = [tmp_path / "children.csv"]
    assert io.check_output_path(tmp_path / "out.xlsx", inputs) is None
    assert "also an input" in (io.check_output_path(tmp_path / "children.csv", inputs) or "")
    assert "does not exist" in (io.check_output_path(tmp_path / "no" / "out.csv") or "")
    assert ".csv or .xlsx" in (io.check_output_path(tmp_path / "out.pdf") or "")


def test_next_september() -> None:
    assert io.next_september(date(2026, 2, 15)) == date(2026, 9, 1)
    assert io.next_september(date(2026, 9, 1)) == date(2027, 9, 1)
    assert io.next_september(date(2026, 11, 3)) == date(2027, 9, 1)


def test_child_ids_with_control_or_bidi_codes_are_refused(tmp_path: Path) -> None:
    """The API refuses such ids in its paths, so a caseload must not bring them in either."""
    source = (DATA / "children.csv").read_text(encoding="utf-8").splitlines()
    header, first, *rest = source
    fields = first.split(",")
    fields[0] = "C\u202e100"
    path = tmp_path / "children.csv"
    path.write_text("\n".join([header, ",".join(fields), *rest]) + "\n", encoding="utf-8")
    with pytest.raises(io.InputError) as caught:
        io.load_children(path, year_start=date(2026, 9, 1))
    assert any(
        p.row == 2 and p.field == "child_id" and "printable" in p.message
        for p in caught.value.problems
    ), caught.value.problems
