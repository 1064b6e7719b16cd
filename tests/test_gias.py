"""GIAS import: type mapping, grid conversion, provisions, and a clear report for every bad row.

The fixture ``tests/data/gias/edubasealldata_sample.csv`` is hand-made (fictional schools in
Camden, 202, plus one each in Islington, 206, and Cambridgeshire, 873), written in cp1252 like
the real download, with GIAS's own headers and some columns the importer ignores.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pyproj import Transformer

from geodata.gias import (
    DEFAULT_INDEPENDENT_FEE,
    REQUIRED_COLUMNS,
    SEN_COLUMNS,
    GiasFormatError,
    GiasImport,
    bng_to_wgs84,
    import_gias,
)
from matcher.models import (
    PrimaryNeed,
    ProvisionKind,
    Requirement,
    Setting,
    SettingType,
    SexAdmitted,
)

SAMPLE = Path(__file__).parent / "data" / "gias" / "edubasealldata_sample.csv"
N = PrimaryNeed


@pytest.fixture(scope="module")
def sample() -> GiasImport:
    return import_gias(SAMPLE)


def by_urn(result: GiasImport) -> dict[str, Setting]:
    return {s.urn: s for s in result.settings}


def problems_by_row(result: GiasImport) -> dict[int, list[str]]:
    rows: dict[int, list[str]] = {}
    for p in result.problems:
        rows.setdefault(p.row, []).append(f"{p.field}: {p.message}")
    return rows


BASE_ROW = {
    "URN": "900001",
    "EstablishmentName": "Test School",
    "TypeOfEstablishment (name)": "Community school",
    "EstablishmentStatus (name)": "Open",
    "LA (code)": "202",
    "StatutoryLowAge": "4",
    "StatutoryHighAge": "11",
    "Gender (name)": "Mixed",
    "SchoolCapacity": "210",
    "NumberOfPupils": "200",
    "Postcode": "NW1 1AA",
    "Easting": "529000",
    "Northing": "184000",
    "TypeOfResourcedProvision (name)": "Not applicable",
}


def write_csv(
    path: Path, rows: list[dict[str, str]], encoding: str = "utf-8", extra: tuple[str, ...] = ()
) -> Path:
    """A small GIAS-shaped CSV: every column the importer reads, plus ``extra``."""
    header = [*REQUIRED_COLUMNS, "Gender (name)", "Postcode", *SEN_COLUMNS]
    header += ["TypeOfResourcedProvision (name)", "ResourcedProvisionCapacity"]
    header += ["ResourcedProvisionOnRoll", "SenUnitCapacity", "SenUnitOnRoll", "Boarders (name)"]
    header += list(extra)
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({**BASE_ROW, **row})
    return path


# --- Type mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urn", "expected"),
    [
        ("990001", SettingType.MAINSTREAM),  # Community school
        ("990002", SettingType.MAINSTREAM),  # Academy converter
        ("990003", SettingType.MAINSTREAM),  # Voluntary aided school
        ("990004", SettingType.MAINSTREAM),  # Foundation school
        ("990005", SettingType.SPECIAL),  # Community special school
        ("990006", SettingType.SPECIAL),  # Academy special converter
        ("990007", SettingType.SPECIAL),  # Free schools special
        ("990008", SettingType.NON_MAINTAINED_SPECIAL),
        ("990009", SettingType.INDEPENDENT_SPECIAL),
        ("990010", SettingType.ALTERNATIVE_PROVISION),  # Pupil referral unit
        ("990011", SettingType.FURTHER_EDUCATION),
        ("990012", SettingType.SPECIALIST_POST16),
        ("990021", SettingType.MAINSTREAM),  # Studio schools
        ("990023", SettingType.MAINSTREAM),  # Open, but proposed to close
        ("990024", SettingType.MAINSTREAM),  # Free schools
        ("990025", SettingType.INDEPENDENT_SPECIAL),  # Other independent school, s41 approved
    ],
)
def test_type_mapping(sample: GiasImport, urn: str, expected: SettingType) -> None:
    assert by_urn(sample)[urn].setting_type is expected


def test_exactly_the_good_rows_are_imported(sample: GiasImport) -> None:
    expected = {f"9900{i:02d}" for i in (*range(1, 13), 21, 22, 23, 24, 25)}
    assert set(by_urn(sample)) == expected
    assert sample.rows_read == 25
    assert sample.encoding == "cp1252"


def test_closed_and_unnamed_types_are_skipped_with_reasons(sample: GiasImport) -> None:
    skipped = {p.urn: p for p in sample.skipped}
    assert set(skipped) == {"990013", "990014"}
    assert skipped["990013"].row == 14
    assert skipped["990013"].field == "EstablishmentStatus (name)"
    assert "Closed" in skipped["990013"].message
    assert skipped["990014"].field == "TypeOfEstablishment (name)"
    assert "section 41" in skipped["990014"].message


@pytest.mark.parametrize(
    "gias_type",
    [
        "Welsh establishment",
        "Higher education institutions",
        "Online provider",
        "Secure units",
        "British schools overseas",
        "Miscellaneous",
        "Some type GIAS adds next year",
    ],
)
def test_types_sendmatch_does_not_name_are_skipped_not_errors(
    tmp_path: Path, gias_type: str
) -> None:
    result = import_gias(write_csv(tmp_path / "g.csv", [{"TypeOfEstablishment (name)": gias_type}]))
    assert result.settings == [] and result.problems == []
    assert len(result.skipped) == 1 and gias_type in result.skipped[0].message


# --- Coordinates ----------------------------------------------------------------------------


def test_known_grid_point_converts_near_westminster() -> None:
    lat, lon = bng_to_wgs84([530000.0], [180000.0])
    assert lat[0] == pytest.approx(51.50, abs=0.01)
    assert lon[0] == pytest.approx(-0.13, abs=0.01)
    ref_lon, ref_lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(
        530000.0, 180000.0
    )
    assert lat[0] == pytest.approx(ref_lat, abs=1e-9)
    assert lon[0] == pytest.approx(ref_lon, abs=1e-9)


def test_setting_locations_are_their_grid_references(sample: GiasImport) -> None:
    lat, lon = bng_to_wgs84([529300.0, 545000.0], [184100.0, 258000.0])
    camden, fenland = by_urn(sample)["990002"].location, by_urn(sample)["990022"].location
    assert (camden.latitude, camden.longitude) == pytest.approx((lat[0], lon[0]))
    assert (fenland.latitude, fenland.longitude) == pytest.approx((lat[1], lon[1]))
    assert fenland.latitude > 52.0 > camden.latitude  # Cambridgeshire is north of Camden


# --- Provisions, designations, fees, facilities ---------------------------------------------


def test_resourced_provision(sample: GiasImport) -> None:
    school = by_urn(sample)["990002"]
    (rp,) = school.provisions
    assert rp.kind is ProvisionKind.RESOURCED_PROVISION
    assert rp.designated_needs == {N.ASD}
    assert (rp.places, rp.on_roll) == (20, 18)
    assert school.designated_needs == frozenset()  # a mainstream school's needs sit on its RP
    assert (school.total_places, school.on_roll) == (1200, 1164)


def test_sen_unit_in_girls_school(sample: GiasImport) -> None:
    school = by_urn(sample)["990003"]
    assert school.name == "St Mary\u2019s Catholic High School for Girls"  # cp1252 0x92
    assert school.sex_admitted is SexAdmitted.GIRLS
    (unit,) = school.provisions
    assert unit.kind is ProvisionKind.SEN_UNIT
    assert unit.designated_needs == {N.HI, N.SLCN}
    assert (unit.places, unit.on_roll) == (12, 11)


def test_resourced_provision_and_sen_unit(sample: GiasImport) -> None:
    rp, unit = by_urn(sample)["990004"].provisions
    assert (rp.kind, rp.places, rp.on_roll) == (ProvisionKind.RESOURCED_PROVISION, 10, 8)
    assert (unit.kind, unit.places, unit.on_roll) == (ProvisionKind.SEN_UNIT, 8, 8)
    assert rp.designated_needs == unit.designated_needs == {N.SPLD, N.MLD}


def test_specialist_designations_ages_and_sex(sample: GiasImport) -> None:
    settings = by_urn(sample)
    assert settings["990005"].designated_needs == {N.PMLD, N.SLD, N.PD, N.MSI}
    assert (settings["990005"].low_age, settings["990005"].high_age) == (2, 19)
    assert settings["990007"].sex_admitted is SexAdmitted.BOYS
    assert settings["990008"].designated_needs == {N.HI, N.VI, N.MSI}
    assert settings["990010"].designated_needs == frozenset()  # AP: no designation given


def test_fe_college_ages_clamped_and_gender_not_applicable_is_mixed(sample: GiasImport) -> None:
    college = by_urn(sample)["990011"]
    assert (college.low_age, college.high_age) == (16, 26)  # GIAS says 99
    assert college.sex_admitted is SexAdmitted.MIXED
    assert college.admits_age(20) and not college.admits_age(11)


def test_independent_settings_get_the_default_fee_and_it_is_reported(
    sample: GiasImport,
) -> None:
    settings = by_urn(sample)
    fees = {u: s.annual_fee for u, s in settings.items() if s.annual_fee is not None}
    assert fees == dict.fromkeys(
        ("990008", "990009", "990012", "990022", "990025"), DEFAULT_INDEPENDENT_FEE
    )
    assert any("5 independent" in a and "no fees" in a for a in sample.assumptions)


def test_fees_and_facilities_can_be_supplied(tmp_path: Path) -> None:
    result = import_gias(
        SAMPLE,
        default_independent_fee=75_000,
        fees={"990009": 98_500},
        facilities={"990001": {Requirement.WHEELCHAIR_ACCESS}, "990005": set()},
    )
    settings = by_urn(result)
    assert settings["990009"].annual_fee == 98_500
    assert settings["990012"].annual_fee == 75_000
    assert settings["990001"].facilities == {Requirement.WHEELCHAIR_ACCESS}
    assert settings["990005"].facilities == frozenset()


def test_facilities_assumed_by_type_and_read_from_boarders(sample: GiasImport) -> None:
    settings = by_urn(sample)
    assert Requirement.WHEELCHAIR_ACCESS in settings["990005"].facilities  # special
    assert Requirement.WHEELCHAIR_ACCESS not in settings["990001"].facilities  # mainstream
    assert Requirement.RESIDENTIAL in settings["990008"].facilities  # "Boarding school"
    assert Requirement.RESIDENTIAL not in settings["990009"].facilities  # "No boarders"
    assert any("wheelchair access assumed" in a for a in sample.assumptions)
    no_assumption = import_gias(SAMPLE, wheelchair_accessible_types=())
    assert all(Requirement.WHEELCHAIR_ACCESS not in s.facilities for s in no_assumption.settings)


# --- Problems: each kind of bad row says which row, which cell and what to do ---------------


def test_each_bad_row_in_the_sample_is_reported(sample: GiasImport) -> None:
    rows = problems_by_row(sample)
    assert set(rows) == {16, 17, 18, 19, 20, 24}
    assert any("Easting is blank" in m and "NW3 2XX" in m for m in rows[16])  # postcode hint
    assert any("Northing" in m for m in rows[16])
    assert rows[17] == ["SchoolCapacity: SchoolCapacity is 'c.300', not a whole number"]
    assert len(rows[18]) == 1 and "inverted" in rows[18][0] and "11 >= " in rows[18][0]
    assert len(rows[19]) == 1 and rows[19][0].startswith("SEN2 (name): unknown need code")
    assert len(rows[20]) == 1 and "Resourced provision" in rows[20][0]
    assert "SEN1..SEN13 list no need types" in rows[20][0]
    assert len(rows[24]) == 1 and "already appears on row 2" in rows[24][0]
    assert all(p.file == str(SAMPLE) for p in sample.problems)
    assert [p.row for p in sample.problems] == sorted(p.row for p in sample.problems)


def test_problem_rows_are_not_imported(sample: GiasImport) -> None:
    imported = set(by_urn(sample))
    assert not imported & {"990016", "990017", "990018", "990019", "990020"}
    first = by_urn(sample)["990001"]
    assert first.total_places == 420  # the duplicate on row 24 did not replace row 2


def test_blank_pupils_on_roll_is_a_warning_and_taken_as_full(sample: GiasImport) -> None:
    (warning,) = sample.warnings
    assert (warning.row, warning.urn, warning.field) == (25, "990024", "NumberOfPupils")
    school = by_urn(sample)["990024"]
    assert school.on_roll == school.total_places == 210
    assert school.places_left == 0


@pytest.mark.parametrize(
    ("cells", "field", "words"),
    [
        ({"Easting": "0"}, "Easting", "outside the British National Grid"),
        ({"Northing": "1,900,000"}, "Northing", "outside the British National Grid"),
        ({"Easting": "five hundred"}, "Easting", "not a number"),
        ({"Easting": "", "Postcode": ""}, "Easting", "add the grid reference"),
        ({"SchoolCapacity": ""}, "SchoolCapacity", "is blank"),
        ({"SchoolCapacity": "-5"}, "SchoolCapacity", "below zero"),
        ({"NumberOfPupils": "about 200"}, "NumberOfPupils", "not a whole number"),
        ({"StatutoryLowAge": "11", "StatutoryHighAge": "11"}, "StatutoryHighAge", "inverted"),
        ({"StatutoryLowAge": "30", "StatutoryHighAge": "99"}, "StatutoryLowAge", "above 25"),
        ({"Gender (name)": "Unknown"}, "Gender (name)", "not Mixed, Boys or Girls"),
        ({"URN": ""}, "URN", "blank"),
        ({"EstablishmentName": "  "}, "EstablishmentName", "blank"),
        (
            {"TypeOfEstablishment (name)": "Community special school"},
            "SEN1 (name)",
            "must list the needs",
        ),
        (
            {"TypeOfResourcedProvision (name)": "Enhanced provision"},
            "TypeOfResourcedProvision (name)",
            "not a GIAS provision type",
        ),
        (
            {
                "TypeOfResourcedProvision (name)": "SEN unit",
                "SEN1 (name)": "HI - Hearing Impairment",
            },
            "SenUnitCapacity",
            "SEN unit capacity is blank",
        ),
        (
            {
                "SEN4 (name)": "DS - Down Syndrome",
                "TypeOfEstablishment (name)": "Community special school",
            },
            "SEN4 (name)",
            "unknown need code",
        ),
    ],
)
def test_bad_cells_are_problems_naming_the_cell(
    tmp_path: Path, cells: dict[str, str], field: str, words: str
) -> None:
    result = import_gias(write_csv(tmp_path / "g.csv", [{"URN": "900009"}, cells]))
    assert [s.urn for s in result.settings] == ["900009"]  # the good row still imports
    assert result.problems, "the bad row must be reported"
    assert {p.row for p in result.problems} == {3}
    assert any(p.field == field and words in p.message for p in result.problems), [
        str(p) for p in result.problems
    ]


def test_row_numbers_count_blank_lines_and_quoted_newlines_as_excel_does(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", [{"URN": "900001", "EstablishmentName": "Two\nLines"}])
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write("\r\n")  # a blank row 3
        writer = csv.writer(f)
        header = next(csv.reader(path.open(encoding="utf-8")))
        writer.writerow(
            [{**BASE_ROW, "URN": "900002", "SchoolCapacity": "x"}.get(h, "") for h in header]
        )
    result = import_gias(path)
    assert [s.name for s in result.settings] == ["Two Lines"]  # whitespace normalised
    assert [(p.row, p.urn) for p in result.problems] == [(4, "900002")]


def test_a_row_with_extra_cells_is_one_problem(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", [{}])
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write(",".join(["900002"] * 40) + "\r\n")
    result = import_gias(path)
    assert len(result.settings) == 1
    (problem,) = result.problems
    assert problem.row == 3 and "cells but the header has" in problem.message


def test_special_school_with_an_unknown_code_gets_one_problem_not_two(tmp_path: Path) -> None:
    row = {"TypeOfEstablishment (name)": "Community special school", "SEN1 (name)": "XX - ?"}
    result = import_gias(write_csv(tmp_path / "g.csv", [row]))
    assert [p.field for p in result.problems] == ["SEN1 (name)"]
    assert "unknown need code" in result.problems[0].message


def test_provision_outside_mainstream_is_ignored_with_a_warning(tmp_path: Path) -> None:
    row = {
        "TypeOfEstablishment (name)": "Foundation special school",
        "SEN1 (name)": "ASD - Autistic Spectrum Disorder",
        "TypeOfResourcedProvision (name)": "SEN unit",
        "SenUnitCapacity": "10",
    }
    result = import_gias(write_csv(tmp_path / "g.csv", [row]))
    (setting,) = result.settings
    assert setting.provisions == () and setting.designated_needs == {N.ASD}
    assert len(result.warnings) == 1 and "ignored" in result.warnings[0].message


# --- Area filter, statuses, encodings, format errors ----------------------------------------


def test_la_filter_counts_rows_outside(sample: GiasImport) -> None:
    result = import_gias(SAMPLE, la_codes=[202])
    assert {s.la_code for s in result.settings} == {"202"}
    assert result.rows_outside_area == 2
    assert len(result.settings) == len(sample.settings) - 2
    assert problems_by_row(result).keys() == problems_by_row(sample).keys()


def test_neighbour_radius_keeps_nearby_out_of_area_settings() -> None:
    result = import_gias(SAMPLE, la_codes=["E09000007"], neighbour_radius_km=5)  # GSS code
    out_of_area = {s.urn for s in result.settings if s.la_code != "202"}
    assert out_of_area == {"990021"}  # Islington, ~2 km away; not Cambridgeshire, ~80 km
    assert result.rows_outside_area == 1
    assert {
        s.urn for s in import_gias(SAMPLE, la_codes=["202"], neighbour_radius_km=100).settings
    } >= {"990021", "990022"}


def test_statuses_can_be_widened(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", [{"EstablishmentStatus (name)": "Proposed to open"}])
    assert import_gias(path).settings == []
    assert len(import_gias(path, statuses={"Open", "Proposed to open"}).settings) == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    path = write_csv(
        tmp_path / "g.csv", [{"EstablishmentName": "Ecole Fran\u00e7aise de Londres"}], encoding
    )
    result = import_gias(path)
    assert result.settings[0].name == "Ecole Fran\u00e7aise de Londres"
    assert result.encoding == ("cp1252" if encoding == "cp1252" else "utf-8-sig")


def test_missing_required_column_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "not_gias.csv"
    path.write_text("URN,EstablishmentName\n1,School\n", encoding="utf-8")
    with pytest.raises(GiasFormatError, match="Easting"):
        import_gias(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(GiasFormatError, match="empty"):
        import_gias(empty)


def test_summary_mentions_counts_and_assumptions(sample: GiasImport) -> None:
    text = sample.summary()
    assert "17 settings imported" in text and "7 problems in 6 rows" in text
    assert "Assumed:" in text
