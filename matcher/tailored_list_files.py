"""Tailored lists as a file: each child's options, exclusions and preference statements.

A workbook has three sheets (Options, Excluded, Preferences); as CSV they are three files side
by side (:func:`matcher.output_files.write_tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.output_files import Cell, Table, csv_companions, write_tables

if TYPE_CHECKING:  # only for annotations: writing files must not load the solver
    from matcher.tailored import TailoredList

TAILORED_SHEETS = ("Options", "Excluded", "Preferences")
OPTION_COLUMNS = (
    "child_id",
    "rank",
    "setting_urn",
    "setting_name",
    "setting_type",
    "placement_kind",
    "provision",
    "needs_matched",
    "travel_minutes",
    "places_left",
    "placement_cost",
    "transport_cost",
    "annual_cost",
    "preference_rank",
    "proposed",
    "marginal_children_unplaced",
    "marginal_preferences_unmet",
    "marginal_preference_ranks",
    "marginal_minutes",
    "marginal_pounds",
    "marginal_system_cost",
    "why_listed",
)
EXCLUDED_COLUMNS = (
    "child_id",
    "setting_urn",
    "setting_name",
    "setting_type",
    "travel_minutes",
    "preference_rank",
    "reasons",
)
PREFERENCE_COLUMNS = (
    "child_id",
    "rank",
    "setting_urn",
    "setting_name",
    "met",
    "ground",
    "evidence",
)


def tailored_list_tables(lists: Sequence[TailoredList]) -> list[Table]:
    """Options, exclusions and preference statements: one row each, child by child."""
    options: list[dict[str, Cell]] = []
    excluded: list[dict[str, Cell]] = []
    preferences: list[dict[str, Cell]] = []
    for tl in lists:
        for n, o in enumerate(tl.options, start=1):
            m = o.marginal
            options.append(
                {
                    "child_id": tl.child_id,
                    "rank": n,
                    "setting_urn": o.urn,
                    "setting_name": o.name,
                    "setting_type": o.setting_type,
                    "placement_kind": o.placement_kind.value,
                    "provision": o.provision,
                    "needs_matched": ";".join(o.needs_matched) or None,
                    "travel_minutes": round(o.minutes, 1),
                    "places_left": o.places_left,
                    "placement_cost": o.placement_cost,
                    "transport_cost": o.transport_cost,
                    "annual_cost": o.placement_cost + o.transport_cost,
                    "preference_rank": o.preference_rank,
                    "proposed": "yes" if o.proposed else "no",
                    "marginal_children_unplaced": m.children_unplaced if m else None,
                    "marginal_preferences_unmet": m.preferences_unmet if m else None,
                    "marginal_preference_ranks": m.preference_ranks if m else None,
                    "marginal_minutes": m.minutes if m else None,
                    "marginal_pounds": m.pounds if m else None,
                    "marginal_system_cost": o.marginal_text,
                    "why_listed": o.why_listed,
                }
            )
        for e in tl.excluded:
            excluded.append(
                {
                    "child_id": tl.child_id,
                    "setting_urn": e.urn,
                    "setting_name": e.name,
                    "setting_type": e.setting_type,
                    "travel_minutes": None if e.minutes is None else round(e.minutes, 1),
                    "preference_rank": e.preference_rank,
                    "reasons": "; ".join(e.reasons),
                }
            )
        if tl.excluded_not_shown:
            excluded.append(
                {
                    "child_id": tl.child_id,
                    "setting_name": f"({tl.excluded_not_shown} further settings not shown)",
                    "reasons": "; ".join(f"{t} ({n})" for t, n in tl.excluded_not_shown_reasons),
                }
            )
        for p in tl.preferences:
            preferences.append(
                {
                    "child_id": tl.child_id,
                    "rank": p.rank,
                    "setting_urn": p.urn,
                    "setting_name": p.name,
                    "met": "yes" if p.met else "no",
                    "ground": p.ground,
                    "evidence": p.evidence,
                }
            )
    return [
        Table(TAILORED_SHEETS[0], OPTION_COLUMNS, options),
        Table(TAILORED_SHEETS[1], EXCLUDED_COLUMNS, excluded),
        Table(TAILORED_SHEETS[2], PREFERENCE_COLUMNS, preferences),
    ]


def write_tailored_lists(lists: Sequence[TailoredList], path: Path | str) -> list[Path]:
    """Write the lists (XLSX: three sheets; CSV: three files); return the paths written."""
    write_tables(path, tailored_list_tables(lists))
    return csv_companions(path, TAILORED_SHEETS)
