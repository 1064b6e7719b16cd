"""Demand forecast runs for the API, computed as ``sendmatch forecast`` computes them.

``sendmatch forecast`` (and its ``backtest`` and ``sufficiency``) is the reference: the files are
read by the same readers (:func:`matcher.forecast.inputs.read_la_history`,
:func:`~matcher.forecast.inputs.read_witan_inputs`), the projection is
:func:`matcher.forecast.model.project`, its tables :func:`matcher.forecast.outputs.forecast_tables`
(witan.send's ``Output_*.csv``), then :func:`matcher.forecast.backtest.backtest` and
:func:`matcher.forecast.sufficiency.sufficiency`, so the web page shows what the command line
writes for the same files, simulations and seed.

A forecast brings its own files (``RunInput`` rows) instead of a caseload's: yearly caseload
files are children's records, kept like a caseload's files and never sent back. What the run
stores is LA-wide counts only (``ForecastOut``), open to every role. The bookkeeping is every
run's (:func:`api.jobs.execute_run`): progress and a cancel check between stages, and the
summary with ``done`` in one transaction at the end.

As it finishes, the run also keeps the files a planner downloads
(:mod:`api.forecast_downloads`): the command line's spreadsheet and witan.send's CSV files.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import select

from api.db import Caseload, Database, RunInput
from api.forecast_downloads import (
    forecast_downloads,
    forget_downloads_unless_done,
    keep_downloads,
)
from api.jobs import Report, UploadedFile, caseload_inputs, execute_run
from api.planning_jobs import in_own_folder
from api.schemas import (
    BacktestRowOut,
    ForecastFigureOut,
    ForecastOut,
    NeedDemandOut,
    ObservedCountOut,
    ShortfallOut,
    SufficiencyOut,
    SufficiencyRowOut,
)
from matcher import io
from matcher.forecast.backtest import backtest
from matcher.forecast.inputs import (
    check_population_years,
    read_la_history,
    read_witan_inputs,
    uncosted_states,
)
from matcher.forecast.knobs import (
    AssumptionProblem,
    AssumptionsError,
    AssumptionSet,
    parse_assumptions,
    resolve,
    with_population,
)
from matcher.forecast.model import forecast_axes, project
from matcher.forecast.outputs import ForecastTables, forecast_tables
from matcher.forecast.sufficiency import (
    demand_and_places_by_need,
    kinds_of_place_problem,
    sufficiency,
)
from matcher.forecast.types import NONSEND, ForecastConfig, ForecastInputs, Projection, State
from matcher.models import Setting

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

#: Where each stage of a forecast run starts, as a fraction of the run.
FORECAST_STAGES = {
    "reading": 0.0,
    "simulating": 0.05,
    "summarising": 0.45,
    "backtest": 0.5,
    "sufficiency": 0.9,
    "files": 0.93,
    "saving": 0.96,
}
#: Held-out years the back-test tries, as ``sendmatch forecast backtest`` does by default; fewer
#: when the history is short (the model needs two Januaries before the first held out).
BACKTEST_HORIZONS = (1, 2, 3)
#: Most Januaries one forecast projects, as the command line allows.
MAX_YEARS_AHEAD = 50
#: Shortfalls of each year given in words (the table has every row), as the command line prints.
SHORTFALLS_A_YEAR = 5
#: The form's field for a problem that is not in a file (``Problem.file`` is then empty).
FORM = ""
#: Problems of one assumptions file listed at most: a file can repeat a mistake thousands of
#: times (YAML aliases), and the first ones say what to fix.
MAX_ASSUMPTION_PROBLEMS = 50
#: What an uploaded assumptions file may not do: name a file the server would then open.
POPULATION_FILE_REFUSED = (
    "the web service does not open files named inside an uploaded file: name the population "
    "change as a rate, or upload a population file that holds the projected years (e.g. "
    "population: {rate: 0.005} for +0.5% a year)"
)

_YEARS = re.compile(r"^\s*(\d{4})\s*(?:(?:-|–|to|\.\.)\s*(\d{4}))?\s*$")
_SIMULATED = re.compile(r"simulated (\d+) of (\d+)")


@dataclass(frozen=True)
class ForecastFiles:
    """A forecast's files as uploaded: yearly caseload files or witan.send's transitions, the
    general population, and optionally costs, (with transitions) valid states and the
    planner's assumptions file (YAML or JSON, :mod:`matcher.forecast.knobs`)."""

    population: UploadedFile
    history: tuple[UploadedFile, ...] = ()
    transitions: UploadedFile | None = None
    costs: UploadedFile | None = None
    valid_states: UploadedFile | None = None
    assumptions: UploadedFile | None = None

    def by_role(self) -> list[tuple[str, UploadedFile]]:
        """(role, file) for each file, yearly files first: how they are stored
        (``RunInput.role`` is the role)."""
        singles = {
            "transitions": self.transitions,
            "population": self.population,
            "costs": self.costs,
            "valid_states": self.valid_states,
            "assumptions": self.assumptions,
        }
        pairs = [("history", upload) for upload in self.history]
        return pairs + [(role, f) for role, f in singles.items() if f is not None]

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[str, str, bytes]]) -> ForecastFiles:
        """The files from stored (role, name, data) rows, in the order they were stored."""
        files = [(role, UploadedFile(name, data)) for role, name, data in rows]
        singles = {role: upload for role, upload in files if role != "history"}
        return cls(
            population=singles["population"],
            history=tuple(upload for role, upload in files if role == "history"),
            transitions=singles.get("transitions"),
            costs=singles.get("costs"),
            valid_states=singles.get("valid_states"),
            assumptions=singles.get("assumptions"),
        )


# --------------------------------------------------------------------------------------------
# Reading and checking, at upload and again in the run


def parse_years(text: str) -> tuple[int, int]:
    """``2026-2032`` (or one year, ``2030``) as (first, last); ValueError says what to give."""
    match = _YEARS.match(text)
    if match is None:
        msg = f"{text!r} is not a span of years: give FIRST-LAST, e.g. 2026-2032, or one year"
        raise ValueError(msg)
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        msg = f"{last} is before {first}: give the first year, then the last"
        raise ValueError(msg)
    if last - first > MAX_YEARS_AHEAD:
        msg = f"at most {MAX_YEARS_AHEAD} years in one forecast"
        raise ValueError(msg)
    return first, last


def read_forecast_inputs(
    files: ForecastFiles, settings: UploadedFile | None = None
) -> ForecastInputs:
    """The files read as ``sendmatch forecast`` reads them; ``io.InputError`` lists every
    problem (file, row, column). ``settings`` (a caseload's settings file) gives the kind of
    place of each URN for yearly files that name a ``setting_urn`` instead."""
    # The assumptions file is read from its bytes (read_assumptions), never from a path.
    tables = [(role, upload) for role, upload in files.by_role() if role != "assumptions"]
    with tempfile.TemporaryDirectory(prefix="sendmatch-forecast-") as tmp:
        paths = [in_own_folder(tmp, k, upload) for k, (_, upload) in enumerate(tables)]
        path_of: dict[str, Path] = {}
        history: list[Path] = []
        for (role, _), path in zip(tables, paths, strict=True):
            if role == "history":
                history.append(path)
            else:
                path_of[role] = path
        if history:
            settings_path = (
                in_own_folder(tmp, len(paths), settings) if settings is not None else None
            )
            return read_la_history(
                history,
                path_of["population"],
                costs=path_of.get("costs"),
                settings=settings_path,
            )
        return read_witan_inputs(
            path_of["transitions"],
            path_of["population"],
            path_of.get("costs"),
            path_of.get("valid_states"),
        )


def read_assumptions(upload: UploadedFile) -> AssumptionSet:
    """An uploaded assumptions file, checked on its own as ``sendmatch forecast --assume``
    checks it; :class:`AssumptionsError` lists every problem with the path to its field.

    Unlike the command line's, it opens no file it names: a server must not read its own
    paths on an upload's say-so, so ``population.file`` is refused and ``rate`` asked for."""
    source = upload.name
    assumptions = parse_assumptions(_assumptions_data(upload), source)
    change = assumptions.population
    if change is not None and change.file is not None:
        raise AssumptionsError(
            [AssumptionProblem(source, "population.file", POPULATION_FILE_REFUSED)]
        )
    return AssumptionSet(assumptions.name or Path(source).stem, source, assumptions)


def _assumptions_data(upload: UploadedFile) -> object:
    """The file's YAML or JSON, by its name's ending as the command line reads it."""
    source = upload.name
    suffix = Path(source).suffix.lower()
    try:
        text = upload.data.decode("utf-8-sig")
        if suffix == ".json":
            return json.loads(text)
        if suffix in {".yaml", ".yml"}:
            return yaml.safe_load(text)
    except UnicodeDecodeError:
        message = "not a text file: give a .yaml or .json file"
    except json.JSONDecodeError as err:
        message = f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
    except yaml.YAMLError as err:
        message = f"not valid YAML: {err}"
    else:
        message = f"unknown file type {suffix!r}: use .yaml, .yml or .json"
    raise AssumptionsError([AssumptionProblem(source, None, message)])


def assumption_input_problems(err: AssumptionsError) -> list[io.InputProblem]:
    """An assumptions file's problems as the upload's (file, field, reason; no row), the first
    :data:`MAX_ASSUMPTION_PROBLEMS` of them and how many more there are."""
    problems = [io.InputProblem(p.file, None, p.field, p.message) for p in err.problems]
    if len(problems) <= MAX_ASSUMPTION_PROBLEMS:
        return problems
    more = len(problems) - MAX_ASSUMPTION_PROBLEMS
    file = problems[0].file
    tail = io.InputProblem(file, None, None, f"and {more:,} more problems like these")
    return [*problems[:MAX_ASSUMPTION_PROBLEMS], tail]


def forecast_problems(
    inputs: ForecastInputs,
    files: ForecastFiles,
    first: int,
    last: int,
    *,
    against_places: bool,
    assumptions: AssumptionSet | None = None,
) -> list[io.InputProblem]:
    """What the readers cannot see alone, as ``sendmatch forecast`` checks it: the years must
    reach past the last January, the assumptions must name the forecast's needs, settings and
    projected years, the population (as assumed) must cover every year projected, and a
    forecast set against places must be by kind of place with SEN2 needs."""
    base = inputs.observed_years[-1]
    if last <= base:
        message = (
            f"the forecast must reach past {base}, the last January in the files "
            f"(got {first}-{last})"
        )
        return [io.InputProblem(FORM, None, "years", message)]
    if last - base > MAX_YEARS_AHEAD:
        message = (
            f"at most {MAX_YEARS_AHEAD} years after {base}, the last January in the files "
            f"(got {first}-{last})"
        )
        return [io.InputProblem(FORM, None, "years", message)]
    projected = range(base + 1, last + 1)
    problems: list[io.InputProblem] = []
    if assumptions is not None:
        try:
            resolve(assumptions, *forecast_axes(inputs), list(projected))
        except AssumptionsError as exc:
            problems += assumption_input_problems(exc)
    try:
        assumed = with_population(inputs, assumptions, base, projected)
        check_population_years(assumed, projected, files.population.name)
    except io.InputError as exc:
        problems += exc.problems
    if against_places:
        problem = kinds_of_place_problem(_states_only(inputs))
        if problem is not None:
            message = (
                f"{problem}: demand can be set against a caseload's places only in a forecast "
                "from yearly caseload files (kinds of place and SEN2 needs)"
            )
            problems.append(io.InputProblem(FORM, None, "caseload_id", message))
    return problems


def _states_only(inputs: ForecastInputs) -> Projection:
    """The states the inputs hold, as an empty projection: what
    :func:`kinds_of_place_problem` reads before anything is projected."""
    frame = inputs.transitions.frame
    states = {
        State(str(need), str(setting), int(year))
        for side in ("1", "2")
        for need, setting, year in zip(
            frame[f"need_{side}"],
            frame[f"setting_{side}"],
            frame[f"academic_year_{side}"],
            strict=True,
        )
        if setting != NONSEND
    }
    ordered = tuple(sorted(states))
    return Projection((0,), ordered, np.zeros((1, 1, len(ordered)), np.int32))


# --------------------------------------------------------------------------------------------
# The run


def execute_forecast_run(
    database: Database, run_id: int, network: RoadNetwork | None = None
) -> None:
    """Project a queued forecast run's files as ``sendmatch forecast`` does, back-test it, set
    it against its caseload's places if it names one, and store the LA-wide tables.

    Cancel and failure as every run (:func:`api.jobs.execute_run`): nothing is kept.
    """

    def work(
        options: dict[str, Any], report: Report
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        report(FORECAST_STAGES["reading"], "reading the forecast files")
        files, caseload = _stored(database, run_id, options.get("caseload_id"))
        settings = (
            UploadedFile(caseload.settings_name, caseload.settings_data)
            if caseload is not None and files.history
            else None
        )
        inputs = read_forecast_inputs(files, settings)
        assumptions = None if files.assumptions is None else read_assumptions(files.assumptions)
        config = ForecastConfig(
            n_simulations=int(options["simulations"]), seed=int(options["seed"])
        )
        first, last = int(options["first_year"]), int(options["last_year"])
        projection = _project(inputs, first, last, config, report, assumptions)
        report(FORECAST_STAGES["summarising"], "summarising the simulated futures")
        tables = forecast_tables(
            projection, inputs, config, first_year=first, assumptions=assumptions
        )
        out = forecast_out(inputs, tables, config, first, assumptions)
        report(FORECAST_STAGES["backtest"], "back-testing: projecting held-out Januaries")
        out.backtest, out.backtest_note = _backtest(inputs, config)
        if caseload is not None:
            report(FORECAST_STAGES["sufficiency"], "setting projected demand against places")
            places = caseload_inputs(caseload, network).settings
            out.sufficiency = sufficiency_out(caseload.id, projection, places, out.years)
        report(FORECAST_STAGES["files"], "writing the spreadsheet and witan.send's CSV files")
        downloads = forecast_downloads(tables)
        report(FORECAST_STAGES["saving"], "saving the forecast")
        keep_downloads(database, run_id, downloads)
        return [], out.model_dump(mode="json")

    execute_run(database, run_id, "forecast", work)
    forget_downloads_unless_done(database, run_id)


def _stored(
    database: Database, run_id: int, caseload_id: int | None
) -> tuple[ForecastFiles, Caseload | None]:
    with database.sessions() as session:
        rows = session.execute(
            select(RunInput.role, RunInput.name, RunInput.data)
            .where(RunInput.run_id == run_id)
            .order_by(RunInput.id)
        ).all()
        caseload = None if caseload_id is None else session.get_one(Caseload, caseload_id)
        stored = [(role, name, data) for role, name, data in rows]
        return ForecastFiles.from_rows(stored), caseload


def _project(
    inputs: ForecastInputs,
    first: int,
    last: int,
    config: ForecastConfig,
    report: Report,
    assumptions: AssumptionSet | None = None,
) -> Projection:
    """``project`` over the CLI's years, its progress notes moving the bar (and checking for a
    cancel) as each batch of futures is simulated."""
    start, end = FORECAST_STAGES["simulating"], FORECAST_STAGES["summarising"]
    base = inputs.observed_years[-1]
    years = list(range(max(first, base + 1), last + 1))
    assumed = "" if assumptions is None else " with the assumptions file"
    report(start, f"simulating {config.n_simulations:,} futures to {last}{assumed}")

    def note(message: str) -> None:
        done = _SIMULATED.search(message)
        fraction = int(done[1]) / max(int(done[2]), 1) if done else 0.0
        report(start + (end - start) * fraction, f"projection: {message}")

    return project(inputs, years, config, progress=note, assumptions=assumptions)


# --------------------------------------------------------------------------------------------
# Tables as stored JSON (``ForecastOut``)


def forecast_out(
    inputs: ForecastInputs,
    tables: ForecastTables,
    config: ForecastConfig,
    first: int,
    assumptions: AssumptionSet | None = None,
) -> ForecastOut:
    """The CLI's tables (witan.send's ``Output_*.csv``, the observed Januaries) as one
    document, with the assumptions in the words of the CLI's Inputs sheet; the back-test and
    sufficiency are added by the run."""
    witan = tables.witan
    counts = witan["Output_Count.csv"]
    base = inputs.observed_years[-1]
    notes = []
    if first <= base:
        notes.append(f"January {base} is the last observed; the projection runs from it.")
    uncosted = uncosted_states(inputs)
    if uncosted:
        shown = ", ".join(f"{need} in {setting}" for need, setting in uncosted[:10])
        more = f" and {len(uncosted) - 10:,} more" if len(uncosted) > 10 else ""
        notes.append(
            f"The costs file has no cost for {shown}{more}: those children count £0 in the "
            "cost forecast."
        )
    cost = witan.get("Output_Cost.csv")
    return ForecastOut(
        source=inputs.source,
        base_year=base,
        years=[int(y) for y in counts["calendar-year"]],
        simulations=config.n_simulations,
        seed=config.seed,
        observed=[
            ObservedCountOut(calendar_year=year, children=n) for year, n in tables.observed.items()
        ],
        total=_figures(counts, None),
        by_need=_figures(witan["Output_Need.csv"], "need"),
        by_setting=_figures(witan["Output_Setting.csv"], "setting"),
        by_nc_year=_figures(witan["Output_AY.csv"], "academic-year"),
        cost=None if cost is None else _figures(cost, None),
        backtest=[],
        backtest_note=None,
        sufficiency=None,
        notes=notes,
        assumptions=[]
        if assumptions is None
        else [f"{what}: {value}" for what, value in assumptions.descriptions()],
    )


def _figures(frame: pd.DataFrame, group: str | None) -> list[ForecastFigureOut]:
    return [
        ForecastFigureOut(
            calendar_year=int(row["calendar-year"]),
            group=None if group is None else str(row[group]),
            mean=float(row["mean"]),
            median=float(row["median"]),
            low_95=float(row["low-95pc-bound"]),
            high_95=float(row["high-95pc-bound"]),
        )
        for row in frame.to_dict("records")
    ]


def _backtest(
    inputs: ForecastInputs, config: ForecastConfig
) -> tuple[list[BacktestRowOut], str | None]:
    """Horizons 1 to 3 where the history allows (two Januaries to learn from before the first
    held out), as ``sendmatch forecast backtest``; else no rows and why."""
    observed = inputs.observed_years
    horizons = [h for h in BACKTEST_HORIZONS if h <= len(observed) - 2]
    if not horizons:
        note = (
            f"No back-test: the files observe {len(observed)} Januaries "
            f"({observed[0]}–{observed[-1]}), and holding one out needs at least three, two "
            "to learn from and one to compare with."
        )
        return [], note
    try:
        table = backtest(inputs, horizons, config)
    except ValueError as exc:  # a history too short for every horizon
        return [], f"No back-test: {exc}."
    rows = [BacktestRowOut.model_validate(_finite(row)) for row in table.to_dict("records")]
    return rows, None


def sufficiency_out(
    caseload_id: int, projection: Projection, places: Sequence[Setting], years: Sequence[int]
) -> SufficiencyOut:
    """``sufficiency`` against the caseload's settings, for the years in the tables, with each
    year's biggest shortfalls in words (as the command line prints them) and the figures of its
    chart of demand against places by need."""
    table = sufficiency(projection, places)
    table = table[table["calendar_year"].isin(set(years))]
    by_need = demand_and_places_by_need(projection, places)
    by_need = by_need[by_need["calendar_year"].isin(set(years))]
    short = table[table["shortfall_mean"].round() >= 1]
    shortfalls = []
    for year, rows in short.groupby("calendar_year", sort=True):
        ordered = rows.sort_values("shortfall_mean", ascending=False, kind="stable")
        shortfalls += [
            ShortfallOut(calendar_year=int(str(year)), sentence=str(sentence))
            for sentence in ordered["sentence"].head(SHORTFALLS_A_YEAR)
        ]
    return SufficiencyOut(
        caseload_id=caseload_id,
        shortfalls=shortfalls,
        rows=[SufficiencyRowOut.model_validate(_finite(r)) for r in table.to_dict("records")],
        by_need=[NeedDemandOut.model_validate(_finite(r)) for r in by_need.to_dict("records")],
    )


def _finite(record: Mapping[Any, Any]) -> dict[str, Any]:
    """JSON-safe: numpy scalars as Python numbers, NaN (not applicable) as null. PostgreSQL's
    JSON refuses NaN, and JSON has no such number."""
    plain: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        plain[str(key)] = value
    return plain
