"""One caseload or settings row checked cell by cell: the reference for every message.

The columnar loaders (:mod:`matcher.caseload_columns`) check whole columns at once and send
here only the rows in which they find something wrong (or something they do not read
themselves), so that each problem is worded by the same code, in the same order, whichever
way a file is read. Read row by row, a file gives the same children and settings as read by
columns (tests/test_columnar_loading.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from matcher.cell_parsers import (
    parse_bool,
    parse_date,
    parse_int,
    parse_nc_year,
    parse_needs,
    parse_placement_kinds,
    parse_pounds,
    parse_requirements,
    parse_setting_type,
    parse_sex,
    parse_sex_admitted,
    parse_urns,
    parse_year_map,
)
from matcher.input_tables import InputProblem, InputTable, Row, duplicate
from matcher.models import (
    MAX_NC_YEAR,
    MIN_NC_YEAR,
    Child,
    ProvisionKind,
    Setting,
    nc_year_from_birth,
)
from matcher.needs import parse_need
from matcher.row_checks import Area, RowCheck

CHILD_COLUMNS = {
    "child_id",
    "nc_year",
    "date_of_birth",
    "sex",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "home_la_code",
    "primary_need",
    "secondary_needs",
    "has_ehcp",
    "current_setting",
    "preferences",
    "sibling_group",
    "requirements",
    "suitable_kinds",
    "top_up_band",
}
PREFERENCE_COLUMN = re.compile(r"^pref(?:erence)?_?(\d+)$")


def is_child_column(column: str) -> bool:
    return column in CHILD_COLUMNS or bool(PREFERENCE_COLUMN.match(column))


def preference_columns(columns: Sequence[str]) -> list[str]:
    numbered = [(int(m.group(1)), c) for c in columns if (m := PREFERENCE_COLUMN.match(c))]
    return [c for _, c in sorted(numbered)]


def child_from_row(
    file: str,
    row: Row,
    year_start: date,
    pref_columns: Sequence[str],
    problems: list[InputProblem],
    extra_areas: Sequence[Area] = (),
) -> Child | None:
    check = RowCheck(file, row, extra_areas)
    nc_year = check.parse("nc_year", parse_nc_year)
    if nc_year is None and "nc_year" not in check.failed:
        born = check.parse("date_of_birth", parse_date, model_field="nc_year")
        if born is not None:
            nc_year = nc_year_from_birth(born, year_start)
            if not MIN_NC_YEAR <= nc_year <= MAX_NC_YEAR:
                check.problem(
                    "date_of_birth",
                    f"born {born.isoformat()} gives NC year {nc_year} for the school year "
                    f"starting {year_start.isoformat()}, outside N1 to {MAX_NC_YEAR}; "
                    "check the date or give nc_year",
                    "nc_year",
                )
        elif "nc_year" not in check.failed:
            check.problem("nc_year", "give nc_year or date_of_birth", "nc_year")
    home, location_column = check.location()

    preferences: list[str] | None
    if pref_columns:
        preferences = []
        blank_before: str | None = None
        for column in pref_columns:
            urn = row.get(column)
            if urn is None:
                blank_before = blank_before or column
                continue
            if blank_before is not None:
                check.problem(
                    column,
                    f"{column} is given but {blank_before} is blank; "
                    "fill the preferences in rank order",
                    "preferences",
                )
            preferences.append(urn)
    else:
        preferences = check.parse("preferences", parse_urns)

    values: dict[str, Any] = {
        "child_id": row.get("child_id"),
        "nc_year": nc_year,
        "sex": check.parse("sex", parse_sex),
        "home": home,
        "home_la_code": row.get("home_la_code"),
        "primary_need": check.parse("primary_need", parse_need, required=True),
        "secondary_needs": check.parse("secondary_needs", parse_needs),
        "has_ehcp": check.parse("has_ehcp", parse_bool),
        "current_setting": row.get("current_setting"),
        "preferences": tuple(preferences) if preferences else None,
        "sibling_group": row.get("sibling_group"),
        "requirements": check.parse("requirements", parse_requirements),
        "suitable_kinds": check.parse("suitable_kinds", parse_placement_kinds),
        "top_up_band": row.get("top_up_band"),
    }
    if "location" in check.failed:
        check.failed.add("home")
    for key in ("secondary_needs", "requirements", "suitable_kinds"):
        if values[key] is not None:
            values[key] = frozenset(values[key]) or None
    columns = {
        "home": location_column,
        "preferences": pref_columns[0] if pref_columns else "preferences",
    }
    child = check.build(
        Child,
        {k: v for k, v in values.items() if v is not None},
        lambda loc: columns.get(str(loc[0]), str(loc[0])),
    )
    problems.extend(check.problems)
    return child


PROVISION_PREFIXES: dict[str, ProvisionKind] = {
    "rp": ProvisionKind.RESOURCED_PROVISION,
    "unit": ProvisionKind.SEN_UNIT,
}
SETTING_COLUMNS = {
    "urn",
    "name",
    "setting_type",
    "la_code",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "low_age",
    "high_age",
    "sex_admitted",
    "designated_needs",
    "facilities",
    "total_places",
    "on_roll",
    "year_places",
    "year_on_roll",
    "annual_fee",
    "top_up",
} | {f"{p}_{s}" for p in PROVISION_PREFIXES for s in ("needs", "places", "on_roll")}


def setting_from_row(
    file: str, row: Row, problems: list[InputProblem], extra_areas: Sequence[Area] = ()
) -> Setting | None:
    check = RowCheck(file, row, extra_areas)
    location, location_column = check.location()
    provisions: list[dict[str, Any]] = []
    prefixes: list[str] = []
    for prefix, kind in PROVISION_PREFIXES.items():
        needs = check.parse(f"{prefix}_needs", parse_needs, model_field="provisions")
        places = check.parse(f"{prefix}_places", parse_int, model_field="provisions")
        on_roll = check.parse(f"{prefix}_on_roll", parse_int, model_field="provisions")
        if all(row.get(f"{prefix}_{s}") is None for s in ("needs", "places", "on_roll")):
            continue
        if places is None and row.get(f"{prefix}_places") is None:
            what = "resourced provision" if prefix == "rp" else "SEN unit"
            check.problem(
                f"{prefix}_places",
                f"the setting has a {what} ({prefix}_needs or {prefix}_on_roll given) "
                f"but no {prefix}_places",
                "provisions",
            )
        provision: dict[str, Any] = {"kind": kind, "designated_needs": needs or frozenset()}
        if places is not None:
            provision["places"] = places
        if on_roll is not None:
            provision["on_roll"] = on_roll
        provisions.append(provision)
        prefixes.append(prefix)

    values: dict[str, Any] = {
        "urn": row.get("urn"),
        "name": row.get("name"),
        "setting_type": check.parse("setting_type", parse_setting_type, required=True),
        "la_code": row.get("la_code"),
        "location": location,
        "low_age": check.parse("low_age", parse_int, required=True),
        "high_age": check.parse("high_age", parse_int, required=True),
        "sex_admitted": check.parse("sex_admitted", parse_sex_admitted),
        "designated_needs": check.parse("designated_needs", parse_needs),
        "facilities": check.parse("facilities", parse_requirements),
        "total_places": check.parse("total_places", parse_int, required=True),
        "on_roll": check.parse("on_roll", parse_int),
        "year_places": check.parse("year_places", parse_year_map),
        "year_on_roll": check.parse("year_on_roll", parse_year_map),
        "provisions": tuple(provisions) or None,
        "annual_fee": check.parse("annual_fee", parse_pounds),
        "top_up": check.parse("top_up", parse_pounds),
    }
    if values["facilities"] is not None:
        values["facilities"] = frozenset(values["facilities"])

    provision_columns = {"designated_needs": "needs", "places": "places", "on_roll": "on_roll"}

    def column_for(loc: tuple) -> str:
        head = str(loc[0])
        if head == "location":
            return location_column
        if head == "provisions" and len(loc) >= 3 and isinstance(loc[1], int):
            return f"{prefixes[loc[1]]}_{provision_columns.get(str(loc[2]), str(loc[2]))}"
        return head

    setting = check.build(Setting, {k: v for k, v in values.items() if v is not None}, column_for)
    problems.extend(check.problems)
    return setting


def children_by_rows(
    table: InputTable,
    year_start: date,
    pref_columns: Sequence[str],
    extra_areas: Sequence[Area] = (),
) -> tuple[list[Child], list[InputProblem]]:
    """Every row of a caseload table through :func:`child_from_row`: the reference that the
    columnar loader (:func:`matcher.caseload_columns.checked_children`) must agree with."""
    problems: list[InputProblem] = []
    first_rows: dict[str, int] = {}
    children: list[Child] = []
    for row in table.rows:
        dup = duplicate(table.file, "child_id", row.get("child_id"), row.number, first_rows)
        if dup:
            problems.append(dup)
        child = child_from_row(table.file, row, year_start, pref_columns, problems, extra_areas)
        if child is not None:
            children.append(child)
    return children, problems


def settings_by_rows(
    table: InputTable, extra_areas: Sequence[Area] = ()
) -> tuple[list[Setting], list[InputProblem]]:
    """Every row of a settings table through :func:`setting_from_row`: the reference for
    :func:`matcher.caseload_columns.checked_settings`."""
    problems: list[InputProblem] = []
    first_rows: dict[str, int] = {}
    settings: list[Setting] = []
    for row in table.rows:
        dup = duplicate(table.file, "urn", row.get("urn"), row.number, first_rows)
        if dup:
            problems.append(dup)
        setting = setting_from_row(table.file, row, problems, extra_areas)
        if setting is not None:
            settings.append(setting)
    return settings, problems
