"""Local authority boundaries: which LA a setting or a home is in, by where it is.

Why: a setting's ``la_code`` cell is often blank, stale or in another coding (a DfE number in
one file, an ONS code in the next), yet "out of area" is a fact about geography: a placement
outside the LA's boundary. With a boundary file (the ONS "Local Authority Districts" GeoJSON,
or any polygon file geopandas reads) the round decides it by geometry instead:

* every setting takes the code of the polygon it stands in (:meth:`Boundaries.area_of`), so a
  setting just over the border is still offered, and counted out of area if named, with the
  neighbouring LA it is in;
* every child of the round is the LA's own (the LA is the one maintaining the plan), so their
  ``home_la_code`` becomes the LA's code; homes outside the boundary are counted by the area
  they fall in, since they are most often a wrong coordinate or a child who has moved.

The LA is chosen by a code or name held in the file's properties: for the ONS files the ONS
code (``lad17cd``, e.g. ``E06000017``) or the name (``lad17nm``, e.g. ``Rutland``). The ONS
file does not hold the DfE's three-digit LA numbers (857); the error says so. Super generalised
boundaries are simplified to a few hundred metres: for a setting right on the border, use the
full-resolution ("BFC") boundaries.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matcher.models import Child, Setting

#: The ``la_code`` given to a setting in no polygon of the file (at sea, or beyond its coverage).
OUTSIDE_CODE = "outside"
OUTSIDE_NAME = "outside the boundary file"

_CODE_COLUMN = re.compile(r"^(?:[a-z]+\d*cd|code|la_?code|gss_?code|ons_?code)$", re.IGNORECASE)
_NAME_COLUMN = re.compile(r"^(?:[a-z]+\d*nm|name|la_?name)$", re.IGNORECASE)


class BoundaryError(ValueError):
    """The boundary file cannot be used as asked; the message names the file and what to do."""


@dataclass(frozen=True)
class Boundaries:
    """The polygons of a boundary file, with a code and a name for each, in WGS84 degrees."""

    file: str
    codes: tuple[str, ...]
    names: tuple[str, ...]
    geometries: tuple[Any, ...]  # shapely (Multi)Polygons
    properties: tuple[dict[str, str], ...] = field(repr=False, default=())

    def find(self, wanted: str) -> int:
        """Index of the polygon whose code or name (any text property) is ``wanted``.

        Raises
        ------
        BoundaryError
            If none or several match; the message suggests close names.
        """
        key = wanted.strip().casefold()
        hits = [
            i
            for i, props in enumerate(self.properties)
            if any(value.strip().casefold() == key for value in props.values())
        ]
        if len(set(hits)) == 1:
            return hits[0]
        if len(hits) > 1:
            raise BoundaryError(
                f"'{wanted}' matches {len(hits)} areas in {self.file}; give the code instead "
                f"(e.g. {', '.join(self.codes[i] for i in hits[:3])})"
            )
        close = difflib.get_close_matches(wanted, [*self.names, *self.codes], n=3, cutoff=0.7)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        numeric = (
            " It holds ONS codes and names, not the DfE's three-digit LA numbers."
            if wanted.strip().isdigit()
            else ""
        )
        raise BoundaryError(
            f"'{wanted}' is not the code or name of an area in {self.file} (e.g. "
            f"{self.codes[0]} {self.names[0]}).{numeric}{hint}"
        )

    def area_of(
        self, latitude: npt.ArrayLike, longitude: npt.ArrayLike, prefer: int | None = None
    ) -> npt.NDArray[np.int64]:
        """Index of the polygon each point lies in (on a border: ``prefer``'s), -1 for none."""
        import shapely

        lat = np.asarray(latitude, dtype=np.float64)
        lon = np.asarray(longitude, dtype=np.float64)
        found = np.full(len(lat), -1, dtype=np.int64)
        if not len(lat):
            return found
        tree = shapely.STRtree(list(self.geometries))
        point_index, area_index = tree.query(shapely.points(lon, lat), predicate="intersects")
        order = np.lexsort((area_index, point_index))
        for p, a in zip(point_index[order].tolist(), area_index[order].tolist(), strict=True):
            if found[p] < 0 or a == prefer:
                found[p] = a
        return found

    def code_name(self, index: int) -> tuple[str, str]:
        return (OUTSIDE_CODE, OUTSIDE_NAME) if index < 0 else (self.codes[index], self.names[index])


def load_boundaries(path: Path) -> Boundaries:
    """Read a polygon file (GeoJSON, GeoPackage, shapefile...) into WGS84 :class:`Boundaries`.

    Raises
    ------
    BoundaryError
        If the file is missing, unreadable, holds no polygons, or has no coordinate system and
        does not look like degrees.
    """
    path = Path(path)
    if not path.is_file():
        raise BoundaryError(f"boundary file not found: {path}")
    import geopandas as gpd

    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own error types for every file format
        raise BoundaryError(f"{path.name}: not a readable boundary file ({exc})") from None
    frame = frame[frame.geometry.notna()]
    frame = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise BoundaryError(f"{path.name}: holds no polygons (LA boundaries are polygons)")
    if frame.crs is None:
        west, south, east, north = frame.total_bounds
        if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            raise BoundaryError(
                f"{path.name}: no coordinate system is given and the coordinates are not "
                "degrees; save it with its CRS (e.g. EPSG:27700)"
            )
        frame = frame.set_crs(4326)
    frame = frame.to_crs(4326)
    properties = _text_properties(frame.drop(columns=frame.geometry.name).to_dict("records"))
    codes = _column_values(properties, _CODE_COLUMN, "area")
    names = _column_values(properties, _NAME_COLUMN, None) or codes
    return Boundaries(
        path.name, tuple(codes), tuple(names), tuple(frame.geometry.tolist()), tuple(properties)
    )


def _text_properties(records: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {str(k): v for k, v in record.items() if isinstance(v, str) and v.strip()}
        for record in records
    ]


def _column_values(
    properties: Sequence[dict[str, str]], pattern: re.Pattern[str], fallback: str | None
) -> list[str]:
    columns = [c for c in properties[0] if pattern.match(c)] if properties else []
    if columns:
        return [props.get(columns[0], "") for props in properties]
    if fallback is None:
        return []
    return [f"{fallback} {i + 1}" for i in range(len(properties))]


@dataclass(frozen=True)
class LocalArea:
    """The LA a round is for, within the boundary file that also holds its neighbours."""

    boundaries: Boundaries
    index: int

    @property
    def code(self) -> str:
        return self.boundaries.codes[self.index]

    @property
    def name(self) -> str:
        return self.boundaries.names[self.index]

    def contains(
        self, latitude: npt.ArrayLike, longitude: npt.ArrayLike, inset_m: float = 0.0
    ) -> npt.NDArray[np.bool_]:
        """Whether each point is inside (or on) the LA's boundary, at least ``inset_m`` metres
        from it if given (a generated home moved a few metres must stay inside)."""
        import shapely

        polygon = self.boundaries.geometries[self.index]
        if inset_m > 0:
            centre = polygon.centroid.y
            degrees = inset_m / (111_200.0 * math.cos(math.radians(centre)))
            polygon = polygon.buffer(-degrees)
        lat = np.asarray(latitude, dtype=np.float64)
        lon = np.asarray(longitude, dtype=np.float64)
        return np.asarray(shapely.intersects_xy(polygon, lon, lat), dtype=np.bool_)

    def assign(
        self, children: Sequence[Child], settings: Sequence[Setting]
    ) -> tuple[list[Child], list[Setting], AreaReport]:
        """Children as the LA's own, settings coded by the polygon they stand in."""
        areas = self.boundaries
        where = areas.area_of(
            [s.location.latitude for s in settings],
            [s.location.longitude for s in settings],
            prefer=self.index,
        )
        coded = [
            s.model_copy(update={"la_code": areas.code_name(int(i))[0]})
            for s, i in zip(settings, where, strict=True)
        ]
        homes = areas.area_of(
            [c.home.latitude for c in children],
            [c.home.longitude for c in children],
            prefer=self.index,
        )
        own = [c.model_copy(update={"home_la_code": self.code}) for c in children]
        names = {areas.code_name(int(i))[0]: areas.code_name(int(i))[1] for i in where}
        names[self.code] = self.name
        report = AreaReport(
            code=self.code,
            name=self.name,
            file=areas.file,
            area_names=names,
            settings_outside=Counter(areas.code_name(int(i))[1] for i in where if i != self.index),
            homes_outside=Counter(areas.code_name(int(i))[1] for i in homes if i != self.index),
        )
        return own, coded, report


def local_area(path: Path, la: str) -> LocalArea:
    """The LA ``la`` (a code or name in the file) of the boundary file at ``path``.

    Raises :class:`BoundaryError` as :func:`load_boundaries` and :meth:`Boundaries.find`.
    """
    boundaries = load_boundaries(path)
    return LocalArea(boundaries, boundaries.find(la))


@dataclass(frozen=True)
class AreaReport:
    """What the boundary decided in a round: settings and homes outside, by the area they are in.

    ``area_names`` maps every ``la_code`` given to a setting to the area's name, for reporting
    placements by neighbouring LA.
    """

    code: str
    name: str
    file: str
    area_names: dict[str, str]
    settings_outside: Counter[str]
    homes_outside: Counter[str]

    def out_of_area_by_area(
        self, placed_codes: Iterable[str | None], out_of_area: Iterable[bool]
    ) -> list[tuple[str, int]]:
        """(neighbouring area, placements) for out-of-area placements, most first."""
        counts = Counter(
            self.area_names.get(code or "", code or OUTSIDE_NAME)
            for code, away in zip(placed_codes, out_of_area, strict=True)
            if away
        )
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def lines(self) -> list[str]:
        """The boundary's part of a round summary, in plain words."""
        outside = sum(self.settings_outside.values())
        lines = [
            f"Boundary: {self.name} ({self.code}) from {self.file}; "
            f"{outside:,} setting(s) outside it stay available and count as out of area"
            + (f" ({_listed(self.settings_outside)})" if outside else "")
            + "."
        ]
        homes = sum(self.homes_outside.values())
        if homes:
            lines.append(
                f"{homes:,} home(s) lie outside {self.name} ({_listed(self.homes_outside)}): "
                "check their coordinates; they are still placed as the LA's children."
            )
        return lines


def _listed(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
