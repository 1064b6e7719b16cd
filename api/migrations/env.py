"""Alembic environment for sendmatch's schema, driven from code by ``api.db.Database``.

The caller passes an open connection in ``config.attributes["connection"]`` (see
``api.db.alembic_config``), so migrations run in the caller's transaction and under its lock,
and no ``alembic.ini`` or URL is needed: this works from an installed package.
"""

from __future__ import annotations

from alembic import context

from api.db import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "sendmatch's migrations run through api.db.Database.migrate() or "
            "`sendmatch db upgrade`, which pass the connection to use"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite alters a table by copying it; batch mode does that for later revisions.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
