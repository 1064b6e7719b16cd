"""Tailored lists as a file: each child's options, exclusions and preference statements.

A workbook has three sheets (Options, Excluded, Preferences); as CSV they are three files side
by side (:func:`matcher.output_files.write_tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, repeat
from operator import add
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matcher.garbage_collection import paused_garbage_collection
from matcher.output_files import Cell, ColumnRecords, Table, csv_companions, write_tables

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
    """Options, exclusions and preference statements: one row each, child by child.

    Held as columns (:class:`~matcher.output_files.ColumnRecords`): a whole LA's lists are
    half a million rows, and a dict for each was a third of writing them.
    """
    return [
        Table(TAILORED_SHEETS[0], OPTION_COLUMNS, ColumnRecords(_option_columns(lists))),
        Table(TAILORED_SHEETS[1], EXCLUDED_COLUMNS, ColumnRecords(_excluded_columns(lists))),
        Table(TAILORED_SHEETS[2], PREFERENCE_COLUMNS, ColumnRecords(_preference_columns(lists))),
    ]


def write_tailored_lists(lists: Sequence[TailoredList], path: Path | str) -> list[Path]:
    """Write the lists (XLSX: three sheets; CSV: three files); return the paths written."""
    with paused_garbage_collection():  # millions of new cells, none of them in a cycle
        write_tables(path, tailored_list_tables(lists))
    return csv_companions(path, TAILORED_SHEETS)


_NO_MARGINAL = (None,) * 5  # an option where no place can be made: its marginal cells blank


def _option_columns(lists: Sequence[TailoredList]) -> dict[str, list[Cell]]:
    """The Options sheet's cells, column by column."""
    from matcher.tailored import ListedOption, marginal_texts  # loaded already: lists are its

    counts = [len(tl.options) for tl in lists]
    rows = [o for tl in lists for o in tl.options]
    (urn, name, setting_type, kind, provision, needs, minutes, places, placement, transport,
     preference, proposed, marginal, why) = _columns(rows, len(ListedOption._fields))  # fmt: skip
    unplaced, unmet, ranks, marginal_minutes, pounds = _columns(
        [_NO_MARGINAL if m is None else m for m in marginal], len(_NO_MARGINAL)
    )
    return {
        "child_id": _repeated([tl.child_id for tl in lists], counts),
        "rank": [n for count in counts for n in range(1, count + 1)],
        "setting_urn": list(urn),
        "setting_name": list(name),
        "setting_type": list(setting_type),
        "placement_kind": [k.value for k in kind],
        "provision": list(provision),
        "needs_matched": [";".join(matched) or None for matched in needs],
        "travel_minutes": list(map(round, minutes, repeat(1))),
        "places_left": list(places),
        "placement_cost": list(placement),
        "transport_cost": list(transport),
        "annual_cost": list(map(add, placement, transport)),
        "preference_rank": list(preference),
        "proposed": ["yes" if yes else "no" for yes in proposed],
        "marginal_children_unplaced": list(unplaced),
        "marginal_preferences_unmet": list(unmet),
        "marginal_preference_ranks": list(ranks),
        "marginal_minutes": list(marginal_minutes),
        "marginal_pounds": list(pounds),
        "marginal_system_cost": list(marginal_texts(marginal)),
        "why_listed": list(why),
    }


def _excluded_columns(lists: Sequence[TailoredList]) -> dict[str, list[Cell]]:
    """The Excluded sheet's cells: each child's excluded settings shown, then a row counting
    those not shown by reason."""
    counts: list[int] = []
    rows: list[tuple[Any, ...]] = []
    for tl in lists:
        rows += tl.excluded
        if tl.excluded_not_shown:
            not_shown = f"({tl.excluded_not_shown} further settings not shown)"
            reasons = tuple(f"{t} ({n})" for t, n in tl.excluded_not_shown_reasons)
            rows.append((None, not_shown, None, None, None, reasons))
        counts.append(len(tl.excluded) + (1 if tl.excluded_not_shown else 0))
    urn, name, setting_type, minutes, preference, reasons = _columns(rows, 6)
    return {
        "child_id": _repeated([tl.child_id for tl in lists], counts),
        "setting_urn": list(urn),
        "setting_name": list(name),
        "setting_type": list(setting_type),
        "travel_minutes": [None if m is None else round(m, 1) for m in minutes],
        "preference_rank": list(preference),
        "reasons": list(map("; ".join, reasons)),
    }


def _preference_columns(lists: Sequence[TailoredList]) -> dict[str, list[Cell]]:
    """The Preferences sheet's cells: each parental preference, met or with its ground."""
    counts = [len(tl.preferences) for tl in lists]
    rows = [p for tl in lists for p in tl.preferences]
    return {
        "child_id": _repeated([tl.child_id for tl in lists], counts),
        "rank": [p.rank for p in rows],
        "setting_urn": [p.urn for p in rows],
        "setting_name": [p.name for p in rows],
        "met": ["yes" if p.met else "no" for p in rows],
        "ground": [p.ground for p in rows],
        "evidence": [p.evidence for p in rows],
    }


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """Rows of ``width`` values as that many columns (empty ones when there are no rows)."""
    return list(zip(*rows, strict=True)) or [()] * width


def _repeated(cells: Sequence[Cell], counts: Sequence[int]) -> list[Cell]:
    """Each cell ``counts`` times over: a child's id on each of its rows."""
    return list(chain.from_iterable(map(repeat, cells, counts)))
