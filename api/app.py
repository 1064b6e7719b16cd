"""The FastAPI application: ``create_app()`` wires the database and the routers together.

A factory rather than a module-level app, so each test (and each deployment) chooses its own
database; ``sendmatch serve`` will call it with ``DATABASE_URL`` from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import auth, routes_audit, routes_caseloads, routes_decisions, routes_runs, routes_users
from api.db import Database


def create_app(database_url: str | None = None) -> FastAPI:
    """An app on ``database_url``, else ``$DATABASE_URL``, else ``sqlite:///sendmatch.db``.

    Tables are created if missing (Alembic migrations will replace this).
    """
    database = Database(database_url)
    database.create_all()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        database.dispose()

    app = FastAPI(
        title="sendmatch",
        summary="SEND school-placement optimiser for English local authorities",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.db = database
    for module in (
        auth,
        routes_users,
        routes_caseloads,
        routes_runs,
        routes_decisions,
        routes_audit,
    ):
        app.include_router(module.router)
    return app
