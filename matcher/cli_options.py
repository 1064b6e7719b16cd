"""The options every round command shares, and how a round command runs on the console.

``place``, the lists, the pack, fair access and the planning commands all take the same files
and journey options, declared once here so that their help reads the same. :class:`RoundConsole`
runs the round pipeline (:mod:`matcher.pipeline`) under the stage display and turns what it
raises into the command line's messages and exit codes, so each command says only what is
its own.

Light on purpose: imported when ``sendmatch`` starts, it needs only Typer and rich; the
pipeline and everything it solves with are imported when a command runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from matcher.cli_display import Stages, print_problems
from matcher.cli_display import progress as stage_display

if TYPE_CHECKING:
    from matcher.pipeline import PreparedRound, RoundOptions

EXIT_FAILED = 1  # the inputs were fine but something else went wrong (e.g. the output file)
EXIT_INPUT_PROBLEM = 2  # the user's files or options need fixing; nothing was written

T = TypeVar("T")

_CACHE_HELP = (
    "Folder for downloaded extracts and built road networks (no data about children is kept "
    "there). Default: $SENDMATCH_CACHE_DIR, else ~/.cache/sendmatch."
)
CacheDirOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", metavar="DIR", help=_CACHE_HELP, show_default=False),
]
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
        "decides which placements are out of area. With --boundary: your LA's code or name "
        "in that file (ONS code E06000017 or name Rutland for the ONS files).",
    ),
]
BoundaryOption = Annotated[
    Path | None,
    typer.Option(
        "--boundary",
        metavar="FILE",
        help="LA boundaries (the ONS Local Authority Districts GeoJSON, or any polygon file): "
        "with --la-code, settings outside your LA's polygon are out of area by where they "
        "are, whatever their la_code; they stay available. Needs --la-code.",
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


def round_options(
    children: Path,
    settings: Path,
    tariffs: Path | None,
    year_start: datetime | None,
    primary_limit: float,
    secondary_limit: float,
    la_code: str | None,
    osm: Path | None,
    cache_dir: Path | None,
    boundary: Path | None = None,
) -> RoundOptions:
    """The pipeline's input from the shared options (the date option parses to a datetime)."""
    from matcher.pipeline import RoundOptions

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
        boundary=boundary,
    )


def refuse_outputs(
    options: RoundOptions,
    outs: list[Path],
    errors: Console,
    suffixes: tuple[str, ...] | None = None,
) -> None:
    """Stop with :data:`EXIT_INPUT_PROBLEM` before any work if an output cannot be written."""
    from matcher import pipeline

    try:
        pipeline.check_outputs(options, outs, suffixes)
    except pipeline.OutputProblem as exc:
        errors.print(f"[bold red]Cannot write the output:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None


class RoundConsole:
    """A round command's stages on the console, and its way of stopping with a message.

    Every stop ends the current stage in red, stops the display, prints one message (or the
    list of problems in the files) and exits with the code the message calls for.
    """

    def __init__(self, progress: Progress, errors: Console) -> None:
        self.progress = progress
        self.errors = errors
        self.stage = Stages(progress)

    def fail(self, message: str, code: int = EXIT_INPUT_PROBLEM) -> NoReturn:
        """Stop with ``message`` (rich markup; the caller escapes what the user typed)."""
        self.stage.fail()
        self.errors.print(message, soft_wrap=True)
        raise typer.Exit(code)

    def prepare(self, options: RoundOptions) -> PreparedRound:
        """:func:`matcher.pipeline.prepare_round`, its problems shown as the user's to fix."""
        from matcher import pipeline

        with self.stopping_on_problems():
            return pipeline.prepare_round(options, self.stage)

    def write(self, out: Path, write: Callable[[], T]) -> T:
        """Write ``out`` (``write`` writes it), or stop with :data:`EXIT_FAILED`."""
        from matcher import pipeline

        with self.stopping_on_problems():
            return pipeline.write_output(out, write, self.stage)

    @contextmanager
    def stopping_on_problems(self) -> Iterator[None]:
        """Turn what the pipeline raises for the user to fix into its message and exit code.

        Files and options: :data:`EXIT_INPUT_PROBLEM`, nothing written. An output that will
        not write once the round is solved: :data:`EXIT_FAILED`, since the inputs were fine.
        """
        from matcher import io, pipeline

        try:
            yield
        except io.InputError as exc:
            self.stage.fail("problems found")
            print_problems(self.errors, exc.problems)
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
        except pipeline.NetworkProblem as exc:
            self.fail(
                f"[bold red]Cannot use the road network:[/] {escape(str(exc).rstrip('.'))}. "
                "Nothing was written."
            )
        except pipeline.BoundaryProblem as exc:
            self.fail(f"[bold red]Cannot use the boundary:[/] {escape(str(exc))}")
        except pipeline.OutputProblem as exc:
            self.fail(f"[bold red]Cannot write the output:[/] {escape(str(exc))}")
        except pipeline.SideConstraintsProblem as exc:
            self.fail(f"[bold red]{escape(str(exc))}[/]")
        except pipeline.WriteFailed as exc:
            # Most often a file that will not write is open in Excel: say so.
            self.fail(
                f"[bold red]Could not write {escape(str(exc.path))}:[/] {escape(exc.reason)}. "
                f"If the file is open in Excel, close it and run again. "
                f"{escape(exc.path.name)} was not written.",
                EXIT_FAILED,
            )


@contextmanager
def round_console(errors: Console) -> Iterator[RoundConsole]:
    """The stage display on ``errors`` (stderr) for the length of the block."""
    with stage_display(errors) as progress:
        yield RoundConsole(progress, errors)
