"""Candidate sites for new provision, read from GeoJSON or CSV (``sendmatch sites choose``).

Every fault in a file is collected, naming the feature index (or CSV row) and the field, so an
officer can fix the file in one pass. Sites may be given by postcode (a GeoJSON feature's
``postcode`` property, or a CSV column), placed by :class:`geodata.postcodes.PostcodeFile`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from geodata.postcodes import PostcodeError, PostcodeFile, PostcodeFileError, normalise_postcode
from matcher.models import Location
from matcher.needs import parse_need

# A site's new provision: a special school, an AP, or a resourced provision in a mainstream school.
SITE_TYPES = ("special", "alternative_provision", "resourced_provision")
# The columns (CSV) or keys (a GeoJSON feature's ``options``) of one way to open a site.
OPTION_FIELDS = ("places", "designations", "setting_type", "capital_cost", "running_cost")


@dataclass(frozen=True)
class SiteOption:
    """One way to open a site: its places, and optionally its own designations and type (else
    the run's), capital cost (£, for a budget) and running cost (£ a year, in the cost level)."""

    places: int
    designations: tuple[str, ...] | None = None
    setting_type: str | None = None
    capital_cost: int = 0
    running_cost: int = 0

    @property
    def label(self) -> str:
        needs = "/".join(self.designations) if self.designations else ""
        return f"{self.places} places" + (f" {needs}" if needs else "")


@dataclass(frozen=True)
class CandidateSite:
    """A place where new provision could open: an id the LA uses, a name and a point, and the
    ways it could open (``options``; none: the run's places and designations)."""

    site_id: str
    name: str
    location: Location
    options: tuple[SiteOption, ...] = ()


class CandidateSiteError(ValueError):
    """The candidate file cannot be used; ``problems`` lists every fault found, not just one."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


def polygon_centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """(lon, lat) centroid of a GeoJSON Polygon or MultiPolygon (planar in degrees, which is
    fine at the size of a school site)."""
    from shapely.geometry import shape

    shp = shape(geometry)
    if shp.is_empty or shp.area == 0:
        raise ValueError("polygon has zero area")
    return float(shp.centroid.x), float(shp.centroid.y)


def _point(geometry: Any) -> tuple[float, float]:
    if not isinstance(geometry, dict):
        raise ValueError("geometry is missing")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Point":
        if not isinstance(coords, list) or len(coords) < 2:
            raise ValueError("Point needs [longitude, latitude] coordinates")
        return float(coords[0]), float(coords[1])
    if kind in ("Polygon", "MultiPolygon"):
        if not isinstance(coords, list) or not coords:
            raise ValueError(f"{kind} has no coordinates")
        return polygon_centroid(geometry)
    raise ValueError(f"geometry type {kind!r} is not Point, Polygon or MultiPolygon")


def _postcode_location(
    postcode: Any, postcodes: PostcodeFile | None, where: str, problems: list[str]
) -> Location | None:
    """A candidate's point from its postcode, or None with the reason added to ``problems``."""
    try:
        key = normalise_postcode(str(postcode))
        if postcodes is None:
            raise PostcodeError(
                f"{key} is a postcode, and no postcode file was given: pass --postcodes FILE "
                "(the ONS Postcode Directory CSV or Code-Point Open), or give coordinates"
            )
        return postcodes.locate(key)
    except (PostcodeError, PostcodeFileError) as exc:
        problems.append(f"{where}: field 'postcode': {exc}")
        return None


def _check_id(
    raw_id: Any, where: str, seen: dict[str, int], index: int, problems: list[str]
) -> str:
    site_id = str(raw_id).strip() if raw_id is not None else ""
    if not site_id:
        problems.append(f"{where}: field 'id' is missing or blank")
    elif site_id in seen:
        first = f"{where.split(' ')[0]} {seen[site_id]}"
        problems.append(f"{where}: field 'id' {site_id!r} repeats {first}")
    else:
        seen[site_id] = index
    return site_id


def _prefetch(postcodes: PostcodeFile | None, wanted: Iterable[Any], source: str) -> None:
    if postcodes is None:
        return
    try:
        postcodes.prefetch(str(p) for p in wanted if p is not None and str(p).strip())
    except PostcodeFileError as exc:
        raise CandidateSiteError(source, exc.problems) from None


def _feature_options(raw: Any, where: str, problems: list[str]) -> tuple[SiteOption, ...]:
    """A feature's ``options``: a list of objects with :data:`OPTION_FIELDS` (none: the run's)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        problems.append(f"{where}: field 'options': not a list of objects with 'places'")
        return ()
    found = []
    for n, fields in enumerate(raw):
        try:
            found.append(site_option(fields))
        except ValueError as exc:
            problems.append(f"{where}: options[{n}]: {exc}")
    return tuple(found)


def parse_candidates(
    data: Any, source: str = "candidates", postcodes: PostcodeFile | None = None
) -> list[CandidateSite]:
    """Candidate sites from a parsed GeoJSON FeatureCollection; see :func:`load_candidates`."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise CandidateSiteError(source, ["not a GeoJSON FeatureCollection"])
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise CandidateSiteError(source, ["the FeatureCollection has no features"])
    _prefetch(
        postcodes,
        (
            (f.get("properties") or {}).get("postcode")
            for f in features
            if isinstance(f, dict)
            and not f.get("geometry")
            and isinstance(f.get("properties") or {}, dict)
        ),
        source,
    )
    problems: list[str] = []
    sites: list[CandidateSite] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict):
            problems.append(f"{where}: not a GeoJSON Feature")
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            props = {}
        site_id = _check_id(props.get("id", feature.get("id")), where, seen, index, problems)
        if not feature.get("geometry") and props.get("postcode"):
            location = _postcode_location(props["postcode"], postcodes, where, problems)
            if location is None:
                continue
        else:
            try:
                lon, lat = _point(feature.get("geometry"))
                location = Location(latitude=lat, longitude=lon)
            except (ValueError, TypeError, KeyError) as exc:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if "validation error" in message:
                    message = f"coordinates out of range (lon {lon}, lat {lat}; WGS84 expected)"
                if message == "geometry is missing":
                    message += " (give a Point or Polygon, or a 'postcode' property)"
                problems.append(f"{where}: field 'geometry': {message}")
                continue
        site_options = _feature_options(props.get("options"), where, problems)
        if site_id and seen.get(site_id) == index:
            name = str(props.get("name") or site_id)
            sites.append(CandidateSite(site_id, name, location, site_options))
    if problems:
        raise CandidateSiteError(source, problems)
    return sites


def _whole_pounds(value: Any, name: str) -> int:
    text = str(value).strip().replace(",", "").lstrip("£") if value is not None else ""
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"field {name!r}: {value!r} is not a whole number of pounds (0 or more)")
    return int(text)


def site_option(fields: dict[str, Any]) -> SiteOption:
    """One way to open a site from a CSV row or a GeoJSON ``options`` entry; ValueError naming
    the field and the reason."""
    places_text = str(fields.get("places") or "").strip()
    if not places_text.isdigit() or int(places_text) < 1:
        raise ValueError(f"field 'places': {fields.get('places')!r} is not a whole number >= 1")
    designations = None
    raw = fields.get("designations")
    if raw:
        parts = raw if isinstance(raw, list) else str(raw).replace("/", ";").split(";")
        try:
            designations = tuple(parse_need(str(p)).value for p in parts if str(p).strip())
        except ValueError as exc:
            raise ValueError(f"field 'designations': {exc}") from None
    setting_type = str(fields.get("setting_type") or "").strip() or None
    if setting_type is not None and setting_type not in SITE_TYPES:
        raise ValueError(
            f"field 'setting_type': {setting_type!r} is not one of {', '.join(SITE_TYPES)}"
        )
    return SiteOption(
        int(places_text),
        designations or None,
        setting_type,
        _whole_pounds(fields.get("capital_cost"), "capital_cost"),
        _whole_pounds(fields.get("running_cost"), "running_cost"),
    )


def _csv_candidates(text: str, source: str, postcodes: PostcodeFile | None) -> list[CandidateSite]:
    """Candidates from a CSV: ``id``, optional ``name``, and ``postcode`` or ``latitude`` and
    ``longitude`` (the header is matched ignoring case and spaces; row 1 is the header)."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower().replace(" ", "_") for h in next(reader, [])]
    if "id" not in header or not (
        {"postcode"} <= set(header) or {"latitude", "longitude"} <= set(header)
    ):
        raise CandidateSiteError(
            source, ["row 1: columns id and postcode (or latitude and longitude) are needed"]
        )
    rows = [dict(zip(header, (c.strip() for c in row), strict=False)) for row in reader]
    if "places" in header:
        return _csv_option_rows(rows, source, postcodes)
    _prefetch(postcodes, (r.get("postcode") for r in rows if not r.get("latitude")), source)
    problems: list[str] = []
    sites: list[CandidateSite] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue
        where = f"row {number}"
        site_id = _check_id(row.get("id"), where, seen, number, problems)
        location: Location | None = None
        if row.get("latitude") or row.get("longitude"):
            try:
                location = Location(
                    latitude=float(row.get("latitude") or "nan"),
                    longitude=float(row.get("longitude") or "nan"),
                )
            except (ValueError, ValidationError):
                problems.append(
                    f"{where}: fields 'latitude', 'longitude': not a WGS84 point "
                    f"({row.get('latitude')!r}, {row.get('longitude')!r})"
                )
        elif row.get("postcode"):
            location = _postcode_location(row["postcode"], postcodes, where, problems)
        else:
            problems.append(f"{where}: field 'postcode': blank, and no latitude and longitude")
        if location is not None and site_id and seen.get(site_id) == number:
            sites.append(CandidateSite(site_id, row.get("name") or site_id, location))
    if not sites and not problems:
        problems.append("no candidate rows below the header")
    if problems:
        raise CandidateSiteError(source, problems)
    return sites


def _csv_option_rows(
    rows: list[dict[str, str]], source: str, postcodes: PostcodeFile | None
) -> list[CandidateSite]:
    """A CSV with a ``places`` column: each row is one way to open its site, and a site's rows
    share its ``id`` (its point is read from its first row; later rows may leave it blank)."""
    first: dict[str, dict[str, str]] = {}
    options: dict[str, list[SiteOption]] = {}
    problems: list[str] = []
    for number, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue
        site_id = (row.get("id") or "").strip()
        if not site_id:
            problems.append(f"row {number}: field 'id' is missing or blank")
            continue
        try:
            options.setdefault(site_id, []).append(site_option(row))
        except ValueError as exc:
            problems.append(f"row {number}: {exc}")
        earlier = first.setdefault(site_id, {**row, "_row": str(number)})
        for name in ("postcode", "latitude", "longitude"):
            if row.get(name) and row.get(name) != earlier.get(name):
                problems.append(
                    f"row {number}: field {name!r}: differs from row {earlier['_row']} of site "
                    f"{site_id!r} (give a site's point once, on its first row)"
                )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "name", "postcode", "latitude", "longitude"])
    for site_id, row in first.items():
        fields = ("name", "postcode", "latitude", "longitude")
        writer.writerow([site_id, *(row.get(f, "") for f in fields)])
    try:
        sites = _csv_candidates(buffer.getvalue(), source, postcodes)
    except CandidateSiteError as exc:
        rows_of = {str(n): row["_row"] for n, row in enumerate(first.values(), start=2)}
        problems += [_renumber(p, rows_of) for p in exc.problems]
        sites = []
    if problems:
        raise CandidateSiteError(source, problems)
    return [replace(s, options=tuple(options[s.site_id])) for s in sites]


def _renumber(problem: str, rows_of: dict[str, str]) -> str:
    """A problem about a site's point, named by the row of the file it came from."""
    if problem.startswith("row "):
        number, rest = problem[4:].split(":", 1)
        return f"row {rows_of.get(number, number)}:{rest}"
    return problem


def load_candidates(path: str | Path, postcodes: PostcodeFile | None = None) -> list[CandidateSite]:
    """Read candidate sites: GeoJSON Points or Polygons (WGS84), or postcodes.

    A GeoJSON FeatureCollection (any suffix but ``.csv``): each feature needs an ``id``
    property (or feature id), ``name`` is optional; a Polygon site is placed at its centroid,
    and a feature with no geometry but a ``postcode`` property at the postcode's point in
    ``postcodes``. A ``.csv`` file: columns ``id``, ``name`` (optional), and ``postcode`` or
    ``latitude`` and ``longitude``. Every fault is collected, naming the feature index (or row)
    and the field, so an officer can fix the file in one pass.

    Raises
    ------
    CandidateSiteError
        With ``problems``, one line per fault.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CandidateSiteError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    if path.suffix.lower() == ".csv":
        return _csv_candidates(text, str(path), postcodes)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CandidateSiteError(
            str(path), [f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from exc
    return parse_candidates(data, str(path), postcodes)


def parse_gap(text: str) -> float:
    """``--gap``: a percentage (``0.1%``) or a fraction (``0.001``), from 0 up to 100%."""
    raw = text.strip()
    try:
        value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise ValueError(f"--gap {text!r}: give a percentage such as 0.1% (or a fraction, 0.001)")
    return value


def parse_sizes(text: str | None) -> list[SiteOption] | None:
    """``--sizes``: ``PLACES[:CAPITAL[:RUNNING]]`` for each size, comma-separated."""
    if text is None or not text.strip():
        return None
    found = []
    for part in text.split(","):
        fields = dict(
            zip(("places", "capital_cost", "running_cost"), part.split(":"), strict=False)
        )
        if len(part.split(":")) > 3:
            raise ValueError(
                f"--sizes {part!r}: give PLACES, PLACES:CAPITAL or PLACES:CAPITAL:RUNNING"
            )
        try:
            found.append(site_option(fields))
        except ValueError as exc:
            raise ValueError(f"--sizes {part!r}: {exc}") from None
    return found
