"""Forecast runs: a run may have no caseload, and keeps its own uploaded files in ``run_inputs``.

A demand forecast is made from yearly caseload files (or witan.send's transitions) and a
population file that belong to the run, not to a caseload; it names a caseload only when its
demand is to be set against that caseload's settings. So ``runs.caseload_id`` may be empty, and
each uploaded file is a row of ``run_inputs``.

SQLite cannot drop a NOT NULL constraint in place, and copying ``runs`` to a new table (Alembic's
batch mode) is refused while decisions and audit rows refer to it: foreign keys cannot be
switched off inside the migration's transaction. SQLite documents the way for exactly this
change, which leaves the stored rows as they are: rewrite the table's ``CREATE TABLE`` text in
``sqlite_master`` and bump the schema version, in the same transaction
(https://www.sqlite.org/lang_altertable.html, "making other kinds of table schema changes").

Going back deletes the runs without a caseload (forecasts: they have no results, decisions or
reads) with their files, then restores the constraint.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUIRED = "caseload_id INTEGER NOT NULL,"
OPTIONAL = "caseload_id INTEGER,"


def upgrade() -> None:
    _caseload_required(False)
    op.create_table(
        "run_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_inputs_run_id", "run_inputs", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_run_inputs_run_id", table_name="run_inputs")
    op.drop_table("run_inputs")
    op.execute("DELETE FROM runs WHERE caseload_id IS NULL")
    _caseload_required(True)


def _caseload_required(required: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        op.alter_column("runs", "caseload_id", existing_type=sa.Integer(), nullable=not required)
        return
    old, new = (OPTIONAL, REQUIRED) if required else (REQUIRED, OPTIONAL)
    sql = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
    ).scalar_one()
    if old not in sql:
        msg = f"the runs table is not as sendmatch made it: no {old!r} in its definition"
        raise RuntimeError(msg)
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        connection.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'runs'",
            (sql.replace(old, new, 1),),
        )
        connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")
