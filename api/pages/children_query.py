"""What the children list shows: its filters read from the address, and one SQL query for them.

The list, its CSV/XLSX export and "all children matching this filter" in the panel pack are
the same query (:func:`children_select`) on the ``run_children`` index
(:mod:`api.children_index`), so what is exported is exactly what was shown, page by page.
A filter's value that is not one the list offers (a hand-edited address) is dropped and named
on the page, never an error: the officer still gets a list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, exists, func, literal, select
from sqlalchemy.orm import Session

from api.children_index import PHASES, RunChild
from api.db import Decision, DecisionOutcome
from matcher.models import MAX_NC_YEAR, MIN_NC_YEAR, PlacementKind
from matcher.needs import NEED_DESCRIPTIONS, PrimaryNeed

#: Children a page of the list shows.
PAGE_SIZE = 50
#: Longest search text kept: a child id is at most 64 characters.
MAX_SEARCH = 64

KIND_NAMES = {
    PlacementKind.MAINSTREAM.value: "Mainstream",
    PlacementKind.RESOURCED_PROVISION.value: "Resourced provision",
    PlacementKind.SPECIAL.value: "Special school",
    PlacementKind.INDEPENDENT.value: "Independent or non-maintained",
    PlacementKind.ALTERNATIVE_PROVISION.value: "Alternative provision",
}
PHASE_NAMES = {
    "early_years": "Early years",
    "primary": "Primary",
    "secondary": "Secondary",
    "post_16": "Post-16",
    "post_19": "Post-19",
}
PLACED_NAMES = {"placed": "Placed", "unplaced": "Not placed"}
PREFERENCE_NAMES = {
    "yes": "A parental preference met",
    "no": "No parental preference met",
    "none": "No preferences expressed",
}
#: Decision status: the latest decision's outcome; "none" when there is no decision yet and
#: "unrecorded" for a decision recorded without its kind (before outcomes existed).
DECISION_NAMES = {
    "none": "No decision yet",
    DecisionOutcome.AGREE.value: "Proposed setting agreed",
    DecisionOutcome.NAME_OTHER.value: "Another setting named",
    DecisionOutcome.DEFER.value: "Deferred",
    DecisionOutcome.REFUSE.value: "No setting named",
    "unrecorded": "Decided (kind not recorded)",
}
NEED_NAMES = {n.value: f"{n.value}: {NEED_DESCRIPTIONS[n]}" for n in PrimaryNeed}


def year_name(nc_year: int | None) -> str:
    if nc_year is None:
        return "Not recorded"
    if nc_year < 0:
        return f"Nursery {nc_year + 3}"
    return "Reception" if nc_year == 0 else f"Year {nc_year}"


@dataclass(frozen=True)
class Column:
    """A column of the list: its heading, and the SQL it sorts by."""

    key: str
    heading: str
    numeric: bool = False


COLUMNS = (
    Column("child", "Child"),
    Column("need", "Primary need"),
    Column("year", "NC year", numeric=True),
    Column("phase", "Phase"),
    Column("kind", "Kind of place"),
    Column("setting", "Proposed setting"),
    Column("preference", "Parents' preference met"),
    Column("minutes", "Journey (minutes)", numeric=True),
    Column("cost", "Annual cost", numeric=True),
    Column("decision", "Decision"),
)
SORT_KEYS = {c.key for c in COLUMNS}

#: Filters: the address's name for each, and the values it may take.
FILTER_CHOICES: dict[str, Mapping[str, str]] = {
    "need": NEED_NAMES,
    "phase": PHASE_NAMES,
    "kind": KIND_NAMES,
    "placed": PLACED_NAMES,
    "preference": PREFERENCE_NAMES,
    "decision": DECISION_NAMES,
}
FILTER_LABELS = {
    "q": "Child id contains",
    "need": "Primary need",
    "year": "NC year",
    "phase": "Phase",
    "kind": "Kind of place",
    "setting": "Setting",
    "placed": "Placed or not",
    "preference": "Parents' preference",
    "decision": "Decision",
}


@dataclass(frozen=True)
class ChildFilters:
    """The list's state, all of it in the address so a page can be bookmarked and shared."""

    q: str = ""
    need: str = ""
    year: str = ""
    phase: str = ""
    kind: str = ""
    setting: str = ""
    placed: str = ""
    preference: str = ""
    decision: str = ""
    sort: str = "child"
    order: str = "asc"
    page: int = 1
    #: Address values that were not valid and so were not applied (for the page to say).
    dropped: tuple[str, ...] = field(default=(), compare=False)

    def active(self) -> list[tuple[str, str]]:
        """(filter name, value) of every filter in use, search first."""
        names = ("q", "need", "year", "phase", "kind", "setting", "placed", "preference")
        return [(n, getattr(self, n)) for n in (*names, "decision") if getattr(self, n)]

    def query(self, **changes: Any) -> str:
        """This state's address query, with ``changes`` (page 1 unless a page is given)."""
        state = replace(self, **{"page": 1, **changes})
        params: dict[str, Any] = {n: v for n, v in state.active()}
        if state.sort != "child" or state.order != "asc":
            params |= {"sort": state.sort, "order": state.order}
        if state.page > 1:
            params["page"] = state.page
        return urlencode(params)

    def without(self, name: str) -> str:
        return self.query(**{name: ""})


def read_filters(
    params: Mapping[str, str], setting_urns: Sequence[str] | None = None
) -> ChildFilters:
    """The list's state from the address; invalid values are dropped and named in ``dropped``."""
    dropped: list[str] = []
    values: dict[str, Any] = {}
    q = params.get("q", "").strip()
    values["q"] = q[:MAX_SEARCH]
    for name, choices in FILTER_CHOICES.items():
        value = params.get(name, "")
        if value and value not in choices:
            dropped.append(FILTER_LABELS[name])
            value = ""
        values[name] = value
    year = params.get("year", "").strip()
    if year and not (_is_int(year) and MIN_NC_YEAR <= int(year) <= MAX_NC_YEAR):
        dropped.append(FILTER_LABELS["year"])
        year = ""
    values["year"] = year
    setting = params.get("setting", "").strip()
    if setting and setting_urns is not None and setting not in setting_urns:
        dropped.append(FILTER_LABELS["setting"])
        setting = ""
    values["setting"] = setting
    sort = params.get("sort", "child")
    values["sort"] = sort if sort in SORT_KEYS else "child"
    order = params.get("order", "asc")
    values["order"] = order if order in ("asc", "desc") else "asc"
    page = params.get("page", "1")
    values["page"] = max(int(page), 1) if _is_int(page) and len(page) < 9 else 1
    return ChildFilters(**values, dropped=tuple(dropped))


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


# --------------------------------------------------------------------------------------------
# The query


def decision_status(run_id: int) -> ColumnElement[str]:
    """A child's decision status: its latest decision's outcome ("unrecorded" when that decision
    has none), or "none". A lookup per child on the decisions' (run, child, id) index."""
    latest = (
        select(func.coalesce(Decision.outcome, literal("unrecorded")))
        .where(Decision.run_id == run_id, Decision.child_id == RunChild.child_id)
        .order_by(Decision.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest, literal("none"))


def _decided(run_id: int, status: str) -> ColumnElement[bool]:
    """The run's children whose decision status is ``status``."""
    if status == "none":
        return ~exists().where(Decision.run_id == run_id, Decision.child_id == RunChild.child_id)
    latest = (
        select(func.max(Decision.id)).where(Decision.run_id == run_id).group_by(Decision.child_id)
    )
    return RunChild.child_id.in_(
        select(Decision.child_id).where(
            Decision.id.in_(latest),
            func.coalesce(Decision.outcome, literal("unrecorded")) == status,
        )
    )


_SORT_SQL: dict[str, Any] = {
    "child": RunChild.child_id,
    "need": RunChild.primary_need,
    "year": RunChild.nc_year,
    "phase": RunChild.nc_year,
    "kind": RunChild.placement_kind,
    "setting": RunChild.setting_name,
    "preference": RunChild.preference_rank,
    "minutes": RunChild.travel_minutes,
    "cost": RunChild.annual_cost,
}


def _filtered(run_id: int, filters: ChildFilters, query: Select[Any]) -> Select[Any]:
    query = query.where(RunChild.run_id == run_id)
    for condition in _conditions(run_id, filters):
        query = query.where(condition)
    return query


def _ordered(run_id: int, filters: ChildFilters, query: Select[Any]) -> Select[Any]:
    key = decision_status(run_id) if filters.sort == "decision" else _SORT_SQL[filters.sort]
    if filters.setting or filters.decision not in ("", "none"):
        # A filter that keeps few children: read those by its index and sort them, rather than
        # walk the whole run in the sort's index order testing each (without statistics the
        # planner cannot tell). coalesce(x, x) is x, but no index gives its order.
        key = func.coalesce(key, key)
    ordered = key.desc() if filters.order == "desc" else key.asc()
    tie = RunChild.child_id.desc() if filters.order == "desc" else RunChild.child_id.asc()
    return query.order_by(ordered.nulls_last(), tie)


def children_select(run_id: int, filters: ChildFilters) -> Select[Any]:
    """Every child of the run the filters keep, with its decision status, in the chosen order
    (no page limit): what an export writes. Plain columns, not ORM objects: five times faster
    for a whole LA."""
    columns = [c for c in RunChild.__table__.columns if c.name not in ("run_id", "child_key")]
    query = select(*columns, decision_status(run_id).label("decision"))
    return _ordered(run_id, filters, _filtered(run_id, filters, query))


def _conditions(run_id: int, filters: ChildFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.q:
        pattern = "%" + _like_escape(filters.q.lower()) + "%"
        where.append(RunChild.child_key.like(pattern, escape="\\"))
    simple = {
        "need": RunChild.primary_need,
        "phase": RunChild.phase,
        "kind": RunChild.placement_kind,
        "setting": RunChild.setting_urn,
        "preference": RunChild.preference_met,
    }
    for name, column in simple.items():
        if getattr(filters, name):
            where.append(column == getattr(filters, name))
    if filters.year:
        where.append(RunChild.nc_year == int(filters.year))
    if filters.placed == "placed":
        where.append(RunChild.setting_urn.is_not(None))
    elif filters.placed == "unplaced":
        where.append(RunChild.setting_urn.is_(None))
    if filters.decision:
        where.append(_decided(run_id, filters.decision))
    return where


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def count_children(session: Session, run_id: int, filters: ChildFilters) -> int:
    query = _filtered(run_id, filters, select(func.count()).select_from(RunChild))
    return int(session.scalar(query) or 0)


def children_page(
    session: Session, run_id: int, filters: ChildFilters, offset: int, limit: int
) -> list[tuple[RunChild, str]]:
    """A page of the list; decision statuses are read for the page's children alone."""
    query = _ordered(run_id, filters, _filtered(run_id, filters, select(RunChild)))
    children = list(session.scalars(query.offset(offset).limit(limit)))
    ids = [c.child_id for c in children]
    found = session.execute(
        select(RunChild.child_id, decision_status(run_id)).where(
            RunChild.run_id == run_id, RunChild.child_id.in_(ids)
        )
    )
    statuses = {child_id: status for child_id, status in found}
    return [(c, statuses.get(c.child_id, "none")) for c in children]


def run_settings(session: Session, run_id: int) -> list[tuple[str, str]]:
    """(URN, name) of every setting a child of the run is proposed for, by name."""
    rows = session.execute(
        select(RunChild.setting_urn, RunChild.setting_name)
        .where(RunChild.run_id == run_id, RunChild.setting_urn.is_not(None))
        .distinct()
    )
    found = [(str(urn), str(name or urn)) for urn, name in rows]
    # Two settings of one name (two sites of a trust) are told apart by URN.
    seen = Counter(name for _, name in found)
    named = [(urn, f"{name} (URN {urn})" if seen[name] > 1 else name) for urn, name in found]
    return sorted(named, key=lambda s: (s[1].lower(), s[0]))


def run_years(session: Session, run_id: int) -> list[int]:
    rows = session.scalars(
        select(RunChild.nc_year)
        .where(RunChild.run_id == run_id, RunChild.nc_year.is_not(None))
        .distinct()
    )
    return sorted(y for y in rows if y is not None)


def phase_choices() -> list[str]:
    return [name for name, _ in PHASES]
