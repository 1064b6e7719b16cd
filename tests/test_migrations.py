"""The Alembic migrations, on SQLite and on PostgreSQL (``empty_database_url`` runs each test on
both; see ``tests/api_client.py``).

What they must guarantee: upgrading an empty database gives exactly the schema the models
describe, with the append-only triggers; downgrading removes it all again; data survives an
upgrade; and a database made by ``create_all`` before there were migrations is adopted, while
one sendmatch did not make is refused with a message saying why.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.db import (
    BASELINE_REVISION,
    MIGRATIONS,
    Base,
    Caseload,
    Database,
    Run,
    SchemaMismatchError,
    Token,
    User,
    utcnow,
)
from matcher import cli

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def version(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def seed_history(engine: Engine) -> None:
    """A user, a caseload, a run, a decision and a child read: one row in each audit table.

    Written with plain inserts of the baseline revision's columns, not the ORM: the models
    describe the newest schema, which a database at an old revision does not have yet.
    """
    now = datetime.now(UTC)
    statements = [
        "INSERT INTO users (id, username, password_hash, role, active, created_at) "
        "VALUES (1, 'panel', 'x', 'panel_member', true, :now)",
        "INSERT INTO caseloads (id, children_name, children_data, settings_name, settings_data, "
        "year_start, n_children, n_settings, n_tariffs, setting_urns, uploaded_by, created_at) "
        "VALUES (1, 'c.csv', :empty, 's.csv', :empty, :year, 0, 0, 0, '[]', 1, :now)",
        "INSERT INTO runs (id, kind, status, caseload_id, options, started_by, created_at, "
        "progress, cancel_requested) VALUES (1, 'placement', 'queued', 1, '{}', 1, :now, 0, false)",
        "INSERT INTO decisions (run_id, child_id, reasons, decided_by, created_at) "
        "VALUES (1, 'C1', 'first', 1, :now)",
        "INSERT INTO child_reads (user_id, run_id, child_id, at) VALUES (1, 1, 'C1', :now)",
    ]
    values = {"now": now, "empty": b"", "year": date(2026, 9, 1)}
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), values)


def assert_append_only(engine: Engine) -> None:
    """Plain SQL cannot change or remove a decision or a child read: the database refuses."""
    statements = [
        "UPDATE decisions SET reasons = 'rewritten'",
        "DELETE FROM decisions",
        "UPDATE child_reads SET child_id = 'C2'",
        "DELETE FROM child_reads",
    ]
    if engine.dialect.name == "postgresql":
        statements += ["TRUNCATE decisions", "TRUNCATE child_reads"]
    for statement in statements:
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM decisions")) == 1
        assert connection.scalar(text("SELECT reasons FROM decisions")) == "first"
        assert connection.scalar(text("SELECT count(*) FROM child_reads")) == 1


def test_upgrade_from_empty_gives_exactly_the_models_schema(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    database.migrate()
    assert version(database.engine) == HEAD
    assert schema_differences(database.engine) == []
    seed_history(database.engine)
    assert_append_only(database.engine)
    database.migrate()  # a second start changes nothing
    assert version(database.engine) == HEAD
    database.dispose()


def test_downgrade_to_base_removes_every_table_and_trigger(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    database.migrate()
    database.downgrade("base")
    assert set(inspect(database.engine).get_table_names()) == {"alembic_version"}
    assert version(database.engine) is None
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as connection:
            functions = connection.scalar(
                text("SELECT count(*) FROM pg_proc WHERE proname = 'sendmatch_append_only'")
            )
        assert functions == 0
    # And back up again: the downgrade left nothing behind to collide with.
    database.migrate()
    assert schema_differences(database.engine) == []
    database.dispose()


def test_upgrade_keeps_the_data_of_an_older_revision(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    database.migrate(BASELINE_REVISION)
    assert "revoked_at" not in {c["name"] for c in inspect(database.engine).get_columns("tokens")}
    now = utcnow()
    with database.engine.begin() as connection:
        user_id = connection.scalar(
            insert(User)
            .values(
                username="officer",
                password_hash="h",
                role="case_officer",
                active=True,
                created_at=now,
            )
            .returning(User.id)
        )
        # Written in SQL: the Token model has a column this revision does not.
        connection.execute(
            text(
                "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) "
                "VALUES (:hash, :user, :now, :now)"
            ),
            {"hash": "a" * 64, "user": user_id, "now": now},
        )
    database.migrate()
    assert version(database.engine) == HEAD
    with Session(database.engine) as session:
        token = session.scalars(select(Token)).one()
        assert (token.user.username, token.revoked_at) == ("officer", None)
    database.dispose()


def test_database_made_before_migrations_is_adopted_and_upgraded(empty_database_url: str) -> None:
    """What ``create_all`` of the first version made, with data in it: the baseline's tables
    without a migration history and, on PostgreSQL, without the append-only triggers. The
    upgrade keeps the data and adds what the old code lacked, the triggers included."""
    database = Database(empty_database_url)
    database.migrate(BASELINE_REVISION)
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP FUNCTION sendmatch_append_only() CASCADE"))
    seed_history(database.engine)
    database.migrate()
    assert version(database.engine) == HEAD
    assert schema_differences(database.engine) == []
    with Session(database.engine) as session:
        assert session.scalars(select(User.username)).all() == ["panel"]
    assert_append_only(database.engine)
    database.dispose()


def test_tables_sendmatch_did_not_make_are_refused_and_left_alone(
    empty_database_url: str,
) -> None:
    database = Database(empty_database_url)
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)"))
    with pytest.raises(SchemaMismatchError, match="no migration history") as raised:
        database.migrate()
    message = str(raised.value)
    assert "no column users.username" in message
    assert "unknown column users.email" in message
    assert "no table decisions" in message
    assert set(inspect(database.engine).get_table_names()) == {"users"}
    database.dispose()


def test_db_upgrade_command(empty_database_url: str) -> None:
    runner = CliRunner()
    done = runner.invoke(cli.app, ["db", "upgrade", "--database-url", empty_database_url])
    assert done.exit_code == 0, done.output
    assert "up to date" in done.output
    database = Database(empty_database_url)
    assert version(database.engine) == HEAD
    database.downgrade("base")
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY)"))
    database.dispose()
    refused = runner.invoke(cli.app, ["db", "upgrade", "--database-url", empty_database_url])
    assert refused.exit_code == 2
    assert "Not upgraded" in refused.output


def test_processes_starting_together_migrate_once(empty_database_url: str) -> None:
    """Several servers starting at once on an empty database: one migrates, the rest wait."""
    command = [sys.executable, "-m", "matcher.cli", "db", "upgrade"]
    processes = [
        subprocess.Popen(
            [*command, "--database-url", empty_database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    database = Database(empty_database_url)
    assert version(database.engine) == HEAD
    assert schema_differences(database.engine) == []
    database.dispose()


def test_serve_refuses_a_database_it_did_not_make(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE decisions (id INTEGER PRIMARY KEY, note TEXT)"))
    database.dispose()
    refused = CliRunner().invoke(cli.app, ["serve", "--database-url", empty_database_url])
    assert refused.exit_code == 2
    assert "Cannot use the database" in refused.output
    assert "unknown column decisions.note" in refused.output
    assert "not started" in refused.output


def test_upgrade_removes_old_run_errors_that_could_quote_the_caseload(
    empty_database_url: str,
) -> None:
    """Errors of the old form ("InputError: ... 52.2420, 0.7180 ...") are readable by every
    role: the upgrade replaces them, and leaves errors of the current form alone."""
    database = Database(empty_database_url)
    database.migrate("0004")
    old = "InputError: children.csv, row 2, latitude: 60.1, 20.2 is outside the UK"
    current = "the server stopped while this run was working; no results were kept."
    with Session(database.engine) as session:
        user = User(username="officer", password_hash="h", role="case_officer")
        session.add(user)
        session.flush()
        caseload = Caseload(
            children_name="c.csv",
            children_data=b"",
            settings_name="s.csv",
            settings_data=b"",
            year_start=date(2026, 9, 1),
            n_children=0,
            n_settings=0,
            n_tariffs=0,
            setting_urns=[],
            uploaded_by=user.id,
        )
        session.add(caseload)
        session.flush()
        for error in (old, current):
            session.add(
                Run(
                    caseload_id=caseload.id,
                    options={},
                    started_by=user.id,
                    status="failed",
                    error=error,
                )
            )
        session.commit()
    database.migrate()
    with Session(database.engine) as session:
        errors = session.scalars(select(Run.error).order_by(Run.id)).all()
    assert errors[1] == current
    assert errors[0] is not None and "60.1" not in errors[0] and "removed" in errors[0]
    database.dispose()
