"""``sendmatch serve``, ``create-admin`` and ``db upgrade``: the HTTP API and its database.

FastAPI, SQLAlchemy and uvicorn are imported when one of these commands runs, never when
``sendmatch`` starts: a placement round on the command line needs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from matcher.cli_options import EXIT_INPUT_PROBLEM, CacheDirOption, OsmOption

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

#: Seconds ``sendmatch serve`` waits for requests in flight when asked to stop.
SHUTDOWN_GRACE_SECONDS = 5

_DATABASE_URL_HELP = "SQLAlchemy URL; default $DATABASE_URL, else sendmatch.db in this folder."

db_app = typer.Typer(help="The API's database: create or upgrade its schema.", no_args_is_help=True)


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help=_DATABASE_URL_HELP, show_default=False),
    ] = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    run_memory_limit: Annotated[
        int | None,
        typer.Option(
            "--run-memory-limit",
            metavar="MB",
            min=256,
            help="Memory each run's process may use, in MB; a run that needs more fails alone. "
            "Default: $SENDMATCH_RUN_MEMORY_MB, else half this machine's memory (at least 2048).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """``sendmatch serve``: the API with its OpenAPI docs at /docs, on this machine by default.

    Listens on 127.0.0.1 unless told otherwise: children's records stay on the machine. With
    ``--osm`` the road network is loaded once, before the server listens, and every run's
    journeys are timed on it, as ``sendmatch place --osm`` times them.
    """
    import uvicorn

    from api.access_log import log_config
    from api.app import create_app
    from api.db import SchemaMismatchError
    from matcher.pipeline import NetworkProblem, load_network

    network: RoadNetwork | None = None
    if osm is not None:
        errors = Console(stderr=True)
        errors.print(f"Loading the road network from {escape(osm.name)}...")
        try:
            network = load_network(osm, cache_dir)
        except NetworkProblem as exc:
            errors.print(
                f"[bold red]Cannot use the road network:[/] {escape(str(exc).rstrip('.'))}. "
                "The server was not started.",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    try:
        application = create_app(
            database_url,
            network=network,
            run_memory_limit_mb="default" if run_memory_limit is None else run_memory_limit,
        )
    except SchemaMismatchError as exc:
        Console(stderr=True).print(
            f"[bold red]Cannot use the database:[/] {escape(str(exc))} The server was not started.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    # Requests get a few seconds to finish on Ctrl-C or SIGTERM; a run's background task would
    # otherwise hold the stop for as long as the run takes. The runs themselves are then
    # stopped and marked failed by the app's shutdown (api.run_processes).
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="info",
        # Request ids on every line; the access log shows routes, never a child's id.
        log_config=log_config(),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


def create_admin_command(
    username: Annotated[str, typer.Option("--username", help="The administrator's name.")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="At least 12 characters (asked for when not given).",
        ),
    ],
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """``sendmatch create-admin``: the one account made outside the API; it makes the rest."""
    from api.auth import create_first_admin
    from api.db import Database, SchemaMismatchError

    errors = Console(stderr=True)
    database = Database(database_url)
    try:
        database.migrate()
        with database.sessions() as session:
            create_first_admin(session, username, password)
    except (ValueError, SchemaMismatchError) as exc:
        errors.print(f"[bold red]Not created:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    finally:
        database.dispose()
    Console().print(f"Administrator {escape(username)} created.")


@db_app.command("upgrade", short_help="Create or upgrade the API database's schema.")
def db_upgrade_command(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help=_DATABASE_URL_HELP, show_default=False),
    ] = None,
) -> None:
    """``sendmatch db upgrade``: apply the schema migrations, e.g. before starting several
    server processes (``sendmatch serve`` also does it on start)."""
    from api.db import Database, SchemaMismatchError

    database = Database(database_url)
    try:
        database.migrate()
    except SchemaMismatchError as exc:
        Console(stderr=True).print(f"[bold red]Not upgraded:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    finally:
        database.dispose()
    Console().print("The database schema is up to date.")
