"""``sendmatch settings from-osm``: a settings file for an area's real schools, from OpenStreetMap.

For an LA with no GIAS file to hand: the schools and colleges mapped in an OpenStreetMap
extract, with their DfE URNs where mapped, phases guessed and places assumed, every guess and
assumption written beside the row (:mod:`geodata.osm_schools`). With ``--gias``, GIAS's own
rows win and the command says which schools are in one source and not the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from matcher.cli_options import EXIT_FAILED, EXIT_INPUT_PROBLEM, BoundaryOption, LaCodeOption

if TYPE_CHECKING:
    from geodata.osm_schools import OsmSchools
    from matcher.models import Setting

settings_app = typer.Typer(
    help="Make a settings file for `sendmatch place` from public data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

FROM_OSM_HELP = (
    "Write a settings file for the schools and colleges mapped in an OpenStreetMap extract.\n\n"
    "Every amenity=school and amenity=college (point or grounds) with a name becomes a "
    "setting at its location, its DfE URN taken from ref:edubase where mapped (else an OSM-… "
    "stand-in). OpenStreetMap holds no phase, ages, places or designations: the phase is "
    "guessed from tags and the name (column phase_guess), the rest assumed by phase (column "
    "assumed). Check and edit the file before a panel relies on it.\n\n"
    "With --gias (a settings file from `sendmatch gias import`, or a GIAS establishment "
    "extract), GIAS's rows take precedence; the two are matched by URN (by name for schools "
    "OSM has no URN for), and schools found in one and not the other are listed.\n\n"
    "With --boundary FILE --la-code CODE, each setting's la_code is the code of the area it "
    "stands in (e.g. E06000017 inside Rutland, E07000141 in South Kesteven)."
)

_GIAS_HEADER = "EstablishmentName"
#: A GIAS extract is national: keep its establishments within this distance of the OSM schools.
GIAS_MARGIN_KM = 5.0


@settings_app.command("from-osm", help=FROM_OSM_HELP)
def from_osm_command(
    extract: Annotated[
        Path,
        typer.Argument(help="OpenStreetMap extract (.osm.pbf) of the area.", metavar="EXTRACT"),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="The settings file to write (.csv).")
    ],
    gias: Annotated[
        Path | None,
        typer.Option(
            "--gias",
            metavar="FILE",
            help="A GIAS import (settings file) or GIAS establishment extract; takes precedence.",
        ),
    ] = None,
    boundary: BoundaryOption = None,
    la_code: LaCodeOption = None,
) -> None:
    """``sendmatch settings from-osm``: read, guess, optionally merge with GIAS, write."""
    from geodata.osm_schools import OsmSchoolsError, merge_gias, read_osm_schools

    console, errors = Console(), Console(stderr=True)
    if out.suffix.lower() != ".csv":
        _stop(errors, f"[bold red]Cannot write the output:[/] {escape(out.name)} must end in .csv")
    if not out.parent.is_dir():
        _stop(errors, f"[bold red]Cannot write the output:[/] no folder {escape(str(out.parent))}")
    try:
        schools = read_osm_schools(extract)
    except OsmSchoolsError as exc:
        _stop(errors, f"[bold red]Cannot read the extract:[/] {escape(str(exc))}")
    if gias is not None:
        schools, match = merge_gias(schools, _read_gias(gias, schools, errors))
        for line in match.summary():
            console.print(escape(line), soft_wrap=True)
    if not schools.settings:
        _stop(errors, f"[bold red]No schools found[/] in {escape(extract.name)}; nothing written.")
    if boundary is not None or la_code is not None:
        _code_by_area(schools, boundary, la_code, console, errors)
    _write(schools, out, errors)
    console.print(escape(schools.summary()), soft_wrap=True)
    console.print(f"Written: {escape(str(out))} ({len(schools.settings):,} settings)")


def _stop(errors: Console, message: str, code: int = EXIT_INPUT_PROBLEM) -> NoReturn:
    errors.print(message, soft_wrap=True)
    raise typer.Exit(code)


def _read_gias(path: Path, schools: OsmSchools, errors: Console) -> list[Setting]:
    """A settings file as ``place`` reads it, or a GIAS extract cut to the OSM schools' area."""
    from matcher import io
    from matcher.cli_display import print_problems

    if not path.is_file():
        _stop(errors, f"[bold red]No such file:[/] {escape(str(path))}")
    if _is_gias_extract(path):
        return _gias_extract_near(path, schools, errors)
    try:
        return io.load_settings(path)
    except io.InputError as exc:
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None


def _is_gias_extract(path: Path) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return _GIAS_HEADER.encode() in head


def _gias_extract_near(path: Path, schools: OsmSchools, errors: Console) -> list[Setting]:
    from geodata.gias import GiasFormatError, import_gias

    try:
        imported = import_gias(path)
    except (GiasFormatError, UnicodeDecodeError, OSError) as exc:
        _stop(errors, f"[bold red]Cannot read {escape(path.name)}:[/] {escape(str(exc))}")
    for problem in imported.problems:
        errors.print(f"  • {escape(str(problem))}", soft_wrap=True)
    if not schools.settings:
        return imported.settings
    lat = [s.location.latitude for s in schools.settings]
    lon = [s.location.longitude for s in schools.settings]
    margin_lat = GIAS_MARGIN_KM / 111.2
    margin_lon = margin_lat * 2.0  # a degree of longitude is ~half as long at England's latitudes
    return [
        s
        for s in imported.settings
        if min(lat) - margin_lat <= s.location.latitude <= max(lat) + margin_lat
        and min(lon) - margin_lon <= s.location.longitude <= max(lon) + margin_lon
    ]


def _code_by_area(
    schools: OsmSchools,
    boundary: Path | None,
    la_code: str | None,
    console: Console,
    errors: Console,
) -> None:
    """Each setting's ``la_code`` from the polygon it stands in (the LA's own code inside)."""
    from geodata.boundaries import BoundaryError, local_area

    if boundary is None or not la_code:
        _stop(errors, "[bold red]--boundary and --la-code go together[/] here.")
    try:
        area = local_area(boundary, la_code)
    except BoundaryError as exc:
        _stop(errors, f"[bold red]Cannot use the boundary:[/] {escape(str(exc))}")
    _, schools.settings, report = area.assign([], schools.settings)
    inside = len(schools.settings) - sum(report.settings_outside.values())
    outside = ", ".join(f"{name} {n}" for name, n in sorted(report.settings_outside.items()))
    console.print(
        f"la_code by location ({escape(boundary.name)}): {inside} in {escape(area.name)} "
        f"({escape(area.code)})" + (f", others in {escape(outside)}" if outside else "") + ".",
        soft_wrap=True,
    )


def _write(schools: OsmSchools, out: Path, errors: Console) -> None:
    from geodata.osm_schools import write_osm_settings

    try:
        write_osm_settings(schools, out)
    except OSError as exc:
        _stop(
            errors,
            f"[bold red]Could not write {escape(str(out))}:[/] {escape(exc.strerror or str(exc))}",
            EXIT_FAILED,
        )
