"""Writing a forecast: witan.send's ``Output_*.csv`` files, a spreadsheet and charts.

An LA that switches from witan.send keeps its reports: ``Output_Count.csv``,
``Output_Need.csv``, ``Output_Setting.csv``, ``Output_AY.csv`` and ``Output_Cost.csv`` have
exactly witan.send's columns (:data:`WITAN_COLUMNS`). Beside them, ``forecast.xlsx`` holds the
same tables for people (and the projection of every need x setting x NC year, which later steps
read), and two PNG charts show the projected total and each setting with their 95% bands.

Beside the spreadsheet, ``<stem>_simulations.npz`` (``forecast_simulations.npz`` in a folder)
keeps every simulated future (:func:`write_projection`), so that ``sendmatch forecast
sufficiency`` and a scenario's ``demand: forecast.xlsx#2029`` work from the simulations
themselves, not from summaries of them (:func:`read_projection` finds it from the
spreadsheet's name).

Every file is written to a temporary file first and all of them are renamed into place together
at the end (:func:`matcher.io.atomic_path`), so a failed run leaves no half-written forecast,
and text cells go through :func:`matcher.io.neutralise_formula`, as every sendmatch CSV does.
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matcher import io
from matcher.forecast.knobs import AssumptionSet
from matcher.forecast.summary import STATISTIC_COLUMNS
from matcher.forecast.types import (
    NONSEND,
    ForecastConfig,
    ForecastInputs,
    GroupBy,
    Projection,
    State,
)

#: witan.send's summary statistics, in its column order, after the year and the group.
WITAN_STATISTICS = STATISTIC_COLUMNS
#: Each of witan.send's output files and its columns, exactly as witan.send writes them.
WITAN_COLUMNS: dict[str, tuple[str, ...]] = {
    "Output_Count.csv": ("calendar-year", *WITAN_STATISTICS),
    "Output_Need.csv": ("calendar-year", "need", *WITAN_STATISTICS),
    "Output_Setting.csv": ("calendar-year", "setting", *WITAN_STATISTICS),
    "Output_AY.csv": ("calendar-year", "academic-year", *WITAN_STATISTICS),
    "Output_Cost.csv": ("calendar-year", *WITAN_STATISTICS),
}
#: The output files of a folder, besides the ``Output_*.csv``.
WORKBOOK_NAME = "forecast.xlsx"
TOTAL_CHART = "forecast_total.png"
SETTING_CHART = "forecast_by_setting.png"
#: The columns of the spreadsheet's sheet of every need x setting x NC year.
STATE_COLUMNS: tuple[str, ...] = (
    "calendar-year",
    "need",
    "setting",
    "academic-year",
    "mean",
    "low-95pc-bound",
    "median",
    "high-95pc-bound",
)
STATES_SHEET = "Need x setting x NC year"
#: The simulations saved beside a spreadsheet ``<stem>.xlsx``: ``<stem>_simulations.npz``.
SIMULATIONS_SUFFIX = "_simulations.npz"
SIMULATIONS_NAME = WORKBOOK_NAME.removesuffix(".xlsx") + SIMULATIONS_SUFFIX
#: What a saved projection says it is, and the layout version this sendmatch writes and reads.
PROJECTION_FORMAT = "sendmatch-forecast-simulations"
PROJECTION_VERSION = 1
#: The most a saved projection may hold once unpacked: ten times a 25,000-child LA's 1,000
#: simulated futures of ten years. A file claiming more is refused before it is unpacked.
MAX_PROJECTION_BYTES = 4 * 1024**3
_PROJECTION_ARRAYS = ("format", "version", "years", "need", "setting", "academic_year", "counts")

_FILE_OF: dict[GroupBy, str] = {
    "total": "Output_Count.csv",
    "need": "Output_Need.csv",
    "setting": "Output_Setting.csv",
    "academic_year": "Output_AY.csv",
}
_SHEET_OF: dict[str, str] = {
    "Output_Count.csv": "Total",
    "Output_Need.csv": "Need",
    "Output_Setting.csv": "Setting",
    "Output_AY.csv": "NC year",
    "Output_Cost.csv": "Cost",
}


@dataclass(frozen=True)
class ForecastTables:
    """Everything a forecast writes, computed before a byte is written.

    Attributes
    ----------
    witan
        Each ``Output_*.csv`` file name and its table, with :data:`WITAN_COLUMNS`;
        ``Output_Cost.csv`` only when the inputs have costs.
    states
        The projection of every need x setting x NC year that holds children in some year
        (:data:`STATE_COLUMNS`), for the spreadsheet.
    assumptions
        (what, value) rows for the spreadsheet's Inputs sheet: where the data came from and how
        the forecast was made.
    observed
        The observed January totals by year, drawn in the chart beside the projection.
    observed_by_setting
        The same by setting.
    """

    witan: Mapping[str, pd.DataFrame]
    states: pd.DataFrame
    assumptions: Sequence[tuple[str, str]]
    observed: Mapping[int, int]
    observed_by_setting: Mapping[str, Mapping[int, int]]


def forecast_tables(
    projection: Projection,
    inputs: ForecastInputs,
    config: ForecastConfig,
    *,
    first_year: int | None = None,
    assumptions: AssumptionSet | None = None,
) -> ForecastTables:
    """The forecast's tables: witan.send's summaries and the need x setting x NC year detail.

    ``first_year`` drops the projected years before it (the last observed January, where the
    projection starts, is always kept, as witan.send's outputs keep it). ``assumptions``, the
    planner's knobs the projection was made with, are recorded in the Inputs sheet.
    """
    from matcher.forecast.summary import summary_table

    keep = _years_kept(projection, first_year)
    witan: dict[str, pd.DataFrame] = {}
    for by, name in _FILE_OF.items():
        witan[name] = _witan_table(summary_table(projection, by), name, keep)
    if inputs.costs is not None:
        cost = summary_table(projection, "total", costs=inputs.costs)
        witan["Output_Cost.csv"] = _witan_table(cost, "Output_Cost.csv", keep)
    observed, by_setting = observed_counts(inputs)
    return ForecastTables(
        witan,
        state_table(projection, keep),
        assumption_rows(projection, inputs, config, assumptions),
        observed,
        by_setting,
    )


def write_forecast(
    tables: ForecastTables, out: Path | str, projection: Projection | None = None
) -> list[Path]:
    """Write the forecast to a folder (every file) or to one ``.xlsx`` (the spreadsheet alone).

    With ``projection``, its simulations go beside the spreadsheet too
    (:func:`simulations_path`), renamed into place with the rest. The folder is made if it
    does not exist (its parent must). Returns the paths written.
    """
    out = Path(out)
    if out.suffix.lower() == ".xlsx":
        targets = {out: _workbook_writer(tables)}
        workbook = out
    else:
        targets = {out / name: _csv_writer(frame) for name, frame in tables.witan.items()}
        workbook = out / WORKBOOK_NAME
        targets[workbook] = _workbook_writer(tables)
        targets[out / TOTAL_CHART] = _chart_writer(tables, "total")
        targets[out / SETTING_CHART] = _chart_writer(tables, "setting")
    if projection is not None:
        targets[simulations_path(workbook)] = _projection_writer(projection)
    made = not out.exists() and out.suffix.lower() != ".xlsx"
    if made:
        out.mkdir()
    try:
        with ExitStack() as stack:  # every file renamed into place only once all are written
            for path, write in targets.items():
                write(stack.enter_context(io.atomic_path(path)))
    except BaseException:
        if made and not any(out.iterdir()):
            out.rmdir()  # a failed run leaves nothing, not even the folder
        raise
    return list(targets)


def check_forecast_out(out: Path | str, inputs: Sequence[Path | str] = ()) -> str | None:
    """Why ``out`` cannot take a forecast, or None: checked before the forecast is run."""
    out = Path(out)
    if out.suffix.lower() == ".xlsx":
        problem = io.check_output_path(out, inputs, suffixes=(".xlsx",))
        beside = simulations_path(out)
        if problem is None and beside.is_dir():
            problem = f"{beside} is a folder; the simulations are saved under that name"
        return problem
    if out.suffix.lower() in {".csv", ".xls", ".xlsm", ".png"}:
        return (
            f"{out.name}: give a folder (for witan.send's Output_*.csv files, the spreadsheet "
            "and the charts) or a file name ending in .xlsx (the spreadsheet only)"
        )
    if out.exists() and not out.is_dir():
        return f"{out} is a file; give a folder, or a file name ending in .xlsx"
    if not out.parent.is_dir():
        return f"the folder {out.parent} does not exist"
    return None


def write_table(frame: pd.DataFrame, path: Path | str, sheet: str) -> None:
    """One table as a CSV (numbers as numbers, text neutralised) or a one-sheet XLSX."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        with io.atomic_path(path) as tmp:
            io.write_workbook([_sheet(sheet, frame)], tmp)
    else:
        with io.atomic_path(path) as tmp:
            _csv_writer(frame)(tmp)


# --------------------------------------------------------------------------------------------
# Every simulated future, saved


def simulations_path(workbook: Path | str) -> Path:
    """Where the simulations behind a forecast spreadsheet are saved: beside it, as
    ``<stem>_simulations.npz`` (``forecast_simulations.npz`` for ``forecast.xlsx``)."""
    workbook = Path(workbook)
    return workbook.with_name(workbook.stem + SIMULATIONS_SUFFIX)


def projection_file(path: Path | str) -> Path:
    """The saved simulations a user names: the ``.npz`` itself, the spreadsheet it was
    written beside, or the ``--out`` folder of a forecast."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return path
    if path.is_dir():
        return path / SIMULATIONS_NAME
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return simulations_path(path)
    return path


def write_projection(projection: Projection, path: Path | str) -> None:
    """Save every simulated future as a compressed ``.npz``, atomically (see the module)."""
    with io.atomic_path(Path(path)) as tmp:
        _projection_writer(projection)(tmp)


def read_projection(path: Path | str) -> Projection:
    """The simulations saved by ``sendmatch forecast``, from the ``.npz``, the spreadsheet
    beside it or the forecast's folder (:func:`projection_file`).

    Raises
    ------
    matcher.io.InputError
        A missing file, a file that is not one sendmatch saved, a damaged one, or one saved
        by a newer sendmatch, naming the file and saying what to do.
    """
    named = Path(path)
    file = projection_file(named)

    def refuse(message: str) -> io.InputError:
        return io.InputError([io.InputProblem(file.name, None, None, message)])

    if not file.is_file():
        raise _missing_projection(named, file)
    try:
        arrays = _projection_arrays(file)
    except _TooLarge:
        raise refuse(
            f"holds more than sendmatch reads ({MAX_PROJECTION_BYTES / 1024**3:g} GB unpacked): "
            "not a forecast saved by sendmatch"
        ) from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
        raise refuse(
            f"cannot be read ({reason})"
            if reason
            else "not a forecast saved by sendmatch, or damaged: make the forecast again "
            "with `sendmatch forecast --out`"
        ) from None
    problem = _projection_problem(arrays)
    if problem:
        raise refuse(problem)
    assert arrays is not None
    states = tuple(
        State(str(need), str(setting), int(year))
        for need, setting, year in zip(
            arrays["need"], arrays["setting"], arrays["academic_year"], strict=True
        )
    )
    years = tuple(int(year) for year in arrays["years"])
    return Projection(years, states, np.ascontiguousarray(arrays["counts"], np.int32))


def _projection_writer(projection: Projection) -> _Writer:
    def write(path: Path) -> None:
        # Written through a file object: numpy adds ".npz" to a file name that lacks it.
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                format=np.array(PROJECTION_FORMAT),
                version=np.array(PROJECTION_VERSION, np.int64),
                years=np.array(projection.years, np.int64),
                need=np.array([s.need for s in projection.states], dtype=np.str_),
                setting=np.array([s.setting for s in projection.states], dtype=np.str_),
                academic_year=np.array([s.academic_year for s in projection.states], np.int64),
                counts=np.asarray(projection.counts, np.int32),
            )

    return write


def _missing_projection(named: Path, file: Path) -> io.InputError:
    if named.is_dir():
        message = (
            f"no {SIMULATIONS_NAME} in this folder: give the folder `sendmatch forecast --out` "
            "wrote, or its forecast.xlsx"
        )
    elif named != file and named.is_file():
        message = (
            f"the simulations behind this forecast are not beside it ({file.name} is "
            "missing): keep the two files in the same folder, or make the forecast again with "
            "`sendmatch forecast --out`"
        )
    else:
        message = "no such file"
    return io.InputError([io.InputProblem(named.name, None, None, message)])


class _TooLarge(Exception):
    """A saved projection that would unpack past :data:`MAX_PROJECTION_BYTES`."""


def _projection_arrays(file: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a saved projection (None for an ``.npz`` of other arrays), with nothing
    unpacked past :data:`MAX_PROJECTION_BYTES` and never a pickled object (a foreign file
    could run code through one)."""
    with zipfile.ZipFile(file) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_PROJECTION_BYTES:
        raise _TooLarge
    with np.load(file, allow_pickle=False) as saved:
        if not set(_PROJECTION_ARRAYS) <= set(saved.files):
            return None
        return {name: saved[name] for name in _PROJECTION_ARRAYS}


def _projection_problem(arrays: Mapping[str, np.ndarray] | None) -> str | None:
    """Why saved arrays are not a projection this sendmatch reads, or None."""
    if arrays is None or arrays["format"].shape != () or str(arrays["format"]) != PROJECTION_FORMAT:
        return (
            "not a forecast saved by sendmatch: give the forecast.xlsx (or its "
            f"{SIMULATIONS_NAME}) that `sendmatch forecast --out` wrote"
        )
    saved_version = arrays["version"]
    if saved_version.shape != () or not np.issubdtype(saved_version.dtype, np.integer):
        return "damaged: its layout version is not a number; make the forecast again"
    version = int(saved_version)
    if version != PROJECTION_VERSION:
        return (
            f"saved by another version of sendmatch (layout {version}; this one reads layout "
            f"{PROJECTION_VERSION}): make the forecast again with this version"
        )
    years, counts = arrays["years"], arrays["counts"]
    labels = (arrays["need"], arrays["setting"], arrays["academic_year"])
    well_formed = (
        years.ndim == 1
        and np.issubdtype(years.dtype, np.integer)
        and bool(np.all(np.diff(years) > 0))
        and all(a.ndim == 1 and len(a) == len(labels[0]) for a in labels)
        and labels[0].dtype.kind == labels[1].dtype.kind == "U"
        and np.issubdtype(labels[2].dtype, np.integer)
        and counts.dtype == np.int32
        and counts.ndim == 3
        and counts.shape[1:] == (len(years), len(labels[0]))
        and counts.shape[0] >= 1
        and len(years) >= 1
        and not bool((counts < 0).any())
    )
    return None if well_formed else "damaged: its arrays do not fit together; make it again"


# --------------------------------------------------------------------------------------------
# Tables


def _years_kept(projection: Projection, first_year: int | None) -> set[int]:
    base = projection.years[0]
    return {y for y in projection.years if y == base or first_year is None or y >= first_year}


def _witan_table(frame: pd.DataFrame, name: str, keep: set[int]) -> pd.DataFrame:
    columns = list(WITAN_COLUMNS[name])
    missing = [c for c in columns if c not in frame.columns]
    if missing:  # summary_table's contract broken: a bug, not a user's mistake
        msg = f"the {name} summary lacks columns {missing}"
        raise ValueError(msg)
    table = frame.loc[frame["calendar-year"].isin(keep), columns]
    order = columns[:1] if columns[1] == "mean" else columns[:2]  # by year, then group
    return table.sort_values(order, kind="stable").reset_index(drop=True)


def state_table(projection: Projection, keep: set[int] | None = None) -> pd.DataFrame:
    """Mean, median and 95% bounds of every need x setting x NC year, by year: the detail a
    sufficiency check and a sampled future caseload are made from. States empty in every
    simulation and year are left out."""
    counts = projection.counts  # [simulations, years, states]
    low, median, high = np.percentile(counts, [2.5, 50.0, 97.5], axis=0)
    mean = counts.mean(axis=0)
    held = np.flatnonzero(counts.max(axis=(0, 1)) > 0)
    rows = []
    for t, year in enumerate(projection.years):
        if keep is not None and year not in keep:
            continue
        for k in held:
            state = projection.states[k]
            rows.append(
                (
                    year,
                    state.need,
                    state.setting,
                    state.academic_year,
                    round(float(mean[t, k]), 2),
                    float(low[t, k]),
                    float(median[t, k]),
                    float(high[t, k]),
                )
            )
    return pd.DataFrame.from_records(rows, columns=list(STATE_COLUMNS))


def observed_counts(inputs: ForecastInputs) -> tuple[dict[int, int], dict[str, dict[int, int]]]:
    """The children with a plan each observed January, in total and by setting: the first
    year's from the transitions' first states, every later year's from the second states."""
    frame = inputs.transitions.frame
    if frame.empty:
        return {}, {}
    first = int(frame["calendar_year"].min())
    starts = frame[(frame["calendar_year"] == first) & (frame["setting_1"] != NONSEND)]
    ends = frame[frame["setting_2"] != NONSEND]
    years = [first] * len(starts) + [int(y) + 1 for y in ends["calendar_year"]]
    settings = [*map(str, starts["setting_1"]), *map(str, ends["setting_2"])]
    total = dict(sorted(Counter(years).items()))
    by_setting: dict[str, dict[int, int]] = {}
    for (year, setting), n in sorted(Counter(zip(years, settings, strict=True)).items()):
        by_setting.setdefault(setting, {})[year] = n
    return total, by_setting


def assumption_rows(
    projection: Projection,
    inputs: ForecastInputs,
    config: ForecastConfig,
    assumptions: AssumptionSet | None = None,
) -> list[tuple[str, str]]:
    """The Inputs sheet: enough to say how the numbers were made, and to make them again."""
    observed = inputs.observed_years
    rows = [
        ("Inputs", inputs.source),
        ("Januaries observed", f"{observed[0]}–{observed[-1]}" if observed else "none"),
        ("Projection starts from", f"January {projection.years[0]} (observed)"),
        ("Projected to", f"January {projection.years[-1]}"),
        ("Simulated futures", f"{config.n_simulations:,}"),
        ("Random seed", str(config.seed)),
        ("Costs", "given" if inputs.costs is not None else "not given: no Cost sheet"),
        (
            "Valid states",
            "given: states and moves outside them are never projected"
            if inputs.valid_states
            else "not given",
        ),
        *((f"Model setting {k}", f"{v:g}") for k, v in sorted(config.extra.items())),
        *(
            assumptions.descriptions()
            if assumptions is not None
            else [("Assumptions", "none: the history's rates carried forward")]
        ),
        (
            "mean, median, q1, q3, min, max",
            "over the simulated futures of each year (q1, q3: the quartiles)",
        ),
        (
            "low-95pc-bound, high-95pc-bound",
            "the 95% interval: 2.5% of simulated futures fall below the low bound and 2.5% "
            "above the high bound",
        ),
        ("low-ci, high-ci", "the 95% confidence interval of the mean (as witan.send gives it)"),
        ("Made on", date.today().isoformat()),
    ]
    return rows


# --------------------------------------------------------------------------------------------
# Writers (each takes the temporary path it writes to)

_Writer = Callable[[Path], None]


def _csv_writer(frame: pd.DataFrame) -> _Writer:
    def write(path: Path) -> None:
        # No byte-order mark: witan.send's files have none, and R's read.csv and pandas would
        # read it into the first column's name. Every value here is ASCII.
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(frame.columns)
            for record in frame.itertuples(index=False, name=None):
                writer.writerow([_csv_cell(value) for value in record])

    return write


def _csv_cell(value: object) -> str:
    if isinstance(value, str):
        return io.neutralise_formula(value)
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return "" if math.isnan(number) else repr(round(number, 2))
    return "" if value is None else io.neutralise_formula(str(value))


def _sheet(name: str, frame: pd.DataFrame) -> io.Table:
    records = [
        {column: _xlsx_value(value) for column, value in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
    return io.Table(name, [str(c) for c in frame.columns], records)


def _xlsx_value(value: object) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if math.isnan(float(value)) else round(float(value), 2)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 2)
    return value


def _workbook_writer(tables: ForecastTables) -> _Writer:
    sheets = [_sheet(_SHEET_OF[name], frame) for name, frame in tables.witan.items()]
    sheets.append(_sheet(STATES_SHEET, tables.states))
    inputs = [{"What": what, "Value": value} for what, value in tables.assumptions]
    sheets.append(io.Table("Inputs", ("What", "Value"), inputs))

    def write(path: Path) -> None:
        io.write_workbook(sheets, path)

    return write


def _chart_writer(tables: ForecastTables, by: str) -> _Writer:
    def write(path: Path) -> None:
        figure = _total_chart(tables) if by == "total" else _setting_chart(tables)
        figure.savefig(path, format="png")

    return write


def _total_chart(tables: ForecastTables) -> Any:
    from matplotlib.figure import Figure

    frame = tables.witan["Output_Count.csv"]
    figure = Figure(figsize=(9.0, 5.0), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    years = frame["calendar-year"].to_numpy()
    axes.fill_between(
        years,
        frame["low-95pc-bound"],
        frame["high-95pc-bound"],
        color="#1d70b8",
        alpha=0.2,
        label="95% interval",
    )
    axes.plot(years, frame["mean"], color="#1d70b8", marker="o", label="projected (mean)")
    if tables.observed:
        seen = sorted(tables.observed.items())
        axes.plot(*zip(*seen, strict=True), color="#0b0c0c", marker="s", label="observed")
    axes.set_title("Children and young people with a plan each January: projection")
    _label_axes(axes)
    return figure


def _setting_chart(tables: ForecastTables) -> Any:
    from matplotlib.figure import Figure

    frame = tables.witan["Output_Setting.csv"]
    figure = Figure(figsize=(10.0, 6.0), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    colours = _colours(frame["setting"].nunique())
    for colour, (setting, rows) in zip(colours, frame.groupby("setting", sort=True), strict=True):
        years = rows["calendar-year"].to_numpy()
        axes.fill_between(
            years, rows["low-95pc-bound"], rows["high-95pc-bound"], color=colour, alpha=0.15
        )
        axes.plot(years, rows["mean"], color=colour, marker=".", label=str(setting))
        seen = sorted(tables.observed_by_setting.get(str(setting), {}).items())
        if seen:
            axes.plot(*zip(*seen, strict=True), color=colour, linestyle=":", alpha=0.8)
    axes.set_title("By setting: projected mean with 95% interval (dotted: observed)")
    _label_axes(axes, legend_columns=2 if frame["setting"].nunique() > 10 else 1)
    return figure


#: The chart of demand against places written beside a sufficiency table ``<stem>.xlsx``.
NEED_CHART_SUFFIX = "_by_need.png"


def need_chart_path(table: Path | str) -> Path:
    """Where the chart of demand against places by need goes: beside the sufficiency table,
    ``<stem>_by_need.png``."""
    table = Path(table)
    return table.with_name(table.stem + NEED_CHART_SUFFIX)


def write_need_chart(frame: pd.DataFrame, path: Path | str) -> None:
    """The chart of :func:`matcher.forecast.sufficiency.demand_and_places_by_need`, as a PNG,
    written atomically."""
    with io.atomic_path(Path(path)) as tmp:
        need_chart(frame).savefig(tmp, format="png")


def need_chart(frame: pd.DataFrame) -> Any:
    """Demand against places, one panel per need (every need first), the biggest demand first:
    the projected mean with its 95% band, the places for the need alone as a line, and with
    the places it shares with other needs as a dashed line (the most it could use)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    last = frame[frame["calendar_year"] == frame["calendar_year"].max()]
    order = last.sort_values(["demand_mean", "need"], ascending=[False, True], kind="stable")
    needs = ["all", *(n for n in order["need"] if n != "all")]
    columns = min(len(needs), 3)
    rows = -(-len(needs) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows + 1.2), dpi=100, layout="constrained")
    figure.suptitle(
        "Projected demand against places by need: resourced provision, special, independent "
        "and AP, all phases"
    )
    legend: dict[str, Any] = {}
    for i, need in enumerate(needs):
        axes = figure.add_subplot(rows, columns, i + 1)
        group = frame[frame["need"] == need].sort_values("calendar_year")
        years = group["calendar_year"].to_numpy()
        axes.fill_between(
            years,
            group["demand_low_95"],
            group["demand_high_95"],
            color="#1d70b8",
            alpha=0.2,
            label="demand, 95% interval",
        )
        axes.plot(years, group["demand_mean"], color="#1d70b8", marker=".", label="demand (mean)")
        axes.step(years, group["places"], where="mid", color="#0b0c0c", label="places")
        if (group["shared_places"] > 0).any():
            axes.step(
                years,
                group["places"] + group["shared_places"],
                where="mid",
                color="#505a5f",
                linestyle="--",
                label="places, with those shared with other needs",
            )
        axes.set_title("All needs" if need == "all" else str(need), fontsize="medium")
        if i % columns == 0:
            axes.set_ylabel("children, places")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    figure.legend(
        list(legend.values()),
        list(legend),
        loc="outside lower center",
        ncols=len(legend),
        fontsize="small",
        frameon=False,
    )
    return figure


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab20" if count > 10 else "tab10"]
    return [palette(i % palette.N) for i in range(count)]


def _label_axes(axes: Any, legend_columns: int = 1) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_xlabel("January of")
    axes.set_ylabel("children and young people")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small", ncols=legend_columns, frameon=False)
