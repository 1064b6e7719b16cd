"""Children and settings written back out in the documented input format of :mod:`matcher.io`.

Why: generated or imported data (the demo's synthetic LA, a GIAS import) should reach the
solver the way an LA's own files do, through ``sendmatch place`` and its checks, and an officer
should be able to open the files in Excel, see what a good input looks like, and edit it. So
these writers produce exactly the columns and cell formats that :func:`matcher.io.load_children`
and :func:`matcher.io.load_settings` read, and reading a written file gives back equal models
(``tests/test_default_la.py`` checks the round trip).

Locations are written as latitude/longitude with Python's shortest round-trip float text, so
nothing is lost; round coordinates before writing if shorter cells matter.

Text that a spreadsheet would run as a formula (an id or a name starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is written with a leading ``'``, as in every CSV
sendmatch writes (:func:`matcher.io.neutralise_formula`); the reader drops that apostrophe
again, so a written file still reads back to equal models.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path

from matcher.io import atomic_path, neutralise_formula
from matcher.models import Child, ProvisionKind, Setting

CHILD_WRITE_COLUMNS: tuple[str, ...] = (
    "child_id",
    "nc_year",
    "sex",
    "latitude",
    "longitude",
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
)

SETTING_WRITE_COLUMNS: tuple[str, ...] = (
    "urn",
    "name",
    "setting_type",
    "la_code",
    "latitude",
    "longitude",
    "low_age",
    "high_age",
    "sex_admitted",
    "designated_needs",
    "facilities",
    "total_places",
    "on_roll",
    "year_places",
    "year_on_roll",
    "rp_needs",
    "rp_places",
    "rp_on_roll",
    "unit_needs",
    "unit_places",
    "unit_on_roll",
    "annual_fee",
    "top_up",
)

_PROVISION_PREFIX = {ProvisionKind.RESOURCED_PROVISION: "rp", ProvisionKind.SEN_UNIT: "unit"}
_NC_YEAR_TEXT = {-2: "N1", -1: "N2", 0: "R"}


def nc_year_text(nc_year: int) -> str:
    """NC year as an officer writes it: ``N1``, ``N2``, ``R``, then ``1`` to ``20``."""
    return _NC_YEAR_TEXT.get(nc_year, str(nc_year))


def _listed(values: Iterable[StrEnum | str]) -> str:
    """A ``;``-separated cell, sorted so that the same set always gives the same text."""
    return ";".join(sorted(str(v) for v in values))


def _year_map(values: Mapping[int, int]) -> str:
    return ";".join(f"{nc_year_text(year)}:{n}" for year, n in sorted(values.items()))


def _optional(value: object) -> str:
    return "" if value is None else str(value)


def child_row(child: Child) -> dict[str, str]:
    """One child as cells of :data:`CHILD_WRITE_COLUMNS` (blank = not given)."""
    return {
        "child_id": child.child_id,
        "nc_year": nc_year_text(child.nc_year),
        "sex": child.sex.value,
        "latitude": repr(child.home.latitude),
        "longitude": repr(child.home.longitude),
        "home_la_code": _optional(child.home_la_code),
        "primary_need": child.primary_need.value,
        "secondary_needs": _listed(child.secondary_needs),
        "has_ehcp": "yes" if child.has_ehcp else "no",
        "current_setting": _optional(child.current_setting),
        "preferences": ";".join(child.preferences),  # rank order, never sorted
        "sibling_group": _optional(child.sibling_group),
        "requirements": _listed(child.requirements),
        # An empty set means "the default for the need" to the reader, as it does to the model.
        "suitable_kinds": _listed(child.suitable_kinds or ()),
        "top_up_band": _optional(child.top_up_band),
    }


def setting_row(setting: Setting) -> dict[str, str]:
    """One setting as cells of :data:`SETTING_WRITE_COLUMNS` (blank = not given).

    Raises
    ------
    ValueError
        If the setting has two provisions of the same kind: the file format has one set of
        ``rp_…`` and one of ``unit_…`` columns.
    """
    row = {
        "urn": setting.urn,
        "name": setting.name,
        "setting_type": setting.setting_type.value,
        "la_code": _optional(setting.la_code),
        "latitude": repr(setting.location.latitude),
        "longitude": repr(setting.location.longitude),
        "low_age": str(setting.low_age),
        "high_age": str(setting.high_age),
        "sex_admitted": setting.sex_admitted.value,
        "designated_needs": _listed(setting.designated_needs),
        "facilities": _listed(setting.facilities),
        "total_places": str(setting.total_places),
        "on_roll": str(setting.on_roll),
        "year_places": _year_map(setting.year_places),
        "year_on_roll": _year_map(setting.year_on_roll),
        "annual_fee": _optional(setting.annual_fee),
        "top_up": _optional(setting.top_up),
    }
    for prefix in _PROVISION_PREFIX.values():
        row.update({f"{prefix}_needs": "", f"{prefix}_places": "", f"{prefix}_on_roll": ""})
    seen: set[ProvisionKind] = set()
    for provision in setting.provisions:
        if provision.kind in seen:
            raise ValueError(
                f"setting {setting.urn} has two {provision.kind.value} provisions; the input "
                "format holds one of each kind"
            )
        seen.add(provision.kind)
        prefix = _PROVISION_PREFIX[provision.kind]
        row[f"{prefix}_needs"] = _listed(provision.designated_needs)
        row[f"{prefix}_places"] = str(provision.places)
        row[f"{prefix}_on_roll"] = str(provision.on_roll)
    return row


def _write(path: Path | str, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    # UTF-8 with a byte-order mark, as the placement output: Excel then shows names correctly.
    # Written in one step, so that a failed run never leaves half a caseload behind.
    target = Path(path)
    if target.suffix.lower() != ".csv":
        raise ValueError(f"{target.name}: input files are written as .csv")
    with atomic_path(target) as tmp, tmp.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows({k: neutralise_formula(v) for k, v in row.items()} for row in rows)


def write_children(children: Iterable[Child], path: Path | str) -> None:
    """Write a caseload CSV that :func:`matcher.io.load_children` reads back to equal children."""
    _write(path, CHILD_WRITE_COLUMNS, (child_row(c) for c in children))


def write_settings(settings: Iterable[Setting], path: Path | str) -> None:
    """Write a settings CSV that :func:`matcher.io.load_settings` reads back to equal settings."""
    _write(path, SETTING_WRITE_COLUMNS, (setting_row(s) for s in settings))
