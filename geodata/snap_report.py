"""How far homes and settings were from the road network, in words for a travel report.

Kept apart from :mod:`geodata.travel_times` (which computes the matrix) because it is what
users read: the snap distances quoted in every road-network run, and the towns and villages
nearest the homes that are far from any road or have no setting within reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geodata.edge_snapping import EdgeSnaps, snap_percentiles
from geodata.place_names import places_near

#: Speed (km/h) charged on the straight line between a point and its road: a car
#: crawling along an unmapped drive or estate road, or, for a home far from any road, a
#: deliberately heavy penalty so that it is not treated as standing on the network.
SNAP_SPEED_KMH = 15.0

#: Snaps longer than this (metres) are listed as suspicious in :class:`SnapReport`: the point is
#: probably outside the extract or its coordinates are wrong.
FAR_SNAP_METRES = 500.0


@dataclass(frozen=True)
class SnapReport:
    """How far each home and setting was from the road network.

    Attributes
    ----------
    homes, settings
        Snapping of each child's home (matrix row order) and each setting (column order) onto
        the nearest road; ``metres`` is the off-road distance charged at the snap speed.
    snap_speed_kmh
        Speed charged on the snap distance.
    far_metres
        Threshold above which a snap is listed by :meth:`far_homes` / :meth:`far_settings`.
    home_places
        The nearest town or village to each home (:mod:`geodata.place_names`); empty when the
        network has no place names.
    cutoff_minutes
        The matrix's cutoff, for :meth:`unreachable_homes`; None if unknown.
    homes_in_reach
        Rows with at least one setting within the cutoff.
    """

    homes: EdgeSnaps
    settings: EdgeSnaps
    snap_speed_kmh: float = SNAP_SPEED_KMH
    far_metres: float = FAR_SNAP_METRES
    home_places: tuple[str, ...] = ()
    cutoff_minutes: float | None = None
    homes_in_reach: npt.NDArray[np.int64] | None = None

    def unreachable_homes(self) -> npt.NDArray[np.int64]:
        """Rows whose home has no setting at all within the cutoff (empty if not known)."""
        if self.homes_in_reach is None:
            return np.empty(0, np.int64)
        return np.setdiff1d(np.arange(len(self.homes), dtype=np.int64), self.homes_in_reach)

    def place_notes(self) -> list[str]:
        """Plain-English lines naming the towns and villages nearest the homes that are far
        from any road or have no setting within the cutoff, for the officer running the round:
        a village at the extract's edge points at the extract, a village with roads at the
        address. Not for logs (it says where homes are, if only roughly)."""
        notes = []
        far = self.far_homes()
        if len(far):
            where = self._near(far)
            notes.append(
                f"{len(far):,} home(s) more than {self.far_metres:,.0f} m from a road"
                + (f", nearest {where}" if where else "")
                + "."
            )
        unreachable = self.unreachable_homes()
        if len(unreachable):
            where = self._near(unreachable)
            notes.append(
                f"{len(unreachable):,} home(s) with no setting within "
                f"{self.cutoff_minutes:g} minutes by road"
                + (f", nearest {where}" if where else "")
                + "."
            )
        return notes

    def _near(self, rows: npt.NDArray[np.int64]) -> str:
        if not self.home_places:
            return ""
        return places_near([self.home_places[int(r)] for r in rows])

    def far_homes(self) -> npt.NDArray[np.int64]:
        """Rows whose home is more than :attr:`far_metres` from any road."""
        return np.flatnonzero(self.homes.metres > self.far_metres)

    def far_settings(self) -> npt.NDArray[np.int64]:
        """Columns whose setting is more than :attr:`far_metres` from any road."""
        return np.flatnonzero(self.settings.metres > self.far_metres)

    def summary(self) -> str:
        """One line for logs and reports, e.g.
        ``homes: median 18 m, 95th percentile 140 m, max 2,110 m, 3 over 500 m``."""

        def describe(what: str, metres: npt.NDArray[np.float64]) -> str:
            if len(metres) == 0:
                return f"{what}: none"
            median, p95, top, far = snap_percentiles(metres, self.far_metres)
            return (
                f"{what}: median {median:,.0f} m, 95th percentile {p95:,.0f} m, "
                f"max {top:,.0f} m, {far} over {self.far_metres:,.0f} m"
            )

        unreachable = len(self.unreachable_homes())
        beyond = (
            f"; {unreachable:,} home(s) with no setting within {self.cutoff_minutes:g} minutes"
            if unreachable
            else ""
        )

        return (
            f"snapped to the road network ({describe('homes', self.homes.metres)}; "
            f"{describe('settings', self.settings.metres)}); "
            f"snap distance charged at {self.snap_speed_kmh:g} km/h{beyond}"
        )
