"""Towns and villages of an OpenStreetMap extract: names an LA officer recognises.

A warning that "child 4711's home is 900 m from any road" asks the officer to open a file and
look the child up; "a home near Barrowden" says at once whether it is the extract (a village
at its edge) or the address (a village the officer knows has roads) that is wrong. The names
are OSM ``place=city/town/village/hamlet/suburb`` nodes, read with the road network and kept in
its cache. They are public map labels, never a child's data.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

logger = logging.getLogger(__name__)

#: OSM ``place`` values read, largest first: names a reader can find on a road atlas.
PLACE_KINDS = ("city", "town", "village", "hamlet", "suburb")


@dataclass(frozen=True)
class PlaceNames:
    """Named places with WGS84 positions.

    Attributes
    ----------
    names
        The OSM ``name`` of each place.
    kinds
        The OSM ``place`` value of each (``town``, ``village`` ...).
    lon, lat
        WGS84 degrees of each.
    """

    names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    lon: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    lat: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def _tree(self) -> cKDTree:
        return cKDTree(_unit_vectors(self.lon, self.lat))

    def nearest(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> list[str]:
        """The nearest place's name to each point (great-circle), or ``""`` if none known."""
        lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        if len(self) == 0:
            return [""] * len(lon_a)
        if len(lon_a) == 0:
            return []
        # Chord length on the unit sphere orders points as great-circle distance does.
        _, index = self._tree.query(_unit_vectors(lon_a, lat_a))
        return [self.names[int(i)] for i in np.atleast_1d(index)]

    def to_json(self) -> str:
        """Compact text for the network cache's metadata."""
        rows = [
            [n, k, round(float(x), 7), round(float(y), 7)]
            for n, k, x, y in zip(self.names, self.kinds, self.lon, self.lat, strict=True)
        ]
        return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PlaceNames:
        """The inverse of :meth:`to_json`.

        Raises
        ------
        ValueError
            If the text is not such a list.
        """
        rows = json.loads(text)
        if not isinstance(rows, list) or any(len(r) != 4 for r in rows):
            raise ValueError("place names are not a list of [name, kind, lon, lat]")
        return cls(
            tuple(str(r[0]) for r in rows),
            tuple(str(r[1]) for r in rows),
            np.array([float(r[2]) for r in rows], dtype=np.float64),
            np.array([float(r[3]) for r in rows], dtype=np.float64),
        )


def _unit_vectors(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> Any:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def places_near(names: list[str], limit: int = 5) -> str:
    """``"Oakham (3), Ketton (1)"``: how many points are nearest each place, most first;
    ``""`` when no names are known."""
    counts = Counter(n for n in names if n)
    if not counts:
        return ""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{name} ({count:,})" for name, count in ranked[:limit])
    more = len(ranked) - limit
    return f"{shown} and {more:,} more places" if more > 0 else shown


def _from_frame(frame: Any) -> PlaceNames:
    """Named point places of a (geo)pandas frame with ``place``, ``name`` or ``tags`` columns."""
    names: list[str] = []
    kinds: list[str] = []
    lons: list[float] = []
    lats: list[float] = []
    for _, row in frame.iterrows():
        name = row.get("name")
        if not isinstance(name, str) and isinstance(row.get("tags"), str):
            name = json.loads(row["tags"]).get("name")
        kind = row.get("place")
        geometry = row.get("geometry")
        if not isinstance(name, str) or kind not in PLACE_KINDS or geometry is None:
            continue
        point = geometry.representative_point()
        names.append(name)
        kinds.append(str(kind))
        lons.append(float(point.x))
        lats.append(float(point.y))
    return PlaceNames(
        tuple(names), tuple(kinds), np.array(lons, np.float64), np.array(lats, np.float64)
    )


def read_place_names(path: Path, is_pbf: bool) -> PlaceNames:
    """The named places of a local OSM file; none (with a log line) if they cannot be read,
    since they only label warnings and must never stop a network from loading."""
    try:
        if is_pbf:
            import pyrosm

            frame = pyrosm.OSM(str(path), progress=False).get_data_by_custom_criteria(
                custom_filter={"place": list(PLACE_KINDS)},
                filter_type="keep",
                keep_nodes=True,
                keep_ways=False,
                keep_relations=False,
            )
        else:
            import osmnx as ox

            frame = ox.features_from_xml(path, tags={"place": list(PLACE_KINDS)})
    except Exception as exc:  # osmnx raises its own error when a file has no such features
        logger.info("no place names read from %s: %s", path.name, type(exc).__name__)
        return PlaceNames()
    if frame is None or len(frame) == 0:
        return PlaceNames()
    return _from_frame(frame)
