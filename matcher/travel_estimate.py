"""Journey times for a round: the one place a travel-time model is chosen.

The road network when one is given (``--osm``, or ``sendmatch serve --osm``), else the
straight-line estimate; every caller (the round pipeline, the API's runs, planning's workers)
asks here, so a child's journey is the same minutes whichever door the round came in by.
The road-network modules (pyarrow, scipy) are imported only when a network is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from geodata.straight_line import PairScreen, straight_line_matrix
from matcher import io
from matcher.models import Child, Setting
from matcher.travel import TravelTimeMatrix

IntPairs = npt.NDArray[np.int64]

if TYPE_CHECKING:
    from geodata.network import RoadNetwork
    from geodata.travel_times import SnapReport

#: Points this far outside the road network's extent are still read (and reported as far from
#: a road); further out, outside the UK, they are an input problem.
NETWORK_AREA_MARGIN_KM = 10.0


def named_pairs(children: Sequence[Child], settings: Sequence[Setting]) -> list[tuple[int, int]]:
    """(child row, setting column) of every setting a child's record names, sorted, once each.

    Parental preferences (and the current setting) need a travel time however far they are: a
    parent may prefer a distant setting, and the solver must still weigh it and say why it was
    or was not named, rather than see it as unreachable. Unknown URNs are skipped (the input
    checks report them). These are the ``required_pairs`` of either travel-time model.
    """
    rows, cols = named_pair_array(children, settings).T
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def named_pair_array(children: Sequence[Child], settings: Sequence[Setting]) -> IntPairs:
    """:func:`named_pairs` as an (n, 2) array, as the travel models take them."""
    column = {s.urn: j for j, s in enumerate(settings)}
    width = max(len(settings), 1)
    keys = np.unique(
        np.fromiter(
            (
                i * width + column[urn]
                for i, child in enumerate(children)
                for urn in (*child.preferences, child.current_setting)
                if urn in column
            ),
            np.int64,
        )
    )
    return np.stack(np.divmod(keys, width), axis=1)


@dataclass(frozen=True)
class TravelEstimate:
    """A travel matrix and, for the road network, how far homes and settings were from it.

    Attributes
    ----------
    matrix
        Minutes for every pair within the cutoff plus every :func:`named_pairs`; its ``model``
        names the travel-time model, and every output repeats it.
    snap
        The road network's snapping report; None for the straight-line estimate.
    """

    matrix: TravelTimeMatrix
    snap: SnapReport | None = None


def build_travel_matrix(
    children: Sequence[Child],
    settings: Sequence[Setting],
    cutoff_minutes: float,
    network: RoadNetwork | None = None,
    screen: PairScreen | None = None,
) -> TravelEstimate:
    """Travel minutes for every pair within ``cutoff_minutes``, plus every :func:`named_pairs`.

    Both models take the same arguments, so nothing downstream knows which ran, except through
    the matrix's ``model`` label. Travel matrices are not cached on disk: they are derived from
    children's homes, and only road networks (which hold nothing about children) go in the
    cache folder. With ``screen`` (:func:`matcher.eligibility.option_screen`), the
    straight-line estimate times only the pairs that could be options besides the named ones;
    the road network's searches (one per setting) time every pair whatever is asked, so it
    ignores the screen and keeps them all.
    """
    child_ids = [c.child_id for c in children]
    homes = [c.home for c in children]
    urns = [s.urn for s in settings]
    locations = [s.location for s in settings]
    pairs = named_pair_array(children, settings)
    if network is None:
        matrix = straight_line_matrix(
            child_ids, homes, urns, locations, cutoff_minutes, required_pairs=pairs, screen=screen
        )
        return TravelEstimate(matrix)
    from geodata.travel_times import compute_road_travel

    result = compute_road_travel(
        network, child_ids, homes, urns, locations, cutoff_minutes, required_pairs=pairs
    )
    return TravelEstimate(result.matrix, result.snap)


@dataclass(frozen=True)
class TravelFor:
    """``build_travel_matrix`` as a picklable callable: what planning runs hand to workers."""

    cutoff_minutes: float
    network: RoadNetwork | None = None

    def __call__(self, children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
        return build_travel_matrix(children, settings, self.cutoff_minutes, self.network).matrix


def network_area(network: RoadNetwork, name: str) -> io.Area:
    """The road network's extent plus :data:`NETWORK_AREA_MARGIN_KM`: where points may lie.

    Input checks reject points outside the UK, which are nearly always typing slips. A road
    network given for the run is the other place a point can rightly be (the demo's sample
    network is in Helsinki), so its area is accepted too; a point beyond the network but
    inside the margin is read, and the snapping report names it.
    """
    km_per_degree = 111.2
    south, north = float(network.lat.min()), float(network.lat.max())
    lat_margin = NETWORK_AREA_MARGIN_KM / km_per_degree
    # A degree of longitude is shortest at the latitude furthest from the equator.
    widest = min(max(abs(south), abs(north)) + lat_margin, 89.0)
    lon_margin = NETWORK_AREA_MARGIN_KM / (km_per_degree * math.cos(math.radians(widest)))
    return io.Area(
        f"the area of the road network {name}",
        (south - lat_margin, north + lat_margin),
        (float(network.lon.min()) - lon_margin, float(network.lon.max()) + lon_margin),
    )
