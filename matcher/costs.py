"""Annual cost of a placement to the LA's high-needs block, and of home-to-school transport.

Figures are defaults for when an LA gives none; every one can be replaced through a tariff
file (bands) or a setting's own ``top_up`` / ``annual_fee``. See README "Costs".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.models import Child, PlacementKind, Setting, TariffBand

# Place funding per commissioned place (DfE high needs operational guide): £10,000 in special
# schools and AP; £6,000 for resourced provision / SEN unit places (pupils on roll also attract
# element 1 through the school's formula). Mainstream places are funded by the school's budget
# up to £6,000 (elements 1 and 2), so the LA pays only the top-up. Independent settings are
# priced per placement by their fee, which covers everything.
PLACE_FUNDING: dict[PlacementKind, int] = {
    PlacementKind.MAINSTREAM: 0,
    PlacementKind.RESOURCED_PROVISION: 6_000,
    PlacementKind.SPECIAL: 10_000,
    PlacementKind.ALTERNATIVE_PROVISION: 10_000,
    PlacementKind.INDEPENDENT: 0,
}

# Element 3 top-up used when neither a tariff band nor the setting gives one: mid-range values of
# published LA banding frameworks (~).
DEFAULT_TOP_UP: dict[PlacementKind, int] = {
    PlacementKind.MAINSTREAM: 6_000,
    PlacementKind.RESOURCED_PROVISION: 10_000,
    PlacementKind.SPECIAL: 15_000,
    PlacementKind.ALTERNATIVE_PROVISION: 12_000,
    PlacementKind.INDEPENDENT: 0,
}


@dataclass(frozen=True)
class TransportCostModel:
    """SEND home-to-school transport, mostly taxis and minibuses, priced by journey minutes.

    Annual cost = journeys × (fixed + per_minute × minutes); 190 school days × 2 journeys.
    Children placed within ``free_below_minutes`` are assumed to need no LA transport.
    """

    journeys_per_year: int = 380
    fixed_per_journey: float = 8.0
    per_minute: float = 0.9
    free_below_minutes: float = 0.0

    def annual_costs(self, minutes: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Annual cost in whole pounds for each journey time in minutes."""
        m = np.asarray(minutes, dtype=np.float64)
        # journeys × (fixed + per_minute × m), in place: most of a million arcs at once.
        cost = np.multiply(m, self.per_minute, out=np.empty_like(m))
        cost += self.fixed_per_journey
        cost *= self.journeys_per_year
        np.rint(cost, out=cost)
        cost[m < self.free_below_minutes] = 0
        return cost.astype(np.int64)

    def annual_cost(self, minutes: float) -> int:
        return int(self.annual_costs([minutes])[0])


@dataclass(frozen=True)
class Tariffs:
    """An LA's banding framework: (placement kind, band) → annual top-up."""

    top_ups: dict[tuple[PlacementKind, str], int] = field(default_factory=dict)

    @classmethod
    def from_bands(cls, bands: Iterable[TariffBand]) -> Tariffs:
        return cls({(b.placement_kind, b.band): b.annual_top_up for b in bands})

    def top_up(self, child: Child, setting: Setting, kind: PlacementKind) -> int:
        """Band tariff first, then the setting's own top-up, then the LA 'default' band."""
        if child.top_up_band is not None and (kind, child.top_up_band) in self.top_ups:
            return self.top_ups[(kind, child.top_up_band)]
        if setting.top_up is not None:
            return setting.top_up
        return self.top_ups.get((kind, "default"), DEFAULT_TOP_UP[kind])

    def placement_cost(self, child: Child, setting: Setting, kind: PlacementKind) -> int:
        """Annual cost to the LA of this child taking this kind of place at this setting."""
        if kind is PlacementKind.INDEPENDENT:
            assert setting.annual_fee is not None  # enforced by Setting validation
            return setting.annual_fee
        return PLACE_FUNDING[kind] + self.top_up(child, setting, kind)


def arc_costs(
    children: Sequence[Child],
    settings: Sequence[Setting],
    child: npt.NDArray[np.int32],
    setting: npt.NDArray[np.int32],
    kind: npt.NDArray[np.integer[Any]],
    minutes: npt.NDArray[np.float32],
    tariffs: Tariffs,
    transport: TransportCostModel,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Annual placement and transport cost for many arcs at once; ``kind`` is each arc's kind
    of place as its position in ``PlacementKind`` (as eligibility's ``KIND_ORDER``).

    Placement cost depends only on (child's band, setting, kind of place), and a band matters
    only if the tariffs name it: a whole LA has a few thousand such combinations, so each is
    priced once by ``Tariffs.placement_cost``, and every arc reads its price from a table.
    """
    band_of, representative = _band_classes(children, tariffs)
    m, k = len(settings), len(PlacementKind)
    combo = (band_of[child] * m + setting) * k + kind
    space = len(representative) * m * k

    def prices(combos: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        band, rest = np.divmod(combos, m * k)
        where, what = np.divmod(rest, k)
        return np.array(
            [
                tariffs.placement_cost(children[representative[b]], settings[j], _KINDS[q])
                for b, j, q in zip(band.tolist(), where.tolist(), what.tolist(), strict=True)
            ],
            np.int64,
        )

    transport_cost = transport.annual_costs(minutes)
    if space > max(4 * len(combo), _DENSE_COMBINATIONS):  # many bands: no table of them all
        combos, inverse = np.unique(combo, return_inverse=True)
        return prices(combos)[inverse], transport_cost
    present = np.zeros(space, bool)
    present[combo] = True
    combos = np.flatnonzero(present)
    table = np.zeros(space, np.int64)
    table[combos] = prices(combos)
    return table[combo], transport_cost


_KINDS = tuple(PlacementKind)
#: Up to this many (band, setting, kind) combinations, prices are kept in a table of them all.
_DENSE_COMBINATIONS = 1 << 20


def _band_classes(
    children: Sequence[Child], tariffs: Tariffs
) -> tuple[npt.NDArray[np.int64], list[int]]:
    """Each child's band as a class number, 0 for no band or one the tariffs do not name (both
    priced alike), and for each class a child who has it."""
    named = {band for _, band in tariffs.top_ups}
    if not named:
        return np.zeros(len(children), np.int64), [0]
    classes: dict[str | None, int] = {None: 0}
    band_of = [
        classes.setdefault(band if band in named else None, len(classes))
        for band in (c.top_up_band for c in children)
    ]
    first = dict(zip(reversed(band_of), range(len(band_of) - 1, -1, -1), strict=True))
    return np.asarray(band_of, np.int64), [first.get(c, 0) for c in range(len(classes))]
