"""One row of a table checked cell by cell, and where a home or a setting may be.

:class:`RowCheck` parses a row's cells and validates the model built from them, collecting
every problem (file, row, column, plain-English reason) rather than stopping at the first. It
is the one place a row's problems are worded: every reader of LA tables uses it (caseload,
settings, tariffs, fair access history, forecast inputs), and the columnar caseload loaders
(:mod:`matcher.caseload_columns`) send each row they find a problem in through it, so that
their messages are its messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from matcher.cell_parsers import parse_float, plain_error
from matcher.input_tables import InputProblem, Row
from matcher.models import Location

if TYPE_CHECKING:  # reading a file must not load numpy until it is needed
    import numpy as np
    import numpy.typing as npt

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)

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


class RowCheck:
    """Parses one row's cells, collecting every problem rather than stopping at the first."""

    def __init__(self, file: str, row: Row, extra_areas: Sequence[Area] = ()) -> None:
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
            lat = self.parse("latitude", parse_float, model_field="location", required=True)
            lon = self.parse("longitude", parse_float, model_field="location", required=True)
            if lat is None or lon is None:
                return None, "latitude"
            return self._checked(lat, lon, "latitude", converted=False), "latitude"
        if {"easting", "northing"} & has:
            east = self.parse("easting", parse_float, model_field="location", required=True)
            north = self.parse("northing", parse_float, model_field="location", required=True)
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
            lon, lat = bng_to_wgs84(east, north)
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
                self.problem(name, plain_error(err), "location")
            return None
        outside = location_problem(location, self.extra_areas)
        if outside:
            message = f"easting/northing converts to {outside}" if converted else outside
            self.problem(column, message, "location")
            return None
        return location

    def build(
        self, model: type[ModelT], values: dict[str, Any], column_for: Callable[[tuple], str]
    ) -> ModelT | None:
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
                self.problem(column_for(loc) if loc else None, plain_error(err))
            return None


@lru_cache(maxsize=1)
def _bng_transformer() -> Any:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def bng_to_wgs84(easting: float, northing: float) -> tuple[float, float]:
    """(longitude, latitude) in WGS84 degrees from British National Grid metres."""
    lon, lat = _bng_transformer().transform(easting, northing)
    return float(lon), float(lat)


def bng_to_wgs84_arrays(
    eastings: npt.NDArray[np.float64], northings: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """:func:`bng_to_wgs84` of many points at once (the same transformation, point by point)."""
    import numpy as np

    lon, lat = _bng_transformer().transform(eastings, northings)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


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


def inside_areas(
    latitudes: npt.NDArray[np.float64],
    longitudes: npt.NDArray[np.float64],
    extra_areas: Sequence[Area] = (),
) -> npt.NDArray[np.bool_]:
    """Which points :func:`location_problem` finds no problem with (the UK or ``extra_areas``),
    for many points at once; NaN is outside."""
    import numpy as np

    inside = np.zeros(latitudes.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        for area in (UK, *extra_areas):  # as Area.contains
            (lat_low, lat_high), (lon_low, lon_high) = area.latitude, area.longitude
            inside |= (
                (lat_low <= latitudes)
                & (latitudes <= lat_high)
                & (lon_low <= longitudes)
                & (longitudes <= lon_high)
            )
    return inside
