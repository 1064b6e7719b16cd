"""Postcodes to points, from a postcode file the LA supplies.

Planners name sites by postcode ("the old depot, AB1 2CD") far more often than by coordinates.
No postcode data can ship with sendmatch or be fetched at run time, so the officer passes the
file their organisation already has (``--postcodes FILE``):

* the **ONS Postcode Directory** (ONSPD, free from the ONS Open Geography portal): one CSV with
  a header, postcode in ``pcds`` (or ``pcd``/``pcd2``), WGS84 ``lat``/``long``, and ``doterm``
  (``YYYYMM``) set for terminated postcodes. Postcodes with no grid reference carry
  ``lat`` 99.999999; they are known but cannot be placed.
* **Code-Point Open** (Ordnance Survey, free): CSV files of ``Postcode,
  Positional_quality_indicator, Eastings, Northings, ...`` in British National Grid metres,
  as shipped (one headerless file per postcode area in ``Data/CSV/``) or with that header row.
  A folder of such files is read whole. Positional quality 90 means "no coordinates".
  Code-Point Open holds live postcodes only, so a terminated one is simply unknown there.

ONSPD is about 2.7 million rows (over 1 GB): the file is streamed once and only the postcodes
asked for are kept (:class:`PostcodeFile` caches them, and remembers misses, so a second look-up
of the same postcode never re-reads the file). Rows are checked only where they are used: a
malformed row for a postcode nobody asked about cannot change any answer, and checking 2.7
million rows would cost more than the look-up itself.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from matcher.models import Location

# Outward code (area, district, optional sub-district letter) then inward code (sector, unit).
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
# ONSPD puts lat 99.999999 (and long 0) on postcodes with no grid reference.
_ONSPD_NO_GRID_LATITUDE = 99.0
# Code-Point Open's positional quality indicator for "no coordinates available".
_CODEPOINT_NO_COORDINATES = 90

ONSPD_POSTCODE_COLUMNS = ("pcds", "pcd", "pcd2")
CODEPOINT_COLUMNS = ("Postcode", "Positional_quality_indicator", "Eastings", "Northings")


class PostcodeError(ValueError):
    """A postcode that cannot be placed: not a postcode, unknown, terminated, no grid ref."""


class PostcodeFileError(ValueError):
    """The postcode file cannot be used; ``problems`` names file, row and field of each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def normalise_postcode(text: str) -> str:
    """``" sw1a1aa"`` → ``"SW1A 1AA"``: upper case, one space before the inward code.

    Files write postcodes in several spacings (ONSPD's ``pcd`` pads to 7 characters, Code-Point
    packs them), so every key and every query goes through this one function.

    Raises
    ------
    PostcodeError
        If the text is not shaped like a UK postcode.
    """
    packed = "".join(str(text).split()).upper()
    if not _POSTCODE.match(packed):
        raise PostcodeError(f"{text.strip()!r} is not a UK postcode (e.g. 'SW1A 1AA')")
    return f"{packed[:-3]} {packed[-3:]}"


def looks_like_postcode(text: str) -> bool:
    try:
        normalise_postcode(text)
    except PostcodeError:
        return False
    return True


@dataclass(frozen=True)
class PostcodeRecord:
    """What the file says about one postcode; ``location`` None when it has no grid reference."""

    postcode: str
    location: Location | None
    terminated: str | None  # "YYYY-MM" from ONSPD's doterm, None while live
    where: str  # "file, row N": for messages


# --------------------------------------------------------------------------------------------
# Reading the files


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _csv_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".csv")
        if not files:
            raise PostcodeFileError([f"{path}: folder holds no .csv files"])
        return files
    if not path.exists():
        raise PostcodeFileError([f"{path}: no such file or folder"])
    return [path]


def _rows(path: Path) -> Iterator[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            yield from csv.reader(handle)
    except OSError as err:
        raise PostcodeFileError([f"{path}: cannot read the file: {err.strerror}"]) from None


def _float(cell: str, where: str, name: str, problems: list[str]) -> float | None:
    try:
        return float(cell)
    except ValueError:
        problems.append(f"{where}, {name}: {cell.strip()!r} is not a number")
        return None


def _location(lat: float, lon: float, where: str, problems: list[str]) -> Location | None:
    try:
        return Location(latitude=lat, longitude=lon)
    except ValidationError:
        problems.append(f"{where}: latitude {lat}, longitude {lon} is not a WGS84 point")
        return None


def _read_onspd(
    path: Path, header: list[str], rows: Iterator[list[str]], wanted: set[str]
) -> tuple[dict[str, PostcodeRecord], list[str]]:
    column = {_key(h): i for i, h in enumerate(header)}
    code_column = next(column[c] for c in ONSPD_POSTCODE_COLUMNS if c in column)
    lat_at, lon_at = column["lat"], column["long"]
    doterm_at = column.get("doterm")
    found: dict[str, PostcodeRecord] = {}
    problems: list[str] = []
    width = max(code_column, lat_at, lon_at, doterm_at or 0) + 1
    for number, row in enumerate(rows, start=2):
        if not row or len(row) <= code_column:
            continue
        packed = "".join(row[code_column].split()).upper()
        if len(packed) < 5:
            continue
        postcode = f"{packed[:-3]} {packed[-3:]}"
        if postcode not in wanted:
            continue
        where = f"{path}, row {number}"
        if len(row) < width:
            problems.append(f"{where}: {len(row)} cells, expected at least {width}")
            continue
        terminated = None
        if doterm_at is not None and row[doterm_at].strip():
            term = row[doterm_at].strip()
            if not re.fullmatch(r"\d{6}", term):
                problems.append(f"{where}, doterm: {term!r} is not a YYYYMM date")
                continue
            terminated = f"{term[:4]}-{term[4:]}"
        lat = _float(row[lat_at], where, "lat", problems)
        lon = _float(row[lon_at], where, "long", problems)
        if lat is None or lon is None:
            continue
        location = None
        if lat < _ONSPD_NO_GRID_LATITUDE:
            location = _location(lat, lon, where, problems)
            if location is None:
                continue
        found[postcode] = PostcodeRecord(postcode, location, terminated, where)
    return found, problems


def _read_codepoint(
    path: Path, first: list[str] | None, rows: Iterator[list[str]], wanted: set[str]
) -> tuple[dict[str, PostcodeRecord], list[str]]:
    """``first`` is the first data row of a headerless file (None when row 1 was a header)."""
    from geodata.gias import bng_to_wgs84

    pending: list[tuple[str, str, float, float]] = []
    found: dict[str, PostcodeRecord] = {}
    problems: list[str] = []
    start = 1 if first is not None else 2
    stream = rows if first is None else iter([first, *rows])
    for number, row in enumerate(stream, start=start):
        if not row:
            continue
        packed = "".join(row[0].split()).upper()
        if len(packed) < 5:
            continue
        postcode = f"{packed[:-3]} {packed[-3:]}"
        if postcode not in wanted:
            continue
        where = f"{path}, row {number}"
        if len(row) < 4:
            problems.append(f"{where}: {len(row)} cells, expected Postcode, quality, E, N")
            continue
        quality = _float(row[1], where, "Positional_quality_indicator", problems)
        easting = _float(row[2], where, "Eastings", problems)
        northing = _float(row[3], where, "Northings", problems)
        if quality is None or easting is None or northing is None:
            continue
        if int(quality) == _CODEPOINT_NO_COORDINATES or (easting == 0 and northing == 0):
            found[postcode] = PostcodeRecord(postcode, None, None, where)
            continue
        if not (0 <= easting <= 700_000 and 0 <= northing <= 1_300_000):
            grid = f"Eastings {easting:g}, Northings {northing:g}"
            problems.append(f"{where}: {grid} is off the British National Grid")
            continue
        pending.append((postcode, where, easting, northing))
    if pending:
        lats, lons = bng_to_wgs84([p[2] for p in pending], [p[3] for p in pending])
        for (postcode, where, _, _), lat, lon in zip(pending, lats, lons, strict=True):
            location = _location(float(lat), float(lon), where, problems)
            if location is not None:
                found[postcode] = PostcodeRecord(postcode, location, None, where)
    return found, problems


def _read_one(path: Path, wanted: set[str]) -> tuple[dict[str, PostcodeRecord], list[str]]:
    rows = _rows(path)
    header = next(rows, None)
    if header is None:
        return {}, [f"{path}: the file is empty"]
    keys = {_key(h) for h in header}
    if {"lat", "long"} <= keys and keys & set(ONSPD_POSTCODE_COLUMNS):
        return _read_onspd(path, header, rows, wanted)
    if {_key(c) for c in CODEPOINT_COLUMNS} <= keys:
        return _read_codepoint(path, None, rows, wanted)
    if len(header) >= 4 and looks_like_postcode(header[0]):
        return _read_codepoint(path, header, rows, wanted)
    message = (
        f"{path}, row 1: not an ONS Postcode Directory file (columns pcds or pcd, lat, long, "
        "doterm) nor a Code-Point Open file (Postcode, Positional_quality_indicator, Eastings, "
        "Northings)"
    )
    return {}, [message]


def read_postcodes(path: str | Path, wanted: Iterable[str]) -> dict[str, PostcodeRecord]:
    """The records of ``wanted`` postcodes (any spacing or case) found in the file or folder.

    Keys are normalised postcodes; a postcode missing from the result is not in the file.

    Raises
    ------
    PostcodeFileError
        The file cannot be read or recognised, or a row for a wanted postcode is malformed
        (every such problem, each with file, row and field).
    PostcodeError
        A wanted postcode is not shaped like a postcode.
    """
    keys = {normalise_postcode(p) for p in wanted}
    found: dict[str, PostcodeRecord] = {}
    problems: list[str] = []
    if not keys:
        return found
    for file in _csv_files(Path(path)):
        part, bad = _read_one(file, keys)
        found.update(part)
        problems += bad
    if problems:
        raise PostcodeFileError(problems)
    return found


# --------------------------------------------------------------------------------------------
# Looking postcodes up


class PostcodeFile:
    """A postcode file looked up lazily: read once per batch of new postcodes, then cached.

    Call :meth:`prefetch` with every postcode a run needs (one pass over the file), then
    :meth:`locate` each one. Only postcodes asked for are held in memory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._known: dict[str, PostcodeRecord] = {}
        self._missing: set[str] = set()

    def prefetch(self, postcodes: Iterable[str]) -> None:
        """Read the file once for every postcode not yet looked up. Badly shaped postcodes are
        skipped here and reported by :meth:`locate`, so each gets its own message."""
        keys = {normalise_postcode(p) for p in postcodes if looks_like_postcode(p)}
        new = keys - self._known.keys() - self._missing
        if not new:
            return
        found = read_postcodes(self.path, new)
        self._known.update(found)
        self._missing |= new - found.keys()

    def record(self, postcode: str) -> PostcodeRecord | None:
        key = normalise_postcode(postcode)
        self.prefetch([key])
        return self._known.get(key)

    def locate(self, postcode: str) -> Location:
        """The postcode's point (WGS84).

        Raises
        ------
        PostcodeError
            Not a postcode, not in the file, terminated, or without a grid reference; the
            message says which and names the file.
        """
        key = normalise_postcode(postcode)
        record = self.record(key)
        if record is None:
            raise PostcodeError(f"postcode {key!r} is not in {self.path.name}")
        if record.terminated is not None:
            raise PostcodeError(
                f"postcode {key!r} was terminated in {record.terminated} ({record.where}): "
                "use a live postcode or coordinates"
            )
        if record.location is None:
            raise PostcodeError(
                f"postcode {key!r} has no grid reference in {self.path.name} ({record.where}): "
                "give coordinates instead"
            )
        return record.location

    @property
    def cached(self) -> Mapping[str, PostcodeRecord]:
        return dict(self._known)


__all__ = [
    "PostcodeError",
    "PostcodeFile",
    "PostcodeFileError",
    "PostcodeRecord",
    "looks_like_postcode",
    "normalise_postcode",
    "read_postcodes",
]
