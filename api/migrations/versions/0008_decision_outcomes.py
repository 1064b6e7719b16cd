"""Decision outcomes and decision drafts.

A panel decision now says what kind of decision it was (``decisions.outcome``): ``agree`` (name
the proposed setting), ``name_other`` (name another setting), ``defer`` (no decision yet) or
``refuse`` (name no setting). Decisions recorded before this revision keep ``outcome`` empty
(NULL), read as "outcome not recorded": the setting they named stands, but whether the panel
agreed with the proposal or named another was never recorded, and the decision record is
append-only, so it is not guessed after the fact. A decision sent without an outcome (the API
as it was) is stored the same way.

``decision_drafts`` keeps what a panel member has typed for a child's decision (outcome,
setting, reasons) until it is recorded, one row per member, run and child, so a draft survives
signing out. Drafts are working notes, not records: they are rewritten and deleted freely.

Going back drops the drafts and the outcome column (the decisions themselves stay).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a nullable column rewrites no row, so the append-only triggers do not fire.
    op.add_column("decisions", sa.Column("outcome", sa.String(length=20), nullable=True))
    op.create_table(
        "decision_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("setting_urn", sa.String(length=20), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "run_id", "child_id"),
    )


def downgrade() -> None:
    op.drop_table("decision_drafts")
    # SQLite (3.35+) drops a plain column in place; the triggers name no column.
    op.drop_column("decisions", "outcome")
