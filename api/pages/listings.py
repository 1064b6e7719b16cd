"""Lists of caseloads and runs, newest first, a page at a time: mine or everyone's.

The JSON API fetches one caseload or run by number; a person needs to find it first. These
queries read no file bytes and no results (a caseload's files and a run's outputs live in
columns or tables the lists never load), so a list page costs the same at any LA's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, load_only

from api.db import Caseload, Run

#: Rows on a page of a list.
PAGE_SIZE = 25
#: Caseloads offered when starting a run (newest first).
CHOICES = 50
#: Runs of one kind listed on their own start page (scenario comparisons, forecasts).
RECENT_OF_KIND = 20

Row = TypeVar("Row")


@dataclass(frozen=True)
class ListPage(Generic[Row]):
    """One page of a list, and where it sits in the whole."""

    rows: Sequence[Row]
    number: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def page_number(raw: str | None) -> int:
    """A page number from a query string: a bad or missing one is page 1, not an error."""
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def caseloads_page(session: Session, number: int, uploaded_by: int | None) -> ListPage[Caseload]:
    """A page of caseloads, newest first; ``uploaded_by`` a user's id for theirs alone."""
    where = [] if uploaded_by is None else [Caseload.uploaded_by == uploaded_by]
    total = session.scalar(select(func.count(Caseload.id)).where(*where)) or 0
    rows = session.scalars(
        select(Caseload)
        .options(
            load_only(
                Caseload.id,
                Caseload.children_name,
                Caseload.settings_name,
                Caseload.tariffs_name,
                Caseload.year_start,
                Caseload.n_children,
                Caseload.n_settings,
                Caseload.n_tariffs,
                Caseload.uploaded_by,
                Caseload.created_at,
            ),
            joinedload(Caseload.uploader),
        )
        .where(*where)
        .order_by(Caseload.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return ListPage(rows=rows, number=number, total=total)


def runs_page(session: Session, number: int, started_by: int | None) -> ListPage[Run]:
    """A page of runs of every kind, newest first; ``started_by`` a user's id for theirs."""
    where = [] if started_by is None else [Run.started_by == started_by]
    total = session.scalar(select(func.count(Run.id)).where(*where)) or 0
    rows = session.scalars(
        select(Run)
        .options(
            load_only(
                Run.id,
                Run.kind,
                Run.status,
                Run.caseload_id,
                Run.started_by,
                Run.created_at,
                Run.finished_at,
                Run.summary,
                Run.progress,
            ),
            joinedload(Run.starter),
        )
        .where(*where)
        .order_by(Run.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return ListPage(rows=rows, number=number, total=total)


def recent_caseloads(session: Session) -> Sequence[Caseload]:
    """The newest caseloads, to start a run on one of them."""
    return session.scalars(
        select(Caseload)
        .options(
            load_only(Caseload.id, Caseload.n_children, Caseload.created_at, Caseload.year_start)
        )
        .order_by(Caseload.id.desc())
        .limit(CHOICES)
    ).all()


def recent_runs_of_kind(session: Session, kind: str) -> list[Run]:
    """The newest runs of one kind, for the page that starts them; without their results."""
    return list(
        session.scalars(
            select(Run)
            .options(load_only(Run.id, Run.caseload_id, Run.status, Run.created_at, Run.options))
            .where(Run.kind == kind)
            .order_by(Run.id.desc())
            .limit(RECENT_OF_KIND)
        )
    )


def whose_list(
    show: str,
    raw_page: str | None,
    user_id: int,
    fetch: Callable[[int, int | None], ListPage[Row]],
    base: str,
) -> tuple[bool, ListPage[Row], dict[str, object] | None]:
    """Everyone's rows, or the user's own when ``show`` is "mine": whether they are the user's,
    the page asked for (``fetch(number, owner)``), and its pagination links under ``base``."""
    mine = show == "mine"
    found = fetch(page_number(raw_page), user_id if mine else None)
    return mine, found, pagination(found, f"{base}?show={'mine' if mine else 'all'}")


def pagination(page: ListPage[Any], link: str) -> dict[str, object] | None:
    """The GOV.UK pagination component's parameters for ``page`` (None for a single page);
    ``link`` is the list's address with its other choices, to which ``page=N`` is added."""
    if page.pages <= 1:
        return None
    joiner = "&" if "?" in link else "?"

    def href(n: int) -> str:
        return f"{link}{joiner}page={n}"

    shown = sorted({1, page.pages, page.number - 1, page.number, page.number + 1})
    items: list[dict[str, object]] = []
    last = 0
    for n in (n for n in shown if 1 <= n <= page.pages):
        if last and n - last > 1:
            items.append({"ellipsis": True})
        items.append({"number": n, "href": href(n), "current": n == page.number})
        last = n
    return {
        "previous": {"href": href(page.number - 1)} if page.number > 1 else None,
        "next": {"href": href(page.number + 1)} if page.number < page.pages else None,
        "items": items,
    }
