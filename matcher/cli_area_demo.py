"""``sendmatch demo --area NAME`` (or ``--osm FILE``): the demo round on a real English area.

The extract is fetched once through ``sendmatch osm download``'s code and cache, or read from
``--osm``; the area's real schools come from it (:mod:`geodata.osm_schools`), the specialist
settings and the caseload are generated (:mod:`geodata.area_demo`), and the round runs through
exactly ``sendmatch place``'s pipeline on the files written. Plain ``sendmatch demo`` (the
offline Helsinki sample) is :func:`matcher.cli_round.demo_command` and is unchanged.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from matcher.cli_options import EXIT_FAILED, EXIT_INPUT_PROBLEM, RoundConsole, round_console

if TYPE_CHECKING:
    from geodata.area_demo import AreaDemo
    from geodata.boundaries import LocalArea


def run_area_demo(
    out: Path,
    area_name: str | None,
    osm: Path | None,
    boundary: Path | None,
    la_code: str | None,
    cache_dir: Path | None,
) -> None:
    """Get the extract, build and write the area's demo files, then run ``place`` on them."""
    from geodata.area_demo import area_label, build_area_demo, write_area_demo
    from matcher.cli_round import run_round
    from matcher.pipeline import RoundOptions, resolve_cache_dir

    console, errors = Console(), Console(stderr=True)
    if out.exists() and not out.is_dir():
        errors.print(
            f"[bold red]Cannot write the demo:[/] {escape(str(out))} is a file; give a folder.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    if (boundary is None) != (not la_code):
        errors.print(
            "[bold red]--boundary and --la-code go together[/]: the boundary file, and your "
            "LA's code or name in it (e.g. --la-code E06000017 or Rutland for the ONS file).",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    folder = resolve_cache_dir(cache_dir)
    with round_console(errors) as run:
        extract = osm if osm is not None else _fetch(run, area_name or "", folder)
        area = _local_area(run, boundary, la_code)
        run.stage(f"reading the schools and roads of {extract.name}; generating the caseload")
        demo = _build(run, lambda: build_area_demo(extract, folder, area=area))
        run.stage("writing children.csv and settings.csv")
        try:
            children_file, settings_file = write_area_demo(demo, out)
        except OSError as exc:
            run.fail(
                f"[bold red]Cannot write the demo's files in {escape(str(out))}:[/] "
                f"{escape(exc.strerror or str(exc))}",
                EXIT_FAILED,
            )
        run.stage.done()
    label = area_label(extract, area)
    console.print(f"[bold]Demo area[/] — {escape(label)}.", soft_wrap=True)
    real = len(demo.settings) - demo.generated
    console.print(
        f"Wrote {len(demo.children):,} generated children to {escape(str(children_file))}; "
        f"{real:,} schools and colleges from OpenStreetMap ({demo.schools.tagged_urns} with "
        f"their DfE URN; phase guessed, places assumed: see the phase_guess and assumed "
        f"columns) and {demo.generated:,} generated specialist settings to "
        f"{escape(str(settings_file))}.",
        soft_wrap=True,
    )
    for note in demo.notes:
        console.print(f"Note: {escape(note)}", soft_wrap=True)
    outs = [out / "placements.csv", out / "placements.xlsx"]
    options = RoundOptions(
        children_file,
        settings_file,
        osm=extract,
        cache_dir=cache_dir,
        la_code=la_code if area is not None else None,
        boundary=boundary if area is not None else None,
    )
    run_round(options, outs, console=console, errors=errors)
    _print_rerun(console, children_file, settings_file, extract, boundary, la_code, out)


def _fetch(run: RoundConsole, area_name: str, folder: Path) -> Path:
    from geodata import osm_download

    run.stage(f"finding the OpenStreetMap extract '{area_name}' (downloaded once, then kept)")
    try:
        return osm_download.download_extract(area_name, folder)
    except (osm_download.UnknownAreaError, osm_download.OfflineError) as exc:
        run.fail(
            f"[bold red]Cannot get the extract:[/] {escape(str(exc))} With a file at hand, "
            "run `sendmatch demo --osm FILE`; `sendmatch demo` alone runs offline.",
        )
    except osm_download.OsmDownloadError as exc:
        run.fail(f"[bold red]Cannot get the extract:[/] {escape(str(exc))}", EXIT_FAILED)


def _local_area(run: RoundConsole, boundary: Path | None, la_code: str | None) -> LocalArea | None:
    if boundary is None or not la_code:
        return None
    from geodata.boundaries import BoundaryError, local_area

    run.stage(f"reading the LA boundaries from {boundary.name}")
    try:
        return local_area(boundary, la_code)
    except BoundaryError as exc:
        run.fail(f"[bold red]Cannot use the boundary:[/] {escape(str(exc))}")


def _build(run: RoundConsole, build: Callable[[], AreaDemo]) -> AreaDemo:
    """Run ``build``, turning an extract that cannot be used into the command's message."""
    from geodata.area_demo import AreaDemoError
    from geodata.network import NetworkError
    from geodata.osm_schools import OsmSchoolsError

    try:
        return build()
    except (NetworkError, OsmSchoolsError, AreaDemoError) as exc:
        run.fail(f"[bold red]Cannot build the demo:[/] {escape(str(exc))}")


def _print_rerun(
    console: Console,
    children_file: Path,
    settings_file: Path,
    extract: Path,
    boundary: Path | None,
    la_code: str | None,
    out: Path,
) -> None:
    """The ``place`` command that re-runs the written files, as the user would type it."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "sendmatch" else "sendmatch"
    parts = [
        program,
        "place",
        "--children",
        str(children_file),
        "--settings",
        str(settings_file),
        "--osm",
        str(extract),
    ]
    if boundary is not None and la_code:
        parts += ["--boundary", str(boundary), "--la-code", la_code]
    parts += ["--out", str(out / "my_placements.xlsx")]
    console.print(
        "Re-run it yourself (edit the CSV files first, if you like):\n  "
        + escape(" ".join(shlex.quote(p) for p in parts)),
        soft_wrap=True,
    )
