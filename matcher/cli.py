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

import typer

from matcher import cli_lists, cli_round, cli_server
from matcher.cli_data import data_app
from matcher.cli_forecast import forecast_app
from matcher.cli_import import gias_app, osm_app
from matcher.cli_planning import scenario_app, sites_app
from matcher.cli_settings import settings_app

# When the command is done, the cyclic garbage collector's last passes over every object it and
# the imported libraries made cost 0.1 s of CPU at exit, for nothing: the process is ending, and
# reference counting still frees (and closes) everything as the modules are torn down.
atexit.register(gc.freeze)

app = typer.Typer(
    name="sendmatch",
    help="SEND school-placement optimiser for English local authorities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """SEND school-placement optimiser for English local authorities.

    Run a command with --help for its options, e.g. `sendmatch place --help`.
    """


app.command("place", help=cli_round.PLACE_HELP)(cli_round.place_command)
app.command(
    "tailored-lists",
    help=cli_lists.LISTS_HELP,
    short_help="Each child's tailored list, priced against the LA-wide plan, with reasons.",
)(cli_lists.tailored_lists_command)
app.command(
    "panel-pack",
    help=cli_lists.PACK_HELP,
    short_help="One page per child for a placement panel: list, grounds, map (HTML, PDF).",
)(cli_lists.panel_pack_command)
app.command(
    "fair-access",
    help=cli_round.FAIR_ACCESS_HELP,
    short_help="Balanced in-year allocations for a fair access panel.",
)(cli_round.fair_access_command)
app.command("serve", short_help="Run the HTTP API (FastAPI) for panels and planners.")(
    cli_server.serve_command
)
app.command("create-admin", short_help="Create the first administrator of an empty database.")(
    cli_server.create_admin_command
)
app.command("demo", help=cli_round.DEMO_HELP)(cli_round.demo_command)

app.add_typer(osm_app, name="osm")
app.add_typer(scenario_app, name="scenario")
app.add_typer(sites_app, name="sites")
app.add_typer(forecast_app, name="forecast")
app.add_typer(data_app, name="data")
app.add_typer(gias_app, name="gias")
app.add_typer(settings_app, name="settings")
app.add_typer(cli_server.db_app, name="db")


if __name__ == "__main__":
    app()
