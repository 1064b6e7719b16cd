"""Persistence for the HTTP API: SQLAlchemy 2 models, the engine and the session dependency.

SQLite by default (a ``sendmatch.db`` file in the working directory, nothing to install) so an
LA officer can try the service on a laptop; ``DATABASE_URL`` points it at PostgreSQL for a
shared deployment. The schema is created with ``create_all`` on start; Alembic migrations are
the next step, before any deployment holds data worth keeping across schema changes.

Two tables are records of what people did and are never rewritten: ``decisions`` (panel
decisions, the legal record of why a child was named a setting) and ``child_reads`` (who looked
at which child). The ORM refuses to update or delete their rows, and on SQLite triggers refuse it
too, so a bug elsewhere cannot quietly rewrite history.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import (
    DDL,
    JSON,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

DEFAULT_DATABASE_URL = "sqlite:///sendmatch.db"


def utcnow() -> datetime:
    """Timezone-aware now: audit times must compare correctly across servers and seasons."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type and returns naive datetimes; without this, an expiry check
    would compare naive and aware times and fail on SQLite but not on PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(StrEnum):
    """Who a user is to the service; each endpoint names the roles it serves."""

    CASE_OFFICER = "case_officer"
    PANEL_MEMBER = "panel_member"
    PLANNER = "planner"
    ADMIN = "admin"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunKind(StrEnum):
    """What a run computes; each kind has its own input in ``Run.options`` / ``Run.input_data``."""

    PLACEMENT = "placement"  # batch placement plus every child's tailored list
    FAIR_ACCESS = "fair_access"  # in-year fair access panel options
    SCENARIO_COMPARE = "scenario_compare"  # capacity planning: base against scenario files


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Token(Base):
    """A login session; only the token's SHA-256 is stored, so a copied database logs no one in."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class Caseload(Base):
    """An uploaded round: the files exactly as validated, so a run re-reads what was checked.

    The files are kept as uploaded (CSV or XLSX bytes and their names) rather than converted,
    so that ``matcher.io.load_round`` reads them at run time exactly as it did at upload, with
    the same Excel cell handling and the same row numbers in any message.
    """

    __tablename__ = "caseloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    children_name: Mapped[str] = mapped_column(String(255))
    children_data: Mapped[bytes] = mapped_column(LargeBinary)
    settings_name: Mapped[str] = mapped_column(String(255))
    settings_data: Mapped[bytes] = mapped_column(LargeBinary)
    tariffs_name: Mapped[str | None] = mapped_column(String(255))
    tariffs_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    year_start: Mapped[date]
    n_children: Mapped[int]
    n_settings: Mapped[int]
    n_tariffs: Mapped[int]
    setting_urns: Mapped[list[str]] = mapped_column(JSON)  # to check decisions name a real one
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    uploader: Mapped[User] = relationship()


class Run(Base):
    """A background computation on a caseload; results become visible only when it is done."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="placement")
    status: Mapped[str] = mapped_column(String(10), default=RunStatus.QUEUED.value)
    caseload_id: Mapped[int] = mapped_column(ForeignKey("caseloads.id"), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # Progress for the web page and pollers: fraction done (0..1) and the stage being worked on.
    progress: Mapped[float] = mapped_column(default=0.0)
    stage: Mapped[str | None] = mapped_column(String(100))
    # Set by a cancel request; the worker checks it between stages and stops without results.
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # A run's own input file beyond the caseload (a scenario file, a fair access history), as sent.
    input_name: Mapped[str | None] = mapped_column(String(255))
    input_data: Mapped[bytes | None] = mapped_column(LargeBinary)

    starter: Mapped[User] = relationship()


class RunResult(Base):
    """One child's outcome in a run (a ``matcher.io.placement_records`` row as JSON).

    One row per child rather than one document per run, so reading a child's result in a
    25,000-child LA is an index lookup, not a parse of the whole round.
    """

    __tablename__ = "run_results"
    __table_args__ = (UniqueConstraint("run_id", "child_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    child_id: Mapped[str] = mapped_column(String(100))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class Decision(Base):
    """A panel decision: append-only, ordered by ``id``; a later one supersedes, never replaces."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_run_child", "run_id", "child_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    child_id: Mapped[str] = mapped_column(String(100))
    setting_urn: Mapped[str | None] = mapped_column(String(20))
    reasons: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    decider: Mapped[User] = relationship()


class ChildRead(Base):
    """Audit: who read which child's record in which run, and when."""

    __tablename__ = "child_reads"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    child_id: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


APPEND_ONLY: tuple[type[Base], ...] = (Decision, ChildRead)

for _model in APPEND_ONLY:
    _table = _model.__tablename__
    for _action in ("UPDATE", "DELETE"):
        event.listen(
            _model.__table__,
            "after_create",
            DDL(
                f"CREATE TRIGGER {_table}_no_{_action.lower()} BEFORE {_action} ON {_table} "
                f"BEGIN SELECT RAISE(ABORT, '{_table} is append-only'); END"
            ).execute_if(dialect="sqlite"),
        )


class AppendOnlyError(RuntimeError):
    """An attempt to change or remove a decision or an audit row: always a bug."""


@event.listens_for(Session, "before_flush")
def _refuse_rewrites(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, APPEND_ONLY) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(f"{type(obj).__tablename__} rows are never changed or deleted")


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """An engine and its session factory: one per app, so tests can each use their own file."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        connect_args: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            # Requests and background tasks run in FastAPI's thread pool.
            connect_args["check_same_thread"] = False
        self.engine: Engine = create_engine(self.url, connect_args=connect_args)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_foreign_keys)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: a session per request, rolled back if the request fails."""
    database: Database = request.app.state.db
    with database.sessions() as session:
        yield session
