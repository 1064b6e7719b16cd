"""The ``sendmatch`` command line: what an LA SEND officer runs on their own CSV/XLSX files.

Thin on purpose. Reading and checking files is ``matcher.io``, placing is
``matcher.placement``, travel times come from ``geodata``; this module wires them together,
shows progress, and turns every user mistake (a missing file, a bad row, a wrong extension)
into a plain message and a non-zero exit code, never a traceback. Tracebacks of genuine bugs
are shown without local variables, which would hold children's records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from geodata.straight_line import straight_line_matrix
from matcher import io, placement
from matcher.costs import Tariffs
from matcher.eligibility import EligibilityConfig
from matcher.models import Child, Setting
from matcher.placement import PlacementConfig, PlacementSummary
from matcher.travel import TravelTimeMatrix

EXIT_FAILED = 1  # the inputs were fine but something else went wrong (e.g. the output file)
EXIT_INPUT_PROBLEM = 2  # the user's files or options need fixing; nothing was written

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


# --------------------------------------------------------------------------------------------
# Travel times


def named_pairs(children: Sequence[Child], settings: Sequence[Setting]) -> list[tuple[int, int]]:
    """(child row, setting column) of every setting a child's record names, in input order.

    Parental preferences (and the current setting) need a travel time however far they are: a
    parent may prefer a distant setting, and the solver must still weigh it and say why it was
    or was not named, rather than see it as unreachable. Unknown URNs are skipped (the input
    checks report them). This is the ``required_pairs`` of the road-network matrix too.
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


def build_travel_matrix(
    children: Sequence[Child],
    settings: Sequence[Setting],
    cutoff_minutes: float,
    osm: Path | None = None,
) -> TravelTimeMatrix:
    """Travel minutes for every pair within ``cutoff_minutes``, plus every :func:`named_pairs`.

    This is the single place where the command line chooses a travel-time model: today the
    straight-line estimate; a road network from an OSM extract (``osm``) plugs in here, e.g.
    ``geodata.travel_times.road_travel_matrix(network, ..., required_pairs=pairs)``.
    """
    pairs = named_pairs(children, settings)
    if osm is not None:
        raise NotImplementedError("road-network travel times (--osm) are not available yet")
    child_ids = [c.child_id for c in children]
    homes = [c.home for c in children]
    urns = [s.urn for s in settings]
    locations = [s.location for s in settings]
    near = straight_line_matrix(child_ids, homes, urns, locations, cutoff_minutes)
    if not pairs:
        return near

    # Named pairs beyond the cutoff: estimate them one setting at a time (few, and cheap).
    wanted = np.array(pairs, dtype=np.int64)
    have = near.rows.astype(np.int64) * len(urns) + near.cols
    missing = wanted[~np.isin(wanted[:, 0] * len(urns) + wanted[:, 1], have)]
    rows, cols, minutes = [near.rows], [near.cols], [near.minutes]
    for j in np.unique(missing[:, 1]):
        who = missing[missing[:, 1] == j, 0]
        far = straight_line_matrix(
            [child_ids[i] for i in who],
            [homes[i] for i in who],
            [urns[j]],
            [locations[j]],
            cutoff_minutes=math.inf,
        )
        rows.append(who[far.rows].astype(np.int32))
        cols.append(np.full(len(far.rows), j, dtype=np.int32))
        minutes.append(far.minutes)
    return TravelTimeMatrix(
        near.child_ids,
        near.setting_urns,
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(minutes),
        near.model,
    )


# --------------------------------------------------------------------------------------------
# Display


class _Stages:
    """Shows each stage of a run as a line with a spinner, then a tick and its time."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._description = ""

    def __call__(self, stage: str) -> None:
        self.done()
        self._description = escape(stage[:1].upper() + stage[1:])
        self._task = self._progress.add_task(self._description, total=None)

    def done(self, outcome: str | None = None) -> None:
        """Tick the current stage; ``outcome`` replaces its description (e.g. "failed")."""
        if self._task is not None:
            if outcome is not None:
                self._progress.update(self._task, description=f"{self._description}: {outcome}")
            self._progress.update(self._task, total=1, completed=1)
            self._task = None


def _print_problems(console: Console, problems: Sequence[io.InputProblem]) -> None:
    count = len(problems)
    console.print(
        f"[bold red]{count} problem{'s' if count != 1 else ''} in the input files.[/] "
        "Nothing was written. Fix these and run again:"
    )
    for problem in problems:
        # soft_wrap: one problem per line, never broken mid-message, easy to copy into a ticket
        console.print(f"  • {escape(str(problem))}", soft_wrap=True)


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


def _print_summary(console: Console, summary: PlacementSummary, out: Path) -> None:
    rows = io.summary_rows(summary)
    table = Table(title="Placement round", show_header=False)
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    for row in rows:
        if row.unit != "text":
            table.add_row(row.label, _format(row))
    console.print(table)
    console.print(f"Travel-time model: {escape(summary.travel_model)}", soft_wrap=True)
    console.print(f"Placements written to [bold]{escape(str(out))}[/]", soft_wrap=True)


# --------------------------------------------------------------------------------------------
# Commands


_PLACE_HELP = (
    "Propose a placement for every child in a round, honouring parental preference first.\n\n"
    "All files are checked before anything else is done: if any row has a problem, every "
    "problem is listed with its file, row and column, and no output is written."
)


@app.command("place", help=_PLACE_HELP)
def place_command(
    children: Annotated[
        Path,
        typer.Option(
            "--children", metavar="FILE", help="Caseload: one row per child (.csv or .xlsx)."
        ),
    ],
    settings: Annotated[
        Path,
        typer.Option(
            "--settings", metavar="FILE", help="Schools and other settings (.csv or .xlsx)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="FILE", help="Where to write the placements (.csv or .xlsx)."
        ),
    ],
    tariffs: Annotated[
        Path | None,
        typer.Option("--tariffs", metavar="FILE", help="The LA's banding framework (optional)."),
    ] = None,
    year_start: Annotated[
        datetime | None,
        typer.Option(
            "--year-start",
            formats=["%Y-%m-%d"],
            metavar="DATE",
            help="First day of the school year being planned for, e.g. 2026-09-01; turns "
            "dates of birth into NC years. Default: the next 1 September.",
            show_default=False,
        ),
    ] = None,
    primary_limit: Annotated[
        float,
        typer.Option("--primary-limit", min=1, help="Longest journey for primary age, minutes."),
    ] = 45.0,
    secondary_limit: Annotated[
        float,
        typer.Option(
            "--secondary-limit", min=1, help="Longest journey for secondary age, minutes."
        ),
    ] = 75.0,
    la_code: Annotated[
        str | None,
        typer.Option(
            "--la-code",
            help="Your LA code (e.g. 935), for children whose record has no home_la_code; "
            "decides which placements are out of area.",
        ),
    ] = None,
    # The lead adds `--osm FILE` (a road network) here, passed on to build_travel_matrix.
) -> None:
    """``sendmatch place``: load and check, estimate travel, place, write, summarise."""
    console = Console()
    errors = Console(stderr=True)
    inputs_given = [p for p in (children, settings, tariffs) if p is not None]
    out_problem = io.check_output_path(out, inputs_given)
    if out_problem:
        errors.print(f"[bold red]Cannot write the output:[/] {escape(out_problem)}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM)

    start: date = year_start.date() if year_start else io.next_september()
    with Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=errors,
    ) as progress:
        stage = _Stages(progress)
        stage("reading and checking the input files")
        try:
            inputs = io.load_round(children, settings, tariffs, year_start=start)
        except io.InputError as exc:
            stage.done("[red]problems found[/]")
            progress.stop()
            _print_problems(errors, exc.problems)
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None

        config = PlacementConfig(
            eligibility=EligibilityConfig(
                primary_limit_minutes=primary_limit, secondary_limit_minutes=secondary_limit
            ),
            tariffs=Tariffs.from_bands(inputs.tariffs),
            home_la_code=la_code,
        )
        stage("estimating travel times")
        travel = build_travel_matrix(
            inputs.children, inputs.settings, config.eligibility.cutoff_minutes
        )
        result = placement.place(inputs.children, inputs.settings, travel, config, progress=stage)
        stage(f"writing {out.name}")
        try:
            io.write_placements(result, out)
        except OSError as exc:
            stage.done("[red]failed[/]")
            progress.stop()
            errors.print(
                f"[bold red]Could not write {escape(str(out))}:[/] "
                f"{escape(exc.strerror or str(exc))}. If the file is open in Excel, close it "
                "and run again. Nothing was written.",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_FAILED) from None
        stage.done()

    console.print(
        f"{len(inputs.children):,} children, {len(inputs.settings):,} settings; "
        f"school year starting {start.isoformat()}."
    )
    _print_summary(console, result.summary, out)
