"""Cell text to values, each parser raising ValueError with a message fit for the user.

The people who make input files are SEND officers working in Excel, so the parsers are
forgiving about form (``Y7`` or ``7``, ``yes`` or ``TRUE``, UK or ISO dates, ``£55,000``) and
plain about what is wrong. They are pure functions of the text: the columnar loaders
(:mod:`matcher.caseload_columns`) parse each distinct text of a column once and share the
result between rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from matcher.models import PlacementKind, Requirement, SettingType, Sex, SexAdmitted
from matcher.needs import PrimaryNeed, parse_need

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


def normalise_column(name: str) -> str:
    """``" Child ID "`` and ``"child-id"`` both mean ``child_id``: users retype headers."""
    return "_".join(name.strip().lower().replace("-", " ").split())


_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}


def parse_bool(text: str) -> bool:
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes or no")


def parse_int(text: str) -> int:
    cleaned = text.replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(value)


def parse_pounds(text: str) -> int:
    """Money to the nearest pound: '£55,000', '55000' and '55000.00' all read as 55000."""
    cleaned = text.replace("£", "").replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an amount in pounds") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not an amount in pounds")
    return round(value)


def parse_float(text: str) -> float:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a number")
    return value


_NC_YEAR_NAMES = {"R": 0, "RECEPTION": 0, "N1": -2, "N2": -1, "NURSERY 1": -2, "NURSERY 2": -1}
_NC_YEAR_NUMBER = re.compile(r"^(?:Y|YR|YEAR)?\s*(-?\d+)$")


def parse_nc_year(text: str) -> int:
    """NC year from 'R', 'N1', 'N2', '7', 'Y7' or 'Year 7' (range is checked by the model)."""
    key = " ".join(text.strip().upper().split())
    if key in _NC_YEAR_NAMES:
        return _NC_YEAR_NAMES[key]
    match = _NC_YEAR_NUMBER.match(key)
    if match:
        return int(match.group(1))
    raise ValueError(f"{text!r} is not an NC year; use N1, N2, R, or a year such as 7 or Y7")


def parse_date(text: str) -> date:
    """ISO (2014-03-05), or UK day-first (05/03/2014) as Excel writes dates into UK CSVs."""
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date; use 2014-03-05 or 05/03/2014")


def enum_parser(enum: type[E], aliases: Mapping[str, E] | None = None) -> Callable[[str], E]:
    """Case- and spacing-insensitive enum values ('Wheelchair access' → wheelchair_access)."""
    table: dict[str, E] = {normalise_column(m.value): m for m in enum}
    table.update({normalise_column(k): v for k, v in (aliases or {}).items()})

    def parse(text: str) -> E:
        key = normalise_column(text)
        if key in table:
            return table[key]
        raise ValueError(f"{text!r} is not one of: {', '.join(m.value for m in enum)}")

    return parse


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def list_parser(item: Callable[[str], T]) -> Callable[[str], list[T]]:
    def parse(text: str) -> list[T]:
        values, errors = [], []
        for part in _split(text):
            try:
                values.append(item(part))
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("; ".join(errors))
        return values

    return parse


def parse_needs(text: str) -> frozenset[PrimaryNeed]:
    try:
        return frozenset(list_parser(parse_need)(text))
    except ValueError as exc:
        hint = " (separate several needs with ';')" if "," in text and ";" not in text else ""
        raise ValueError(f"{exc}{hint}") from None


_URN_SEPARATORS = re.compile(r"[;,]")


def parse_urns(text: str) -> list[str]:
    # URNs never contain commas, so accept either separator: a comma here is a common slip.
    return [part.strip() for part in _URN_SEPARATORS.split(text) if part.strip()]


def parse_year_map(text: str) -> dict[int, int]:
    """'7:30;8:28' (NC year : number) → {7: 30, 8: 28}."""
    result: dict[int, int] = {}
    for part in _split(text):
        pieces = [p.strip() for p in part.split(":")]
        if len(pieces) == 3 and pieces[2] == "00":  # Excel wrote 7:30 back out as 07:30:00
            pieces = pieces[:2]
        if len(pieces) != 2 or not pieces[0] or not pieces[1]:
            raise ValueError(f"{part!r} should be NC year:number, for example 7:30")
        year = parse_nc_year(pieces[0].lstrip("0") or "0")
        if year in result:
            raise ValueError(f"NC year {pieces[0]} is given twice")
        result[year] = parse_int(pieces[1])
    return result


parse_sex = enum_parser(Sex, {"female": Sex.FEMALE, "male": Sex.MALE, "unknown": Sex.UNKNOWN})
parse_sex_admitted = enum_parser(
    SexAdmitted,
    {"boys": SexAdmitted.BOYS, "girls": SexAdmitted.GIRLS, "not applicable": SexAdmitted.MIXED},
)
parse_setting_type = enum_parser(
    SettingType,
    {
        "nmss": SettingType.NON_MAINTAINED_SPECIAL,
        "iss": SettingType.INDEPENDENT_SPECIAL,
        "independent": SettingType.INDEPENDENT_SPECIAL,
        "ap": SettingType.ALTERNATIVE_PROVISION,
        "pru": SettingType.ALTERNATIVE_PROVISION,
        "fe": SettingType.FURTHER_EDUCATION,
        "spi": SettingType.SPECIALIST_POST16,
    },
)
parse_placement_kind = enum_parser(
    PlacementKind,
    {
        "rp": PlacementKind.RESOURCED_PROVISION,
        "sen unit": PlacementKind.RESOURCED_PROVISION,
        "ap": PlacementKind.ALTERNATIVE_PROVISION,
    },
)
parse_requirement = enum_parser(Requirement, {"wheelchair": Requirement.WHEELCHAIR_ACCESS})


def plain_error(err: Mapping[str, Any]) -> str:
    """A pydantic error in the words an SEND officer would use."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "missing":
        return "required but blank"
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    if kind == "greater_than_equal":
        return f"must be {number_text(ctx['ge'])} or more (got {number_text(got)})"
    if kind == "less_than_equal":
        return f"must be {number_text(ctx['le'])} or less (got {number_text(got)})"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']} (got {got})"
    if kind == "less_than":
        return f"must be less than {ctx['lt']} (got {got})"
    if kind == "string_too_short":
        return "must not be blank"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long"
    if kind == "enum":
        return f"{got!r} is not one of: {ctx.get('expected', '')}"
    return str(err["msg"])


def number_text(value: object) -> object:
    """10000 as 10,000 and 10**30 as 1e+30: a limit and a typo both read at a glance."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if abs(value) >= 10**12:
        return f"{value:.3g}"
    return f"{value:,}" if abs(value) >= 10_000 else value


#: ``;``-separated lists of requirements and of kinds of place (one parser each, so that a
#: column's texts can be parsed once and shared: see :mod:`matcher.caseload_columns`).
parse_requirements = list_parser(parse_requirement)
parse_placement_kinds = list_parser(parse_placement_kind)
