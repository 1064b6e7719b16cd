"""Readers of the DfE's "Education, health and care plans" statistics.

Suppressed ("c") and unavailable ("x") cells are tested on small files made here, each count
checkable by hand; the real files in ../shared/data/dfe-ehcp-statistics are read when present
(in CI) and the tests that need them are skipped with the reason elsewhere.
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from matcher.forecast.dfe_statistics import (
    ALTERNATIVE,
    ENGLAND,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    OTHER,
    POST_16,
    RESOURCED,
    SPECIAL,
    SUPPRESSED_RANGE,
    EhcpStatistics,
    UnknownAreaError,
    fill_suppressed,
    find_la,
    read_ehcp_statistics,
)
from matcher.io import InputError

DFE = Path(__file__).resolve().parents[2] / "shared" / "data" / "dfe-ehcp-statistics"
SETTING_FILE = DFE / "ehcp_caseload_by_setting_2018-19_to_2023-24.csv"
AGE_FILE = DFE / "sen2_caseload_by_age_2010-2022.csv"
ESTABLISHMENT_FILE = DFE / "sen2_caseload_by_establishment_2010-2022.csv"
REAL_FILES = (SETTING_FILE, AGE_FILE, ESTABLISHMENT_FILE)

needs_dfe_statistics = pytest.mark.skipif(
    not all(p.exists() for p in REAL_FILES),
    reason=f"the DfE's EHC plan statistics are not at {DFE} (../shared/data is absent)",
)

AREA = {
    "time_identifier": "Calendar year",
    "country_code": ENGLAND,
    "country_name": "England",
}
EAST_MIDLANDS = {"region_code": "E12000004", "region_name": "East Midlands"}
RUTLAND = {"old_la_code": "857", "new_la_code": "E06000017", "la_name": "Rutland"}


def write_csv(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def area_row(level: str, year: int | str, **cells: object) -> dict[str, object]:
    """A row of the DfE's files for England, a region (East Midlands) or an LA (Rutland)."""
    row: dict[str, object] = {"time_period": year, **AREA, "geographic_level": level}
    row |= {
        "region_code": "",
        "region_name": "",
        "old_la_code": "",
        "new_la_code": "",
        "la_name": "",
    }
    if level != "National":
        row |= EAST_MIDLANDS
    if level == "Local authority":
        row |= RUTLAND
    return row | cells


# The 2025 release's setting columns, all 0 unless a test sets them.
SETTING_COLUMNS = (
    "mainstream_la_maintained",
    "mainstream_la_maintained_resourced_provision",
    "mainstream_la_maintained_senunit",
    "mainstream_academy",
    "mainstream_academy_resourced_provision",
    "mainstream_academy_senunit",
    "mainstream_free_school",
    "mainstream_free_school_resourced_provision",
    "mainstream_free_school_senunit",
    "mainstream_independent",
    "mainstream_total",
    "special_la_maintained",
    "special_academy_free",
    "special_independent",
    "special_non_maintained",
    "special_total",
    "ap_pru_academy",
    "ap_pru_free_school",
    "ap_pru_la_maintained",
    "ap_pru_total",
    "general_fe_tertiary_colleges",
    "specialist_post_16_institutions",
    "ukrlp_provider",
    "fe_total",
)


def caseload_2025_row(
    level: str, period: str, topic: str, breakdown: str, **cells: object
) -> dict[str, object]:
    row = area_row(level, period, breakdown_topic=topic, breakdown=breakdown)
    row["time_identifier"] = "Academic year"
    row |= dict.fromkeys(SETTING_COLUMNS, 0)
    return row | cells


def rutland_2025_file(tmp_path: Path) -> Path:
    """Rutland in January 2024 (academic year 2023/24), 100 plans, with a suppressed cell in
    three places and an unavailable one:

    * mainstream: LA maintained 40, academy "c", RP 10, total 53 -> the academy has 3;
    * special: LA maintained 20, independent "x", non-maintained 2, total 30 -> independent
      or non-maintained special is what the total leaves, 10 (not 2: "x" is not 0);
    * AP: PRU 4, free school "c", academy "c", total 5 -> the two share 1: each 1 (the least
      a suppressed count can be);
    * FE: general FE "x", specialist 3, total "x" -> post-16 is unknown, and so is "other";
    * ages 5, 7 and 9 of 100 plans: 30, "c" and 68 -> age 7 has 2.
    """
    rows = [
        caseload_2025_row(
            "Local authority",
            "202324",
            "All EHC plans",
            "All EHC plans",
            ehcplans=100,
            mainstream_la_maintained=40,
            mainstream_academy="c",
            mainstream_la_maintained_resourced_provision=10,
            mainstream_total=53,
            special_la_maintained=20,
            special_independent="x",
            special_non_maintained=2,
            special_total=30,
            ap_pru_la_maintained=4,
            ap_pru_free_school="c",
            ap_pru_academy="c",
            ap_pru_total=5,
            general_fe_tertiary_colleges="x",
            specialist_post_16_institutions=3,
            fe_total="x",
        ),
        caseload_2025_row(
            "Local authority",
            "202324",
            "Child or young persons age",
            "age 5",
            ehcplans=30,
            mainstream_la_maintained=30,
            mainstream_total=30,
        ),
        caseload_2025_row(
            "Local authority", "202324", "Child or young persons age", "age 7", ehcplans="c"
        ),
        caseload_2025_row(
            "Local authority",
            "202324",
            "Child or young persons age",
            "age 9",
            ehcplans=68,
            special_la_maintained=20,
            special_total=20,
        ),
    ]
    return write_csv(tmp_path / "caseload.csv", rows)


def setting(stats: EhcpStatistics, code: str, year: int, kind: str) -> float:
    rows = stats.by_setting
    found = rows[(rows["code"] == code) & (rows["year"] == year) & (rows["setting_type"] == kind)]
    assert len(found) == 1
    return float(found["plans"].iloc[0])


def band(stats: EhcpStatistics, code: str, year: int, age_band: str) -> float:
    rows = stats.by_age
    found = rows[(rows["code"] == code) & (rows["year"] == year) & (rows["age_band"] == age_band)]
    assert len(found) == 1
    return float(found["plans"].iloc[0])


def total(stats: EhcpStatistics, code: str, year: int) -> float:
    rows = stats.totals
    found = rows[(rows["code"] == code) & (rows["year"] == year)]
    assert len(found) == 1
    return float(found["plans"].iloc[0])


# --------------------------------------------------------------------------------------------
# Suppressed and unavailable cells, by hand


def test_fill_suppressed_shares_what_the_subtotal_leaves_within_the_range() -> None:
    parts = np.array(
        [
            [40.0, np.nan, 10.0],  # subtotal 53: the suppressed cell is 3
            [1.0, np.nan, np.nan],  # subtotal 100: 99 left for two cells: each at most 4
            [5.0, np.nan, 1.0],  # subtotal 6: nothing left: at least 1
            [5.0, np.nan, np.nan],  # no subtotal: the middle of the range
            [5.0, np.nan, np.nan],  # a missing (not suppressed) cell: the middle too
        ]
    )
    suppressed = np.array(
        [
            [False, True, False],
            [False, True, True],
            [False, True, False],
            [False, True, True],
            [False, True, False],
        ]
    )
    subtotal = np.array([53.0, 100.0, 6.0, np.nan, 10.0])
    filled, estimated = fill_suppressed(parts, suppressed, subtotal)
    low, high = SUPPRESSED_RANGE
    middle = (low + high) / 2
    assert filled[0].tolist() == [40, 3, 10]
    assert filled[1].tolist() == [1, high, high]
    assert filled[2].tolist() == [5, low, 1]
    assert filled[3].tolist() == [5, middle, middle]
    assert filled[4, 1] == middle and math.isnan(filled[4, 2])  # "x" stays unknown
    assert estimated.tolist() == suppressed.tolist()


def test_suppressed_cells_are_estimated_and_unavailable_ones_stay_unknown(tmp_path: Path) -> None:
    stats = read_ehcp_statistics(rutland_2025_file(tmp_path))
    assert total(stats, "857", 2024) == 100
    assert setting(stats, "857", 2024, MAINSTREAM) == 40 + 3
    assert setting(stats, "857", 2024, RESOURCED) == 10
    assert setting(stats, "857", 2024, SPECIAL) == 20
    assert setting(stats, "857", 2024, INDEPENDENT_SPECIAL) == 30 - 20
    assert setting(stats, "857", 2024, ALTERNATIVE) == 5  # the subtotal decides
    # "x" with no subtotal is not 0: the type is unknown, and so is the rest ("other")
    assert math.isnan(setting(stats, "857", 2024, POST_16))
    assert math.isnan(setting(stats, "857", 2024, OTHER))
    rows = stats.by_setting[(stats.by_setting["code"] == "857")]
    assert rows["estimated"].all()  # the row had estimated cells
    ages = stats.by_single_age.set_index("age")["plans"]
    assert ages.to_dict() == {5: 30.0, 7: 2.0, 9: 68.0}  # 100 - 30 - 68
    assert band(stats, "857", 2024, "5 to 10") == 100
    assert any("suppressed" in note for note in stats.notes)


def test_unavailable_total_is_missing_and_noted(tmp_path: Path) -> None:
    rows = [
        area_row("Local authority", 2021, characteristic_age="Total", Total_all=261),
        area_row("Local authority", 2022, characteristic_age="Total", Total_all="x"),
        area_row("Local authority", 2022, characteristic_age="Under 5", Total_all="c"),
        area_row("Local authority", 2022, characteristic_age="Age 5 to 10", Total_all=99),
    ]
    stats = read_ehcp_statistics(write_csv(tmp_path / "age.csv", rows))
    assert total(stats, "857", 2021) == 261
    assert math.isnan(total(stats, "857", 2022))
    # no total to take the rest from: the middle of the range, flagged
    assert band(stats, "857", 2022, "under 5") == sum(SUPPRESSED_RANGE) / 2
    assert "Rutland, January 2022: total unavailable" in stats.notes


def test_suppressed_age_band_is_the_total_less_the_other_bands(tmp_path: Path) -> None:
    bands = {"Under 5": "c", "Age 5 to 10": 99, "Age 11 to 15": 93, "Age 16 to 19": 69}
    rows = [area_row("Local authority", 2022, characteristic_age="Total", Total_all=265)]
    rows += [
        area_row("Local authority", 2022, characteristic_age=b, Total_all=v)
        for b, v in bands.items()
    ]
    rows.append(area_row("Local authority", 2022, characteristic_age="Age 20 to 25", Total_all=0))
    stats = read_ehcp_statistics(write_csv(tmp_path / "age.csv", rows))
    assert band(stats, "857", 2022, "under 5") == 4  # 265 - 261, within 1-4


def test_a_count_that_is_not_a_number_is_reported_with_file_row_and_column(tmp_path: Path) -> None:
    rows = [
        area_row("Local authority", 2022, characteristic_age="Total", Total_all=265),
        area_row("Local authority", 2022, characteristic_age="Under 5", Total_all="about 6"),
        area_row("Local authority", 2022, characteristic_age="Age 5 to 10", Total_all=-3),
    ]
    with pytest.raises(InputError) as caught:
        read_ehcp_statistics(write_csv(tmp_path / "age.csv", rows))
    where = [(p.file, p.row, p.field) for p in caught.value.problems]
    assert where == [("age.csv", 3, "total_all"), ("age.csv", 4, "total_all")]
    assert "not a count" in caught.value.problems[0].message


def test_a_file_that_is_not_a_caseload_file_is_refused(tmp_path: Path) -> None:
    other = write_csv(tmp_path / "requests.csv", [{"time_period": 2022, "requests": 5}])
    with pytest.raises(InputError) as caught:
        read_ehcp_statistics(other)
    assert "is not a caseload file" in caught.value.problems[0].message


def test_a_release_zip_is_read_and_its_other_files_skipped(tmp_path: Path) -> None:
    rows = [
        area_row("Local authority", y, characteristic_age="Total", Total_all=t)
        for y, t in ((2021, 261), (2022, 279))
    ]
    inner = write_csv(tmp_path / "sen2_age_caseload.csv", rows)
    other = write_csv(tmp_path / "requests.csv", [{"time_period": 2022, "requests": 5}])
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(inner, "data/sen2_age_caseload.csv")
        zf.write(other, "data/requests.csv")
        zf.writestr("data-guidance/data-guidance.txt", "guidance")
    stats = read_ehcp_statistics(archive)
    assert total(stats, "857", 2022) == 279
    assert stats.last_year == 2022


def test_the_2024_release_layout_reads_its_total_rows(tmp_path: Path) -> None:
    rows = []
    for kind, plans in (("EHCP", 270), ("Statement", "z"), ("Total", 270)):
        rows.append(
            area_row(
                "Local authority", 2024, age="Total", ehcp_or_statement=kind, num_caseload=plans
            )
        )
        rows.append(
            area_row(
                "Local authority",
                2024,
                age="Age 11 to 15",
                ehcp_or_statement=kind,
                num_caseload=plans,
            )
        )
    stats = read_ehcp_statistics(write_csv(tmp_path / "caseload_age.csv", rows))
    assert total(stats, "857", 2024) == 270
    assert band(stats, "857", 2024, "11 to 15") == 270


def test_a_newer_release_wins_for_a_year_both_cover(tmp_path: Path) -> None:
    old = write_csv(
        tmp_path / "old.csv",
        [area_row("Local authority", 2022, characteristic_age="Total", Total_all=279)],
    )
    new = write_csv(
        tmp_path / "new.csv",
        [
            area_row(
                "Local authority", 2022, age="Total", ehcp_or_statement="Total", num_caseload=281
            )
        ],
    )
    for order in ([old, new], [new, old]):
        assert total(read_ehcp_statistics(order), "857", 2022) == 281


# --------------------------------------------------------------------------------------------
# The real files


@pytest.fixture(scope="module")
def real() -> EhcpStatistics:
    if not all(p.exists() for p in REAL_FILES):
        pytest.skip(f"the DfE's EHC plan statistics are not at {DFE} (../shared/data is absent)")
    return read_ehcp_statistics(REAL_FILES)


@needs_dfe_statistics
def test_real_files_give_the_published_figures(real: EhcpStatistics) -> None:
    """PROVENANCE.md: Rutland 197 plans in January 2019 and 340 in January 2024; England
    353,995 in 2019. 2018 is the age file's 319,819 (the establishment file has 7,193 fewer)."""
    assert total(real, "857", 2019) == 197
    assert total(real, "857", 2024) == 340
    assert total(real, ENGLAND, 2019) == 353_995
    assert total(real, ENGLAND, 2018) == 319_819
    assert real.last_year == 2024
    las = real.areas[(real.areas["level"] == "la") & (real.areas["last_year"] == 2024)]
    assert len(las) >= 150
    # the 2025 release's single ages add up to the DfE's published band (2024 release)
    assert band(real, ENGLAND, 2024, "11 to 15") == 208_609
    # plans of 20-25-year-olds did not exist before 2015: no figure, never a 0
    before = real.by_age[(real.by_age["year"] < 2015) & (real.by_age["age_band"] == "20 to 25")]
    assert before["plans"].isna().all()


@needs_dfe_statistics
def test_real_setting_types_agree_between_the_two_releases() -> None:
    """The 2025 release's setting columns and the 2022 release's establishment types are
    mapped to the same setting types: every LA's 2019-2022 figures agree."""
    new = read_ehcp_statistics(SETTING_FILE).by_setting
    old = read_ehcp_statistics(ESTABLISHMENT_FILE).by_setting
    key = ["code", "year", "setting_type"]
    both = new[new["year"].between(2019, 2022)].merge(old, on=key, suffixes=("_new", "_old"))
    assert len(both) > 4 * 150 * 6
    assert np.allclose(both["plans_new"], both["plans_old"], equal_nan=True)


@needs_dfe_statistics
def test_real_unavailable_settings_are_unknown_not_zero(real: EhcpStatistics) -> None:
    """Hackney and Peterborough returned totals only in 2024 ("x" in every setting)."""
    assert total(real, "204", 2024) > 3000
    assert math.isnan(setting(real, "204", 2024, MAINSTREAM))
    assert "Hackney, January 2024: types of setting unavailable" in real.notes


@needs_dfe_statistics
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("857", "857"),
        ("E06000017", "857"),
        ("rutland", "857"),
        (" Rutland ", "857"),
        ("Dorset", "838"),
        ("Bournemouth, Christchurch & Poole", "839"),
    ],
)
def test_find_la_by_code_or_name(real: EhcpStatistics, query: str, code: str) -> None:
    assert find_la(real, query) == code


@needs_dfe_statistics
@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("Rutlnd", "the closest: Rutland (857)"),
        ("Northampton", "matches several LAs: Northamptonshire (928), North Northamptonshire"),
        (
            "Northamptonshire",
            "forecast North Northamptonshire (940) or West Northamptonshire (941)",
        ),
        ("Atlantis", "give a 3-digit LA code such as 857"),
    ],
)
def test_find_la_suggests_names(real: EhcpStatistics, query: str, said: str) -> None:
    with pytest.raises(UnknownAreaError) as caught:
        find_la(real, query)
    assert said in str(caught.value)
