"""Run outputs: the files a run wrote for download (a forecast's spreadsheet and CSV files).

A forecast run stores LA-wide summaries for the web page (``runs.summary``); its spreadsheet
and witan.send's ``Output_*.csv`` hold more (every statistic, every need x setting x NC year),
so the run writes them as it finishes, one row of ``run_outputs`` each.

Going back drops the table: the forecasts stay, without their downloads.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_outputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("run_outputs")
