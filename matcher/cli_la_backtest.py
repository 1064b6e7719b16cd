"""``sendmatch forecast backtest --all-las [--region NAME]``: every LA's forecast from the DfE's
statistics back-tested on the Januaries it has not seen, printed against the naive forecasts
and the issue's targets, and written as a table and a chart.

The options are checked in :mod:`matcher.cli_la_forecast`; the back-test itself is
:func:`matcher.forecast.la_backtest.backtest_all_las`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from matcher.cli_forecast import _refuse, _stages
from matcher.cli_la_forecast import check_out, read_statistics, statistics_files

if TYPE_CHECKING:
    from matcher.forecast.la_backtest import LaBacktest


def run_la_backtest(
    given: Sequence[Path] | None,
    horizons: Sequence[int],
    out: Path | None,
    simulations: int,
    seed: int,
    *,
    console: Console,
    errors: Console,
    region: str | None = None,
) -> None:
    from matcher.forecast.dfe_statistics import UnknownAreaError, find_region, region_table
    from matcher.forecast.la_backtest import backtest_all_las
    from matcher.forecast.la_forecast import region_las
    from matcher.forecast.la_totals import LaModelConfig

    files = statistics_files(given, errors)
    check_out(out, files, errors)
    chart = chart_path(out) if out is not None else None
    if chart is not None and chart.is_dir():
        _refuse(errors, f"cannot write the chart: {chart} is a folder")
    with _stages(errors) as stage:
        statistics = read_statistics(files, stage, errors)
        las, scored = None, "every LA"
        if region is not None:
            try:
                region_code = find_region(statistics, region)
            except UnknownAreaError as exc:
                stage.fail()
                _refuse(errors, f"--region {region}: {exc}")
            las = region_las(statistics, region_code, current=False)
            name = str(region_table(statistics).set_index("code").loc[region_code, "name"])
            scored = f"the {len(las)} LAs of {name} (every LA modelled)"
        stage(
            f"back-testing {scored}: the last three Januaries, {len(horizons)} horizon(s), "
            f"{simulations:,} simulations"
        )
        config = LaModelConfig(n_simulations=simulations, seed=seed)
        try:
            result = backtest_all_las(statistics, None, horizons, config, las=las)
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

    tables = [
        _sheet("Summary", result.summary.round(2)),
        _sheet("By LA", result.detail.round(1)),
        _sheet("Setting split", result.settings.round(2)),
        _sheet("Regions", result.regions.round(2)),
    ]
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
