"""Failed runs' errors from before errors were built from problems lose their original text.

Before this revision a failed run stored ``"<ExceptionType>: <message>"``, and a message could
quote the caseload (every row's coordinates, for one). Every role may read a run's error, so
such texts are replaced by a note that says what happened to them. Errors written since carry
no input values (:mod:`api.user_errors`) and are left as they are. There is no way back: the
removed text is not kept anywhere.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: How the old code wrote every failure: an exception's class name, a colon, its message.
OLD_FORM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*: ")
REPLACEMENT = (
    "this run failed before sendmatch kept input values out of error messages, so its "
    "original message was removed; start the run again to see why it fails."
)


def upgrade() -> None:
    runs = sa.table(
        "runs", sa.column("id", sa.Integer), sa.column("status"), sa.column("error", sa.Text)
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(runs.c.id, runs.c.error).where(
            runs.c.status == "failed", runs.c.error.is_not(None)
        )
    ).all()
    stale = [run_id for run_id, error in rows if OLD_FORM.match(error)]
    for start in range(0, len(stale), 500):
        connection.execute(
            sa.update(runs)
            .where(runs.c.id.in_(stale[start : start + 500]))
            .values(error=REPLACEMENT)
        )


def downgrade() -> None:
    """Nothing to undo: the removed texts are gone, and the schema did not change."""
