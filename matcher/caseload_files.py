"""A placement round's input files: the caseload, the settings and the LA's tariff bands.

Children carry only a pseudonymous ``child_id``: any other column in the caseload file (a name,
an address) is ignored on reading (and not held: :func:`matcher.input_tables.read_table`), and
nothing about a child but its id is ever written.

The caseload and settings files are checked a column at a time
(:mod:`matcher.caseload_columns`), with every problem worded as the row checker
(:mod:`matcher.caseload_rows`) words it; the tariff file, a few dozen rows, row by row.
:func:`load_round` reads all three and checks them against each other, so that a user sees
everything wrong with a round's files at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from matcher.caseload_columns import checked_children, checked_settings
from matcher.caseload_rows import (
    CHILD_COLUMNS,
    PREFERENCE_COLUMN,
    SETTING_COLUMNS,
    is_child_column,
    preference_columns,
)
from matcher.cell_parsers import parse_placement_kind, parse_pounds
from matcher.input_tables import (
    InputError,
    InputProblem,
    check_columns,
    raise_if,
    read_table,
)
from matcher.models import Child, PlacementKind, Setting, TariffBand
from matcher.read_limits import ReadLimits
from matcher.row_checks import Area, RowCheck, inside_areas, location_problem

__all__ = [
    "CHILD_COLUMNS",
    "SETTING_COLUMNS",
    "TARIFF_COLUMNS",
    "RoundInputs",
    "check_references",
    "load_children",
    "load_round",
    "load_settings",
    "load_tariffs",
    "next_september",
]


def next_september(today: date | None = None) -> date:
    """The start of the next school year: the round being planned is usually for September."""
    today = today or date.today()
    this_year = date(today.year, 9, 1)
    return this_year if today < this_year else date(today.year + 1, 9, 1)


def load_children(
    path: Path | str,
    year_start: date | None = None,
    *,
    extra_areas: Sequence[Area] = (),
    limits: ReadLimits | None = None,
) -> list[Child]:
    """Read a caseload file (CSV or XLSX) into children, or raise InputError with every problem.

    ``year_start`` is the first day of the school year being planned for; it turns a
    ``date_of_birth`` into an NC year (default: the next 1 September). A row's ``nc_year``, when
    given, wins over its date of birth, because children with SEND are often educated out of
    their chronological year group. Homes must be in the UK or in one of ``extra_areas``.
    ``limits`` bound the file's size (default: :meth:`ReadLimits.from_environment`).
    """
    table = read_table(path, limits, is_child_column)
    year_start = year_start or next_september()
    pref_columns = preference_columns(table.columns)
    problems = check_columns(
        table,
        CHILD_COLUMNS,
        ["child_id", "primary_need", ("nc_year", "date_of_birth")],
        is_known=lambda c: bool(PREFERENCE_COLUMN.match(c)),
    )
    if pref_columns and "preferences" in table.columns:
        problems.append(
            InputProblem(
                table.file,
                None,
                "preferences",
                f"use either a 'preferences' column or {', '.join(pref_columns)}, not both",
            )
        )
    raise_if(problems)
    if not len(table):
        raise InputError([InputProblem(table.file, None, None, "the file has no children in it")])
    children, problems = checked_children(table, year_start, pref_columns, extra_areas)
    raise_if(problems)
    return children


def load_settings(
    path: Path | str, *, extra_areas: Sequence[Area] = (), limits: ReadLimits | None = None
) -> list[Setting]:
    """Read a settings file (CSV or XLSX), or raise InputError with every problem in it.

    Settings must be in the UK or in one of ``extra_areas``.
    """
    table = read_table(path, limits, SETTING_COLUMNS.__contains__)
    raise_if(
        check_columns(
            table,
            SETTING_COLUMNS,
            ["urn", "name", "setting_type", "low_age", "high_age", "total_places"],
        )
    )
    if not len(table):
        raise InputError([InputProblem(table.file, None, None, "the file has no settings in it")])
    settings, problems = checked_settings(table, extra_areas)
    raise_if(problems)
    return settings


TARIFF_COLUMNS = {"band", "placement_kind", "annual_top_up"}


def load_tariffs(path: Path | str, *, limits: ReadLimits | None = None) -> list[TariffBand]:
    """Read an LA banding framework (band, placement_kind, annual_top_up), or raise InputError."""
    table = read_table(path, limits, TARIFF_COLUMNS.__contains__)
    raise_if(check_columns(table, TARIFF_COLUMNS, sorted(TARIFF_COLUMNS)))
    if not table.rows:
        raise InputError([InputProblem(table.file, None, None, "the file has no bands in it")])
    problems: list[InputProblem] = []
    first_rows: dict[tuple[str, PlacementKind], int] = {}
    bands: list[TariffBand] = []
    for row in table.rows:
        check = RowCheck(table.file, row)
        values = {
            "band": row.get("band"),
            "placement_kind": check.parse("placement_kind", parse_placement_kind, required=True),
            "annual_top_up": check.parse("annual_top_up", parse_pounds, required=True),
        }
        band = check.build(
            TariffBand, {k: v for k, v in values.items() if v is not None}, lambda loc: str(loc[0])
        )
        problems.extend(check.problems)
        if band is None:
            continue
        if band.placement_kind is PlacementKind.INDEPENDENT:
            problems.append(
                InputProblem(
                    table.file,
                    row.number,
                    "placement_kind",
                    "independent placements are priced by the setting's annual_fee, so a "
                    "top-up band for them would never be used; remove this row",
                )
            )
            continue
        key = (band.band, band.placement_kind)
        if key in first_rows:
            problems.append(
                InputProblem(
                    table.file,
                    row.number,
                    "band",
                    f"band {band.band!r} for {band.placement_kind.value} is given twice: "
                    f"also on row {first_rows[key]}",
                )
            )
        else:
            first_rows[key] = row.number
            bands.append(band)
    raise_if(problems)
    return bands


def _child_rows(children_file: Path | str, limits: ReadLimits | None) -> dict[str, int]:
    """child_id → row number, re-read from the file: only needed when there is a problem."""
    try:
        table = read_table(children_file, limits, {"child_id"}.__contains__)
    except InputError:
        return {}
    rows: dict[str, int] = {}
    for number, child_id in zip(table.numbers, table.column("child_id"), strict=True):
        if child_id:
            rows.setdefault(child_id, number)
    return rows


def check_references(
    children: Sequence[Child],
    settings: Sequence[Setting],
    children_file: Path | str,
    *,
    tariffs: Sequence[TariffBand] | None = None,
    extra_areas: Sequence[Area] = (),
    limits: ReadLimits | None = None,
) -> list[InputProblem]:
    """Problems that only show when files are read together; an empty list if there are none.

    Every preference must be a URN in the settings file (so the solver can say what happened
    to each preference); a current setting may be missing (in a phase transfer it is usually a
    school the child is leaving, not one that can be named). Every home must be a usable point
    in the UK, and, when a tariff file is given, every child's ``top_up_band`` must be one of
    its bands (a typo would otherwise fall back silently to a default top-up and misstate the
    cost).
    """
    file = Path(children_file).name
    urns = {s.urn for s in settings}
    by_name = {s.name.strip().lower(): s.urn for s in settings}
    bands = {b.band for b in tariffs} if tariffs is not None else None
    found: list[tuple[str, str, str]] = []  # (child_id, field, message)

    def unknown(urn: str) -> str:
        hint = ""
        if urn.strip().lower() in by_name:
            hint = f"; did you mean URN {by_name[urn.strip().lower()]}?"
        return f"URN {urn!r} is not in the settings file{hint}"

    outside_rows = _homes_outside(children, extra_areas)
    for i, child in enumerate(children):
        for rank, urn in enumerate(child.preferences, start=1):
            if urn not in urns:
                found.append((child.child_id, "preferences", f"preference {rank}: {unknown(urn)}"))
        outside = location_problem(child.home, extra_areas) if i in outside_rows else None
        if outside:
            found.append((child.child_id, "latitude", f"no usable home location: {outside}"))
        if bands is not None and child.top_up_band is not None and child.top_up_band not in bands:
            found.append(
                (
                    child.child_id,
                    "top_up_band",
                    f"band {child.top_up_band!r} is not in the tariff file "
                    f"(bands there: {', '.join(sorted(bands))})",
                )
            )
    if not found:
        return []
    rows = _child_rows(children_file, limits)
    return [
        InputProblem(file, rows.get(child_id), column, f"child {child_id}: {message}")
        for child_id, column, message in found
    ]


def _homes_outside(children: Sequence[Child], extra_areas: Sequence[Area]) -> set[int]:
    """The children whose homes :func:`location_problem` may object to, found at once."""
    import numpy as np

    lat = np.fromiter((c.home.latitude for c in children), dtype=np.float64, count=len(children))
    lon = np.fromiter((c.home.longitude for c in children), dtype=np.float64, count=len(children))
    return set(np.flatnonzero(~inside_areas(lat, lon, extra_areas)).tolist())


@dataclass(frozen=True)
class RoundInputs:
    """Everything one placement round reads, validated together."""

    children: list[Child]
    settings: list[Setting]
    tariffs: list[TariffBand] = field(default_factory=list)


def load_round(
    children_file: Path | str,
    settings_file: Path | str,
    tariffs_file: Path | str | None = None,
    year_start: date | None = None,
    *,
    extra_areas: Sequence[Area] = (),
    limits: ReadLimits | None = None,
) -> RoundInputs:
    """Load and cross-check all inputs of a round; InputError lists the problems of every file.

    Every entry point (CLI, API) uses this, so that a user sees all that is wrong at once.
    Locations must be in the UK or in one of ``extra_areas`` (the road network's area).
    ``limits`` bound each file's size, rows and columns; by default they are the
    ``SENDMATCH_MAX_…`` environment variables' or :mod:`matcher.read_limits`' defaults.
    """
    problems: list[InputProblem] = []
    children: list[Child] | None = None
    settings: list[Setting] | None = None
    tariffs: list[TariffBand] | None = None
    try:
        children = load_children(children_file, year_start, extra_areas=extra_areas, limits=limits)
    except InputError as exc:
        problems.extend(exc.problems)
    try:
        settings = load_settings(settings_file, extra_areas=extra_areas, limits=limits)
    except InputError as exc:
        problems.extend(exc.problems)
    if tariffs_file is not None:
        try:
            tariffs = load_tariffs(tariffs_file, limits=limits)
        except InputError as exc:
            problems.extend(exc.problems)
    if children is not None and settings is not None:
        problems.extend(
            check_references(
                children,
                settings,
                children_file,
                tariffs=tariffs,
                extra_areas=extra_areas,
                limits=limits,
            )
        )
    if problems or children is None or settings is None:
        raise InputError(problems)
    return RoundInputs(children, settings, tariffs or [])
