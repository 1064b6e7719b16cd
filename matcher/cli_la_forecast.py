"""``sendmatch forecast --la CODE`` and ``sendmatch forecast backtest --all-las``: forecasts
from the DfE's published EHC plan statistics, for any English LA.

The options are declared on :mod:`matcher.cli_forecast`'s commands; this module runs them:
find the statistics (``--ehcp-statistics FILE``, else the file ``sendmatch data download
ehcp-statistics`` put in the cache), read and check them, find the LA, run the model
(:mod:`matcher.forecast.la_totals`) or the back-test (:mod:`matcher.forecast.la_backtest`),
print and write. Problems with the user's files or options are exit 2 with nothing written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from matcher.cli_display import Stages, print_problems
from matcher.cli_forecast import EXIT_INPUT_PROBLEM, _refuse, _stages

if TYPE_CHECKING:
    import pandas as pd

    from matcher.forecast.dfe_statistics import EhcpStatistics
    from matcher.forecast.la_forecast import LaForecast, RegionForecast
    from matcher.forecast.la_history import HistorySplit
    from matcher.forecast.la_population import LaPopulation
    from matcher.forecast.la_totals import LaModelConfig

#: The furthest ahead an LA forecast from the statistics goes (the back-test goes to 3).
MAX_YEARS_AHEAD = 5
DEFAULT_YEARS_AHEAD = 5


def statistics_files(given: Sequence[Path] | None, errors: Console) -> list[Path]:
    """The files to read: those given, else the cached download; refused with what to do."""
    from geodata.network import default_cache_dir
    from matcher.forecast import dfe_download

    if given:
        missing = [p for p in given if not p.is_file()]
        if missing:
            _refuse(errors, f"--ehcp-statistics {missing[0]}: no such file")
        return list(given)
    cache = default_cache_dir()
    cached = dfe_download.cached_statistics(cache)
    if cached is None:
        _refuse(
            errors,
            "no EHC plan statistics to forecast from: run `sendmatch data download "
            "ehcp-statistics` once (it needs the internet; the file is then kept in "
            f"{cache}), or give --ehcp-statistics FILE (the DfE's 'Education, health and care "
            f"plans' caseload CSV files or the release's ZIP, from {dfe_download.RELEASE_PAGE})",
        )
    assert cached is not None
    return [cached]


def read_statistics(files: Sequence[Path], stage: Stages, errors: Console) -> EhcpStatistics:
    from matcher.forecast.dfe_statistics import read_ehcp_statistics
    from matcher.io import InputError

    stage(f"reading the EHC plan statistics ({', '.join(p.name for p in files)})")
    try:
        return read_ehcp_statistics(files)
    except InputError as exc:
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None


_YEARS = re.compile(r"^\s*(\d{4})\s*(?:(?:-|–|to|\.\.)\s*(\d{4}))?\s*$")


def years_ahead(text: str | None, origin: int, errors: Console) -> int:
    """``--years`` with ``--la``: how many Januaries after the latest, 1 to 5 (``3``), or the
    last January wanted (``2029``, or ``2025-2029``)."""
    if text is None:
        return DEFAULT_YEARS_AHEAD
    stripped = text.strip()
    if stripped.isdigit() and len(stripped) <= 2:
        ahead = int(stripped)
    else:
        match = _YEARS.match(stripped)
        if match is None:
            _refuse(errors, f"--years {text!r}: give a number of years ahead (1-5) or FIRST-LAST")
        assert match is not None
        ahead = int(match.group(2) or match.group(1)) - origin
    if not 1 <= ahead <= MAX_YEARS_AHEAD:
        _refuse(
            errors,
            f"--years {text!r}: the statistics end in January {origin}; forecast 1 to "
            f"{MAX_YEARS_AHEAD} years after it (January {origin + 1}-{origin + MAX_YEARS_AHEAD})",
        )
    return ahead


def check_out(out: Path | None, inputs: Sequence[Path], errors: Console) -> None:
    from matcher import io

    if out is None:
        return
    problem = io.check_output_path(out, inputs)
    if problem:
        _refuse(errors, f"cannot write the output: {problem}")


# --------------------------------------------------------------------------------------------
# sendmatch forecast --la

#: The options ``sendmatch forecast --la`` (or ``--region``) takes; the others are for a
#: forecast from files alone.
LA_OPTIONS = frozenset(
    {
        "la",
        "region",
        "ehcp_statistics",
        "years",
        "out",
        "simulations",
        "seed",
        "history",
        "population",
        "settings",
    }
)


@dataclass(frozen=True)
class LaRequest:
    """What ``sendmatch forecast --la`` or ``--region`` was asked for."""

    la: str | None
    region: str | None
    statistics: Sequence[Path] | None
    years: str | None
    out: Path | None
    simulations: int
    seed: int
    history: Path | None = None
    population: Path | None = None
    settings: Path | None = None

    def own_files(self) -> list[Path]:
        return [p for p in (self.population, self.settings, self.history) if p is not None]


def la_forecast_command(
    given: Sequence[str],
    la: str | None,
    ehcp_statistics: Sequence[Path] | None,
    years: str | None,
    out: Path | None,
    simulations: int,
    seed: int,
    *,
    region: str | None = None,
    history: Path | None = None,
    population: Path | None = None,
    settings: Path | None = None,
) -> None:
    """``sendmatch forecast --la`` or ``--region``: the options checked, then
    :func:`run_la_forecast`."""
    errors, console = Console(stderr=True), Console()
    if la is None and region is None:
        _refuse(
            errors,
            "--ehcp-statistics goes with --la CODE|NAME (the LA to forecast) or --region "
            "NAME|CODE (every LA of a region)",
        )
    if la is not None and region is not None:
        _refuse(errors, "give --la CODE|NAME or --region NAME|CODE, not both")
    others = sorted(set(given) - LA_OPTIONS)
    if others:
        shown = ", ".join("--" + name.replace("_", "-") for name in others)
        _refuse(
            errors,
            f"--la forecasts from the DfE's statistics (with --history, --population and "
            f"--settings if you give them); {shown} go(es) with a forecast from your own files "
            "alone (--history or --transitions), which does not yet combine with --la",
        )
    if region is not None and history is not None:
        _refuse(errors, "--history is one LA's snapshots: give it with --la, not --region")
    if settings is not None and history is None:
        _refuse(errors, "--settings goes with --history (it says each URN's kind of place)")
    request = LaRequest(
        la, region, ehcp_statistics, years, out, simulations, seed, history, population, settings
    )
    run_la_forecast(request, console=console, errors=errors)


def la_backtest_command(
    all_las: bool,
    own_files: bool,
    ehcp_statistics: Sequence[Path] | None,
    horizons: str,
    out: Path | None,
    simulations: int,
    seed: int,
    *,
    region: str | None = None,
) -> None:
    """``sendmatch forecast backtest --all-las``: the options checked, then
    :func:`run_la_backtest`."""
    from matcher.cli_forecast import _parse_horizons

    errors, console = Console(stderr=True), Console()
    if not all_las:
        _refuse(errors, "--ehcp-statistics and --region go with --all-las")
    if own_files:
        _refuse(
            errors,
            "--all-las back-tests every LA from the DfE's statistics; --history, --transitions, "
            "--population, --costs, --valid-states and --settings go with a back-test of your "
            "own files",
        )
    from matcher.cli_la_backtest import run_la_backtest

    ahead = _parse_horizons(horizons, errors)
    run_la_backtest(
        ehcp_statistics,
        ahead,
        out,
        simulations,
        seed,
        console=console,
        errors=errors,
        region=region,
    )


def run_la_forecast(request: LaRequest, *, console: Console, errors: Console) -> None:
    """Read and check everything, forecast, write, print: nothing is written if anything is
    wrong."""
    from matcher.forecast.la_totals import LaModelConfig

    files = statistics_files(request.statistics, errors)
    check_out(request.out, [*files, *request.own_files()], errors)
    out = request.out
    with _stages(errors) as stage:
        statistics = read_statistics(files, stage, errors)
        codes, region_code = _areas(request, statistics, stage, errors)
        ahead = years_ahead(request.years, statistics.last_year, errors)
        config = LaModelConfig(n_simulations=request.simulations, seed=request.seed)
        population = _population(request, statistics, ahead, config, stage, errors)
        history = _history(request, statistics.last_year, stage, errors)
        stage(f"forecasting every LA together ({request.simulations:,} simulations)")
        result = _forecast(statistics, codes, region_code, ahead, config, population, history)
        if isinstance(result, str):
            stage.fail()
            _refuse(errors, result)
        if out is not None:
            from matcher.cli_forecast import _write

            stage(f"writing {out.name}")
            written = _write(lambda: _write_result(result, out), out, stage, errors)
    _print_result(console, result)
    if out is not None:
        for path in written:
            console.print(f"Written: {escape(str(path))}", soft_wrap=True)


def _areas(
    request: LaRequest, statistics: EhcpStatistics, stage: Stages, errors: Console
) -> tuple[list[str], str | None]:
    """The LA codes to forecast, and the region's code when a region is asked for."""
    from matcher.forecast.dfe_statistics import UnknownAreaError, find_la, find_region
    from matcher.forecast.la_forecast import region_las

    try:
        if request.region is not None:
            region_code = find_region(statistics, request.region)
            return region_las(statistics, region_code), region_code
        assert request.la is not None
        return [find_la(statistics, request.la)], None
    except UnknownAreaError as exc:
        stage.fail()
        option = (
            f"--region {request.region}" if request.region is not None else f"--la {request.la}"
        )
        _refuse(errors, f"{option}: {exc}")


def _population(
    request: LaRequest,
    statistics: EhcpStatistics,
    ahead: int,
    config: LaModelConfig,
    stage: Stages,
    errors: Console,
) -> LaPopulation | None:
    from matcher.forecast.la_population import (
        coverage_problems,
        current_las,
        needed_years,
        read_la_population,
    )
    from matcher.io import InputError

    if request.population is None:
        return None
    stage(f"reading the population ({request.population.name})")
    try:
        population = read_la_population(request.population, statistics)
    except InputError as exc:
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    names = dict(zip(statistics.areas["code"], statistics.areas["name"], strict=True))
    years = needed_years(statistics.last_year, ahead, config.effect_years)
    # every LA the file covers is modelled with it, not only those asked for
    problems = coverage_problems(population, current_las(statistics), names, years)
    if problems:
        stage.fail("problems found")
        print_problems(errors, problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    return population


def _history(
    request: LaRequest, origin: int, stage: Stages, errors: Console
) -> HistorySplit | None:
    from matcher.forecast.la_history import read_history_split
    from matcher.io import InputError

    if request.history is None:
        return None
    stage(f"reading your history ({request.history.name})")
    try:
        return read_history_split(request.history, origin, settings=request.settings)
    except InputError as exc:
        stage.fail("problems found")
        print_problems(errors, exc.problems)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None


def _forecast(
    statistics: EhcpStatistics,
    codes: Sequence[str],
    region_code: str | None,
    ahead: int,
    config: LaModelConfig,
    population: LaPopulation | None,
    history: HistorySplit | None,
) -> LaForecast | RegionForecast | str:
    """The forecast, or why there is none (in words for the user)."""
    from matcher.forecast.la_forecast import forecast_la, forecast_region

    try:
        if region_code is not None:
            return forecast_region(statistics, region_code, ahead, config, population=population)
        return forecast_la(
            statistics, codes[0], ahead, config, population=population, history=history
        )
    except ValueError as exc:
        return str(exc)


def _write_result(result: LaForecast | RegionForecast, out: Path) -> list[Path]:
    from matcher.cli_la_region import write_region_forecast
    from matcher.forecast.la_forecast import LaForecast

    if isinstance(result, LaForecast):
        return write_la_forecast(result, out)
    return write_region_forecast(result, out)


def _print_result(console: Console, result: LaForecast | RegionForecast) -> None:
    from matcher.cli_la_region import print_region_forecast
    from matcher.forecast.la_forecast import LaForecast

    if isinstance(result, LaForecast):
        print_la_forecast(console, result)
    else:
        print_region_forecast(console, result)


#: Column names as written.
PLAIN_COLUMNS = {
    "la_code": "LA code",
    "la_name": "LA",
    "january": "January",
    "kind": "Observed or projected",
    "age_band": "Age group",
    "setting_type": "Type of setting",
    "need": "Primary need",
    "mean": "Mean",
    "low_95": "Low (95%)",
    "median": "Median",
    "high_95": "High (95%)",
}


def plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts rounded to whole plans, columns named for a planner."""
    counts = ["mean", "low_95", "median", "high_95"]
    frame = frame.copy()
    frame[counts] = frame[counts].round(0)
    return frame.rename(columns=PLAIN_COLUMNS)


def la_tables(result: LaForecast) -> list[tuple[str, pd.DataFrame]]:
    """The forecast's tables as written: plain column names, counts rounded to whole plans,
    shares and growth in percent."""
    import pandas as pd

    comparison = result.comparison.copy()
    percent = ~comparison["measure"].str.startswith(("EHC plans", "Projected EHC plans"))
    for column in ("la", "region", "england"):
        values = comparison[column].astype(float)
        comparison[column] = values.where(~percent, values * 100).round(1)
    comparison.loc[percent, "measure"] = comparison.loc[percent, "measure"] + " (%)"
    comparison = comparison.rename(
        columns={
            "measure": "Measure",
            "la": f"{result.name} ({result.code})",
            "region": result.region,
            "england": "England",
        }
    )
    notes = pd.DataFrame(
        [{"What": what, "Value": value} for what, value in result.method]
        + [{"What": "Note", "Value": note} for note in result.notes]
    )
    by_need = []
    if result.by_need is not None and result.by_need_setting is not None:
        by_need = [
            ("By need", plain_table(result.by_need)),
            ("By need and setting", plain_table(result.by_need_setting)),
        ]
    return [
        ("Total", plain_table(result.total)),
        ("By age", plain_table(result.by_age)),
        ("By setting", plain_table(result.by_setting)),
        *by_need,
        ("Beside region and England", comparison),
        ("Notes", notes),
    ]


def write_la_forecast(result: LaForecast, out: Path) -> list[Path]:
    """Every table: sheets of one .xlsx, or a .csv each (the first at ``out``, the others
    beside it), each written atomically, text cells neutralised against formulas."""
    from matcher import io
    from matcher.forecast.outputs import _sheet

    tables = [_sheet(name, frame) for name, frame in la_tables(result)]
    io.write_tables(out, tables)
    return io.csv_companions(out, [t.name for t in tables])


def print_la_forecast(console: Console, result: LaForecast) -> None:
    total = result.total
    view = Table(
        title=f"EHC plans in {result.name} ({result.code}) each January", box=box.SIMPLE_HEAD
    )
    for header in ("January", "", "Median", "95% interval", "Mean"):
        view.add_column(header, justify="right")
    for row in total.to_dict("records"):
        if row["kind"] == "observed":
            view.add_row(str(row["january"]), "observed", f"{row['mean']:,.0f}", "", "")
        else:
            view.add_row(
                str(row["january"]),
                "projected",
                f"{row['median']:,.0f}",
                f"{row['low_95']:,.0f}–{row['high_95']:,.0f}",
                f"{row['mean']:,.0f}",
            )
    console.print(view)
    groups = [
        ("age_band", "By age group", result.by_age),
        ("setting_type", "By type of setting", result.by_setting),
    ]
    if result.by_need is not None:
        groups.append(("need", "By primary need (your history's split)", result.by_need))
    for column, title, frame in groups:
        if not frame.empty:
            title = f"{title}: median (95% interval in the last year)"
            console.print(_group_view(frame, column, title))
    console.print(_comparison_view(result))
    for note in result.notes:
        console.print(f"Note: {escape(note)}", soft_wrap=True)


def _group_view(frame: pd.DataFrame, column: str, title: str) -> Table:
    view = Table(title=title, box=box.SIMPLE_HEAD)
    years = sorted(frame["january"].unique())
    last = years[-1]
    view.add_column("", justify="left")
    for year in years:
        view.add_column(str(year), justify="right")
    view.add_column(f"{last} interval", justify="right")
    for group, rows in frame.groupby(column, sort=False):
        by_year = {int(r["january"]): r for r in rows.to_dict("records")}
        cells = [escape(str(group))]
        for year in years:
            row = by_year.get(int(year))
            if row is None:
                cells.append("")
            else:
                value = row["mean"] if row["kind"] == "observed" else row["median"]
                cells.append(f"{value:,.0f}")
        end = by_year[int(last)]
        cells.append(f"{end['low_95']:,.0f}–{end['high_95']:,.0f}")
        view.add_row(*cells)
    return view


def _comparison_view(result: LaForecast) -> Table:
    view = Table(title=f"{result.name} beside {result.region} and England", box=box.SIMPLE_HEAD)
    view.add_column("")
    for header in (result.name, result.region, "England"):
        view.add_column(escape(header), justify="right")
    for row in result.comparison.to_dict("records"):
        measure = str(row["measure"])
        count = measure.startswith(("EHC plans", "Projected EHC plans"))
        cells = [_count(row[c]) if count else _percent(row[c]) for c in ("la", "region", "england")]
        view.add_row(escape(measure), *cells)
    return view


def _count(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "" if number != number else f"{number:,.0f}"


def _percent(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "" if number != number else f"{number * 100:.1f}%"
