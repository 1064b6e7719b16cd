"""A round's placements as a file: one row per child, and in a workbook a summary sheet.

Nothing about a child but its pseudonymous id is written (see :mod:`matcher.caseload_files`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from matcher.output_files import SUMMARY_FORMATS, Cell, ColumnRecords, Table, write_tables

if TYPE_CHECKING:  # only for annotations: writing files must not load the solver
    from matcher.models import PlacementKind, ProvisionKind
    from matcher.placement import PlacementResult, PlacementSummary

PLACEMENT_COLUMNS: tuple[str, ...] = (
    "child_id",
    "setting_urn",
    "setting_name",
    "placement_kind",
    "provision",
    "preference_rank",
    "travel_minutes",
    "placement_cost",
    "transport_cost",
    "out_of_area",
    "reason",
)


@dataclass(frozen=True)
class SummaryRow:
    """One labelled figure of a round's summary, shared by the CLI table and the XLSX sheet."""

    label: str
    value: Cell
    unit: Literal["count", "percent", "minutes", "pounds", "text"]


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summary_rows(summary: PlacementSummary) -> list[SummaryRow]:
    """The summary as labelled figures; percentages are of children who expressed preferences."""
    s = summary
    return [
        SummaryRow("Children", s.children, "count"),
        SummaryRow("Placed", s.placed, "count"),
        SummaryRow("Unplaced", s.unplaced, "count"),
        SummaryRow("Children with parental preferences", s.with_preferences, "count"),
        SummaryRow("First preference met", s.first_preference_met, "count"),
        SummaryRow(
            "First preference met (% of those with preferences)",
            _percent(s.first_preference_met, s.with_preferences),
            "percent",
        ),
        SummaryRow("Any preference met", s.any_preference_met, "count"),
        SummaryRow(
            "Any preference met (% of those with preferences)",
            _percent(s.any_preference_met, s.with_preferences),
            "percent",
        ),
        SummaryRow(
            "Mean travel (minutes)",
            None if s.mean_minutes is None else round(s.mean_minutes, 1),
            "minutes",
        ),
        SummaryRow(
            "Longest travel (minutes)",
            None if s.max_minutes is None else round(s.max_minutes, 1),
            "minutes",
        ),
        SummaryRow("Total placement cost (£ a year)", s.total_placement_cost, "pounds"),
        SummaryRow("Total transport cost (£ a year)", s.total_transport_cost, "pounds"),
        SummaryRow("Out-of-area placements", s.out_of_area, "count"),
        SummaryRow("Independent placements", s.independent, "count"),
        SummaryRow("Eligible child-setting pairs considered", s.eligible_arcs, "count"),
        SummaryRow("Travel-time model", s.travel_model, "text"),
    ]


def placement_columns(result: PlacementResult) -> dict[str, list[Cell]]:
    """Each of PLACEMENT_COLUMNS as a list with a value per child; None where there is nothing
    to say. Gathered field by field: the CSV writer takes columns (a dict per row is slow)."""
    rows = result.placements
    return {
        "child_id": [p.child_id for p in rows],
        "setting_urn": [p.setting_urn for p in rows],
        "setting_name": [p.setting_name for p in rows],
        "placement_kind": _values([p.placement_kind for p in rows]),
        "provision": _values([p.provision for p in rows]),
        "preference_rank": [p.preference_rank for p in rows],
        "travel_minutes": [None if p.minutes is None else round(float(p.minutes), 1) for p in rows],
        "placement_cost": [p.placement_cost for p in rows],
        "transport_cost": [p.transport_cost for p in rows],
        "out_of_area": ["yes" if p.out_of_area else "no" for p in rows],
        "reason": [p.reason for p in rows],
    }


def _values(kinds: list[PlacementKind | ProvisionKind | None]) -> list[Cell]:
    """An enum column as its values, each distinct member looked up once."""
    value = {kind: None if kind is None else kind.value for kind in set(kinds)}
    return list(map(value.__getitem__, kinds))


def placement_records(result: PlacementResult) -> list[dict[str, Cell]]:
    """One record per child in PLACEMENT_COLUMNS order; None where there is nothing to say."""
    columns = placement_columns(result)
    return [
        dict(zip(PLACEMENT_COLUMNS, row, strict=True))
        for row in zip(*(columns[c] for c in PLACEMENT_COLUMNS), strict=True)
    ]


def write_placements(result: PlacementResult, path: Path | str) -> None:
    """Write one row per child (CSV or XLSX by extension); XLSX adds a "Summary" sheet.

    CSV is written as UTF-8 with a byte-order mark so that Excel shows £ and accents correctly.
    """
    summary = [
        {"Measure": item.label, "Value": item.value} for item in summary_rows(result.summary)
    ]
    value_formats = [SUMMARY_FORMATS[item.unit] for item in summary_rows(result.summary)]
    write_tables(
        path,
        [
            Table("Placements", PLACEMENT_COLUMNS, ColumnRecords(placement_columns(result))),
            Table("Summary", ("Measure", "Value"), summary, row_formats=value_formats),
        ],
        csv_tables=1,
    )
