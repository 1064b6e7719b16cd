"""The FastAPI application: ``create_app()`` wires the database and the routers together.

A factory rather than a module-level app, so each test (and each deployment) chooses its own
database; ``sendmatch serve`` will call it with ``DATABASE_URL`` from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from api import (
    auth,
    roads,
    routes_audit,
    routes_caseloads,
    routes_decisions,
    routes_forecast,
    routes_planning,
    routes_runs,
    routes_users,
    routes_web,
)
from api.access_log import RequestIds
from api.db import Database
from api.jobs import fail_interrupted_runs
from api.pages import site as pages
from api.request_limits import BodyLimits, RequestLimits, validation_error
from api.run_processes import RunLauncher
from api.sign_in_throttle import SignInGuard, SignInLimits
from api.user_errors import LogSafeErrors

if TYPE_CHECKING:
    from geodata.network import RoadNetwork


def create_app(
    database_url: str | None = None,
    network: RoadNetwork | None = None,
    separate_processes: bool = True,
    run_memory_limit_mb: int | Literal["default"] | None = "default",
    body_limits: BodyLimits | None = None,
    sign_in_limits: SignInLimits | None = None,
) -> FastAPI:
    """An app on ``database_url``, else ``$DATABASE_URL``, else ``sqlite:///sendmatch.db``.

    ``network`` (``sendmatch serve --osm``) times runs' journeys on roads and is drawn by
    ``GET /network/roads``; without it runs use the straight-line estimate. Runs a previous
    server left unfinished are marked failed: they died with it. Each run works in a process
    of its own (:mod:`api.run_processes`); ``separate_processes=False`` keeps them in the
    server's threads, for tests that patch the matcher. ``run_memory_limit_mb`` caps each
    run's process (see :class:`api.run_processes.RunLauncher`).

    ``body_limits`` and ``sign_in_limits`` default to their ``SENDMATCH_*`` environment
    variables (:mod:`api.request_limits`, :mod:`api.sign_in_throttle`).

    The schema is migrated to the latest revision first (a no-op when it is up to date), so
    an upgraded sendmatch starts on an older database without a separate step.
    """
    database = Database(database_url)
    database.migrate()
    fail_interrupted_runs(database)
    runs = RunLauncher(database, separate_processes, run_memory_limit_mb)

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
    app.state.sign_in = SignInGuard(sign_in_limits or SignInLimits.from_environment())
    app.add_exception_handler(RequestValidationError, validation_error)
    limits = body_limits or BodyLimits.from_environment()
    app.add_middleware(RequestLimits, database=database, limits=limits)
    app.add_middleware(LogSafeErrors)  # a 500 logs type, route and code place, never values
    app.add_middleware(RequestIds)  # added last, so outermost: every answer carries its id
    for module in (
        auth,
        routes_users,
        routes_caseloads,
        routes_runs,
        routes_planning,  # fair access and scenario comparison runs
        routes_forecast,  # demand forecast runs
        routes_decisions,
        routes_audit,
        roads,
        routes_web,  # "/", leading to the pages: last, so it never shadows an API path
    ):
        app.include_router(module.router)
    pages.install(app)  # the GOV.UK pages under /app/ and their /assets/
    return app
