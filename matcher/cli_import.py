"""``sendmatch osm download`` and ``sendmatch gias import``: public data into the user's files.

The OpenStreetMap extract is fetched once into the cache (the only command that goes online);
GIAS's establishment extract becomes a settings file ``sendmatch place`` reads. Neither
touches a child's record.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from matcher.cli_options import (
    EXIT_FAILED,
    EXIT_INPUT_PROBLEM,
    CacheDirOption,
    round_console,
)

osm_app = typer.Typer(
    name="osm",
    help="OpenStreetMap road networks: fetch an extract of your area once, then use it offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
gias_app = typer.Typer(
    help="Import settings from the DfE's Get Information About Schools (GIAS) data.",
    no_args_is_help=True,
)

_DOWNLOAD_HELP = (
    "Download the OpenStreetMap extract of AREA once and print where it is, for --osm.\n\n"
    "AREA is a name from pyrosm's index of Geofabrik and BBBike extracts, such as "
    "west_yorkshire, greater_london, kent or leeds. A second call finds the file in the cache "
    "without going online. A county is 50-150 MB."
)


@osm_app.command("download", help=_DOWNLOAD_HELP)
def osm_download_command(
    area: Annotated[str, typer.Argument(help="Extract name, e.g. west_yorkshire.")],
    cache_dir: CacheDirOption = None,
    update: Annotated[
        bool,
        typer.Option("--update", help="Download again even if the extract is already cached."),
    ] = False,
) -> None:
    """``sendmatch osm download``: the only command that goes on the internet."""
    from geodata import osm_download
    from geodata.network import default_cache_dir

    errors = Console(stderr=True)
    folder = default_cache_dir() if cache_dir is None else cache_dir
    with round_console(errors) as run:
        run.stage(f"finding the OpenStreetMap extract '{area}' (downloaded once, then kept)")
        try:
            path = osm_download.download_extract(area, folder, update=update)
        except (osm_download.UnknownAreaError, osm_download.OfflineError) as exc:
            run.fail(f"[bold red]Cannot get the extract:[/] {escape(str(exc))}")
        except osm_download.OsmDownloadError as exc:
            run.fail(f"[bold red]Cannot get the extract:[/] {escape(str(exc))}", EXIT_FAILED)
        run.stage.done()
    # The path alone on standard output, so that a script can capture it.
    typer.echo(str(path))
    errors.print(
        f"Use it with: sendmatch place ... --osm {escape(shlex.quote(str(path)))}", soft_wrap=True
    )


@gias_app.command("import")
def gias_import_command(
    extract: Annotated[
        Path,
        typer.Argument(help="A GIAS establishment extract (edubasealldata*.csv).", metavar="FILE"),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="The settings file to write (.csv).")
    ],
    la: Annotated[
        list[str] | None,
        typer.Option("--la", help="Keep this LA (3-digit LA code or GSS code); repeat for more."),
    ] = None,
    neighbour_km: Annotated[
        float | None,
        typer.Option(
            "--neighbour-km",
            min=0,
            help="Also keep settings in other LAs within this distance of the chosen LAs.",
        ),
    ] = None,
    independent_fee: Annotated[
        int,
        typer.Option(
            "--independent-fee",
            min=0,
            help="Annual £ fee for independent settings (GIAS has no fees; edit the file "
            "with real fees before a panel relies on them).",
        ),
    ] = 60_000,
) -> None:
    """``sendmatch gias import``: GIAS → a settings file for ``sendmatch place``."""
    from geodata.gias import GiasFormatError, import_gias
    from matcher.input_writers import write_settings

    console, errors = Console(), Console(stderr=True)
    if out.suffix.lower() != ".csv":
        errors.print(f"[bold red]Cannot write the output:[/] {escape(out.name)} must end in .csv")
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    if not extract.is_file():
        errors.print(f"[bold red]No such file:[/] {escape(str(extract))}")
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    try:
        imported = import_gias(
            extract,
            la_codes=la or None,
            neighbour_radius_km=neighbour_km,
            default_independent_fee=independent_fee,
        )
    except (GiasFormatError, UnicodeDecodeError) as exc:
        errors.print(f"[bold red]Cannot read {escape(extract.name)}:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    for problem in imported.problems:
        errors.print(
            f"  • {escape(problem.file)}, row {problem.row}, {escape(problem.field)}: "
            f"{escape(problem.message)}",
            soft_wrap=True,
        )
    if not imported.settings:
        errors.print("[bold red]No settings imported[/]; nothing was written.")
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    try:
        write_settings(imported.settings, out)
    except OSError as exc:
        errors.print(f"[bold red]Could not write {escape(str(out))}:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    console.print(escape(imported.summary()), soft_wrap=True)
    if imported.problems:
        console.print(
            f"{len(imported.problems)} problems above: those rows were not imported; fix them in "
            "the extract, or add the settings to the file by hand.",
            soft_wrap=True,
        )
    console.print(f"Written: {escape(str(out))} ({len(imported.settings):,} settings)")
