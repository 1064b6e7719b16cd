"""Arc costs priced from a table of (band, setting, kind) equal each arc priced on its own."""

from __future__ import annotations

import numpy as np
import pytest

from matcher import costs
from matcher.costs import Tariffs, TransportCostModel, arc_costs
from matcher.models import PlacementKind, SettingType
from tests.factories import child, setting

KINDS = tuple(PlacementKind)


@pytest.mark.parametrize("dense", [True, False])
def test_every_arc_costs_what_its_child_setting_and_kind_cost_alone(
    monkeypatch: pytest.MonkeyPatch, dense: bool
) -> None:
    if not dense:  # the table of every combination is skipped when it would be large
        monkeypatch.setattr(costs, "_DENSE_COMBINATIONS", 0)
    rng = np.random.default_rng(4)
    bands = [None, "A", "B", "default", "not in the tariffs"]
    kids = [child(f"C{i}", top_up_band=bands[i % len(bands)]) for i in range(40)]
    sets = [
        setting("1", top_up=7_500),
        setting("2"),
        setting("3", setting_type=SettingType.SPECIAL),
        setting("4", setting_type=SettingType.INDEPENDENT_SPECIAL, annual_fee=61_000),
    ]
    tariffs = Tariffs(
        {
            (PlacementKind.MAINSTREAM, "A"): 4_000,
            (PlacementKind.SPECIAL, "A"): 21_000,
            (PlacementKind.SPECIAL, "default"): 17_000,
            (PlacementKind.RESOURCED_PROVISION, "B"): 12_500,
        }
    )
    n_arcs = 500
    kid = rng.integers(0, len(kids), n_arcs).astype(np.int32)
    where = rng.integers(0, len(sets), n_arcs).astype(np.int32)
    maintained = [k for k, kind in enumerate(KINDS) if kind is not PlacementKind.INDEPENDENT]
    kind = rng.choice(maintained, n_arcs).astype(np.int8)
    kind[where == 3] = KINDS.index(PlacementKind.INDEPENDENT)  # its fee is its price
    minutes = rng.uniform(0, 90, n_arcs).astype(np.float32)
    transport = TransportCostModel(free_below_minutes=10.0)

    placement, travel = arc_costs(kids, sets, kid, where, kind, minutes, tariffs, transport)

    alone = [
        tariffs.placement_cost(kids[i], sets[j], KINDS[k])
        for i, j, k in zip(kid.tolist(), where.tolist(), kind.tolist(), strict=True)
    ]
    assert placement.dtype == np.int64 and placement.tolist() == alone
    assert travel.tolist() == [transport.annual_cost(m) for m in minutes.tolist()]
    assert len(set(alone)) > 5  # bands, top-ups and fees all told


def test_no_arcs_cost_nothing() -> None:
    empty = np.empty(0, np.int32)
    placement, travel = arc_costs(
        [child()],
        [setting()],
        empty,
        empty,
        empty.astype(np.int8),
        np.empty(0, np.float32),
        Tariffs(),
        TransportCostModel(),
    )
    assert placement.shape == travel.shape == (0,)
