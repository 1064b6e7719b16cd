"""``sendmatch forecast``: project the EHCP population of future years, back-test it, and set
it against places.

Thin, like :mod:`matcher.cli`: reading and checking files is :mod:`matcher.forecast.inputs`,
the model is :mod:`matcher.forecast.model`, writing :mod:`matcher.forecast.outputs`. Every
mistake in the user's files or options is a list of problems and exit code 2 with nothing
written; progress goes to stderr, results to stdout.

``sendmatch forecast [OPTIONS]`` runs a forecast (and saves its simulations beside the
spreadsheet), ``sendmatch forecast backtest [OPTIONS]`` measures one, and ``sendmatch forecast
sufficiency [OPTIONS]`` sets a saved forecast against the places of a settings file: the
group's own options are the forecast's, so the command reads as the README shows it. The
forecast modules (pandas, the model, matplotlib) are imported only when a command runs, so
that ``sendmatch --help`` stays quick.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from matcher.cli_display import Stages, print_problems
from matcher.cli_display import progress as stage_display

if TYPE_CHECKING:
    import pandas as pd

    from geodata.postcodes import PostcodeFile
    from matcher.forecast.knobs import AssumptionProblem, AssumptionSet
    from matcher.forecast.sufficiency import PlannedSetting
    from matcher.forecast.types import ForecastConfig, ForecastInputs, Projection
    from matcher.models import Setting
    from matcher.planning import Scenario

EXIT_FAILED = 1  # the same codes as matcher.cli's
EXIT_INPUT_PROBLEM = 2
DEFAULT_SIMULATIONS = 1000
DEFAULT_SEED = 42

_FORECAST_HELP = (
    "Project the number of children and young people with an EHC plan in each future January: "
    "totals and counts by primary need, setting (kind of place) and NC year, with 95% "
    "intervals and annual cost.\n\n"
    "From your own history: one file per January (SEN2 census or caseload) in a folder, "
    "--history FOLDER, with child_id, nc_year, primary_need and kind_of_place. From "
    "witan.send's files as they are: --transitions transitions.csv (optionally --costs, "
    "--valid-states). Both need --population (calendar-year, academic-year, population).\n\n"
    "--out FOLDER writes witan.send's Output_Count/Need/Setting/AY/Cost.csv, forecast.xlsx "
    "and two PNG charts; --out FILE.xlsx writes the spreadsheet without them. Either way every "
    "simulated future is saved beside the spreadsheet (forecast_simulations.npz, or "
    "FILE_simulations.npz), for `sendmatch forecast sufficiency` and scenario files' "
    "demand: forecast.xlsx#2029; keep the two together.\n\n"
    "Examples:\n\n"
    "  sendmatch forecast --history caseloads/ --population population.csv --years 2026-2032 "
    "--out forecast.xlsx\n\n"
    "  sendmatch forecast --transitions transitions.csv --population population.csv "
    "--years 2017-2022 --out results/\n\n"
    "  sendmatch forecast backtest --history caseloads/ --population population.csv\n\n"
    "  sendmatch forecast sufficiency --forecast forecast.xlsx --settings settings.csv"
)
_BACKTEST_HELP = (
    "Measure the forecast on years it has not seen: hold out the last 1, 2, 3 Januaries "
    "(--horizons), project them from the years before, and compare with what happened, in "
    "total and by need and setting, beside a trivial forecast (last year's growth applied to "
    "every group). Takes the same input options as `sendmatch forecast`."
)

_SUFFICIENCY_HELP = (
    "Set a forecast's projected demand against the places in a settings file (and the places "
    'a scenario file adds), year by year, by kind of place, phase and need: "in 2029 the LA '
    'is short of 64 ASD special places for secondary age (95% interval 41–88)". Prints the '
    "biggest shortfalls of each year; --out writes every row (.xlsx or .csv).\n\n"
    "Resourced provision and SEN units, special, independent and AP places are compared; "
    "mainstream, post-16 and other arrangements show demand only. Needs a forecast made from "
    "--history (settings as kinds of place), not from witan.send's transitions.\n\n"
    "Example:\n\n"
    "  sendmatch forecast sufficiency --forecast forecast.xlsx --settings settings.csv "
    "--scenario free_school.yaml --out sufficiency.xlsx"
)
#: At most this many shortfalls of each year are printed (the file has every row).
SHORTFALLS_SHOWN = 5

forecast_app = typer.Typer(
    help=_FORECAST_HELP,
    short_help="Project EHCP demand by need, setting and NC year, with intervals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    subcommand_metavar="[backtest|sufficiency [OPTIONS]]",
)

TransitionsOption = Annotated[
    Path | None,
    typer.Option(
        "--transitions",
        metavar="FILE",
        help="witan.send's transitions.csv (calendar-year, setting-1, need-1, "
        "academic-year-1, setting-2, need-2, academic-year-2; NONSEND for joiners and leavers).",
    ),
]
HistoryOption = Annotated[
    Path | None,
    typer.Option(
        "--history",
        metavar="FOLDER",
        help="Your yearly snapshots: a folder of one .csv/.xlsx a January (the year in the file "
        "name, e.g. 2024.csv, or a census_year column), with child_id, nc_year, primary_need "
        "and kind_of_place (or setting_urn with --settings).",
    ),
]
PopulationOption = Annotated[
    Path | None,
    typer.Option(
        "--population",
        metavar="FILE",
        help="General population by calendar-year and academic-year (NC year), every year "
        "of the history and of the projection (e.g. ONS projections).",
    ),
]
CostsOption = Annotated[
    Path | None,
    typer.Option(
        "--costs",
        metavar="FILE",
        help="Annual cost of a child by need and setting (need, setting, cost). With --history "
        "the setting is a kind of place and a blank need prices it for every need.",
    ),
]
ValidStatesOption = Annotated[
    Path | None,
    typer.Option(
        "--valid-states",
        metavar="FILE",
        help="witan.send's valid-states.csv (with --transitions): the NC years and needs "
        "each setting takes and the moves allowed.",
    ),
]
SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        metavar="FILE",
        help="With --history files that give setting_urn: a settings file (urn and "
        "setting_type or kind_of_place) saying each URN's kind of place.",
    ),
]
SimulationsOption = Annotated[
    int,
    typer.Option(
        "--simulations", min=1, max=100_000, help="Simulated futures behind the intervals."
    ),
]
SeedOption = Annotated[
    int, typer.Option("--seed", help="Random seed: the same seed gives the same forecast.")
]
AssumeOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--assume",
        metavar="FILE",
        help="An assumptions file (.yaml, .yml, .json): the general population, a need's "
        "joiners, a share of one kind of place's children placed in another, a new setting's "
        "places (see the README). Give it several times for one forecast per file, written "
        "side by side as FOLDER/<file name>/ or FILE_<file name>.xlsx, totals compared.",
    ),
]


@dataclass(frozen=True)
class _Sources:
    """The input options of both commands."""

    transitions: Path | None
    history: Path | None
    population: Path | None
    costs: Path | None
    valid_states: Path | None
    settings: Path | None

    def files(self) -> list[Path]:
        return [p for p in (self.transitions, self.population, self.costs) if p] + [
            p for p in (self.valid_states, self.settings) if p
        ]


@forecast_app.callback(invoke_without_command=True, help=_FORECAST_HELP)
def forecast_command(
    ctx: typer.Context,
    history: HistoryOption = None,
    transitions: TransitionsOption = None,
    population: PopulationOption = None,
    years: Annotated[
        str | None,
        typer.Option(
            "--years",
            metavar="FIRST-LAST",
            help="The Januaries to project, e.g. 2026-2032 (or one year, 2030). The projection "
            "starts from the last January observed and runs to LAST.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FOLDER|FILE.xlsx",
            help="A folder (witan.send's Output_*.csv, forecast.xlsx, charts) or a .xlsx file; "
            "the simulations are saved beside the spreadsheet (…_simulations.npz).",
        ),
    ] = None,
    costs: CostsOption = None,
    valid_states: ValidStatesOption = None,
    settings: SettingsOption = None,
    simulations: SimulationsOption = DEFAULT_SIMULATIONS,
    seed: SeedOption = DEFAULT_SEED,
    assume: AssumeOption = None,
    la: Annotated[
        str | None,
        typer.Option(
            "--la",
            metavar="CODE|NAME",
            help="Forecast an English LA from the DfE's published EHC plan statistics, with no "
            "files of your own: its 3-digit code (857), ONS code or name (Rutland). Totals, age "
            "groups and types of setting for 1-5 years (--years 3, or --years 2029), beside its "
            "region and England; --out FILE.xlsx or .csv is optional. With it, --population "
            "FILE is the ONS population by LA and single year of age (la_code, year, age, "
            "population) and --history FOLDER your snapshots, for the split by need and setting.",
        ),
    ] = None,
    ehcp_statistics: Annotated[
        list[Path] | None,
        typer.Option(
            "--ehcp-statistics",
            metavar="FILE",
            help="With --la: the DfE's 'Education, health and care plans' caseload files "
            "(CSV, or the release's ZIP); give it several times for several files. Default: "
            "the file `sendmatch data download ehcp-statistics` keeps in the cache.",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            metavar="NAME|CODE",
            help="Instead of --la: every LA of an English region (London, E12000007), from "
            "the DfE's statistics, and the region's total.",
        ),
    ] = None,
) -> None:
    """``sendmatch forecast``: read and check, project, write, summarise."""
    errors, console = Console(stderr=True), Console()
    defaults = {"simulations": DEFAULT_SIMULATIONS, "seed": DEFAULT_SEED}
    given = [
        name
        for name, value in ctx.params.items()
        if value != defaults.get(name) and value not in ([], ())  # a list option not given
    ]
    if ctx.invoked_subcommand is not None:
        if given:
            _refuse(
                errors,
                f"give the options after `{ctx.invoked_subcommand}`, e.g. `sendmatch forecast "
                f"{ctx.invoked_subcommand} --history FOLDER --population FILE`",
            )
        return
    if la is not None or region is not None or ehcp_statistics:
        from matcher.cli_la_forecast import la_forecast_command

        la_forecast_command(
            given,
            la,
            ehcp_statistics,
            years,
            out,
            simulations,
            seed,
            region=region,
            history=history,
            population=population,
            settings=settings,
        )
        return
    sources = _Sources(transitions, history, population, costs, valid_states, settings)
    _check_sources(sources, errors)
    if years is None or out is None:
        missing = " and ".join(n for n, v in (("--years", years), ("--out", out)) if v is None)
        _refuse(errors, f"{missing} {'is' if ' and ' not in missing else 'are'} required")
    assert years is not None and out is not None
    first, last = _parse_years(years, errors)
    _check_out(out, sources, errors)
    run_forecast(
        sources, first, last, out, simulations, seed, console=console, errors=errors, assume=assume
    )


@forecast_app.command(
    "backtest",
    help=_BACKTEST_HELP,
    short_help="Project held-out past years and compare with what happened.",
)
def backtest_command(
    history: HistoryOption = None,
    transitions: TransitionsOption = None,
    population: PopulationOption = None,
    horizons: Annotated[
        str,
        typer.Option(
            "--horizons",
            metavar="N,N,...",
            help="How many years ahead to test, e.g. 1,2,3: each holds out that many of the "
            "last Januaries.",
        ),
    ] = "1,2,3",
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Also write the table (.csv or .xlsx)."),
    ] = None,
    costs: CostsOption = None,
    valid_states: ValidStatesOption = None,
    settings: SettingsOption = None,
    simulations: SimulationsOption = DEFAULT_SIMULATIONS,
    seed: SeedOption = DEFAULT_SEED,
    all_las: Annotated[
        bool,
        typer.Option(
            "--all-las",
            help="Back-test every English LA from the DfE's EHC plan statistics instead: the "
            "last three Januaries from 1-3 years before (--horizons), beside naive forecasts; "
            "--out FILE also writes FILE's chart as .png.",
        ),
    ] = False,
    ehcp_statistics: Annotated[
        list[Path] | None,
        typer.Option(
            "--ehcp-statistics",
            metavar="FILE",
            help="With --all-las: the DfE's caseload files (as for `sendmatch forecast --la`).",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            metavar="NAME|CODE",
            help="With --all-las: score only the LAs of this region (all LAs are modelled).",
        ),
    ] = None,
) -> None:
    """``sendmatch forecast backtest``: project held-out years and compare with the truth."""
    from matcher import io
    from matcher.forecast.types import ForecastConfig

    if all_las or ehcp_statistics or region is not None:
        from matcher.cli_la_forecast import la_backtest_command

        own = (history, transitions, population, costs, valid_states, settings)
        la_backtest_command(
            all_las, any(own), ehcp_statistics, horizons, out, simulations, seed, region=region
        )
        return
    errors, console = Console(stderr=True), Console()
    sources = _Sources(transitions, history, population, costs, valid_states, settings)
    _check_sources(sources, errors)
    ahead = _parse_horizons(horizons, errors)
    if out is not None:
        problem = io.check_output_path(out, sources.files())
        if problem:
            _refuse(errors, f"cannot write the output: {problem}")
    config = ForecastConfig(n_simulations=simulations, seed=seed)
    with _stages(errors) as stage:
        inputs = _read(sources, stage, errors)
        observed = inputs.observed_years
        if max(ahead) > len(observed) - 2:
            stage.fail()
            _refuse(
                errors,
                f"--horizons {max(ahead)} holds out too many years: the inputs observe "
                f"{len(observed)} Januaries ({observed[0]}–{observed[-1]}), and the model needs "
                f"at least two left to learn from; use horizons up to {max(len(observed) - 2, 0)}",
            )
        from matcher.forecast.backtest import backtest

        stage(f"back-testing {len(ahead)} horizon(s), {simulations:,} simulations each")
        try:
            table = backtest(inputs, ahead, config)
        except ValueError as exc:  # a history too short for the horizons
            stage.fail()
            _refuse(errors, str(exc))
        if out is not None:
            stage(f"writing {out.name}")
            _write(lambda: _write_backtest(table, out), out, stage, errors)
    for view in _backtest_views(table):
        console.print(view)
    console.print(
        "Error: the projected mean against the truth. Trivial: last year's growth applied to "
        "every need and setting, the forecast to beat.",
        soft_wrap=True,
    )
    if out is not None:
        console.print(f"Written: {escape(str(out))}", soft_wrap=True)


@forecast_app.command(
    "sufficiency",
    help=_SUFFICIENCY_HELP,
    short_help="Projected demand against places, year by year, with intervals.",
)
def sufficiency_command(
    forecast: Annotated[
        Path | None,
        typer.Option(
            "--forecast",
            metavar="FILE",
            help="The forecast.xlsx that `sendmatch forecast --out` wrote (its "
            "_simulations.npz must be beside it), the .npz itself, or the --out folder.",
        ),
    ] = None,
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            metavar="FILE",
            help="The settings file whose places the LA can use (the same file as for "
            "`sendmatch run`).",
        ),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            metavar="FILE",
            help="A scenario file (.yaml, .yml, .json) whose new settings and resourced "
            "provisions add places: a new setting from the January after its opening_year.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Also write every row (.xlsx or .csv)."),
    ] = None,
    postcodes: Annotated[
        Path | None,
        typer.Option(
            "--postcodes",
            metavar="FILE",
            help="Postcode file, for a scenario whose new sites are given by postcode.",
        ),
    ] = None,
) -> None:
    """``sendmatch forecast sufficiency``: a saved forecast against places, by year."""
    from matcher import io

    errors, console = Console(stderr=True), Console()
    if forecast is None or settings is None:
        missing = [n for n, v in (("--forecast", forecast), ("--settings", settings)) if v is None]
        _refuse(errors, f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
    assert forecast is not None and settings is not None
    if out is not None:
        from matcher.forecast.outputs import need_chart_path

        inputs = [p for p in (forecast, settings, scenario) if p is not None]
        problem = io.check_output_path(out, [*inputs, _projection_file(forecast)])
        chart = need_chart_path(out)
        if problem is None and (chart.is_dir() or chart.resolve() in [p.resolve() for p in inputs]):
            problem = f"{chart.name}, the chart written beside it, is a folder or an input file"
        if problem:
            _refuse(errors, f"cannot write the output: {problem}")
    with _stages(errors) as stage:
        projection = _read_forecast(forecast, stage, errors)
        stage(f"reading {settings.name}")
        places = _read_places(settings, scenario, postcodes, stage, errors)
        stage("setting projected demand against places")
        from matcher.forecast.sufficiency import demand_and_places_by_need, sufficiency

        try:
            table = sufficiency(projection, places.settings, extra_places=places.planned)
            by_need = demand_and_places_by_need(
                projection, places.settings, extra_places=places.planned
            )
        except ValueError as exc:  # labels checked above: a bug if it happens
            stage.fail()
            _refuse(errors, str(exc))
        if out is not None:
            stage(f"writing {out.name} and its chart")
            written = _write(lambda: _write_sufficiency(table, out, by_need), out, stage, errors)
    _print_sufficiency(console, table, places.scenario_name)
    if out is not None:
        names = ", ".join(escape(str(path)) for path in written)
        console.print(f"Written: {names}", soft_wrap=True)
    else:
        console.print("Give --out FILE.xlsx (or .csv) for every row.", soft_wrap=True)


# --------------------------------------------------------------------------------------------
# The forecast, once


def run_forecast(
    sources: _Sources,
    first: int,
    last: int,
    out: Path,
    simulations: int,
    seed: int,
    *,
    console: Console,
    errors: Console,
    assume: Sequence[Path] | None = None,
) -> None:
    """Read, check the years against the inputs, project, write, then print the totals.

    With assumptions files (``--assume``), one forecast per file: with one, at ``out``; with
    several, each beside it under its file's name (:func:`_assumption_outputs`)."""
    from matcher.forecast.inputs import check_population_years, uncosted_states
    from matcher.forecast.knobs import with_population
    from matcher.forecast.outputs import forecast_tables, write_forecast
    from matcher.forecast.types import ForecastConfig
    from matcher.io import InputError

    config = ForecastConfig(n_simulations=simulations, seed=seed)
    runs = _assumption_outputs(out, list(assume or ()), sources, errors)
    results: list[tuple[str, Mapping[str, pd.DataFrame]]] = []
    with _stages(errors) as stage:
        inputs = _read(sources, stage, errors)
        base = inputs.observed_years[-1]
        if last <= base:
            stage.fail()
            _refuse(
                errors,
                f"--years must reach past {base}, the last January in the inputs "
                f"(got {first}-{last})",
            )
        projected = range(base + 1, last + 1)
        _check_assumptions(inputs, [a for a, _ in runs if a is not None], projected, stage, errors)
        try:
            assert sources.population is not None
            for assumptions, _ in runs:
                assumed = with_population(inputs, assumptions, base, projected)
                check_population_years(assumed, projected, sources.population.name)
        except InputError as exc:
            stage.fail()
            print_problems(errors, exc.problems)
            raise typer.Exit(EXIT_INPUT_PROBLEM) from None
        _warn_uncosted(uncosted_states(inputs), errors)
        written: list[Path] = []
        for assumptions, target in runs:
            projection = _project(
                inputs, range(max(first, base + 1), last + 1), config, stage, errors, assumptions
            )
            stage("summarising the simulated futures")
            tables = forecast_tables(
                projection, inputs, config, first_year=first, assumptions=assumptions
            )
            stage(f"writing {target.name}")
            if len(runs) > 1 and target.suffix.lower() != ".xlsx":
                out.mkdir(exist_ok=True)
            write = functools.partial(write_forecast, tables, target, projection)
            written += _write(write, target, stage, errors)
            results.append((assumptions.name if assumptions else "", tables.witan))
    if len(results) == 1:
        _print_totals(console, results[0][1], simulations)
    else:
        _print_compared_totals(console, results, simulations)
    if first <= base:
        console.print(
            f"January {base} is the last observed; the projection runs from it.", soft_wrap=True
        )
    folders = sorted({str(path.parent) for path in written})
    names = ", ".join(path.name for path in written if str(path.parent) == folders[0])
    if len(folders) == 1:
        console.print(f"Written: {escape(names)} in {escape(folders[0])}", soft_wrap=True)
    else:
        console.print(f"Written in {escape(', '.join(folders))}", soft_wrap=True)


def _assumption_outputs(
    out: Path, assume: list[Path], sources: _Sources, errors: Console
) -> list[tuple[AssumptionSet | None, Path]]:
    """Each forecast to make and where it goes: ``out`` with no assumptions file or one; with
    several, ``out/<file stem>/`` for a folder or ``<stem>_<file stem>.xlsx`` beside ``out``.
    Every file is read and checked before anything is projected."""
    from matcher.forecast.knobs import AssumptionsError, load_assumptions
    from matcher.forecast.outputs import check_forecast_out

    if not assume:
        return [(None, out)]
    sets: list[AssumptionSet] = []
    problems: list[AssumptionProblem] = []
    for path in assume:
        try:
            sets.append(load_assumptions(path))
        except AssumptionsError as exc:
            problems += exc.problems
    if problems:
        print_problems(errors, problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    if len(sets) == 1:
        return [(sets[0], out)]
    stems = [
        re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-.") or "assumptions" for path in assume
    ]
    if len(set(stems)) < len(stems):
        _refuse(
            errors, "--assume files must have different names: each names its forecast's output"
        )
    if out.suffix.lower() == ".xlsx":
        targets = [out.with_name(f"{out.stem}_{stem}.xlsx") for stem in stems]
    else:
        targets = [out / stem for stem in stems]
    inputs = [*sources.files(), *assume]
    for target in targets:
        problem = check_forecast_out(target, inputs) if target.parent.exists() else None
        if problem:
            _refuse(errors, f"cannot write the output: {problem}")
    return list(zip(sets, targets, strict=True))


def _check_assumptions(
    inputs: ForecastInputs,
    sets: Sequence[AssumptionSet],
    projected: range,
    stage: Stages,
    errors: Console,
) -> None:
    """Assumptions against the inputs (their needs, settings and the years projected), every
    problem of every file at once, before anything is simulated."""
    from matcher.forecast.knobs import AssumptionsError, resolve
    from matcher.forecast.model import forecast_axes

    if not sets:
        return
    problems: list[AssumptionProblem] = []
    axes = forecast_axes(inputs)
    for assumptions in sets:
        try:
            resolve(assumptions, *axes, list(projected))
        except AssumptionsError as exc:
            problems += exc.problems
    if problems:
        stage.fail("problems found")
        print_problems(errors, problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM)


def _project(
    inputs: ForecastInputs,
    years: range,
    config: ForecastConfig,
    stage: Stages,
    errors: Console,
    assumptions: AssumptionSet | None = None,
) -> Projection:
    from matcher.forecast.model import project
    from matcher.io import InputError

    assumed = f" with {assumptions.name!r}" if assumptions is not None else ""
    stage(f"simulating {config.n_simulations:,} futures to {years[-1]}{assumed}")
    try:
        return project(inputs, list(years), config, progress=stage.note, assumptions=assumptions)
    except InputError as exc:  # what only the model sees, e.g. a year without population
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None


def _read(sources: _Sources, stage: Stages, errors: Console) -> ForecastInputs:
    from matcher.forecast.inputs import read_la_history, read_witan_inputs
    from matcher.io import InputError

    assert sources.population is not None
    stage("reading and checking the input files")
    try:
        if sources.history is not None:
            return read_la_history(
                sources.history,
                sources.population,
                costs=sources.costs,
                settings=sources.settings,
            )
        assert sources.transitions is not None
        return read_witan_inputs(
            sources.transitions, sources.population, sources.costs, sources.valid_states
        )
    except InputError as exc:
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None


# --------------------------------------------------------------------------------------------
# Options


def _check_sources(sources: _Sources, errors: Console) -> None:
    if (sources.history is None) == (sources.transitions is None):
        _refuse(
            errors,
            "give either --history FOLDER (your yearly snapshots) or --transitions FILE "
            "(witan.send's transitions.csv), not "
            + ("both" if sources.history is not None else "neither"),
        )
    if sources.population is None:
        _refuse(errors, "--population FILE is required (calendar-year, academic-year, population)")
    if sources.valid_states is not None and sources.history is not None:
        _refuse(errors, "--valid-states goes with --transitions (witan.send's files) only")
    if sources.settings is not None and sources.transitions is not None:
        _refuse(errors, "--settings goes with --history only")


_YEARS = re.compile(r"^\s*(\d{4})\s*(?:(?:-|–|to|\.\.)\s*(\d{4}))?\s*$")


def _parse_years(text: str, errors: Console) -> tuple[int, int]:
    match = _YEARS.match(text)
    if match is None:
        _refuse(errors, f"--years {text!r}: give FIRST-LAST, e.g. 2026-2032, or one year")
    assert match is not None
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        _refuse(errors, f"--years {text!r}: {last} is before {first}")
    if last - first > 50:
        _refuse(errors, f"--years {text!r}: at most 50 years ahead")
    return first, last


def _parse_horizons(text: str, errors: Console) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
        _refuse(errors, f"--horizons {text!r}: give whole numbers of 1 or more, e.g. 1,2,3")
    return sorted({int(p) for p in parts})


def _check_out(out: Path, sources: _Sources, errors: Console) -> None:
    from matcher.forecast.outputs import check_forecast_out

    problem = check_forecast_out(out, sources.files())
    if (
        problem is None
        and sources.history is not None
        and out.resolve() == sources.history.resolve()
    ):
        problem = f"{out} is the --history folder; choose another folder for the output"
    if problem:
        _refuse(errors, f"cannot write the output: {problem}")


def _refuse(errors: Console, message: str) -> NoReturn:
    errors.print(f"[bold red]Error:[/] {escape(message)}. Nothing was written.", soft_wrap=True)
    raise typer.Exit(EXIT_INPUT_PROBLEM)


# --------------------------------------------------------------------------------------------
# Display


@contextmanager
def _stages(errors: Console) -> Iterator[Stages]:
    with stage_display(errors) as display:
        stage = Stages(display)
        yield stage
        stage.done()


def _write(
    write: Callable[[], list[Path] | None], out: Path, stage: Stages, errors: Console
) -> list[Path]:
    try:
        return write() or [out]
    except OSError as exc:
        stage.fail()
        errors.print(
            f"[bold red]Could not write {escape(str(out))}:[/] "
            f"{escape(exc.strerror or str(exc))}. If a file is open in Excel, close it and "
            "run again. Nothing was written.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED) from None


def _warn_uncosted(pairs: Sequence[tuple[str, str]], errors: Console) -> None:
    if not pairs:
        return
    shown = ", ".join(f"{need} in {setting}" for need, setting in pairs[:10])
    more = f" and {len(pairs) - 10:,} more" if len(pairs) > 10 else ""
    errors.print(
        f"[bold yellow]Warning:[/] the costs file has no cost for {escape(shown)}{more}: "
        "those children count £0 in the cost forecast.",
        soft_wrap=True,
    )


def _print_totals(console: Console, witan: Mapping[str, pd.DataFrame], simulations: int) -> None:
    counts = witan["Output_Count.csv"]
    costs = witan.get("Output_Cost.csv")
    view = Table(title=f"Children and young people with a plan ({simulations:,} simulations)")
    view.add_column("January", justify="right")
    view.add_column("Mean", justify="right")
    view.add_column("95% interval", justify="right")
    if costs is not None:
        view.add_column("Cost a year (mean)", justify="right")
        view.add_column("Cost 95% interval", justify="right")
    cost_rows = costs.to_dict("records") if costs is not None else []
    for n, row in enumerate(counts.to_dict("records")):
        low, high = row["low-95pc-bound"], row["high-95pc-bound"]
        cells = [str(row["calendar-year"]), f"{row['mean']:,.0f}", f"{low:,.0f}–{high:,.0f}"]
        if cost_rows:
            cost = cost_rows[n]
            low, high = _millions(cost["low-95pc-bound"]), _millions(cost["high-95pc-bound"])
            cells += [_millions(cost["mean"]), f"{low}–{high}"]
        view.add_row(*cells)
    console.print(view)


def _print_compared_totals(
    console: Console, results: Sequence[tuple[str, Mapping[str, pd.DataFrame]]], simulations: int
) -> None:
    """The totals of forecasts made with different assumptions, side by side."""
    view = Table(
        title=f"Children and young people with a plan, by assumptions ({simulations:,} "
        "simulations each): mean [95% interval]",
        box=box.SIMPLE_HEAD,
    )
    view.add_column("January", justify="right")
    for name, _ in results:
        view.add_column(escape(name), justify="right")
    years = results[0][1]["Output_Count.csv"]["calendar-year"].tolist()
    for t, year in enumerate(years):
        cells = [str(year)]
        for _, witan in results:
            row = witan["Output_Count.csv"].iloc[t]
            low, high = row["low-95pc-bound"], row["high-95pc-bound"]
            cells.append(f"{row['mean']:,.0f} [{low:,.0f}–{high:,.0f}]")
        view.add_row(*cells)
    console.print(view)


def _millions(pounds: float) -> str:
    return f"£{pounds / 1e6:,.2f}m"


_TOTAL_HEADERS = (
    *("January", "Years ahead", "Mean", "95% interval", "Truth", "Error", "In it"),
    "Trivial error",
)
_SPLIT_HEADERS = (
    "January",
    "Years ahead",
    "Needs",
    "Needs, trivial",
    "Settings",
    "Settings, trivial",
)


def _backtest_views(table: pd.DataFrame) -> list[Table]:
    """The back-test as two tables a terminal can show: the total of each held-out January
    at each horizon, then the error of its split across needs and settings, each beside the
    trivial forecast's."""
    levels = {str(level): rows for level, rows in table.groupby("level", sort=False)}
    totals = levels.get("total", table.iloc[0:0]).to_dict("records")
    total_lines = [
        [
            str(row["held_out_year"]),
            str(row["horizon"]),
            f"{row['projected']:,.0f}",
            f"{row['low_95']:,.0f}–{row['high_95']:,.0f}",
            f"{row['truth']:,.0f}",
            _percent(row["error_pct"]),
            "yes" if row["covered"] else "no",
            _percent(row["trivial_error_pct"]),
        ]
        for row in totals
    ]
    split_lines = []
    for row in totals:
        cells = [str(row["held_out_year"]), str(row["horizon"])]
        for level in ("need", "setting"):
            found = _level_row(levels.get(level), row["held_out_year"], row["horizon"])
            cells += (
                [_percent(found["split_error_pct"]), _percent(found["trivial_split_error_pct"])]
                if found is not None
                else ["", ""]
            )
        split_lines.append(cells)
    return [
        _view(
            "Back-test: each held-out January's total, projected from the years before",
            _TOTAL_HEADERS,
            total_lines,
        ),
        _view(
            "Error across groups: sum of |projected - truth| over the groups / total",
            _SPLIT_HEADERS,
            split_lines,
        ),
    ]


def _level_row(rows: pd.DataFrame | None, year: object, horizon: object) -> pd.Series | None:
    if rows is None:
        return None
    match = rows[(rows["held_out_year"] == year) & (rows["horizon"] == horizon)]
    return None if match.empty else match.iloc[0]


def _view(title: str, headers: Sequence[str], lines: Sequence[Sequence[str]]) -> Table:
    view = Table(title=title, box=box.SIMPLE_HEAD)
    for n, header in enumerate(headers):  # cells never cut: headers wrap instead
        width = max((len(cells[n]) for cells in lines), default=0)
        view.add_column(header, justify="right", min_width=width)
    for cells in lines:
        view.add_row(*cells)
    return view


def _percent(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "" if number != number else f"{number:.1f}%"  # NaN: not applicable


def _write_backtest(table: pd.DataFrame, out: Path) -> None:
    from matcher.forecast.outputs import write_table

    write_table(table, out, "Back-test")


# --------------------------------------------------------------------------------------------
# A forecast's year as the children to place


def demand_option(demand: str | None, errors: Console) -> Scenario | None:
    """``--demand FORECAST#YEAR`` of the placement commands, checked before the round is read:
    every problem printed and exit 2, as for an input file."""
    from matcher.planning import ScenarioError, forecast_demand

    if demand is None:
        return None
    try:
        return forecast_demand(demand)
    except ScenarioError as exc:
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None


# --------------------------------------------------------------------------------------------
# Sufficiency


@dataclass(frozen=True)
class _Places:
    """The settings whose places count, and the places a scenario adds."""

    settings: list[Setting]
    planned: list[PlannedSetting]
    scenario_name: str | None


def _projection_file(forecast: Path) -> Path:
    from matcher.forecast.outputs import projection_file

    return projection_file(forecast)


def _read_forecast(forecast: Path, stage: Stages, errors: Console) -> Projection:
    """The saved simulations, refused with a clear reason when they are not a forecast of
    kinds of place (a forecast from witan.send's files has setting codes)."""
    from matcher.forecast.outputs import read_projection
    from matcher.forecast.sufficiency import kinds_of_place_problem
    from matcher.io import InputError

    stage(f"reading {forecast.name}")
    try:
        projection = read_projection(forecast)
    except InputError as exc:
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    problem = kinds_of_place_problem(projection)
    if problem is not None:
        stage.fail()
        _refuse(
            errors,
            f"{forecast.name}: {problem}. Sufficiency needs a forecast made from --history "
            "with kinds of place: `sendmatch forecast --history FOLDER --population FILE "
            "--years FIRST-LAST --out forecast.xlsx`",
        )
    return projection


def _read_places(
    settings: Path,
    scenario: Path | None,
    postcodes: Path | None,
    stage: Stages,
    errors: Console,
) -> _Places:
    from matcher.forecast.sufficiency import planned_settings
    from matcher.io import InputError, load_settings
    from matcher.planning import ScenarioError, load_scenario

    try:
        found = load_settings(settings)
    except InputError as exc:
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    if scenario is None:
        return _Places(found, [], None)
    stage(f"reading {scenario.name}")
    try:
        plan = load_scenario(scenario, _postcodes(postcodes, stage, errors), read_forecasts=True)
        planned = planned_settings(plan, found)
    except ScenarioError as exc:
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    except ValueError as exc:  # closures and changed places: change the settings file
        stage.fail()
        _refuse(errors, f"{scenario.name}: {exc}")
    return _Places(found, planned, plan.name)


def _postcodes(path: Path | None, stage: Stages, errors: Console) -> PostcodeFile | None:
    from geodata.postcodes import PostcodeFile

    if path is None:
        return None
    if not path.exists():
        stage.fail()
        _refuse(errors, f"--postcodes {path}: no such file or folder")
    return PostcodeFile(path)


def _write_sufficiency(table: pd.DataFrame, out: Path, by_need: pd.DataFrame) -> list[Path]:
    """The table and, beside it, the chart of demand against places by need
    (``<stem>_by_need.png``)."""
    from matcher.forecast.outputs import need_chart_path, write_need_chart, write_table

    write_table(table, out, "Sufficiency")
    chart = need_chart_path(out)
    write_need_chart(by_need, chart)
    return [out, chart]


def _print_sufficiency(console: Console, table: pd.DataFrame, scenario: str | None) -> None:
    """Each year's biggest shortfalls, in words: what a planner reads first. Places to spare,
    smaller shortfalls and the kinds of place not compared are in the written table."""
    short = table[table["shortfall_mean"].round() >= 1]
    with_plan = f" with the places of {scenario!r}" if scenario else ""
    if short.empty:
        console.print(
            f"No shortfall of places in any year{with_plan}: projected demand is within "
            "the places of every kind, phase and need compared (see the 95% intervals in the "
            "table written with --out).",
            soft_wrap=True,
        )
        return
    view = Table(
        title=f"Shortfalls of places{with_plan}, biggest first (at most {SHORTFALLS_SHOWN} a year)",
        box=box.SIMPLE_HEAD,
        show_lines=False,
    )
    view.add_column("January", justify="right", no_wrap=True)
    view.add_column("Shortfall")
    hidden = 0
    for year, rows in short.groupby("calendar_year", sort=True):
        ordered = rows.sort_values("shortfall_mean", ascending=False, kind="stable")
        for sentence in ordered["sentence"].head(SHORTFALLS_SHOWN):
            view.add_row(str(year), escape(str(sentence)))
        hidden += max(len(ordered) - SHORTFALLS_SHOWN, 0)
    console.print(view)
    if hidden:
        console.print(
            f"{hidden:,} smaller shortfall{'s' if hidden != 1 else ''} not shown: every row is "
            "in the table written with --out.",
            soft_wrap=True,
        )
