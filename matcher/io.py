"""CSV/XLSX in and out: the boundary where an LA officer's spreadsheets become domain models.

The people who make these files are SEND officers working in Excel, not programmers. So reading
is forgiving about form (column case and spacing, ``Y7`` or ``7``, ``yes`` or ``TRUE``, UK or ISO
dates, Excel's habit of turning numbers into floats) and strict about meaning: every problem in
a file is collected, each with the row number the user sees in Excel (header = row 1) and the
column to fix, and the whole file is rejected so that a placement round never runs on half its
data. Messages are plain English; pydantic's own error dump is never shown.

Children carry only a pseudonymous ``child_id``: any other column in the caseload file (a name,
an address) is ignored on reading (and not held in memory) and nothing about a child but its
id is ever written.

A file is read only within :class:`matcher.read_limits.ReadLimits` (rows, columns, size, and a
workbook's size once unzipped), checked before the work is done; beyond them the file is
refused with an ordinary :class:`InputProblem` saying what to change.

Every CSV written here is safe to open in Excel: text starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return gets a leading ``'`` (:func:`neutralise_formula`), and on reading,
that apostrophe is dropped again (:func:`unescape_formula`), so ids survive a round trip.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from matcher.models import (
    MAX_NC_YEAR,
    MIN_NC_YEAR,
    Child,
    Location,
    PlacementKind,
    ProvisionKind,
    Requirement,
    Setting,
    SettingType,
    Sex,
    SexAdmitted,
    TariffBand,
    nc_year_from_birth,
)
from matcher.needs import PrimaryNeed, parse_need
from matcher.read_limits import (
    EXCEL_MAX_COLUMNS,
    LimitExceeded,
    ReadLimits,
    check_file_size,
    check_xlsx,
    raise_hint,
    too_many_rows,
)

if TYPE_CHECKING:  # only for annotations: reading files must not load the solver
    from matcher.fair_access import FairAccessResult
    from matcher.placement import PlacementResult, PlacementSummary
    from matcher.tailored import TailoredList

FileFormat = Literal["csv", "xlsx"]
SUPPORTED_SUFFIXES: dict[str, FileFormat] = {".csv": "csv", ".xlsx": "xlsx"}

# A generous box around the UK and its islands (Scilly to Shetland, Northern Ireland to
# Lowestoft). A point outside it is almost always swapped latitude/longitude or a wrong grid.
UK_LATITUDE = (49.5, 61.0)
UK_LONGITUDE = (-8.8, 2.0)
# British National Grid extent (EPSG:27700), metres.
BNG_EASTING = (0.0, 700_000.0)
BNG_NORTHING = (0.0, 1_300_000.0)


@dataclass(frozen=True)
class Area:
    """A latitude/longitude box where homes and settings may also lie, besides the UK.

    Points are checked against the UK because a point outside it is almost always a data-entry
    slip. A road network given for the run (``sendmatch place --osm``) is the other place
    a point can rightly be: the demo's sample network is central Helsinki, for instance.
    ``name`` completes "outside the UK and outside ...".
    """

    name: str
    latitude: tuple[float, float]
    longitude: tuple[float, float]

    def contains(self, latitude: float, longitude: float) -> bool:
        return (
            self.latitude[0] <= latitude <= self.latitude[1]
            and self.longitude[0] <= longitude <= self.longitude[1]
        )


UK = Area("the UK", UK_LATITUDE, UK_LONGITUDE)

PLACEMENT_COLUMNS: tuple[str, ...] = (
    "child_id",
    "setting_urn",
    "setting_name",
    "placement_kind",
    "provision",
    "preference_rank",
    "travel_minutes",
    "placement_cost",
    "transport_cost",
    "out_of_area",
    "reason",
)


# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with an input file, located as the user would look for it.

    ``row`` counts as Excel and text editors do (the header is row 1, the first data row is
    row 2); None for problems with the whole file. ``field`` is the column to fix, if one.
    """

    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(self.field if self.row is not None else f"column {self.field}")
        return f"{', '.join(where)}: {self.message}"


class InputError(Exception):
    """Raised with every problem found, so the user can fix a file in one pass, not one a run."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --------------------------------------------------------------------------------------------
# Reading a table


@dataclass(frozen=True)
class _Row:
    number: int  # as the user sees it: header = 1
    values: dict[str, str]  # normalised column name -> non-blank trimmed text

    def get(self, column: str) -> str | None:
        return self.values.get(column)


@dataclass(frozen=True)
class _Table:
    file: str
    columns: tuple[str, ...]
    rows: tuple[_Row, ...]


def file_format(path: Path) -> FileFormat:
    """The format implied by a file's extension; ValueError in plain English otherwise."""
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return SUPPORTED_SUFFIXES[suffix]
    if suffix in {".xls", ".xlsm", ".xlsb", ".ods"}:
        raise ValueError(
            f"{path.name}: {suffix} files are not supported; in Excel use File > Save As and "
            "choose 'Excel Workbook (.xlsx)' or 'CSV UTF-8 (.csv)'"
        )
    raise ValueError(f"{path.name}: the file name must end in .csv or .xlsx (got {suffix!r})")


def normalise_column(name: str) -> str:
    """``" Child ID "`` and ``"child-id"`` both mean ``child_id``: users retype headers."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def _cell_text(value: object) -> str:
    """A cell as the text the user typed, undoing Excel's conversions (7 → 7.0, dates, times)
    and the apostrophe sendmatch's CSV writers put before formula-like text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):  # "7:30" in a year_places cell becomes 07:30 in Excel
        return f"{value.hour}:{value.minute}"
    return unescape_formula(str(value).strip()).strip()


def _file_problem(path: Path, message: str, row: int | None = None) -> InputError:
    return InputError([InputProblem(path.name, row, None, message)])


def _read_limits(path: Path, limits: ReadLimits | None) -> ReadLimits:
    if limits is not None:
        return limits
    try:
        return ReadLimits.from_environment()
    except ValueError as exc:
        raise _file_problem(path, f"cannot be read: {exc}") from None


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without Excel's BOM), else Windows-1252: Excel's plain "CSV (Comma
    delimited)" on Windows writes cp1252, which would otherwise fail on £ or curly apostrophes
    in names. Decided by streaming the file once, so that no row is read twice."""
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise _file_problem(path, "could not be read: the text encoding is not UTF-8 or Windows-1252")


@contextmanager
def _csv_records(path: Path, limits: ReadLimits) -> Iterator[Iterator[list[str]]]:
    check_file_size(path, limits)
    encoding = _csv_encoding(path)
    with path.open(newline="", encoding=encoding) as fh:

        def records() -> Iterator[list[str]]:
            try:
                reader = csv.reader(fh)
                header = [_cell_text(cell) for cell in next(reader, [])]
                width = _header_width(header, limits)
                yield header[:width]
                for record in reader:  # cells beyond the named columns are ignored
                    yield [_cell_text(cell) for cell in record[:width]]
            except csv.Error as exc:
                raise _file_problem(path, f"could not be read as CSV: {exc}") from None

        yield records()


@contextmanager
def _xlsx_records(path: Path, limits: ReadLimits) -> Iterator[Iterator[list[str]]]:
    """The first sheet's rows as text, read in openpyxl's streaming mode after
    :func:`matcher.read_limits.check_xlsx` has bounded what opening the workbook can cost."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    unreadable = (
        "could not be read as an Excel .xlsx workbook (is it password-protected, or another "
        "format renamed to .xlsx?)"
    )
    # What a damaged or foreign file raises from zipfile, zlib or openpyxl (SyntaxError is
    # ElementTree's ParseError: a part that is not well-formed XML).
    broken: tuple[type[Exception], ...] = (InvalidFileException, zipfile.BadZipFile, KeyError)
    broken += (ValueError, TypeError, zlib.error, EOFError, NotImplementedError, RuntimeError)
    broken += (SyntaxError,)
    opening: tuple[type[Exception], ...] = (*broken, OSError)  # OSError: a truncated file
    check_file_size(path, limits)
    try:
        check_xlsx(path, limits)
        workbook = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except PermissionError:
        raise
    except opening as exc:
        raise _file_problem(path, f"{unreadable}: {exc}") from None
    try:
        if not workbook.worksheets:
            yield iter(())
            return
        sheet = workbook.worksheets[0]
        # The sheet's stated size is not trusted: it may claim more columns than the data has
        # (every row would be padded out to them) or fewer rows (the rest would be dropped).
        # Rows are read as wide as the named columns: a row's cells beyond them are ignored
        # and never padded out; check_xlsx has bounded how many cells a row holds.
        sheet.reset_dimensions()

        def records() -> Iterator[list[str]]:
            try:
                first = sheet.iter_rows(max_row=1, max_col=EXCEL_MAX_COLUMNS, values_only=True)
                header = [_cell_text(v) for v in next(first, ())]
                width = _header_width(header, limits)
                yield header[:width]
                if width:
                    for values in sheet.iter_rows(min_row=2, max_col=width, values_only=True):
                        yield [_cell_text(v) for v in values]
            except broken as exc:
                raise _file_problem(path, f"{unreadable}: {exc}") from None

        yield records()
    finally:
        workbook.close()


def _header_width(header: Sequence[str], limits: ReadLimits) -> int:
    """How many columns the header row names, up to its last named one, within the limit."""
    width = next((n for n in range(len(header), 0, -1) if header[n - 1]), 0)
    if width > limits.max_columns:
        raise LimitExceeded(
            f"the first row names columns up to {_column_letter(width - 1)} ({width:,} "
            f"columns); sendmatch reads at most {limits.max_columns:,} columns: delete unused "
            f"columns, or {raise_hint('max_columns')}",
            1,
        )
    return width


def _read_table(
    path: Path | str,
    limits: ReadLimits | None = None,
    keep: Callable[[str], bool] | None = None,
) -> _Table:
    """Read the first sheet (XLSX) or the file (CSV) into rows of trimmed, non-blank text.

    Rows are read one at a time and counted, so that a file beyond ``limits`` (default: from
    the environment, see :mod:`matcher.read_limits`) is refused before it fills memory. Only
    columns for which ``keep`` is true are held (all by default): a caseload export's other
    columns, names and addresses among them, are never kept.
    """
    path = Path(path)
    try:
        kind = file_format(path)
    except ValueError as exc:
        raise _file_problem(path, str(exc).removeprefix(f"{path.name}: ")) from None
    if not path.exists():
        raise _file_problem(path, f"file not found: {path}")
    if path.is_dir():
        raise _file_problem(path, f"{path} is a folder, not a file")
    limits = _read_limits(path, limits)
    opened = _csv_records(path, limits) if kind == "csv" else _xlsx_records(path, limits)
    try:
        with opened as records:
            return _table(path, records, limits, keep)
    except LimitExceeded as exc:
        raise _file_problem(path, exc.message, exc.row) from None
    except PermissionError:
        raise _file_problem(
            path, "permission denied (if the file is open in Excel, close it and try again)"
        ) from None
    except OSError as exc:
        raise _file_problem(path, f"could not be read: {exc.strerror or exc}") from None


def _table(
    path: Path,
    records: Iterator[list[str]],
    limits: ReadLimits,
    keep: Callable[[str], bool] | None,
) -> _Table:
    first = next(records, None)
    if not first or not any(first):
        raise _file_problem(path, "the first row must hold the column names, but it is empty")
    header = [normalise_column(h) for h in first]
    problems: list[InputProblem] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            continue
        if name in seen:
            problems.append(
                InputProblem(
                    path.name,
                    None,
                    name,
                    f"appears twice (columns {_column_letter(seen[name])} and "
                    f"{_column_letter(index)})",
                )
            )
        else:
            seen[name] = index
    if problems:
        raise InputError(problems)

    named = [(i, name) for i, name in enumerate(header) if name]
    held = {name for _, name in named if keep is None or keep(name)}
    rows: list[_Row] = []
    for offset, record in enumerate(records, start=2):
        values = {name: record[i] for i, name in named if i < len(record) and record[i]}
        if not values:
            continue
        if len(rows) == limits.max_rows:
            raise LimitExceeded(too_many_rows(limits), offset)
        rows.append(_Row(offset, {k: v for k, v in values.items() if k in held}))
    return _Table(path.name, tuple(name for _, name in named), tuple(rows))


def _column_letter(index: int) -> str:
    """0 → A, 27 → AB: how Excel users find a column."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def _check_columns(
    table: _Table,
    known: set[str],
    required: Sequence[str | tuple[str, ...]],
    is_known: Callable[[str], bool] = lambda _: False,
) -> list[InputProblem]:
    """Missing required columns, and misspelt optional ones.

    A misspelt column (``prefrences``) would otherwise be ignored like any extra column, and a
    round would run silently without the data in it; so a near-miss of a known column that is
    absent is a problem. Other extra columns are ignored (LA exports carry many).
    """
    present = set(table.columns)
    problems = []
    for need in required:
        options = (need,) if isinstance(need, str) else need
        if not present.intersection(options):
            wanted = " or ".join(repr(o) for o in options)
            problems.append(
                InputProblem(
                    table.file,
                    None,
                    options[0],
                    f"required column {wanted} is missing; columns found: "
                    f"{', '.join(table.columns) or 'none'}",
                )
            )
    if "latitude" in known and not (
        {"latitude", "longitude"} <= present or {"easting", "northing"} <= present
    ):
        problems.append(
            InputProblem(
                table.file,
                None,
                "latitude",
                "location columns are missing: give latitude and longitude (WGS84 degrees), "
                "or easting and northing (British National Grid metres)",
            )
        )
    absent = sorted(known - present)
    for column in table.columns:
        if column in known or is_known(column):
            continue
        close = difflib.get_close_matches(column, absent, n=1, cutoff=0.85)
        if close:
            problems.append(
                InputProblem(
                    table.file,
                    None,
                    column,
                    f"column {column!r} is not recognised; did you mean {close[0]!r}?",
                )
            )
    return problems


# --------------------------------------------------------------------------------------------
# Parsing cell text (each parser raises ValueError with a message fit for the user)

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
BaseModelT = TypeVar("BaseModelT", bound=BaseModel)

_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}


def _parse_bool(text: str) -> bool:
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes or no")


def _parse_int(text: str) -> int:
    cleaned = text.replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(value)


def _parse_pounds(text: str) -> int:
    """Money to the nearest pound: '£55,000', '55000' and '55000.00' all read as 55000."""
    cleaned = text.replace("£", "").replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an amount in pounds") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not an amount in pounds")
    return round(value)


def _parse_float(text: str) -> float:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a number")
    return value


_NC_YEAR_NAMES = {"R": 0, "RECEPTION": 0, "N1": -2, "N2": -1, "NURSERY 1": -2, "NURSERY 2": -1}
_NC_YEAR_NUMBER = re.compile(r"^(?:Y|YR|YEAR)?\s*(-?\d+)$")


def parse_nc_year(text: str) -> int:
    """NC year from 'R', 'N1', 'N2', '7', 'Y7' or 'Year 7' (range is checked by the model)."""
    key = " ".join(text.strip().upper().split())
    if key in _NC_YEAR_NAMES:
        return _NC_YEAR_NAMES[key]
    match = _NC_YEAR_NUMBER.match(key)
    if match:
        return int(match.group(1))
    raise ValueError(f"{text!r} is not an NC year; use N1, N2, R, or a year such as 7 or Y7")


def _parse_date(text: str) -> date:
    """ISO (2014-03-05), or UK day-first (05/03/2014) as Excel writes dates into UK CSVs."""
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date; use 2014-03-05 or 05/03/2014")


def _enum_parser(enum: type[E], aliases: Mapping[str, E] | None = None) -> Callable[[str], E]:
    """Case- and spacing-insensitive enum values ('Wheelchair access' → wheelchair_access)."""
    table: dict[str, E] = {normalise_column(m.value): m for m in enum}
    table.update({normalise_column(k): v for k, v in (aliases or {}).items()})

    def parse(text: str) -> E:
        key = normalise_column(text)
        if key in table:
            return table[key]
        raise ValueError(f"{text!r} is not one of: {', '.join(m.value for m in enum)}")

    return parse


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _list_parser(item: Callable[[str], T]) -> Callable[[str], list[T]]:
    def parse(text: str) -> list[T]:
        values, errors = [], []
        for part in _split(text):
            try:
                values.append(item(part))
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("; ".join(errors))
        return values

    return parse


def _parse_needs(text: str) -> frozenset[PrimaryNeed]:
    try:
        return frozenset(_list_parser(parse_need)(text))
    except ValueError as exc:
        hint = " (separate several needs with ';')" if "," in text and ";" not in text else ""
        raise ValueError(f"{exc}{hint}") from None


def _parse_urns(text: str) -> list[str]:
    # URNs never contain commas, so accept either separator: a comma here is a common slip.
    return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]


def _parse_year_map(text: str) -> dict[int, int]:
    """'7:30;8:28' (NC year : number) → {7: 30, 8: 28}."""
    result: dict[int, int] = {}
    for part in _split(text):
        pieces = [p.strip() for p in part.split(":")]
        if len(pieces) == 3 and pieces[2] == "00":  # Excel wrote 7:30 back out as 07:30:00
            pieces = pieces[:2]
        if len(pieces) != 2 or not pieces[0] or not pieces[1]:
            raise ValueError(f"{part!r} should be NC year:number, for example 7:30")
        year = parse_nc_year(pieces[0].lstrip("0") or "0")
        if year in result:
            raise ValueError(f"NC year {pieces[0]} is given twice")
        result[year] = _parse_int(pieces[1])
    return result


_parse_sex = _enum_parser(Sex, {"female": Sex.FEMALE, "male": Sex.MALE, "unknown": Sex.UNKNOWN})
_parse_sex_admitted = _enum_parser(
    SexAdmitted,
    {"boys": SexAdmitted.BOYS, "girls": SexAdmitted.GIRLS, "not applicable": SexAdmitted.MIXED},
)
_parse_setting_type = _enum_parser(
    SettingType,
    {
        "nmss": SettingType.NON_MAINTAINED_SPECIAL,
        "iss": SettingType.INDEPENDENT_SPECIAL,
        "independent": SettingType.INDEPENDENT_SPECIAL,
        "ap": SettingType.ALTERNATIVE_PROVISION,
        "pru": SettingType.ALTERNATIVE_PROVISION,
        "fe": SettingType.FURTHER_EDUCATION,
        "spi": SettingType.SPECIALIST_POST16,
    },
)
_parse_placement_kind = _enum_parser(
    PlacementKind,
    {
        "rp": PlacementKind.RESOURCED_PROVISION,
        "sen unit": PlacementKind.RESOURCED_PROVISION,
        "ap": PlacementKind.ALTERNATIVE_PROVISION,
    },
)
_parse_requirement = _enum_parser(Requirement, {"wheelchair": Requirement.WHEELCHAIR_ACCESS})


# --------------------------------------------------------------------------------------------
# One row → one model


def _plain_error(err: Mapping[str, Any]) -> str:
    """A pydantic error in the words an SEND officer would use."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "missing":
        return "required but blank"
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    if kind == "greater_than_equal":
        return f"must be {_number_text(ctx['ge'])} or more (got {_number_text(got)})"
    if kind == "less_than_equal":
        return f"must be {_number_text(ctx['le'])} or less (got {_number_text(got)})"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']} (got {got})"
    if kind == "less_than":
        return f"must be less than {ctx['lt']} (got {got})"
    if kind == "string_too_short":
        return "must not be blank"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long"
    if kind == "enum":
        return f"{got!r} is not one of: {ctx.get('expected', '')}"
    return str(err["msg"])


def _number_text(value: object) -> object:
    """10000 as 10,000 and 10**30 as 1e+30: a limit and a typo both read at a glance."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if abs(value) >= 10**12:
        return f"{value:.3g}"
    return f"{value:,}" if abs(value) >= 10_000 else value


class _RowCheck:
    """Parses one row's cells, collecting every problem rather than stopping at the first."""

    def __init__(self, file: str, row: _Row, extra_areas: Sequence[Area] = ()) -> None:
        self.file = file
        self.row = row
        self.extra_areas = tuple(extra_areas)
        self.problems: list[InputProblem] = []
        self.failed: set[str] = set()  # model fields whose cells already produced a problem

    def problem(self, column: str | None, message: str, model_field: str | None = None) -> None:
        self.problems.append(InputProblem(self.file, self.row.number, column, message))
        if model_field is not None:
            self.failed.add(model_field)

    def parse(
        self,
        column: str,
        parser: Callable[[str], T],
        *,
        model_field: str | None = None,
        required: bool = False,
    ) -> T | None:
        text = self.row.get(column)
        if text is None:
            if required:
                self.problem(column, "required but blank", model_field or column)
            return None
        try:
            return parser(text)
        except ValueError as exc:
            self.problem(column, str(exc), model_field or column)
            return None

    def location(self) -> tuple[Location | None, str]:
        """Latitude/longitude if given, else easting/northing (British National Grid)."""
        has = {c for c in ("latitude", "longitude", "easting", "northing") if self.row.get(c)}
        if {"latitude", "longitude"} & has:
            lat = self.parse("latitude", _parse_float, model_field="location", required=True)
            lon = self.parse("longitude", _parse_float, model_field="location", required=True)
            if lat is None or lon is None:
                return None, "latitude"
            return self._checked(lat, lon, "latitude", converted=False), "latitude"
        if {"easting", "northing"} & has:
            east = self.parse("easting", _parse_float, model_field="location", required=True)
            north = self.parse("northing", _parse_float, model_field="location", required=True)
            if east is None or north is None:
                return None, "easting"
            if not (
                BNG_EASTING[0] <= east <= BNG_EASTING[1]
                and BNG_NORTHING[0] <= north <= BNG_NORTHING[1]
            ):
                self.problem(
                    "easting",
                    f"easting {east:g}, northing {north:g} is outside the British National Grid",
                    "location",
                )
                return None, "easting"
            lon, lat = _bng_to_wgs84(east, north)
            return self._checked(lat, lon, "easting", converted=True), "easting"
        self.problem(
            "latitude",
            "no location: give latitude and longitude, or easting and northing",
            "location",
        )
        return None, "latitude"

    def _checked(self, lat: float, lon: float, column: str, *, converted: bool) -> Location | None:
        try:
            location = Location(latitude=lat, longitude=lon)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                name = str(err["loc"][0]) if err["loc"] else column
                self.problem(name, _plain_error(err), "location")
            return None
        outside = location_problem(location, self.extra_areas)
        if outside:
            message = f"easting/northing converts to {outside}" if converted else outside
            self.problem(column, message, "location")
            return None
        return location

    def build(
        self, model: type[BaseModelT], values: dict[str, Any], column_for: Callable[[tuple], str]
    ) -> BaseModelT | None:
        """Validate with the model, reporting its errors against the user's columns.

        Fields whose cells already failed to parse are left out of ``values``; pydantic's
        "missing" error for them is dropped so that each mistake is reported once.
        """
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = tuple(err["loc"])
                if loc and str(loc[0]) in self.failed:
                    continue
                self.problem(column_for(loc) if loc else None, _plain_error(err))
            return None


@lru_cache(maxsize=1)
def _bng_transformer() -> Any:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def _bng_to_wgs84(easting: float, northing: float) -> tuple[float, float]:
    """(longitude, latitude) in WGS84 degrees from British National Grid metres."""
    lon, lat = _bng_transformer().transform(easting, northing)
    return float(lon), float(lat)


def location_problem(location: Location, extra_areas: Sequence[Area] = ()) -> str | None:
    """Why a point cannot be a child's home or a setting, or None if it can.

    A point must lie in the UK or in one of ``extra_areas`` (the road network's area).
    """
    lat, lon = location.latitude, location.longitude
    areas = (UK, *extra_areas)
    if any(area.contains(lat, lon) for area in areas):
        return None
    hint = (
        "; are latitude and longitude swapped?" if any(a.contains(lon, lat) for a in areas) else ""
    )
    where = " and outside ".join(area.name for area in areas)
    return f"latitude {lat:g}, longitude {lon:g} is outside {where}{hint}"


def _duplicate(
    file: str, column: str, value: str | None, row: int, first_rows: dict[str, int]
) -> InputProblem | None:
    if value is None:
        return None
    if value in first_rows:
        return InputProblem(
            file, row, column, f"duplicate {column} {value!r}: also on row {first_rows[value]}"
        )
    first_rows[value] = row
    return None


def _raise_if(problems: list[InputProblem]) -> None:
    if problems:
        raise InputError(problems)


# --------------------------------------------------------------------------------------------
# Children

CHILD_COLUMNS = {
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
}
_PREFERENCE_COLUMN = re.compile(r"^pref(?:erence)?_?(\d+)$")


def next_september(today: date | None = None) -> date:
    """The start of the next school year: the round being planned is usually for September."""
    today = today or date.today()
    this_year = date(today.year, 9, 1)
    return this_year if today < this_year else date(today.year + 1, 9, 1)


def _is_child_column(column: str) -> bool:
    return column in CHILD_COLUMNS or bool(_PREFERENCE_COLUMN.match(column))


def _preference_columns(columns: Sequence[str]) -> list[str]:
    numbered = [(int(m.group(1)), c) for c in columns if (m := _PREFERENCE_COLUMN.match(c))]
    return [c for _, c in sorted(numbered)]


def load_children(
    path: Path | str,
    year_start: date | None = None,
    *,
    extra_areas: Sequence[Area] = (),
    limits: ReadLimits | None = None,
) -> list[Child]:
    """Read a caseload file (CSV or XLSX) into children, or raise InputError with every problem.

    ``year_start`` is the first day of the school year being planned for; it turns a
    ``date_of_birth`` into an NC year (default: the next 1 September). A row's ``nc_year``, when
    given, wins over its date of birth, because children with SEND are often educated out of
    their chronological year group. Homes must be in the UK or in one of ``extra_areas``.
    ``limits`` bound the file's size (default: :meth:`ReadLimits.from_environment`).
    """
    table = _read_table(path, limits, _is_child_column)
    year_start = year_start or next_september()
    pref_columns = _preference_columns(table.columns)
    problems = _check_columns(
        table,
        CHILD_COLUMNS,
        ["child_id", "primary_need", ("nc_year", "date_of_birth")],
        is_known=lambda c: bool(_PREFERENCE_COLUMN.match(c)),
    )
    if pref_columns and "preferences" in table.columns:
        problems.append(
            InputProblem(
                table.file,
                None,
                "preferences",
                f"use either a 'preferences' column or {', '.join(pref_columns)}, not both",
            )
        )
    _raise_if(problems)
    if not table.rows:
        raise InputError([InputProblem(table.file, None, None, "the file has no children in it")])

    first_rows: dict[str, int] = {}
    children: list[Child] = []
    for row in table.rows:
        dup = _duplicate(table.file, "child_id", row.get("child_id"), row.number, first_rows)
        if dup:
            problems.append(dup)
        child = _child_from_row(table.file, row, year_start, pref_columns, problems, extra_areas)
        if child is not None:
            children.append(child)
    _raise_if(problems)
    return children


def _child_from_row(
    file: str,
    row: _Row,
    year_start: date,
    pref_columns: Sequence[str],
    problems: list[InputProblem],
    extra_areas: Sequence[Area] = (),
) -> Child | None:
    check = _RowCheck(file, row, extra_areas)
    nc_year = check.parse("nc_year", parse_nc_year)
    if nc_year is None and "nc_year" not in check.failed:
        born = check.parse("date_of_birth", _parse_date, model_field="nc_year")
        if born is not None:
            nc_year = nc_year_from_birth(born, year_start)
            if not MIN_NC_YEAR <= nc_year <= MAX_NC_YEAR:
                check.problem(
                    "date_of_birth",
                    f"born {born.isoformat()} gives NC year {nc_year} for the school year "
                    f"starting {year_start.isoformat()}, outside N1 to {MAX_NC_YEAR}; "
                    "check the date or give nc_year",
                    "nc_year",
                )
        elif "nc_year" not in check.failed:
            check.problem("nc_year", "give nc_year or date_of_birth", "nc_year")
    home, location_column = check.location()

    preferences: list[str] | None
    if pref_columns:
        preferences = []
        blank_before: str | None = None
        for column in pref_columns:
            urn = row.get(column)
            if urn is None:
                blank_before = blank_before or column
                continue
            if blank_before is not None:
                check.problem(
                    column,
                    f"{column} is given but {blank_before} is blank; "
                    "fill the preferences in rank order",
                    "preferences",
                )
            preferences.append(urn)
    else:
        preferences = check.parse("preferences", _parse_urns)

    values: dict[str, Any] = {
        "child_id": row.get("child_id"),
        "nc_year": nc_year,
        "sex": check.parse("sex", _parse_sex),
        "home": home,
        "home_la_code": row.get("home_la_code"),
        "primary_need": check.parse("primary_need", parse_need, required=True),
        "secondary_needs": check.parse("secondary_needs", _parse_needs),
        "has_ehcp": check.parse("has_ehcp", _parse_bool),
        "current_setting": row.get("current_setting"),
        "preferences": tuple(preferences) if preferences else None,
        "sibling_group": row.get("sibling_group"),
        "requirements": check.parse("requirements", _list_parser(_parse_requirement)),
        "suitable_kinds": check.parse("suitable_kinds", _list_parser(_parse_placement_kind)),
        "top_up_band": row.get("top_up_band"),
    }
    if "location" in check.failed:
        check.failed.add("home")
    for key in ("secondary_needs", "requirements", "suitable_kinds"):
        if values[key] is not None:
            values[key] = frozenset(values[key]) or None
    columns = {
        "home": location_column,
        "preferences": pref_columns[0] if pref_columns else "preferences",
    }
    child = check.build(
        Child,
        {k: v for k, v in values.items() if v is not None},
        lambda loc: columns.get(str(loc[0]), str(loc[0])),
    )
    problems.extend(check.problems)
    return child


# --------------------------------------------------------------------------------------------
# Settings

_PROVISION_PREFIXES: dict[str, ProvisionKind] = {
    "rp": ProvisionKind.RESOURCED_PROVISION,
    "unit": ProvisionKind.SEN_UNIT,
}
SETTING_COLUMNS = {
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
    "annual_fee",
    "top_up",
} | {f"{p}_{s}" for p in _PROVISION_PREFIXES for s in ("needs", "places", "on_roll")}


def load_settings(
    path: Path | str, *, extra_areas: Sequence[Area] = (), limits: ReadLimits | None = None
) -> list[Setting]:
    """Read a settings file (CSV or XLSX), or raise InputError with every problem in it.

    Settings must be in the UK or in one of ``extra_areas``.
    """
    table = _read_table(path, limits, SETTING_COLUMNS.__contains__)
    _raise_if(
        _check_columns(
            table,
            SETTING_COLUMNS,
            ["urn", "name", "setting_type", "low_age", "high_age", "total_places"],
        )
    )
    if not table.rows:
        raise InputError([InputProblem(table.file, None, None, "the file has no settings in it")])
    problems: list[InputProblem] = []
    first_rows: dict[str, int] = {}
    settings: list[Setting] = []
    for row in table.rows:
        dup = _duplicate(table.file, "urn", row.get("urn"), row.number, first_rows)
        if dup:
            problems.append(dup)
        setting = _setting_from_row(table.file, row, problems, extra_areas)
        if setting is not None:
            settings.append(setting)
    _raise_if(problems)
    return settings


def _setting_from_row(
    file: str, row: _Row, problems: list[InputProblem], extra_areas: Sequence[Area] = ()
) -> Setting | None:
    check = _RowCheck(file, row, extra_areas)
    location, location_column = check.location()
    provisions: list[dict[str, Any]] = []
    prefixes: list[str] = []
    for prefix, kind in _PROVISION_PREFIXES.items():
        needs = check.parse(f"{prefix}_needs", _parse_needs, model_field="provisions")
        places = check.parse(f"{prefix}_places", _parse_int, model_field="provisions")
        on_roll = check.parse(f"{prefix}_on_roll", _parse_int, model_field="provisions")
        if all(row.get(f"{prefix}_{s}") is None for s in ("needs", "places", "on_roll")):
            continue
        if places is None and row.get(f"{prefix}_places") is None:
            what = "resourced provision" if prefix == "rp" else "SEN unit"
            check.problem(
                f"{prefix}_places",
                f"the setting has a {what} ({prefix}_needs or {prefix}_on_roll given) "
                f"but no {prefix}_places",
                "provisions",
            )
        provision: dict[str, Any] = {"kind": kind, "designated_needs": needs or frozenset()}
        if places is not None:
            provision["places"] = places
        if on_roll is not None:
            provision["on_roll"] = on_roll
        provisions.append(provision)
        prefixes.append(prefix)

    values: dict[str, Any] = {
        "urn": row.get("urn"),
        "name": row.get("name"),
        "setting_type": check.parse("setting_type", _parse_setting_type, required=True),
        "la_code": row.get("la_code"),
        "location": location,
        "low_age": check.parse("low_age", _parse_int, required=True),
        "high_age": check.parse("high_age", _parse_int, required=True),
        "sex_admitted": check.parse("sex_admitted", _parse_sex_admitted),
        "designated_needs": check.parse("designated_needs", _parse_needs),
        "facilities": check.parse("facilities", _list_parser(_parse_requirement)),
        "total_places": check.parse("total_places", _parse_int, required=True),
        "on_roll": check.parse("on_roll", _parse_int),
        "year_places": check.parse("year_places", _parse_year_map),
        "year_on_roll": check.parse("year_on_roll", _parse_year_map),
        "provisions": tuple(provisions) or None,
        "annual_fee": check.parse("annual_fee", _parse_pounds),
        "top_up": check.parse("top_up", _parse_pounds),
    }
    if values["facilities"] is not None:
        values["facilities"] = frozenset(values["facilities"])

    provision_columns = {"designated_needs": "needs", "places": "places", "on_roll": "on_roll"}

    def column_for(loc: tuple) -> str:
        head = str(loc[0])
        if head == "location":
            return location_column
        if head == "provisions" and len(loc) >= 3 and isinstance(loc[1], int):
            return f"{prefixes[loc[1]]}_{provision_columns.get(str(loc[2]), str(loc[2]))}"
        return head

    setting = check.build(Setting, {k: v for k, v in values.items() if v is not None}, column_for)
    problems.extend(check.problems)
    return setting


# --------------------------------------------------------------------------------------------
# Tariffs

TARIFF_COLUMNS = {"band", "placement_kind", "annual_top_up"}


def load_tariffs(path: Path | str, *, limits: ReadLimits | None = None) -> list[TariffBand]:
    """Read an LA banding framework (band, placement_kind, annual_top_up), or raise InputError."""
    table = _read_table(path, limits, TARIFF_COLUMNS.__contains__)
    _raise_if(_check_columns(table, TARIFF_COLUMNS, sorted(TARIFF_COLUMNS)))
    if not table.rows:
        raise InputError([InputProblem(table.file, None, None, "the file has no bands in it")])
    problems: list[InputProblem] = []
    first_rows: dict[tuple[str, PlacementKind], int] = {}
    bands: list[TariffBand] = []
    for row in table.rows:
        check = _RowCheck(table.file, row)
        values = {
            "band": row.get("band"),
            "placement_kind": check.parse("placement_kind", _parse_placement_kind, required=True),
            "annual_top_up": check.parse("annual_top_up", _parse_pounds, required=True),
        }
        band = check.build(
            TariffBand, {k: v for k, v in values.items() if v is not None}, lambda loc: str(loc[0])
        )
        problems.extend(check.problems)
        if band is None:
            continue
        if band.placement_kind is PlacementKind.INDEPENDENT:
            problems.append(
                InputProblem(
                    table.file,
                    row.number,
                    "placement_kind",
                    "independent placements are priced by the setting's annual_fee, so a "
                    "top-up band for them would never be used; remove this row",
                )
            )
            continue
        key = (band.band, band.placement_kind)
        if key in first_rows:
            problems.append(
                InputProblem(
                    table.file,
                    row.number,
                    "band",
                    f"band {band.band!r} for {band.placement_kind.value} is given twice: "
                    f"also on row {first_rows[key]}",
                )
            )
        else:
            first_rows[key] = row.number
            bands.append(band)
    _raise_if(problems)
    return bands


# --------------------------------------------------------------------------------------------
# Across files


def _child_rows(children_file: Path | str, limits: ReadLimits | None) -> dict[str, int]:
    """child_id → row number, re-read from the file: only needed when there is a problem."""
    try:
        table = _read_table(children_file, limits, {"child_id"}.__contains__)
    except InputError:
        return {}
    rows: dict[str, int] = {}
    for row in table.rows:
        child_id = row.get("child_id")
        if child_id is not None:
            rows.setdefault(child_id, row.number)
    return rows


def check_references(
    children: Sequence[Child],
    settings: Sequence[Setting],
    children_file: Path | str,
    *,
    tariffs: Sequence[TariffBand] | None = None,
    extra_areas: Sequence[Area] = (),
    limits: ReadLimits | None = None,
) -> list[InputProblem]:
    """Problems that only show when files are read together; an empty list if there are none.

    Every preference must be a URN in the settings file (so the solver can say what happened
    to each preference); a current setting may be missing (in a phase transfer it is usually a
    school the child is leaving, not one that can be named). Every home must be a usable point
    in the UK, and, when a tariff file is given, every child's ``top_up_band`` must be one of
    its bands (a typo would otherwise fall back silently to a default top-up and misstate the
    cost).
    """
    file = Path(children_file).name
    urns = {s.urn for s in settings}
    by_name = {s.name.strip().lower(): s.urn for s in settings}
    bands = {b.band for b in tariffs} if tariffs is not None else None
    found: list[tuple[str, str, str]] = []  # (child_id, field, message)

    def unknown(urn: str) -> str:
        hint = ""
        if urn.strip().lower() in by_name:
            hint = f"; did you mean URN {by_name[urn.strip().lower()]}?"
        return f"URN {urn!r} is not in the settings file{hint}"

    for child in children:
        for rank, urn in enumerate(child.preferences, start=1):
            if urn not in urns:
                found.append((child.child_id, "preferences", f"preference {rank}: {unknown(urn)}"))
        outside = location_problem(child.home, extra_areas)
        if outside:
            found.append((child.child_id, "latitude", f"no usable home location: {outside}"))
        if bands is not None and child.top_up_band is not None and child.top_up_band not in bands:
            found.append(
                (
                    child.child_id,
                    "top_up_band",
                    f"band {child.top_up_band!r} is not in the tariff file "
                    f"(bands there: {', '.join(sorted(bands))})",
                )
            )
    if not found:
        return []
    rows = _child_rows(children_file, limits)
    return [
        InputProblem(file, rows.get(child_id), column, f"child {child_id}: {message}")
        for child_id, column, message in found
    ]


@dataclass(frozen=True)
class RoundInputs:
    """Everything one placement round reads, validated together."""

    children: list[Child]
    settings: list[Setting]
    tariffs: list[TariffBand] = field(default_factory=list)


def load_round(
    children_file: Path | str,
    settings_file: Path | str,
    tariffs_file: Path | str | None = None,
    year_start: date | None = None,
    *,
    extra_areas: Sequence[Area] = (),
    limits: ReadLimits | None = None,
) -> RoundInputs:
    """Load and cross-check all inputs of a round; InputError lists the problems of every file.

    Every entry point (CLI, API) uses this, so that a user sees all that is wrong at once.
    Locations must be in the UK or in one of ``extra_areas`` (the road network's area).
    ``limits`` bound each file's size, rows and columns; by default they are the
    ``SENDMATCH_MAX_…`` environment variables' or :mod:`matcher.read_limits`' defaults.
    """
    problems: list[InputProblem] = []
    children: list[Child] | None = None
    settings: list[Setting] | None = None
    tariffs: list[TariffBand] | None = None
    try:
        children = load_children(children_file, year_start, extra_areas=extra_areas, limits=limits)
    except InputError as exc:
        problems.extend(exc.problems)
    try:
        settings = load_settings(settings_file, extra_areas=extra_areas, limits=limits)
    except InputError as exc:
        problems.extend(exc.problems)
    if tariffs_file is not None:
        try:
            tariffs = load_tariffs(tariffs_file, limits=limits)
        except InputError as exc:
            problems.extend(exc.problems)
    if children is not None and settings is not None:
        problems.extend(
            check_references(
                children,
                settings,
                children_file,
                tariffs=tariffs,
                extra_areas=extra_areas,
                limits=limits,
            )
        )
    if problems or children is None or settings is None:
        raise InputError(problems)
    return RoundInputs(children, settings, tariffs or [])


# --------------------------------------------------------------------------------------------
# Output

Cell = str | int | float | None


@dataclass(frozen=True)
class SummaryRow:
    """One labelled figure of a round's summary, shared by the CLI table and the XLSX sheet."""

    label: str
    value: Cell
    unit: Literal["count", "percent", "minutes", "pounds", "text"]


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summary_rows(summary: PlacementSummary) -> list[SummaryRow]:
    """The summary as labelled figures; percentages are of children who expressed preferences."""
    s = summary
    return [
        SummaryRow("Children", s.children, "count"),
        SummaryRow("Placed", s.placed, "count"),
        SummaryRow("Unplaced", s.unplaced, "count"),
        SummaryRow("Children with parental preferences", s.with_preferences, "count"),
        SummaryRow("First preference met", s.first_preference_met, "count"),
        SummaryRow(
            "First preference met (% of those with preferences)",
            _percent(s.first_preference_met, s.with_preferences),
            "percent",
        ),
        SummaryRow("Any preference met", s.any_preference_met, "count"),
        SummaryRow(
            "Any preference met (% of those with preferences)",
            _percent(s.any_preference_met, s.with_preferences),
            "percent",
        ),
        SummaryRow(
            "Mean travel (minutes)",
            None if s.mean_minutes is None else round(s.mean_minutes, 1),
            "minutes",
        ),
        SummaryRow(
            "Longest travel (minutes)",
            None if s.max_minutes is None else round(s.max_minutes, 1),
            "minutes",
        ),
        SummaryRow("Total placement cost (£ a year)", s.total_placement_cost, "pounds"),
        SummaryRow("Total transport cost (£ a year)", s.total_transport_cost, "pounds"),
        SummaryRow("Out-of-area placements", s.out_of_area, "count"),
        SummaryRow("Independent placements", s.independent, "count"),
        SummaryRow("Eligible child-setting pairs considered", s.eligible_arcs, "count"),
        SummaryRow("Travel-time model", s.travel_model, "text"),
    ]


def placement_records(result: PlacementResult) -> list[dict[str, Cell]]:
    """One record per child in PLACEMENT_COLUMNS order; None where there is nothing to say."""
    records: list[dict[str, Cell]] = []
    for p in result.placements:
        records.append(
            {
                "child_id": p.child_id,
                "setting_urn": p.setting_urn,
                "setting_name": p.setting_name,
                "placement_kind": None if p.placement_kind is None else p.placement_kind.value,
                "provision": None if p.provision is None else p.provision.value,
                "preference_rank": p.preference_rank,
                "travel_minutes": None if p.minutes is None else round(float(p.minutes), 1),
                "placement_cost": p.placement_cost,
                "transport_cost": p.transport_cost,
                "out_of_area": "yes" if p.out_of_area else "no",
                "reason": p.reason,
            }
        )
    return records


def _new_file_mode() -> int:
    # mkstemp makes files 0600; a finished output should get the user's usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    A half-written placement file could be mistaken for a complete one and sent to a panel, so
    on any error the temporary file is removed and ``path`` is left as it was (or absent).
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        mode = path.stat().st_mode & 0o777 if path.exists() else _new_file_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_placements(result: PlacementResult, path: Path | str) -> None:
    """Write one row per child (CSV or XLSX by extension); XLSX adds a "Summary" sheet.

    CSV is written as UTF-8 with a byte-order mark so that Excel shows £ and accents correctly.
    """
    summary = [
        {"Measure": item.label, "Value": item.value} for item in summary_rows(result.summary)
    ]
    value_formats = [_SUMMARY_FORMATS[item.unit] for item in summary_rows(result.summary)]
    write_tables(
        path,
        [
            Table("Placements", PLACEMENT_COLUMNS, placement_records(result)),
            Table("Summary", ("Measure", "Value"), summary, row_formats=value_formats),
        ],
        csv_tables=1,
    )


@dataclass(frozen=True)
class Table:
    """One sheet of an output workbook (or one CSV file)."""

    name: str
    columns: Sequence[str]
    records: Sequence[Mapping[str, Cell]]
    # Per-row number format for the last column (e.g. a measure/value sheet), else by column.
    row_formats: Sequence[str | None] | None = None


def write_tables(path: Path | str, tables: Sequence[Table], csv_tables: int | None = None) -> None:
    """Write tables as sheets of one XLSX, or as CSV files: the first at ``path``, the others
    beside it as ``<stem>_<sheet>.csv``. ``csv_tables`` limits how many go to CSV (a summary
    sheet has no place in a CSV). Each file is written atomically."""
    path = Path(path)
    if file_format(path) == "xlsx":
        with atomic_path(path) as tmp:
            _write_xlsx(tables, tmp)
        return
    for n, table in enumerate(tables[:csv_tables]):
        target = path if n == 0 else path.with_name(f"{path.stem}_{_slug(table.name)}.csv")
        with atomic_path(target) as tmp:
            _write_csv(table, tmp)


def csv_companions(path: Path | str, tables: Sequence[str]) -> list[Path]:
    """The files :func:`write_tables` writes for these sheet names at ``path``."""
    path = Path(path)
    if file_format(path) == "xlsx":
        return [path]
    return [path] + [path.with_name(f"{path.stem}_{_slug(t)}.csv") for t in tables[1:]]


def _slug(name: str) -> str:
    return "_".join(name.lower().split())


# OWASP's rule against CSV injection: Excel runs a cell starting with one of these as a
# formula (=HYPERLINK(...), +1+cmd|...), so a text cell starting with one gets an apostrophe,
# which Excel shows and never runs. Child ids, URNs and setting names come from users' files.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_formula(text: str) -> str:
    """``text`` as a CSV cell that spreadsheet programs show and never evaluate.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    ``'``, except a plain number such as ``-0.71`` (a longitude), which Excel reads as that
    number and which must stay one. Only text is ever passed: numbers are written as numbers.
    """
    if text.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape_formula(text: str) -> str:
    """Undo :func:`neutralise_formula` on reading, so an id written out and read back is the
    same id: a leading ``'`` before one of :data:`FORMULA_LEADS` is dropped."""
    if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_LEADS):
        return text[1:]
    return text


def _csv_text(column: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, str):
        return neutralise_formula(value)
    return str(value)


def _write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.columns)
        for record in table.records:
            writer.writerow([_csv_text(c, record.get(c)) for c in table.columns])


_NUMBER_FORMATS = {
    "travel_minutes": "0.0",
    "placement_cost": "£#,##0",
    "transport_cost": "£#,##0",
    "annual_cost": "£#,##0",
    "marginal_minutes": "0.0",
    "marginal_pounds": "£#,##0",
}
_SUMMARY_FORMATS: dict[str, str | None] = {
    "percent": '0.0"%"',
    "minutes": "0.0",
    "pounds": "£#,##0",
    "count": "#,##0",
    "text": None,
}
_WIDTHS = {"setting_name": 36, "reason": 60, "reasons": 70, "evidence": 70, "Measure": 52}


def _xlsx_row(sheet: Any, values: Sequence[Cell], formats: Sequence[str | None]) -> list[Any]:
    """A row for a write-only sheet: plain values, wrapped in a cell only where they need it.

    Text starting with "=" is kept as text (never an Excel formula); numbers get a format.
    """
    from openpyxl.cell import WriteOnlyCell

    row: list[Any] = []
    for value, number_format in zip(values, formats, strict=True):
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            row.append(cell)
        elif number_format is not None and isinstance(value, int | float):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = number_format
            row.append(cell)
        else:
            row.append(value)
    return row


def _xlsx_header(sheet: Any, names: Sequence[str]) -> list[Any]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cells = []
    for name in names:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def _write_xlsx(tables: Sequence[Table], path: Path) -> None:
    # Write-only mode streams rows: a whole LA's caseload is written in seconds, not minutes.
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for table in tables:
        sheet = workbook.create_sheet(table.name)
        for j, column in enumerate(table.columns):
            sheet.column_dimensions[_column_letter(j)].width = _WIDTHS.get(
                column, max(len(column) + 4, 12)
            )
        sheet.freeze_panes = "B2"
        sheet.append(_xlsx_header(sheet, table.columns))
        formats = [_NUMBER_FORMATS.get(c) for c in table.columns]
        for n, record in enumerate(table.records):
            if table.row_formats is not None:
                formats[-1] = table.row_formats[n]
            values = [record.get(c) for c in table.columns]
            sheet.append(_xlsx_row(sheet, values, formats))
    workbook.save(path)


TAILORED_SHEETS = ("Options", "Excluded", "Preferences")
OPTION_COLUMNS = (
    "child_id",
    "rank",
    "setting_urn",
    "setting_name",
    "setting_type",
    "placement_kind",
    "provision",
    "needs_matched",
    "travel_minutes",
    "places_left",
    "placement_cost",
    "transport_cost",
    "annual_cost",
    "preference_rank",
    "proposed",
    "marginal_children_unplaced",
    "marginal_preferences_unmet",
    "marginal_preference_ranks",
    "marginal_minutes",
    "marginal_pounds",
    "marginal_system_cost",
    "why_listed",
)
EXCLUDED_COLUMNS = (
    "child_id",
    "setting_urn",
    "setting_name",
    "setting_type",
    "travel_minutes",
    "preference_rank",
    "reasons",
)
PREFERENCE_COLUMNS = (
    "child_id",
    "rank",
    "setting_urn",
    "setting_name",
    "met",
    "ground",
    "evidence",
)


def tailored_list_tables(lists: Sequence[TailoredList]) -> list[Table]:
    """Options, exclusions and preference statements: one row each, child by child."""
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


def write_tailored_lists(lists: Sequence[TailoredList], path: Path | str) -> list[Path]:
    """Write the lists (XLSX: three sheets; CSV: three files); return the paths written."""
    write_tables(path, tailored_list_tables(lists))
    return csv_companions(path, TAILORED_SHEETS)


FAIR_ACCESS_SHEETS = ("Allocations", "Alternatives", "Excluded", "Schools", "Solver")


def fair_access_tables(result: FairAccessResult) -> list[Table]:
    """Allocations, ranked alternatives, exclusions, school loads, and the solver's proof."""
    allocations: list[dict[str, Cell]] = []
    alternatives: list[dict[str, Cell]] = []
    excluded: list[dict[str, Cell]] = []
    for a in result.allocations:
        allocations.append(
            {
                "child_id": a.child_id,
                "school_urn": a.school_urn,
                "school_name": a.school_name,
                "travel_minutes": None if a.minutes is None else round(a.minutes, 1),
                "load_before": a.load_before,
                "load_after": a.load_after,
                "reason": a.reason,
            }
        )
        for n, o in enumerate(a.alternatives, start=1):
            alternatives.append(
                {
                    "child_id": a.child_id,
                    "rank": n,
                    "school_urn": o.urn,
                    "school_name": o.name,
                    "travel_minutes": round(o.minutes, 1),
                    "load_before": o.load_before,
                    "load_after": o.load_after,
                    "places_left": o.places_left,
                    "note": o.note,
                }
            )
        for e in a.excluded:
            excluded.append(
                {
                    "child_id": a.child_id,
                    "school_urn": e.urn,
                    "school_name": e.name,
                    "travel_minutes": None if e.minutes is None else round(e.minutes, 1),
                    "reasons": "; ".join(e.reasons),
                }
            )
    schools = [
        {
            "school_urn": s.urn,
            "school_name": s.name,
            "size": s.size,
            "history": s.history,
            "cap": s.cap,
            "new": s.new,
            "load_before": s.load_before,
            "load_after": s.load_after,
        }
        for s in result.schools
    ]
    solver: list[dict[str, Cell]] = [
        {
            "item": level.name,
            "status": level.status,
            "objective": level.objective,
            "best_bound": level.best_bound,
            "gap": round(level.gap, 6),
        }
        for level in result.levels
    ]
    solver += [{"item": "note", "status": note} for note in result.notes]
    solver.append({"item": "method", "status": result.method})
    solver.append({"item": "travel-time model", "status": result.travel_model})
    return [
        Table(
            "Allocations",
            (
                "child_id",
                "school_urn",
                "school_name",
                "travel_minutes",
                "load_before",
                "load_after",
                "reason",
            ),
            allocations,
        ),
        Table(
            "Alternatives",
            (
                "child_id",
                "rank",
                "school_urn",
                "school_name",
                "travel_minutes",
                "load_before",
                "load_after",
                "places_left",
                "note",
            ),
            alternatives,
        ),
        Table(
            "Excluded",
            ("child_id", "school_urn", "school_name", "travel_minutes", "reasons"),
            excluded,
        ),
        Table(
            "Schools",
            (
                "school_urn",
                "school_name",
                "size",
                "history",
                "cap",
                "new",
                "load_before",
                "load_after",
            ),
            schools,
        ),
        Table("Solver", ("item", "status", "objective", "best_bound", "gap"), solver),
    ]


def write_fair_access(result: FairAccessResult, path: Path | str) -> list[Path]:
    """Write the allocation (XLSX: five sheets; CSV: five files); return the paths written."""
    write_tables(path, fair_access_tables(result))
    return csv_companions(path, FAIR_ACCESS_SHEETS)


def check_output_path(
    path: Path | str, inputs: Sequence[Path | str] = (), suffixes: Sequence[str] | None = None
) -> str | None:
    """Why ``path`` cannot take the output, or None: checked before any work is done.

    ``suffixes`` (lower case, with the dot) are the endings the output may have; by default a
    table's, ``.csv`` or ``.xlsx``. Other outputs, such as the HTML panel pack, name theirs.
    """
    path = Path(path)
    if suffixes is None:
        wanted = ".csv or .xlsx"
        try:
            file_format(path)
        except ValueError as exc:
            return str(exc)
    else:
        wanted = " or ".join(suffixes)
        if path.suffix.lower() not in suffixes:
            return f"{path.name}: the file name must end in {wanted} (got {path.suffix!r})"
    if path.is_dir():
        return f"{path} is a folder; give a file name ending in {wanted}"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    resolved = path.resolve()
    for other in inputs:
        if Path(other).resolve() == resolved:
            return f"{path.name} is also an input file; choose another name for the output"
    return None
