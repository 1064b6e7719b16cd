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
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from matcher.forecast.la_backtest import LaBacktest
    from matcher.forecast.la_totals import LaForecast

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

#: The options ``sendmatch forecast --la`` takes; the others are for a forecast from files.
LA_OPTIONS = frozenset({"la", "ehcp_statistics", "years", "out", "simulations", "seed"})


def la_forecast_command(
    given: Sequence[str],
    la: str | None,
    ehcp_statistics: Sequence[Path] | None,
    years: str | None,
    out: Path | None,
    simulations: int,
    seed: int,
) -> None:
    """``sendmatch forecast --la``: the options checked, then :func:`run_la_forecast`."""
    errors, console = Console(stderr=True), Console()
    if la is None:
        _refuse(errors, "--ehcp-statistics goes with --la CODE|NAME (the LA to forecast)")
    assert la is not None
    others = sorted(set(given) - LA_OPTIONS)
    if others:
        shown = ", ".join("--" + name.replace("_", "-") for name in others)
        _refuse(
            errors,
            f"--la forecasts from the DfE's statistics alone; {shown} go(es) with a forecast "
            "from your own files (--history or --transitions), which does not yet combine "
            "with --la",
        )
    run_la_forecast(
        la, ehcp_statistics, years, out, simulations, seed, console=console, errors=errors
    )


def la_backtest_command(
    all_las: bool,
    own_files: bool,
    ehcp_statistics: Sequence[Path] | None,
    horizons: str,
    out: Path | None,
    simulations: int,
    seed: int,
) -> None:
    """``sendmatch forecast backtest --all-las``: the options checked, then
    :func:`run_la_backtest`."""
    from matcher.cli_forecast import _parse_horizons

    errors, console = Console(stderr=True), Console()
    if not all_las:
        _refuse(errors, "--ehcp-statistics goes with --all-las")
    if own_files:
        _refuse(
            errors,
            "--all-las back-tests every LA from the DfE's statistics; --history, --transitions, "
            "--population, --costs, --valid-states and --settings go with a back-test of your "
            "own files",
        )
    ahead = _parse_horizons(horizons, errors)
    run_la_backtest(ehcp_statistics, ahead, out, simulations, seed, console=console, errors=errors)


def run_la_forecast(
    la: str,
    given: Sequence[Path] | None,
    years: str | None,
    out: Path | None,
    simulations: int,
    seed: int,
    *,
    console: Console,
    errors: Console,
) -> None:
    from matcher.forecast.dfe_statistics import UnknownAreaError, find_la
    from matcher.forecast.la_totals import LaModelConfig, forecast_la

    files = statistics_files(given, errors)
    check_out(out, files, errors)
    with _stages(errors) as stage:
        statistics = read_statistics(files, stage, errors)
        try:
            code = find_la(statistics, la)
        except UnknownAreaError as exc:
            stage.fail()
            _refuse(errors, f"--la {la}: {exc}")
        ahead = years_ahead(years, statistics.last_year, errors)
        stage(f"forecasting every LA together ({simulations:,} simulations)")
        config = LaModelConfig(n_simulations=simulations, seed=seed)
        try:
            result = forecast_la(statistics, code, ahead, config)
        except ValueError as exc:
            stage.fail()
            _refuse(errors, str(exc))
        if out is not None:
            from matcher.cli_forecast import _write

            stage(f"writing {out.name}")
            written = _write(lambda: write_la_forecast(result, out), out, stage, errors)
    print_la_forecast(console, result)
    if out is not None:
        for path in written:
            console.print(f"Written: {escape(str(path))}", soft_wrap=True)


def la_tables(result: LaForecast) -> list[tuple[str, pd.DataFrame]]:
    """The forecast's tables as written: plain column names, counts rounded to whole plans,
    shares and growth in percent."""
    import pandas as pd

    counts = ["mean", "low_95", "median", "high_95"]
    named = {
        "january": "January",
        "kind": "Observed or projected",
        "age_band": "Age group",
        "setting_type": "Type of setting",
        "mean": "Mean",
        "low_95": "Low (95%)",
        "median": "Median",
        "high_95": "High (95%)",
    }

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[counts] = frame[counts].round(0)
        return frame.rename(columns=named)

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
    return [
        ("Total", plain(result.total)),
        ("By age", plain(result.by_age)),
        ("By setting", plain(result.by_setting)),
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
    for column, title in (("age_band", "By age group"), ("setting_type", "By type of setting")):
        frame = result.by_age if column == "age_band" else result.by_setting
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


# --------------------------------------------------------------------------------------------
# sendmatch forecast backtest --all-las


def run_la_backtest(
    given: Sequence[Path] | None,
    horizons: Sequence[int],
    out: Path | None,
    simulations: int,
    seed: int,
    *,
    console: Console,
    errors: Console,
) -> None:
    from matcher.forecast.la_backtest import backtest_all_las
    from matcher.forecast.la_totals import LaModelConfig

    files = statistics_files(given, errors)
    check_out(out, files, errors)
    chart = chart_path(out) if out is not None else None
    if chart is not None and chart.is_dir():
        _refuse(errors, f"cannot write the chart: {chart} is a folder")
    with _stages(errors) as stage:
        statistics = read_statistics(files, stage, errors)
        stage(
            f"back-testing every LA: the last three Januaries, {len(horizons)} horizon(s), "
            f"{simulations:,} simulations"
        )
        config = LaModelConfig(n_simulations=simulations, seed=seed)
        try:
            result = backtest_all_las(statistics, None, horizons, config)
        except ValueError as exc:
            stage.fail()
            _refuse(errors, str(exc))
        if out is not None:
            from matcher.cli_forecast import _write

            stage(f"writing {out.name} and {chart.name if chart else ''}")
            written = _write(lambda: write_la_backtest(result, out), out, stage, errors)
    console.print(_backtest_view(result))
    for line in target_lines(result):
        console.print(escape(line), soft_wrap=True)
    console.print(
        f"All LAs and origins in {result.seconds:.1f} s. Model: the median of the simulations; "
        "naive forecasts as in issue 15 (national growth: the LA's last count x England's "
        "growth of the last year).",
        soft_wrap=True,
    )
    if out is not None:
        for path in written:
            console.print(f"Written: {escape(str(path))}", soft_wrap=True)


def chart_path(out: Path) -> Path:
    """The chart beside the table: ``backtest.xlsx`` -> ``backtest.png``."""
    return out.with_suffix(".png")


def write_la_backtest(result: LaBacktest, out: Path) -> list[Path]:
    from matcher import io
    from matcher.forecast.outputs import _sheet

    tables = [_sheet("Summary", result.summary.round(2)), _sheet("By LA", result.detail.round(1))]
    io.write_tables(out, tables)
    figure = backtest_figure(result)
    chart = chart_path(out)
    with io.atomic_path(chart) as tmp:
        figure.savefig(tmp, format="png")
    return [*io.csv_companions(out, [t.name for t in tables]), chart]


def backtest_figure(result: LaBacktest) -> Any:
    from matcher.forecast.la_backtest import backtest_chart

    return backtest_chart(result)


def target_lines(result: LaBacktest) -> list[str]:
    """The issue's targets, each with the measured figure and whether it is met."""
    from matcher.forecast.la_backtest import COVERAGE_TARGET, IMPROVEMENT_TARGET, NAIVE

    summary = result.summary
    lines = []
    last = int(summary["january"].max())
    for horizon in (1, 2):
        rows = summary[(summary["january"] == last) & (summary["horizon"] == horizon)]
        if rows.empty:
            continue
        row = rows.iloc[0]
        best = min(float(row[f"{name}_mape"]) for name in NAIVE)
        goal = best * (1 - IMPROVEMENT_TARGET)
        met = "met" if row["model_mape"] <= goal else "not met"
        lines.append(
            f"Target, January {last} {horizon} year(s) ahead: error at most {goal:.1f}% (25% "
            f"below the best naive forecast's {best:.1f}%): {row['model_mape']:.1f}%, {met}."
        )
    low, high = (x * 100 for x in COVERAGE_TARGET)
    inside = summary["model_coverage_95"].between(low, high)
    lines.append(
        f"Target, 95% intervals containing the truth for {low:.0f}-{high:.0f}% of LAs: met in "
        f"{int(inside.sum())} of {len(summary)} (January, horizon) cases "
        f"(range {summary['model_coverage_95'].min():.1f}-"
        f"{summary['model_coverage_95'].max():.1f}%)."
    )
    return lines


def _backtest_view(result: LaBacktest) -> Table:
    from matcher.forecast.la_backtest import NAIVE

    view = Table(
        title="Back-test of every LA's total: mean absolute % error (MAPE)", box=box.SIMPLE_HEAD
    )
    headers = [
        "January",
        "Ahead",
        "LAs",
        "Model",
        "In 95%",
        "National growth",
        "Own growth",
        "Own 3-year growth",
        "Linear trend",
        "No growth",
    ]
    for header in headers:
        view.add_column(header, justify="right")
    for row in result.summary.to_dict("records"):
        best = str(row["best_naive"])
        naive = [f"{row[f'{name}_mape']:.1f}%" + ("*" if name == best else "") for name in NAIVE]
        view.add_row(
            str(row["january"]),
            str(row["horizon"]),
            str(row["las"]),
            f"{row['model_mape']:.1f}%",
            f"{row['model_coverage_95']:.0f}%",
            *naive,
        )
    view.caption = "* the best naive forecast"
    return view
