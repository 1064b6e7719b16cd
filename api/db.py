"""Persistence for the HTTP API: SQLAlchemy 2 models, the engine and the session dependency.

SQLite by default (a ``sendmatch.db`` file in the working directory, nothing to install) so an
LA officer can try the service on a laptop; ``DATABASE_URL`` points it at PostgreSQL for a
shared deployment. The schema is made and kept up to date by the Alembic migrations in
``api/migrations`` (:meth:`Database.migrate`, run when the app starts), so a deployment's data
survives an upgrade of sendmatch.

Two tables are records of what people did and are never rewritten: ``decisions`` (panel
decisions, the legal record of why a child was named a setting) and ``child_reads`` (who looked
at which child). The ORM refuses to update or delete their rows, and triggers in the database
(SQLite and PostgreSQL alike) refuse it too, so a bug elsewhere, or a hand-typed SQL statement,
cannot quietly rewrite history.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.to_thread
import orjson
from anyio.lowlevel import RunVar
from fastapi import Request
from sqlalchemy import (
    JSON,
    Connection,
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
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

DEFAULT_DATABASE_URL = "sqlite:///sendmatch.db"
MIGRATIONS = Path(__file__).parent / "migrations"
#: The first migration: the schema that ``create_all`` made before there were migrations.
BASELINE_REVISION = "0001"
#: SQLite waits this long (seconds) for another writer before giving up with "database is
#: locked": writers queue behind a run saving its results rather than fail.
SQLITE_BUSY_TIMEOUT = 30.0
#: Requests that may use the database at once in one server process (see :func:`get_session`);
#: more wait, holding neither a thread nor a connection. AnyIO's thread pool, where FastAPI
#: runs the endpoints, has 40 threads, so more sessions than that would only wait for a thread.
REQUEST_SESSIONS = 40
#: Connections kept beyond the requests' for the server's own threads: the read-audit writer
#: (:mod:`api.child_reads`), the launcher marking a lost run failed, and, when runs work in the
#: server's threads (an in-memory database), each run's bookkeeping and heartbeat.
BACKGROUND_CONNECTIONS = 10
#: Seconds a thread waits for a free connection before its request fails; with the sizes
#: above only a leak could make one wait at all.
POOL_TIMEOUT_S = 30.0

log = logging.getLogger(__name__)


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
    FORECAST = "forecast"  # demand forecast from its own files (``RunInput``), no caseload needed


class Base(DeclarativeBase):
    pass


class User(Base):
    """An account. Usernames are unique regardless of case (an index on ``lower(username)``):
    ``pm2`` and ``PM2`` would be two people no audit trail reader could tell apart."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


Index("uq_users_username_lower", func.lower(User.username), unique=True)


class Token(Base):
    """A login session; only the token's SHA-256 is stored, so a copied database logs no one in."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set by logging out or by an administrator disabling the user; the row stays as a record.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

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
    """A background computation, on a caseload but for a forecast (which brings its own files and
    names a caseload only to set demand against its settings); results become visible only when
    it is done."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="placement")
    status: Mapped[str] = mapped_column(String(10), default=RunStatus.QUEUED.value)
    caseload_id: Mapped[int | None] = mapped_column(ForeignKey("caseloads.id"), index=True)
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
    # Last sign of life from the process working on the run: with several server processes on
    # one database, a run is only known dead when its heartbeat stops, not when a server starts.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A run's own input file beyond the caseload (a scenario file, a fair access history), as sent.
    input_name: Mapped[str | None] = mapped_column(String(255))
    input_data: Mapped[bytes | None] = mapped_column(LargeBinary)

    starter: Mapped[User] = relationship()


class RunInput(Base):
    """A file a run reads beyond its caseload, kept exactly as uploaded (a forecast's yearly
    caseload files, population and costs), so the run re-reads what was checked at upload.

    Yearly caseload files are children's records: like a caseload's files they are stored, read
    by the run, and never sent back by any endpoint.
    """

    __tablename__ = "run_inputs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # what the file is to the run, e.g. "history"
    name: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RunOutput(Base):
    """A file a run wrote for people to download (a forecast's spreadsheet and witan.send's
    CSV files), written as the run finishes: every download is then the same file, made on
    the run's day, and costs a read rather than the run's work again. LA-wide counts only.

    Kept apart from ``runs`` so that listing runs never reads these bytes.
    """

    __tablename__ = "run_outputs"
    __table_args__ = (UniqueConstraint("run_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    name: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)


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
    # A DecisionOutcome value; NULL for decisions recorded without one (before migration 0008,
    # or sent without one): the setting named stands, the kind of decision was not recorded.
    outcome: Mapped[str | None] = mapped_column(String(20))

    decider: Mapped[User] = relationship()


class DecisionOutcome(StrEnum):
    """What kind of decision the panel made for a child."""

    AGREE = "agree"  # name the proposed setting
    NAME_OTHER = "name_other"  # name another setting
    DEFER = "defer"  # no decision yet: the panel needs more (reasons say what)
    REFUSE = "refuse"  # name no setting


class DecisionDraft(Base):
    """What a panel member has typed for a child's decision but not yet recorded.

    Kept in the database, not the browser or the session, so that a draft survives signing out
    and a session's end; one per member, run and child, rewritten on every step and deleted
    when the decision is recorded. A working note, not a record: never audited or kept.
    """

    __tablename__ = "decision_drafts"
    __table_args__ = (UniqueConstraint("user_id", "run_id", "child_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    child_id: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(20))
    setting_urn: Mapped[str | None] = mapped_column(String(20))
    reasons: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


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


class AppendOnlyError(RuntimeError):
    """An attempt to change or remove a decision or an audit row: always a bug."""


@event.listens_for(Session, "before_flush")
def _refuse_rewrites(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, APPEND_ONLY) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(f"{type(obj).__tablename__} rows are never changed or deleted")


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection. Write-ahead logging lets panel
    # members read lists while a run saves 25,000 results (the rollback journal would make
    # every reader wait for that write); it is a property of the file, so setting it again is
    # a no-op, and an in-memory database simply keeps its own journal.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class SchemaMismatchError(RuntimeError):
    """A database whose tables sendmatch did not make, or made in a version it cannot upgrade."""


def json_text(value: Any) -> str:
    """A JSON column's text, by orjson: a 25,000-child run's results are some 240 MB of JSON,
    which the standard library takes seconds to write inside the run's final transaction.

    Keys that are not text (a year's number) become text, as the standard library makes them.
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Database:
    """An engine and its session factory: one per app, so tests can each use their own file.

    The connection pool holds at most ``REQUEST_SESSIONS + BACKGROUND_CONNECTIONS`` (50)
    connections, opened as they are first needed and then kept. :func:`get_session` lets at
    most ``REQUEST_SESSIONS`` requests hold a session at once, so the server's own threads
    always find a connection free (the read audit cannot starve behind readers) and no request
    thread ever waits for one: a request holds its connection from its first query to its end,
    also while it waits for a thread, so without the limit 40 threads could all wait for
    connections held by requests waiting for those threads. Each run's process has an engine
    of its own and uses two connections (its work and its heartbeat). On PostgreSQL, allow 50
    connections per server process and 2 per run working at once (``max_connections``).
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        connect_args: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            # Requests and background tasks run in FastAPI's thread pool.
            connect_args["check_same_thread"] = False
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT
        self.engine: Engine = create_engine(
            self.url,
            connect_args=connect_args,
            json_serializer=json_text,
            json_deserializer=orjson.loads,
            **_pool_options(self.url),
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_foreign_keys)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Per event loop: an AnyIO semaphore belongs to the loop it first waited in.
        self._request_sessions: RunVar[anyio.Semaphore] = RunVar("sendmatch_request_sessions")

    def request_sessions(self) -> anyio.Semaphore:
        """The running event loop's limit on requests holding a session (:func:`get_session`)."""
        try:
            return self._request_sessions.get()
        except LookupError:
            limit = anyio.Semaphore(REQUEST_SESSIONS)
            self._request_sessions.set(limit)
            return limit

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the Alembic migrations (idempotent).

        Several server processes may start at once on one database, so they take turns (a
        PostgreSQL advisory lock, SQLite's write lock) and the later ones find nothing left to
        do. Both databases have transactional DDL, so a migration that fails leaves nothing
        half done. A database made by ``create_all`` before there were migrations is adopted
        (see :func:`adopt_unversioned`).
        """
        from alembic import command

        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            elif connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            config = alembic_config(connection)
            adopt_unversioned(connection)
            command.upgrade(config, revision)

    def downgrade(self, revision: str = "base") -> None:
        """Undo migrations down to ``revision``; ``base`` drops every table sendmatch made."""
        from alembic import command

        with self.engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(connection: Connection) -> Any:
    """Alembic's configuration, built in code: an installed sendmatch has no ``alembic.ini``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def adopt_unversioned(connection: Connection) -> None:
    """Stamp a database made by ``create_all`` (before migrations) so that it can be upgraded.

    Such a database has sendmatch's tables but no migration revision. If its tables and
    columns are exactly those of the baseline revision (what ``create_all`` made then), it gets
    the append-only triggers the old code did not make on PostgreSQL and is stamped at the
    baseline; the upgrade then carries it forward like any other. Anything else is refused with
    the differences named: guessing which program made a database risks its data.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    found = _columns_by_table(connection)
    found.pop("alembic_version", None)  # left empty by a downgrade to base
    if MigrationContext.configure(connection).get_current_revision() is not None:
        return
    if not set(found) & set(Base.metadata.tables):
        return
    expected = _baseline_columns()
    if found != expected:
        raise SchemaMismatchError(
            f"the database at {connection.engine.url.render_as_string(hide_password=True)} has "
            "tables but no migration history, and they are not those of sendmatch's first "
            f"schema ({_differences(found, expected)}). It was made by another program or an "
            "early sendmatch: back it up, then point DATABASE_URL at an empty database or bring "
            "its tables to the first schema by hand."
        )
    config = alembic_config(connection)
    baseline = ScriptDirectory.from_config(config).get_revision(BASELINE_REVISION)
    assert baseline is not None and baseline.module is not None
    for statement in baseline.module.append_only_triggers(connection.dialect.name):
        connection.execute(text(statement))
    command.stamp(config, BASELINE_REVISION)
    log.warning(
        "database made before migrations: its tables match revision %s, so it was stamped at "
        "that revision and will be upgraded from there",
        BASELINE_REVISION,
    )


def _columns_by_table(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}


def _baseline_columns() -> dict[str, set[str]]:
    """The baseline revision's tables and columns, read from a scratch in-memory database."""
    from alembic import command

    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as connection:
            command.upgrade(alembic_config(connection), BASELINE_REVISION)
            columns = _columns_by_table(connection)
    finally:
        scratch.dispose()
    del columns["alembic_version"]
    return columns


def _differences(found: dict[str, set[str]], expected: dict[str, set[str]]) -> str:
    notes = [f"unknown table {t}" for t in sorted(found.keys() - expected.keys())]
    for table in sorted(found.keys() & expected.keys()):
        notes += [f"no column {table}.{c}" for c in sorted(expected[table] - found[table])]
        notes += [f"unknown column {table}.{c}" for c in sorted(found[table] - expected[table])]
    notes += [f"no table {t}" for t in sorted(expected.keys() - found.keys())]
    return "; ".join(notes[:12]) + ("; ..." if len(notes) > 12 else "")


def ordered_write_key(name: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for ``name`` (collisions only queue)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_MIGRATION_LOCK = ordered_write_key("sendmatch:migrations")


def begin_ordered_write(session: Session, history: str) -> datetime:
    """Take the database's write lock for one record history; return the time to stamp on it.

    An append-only history (a child's panel decisions) is read in ``id`` order, and its times
    must run forward in that order however many server processes write to it. So the lock is
    the database's, not a process's, and the time is read after it is held, in the same
    transaction as the insert: PostgreSQL holds an advisory lock per history until commit and
    its ``clock_timestamp()`` gives the time; SQLite's ``BEGIN IMMEDIATE`` takes the one write
    lock for the whole file, across processes, and the time comes from this machine's clock
    (the same machine: SQLite files are not shared between hosts).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ordered_write_key(history))))
        now = session.scalar(select(func.clock_timestamp()))
        assert now is not None
        return now.astimezone(UTC)
    if dialect == "sqlite":
        # Earlier reads in this session ran outside a transaction (pysqlite only opens one for
        # a write), so this BEGIN is the transaction's start, and commit ends it.
        connection = session.connection()
        if connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            raise RuntimeError("begin_ordered_write must come before the transaction's writes")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return utcnow()
    raise NotImplementedError(f"ordered writes are not implemented for {dialect}")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: a session per request, rolled back if the request fails.

    A request holds one connection from its first query until it ends, so the number of
    requests with a session is what must fit in the pool: past ``REQUEST_SESSIONS`` a request
    waits here, in the event loop, before it has a thread or a connection, in arrival order.
    Routes declare it with ``scope="function"``: the session, its connection and its slot are
    given back as soon as the route returns, not after the background task a run's start
    leaves behind (which lasts as long as the run).
    """
    database: Database = request.app.state.db
    async with database.request_sessions():
        session = database.sessions()
        try:
            yield session
        finally:
            # Closing returns the connection (a rollback): I/O, so off the event loop, in a
            # thread outside the request pool's limit, as FastAPI closes sync dependencies.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))


def _pool_options(url: str) -> dict[str, Any]:
    """The connection pool's size for a database that has a pool of connections (every one
    but an in-memory SQLite database, which keeps one connection per thread)."""
    parsed = make_url(url)
    dialect = cast(type[DefaultDialect], parsed.get_dialect())
    if not issubclass(dialect.get_pool_class(parsed), QueuePool):
        return {}
    return {
        "pool_size": REQUEST_SESSIONS + BACKGROUND_CONNECTIONS,
        "max_overflow": 0,
        "pool_timeout": POOL_TIMEOUT_S,
    }
