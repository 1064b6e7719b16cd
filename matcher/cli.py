"""The ``sendmatch`` command line: what an LA SEND officer runs on their own CSV/XLSX files.

This module only assembles the commands, in the order ``sendmatch --help`` lists them; each
group lives in its own module:

- :mod:`matcher.cli_round`: ``place``, ``fair-access``, ``demo``
- :mod:`matcher.cli_lists`: ``tailored-lists``, ``panel-pack``
- :mod:`matcher.cli_planning`: ``scenario compare|sweep``, ``sites choose``
- :mod:`matcher.cli_forecast`, :mod:`matcher.cli_la_forecast`: ``forecast``
- :mod:`matcher.cli_data`: ``data download``
- :mod:`matcher.cli_import`: ``osm download``, ``gias import``
- :mod:`matcher.cli_settings`: ``settings from-osm``
- :mod:`matcher.cli_server`: ``serve``, ``create-admin``, ``db upgrade``

The commands are thin: a round is :mod:`matcher.pipeline`, and :mod:`matcher.cli_options`
turns every user mistake (a missing file, a bad row, a wrong extension, an unreadable
OpenStreetMap extract) into a plain message and a non-zero exit code, never a traceback.
Tracebacks of genuine bugs are shown without local variables, which would hold children's
records. Nothing heavy (the solvers, pandas, the road network, the web server) is imported
until a command runs, so ``sendmatch --help`` answers at once.
"""

from __future__ import annotations

import atexit
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass

import typer

from matcher import cli_lists, cli_round, cli_server

# When the command is done, the cyclic garbage collector's last passes over every object it and
# the imported libraries made cost 0.1 s of CPU at exit, for nothing: the process is ending, and
# reference counting still frees (and closes) everything as the modules are torn down.
atexit.register(gc.freeze)


@dataclass(frozen=True)
class Command:
    """A command of ``sendmatch`` itself, with its help and the line ``--help`` lists it by."""

    function: Callable[..., None]
    help: str | None = None
    short_help: str | None = None


#: The commands of ``sendmatch`` itself, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {
    "place": Command(cli_round.place_command, cli_round.PLACE_HELP),
    "tailored-lists": Command(
        cli_lists.tailored_lists_command,
        cli_lists.LISTS_HELP,
        "Each child's tailored list, priced against the LA-wide plan, with reasons.",
    ),
    "panel-pack": Command(
        cli_lists.panel_pack_command,
        cli_lists.PACK_HELP,
        "One page per child for a placement panel: list, grounds, map (HTML, PDF).",
    ),
    "fair-access": Command(
        cli_round.fair_access_command,
        cli_round.FAIR_ACCESS_HELP,
        "Balanced in-year allocations for a fair access panel.",
    ),
    "serve": Command(
        cli_server.serve_command,
        short_help="Run the HTTP API (FastAPI) for panels and planners.",
    ),
    "create-admin": Command(
        cli_server.create_admin_command,
        short_help="Create the first administrator of an empty database.",
    ),
    "demo": Command(cli_round.demo_command, cli_round.DEMO_HELP),
}


def groups() -> dict[str, typer.Typer]:
    """The command groups (``sendmatch osm download`` and so on), listed after the commands.

    Imported only when the whole command line is built: a command run alone does not read
    them.
    """
    from matcher.cli_data import data_app
    from matcher.cli_forecast import forecast_app
    from matcher.cli_import import gias_app, osm_app
    from matcher.cli_planning import scenario_app, sites_app
    from matcher.cli_settings import settings_app

    return {
        "osm": osm_app,
        "scenario": scenario_app,
        "sites": sites_app,
        "forecast": forecast_app,
        "data": data_app,
        "gias": gias_app,
        "settings": settings_app,
        "db": cli_server.db_app,
    }


def sendmatch(only: str | None = None) -> typer.Typer:
    """The ``sendmatch`` command line; with ``only``, just that one of :data:`COMMANDS`.

    Click reads every command's parameters before it runs any; for one command that is a
    twentieth of the time, which a user feels on every run (see :func:`run`).
    """
    cli = typer.Typer(
        name="sendmatch",
        help="SEND school-placement optimiser for English local authorities.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    cli.callback()(main)
    for name, command in COMMANDS.items():
        if only in (None, name):
            cli.command(name, help=command.help, short_help=command.short_help)(command.function)
    if only is None:
        for name, group in groups().items():
            cli.add_typer(group, name=name)
    return cli


def main() -> None:
    """SEND school-placement optimiser for English local authorities.

    Run a command with --help for its options, e.g. `sendmatch place --help`.
    """


def __getattr__(name: str) -> typer.Typer:
    """``matcher.cli.app``, the whole command line, built when first asked for (PEP 562)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    whole = globals()["app"] = sendmatch()
    return whole


def run() -> None:
    """Run the command named, alone, or the whole command line (the console script's work, after
    :func:`matcher.console.run`).

    Whatever follows the command's name is that command's to read, so a command alone behaves
    as it does among the others (tests/test_cli.py compares their help and their errors).
    """
    named = sys.argv[1] if len(sys.argv) > 1 else None
    sendmatch(named if named in COMMANDS else None)()


if __name__ == "__main__":
    run()
