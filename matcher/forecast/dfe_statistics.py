"""Readers of the DfE's published statistics "Education, health and care plans".

The DfE publishes, every June on explore-education-statistics, the EHC plans of every English
LA each January: in total, by age and by type of setting, with regional and national rows. Most
planners start from these, not from a person-level history, so :mod:`matcher.forecast.la_totals`
forecasts every LA from them. Three layouts of the caseload files are read, recognised by their
header (never by the file name, which changes between releases):

* the 2025 release's ``caseload.csv`` (academic years 2018/19 onwards): one row per area x
  breakdown (all plans, each single year of age, sex, ...) with a column per type of setting;
* the 2022 release's ``sen2_age_caseload.csv`` and ``sen2_estab_caseload.csv`` (January
  2010-2022): one row per area x age band or establishment type, counts in ``Total_all``;
* the 2023 and 2024 releases' files of the same content, counts in ``num_caseload`` with an
  ``ehcp_or_statement`` column (the "Total" rows are read).

Several files can be given at once (CSV files or the release's "Download all data" ZIP): for a
year that two releases both cover, the newer release wins, since the DfE revises past figures.

Cells that are not counts are never read as zero. ``x`` (unavailable), ``z`` (not applicable),
``:`` and blank cells are missing: a total, age band or setting made from a missing cell is
missing too (unless the DfE's subtotal of its kind and the other types in that subtotal are
known: then it is the subtotal less them), and the model estimates around it. ``c``
(suppressed: a small count withheld) is estimated: the cell's share of what its subtotal
leaves once the known cells are taken away (the total of all plans for an age, the total of
its kind for a type of setting), kept within :data:`SUPPRESSED_RANGE`; without a subtotal,
the middle of that range. Every estimate is
flagged (``estimated``) and counted in :attr:`EhcpStatistics.notes`.

Counts of statements of SEN are included with EHC plans before 2019 ("Total_all", or the
"Total" of ``ehcp_or_statement``): statements were converted to plans by 2018, and the sum is
the continuous series.
"""

from __future__ import annotations

import csv
import difflib
import io as stdio
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.io import InputError, InputProblem

#: The age groups of the plans, as the DfE's age bands (the single years of the 2025 release
#: are added up into them), youngest first. An age is the age on the 31 August before.
AGE_BANDS: tuple[str, ...] = ("under 5", "5 to 10", "11 to 15", "16 to 19", "20 to 25")
#: The first and last age of each band.
AGE_BAND_RANGES: tuple[tuple[int, int], ...] = ((0, 4), (5, 10), (11, 15), (16, 19), (20, 25))

#: The types of setting a forecast is split into, as planners report them.
MAINSTREAM = "mainstream school"
RESOURCED = "resourced provision or SEN unit"
SPECIAL = "special school (maintained, academy, free)"
INDEPENDENT_SPECIAL = "independent or non-maintained special"
ALTERNATIVE = "alternative provision"
POST_16 = "post-16 and further education"
OTHER = "other or not recorded"
SETTING_TYPES: tuple[str, ...] = (
    MAINSTREAM,
    RESOURCED,
    SPECIAL,
    INDEPENDENT_SPECIAL,
    ALTERNATIVE,
    POST_16,
    OTHER,
)
#: Setting types that are special schools, for "the share in special schools".
SPECIAL_SCHOOLS: tuple[str, ...] = (SPECIAL, INDEPENDENT_SPECIAL)

ENGLAND = "E92000001"
#: A suppressed ("c") count is at least 1 and at most 4: estimates are kept in this range.
SUPPRESSED_RANGE: tuple[float, float] = (1.0, 4.0)
#: Marks the DfE uses for a cell with no number: unavailable, not applicable, not available.
MISSING_MARKS = frozenset({"x", "z", ":", "", ".."})
#: Marks for a count withheld because it is small.
SUPPRESSED_MARKS = frozenset({"c", "low"})
#: The most a recognised file inside a ZIP may take once unzipped (the largest caseload file
#: of a release is about 30 MB).
MAX_MEMBER_BYTES = 500 * 1024 * 1024

LA = "la"
REGION = "region"
NATIONAL = "england"
_LEVELS = {"local authority": LA, "regional": REGION, "national": NATIONAL}

_AREA_COLUMNS = (
    "time_period",
    "geographic_level",
    "country_code",
    "region_code",
    "region_name",
    "old_la_code",
    "new_la_code",
    "la_name",
)


class Layout(IntEnum):
    """The layouts read, valued by release: a newer release wins for a year both cover. In
    one release the age file's totals win over the establishment file's: they are the DfE's
    headline figures (in January 2018 the establishment file has 7,193 fewer plans)."""

    ESTABLISHMENT_2022 = 1
    AGE_2022 = 2
    ESTABLISHMENT_2024 = 3
    AGE_2024 = 4
    CASELOAD_2025 = 5


#: Columns (beyond the area's) that identify each layout.
_SIGNATURES: tuple[tuple[Layout, frozenset[str]], ...] = (
    (Layout.CASELOAD_2025, frozenset({"breakdown_topic", "breakdown", "ehcplans"})),
    (Layout.ESTABLISHMENT_2024, frozenset({"establishment_type", "num_caseload"})),
    (Layout.AGE_2024, frozenset({"age", "ehcp_or_statement", "num_caseload"})),
    (Layout.ESTABLISHMENT_2022, frozenset({"establishment_type", "total_all"})),
    (Layout.AGE_2022, frozenset({"characteristic_age", "total_all"})),
)

# The 2025 release's columns of each setting type, with the subtotal they make up.
_SUBTOTALS_2025: dict[str, tuple[str, ...]] = {
    "mainstream_total": (
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
    ),
    "special_total": (
        "special_la_maintained",
        "special_academy_free",
        "special_independent",
        "special_non_maintained",
    ),
    "ap_pru_total": ("ap_pru_academy", "ap_pru_free_school", "ap_pru_la_maintained"),
    "fe_total": (
        "general_fe_tertiary_colleges",
        "specialist_post_16_institutions",
        "ukrlp_provider",
    ),
}
_SETTING_OF_2025: dict[str, str] = {
    "mainstream_la_maintained": MAINSTREAM,
    "mainstream_academy": MAINSTREAM,
    "mainstream_free_school": MAINSTREAM,
    "mainstream_independent": MAINSTREAM,
    "mainstream_la_maintained_resourced_provision": RESOURCED,
    "mainstream_la_maintained_senunit": RESOURCED,
    "mainstream_academy_resourced_provision": RESOURCED,
    "mainstream_academy_senunit": RESOURCED,
    "mainstream_free_school_resourced_provision": RESOURCED,
    "mainstream_free_school_senunit": RESOURCED,
    "special_la_maintained": SPECIAL,
    "special_academy_free": SPECIAL,
    "special_independent": INDEPENDENT_SPECIAL,
    "special_non_maintained": INDEPENDENT_SPECIAL,
    "ap_pru_academy": ALTERNATIVE,
    "ap_pru_free_school": ALTERNATIVE,
    "ap_pru_la_maintained": ALTERNATIVE,
    "general_fe_tertiary_colleges": POST_16,
    "specialist_post_16_institutions": POST_16,
    "ukrlp_provider": POST_16,
}
# The 2022-2024 releases' establishment types (lower case) and their setting type; every other
# type (early years, NEET, home education, awaiting provision, ...) is "other", as the remainder
# of the total, so that the subtotals the file also lists are not counted twice.
_SETTING_OF_ESTABLISHMENT: dict[str, str] = {
    "mainstream - la maintained": MAINSTREAM,
    "mainstream - academy": MAINSTREAM,
    "mainstream - free school": MAINSTREAM,
    "mainstream - independent": MAINSTREAM,
    "mainstream - la maintained - sen unit": RESOURCED,
    "mainstream - la maintained - resourced provision": RESOURCED,
    "mainstream - academy - sen unit": RESOURCED,
    "mainstream - academy - resourced provision": RESOURCED,
    "mainstream - free school - sen unit": RESOURCED,
    "mainstream - free school - resourced provision": RESOURCED,
    "special - la maintained": SPECIAL,
    "special - academy/free": SPECIAL,
    "special - academy": SPECIAL,
    "special - free school": SPECIAL,
    "hospital school": SPECIAL,
    "special - independent": INDEPENDENT_SPECIAL,
    "special - non-maintained": INDEPENDENT_SPECIAL,
    "ap/pru - la maintained": ALTERNATIVE,
    "ap/pru - academy": ALTERNATIVE,
    "ap/pru - free school": ALTERNATIVE,
    "general fe and tertiary colleges/he": POST_16,
    "other fe": POST_16,
    "sixth form college": POST_16,
    "specialist post-16 institutions": POST_16,
    "independent specialist providers": POST_16,
}


@dataclass(frozen=True)
class EhcpStatistics:
    """The EHC plans of every area each January, as tidy tables (counts as floats, NaN when
    not known).

    Attributes
    ----------
    areas
        One row per area: ``code`` (an LA's 3-digit code such as ``"857"``, a region's or
        England's ONS code), ``level`` (``"la"``, ``"region"``, ``"england"``), ``name``,
        ``new_code`` (an LA's ONS code), ``region_code``, ``region_name``, ``first_year`` and
        ``last_year`` with a total.
    totals
        ``code``, ``year``, ``plans``: all EHC plans (and statements before 2019) in January.
    by_age
        ``code``, ``year``, ``age_band`` (:data:`AGE_BANDS`), ``plans``, ``estimated``.
    by_single_age
        ``code``, ``year``, ``age`` (``-1`` for the DfE's "under 3"), ``plans``: where a file
        has single years of age (the 2025 release).
    by_setting
        ``code``, ``year``, ``setting_type`` (:data:`SETTING_TYPES`), ``plans``, ``estimated``.
    by_age_setting
        ``code``, ``year``, ``age_band``, ``setting_type``, ``plans``: where a file crosses age
        and setting (the 2025 release, for its latest year).
    notes
        What a planner should know about the data: suppressed cells estimated, areas with
        unavailable figures.
    files
        The files read.
    """

    areas: pd.DataFrame
    totals: pd.DataFrame
    by_age: pd.DataFrame
    by_single_age: pd.DataFrame
    by_setting: pd.DataFrame
    by_age_setting: pd.DataFrame
    notes: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def last_year(self) -> int:
        """The latest January with a national or LA total."""
        return int(self.totals["year"].max())

    def la_codes(self) -> list[str]:
        return sorted(self.areas.loc[self.areas["level"] == LA, "code"])


@dataclass
class _Part:
    """What one file gave, before files are merged."""

    layout: Layout
    order: int
    areas: pd.DataFrame
    totals: pd.DataFrame | None = None
    by_age: pd.DataFrame | None = None
    by_single_age: pd.DataFrame | None = None
    by_setting: pd.DataFrame | None = None
    by_age_setting: pd.DataFrame | None = None
    estimated: int = 0
    unavailable: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Reading


def read_ehcp_statistics(paths: Path | str | Sequence[Path | str]) -> EhcpStatistics:
    """The statistics in one or more files: CSV files of the layouts above, or ZIPs of a
    release (as "Download all data" gives them), in any order.

    Raises
    ------
    InputError
        With every problem found (file, row, column, reason): a file that is not one of the
        caseload layouts, a column missing, a count that is not a number or a DfE mark.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    parts: list[_Part] = []
    problems: list[InputProblem] = []
    names: list[str] = []
    for path in map(Path, paths):
        names.append(path.name)
        try:
            for name, text in _csv_texts(path):
                part = _read_text(name, text, len(parts), problems)
                if part is not None:
                    parts.append(part)
        except InputError as exc:
            problems.extend(exc.problems)
    if not problems and not parts:
        problems.append(
            InputProblem(
                ", ".join(names) or "(no file)",
                None,
                None,
                "no EHC plan caseload file found: give the DfE's 'Education, health and care "
                "plans' caseload CSV files, or the ZIP of a release's data",
            )
        )
    if problems:
        raise InputError(problems)
    return _merge(parts, tuple(names))


def _csv_texts(path: Path) -> Iterator[tuple[str, stdio.TextIOBase]]:
    """Each CSV in ``path`` (itself, or a ZIP's members) as text, with the name to report."""
    if not path.is_file():
        raise InputError([InputProblem(path.name, None, None, "no such file")])
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".csv")]
            for member in members:
                label = f"{path.name}:{member.filename}"
                if member.file_size > MAX_MEMBER_BYTES:
                    raise InputError(
                        [InputProblem(label, None, None, "is too large once unzipped")]
                    )
                with archive.open(member) as raw:
                    yield label, stdio.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return
    if path.suffix.lower() != ".csv":
        raise InputError(
            [
                InputProblem(
                    path.name, None, None, "give a .csv file of the DfE's statistics or a .zip"
                )
            ]
        )
    with path.open(encoding="utf-8-sig", newline="") as text:
        yield path.name, text


def _read_text(
    name: str, text: stdio.TextIOBase, order: int, problems: list[InputProblem]
) -> _Part | None:
    header_line = text.readline()
    header = [_column(c) for c in next(csv.reader([header_line]), [])]
    layout = _layout(header)
    if layout is None:
        if ":" not in name:  # a file the user named: say what it is not
            problems.append(
                InputProblem(
                    name,
                    1,
                    None,
                    "is not a caseload file of the DfE's 'Education, health and care plans' "
                    "statistics (expected columns such as time_period, geographic_level, "
                    "old_la_code and ehcplans, Total_all or num_caseload)",
                )
            )
        return None  # other files of a release's ZIP (requests, new plans, ...) are skipped
    missing = [c for c in _AREA_COLUMNS if c not in header]
    if missing:
        problems.append(InputProblem(name, 1, None, f"missing column(s): {', '.join(missing)}"))
        return None
    frame = pd.read_csv(
        stdio.StringIO(header_line + text.read()),
        dtype=str,
        keep_default_na=False,
        encoding_errors="strict",
    )
    frame.columns = header
    frame["row"] = np.arange(2, len(frame) + 2)
    reader = _READERS[layout]
    found = len(problems)
    part = reader(name, frame, order, problems)
    return part if len(problems) == found else None


def _column(name: str) -> str:
    return "_".join(name.strip().lower().split())


def _layout(header: Sequence[str]) -> Layout | None:
    columns = set(header)
    for layout, needed in _SIGNATURES:
        if needed <= columns:
            return layout
    return None


# --------------------------------------------------------------------------------------------
# Cells


def parse_counts(
    cells: pd.Series, name: str, column: str, rows: pd.Series, problems: list[InputProblem]
) -> tuple[np.ndarray, np.ndarray]:
    """The counts of a column, and which were suppressed: a missing mark gives NaN (never
    0), a suppressed one NaN and True in the mask, anything else not a count a problem."""
    text = cells.str.strip().str.lower()
    number = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    suppressed = text.isin(SUPPRESSED_MARKS).to_numpy()
    bad = number.isna() & ~text.isin(MISSING_MARKS | SUPPRESSED_MARKS)
    bad |= number < 0
    for row in rows[bad].head(10):
        problems.append(
            InputProblem(
                name,
                int(row),
                column,
                "is not a count: give a whole number, or one of the DfE's marks x "
                "(unavailable), z (not applicable) or c (suppressed)",
            )
        )
    return number.to_numpy(dtype=float), suppressed


def fill_suppressed(
    parts: np.ndarray, suppressed: np.ndarray, subtotal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate suppressed cells from what their subtotal leaves.

    ``parts`` is rows x cells (NaN where not known), ``suppressed`` the same shape, and
    ``subtotal`` the known total each row's cells make up (NaN when not known). In each row,
    the suppressed cells share the subtotal less the known cells equally, each kept within
    :data:`SUPPRESSED_RANGE`; without a subtotal (or with another cell of the row missing),
    each is the middle of the range. Missing cells that are not suppressed stay NaN.

    Returns the filled parts and the mask of estimated cells.
    """
    filled = np.array(parts, dtype=float, copy=True)
    mask = np.asarray(suppressed, dtype=bool) & np.isnan(filled)
    if not mask.any():
        return filled, mask
    low, high = SUPPRESSED_RANGE
    known = np.where(mask, 0.0, filled)
    other_missing = np.isnan(known).any(axis=1)
    count = mask.sum(axis=1)
    left = np.asarray(subtotal, dtype=float) - np.nansum(known, axis=1)
    share = np.where(
        np.isfinite(left) & ~other_missing & (count > 0),
        left / np.maximum(count, 1),
        (low + high) / 2,
    )
    share = np.clip(share, low, high)
    filled[mask] = np.broadcast_to(share[:, None], filled.shape)[mask]
    return filled, mask


def _year(time_period: pd.Series) -> pd.Series:
    """January of the period: ``2022`` is January 2022, academic year ``201819`` January 2019."""
    text = time_period.str.strip()
    year = pd.to_numeric(text.str[:4], errors="coerce")
    return (year + (text.str.len() == 6)).astype("Int64")


def _areas(frame: pd.DataFrame) -> pd.DataFrame:
    level = frame["geographic_level"].str.strip().str.lower().map(_LEVELS)
    code = np.where(
        level == LA,
        frame["old_la_code"]
        .str.strip()
        .where(frame["old_la_code"].str.strip() != "", frame["new_la_code"].str.strip()),
        np.where(
            level == REGION, frame["region_code"].str.strip(), frame["country_code"].str.strip()
        ),
    )
    name = np.where(
        level == LA,
        frame["la_name"],
        np.where(level == REGION, frame["region_name"], frame.get("country_name", "England")),
    )
    return pd.DataFrame(
        {
            "code": code,
            "level": level,
            "name": pd.Series(name, index=frame.index).astype(str).str.strip(),
            "new_code": np.where(level == LA, frame["new_la_code"].str.strip(), code),
            "region_code": np.where(level == NATIONAL, "", frame["region_code"].str.strip()),
            "region_name": np.where(level == NATIONAL, "", frame["region_name"].str.strip()),
            "year": _year(frame["time_period"]),
            "row": frame["row"],
        },
        index=frame.index,
    )


def _check_years(name: str, areas: pd.DataFrame, problems: list[InputProblem]) -> pd.Series:
    """Rows with a known area and year (the others, e.g. local authority districts, are not
    read); a time period that is not a year is a problem."""
    bad = areas["year"].isna()
    for row in areas.loc[bad, "row"].head(10):
        problems.append(
            InputProblem(name, int(row), "time_period", "is not a year such as 2022 or 201819")
        )
    return areas["level"].notna() & ~bad


# --------------------------------------------------------------------------------------------
# Layouts


def _read_caseload_2025(
    name: str, frame: pd.DataFrame, order: int, problems: list[InputProblem]
) -> _Part:
    areas = _areas(frame)
    keep = _check_years(name, areas, problems)
    frame, areas = frame[keep], areas[keep]
    topic = frame["breakdown_topic"].str.strip().str.lower()
    breakdown = frame["breakdown"].str.strip().str.lower()
    rows = frame["row"]
    total, total_c = parse_counts(frame["ehcplans"], name, "ehcplans", rows, problems)
    part = _Part(Layout.CASELOAD_2025, order, _area_table(areas))

    settings, estimated = _settings_2025(name, frame, total, problems)
    everyone = (topic == "all ehc plans").to_numpy()
    key = areas[["code", "year"]].reset_index(drop=True)
    part.totals = key[everyone].assign(plans=total[everyone])
    part.by_setting = _long(key[everyone], settings[everyone], SETTING_TYPES, "setting_type")
    part.by_setting["estimated"] = np.repeat(estimated[everyone], len(SETTING_TYPES))

    by_age = (topic == "child or young persons age").to_numpy()
    ages = breakdown[by_age].map(_single_age).to_numpy()
    age_key = key[by_age].assign(age=ages)
    age_totals = _lookup(age_key, part.totals)
    age_plans, age_estimated = _fill_by_group(age_key, total[by_age], total_c[by_age], age_totals)
    part.by_single_age = age_key.assign(plans=age_plans).dropna(subset=["age"])
    part.by_single_age["age"] = part.by_single_age["age"].astype(int)
    part.by_age = _bands_of_single_ages(part.by_single_age, age_estimated)
    band = np.array([_band_of_age(a) for a in ages], dtype=object)
    cross = age_key.assign(age_band=band).drop(columns="age")
    cross_settings = settings[by_age]
    part.by_age_setting = _long(
        cross[["code", "year", "age_band"]], cross_settings, SETTING_TYPES, "setting_type"
    )
    part.by_age_setting = (
        part.by_age_setting.dropna(subset=["age_band"])
        .groupby(["code", "year", "age_band", "setting_type"])["plans"]
        .sum(min_count=1)
        .reset_index()
    )
    part.estimated = int(estimated.sum() + age_estimated.sum() + total_c[everyone].sum())
    unavailable = np.isnan(total[everyone])
    part.unavailable = _unavailable(areas[everyone], unavailable, "total")
    no_settings = np.isnan(settings[everyone]).all(axis=1) & ~unavailable
    part.unavailable += _unavailable(areas[everyone], no_settings, "types of setting")
    return part


def _settings_2025(
    name: str, frame: pd.DataFrame, total: np.ndarray, problems: list[InputProblem]
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's plans by :data:`SETTING_TYPES` (rows x types), and how many of the row's
    cells were estimated. "Other" is the total less the rest."""
    rows = frame["row"]
    out = np.full((len(frame), len(SETTING_TYPES)), np.nan)
    estimated = np.zeros(len(frame))
    for subtotal_column, columns in _SUBTOTALS_2025.items():
        if subtotal_column not in frame.columns or any(c not in frame.columns for c in columns):
            absent = [c for c in (subtotal_column, *columns) if c not in frame.columns]
            problems.append(InputProblem(name, 1, None, f"missing column(s): {', '.join(absent)}"))
            continue
        subtotal, sub_c = parse_counts(
            frame[subtotal_column], name, subtotal_column, rows, problems
        )
        cells = [parse_counts(frame[c], name, c, rows, problems) for c in columns]
        values, mask = fill_suppressed(
            np.column_stack([v for v, _ in cells]), np.column_stack([m for _, m in cells]), subtotal
        )
        estimated += mask.sum(axis=1) + sub_c
        kinds = [_SETTING_OF_2025[c] for c in columns]
        sums = {
            kind: values[:, [n for n, k in enumerate(kinds) if k == kind]].sum(axis=1)
            for kind in dict.fromkeys(kinds)
        }  # NaN where a part is missing
        for kind, summed in sums.items():
            others = [s for k, s in sums.items() if k != kind]
            rest = subtotal - np.sum(others, axis=0) if others else subtotal
            # the subtotal decides when a part is missing: ukrlp_provider is x before 2023
            # while fe_total is known, since those plans were counted elsewhere
            out[:, SETTING_TYPES.index(kind)] = np.where(np.isfinite(summed), summed, rest)
            if not others:
                out[:, SETTING_TYPES.index(kind)] = np.where(
                    np.isfinite(subtotal), subtotal, summed
                )
    known = out[:, : len(SETTING_TYPES) - 1].sum(axis=1)
    out[:, -1] = np.maximum(total - known, 0.0)  # NaN when the total or a type is missing
    out[np.isnan(total)] = np.nan
    return out, estimated


def _read_age_2022(
    name: str, frame: pd.DataFrame, order: int, problems: list[InputProblem]
) -> _Part:
    return _read_banded(
        name, frame, order, problems, Layout.AGE_2022, "characteristic_age", "total_all"
    )


def _read_age_2024(
    name: str, frame: pd.DataFrame, order: int, problems: list[InputProblem]
) -> _Part:
    frame = frame[frame["ehcp_or_statement"].str.strip().str.lower() == "total"]
    return _read_banded(name, frame, order, problems, Layout.AGE_2024, "age", "num_caseload")


def _read_banded(
    name: str,
    frame: pd.DataFrame,
    order: int,
    problems: list[InputProblem],
    layout: Layout,
    age_column: str,
    count_column: str,
) -> _Part:
    areas = _areas(frame)
    keep = _check_years(name, areas, problems)
    frame, areas = frame[keep], areas[keep]
    counts, suppressed = parse_counts(
        frame[count_column], name, count_column, frame["row"], problems
    )
    label = frame[age_column].str.strip().str.lower()
    is_total = (label == "total").to_numpy()
    band = label.map(_band_label).to_numpy()
    key = areas[["code", "year"]].reset_index(drop=True)
    part = _Part(layout, order, _area_table(areas))
    part.totals = key[is_total].assign(plans=counts[is_total])
    banded = ~is_total & pd.notna(band)
    band_key = key[banded].assign(age_band=band[banded])
    plans, estimated = _fill_by_group(
        band_key, counts[banded], suppressed[banded], _lookup(band_key, part.totals)
    )
    part.by_age = band_key.assign(plans=plans, estimated=estimated)
    part.estimated = int(estimated.sum() + suppressed[is_total].sum())
    part.unavailable = _unavailable(areas[is_total], np.isnan(counts[is_total]), "total")
    return part


def _read_establishment_2022(
    name: str, frame: pd.DataFrame, order: int, problems: list[InputProblem]
) -> _Part:
    return _read_establishments(
        name, frame, order, problems, Layout.ESTABLISHMENT_2022, "total_all"
    )


def _read_establishment_2024(
    name: str, frame: pd.DataFrame, order: int, problems: list[InputProblem]
) -> _Part:
    if "ehcp_or_statement" in frame.columns:
        frame = frame[frame["ehcp_or_statement"].str.strip().str.lower() == "total"]
    return _read_establishments(
        name, frame, order, problems, Layout.ESTABLISHMENT_2024, "num_caseload"
    )


def _read_establishments(
    name: str,
    frame: pd.DataFrame,
    order: int,
    problems: list[InputProblem],
    layout: Layout,
    count_column: str,
) -> _Part:
    areas = _areas(frame)
    keep = _check_years(name, areas, problems)
    frame, areas = frame[keep], areas[keep]
    counts, suppressed = parse_counts(
        frame[count_column], name, count_column, frame["row"], problems
    )
    kind = frame["establishment_type"].str.strip().str.lower()
    group = (
        frame["establishment_group"].str.strip().str.lower()
        if "establishment_group" in frame.columns
        else pd.Series("total", index=frame.index)
    )
    key = areas[["code", "year"]].reset_index(drop=True)
    is_total = ((kind == "total") & (group == "total")).to_numpy()
    part = _Part(layout, order, _area_table(areas))
    part.totals = key[is_total].assign(plans=counts[is_total])
    setting = kind.map(_SETTING_OF_ESTABLISHMENT).to_numpy()
    typed = pd.notna(setting)
    typed_key = key[typed].assign(setting_type=setting[typed])
    # a suppressed type: its share of what the total leaves (types only, not the subtotals)
    plans, estimated = _fill_by_group(
        typed_key, counts[typed], suppressed[typed], _lookup(typed_key, part.totals)
    )
    summed = (
        typed_key.assign(plans=plans, estimated=estimated)
        .groupby(["code", "year", "setting_type"])
        .agg(plans=("plans", lambda s: s.sum(min_count=len(s))), estimated=("estimated", "any"))
    )
    totals = part.totals.drop_duplicates(["code", "year"]).set_index(["code", "year"])["plans"]
    kinds = list(SETTING_TYPES[:-1])
    wide = summed["plans"].unstack("setting_type").reindex(index=totals.index, columns=kinds)
    rows_of_type = (summed["plans"].notna() | summed["plans"].isna()).unstack("setting_type")
    listed = rows_of_type.reindex(index=totals.index, columns=kinds)
    wide = wide.where(listed.notna(), 0.0)  # an area lists no row of a type it has none of
    wide[OTHER] = (totals - wide.sum(axis=1, min_count=len(kinds))).clip(lower=0.0)
    wide.loc[totals.isna()] = np.nan
    flagged = summed["estimated"].groupby(level=["code", "year"]).any()
    long = wide.reset_index().melt(
        id_vars=["code", "year"], var_name="setting_type", value_name="plans"
    )
    index = pd.MultiIndex.from_frame(long[["code", "year"]])
    long["estimated"] = flagged.reindex(index).fillna(False).to_numpy(dtype=bool)
    part.by_setting = long
    part.estimated = int(estimated.sum() + suppressed[is_total].sum())
    part.unavailable = _unavailable(areas[is_total], np.isnan(counts[is_total]), "total")
    return part


_READERS = {
    Layout.CASELOAD_2025: _read_caseload_2025,
    Layout.AGE_2022: _read_age_2022,
    Layout.AGE_2024: _read_age_2024,
    Layout.ESTABLISHMENT_2022: _read_establishment_2022,
    Layout.ESTABLISHMENT_2024: _read_establishment_2024,
}


# --------------------------------------------------------------------------------------------
# Helpers of the layouts


def _single_age(label: str) -> float:
    """``"age 7"`` is 7, ``"under 3"`` is -1 (ages 0-2, in the under-5 band)."""
    if label.startswith("under"):
        return -1.0
    match = re.fullmatch(r"age\s+(\d+)", label)
    return float(match.group(1)) if match else np.nan


def _band_of_age(age: float) -> str | None:
    if np.isnan(age):
        return None
    for band, (first, last) in zip(AGE_BANDS, AGE_BAND_RANGES, strict=True):
        if age <= last and (age >= first or band == AGE_BANDS[0]):
            return band
    return None


def _band_label(label: str) -> str | None:
    """The DfE's age band labels ("Under 5", "Age 5 to 10", ...) as :data:`AGE_BANDS`."""
    text = label.removeprefix("age").strip()
    return text if text in AGE_BANDS else None


def _bands_of_single_ages(single: pd.DataFrame, estimated: np.ndarray) -> pd.DataFrame:
    frame = single.assign(
        age_band=np.array([_band_of_age(a) for a in single["age"]], dtype=object),
        estimated=estimated[: len(single)] if len(estimated) == len(single) else False,
    )
    return frame.groupby(["code", "year", "age_band"], as_index=False).agg(
        plans=("plans", lambda s: s.sum(min_count=len(s))), estimated=("estimated", "any")
    )


def _lookup(key: pd.DataFrame, totals: pd.DataFrame) -> np.ndarray:
    index = pd.MultiIndex.from_frame(key[["code", "year"]])
    found = totals.drop_duplicates(["code", "year"]).set_index(["code", "year"])["plans"]
    return found.reindex(index).to_numpy(dtype=float)


def _fill_by_group(
    key: pd.DataFrame, counts: np.ndarray, suppressed: np.ndarray, subtotal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Suppressed counts of rows that make up one subtotal per (code, year) group (the ages
    of an LA's January, say): each a share of what the group's subtotal leaves."""
    counts = np.asarray(counts, dtype=float)
    suppressed = np.asarray(suppressed, dtype=bool)
    if not suppressed.any():
        return counts, np.zeros(len(counts), dtype=bool)
    groups = key.groupby(["code", "year"], sort=False).indices
    filled = counts.copy()
    estimated = np.zeros(len(counts), dtype=bool)
    for members in groups.values():
        if not suppressed[members].any():
            continue
        values, mask = fill_suppressed(
            counts[members][None, :], suppressed[members][None, :], subtotal[members][:1]
        )
        filled[members] = values[0]
        estimated[members] = mask[0]
    return filled, estimated


def _long(key: pd.DataFrame, values: np.ndarray, names: Sequence[str], column: str) -> pd.DataFrame:
    key = key.reset_index(drop=True)
    repeated = key.loc[key.index.repeat(len(names))].reset_index(drop=True)
    repeated[column] = np.tile(np.asarray(names, dtype=object), len(key))
    repeated["plans"] = np.asarray(values, dtype=float).reshape(-1)
    return repeated


def _area_table(areas: pd.DataFrame) -> pd.DataFrame:
    return areas.drop(columns="row")


def _unavailable(areas: pd.DataFrame, missing: np.ndarray, what: str) -> list[str]:
    rows = areas[np.asarray(missing, dtype=bool)]
    return [
        f"{name}, January {year}: {what} unavailable"
        for name, year in zip(rows["name"], rows["year"], strict=True)
    ]


# --------------------------------------------------------------------------------------------
# Merging files


def _merge(parts: Sequence[_Part], files: tuple[str, ...]) -> EhcpStatistics:
    ranked = sorted(parts, key=lambda p: (int(p.layout), p.order))

    def combine(attribute: str, key: Sequence[str]) -> pd.DataFrame:
        frames = []
        for rank, part in enumerate(ranked):
            frame = getattr(part, attribute)
            if frame is None or frame.empty:
                continue
            frames.append(frame.assign(_rank=rank, _whole=rank))
        if not frames:
            return pd.DataFrame(columns=[*key, "plans"])
        merged = pd.concat(frames, ignore_index=True)
        # a newer file decides the whole (area, year): its breakdown replaces an older one's
        newest = merged.groupby(["code", "year"])["_rank"].transform("max")
        merged = merged[merged["_rank"] == newest]
        merged = merged.drop_duplicates(list(key), keep="last")
        merged["year"] = merged["year"].astype(int)
        return merged.drop(columns=["_rank", "_whole"]).reset_index(drop=True)

    totals = combine("totals", ("code", "year"))
    by_age = combine("by_age", ("code", "year", "age_band"))
    by_single_age = combine("by_single_age", ("code", "year", "age"))
    by_setting = combine("by_setting", ("code", "year", "setting_type"))
    by_age_setting = combine("by_age_setting", ("code", "year", "age_band", "setting_type"))
    for frame in (by_age, by_setting):
        if "estimated" not in frame.columns:
            frame["estimated"] = False
        frame["estimated"] = frame["estimated"].fillna(False).astype(bool)
    areas = _merge_areas(ranked, totals)
    estimated = sum(p.estimated for p in ranked)
    notes = []
    if estimated:
        low, high = SUPPRESSED_RANGE
        notes.append(
            f"{estimated:,} suppressed count(s) ('c') estimated from what their totals leave, "
            f"each between {low:g} and {high:g}"
        )
    unavailable = sorted({u for p in ranked for u in p.unavailable})
    notes += unavailable
    return EhcpStatistics(
        areas=areas,
        totals=totals,
        by_age=by_age,
        by_single_age=by_single_age,
        by_setting=by_setting,
        by_age_setting=by_age_setting,
        notes=tuple(notes),
        files=files,
    )


def _merge_areas(parts: Sequence[_Part], totals: pd.DataFrame) -> pd.DataFrame:
    frames = [p.areas.assign(_rank=int(p.layout) * 1000 + p.order) for p in parts]
    areas = pd.concat(frames, ignore_index=True).dropna(subset=["level"])
    areas = areas.sort_values(["_rank", "year"]).drop_duplicates("code", keep="last")
    known = totals.dropna(subset=["plans"]).groupby("code")["year"].agg(["min", "max"])
    areas = areas.set_index("code")
    areas["first_year"] = known["min"].reindex(areas.index).astype("Int64")
    areas["last_year"] = known["max"].reindex(areas.index).astype("Int64")
    columns = ["code", "level", "name", "new_code", "region_code", "region_name"]
    return areas.reset_index()[[*columns, "first_year", "last_year"]].sort_values(
        ["level", "code"], ignore_index=True
    )


# --------------------------------------------------------------------------------------------
# Finding an LA


class UnknownAreaError(ValueError):
    """No LA, or more than one, answers to what the user typed; the message suggests names."""


#: LAs reorganised since 2019: the old code and the LAs that took over its children.
SUCCESSORS: dict[str, tuple[str, ...]] = {
    "835": ("838",),  # Dorset (county) -> Dorset (unitary), 2019
    "836": ("839",),  # Poole -> Bournemouth, Christchurch and Poole, 2019
    "837": ("839",),  # Bournemouth -> Bournemouth, Christchurch and Poole, 2019
    "928": ("940", "941"),  # Northamptonshire -> North and West Northamptonshire, 2021
    "909": ("942", "943"),  # Cumbria -> Cumberland, Westmorland and Furness, 2023
}


def find_la(statistics: EhcpStatistics, query: str) -> str:
    """The code of the LA ``query`` names: its 3-digit code (``857``), ONS code
    (``E06000017``) or name (``Rutland``; case, punctuation and "and"/"&" ignored).

    A name two LAs share (Dorset before and after 2019) means the one with the latest
    figures. An LA whose figures end before the latest January (it was reorganised) is
    refused with the LAs that took over.

    Raises
    ------
    UnknownAreaError
        The message says what matched, or suggests the closest names.
    """
    las = statistics.areas[statistics.areas["level"] == LA]
    text = query.strip()
    if not text:
        raise UnknownAreaError("give an LA's code (e.g. 857) or name (e.g. Rutland)")
    by_code = las[(las["code"] == text) | (las["new_code"].str.upper() == text.upper())]
    if by_code.empty:
        wanted = _simple_name(text)
        names = las["name"].map(_simple_name)
        by_code = las[names == wanted]
        if by_code.empty:
            partial = las[names.str.contains(re.escape(wanted), regex=True)] if wanted else las[0:0]
            if len(partial) == 1:
                by_code = partial
            else:
                raise UnknownAreaError(_suggestion(query, las, partial))
    chosen = by_code.sort_values("last_year", na_position="first").iloc[-1]
    latest = statistics.last_year
    if pd.notna(chosen["last_year"]) and int(chosen["last_year"]) < latest:
        successors = [
            _label(las[las["code"] == c].iloc[0])
            for c in SUCCESSORS.get(chosen["code"], ())
            if (las["code"] == c).any()
        ]
        instead = f"; forecast {' or '.join(successors)} instead" if successors else ""
        raise UnknownAreaError(
            f"{_label(chosen)}: the statistics stop at January {int(chosen['last_year'])}, "
            f"before the latest ({latest}): the LA was reorganised{instead}"
        )
    return str(chosen["code"])


def find_region(statistics: EhcpStatistics, query: str) -> str:
    """The ONS code of the region ``query`` names: its code (``E12000004``) or name (``East
    Midlands``; case, punctuation and "and"/"the" ignored; a part of a name that only one
    region has, such as ``Yorkshire``, is enough).

    Raises
    ------
    UnknownAreaError
        The message lists the regions.
    """
    regions = region_table(statistics)
    text = query.strip()
    found = regions[regions["code"].str.upper() == text.upper()]
    if found.empty and text:
        wanted = _simple_name(text)
        names = regions["name"].map(_simple_name)
        found = regions[names == wanted]
        if found.empty and wanted:
            found = regions[names.str.contains(re.escape(wanted), regex=True)]
    if len(found) == 1:
        return str(found.iloc[0]["code"])
    listed = ", ".join(_label(r) for _, r in regions.sort_values("name").iterrows())
    if len(found) > 1:
        shown = ", ".join(_label(r) for _, r in found.iterrows())
        raise UnknownAreaError(f"{query!r} matches several regions: {shown}; give one")
    raise UnknownAreaError(f"no region called {query!r} in the statistics; the regions: {listed}")


def region_table(statistics: EhcpStatistics) -> pd.DataFrame:
    """Every region (``code``, ``name``): those with rows of their own, and those the LAs'
    rows name (a file of LAs alone)."""
    areas = statistics.areas
    own = areas.loc[areas["level"] == REGION, ["code", "name"]]
    named = areas.loc[areas["level"] == LA, ["region_code", "region_name"]].dropna()
    named = named.rename(columns={"region_code": "code", "region_name": "name"})
    named = named[named["code"].astype(str).str.len() > 0]
    both = pd.concat([own, named], ignore_index=True).drop_duplicates("code", keep="first")
    return both.sort_values("code", ignore_index=True)


def _simple_name(name: str) -> str:
    text = name.lower().replace("&", " and ")
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    words = [w for w in text.split() if w not in {"and", "the", "of", "city", "council", "county"}]
    return " ".join(words)


def _label(row: pd.Series) -> str:
    return f"{row['name']} ({row['code']})"


def _suggestion(query: str, las: pd.DataFrame, partial: pd.DataFrame) -> str:
    if len(partial) > 1:
        shown = ", ".join(_label(r) for _, r in partial.head(8).iterrows())
        return f"{query!r} matches several LAs: {shown}; give the code or the full name"
    lower = {str(name).lower(): str(name) for name in las["name"]}
    close = difflib.get_close_matches(query.strip().lower(), list(lower), n=5, cutoff=0.6)
    if close:
        rows = las[las["name"].isin([lower[c] for c in close])].drop_duplicates("name", keep="last")
        shown = ", ".join(_label(r) for _, r in rows.iterrows())
        return f"no LA called {query!r} in the statistics; the closest: {shown}"
    return (
        f"no LA called {query!r} in the statistics; give a 3-digit LA code such as 857, an "
        "ONS code such as E06000017, or the LA's name as the DfE writes it"
    )
