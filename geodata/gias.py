"""Import DfE "Get Information About Schools" (GIAS) establishment extracts as ``Setting`` objects.

GIAS (``edubasealldataYYYYMMDD.csv``) is the national register of every school and college in
England, so an LA can start from it instead of typing its settings in. It was made for other
purposes, and that shapes this importer:

- It is written in Windows-1252 (cp1252), not UTF-8; both are read (``read_gias_text``).
- It holds ~50,000 rows, most of them closed or in other LAs. Rows outside the chosen LAs are
  only counted (``rows_outside_area``); listing 49,000 of them would bury what matters.
- Establishment types sendmatch never names in an EHCP (independent mainstream schools, Welsh
  establishments, universities, secure units, ...) and closed establishments are *skipped*
  with their reason: they are not errors.
- Rows with bad data (no grid reference, a non-numeric capacity, an inverted age range, an
  unknown need code, a resourced provision with no need types) are *problems*: the row is left
  out and each problem names the cell to fix, by row number as Excel shows it (header = row 1).
  A row is imported whole or not at all, because a half-imported school would silently misstate
  places, and the placement is only as good as its capacities.
- Rows imported on a stated assumption (pupils on roll blank, so taken as full) carry a
  *warning*: the assumption never invents a vacancy.
- GIAS has no fees and no accessibility data. Independent, non-maintained and specialist post-16
  settings get ``default_independent_fee`` unless ``fees`` names theirs, and wheelchair access
  is assumed only for the setting types in ``wheelchair_accessible_types`` unless
  ``facilities`` says otherwise for a URN. Every such assumption is listed in
  ``GiasImport.assumptions`` so that a panel sees what was not read from data.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError
from pyproj import Transformer
from scipy.spatial import cKDTree

from matcher.models import (
    MAX_PLACES,
    SETTING_PLACEMENT_KIND,
    Location,
    PlacementKind,
    Provision,
    ProvisionKind,
    Requirement,
    Setting,
    SettingType,
    SexAdmitted,
)
from matcher.needs import PrimaryNeed, parse_need

# GIAS column headers, exactly as the public extract spells them.
URN = "URN"
NAME = "EstablishmentName"
TYPE = "TypeOfEstablishment (name)"
STATUS = "EstablishmentStatus (name)"
LA_CODE = "LA (code)"
LA_NAME = "LA (name)"
GSS_LA_CODE = "GSSLACode (name)"
LOW_AGE = "StatutoryLowAge"
HIGH_AGE = "StatutoryHighAge"
GENDER = "Gender (name)"
CAPACITY = "SchoolCapacity"
PUPILS = "NumberOfPupils"
POSTCODE = "Postcode"
EASTING = "Easting"
NORTHING = "Northing"
BOARDERS = "Boarders (name)"
SECTION_41 = "Section41Approved (name)"
RP_TYPE = "TypeOfResourcedProvision (name)"
RP_CAPACITY = "ResourcedProvisionCapacity"
RP_ON_ROLL = "ResourcedProvisionOnRoll"
UNIT_CAPACITY = "SenUnitCapacity"
UNIT_ON_ROLL = "SenUnitOnRoll"
SEN_COLUMNS = tuple(f"SEN{i} (name)" for i in range(1, 14))

REQUIRED_COLUMNS = (
    URN,
    NAME,
    TYPE,
    STATUS,
    LA_CODE,
    LOW_AGE,
    HIGH_AGE,
    CAPACITY,
    PUPILS,
    EASTING,
    NORTHING,
)

OPEN_STATUSES = frozenset({"Open", "Open, but proposed to close"})

# GIAS holds no fees. Independent special school and NMSS placements are commonly priced at
# £50,000-£100,000+ a year (DOMAIN.md, "Money"); £60,000 sits in the lower-middle of that range,
# so an LA that forgets to supply fees sees independent places as costly but not as the most
# costly option. Pass ``fees`` (URN -> annual fee) to use real prices.
DEFAULT_INDEPENDENT_FEE = 60_000

# GIAS holds no accessibility data. State special schools and NMSS are built or adapted for
# pupils with physical disabilities far more often than not, so they are assumed accessible;
# mainstream, AP and independent settings are not, until the LA says so through ``facilities``.
# Assuming nothing would leave every wheelchair user unplaceable on GIAS data alone.
DEFAULT_WHEELCHAIR_ACCESSIBLE_TYPES = frozenset(
    {SettingType.SPECIAL, SettingType.NON_MAINTAINED_SPECIAL}
)

# Setting.high_age is at most 26 (young people are supported to 25); FE colleges record 99.
OLDEST_HIGH_AGE = 26
MAX_LOW_AGE = 25

# British National Grid true-origin extent (EPSG:27700 area of use, rounded out).
_BNG_MAX_EASTING = 700_000.0
_BNG_MAX_NORTHING = 1_300_000.0

_MAINSTREAM_TYPES = (
    "Community school",
    "Voluntary aided school",
    "Voluntary controlled school",
    "Foundation school",
    "Academy converter",
    "Academy sponsor led",
    "Free schools",
    "University technical college",
    "Studio schools",
    "City technology college",
    "Local authority nursery school",
)
_SPECIAL_TYPES = (
    "Community special school",
    "Foundation special school",
    "Academy special converter",
    "Academy special sponsor led",
    "Free schools special",
)
_AP_TYPES = (
    "Pupil referral unit",
    "Academy alternative provision converter",
    "Academy alternative provision sponsor led",
    "Free schools alternative provision",
)
# 16-19 academies are mostly converted sixth-form colleges: FE in all but legal form.
_FE_TYPES = (
    "Further education",
    "Sixth form centres",
    "Academy 16-19 converter",
    "Academy 16 to 19 sponsor led",
    "Free schools 16 to 19",
)

ESTABLISHMENT_TYPES: dict[str, SettingType] = {
    **{t: SettingType.MAINSTREAM for t in _MAINSTREAM_TYPES},
    **{t: SettingType.SPECIAL for t in _SPECIAL_TYPES},
    "Non-maintained special school": SettingType.NON_MAINTAINED_SPECIAL,
    "Other independent special school": SettingType.INDEPENDENT_SPECIAL,
    **{t: SettingType.ALTERNATIVE_PROVISION for t in _AP_TYPES},
    **{t: SettingType.FURTHER_EDUCATION for t in _FE_TYPES},
    "Special post 16 institution": SettingType.SPECIALIST_POST16,
}
"""GIAS ``TypeOfEstablishment (name)`` → the settings sendmatch can name in an EHCP."""

NOT_NAMED_TYPES: dict[str, str] = {
    "Other independent school": (
        "independent mainstream school not approved under section 41, so not one a parent "
        "can ask the LA to name"
    ),
    "Welsh establishment": "in Wales, outside English SEND law",
    "Higher education institutions": "higher education, not a school or college place",
    "Online provider": "online provider, not a setting a child attends",
    "Service children's education": "school for service families overseas",
    "Secure units": "secure unit, placed by courts not the LA",
    "Academy secure 16 to 19": "secure unit, placed by courts not the LA",
    "Offshore schools": "outside England",
    "British schools overseas": "outside England",
    "Institution funded by other government department": (
        "funded by another government department, not named through an EHCP"
    ),
    "Miscellaneous": "miscellaneous establishment, not a school or college",
}
"""GIAS types that are skipped on purpose, with the reason shown to the user."""

_TYPE_LOOKUP = {k.casefold(): v for k, v in ESTABLISHMENT_TYPES.items()}
_NOT_NAMED_LOOKUP = {k.casefold(): v for k, v in NOT_NAMED_TYPES.items()}
_GENDER = {
    "mixed": SexAdmitted.MIXED,
    "boys": SexAdmitted.BOYS,
    "girls": SexAdmitted.GIRLS,
    "not applicable": SexAdmitted.MIXED,
    "": SexAdmitted.MIXED,
}
_PROVISION_TYPES: dict[str, tuple[ProvisionKind, ...]] = {
    "": (),
    "not applicable": (),
    "resourced provision": (ProvisionKind.RESOURCED_PROVISION,),
    "sen unit": (ProvisionKind.SEN_UNIT,),
    "resourced provision and sen unit": (
        ProvisionKind.RESOURCED_PROVISION,
        ProvisionKind.SEN_UNIT,
    ),
}
_PROVISION_COLUMNS = {
    ProvisionKind.RESOURCED_PROVISION: (RP_CAPACITY, RP_ON_ROLL),
    ProvisionKind.SEN_UNIT: (UNIT_CAPACITY, UNIT_ON_ROLL),
}
# Setting types whose designation decides which children they take: the eligibility rules treat
# an empty designation as "any need", so such a setting without SEN1..SEN13 cannot be imported.
_NEEDS_DESIGNATION = frozenset(
    {
        SettingType.SPECIAL,
        SettingType.NON_MAINTAINED_SPECIAL,
        SettingType.INDEPENDENT_SPECIAL,
        SettingType.SPECIALIST_POST16,
    }
)
_WHOLE_NUMBER = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


class GiasFormatError(ValueError):
    """The file is not a GIAS establishment extract (for example, required columns are missing)."""


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with (or noteworthy about) one row, in terms a user can act on.

    ``row`` is the row number Excel shows for the record (header = row 1), so a user can go
    straight to it; ``field`` is the GIAS column to look at.
    """

    file: str
    row: int
    field: str
    message: str
    urn: str | None = None

    def __str__(self) -> str:
        urn = f" (URN {self.urn})" if self.urn else ""
        return f"{self.file}, row {self.row}{urn}, {self.field}: {self.message}"


@dataclass
class GiasImport:
    """What an import produced, and everything it did not import, with reasons.

    ``problems`` are rows left out because of bad data; ``skipped`` are rows left out on
    purpose (closed, or a type sendmatch does not name); ``warnings`` are rows imported on a
    stated assumption. ``assumptions`` lists values that GIAS does not hold and were supplied
    by defaults.
    """

    file: str
    encoding: str
    settings: list[Setting] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    skipped: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_outside_area: int = 0

    def summary(self) -> str:
        """One paragraph for a log or a CLI, counts first."""
        lines = [
            f"{self.file} ({self.encoding}): {self.rows_read} rows read, "
            f"{len(self.settings)} settings imported, {len(self.problems)} problems in "
            f"{len({p.row for p in self.problems})} rows, {len(self.skipped)} skipped, "
            f"{len(self.warnings)} warnings, {self.rows_outside_area} outside the area."
        ]
        lines += [f"Assumed: {a}" for a in self.assumptions]
        return "\n".join(lines)


@lru_cache(maxsize=1)
def _bng_transformer() -> Transformer:
    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def bng_to_wgs84(
    easting: npt.ArrayLike, northing: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """British National Grid metres (EPSG:27700) → WGS84 (latitude, longitude) degrees.

    Vectorised: one call for a whole file. Uses pyproj's best available transformation (the
    OSTN15 grid when installed, else a Helmert fit good to a few metres, well inside the
    accuracy of a school's grid reference).
    """
    lon, lat = _bng_transformer().transform(
        np.asarray(easting, dtype=np.float64), np.asarray(northing, dtype=np.float64)
    )
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def read_gias_text(path: str | PathLike[str], encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the encoding used.

    The GIAS download is cp1252, but a file re-saved by Excel or a script is often UTF-8 (with
    or without a byte-order mark). UTF-8 is tried first because cp1252 would "succeed" on
    UTF-8 bytes and turn "’" into "â€™"; cp1252 next; latin-1 last, because it never fails
    (cp1252 leaves five byte values undefined).
    """
    raw = Path(path).read_bytes()
    if encoding is not None:
        return raw.decode(encoding), encoding
    for candidate in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


class _Row:
    """One record's cells plus the problems and warnings found while reading it."""

    def __init__(self, file: str, row: int, cells: dict[str, str]) -> None:
        self.file = file
        self.row = row
        self.cells = cells
        self.urn = cells.get(URN, "").strip() or None
        self.problems: list[RowProblem] = []
        self.warnings: list[RowProblem] = []

    def text(self, column: str) -> str:
        return " ".join(self.cells.get(column, "").split())

    def problem(self, column: str, message: str) -> None:
        self.problems.append(RowProblem(self.file, self.row, column, message, self.urn))

    def warn(self, column: str, message: str) -> None:
        self.warnings.append(RowProblem(self.file, self.row, column, message, self.urn))

    def whole_number(self, column: str, what: str, *, required: bool = True) -> int | None:
        """A non-negative integer cell; None (with a problem if required) when blank or bad."""
        raw = self.text(column)
        if not raw:
            if required:
                self.problem(column, f"{what} is blank")
            return None
        value = raw.replace(",", "") if _THOUSANDS.match(raw) else raw
        if not _WHOLE_NUMBER.match(value):
            self.problem(column, f"{what} is {raw!r}, not a whole number")
            return None
        number = int(float(value))
        if number < 0:
            self.problem(column, f"{what} is {number}, below zero")
            return None
        if number > MAX_PLACES:  # every whole number here is a capacity, a roll or an age
            self.problem(column, f"{what} is {number:,}, above the {MAX_PLACES:,} allowed")
            return None
        return number

    def grid_reference(self) -> tuple[float, float] | None:
        """(easting, northing) in metres, or None with a problem naming what to fix."""
        postcode = self.text(POSTCODE)
        hint = (
            f"; look up the grid reference of postcode {postcode}"
            if postcode
            else "; add the grid reference"
        )
        values: list[float] = []
        for column, upper in ((EASTING, _BNG_MAX_EASTING), (NORTHING, _BNG_MAX_NORTHING)):
            raw = self.text(column).replace(",", "")
            if not raw:
                self.problem(column, f"{column} is blank, so the setting cannot be located{hint}")
            elif not _NUMBER.match(raw):
                self.problem(column, f"{column} is {raw!r}, not a number of metres{hint}")
            elif not 0 < float(raw) <= upper:
                self.problem(
                    column,
                    f"{column} {raw} is outside the British National Grid (0 to {upper:,.0f} m)"
                    f"{hint}",
                )
            else:
                values.append(float(raw))
        return (values[0], values[1]) if len(values) == 2 else None

    def lists_needs(self) -> bool:
        """Whether any SEN1..SEN13 cell says something (even something unreadable)."""
        return any(
            self.text(c) and self.text(c).casefold() != "not applicable" for c in SEN_COLUMNS
        )

    def needs(self) -> frozenset[PrimaryNeed]:
        """SEN1..SEN13 read as need codes ("ASD - Autistic Spectrum Disorder" → ASD)."""
        found: set[PrimaryNeed] = set()
        for column in SEN_COLUMNS:
            raw = self.text(column)
            if not raw or raw.casefold() == "not applicable":
                continue
            code = raw.split(" - ", 1)[0]
            try:
                found.add(parse_need(code))
            except ValueError:
                try:
                    found.add(parse_need(raw))
                except ValueError as exc:
                    self.problem(column, str(exc))
        return frozenset(found)


@dataclass
class _Outcome:
    """A row read but not yet placed in or out of the area (which may need every coordinate)."""

    row: _Row
    in_la: bool
    grid: tuple[float, float] | None
    skipped: RowProblem | None = None
    kwargs: dict[str, object] | None = None


def _setting_type(row: _Row) -> tuple[SettingType | None, str | None]:
    """(type, None) for a setting sendmatch names, or (None, reason) for one it skips."""
    text = row.text(TYPE)
    key = text.casefold()
    if key in _TYPE_LOOKUP:
        return _TYPE_LOOKUP[key], None
    # An independent school approved under section 41 can be named in an EHCP like an ISS.
    if key == "other independent school" and row.text(SECTION_41).casefold().startswith("approved"):
        return SettingType.INDEPENDENT_SPECIAL, None
    if key in _NOT_NAMED_LOOKUP:
        return None, f"{text!r}: {_NOT_NAMED_LOOKUP[key]}"
    return None, f"{text!r} is not a type of establishment sendmatch names in an EHCP"


def _read_provisions(
    row: _Row, setting_type: SettingType, needs: frozenset[PrimaryNeed]
) -> tuple[Provision, ...]:
    raw = row.text(RP_TYPE)
    kinds = _PROVISION_TYPES.get(raw.casefold())
    if kinds is None:
        row.problem(
            RP_TYPE,
            f"{raw!r} is not a GIAS provision type (Resourced provision, SEN unit, "
            "Resourced provision and SEN unit, Not applicable)",
        )
        return ()
    if not kinds:
        return ()
    if setting_type is not SettingType.MAINSTREAM:
        row.warn(
            RP_TYPE,
            f"{raw!r} ignored: resourced provisions and SEN units are modelled only in "
            f"mainstream schools, and this is {setting_type.value}",
        )
        return ()
    if not row.lists_needs():
        row.problem(
            SEN_COLUMNS[0],
            f"the school has {raw!r} but SEN1..SEN13 list no need types, so no child could be "
            "matched to it; add the needs it is designated for",
        )
    provisions = []
    for kind in kinds:
        cap_column, roll_column = _PROVISION_COLUMNS[kind]
        label = "resourced provision" if kind is ProvisionKind.RESOURCED_PROVISION else "SEN unit"
        places = row.whole_number(cap_column, f"{label} capacity")
        on_roll = row.whole_number(roll_column, f"{label} pupils on roll", required=False)
        if places is None:
            continue
        if on_roll is None and not row.text(roll_column):
            row.warn(
                roll_column,
                f"{label} pupils on roll is blank: taken as full ({places}), so no vacancy is "
                "invented",
            )
            on_roll = places
        if needs and on_roll is not None and not row.problems:
            provisions.append(
                Provision(kind=kind, designated_needs=needs, places=places, on_roll=on_roll)
            )
    return tuple(provisions)


def _read_row(
    row: _Row,
    *,
    in_la: bool,
    statuses: frozenset[str],
    wheelchair_types: frozenset[SettingType],
    facilities: Mapping[str, Collection[Requirement]],
    fees: Mapping[str, int],
    default_fee: int,
) -> _Outcome:
    """Skip, or read every cell the setting needs, collecting all of a row's problems at once.

    All problems are collected (not just the first) so that a user fixes a row in one pass.
    """
    # The grid reference is read even for rows that will be skipped: deciding which rows in
    # other LAs are near enough to keep needs every location. Its problems only count for rows
    # that would otherwise be imported.
    grid = row.grid_reference()
    status = row.text(STATUS)
    if status.casefold() not in statuses:
        row.problems.clear()
        skip = RowProblem(row.file, row.row, STATUS, f"skipped: status {status!r}", row.urn)
        return _Outcome(row, in_la, grid, skipped=skip)
    setting_type, reason = _setting_type(row)
    if setting_type is None:
        row.problems.clear()
        skip = RowProblem(row.file, row.row, TYPE, f"skipped: {reason}", row.urn)
        return _Outcome(row, in_la, grid, skipped=skip)

    urn = row.urn
    if urn is None:
        row.problem(URN, "URN is blank")
    name = row.text(NAME)
    if not name:
        row.problem(NAME, "EstablishmentName is blank")
    low = row.whole_number(LOW_AGE, "StatutoryLowAge")
    high = row.whole_number(HIGH_AGE, "StatutoryHighAge")
    if low is not None and low > MAX_LOW_AGE:
        row.problem(LOW_AGE, f"StatutoryLowAge {low} is above 25, the oldest age with an EHCP")
        low = None
    if low is not None and high is not None and low >= high:
        row.problem(
            HIGH_AGE,
            f"age range inverted or empty: StatutoryLowAge {low} >= StatutoryHighAge {high}",
        )
    gender = row.text(GENDER)
    sex_admitted = _GENDER.get(gender.casefold())
    if sex_admitted is None:
        row.problem(GENDER, f"{gender!r} is not Mixed, Boys or Girls")
    capacity = row.whole_number(CAPACITY, "SchoolCapacity")
    pupils = row.whole_number(PUPILS, "NumberOfPupils", required=False)
    if pupils is None and not row.text(PUPILS) and capacity is not None:
        row.warn(
            PUPILS,
            f"NumberOfPupils is blank: taken as full ({capacity}), so no vacancy is invented",
        )
        pupils = capacity
    needs = row.needs()
    if setting_type in _NEEDS_DESIGNATION and not row.lists_needs():
        row.problem(
            SEN_COLUMNS[0],
            f"SEN1..SEN13 are blank: a {setting_type.value.replace('_', ' ')} setting must list "
            "the needs it is designated for, or it would be offered for every need",
        )
    provisions = _read_provisions(row, setting_type, needs)

    if row.problems or grid is None:
        return _Outcome(row, in_la, grid)
    assert urn is not None and low is not None and high is not None
    assert capacity is not None and pupils is not None

    derived: set[Requirement] = set()
    if setting_type in wheelchair_types:
        derived.add(Requirement.WHEELCHAIR_ACCESS)
    boarders = row.text(BOARDERS).casefold()
    if ("board" in boarders and not boarders.startswith("no board")) or "residential" in boarders:
        derived.add(Requirement.RESIDENTIAL)
    setting_facilities = frozenset(facilities[urn]) if urn in facilities else frozenset(derived)

    kwargs: dict[str, object] = {
        "urn": urn,
        "name": name,
        "setting_type": setting_type,
        "la_code": row.text(LA_CODE) or None,
        "low_age": low,
        "high_age": min(high, OLDEST_HIGH_AGE),
        "sex_admitted": sex_admitted,
        "designated_needs": needs if setting_type is not SettingType.MAINSTREAM else frozenset(),
        "facilities": setting_facilities,
        "total_places": capacity,
        "on_roll": pupils,
        "provisions": provisions,
    }
    if SETTING_PLACEMENT_KIND[setting_type] is PlacementKind.INDEPENDENT:
        kwargs["annual_fee"] = fees.get(urn, default_fee)
    return _Outcome(row, in_la, grid, kwargs=kwargs)


def _within(
    points: npt.NDArray[np.float64], centres: npt.NDArray[np.float64], radius_m: float
) -> npt.NDArray[np.bool_]:
    """For each point, whether any centre is within ``radius_m`` (grid metres, so Euclidean).

    A k-d tree keeps this fast for a whole-England file (~50,000 rows against an LA's ~500).
    """
    inside = np.zeros(len(points), dtype=bool)
    finite = np.all(np.isfinite(points), axis=1) if len(points) else inside
    if not finite.any() or len(centres) == 0:
        return inside
    distance, _ = cKDTree(centres).query(points[finite], k=1, distance_upper_bound=radius_m)
    inside[finite] = np.isfinite(distance)
    return inside


def import_gias(
    path: str | PathLike[str],
    *,
    la_codes: Iterable[str | int] | None = None,
    neighbour_radius_km: float | None = None,
    statuses: Collection[str] = OPEN_STATUSES,
    default_independent_fee: int = DEFAULT_INDEPENDENT_FEE,
    fees: Mapping[str, int] | None = None,
    wheelchair_accessible_types: Collection[SettingType] = DEFAULT_WHEELCHAIR_ACCESSIBLE_TYPES,
    facilities: Mapping[str, Collection[Requirement]] | None = None,
    encoding: str | None = None,
) -> GiasImport:
    """Read a GIAS establishment extract into settings, reporting every row not imported.

    Parameters
    ----------
    path
        A GIAS ``edubasealldata*.csv`` extract (or any CSV with its column headers).
    la_codes
        Keep settings in these LAs: three-digit GIAS ``LA (code)`` values such as ``"202"``, or
        nine-character GSS codes such as ``"E09000007"`` (matched against ``GSSLACode (name)``).
        None keeps every LA.
    neighbour_radius_km
        With ``la_codes``, also keep settings in other LAs within this straight-line distance
        (km) of any establishment in the chosen LAs: the out-of-area schools a family near the
        boundary would consider.
    statuses
        ``EstablishmentStatus (name)`` values to keep; others are skipped with their status.
    default_independent_fee
        Annual fee (£) for independent, non-maintained and specialist post-16 settings that
        ``fees`` does not price (GIAS has no fees).
    fees
        URN → annual fee (£), overriding the default.
    wheelchair_accessible_types
        Setting types assumed to have wheelchair access (GIAS has no accessibility data).
    facilities
        URN → the setting's facilities, replacing anything assumed or read from ``Boarders``.
    encoding
        Force an encoding; by default UTF-8 then cp1252 are tried (see ``read_gias_text``).

    Returns
    -------
    GiasImport
        Settings in file order, plus problems, skipped rows, warnings and assumptions.

    Raises
    ------
    GiasFormatError
        If the file has no header or lacks a required column.
    """
    file = str(path)
    text, used_encoding = read_gias_text(path, encoding)
    result = GiasImport(file=file, encoding=used_encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    header_row = next(reader, None)
    if not header_row:
        raise GiasFormatError(f"{file} is empty: expected a GIAS establishment extract")
    header = [h.strip().lstrip("\ufeff") for h in header_row]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise GiasFormatError(
            f"{file} lacks the GIAS column(s) {', '.join(repr(c) for c in missing)}; is it an "
            "establishment extract (edubasealldata*.csv) saved as comma-separated values?"
        )

    wanted = None if la_codes is None else {str(c).strip() for c in la_codes}
    la_columns = [header.index(c) for c in (LA_CODE, GSS_LA_CODE) if c in header]
    radius_m = None if neighbour_radius_km is None else neighbour_radius_km * 1000.0
    keep_statuses = frozenset(s.casefold() for s in statuses)
    wheelchair_types = frozenset(wheelchair_accessible_types)
    fee_of = dict(fees or {})
    facilities_of = dict(facilities or {})

    outcomes: list[_Outcome] = []
    for index, record in enumerate(reader):
        row_number = index + 2  # header is row 1 in Excel
        if not any(cell.strip() for cell in record):
            continue  # a blank line: nothing to import and nothing wrong
        result.rows_read += 1
        # Most rows of a national file are in other LAs: decide that before building anything.
        codes = {record[i].strip() for i in la_columns if i < len(record)} - {""}
        in_la = wanted is None or bool(codes & wanted)
        if not in_la and radius_m is None:
            result.rows_outside_area += 1
            continue
        # A short row (trailing blank cells dropped by some tools) reads as blanks; a long one
        # means a stray comma or quote has shifted cells, so nothing in it can be trusted.
        row = _Row(file, row_number, dict(zip(header, record, strict=False)))
        if len(record) > len(header):
            row.problem(
                "(whole row)",
                f"the row has {len(record)} cells but the header has {len(header)}; a comma or "
                "quote is probably out of place",
            )
            outcomes.append(_Outcome(row, in_la, None))
            continue
        outcomes.append(
            _read_row(
                row,
                in_la=in_la,
                statuses=keep_statuses,
                wheelchair_types=wheelchair_types,
                facilities=facilities_of,
                fees=fee_of,
                default_fee=default_independent_fee,
            )
        )

    if radius_m is not None and wanted is not None:
        centres = np.array([o.grid for o in outcomes if o.in_la and o.grid is not None])
        outside = [o for o in outcomes if not o.in_la]
        near = _within(
            np.array([o.grid if o.grid is not None else (np.inf, np.inf) for o in outside]),
            centres.reshape(-1, 2),
            radius_m,
        )
        far = {id(o) for o, ok in zip(outside, near, strict=True) if not ok}
        result.rows_outside_area += len(far)
        outcomes = [o for o in outcomes if id(o) not in far]

    result.skipped = [o.skipped for o in outcomes if o.skipped is not None]
    return _finish(result, outcomes, fee_of, default_independent_fee, wheelchair_types)


def _finish(
    result: GiasImport,
    outcomes: list[_Outcome],
    fees: Mapping[str, int],
    default_fee: int,
    wheelchair_types: frozenset[SettingType],
) -> GiasImport:
    """Convert coordinates in one call, build the settings, and catch duplicate URNs."""
    ready = [o for o in outcomes if o.kwargs is not None and o.grid is not None]
    grid = np.array([o.grid for o in ready], dtype=np.float64).reshape(-1, 2)
    lat, lon = bng_to_wgs84(grid[:, 0], grid[:, 1])
    location_of = {id(o): (float(a), float(b)) for o, a, b in zip(ready, lat, lon, strict=True)}

    seen: dict[str, int] = {}
    defaulted_fees = 0
    for outcome in outcomes:
        row = outcome.row
        if outcome.skipped is not None:
            continue
        if outcome.kwargs is None:
            result.problems.extend(row.problems)
            continue
        latitude, longitude = location_of[id(outcome)]
        if not (np.isfinite(latitude) and np.isfinite(longitude)):
            row.problem(EASTING, "the grid reference could not be converted to latitude/longitude")
            result.problems.extend(row.problems)
            continue
        urn = str(outcome.kwargs["urn"])
        if urn in seen:
            row.problem(
                URN, f"URN {urn} already appears on row {seen[urn]}; only the first is kept"
            )
            result.problems.extend(row.problems)
            continue
        try:
            setting = Setting.model_validate(
                {**outcome.kwargs, "location": Location(latitude=latitude, longitude=longitude)}
            )
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "row"
                row.problem(where, error["msg"])
            result.problems.extend(row.problems)
            continue
        seen[urn] = row.row
        result.warnings.extend(row.warnings)
        if setting.annual_fee is not None and urn not in fees:
            defaulted_fees += 1
        result.settings.append(setting)

    result.problems.sort(key=lambda p: p.row)
    if defaulted_fees:
        result.assumptions.append(
            f"{defaulted_fees} independent, non-maintained or specialist post-16 setting(s) "
            f"priced at the default £{default_fee:,} a year: GIAS has no fees"
        )
    if wheelchair_types:
        kinds = ", ".join(sorted(t.value for t in wheelchair_types))
        result.assumptions.append(
            f"wheelchair access assumed for {kinds} settings and for no others unless given: "
            "GIAS has no accessibility data"
        )
    else:
        result.assumptions.append(
            "no setting has wheelchair access unless given: GIAS has no accessibility data"
        )
    return result
