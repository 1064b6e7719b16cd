"""The children list's index: one narrow row per child of a placement run (table ``run_children``).

A run's results are one JSON document per child (``run_results``): right for opening one
child, wrong for a list that filters and sorts 60,000 of them, which would have to decode every
document on every page. So when a placement run's results are saved, each child's list fields
(need, NC year, phase, kind of place, setting, preference met, journey, cost) are also written
here as plain columns, and the children list is one indexed SQL query with ``LIMIT``.

The row is derived from the stored result alone (:func:`index_row`), so migration 0009 can
fill the table for runs saved before it with the same rule. The need and NC year are the
child's facts stored with the result (``result["child"]``, see :mod:`api.child_details`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.db import Base

#: Columns of ``run_children``, in the order of :func:`index_row`'s tuple.
INDEX_COLUMNS = (
    "run_id",
    "child_id",
    "child_key",
    "primary_need",
    "nc_year",
    "phase",
    "placement_kind",
    "setting_urn",
    "setting_name",
    "preference_rank",
    "preference_met",
    "travel_minutes",
    "annual_cost",
)

#: Phases by NC year, last year of each: N1/N2 early years, R to Y6 primary, Y7 to Y11
#: secondary, Y12 to Y14 post-16 (ages 16 to 18), then post-19 up to age 25.
PHASES: tuple[tuple[str, int], ...] = (
    ("early_years", -1),
    ("primary", 6),
    ("secondary", 11),
    ("post_16", 14),
    ("post_19", 20),
)


class RunChild(Base):
    """One child of a placement run, as the children list filters and sorts it."""

    __tablename__ = "run_children"
    __table_args__ = (
        Index("ix_run_children_setting", "run_id", "setting_urn", "setting_name"),
        Index("ix_run_children_need", "run_id", "primary_need", "nc_year"),
        Index("ix_run_children_key", "run_id", "child_key"),
        # The sorts a panel uses most, so a sorted page is read in order, not sorted whole.
        Index("ix_run_children_by_setting", "run_id", "setting_name", "child_id"),
        Index("ix_run_children_by_cost", "run_id", "annual_cost", "child_id"),
        Index("ix_run_children_by_minutes", "run_id", "travel_minutes", "child_id"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    child_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The id in lower case: a case-insensitive search that works alike on SQLite and PostgreSQL.
    child_key: Mapped[str] = mapped_column(String(100))
    primary_need: Mapped[str | None] = mapped_column(String(10))
    nc_year: Mapped[int | None] = mapped_column(Integer)
    phase: Mapped[str | None] = mapped_column(String(20))
    placement_kind: Mapped[str | None] = mapped_column(String(30))
    setting_urn: Mapped[str | None] = mapped_column(String(20))
    setting_name: Mapped[str | None] = mapped_column(String(255))
    preference_rank: Mapped[int | None] = mapped_column(Integer)
    # "yes": a parental preference is met; "no": none of them is; "none": none expressed.
    preference_met: Mapped[str] = mapped_column(String(4))
    travel_minutes: Mapped[float | None] = mapped_column(Float)
    annual_cost: Mapped[int] = mapped_column(Integer)


def phase_of(nc_year: int | None) -> str | None:
    if nc_year is None:
        return None
    return next((name for name, last in PHASES if nc_year <= last), PHASES[-1][0])


def index_row(run_id: int, child_id: str, result: Mapping[str, Any]) -> tuple[Any, ...]:
    """A ``run_children`` row (:data:`INDEX_COLUMNS` order) from a stored placement result."""
    rank = result.get("preference_rank")
    preferences = (result.get("tailored_list") or {}).get("preferences") or []
    met = "yes" if rank is not None else ("no" if preferences else "none")
    # The child's facts (``api.child_details``, stored as the run is saved), else top-level
    # keys: migration 0009 puts a caseload's need and year there for runs saved before.
    child = result.get("child") or result
    nc_year = child.get("nc_year")
    return (
        run_id,
        child_id,
        child_id.lower(),
        child.get("primary_need"),
        nc_year,
        phase_of(nc_year),
        result.get("placement_kind"),
        result.get("setting_urn"),
        result.get("setting_name"),
        rank,
        met,
        result.get("travel_minutes"),
        int(result.get("placement_cost") or 0) + int(result.get("transport_cost") or 0),
    )


def insert_sql(paramstyle: str) -> str:
    """The INSERT for the driver's own placeholders: rows go to it as plain tuples."""
    mark = "?" if paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO run_children ({', '.join(INDEX_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(INDEX_COLUMNS))})"
    )


def insert_children_index(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Index a placement run's saved results, in the caller's transaction: one executemany.

    Other kinds of run (fair access) store results of another shape and are not listed here.
    """
    if not rows or "tailored_list" not in rows[0]["result"]:
        return
    tuples = [index_row(r["run_id"], r["child_id"], r["result"]) for r in rows]
    connection = session.connection()
    connection.exec_driver_sql(insert_sql(connection.dialect.paramstyle), tuples)
