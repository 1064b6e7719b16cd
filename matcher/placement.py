"""Optimal batch placement for a whole caseload: OR-Tools min-cost flow, lexicographic objective."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from matcher.costs import Tariffs, TransportCostModel
from matcher.eligibility import EligibilityConfig
from matcher.models import Child, PlacementKind, ProvisionKind, Setting
from matcher.travel import TravelTimeMatrix

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class PlacementConfig:
    eligibility: EligibilityConfig = field(default_factory=EligibilityConfig)
    transport: TransportCostModel = field(default_factory=TransportCostModel)
    tariffs: Tariffs = field(default_factory=Tariffs)
    home_la_code: str | None = None  # used for children whose record has no home_la_code


@dataclass(frozen=True)
class ChildPlacement:
    """One child's outcome. ``setting_urn`` is None when unplaced; ``reason`` then says why."""

    child_id: str
    setting_urn: str | None
    setting_name: str | None
    placement_kind: PlacementKind | None
    provision: ProvisionKind | None
    preference_rank: int | None  # 1 = first preference; None = not a parental preference
    minutes: float | None
    placement_cost: int
    transport_cost: int
    out_of_area: bool
    reason: str


@dataclass(frozen=True)
class PlacementSummary:
    children: int
    placed: int
    unplaced: int
    with_preferences: int
    first_preference_met: int
    any_preference_met: int
    mean_minutes: float | None
    max_minutes: float | None
    total_placement_cost: int
    total_transport_cost: int
    out_of_area: int
    independent: int
    travel_model: str
    eligible_arcs: int


@dataclass(frozen=True)
class PlacementResult:
    placements: tuple[ChildPlacement, ...]
    summary: PlacementSummary


def place(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig | None = None,
    progress: ProgressCallback | None = None,
) -> PlacementResult:
    raise NotImplementedError
