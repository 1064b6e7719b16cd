"""Initial schema: the tables ``create_all`` made before there were migrations.

Also the triggers that keep ``decisions`` and ``child_reads`` append-only in the database itself,
on SQLite and on PostgreSQL. Their SQL is written out here rather than imported, so this
revision makes the same schema whatever later code looks like; ``api.db.adopt_unversioned``
calls :func:`append_only_triggers` to add them to a database made before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("decisions", "child_reads")


def append_only_triggers(dialect: str) -> list[str]:
    """SQL making ``decisions`` and ``child_reads`` refuse UPDATE and DELETE (idempotent)."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for table in APPEND_ONLY_TABLES
            for action in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        statements = [
            "CREATE OR REPLACE FUNCTION sendmatch_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
            "USING ERRCODE = 'restrict_violation'; "
            "END $$"
        ]
        for table in APPEND_ONLY_TABLES:
            # TRUNCATE too: it removes rows without firing row triggers.
            statements += [
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION sendmatch_append_only()",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION sendmatch_append_only()",
            ]
        return statements
    raise NotImplementedError(f"append-only triggers are not written for {dialect}")


def _drop_append_only_triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_{action}"
            for table in APPEND_ONLY_TABLES
            for action in ("update", "delete")
        ]
    statements = [
        f"DROP TRIGGER IF EXISTS {table}_{kind} ON {table}"
        for table in APPEND_ONLY_TABLES
        for kind in ("append_only", "no_truncate")
    ]
    return [*statements, "DROP FUNCTION IF EXISTS sendmatch_append_only()"]


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "caseloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("children_name", sa.String(length=255), nullable=False),
        sa.Column("children_data", sa.LargeBinary(), nullable=False),
        sa.Column("settings_name", sa.String(length=255), nullable=False),
        sa.Column("settings_data", sa.LargeBinary(), nullable=False),
        sa.Column("tariffs_name", sa.String(length=255), nullable=True),
        sa.Column("tariffs_data", sa.LargeBinary(), nullable=True),
        sa.Column("year_start", sa.Date(), nullable=False),
        sa.Column("n_children", sa.Integer(), nullable=False),
        sa.Column("n_settings", sa.Integer(), nullable=False),
        sa.Column("n_tariffs", sa.Integer(), nullable=False),
        sa.Column("setting_urns", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("caseload_id", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.Integer(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("input_name", sa.String(length=255), nullable=True),
        sa.Column("input_data", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["caseload_id"], ["caseloads.id"]),
        sa.ForeignKeyConstraint(["started_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_runs_caseload_id", "runs", ["caseload_id"])
    op.create_table(
        "child_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.String(length=100), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_child_reads_child_id", "child_reads", ["child_id"])
    op.create_index("ix_child_reads_user_id", "child_reads", ["user_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.String(length=100), nullable=False),
        sa.Column("setting_urn", sa.String(length=20), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decisions_run_child", "decisions", ["run_id", "child_id", "id"])
    op.create_table(
        "run_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.String(length=100), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "child_id"),
    )
    for statement in append_only_triggers(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in _drop_append_only_triggers(op.get_bind().dialect.name):
        op.execute(statement)
    for table in (
        "run_results",
        "decisions",
        "child_reads",
        "runs",
        "tokens",
        "caseloads",
        "users",
    ):
        op.drop_table(table)
