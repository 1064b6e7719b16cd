"""Fair access as files: the panel's history of placements in, the allocation out.

The history (``urn, placements_last_12_months``) is read as the round's other inputs are
(:mod:`matcher.input_tables`): the same forgiving reading and the same "file, row, column: what
to fix" messages. The allocation is written as five sheets (or five CSV files side by side).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from matcher.cell_parsers import parse_int
from matcher.input_tables import (
    InputError,
    InputProblem,
    check_columns,
    duplicate,
    raise_if,
    read_table,
)
from matcher.models import NonNegativeInt
from matcher.output_files import Cell, Table, csv_companions, write_tables
from matcher.row_checks import RowCheck

if TYPE_CHECKING:  # only for annotations: writing files must not load the solver
    from matcher.fair_access import FairAccessResult

# --------------------------------------------------------------------------------------------
# History of fair access placements


class FapHistory(BaseModel):
    """One school's fair access placements in the last 12 months: the past half of its load."""

    model_config = ConfigDict(frozen=True)

    urn: Annotated[str, Field(min_length=1, max_length=32)]
    placements_last_12_months: NonNegativeInt


FAP_HISTORY_COLUMNS = {"urn", "placements_last_12_months"}


def load_fap_history(path: Path | str) -> dict[str, int]:
    """Read ``urn, placements_last_12_months`` (CSV or XLSX) into URN → placements.

    Reading, column checks and problem reports are :mod:`matcher.input_tables`', so a panel
    clerk gets the same forgiving reading and the same "file, row, column: what to fix"
    messages as for the round's other inputs; every problem is collected and the file rejected
    as a whole (InputError). A school absent from the file is taken to have had no fair access
    placements.
    """
    table = read_table(path)
    raise_if(check_columns(table, FAP_HISTORY_COLUMNS, sorted(FAP_HISTORY_COLUMNS)))
    if not table.rows:
        raise InputError(
            [
                InputProblem(
                    table.file,
                    None,
                    None,
                    "the file has no schools in it (leave the history out if there were no "
                    "fair access placements in the last 12 months)",
                )
            ]
        )
    problems: list[InputProblem] = []
    first_rows: dict[str, int] = {}
    history: dict[str, int] = {}
    for row in table.rows:
        dup = duplicate(table.file, "urn", row.get("urn"), row.number, first_rows)
        if dup:
            problems.append(dup)
        check = RowCheck(table.file, row)
        values = {
            "urn": row.get("urn"),
            "placements_last_12_months": check.parse(
                "placements_last_12_months", parse_int, required=True
            ),
        }
        record = check.build(
            FapHistory, {k: v for k, v in values.items() if v is not None}, lambda loc: str(loc[0])
        )
        problems.extend(check.problems)
        if record is not None and dup is None:
            history[record.urn] = record.placements_last_12_months
    raise_if(problems)
    return history


# --------------------------------------------------------------------------------------------
# The allocation

FAIR_ACCESS_SHEETS = ("Allocations", "Alternatives", "Excluded", "Schools", "Solver")


def fair_access_tables(result: FairAccessResult) -> list[Table]:
    """Allocations, ranked alternatives, exclusions, school loads, and the solver's proof."""
    allocations: list[dict[str, Cell]] = []
    alternatives: list[dict[str, Cell]] = []
    excluded: list[dict[str, Cell]] = []
    for a in result.allocations:
        allocations.append(
            {
                "child_id": a.child_id,
                "school_urn": a.school_urn,
                "school_name": a.school_name,
                "travel_minutes": None if a.minutes is None else round(a.minutes, 1),
                "load_before": a.load_before,
                "load_after": a.load_after,
                "reason": a.reason,
            }
        )
        for n, o in enumerate(a.alternatives, start=1):
            alternatives.append(
                {
                    "child_id": a.child_id,
                    "rank": n,
                    "school_urn": o.urn,
                    "school_name": o.name,
                    "travel_minutes": round(o.minutes, 1),
                    "load_before": o.load_before,
                    "load_after": o.load_after,
                    "places_left": o.places_left,
                    "note": o.note,
                }
            )
        for e in a.excluded:
            excluded.append(
                {
                    "child_id": a.child_id,
                    "school_urn": e.urn,
                    "school_name": e.name,
                    "travel_minutes": None if e.minutes is None else round(e.minutes, 1),
                    "reasons": "; ".join(e.reasons),
                }
            )
    schools = [
        {
            "school_urn": s.urn,
            "school_name": s.name,
            "size": s.size,
            "history": s.history,
            "cap": s.cap,
            "new": s.new,
            "load_before": s.load_before,
            "load_after": s.load_after,
        }
        for s in result.schools
    ]
    solver: list[dict[str, Cell]] = [
        {
            "item": level.name,
            "status": level.status,
            "objective": level.objective,
            "best_bound": level.best_bound,
            "gap": round(level.gap, 6),
        }
        for level in result.levels
    ]
    solver += [{"item": "note", "status": note} for note in result.notes]
    solver.append({"item": "method", "status": result.method})
    solver.append({"item": "travel-time model", "status": result.travel_model})
    return [
        Table(
            "Allocations",
            (
                "child_id",
                "school_urn",
                "school_name",
                "travel_minutes",
                "load_before",
                "load_after",
                "reason",
            ),
            allocations,
        ),
        Table(
            "Alternatives",
            (
                "child_id",
                "rank",
                "school_urn",
                "school_name",
                "travel_minutes",
                "load_before",
                "load_after",
                "places_left",
                "note",
            ),
            alternatives,
        ),
        Table(
            "Excluded",
            ("child_id", "school_urn", "school_name", "travel_minutes", "reasons"),
            excluded,
        ),
        Table(
            "Schools",
            (
                "school_urn",
                "school_name",
                "size",
                "history",
                "cap",
                "new",
                "load_before",
                "load_after",
            ),
            schools,
        ),
        Table("Solver", ("item", "status", "objective", "best_bound", "gap"), solver),
    ]


def write_fair_access(result: FairAccessResult, path: Path | str) -> list[Path]:
    """Write the allocation (XLSX: five sheets; CSV: five files); return the paths written."""
    write_tables(path, fair_access_tables(result))
    return csv_companions(path, FAIR_ACCESS_SHEETS)
