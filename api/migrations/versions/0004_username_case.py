"""Usernames unique regardless of case: a unique index on ``lower(username)``.

A database whose usernames already differ only in case (``pm2`` and ``PM2``) is not upgraded:
which account to rename is a person's decision, not a migration's. The message names the
accounts and the SQL that renames one; the upgrade changes nothing until then (the whole
migration is one transaction), and the server does not start on the old schema.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.db import SchemaMismatchError

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_users_username_lower"


def upgrade() -> None:
    clashes = _case_clashes(op.get_bind())
    if clashes:
        accounts = "; ".join(
            " and ".join(f"{name!r} (id {user_id})" for user_id, name in group) for group in clashes
        )
        user_id, name = clashes[0][-1]
        quoted = name.replace("'", "''")
        msg = (
            "usernames must now be unique regardless of case, but these accounts differ only "
            f"in case: {accounts}. Rename all but one of each, e.g. UPDATE users SET username "
            f"= '{quoted}-2' WHERE id = {user_id}; then start sendmatch again."
        )
        raise SchemaMismatchError(msg)
    op.create_index(INDEX, "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")


def _case_clashes(connection: sa.Connection) -> list[list[tuple[int, str]]]:
    """Groups of (id, username) equal under the database's own ``lower``, each by id."""
    rows = connection.execute(
        sa.text("SELECT id, username, lower(username) FROM users ORDER BY id")
    ).all()
    groups: defaultdict[str, list[tuple[int, str]]] = defaultdict(list)
    for user_id, name, folded in rows:
        groups[folded].append((user_id, name))
    return [group for group in groups.values() if len(group) > 1]
