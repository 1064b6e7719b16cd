"""The FastAPI application: ``create_app()`` wires the database and the routers together.

A factory rather than a module-level app, so each test (and each deployment) chooses its own
database; ``sendmatch serve`` will call it with ``DATABASE_URL`` from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from api import (
    auth,
    roads,
    routes_audit,
    routes_caseloads,
    routes_decisions,
    routes_planning,
    routes_runs,
    routes_users,
    routes_web,
)
from api.db import Database
from api.jobs import fail_interrupted_runs
from api.run_processes import RunLauncher

if TYPE_CHECKING:
    from geodata.network import RoadNetwork


def create_app(
    database_url: str | None = None,
    network: RoadNetwork | None = None,
    separate_processes: bool = True,
) -> FastAPI:
    """An app on ``database_url``, else ``$DATABASE_URL``, else ``sqlite:///sendmatch.db``.

    ``network`` (``sendmatch serve --osm``) times runs' journeys on roads and is drawn by
    ``GET /network/roads``; without it runs use the straight-line estimate. Runs a previous
    server left unfinished are marked failed: they died with it. Each run works in a process
    of its own (:mod:`api.run_processes`); ``separate_processes=False`` keeps them in the
    server's threads, for tests that patch the matcher.

    The schema is migrated to the latest revision first (a no-op when it is up to date), so
    an upgraded sendmatch starts on an older database without a separate step.
    """
    database = Database(database_url)
    database.migrate()
    fail_interrupted_runs(database)
    runs = RunLauncher(database, separate_processes)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runs.stop()
        database.dispose()

    app = FastAPI(
        title="sendmatch",
        summary="SEND school-placement optimiser for English local authorities",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.db = database
    app.state.network = network
    app.state.runs = runs
    for module in (
        auth,
        routes_users,
        routes_caseloads,
        routes_runs,
        routes_planning,  # fair access and scenario comparison runs
        routes_decisions,
        routes_audit,
        roads,
        routes_web,  # the web page: last, so "/" never shadows an API path
    ):
        app.include_router(module.router)
    return app
