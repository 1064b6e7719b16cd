"""The children list's index: one narrow row per child of a placement run (``run_children``).

The children list filters and sorts a run's children by need, NC year, phase, kind of place,
setting, preference met, journey and cost; reading those from each child's JSON result would
decode every result of the run on every page. This table holds them as plain, indexed columns
(see :mod:`api.children_index`), written when a placement run's results are saved.

Runs saved before this revision are indexed here from their stored results. Their results do
not hold the child's primary need and NC year (later runs copy them in), so those are read
from the run's caseload files with sendmatch's own reader; where that fails (a file the
reader now refuses), the two are left empty and the list shows "not recorded".

Going back drops the table; the results themselves are untouched.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

#: The list's filters and its most used sorts, each within one run.
INDEXES = {
    "ix_run_children_setting": ("run_id", "setting_urn", "setting_name"),
    "ix_run_children_need": ("run_id", "primary_need", "nc_year"),
    "ix_run_children_key": ("run_id", "child_key"),
    "ix_run_children_by_setting": ("run_id", "setting_name", "child_id"),
    "ix_run_children_by_cost": ("run_id", "annual_cost", "child_id"),
    "ix_run_children_by_minutes": ("run_id", "travel_minutes", "child_id"),
}


def upgrade() -> None:
    op.create_table(
        "run_children",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.String(length=100), nullable=False),
        sa.Column("child_key", sa.String(length=100), nullable=False),
        sa.Column("primary_need", sa.String(length=10), nullable=True),
        sa.Column("nc_year", sa.Integer(), nullable=True),
        sa.Column("phase", sa.String(length=20), nullable=True),
        sa.Column("placement_kind", sa.String(length=30), nullable=True),
        sa.Column("setting_urn", sa.String(length=20), nullable=True),
        sa.Column("setting_name", sa.String(length=255), nullable=True),
        sa.Column("preference_rank", sa.Integer(), nullable=True),
        sa.Column("preference_met", sa.String(length=4), nullable=False),
        sa.Column("travel_minutes", sa.Float(), nullable=True),
        sa.Column("annual_cost", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("run_id", "child_id"),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "run_children", list(columns))
    _index_saved_runs(op.get_bind())


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="run_children")
    op.drop_table("run_children")


def _index_saved_runs(connection: sa.Connection) -> None:
    # The rule for a row is api.children_index.index_row, so old and new runs list alike.
    from api.children_index import index_row, insert_sql

    runs = connection.execute(
        sa.text("SELECT id, caseload_id FROM runs WHERE kind = 'placement' AND status = 'done'")
    ).all()
    for run_id, caseload_id in runs:
        facts = _caseload_facts(connection, caseload_id)
        results = connection.execute(
            sa.text("SELECT child_id, result FROM run_results WHERE run_id = :run"),
            {"run": run_id},
        )
        rows = []
        for child_id, stored in results:
            result: dict[str, Any] = orjson.loads(stored) if isinstance(stored, str) else stored
            if "child" not in result and child_id in facts:
                result["primary_need"], result["nc_year"] = facts[child_id]
            rows.append(index_row(run_id, child_id, result))
        if rows:
            connection.exec_driver_sql(insert_sql(connection.dialect.paramstyle), rows)


def _caseload_facts(connection: sa.Connection, caseload_id: int | None) -> dict[str, Any]:
    """Each child's (primary need, NC year) from the caseload's files, or {} if unreadable."""
    from api.jobs import UploadedFile, load_uploaded_round
    from matcher.io import InputError

    found = connection.execute(
        sa.text(
            "SELECT children_name, children_data, settings_name, settings_data, tariffs_name, "
            "tariffs_data, year_start FROM caseloads WHERE id = :id"
        ),
        {"id": caseload_id},
    ).first()
    if found is None:
        return {}
    children, settings = UploadedFile(found[0], found[1]), UploadedFile(found[2], found[3])
    tariffs = UploadedFile(found[4], found[5]) if found[4] is not None else None
    year_start = found[6] if not isinstance(found[6], str) else _day(found[6])
    try:
        inputs = load_uploaded_round(children, settings, tariffs, year_start)
    except (InputError, ValueError, OSError) as exc:
        log.warning(
            "caseload %s not re-read for the children list (%s)", caseload_id, type(exc).__name__
        )
        return {}
    return {c.child_id: (c.primary_need.value, c.nc_year) for c in inputs.children}


def _day(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text[:10])
