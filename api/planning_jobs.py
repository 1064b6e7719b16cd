"""Fair access and scenario comparison runs for the API, computed as the CLI computes them.

``sendmatch fair-access`` and ``sendmatch scenario compare`` are the reference: each job below
calls the same ``matcher`` functions with the same configuration as those commands, on the
stored caseload, so a panel or a planner sees on the web exactly what the command line gives.

Both jobs follow the placement run's bookkeeping (:mod:`api.jobs`): claimed queued → running,
progress and a cancel check in short transactions between stages (and between scenarios), and
results with ``done`` in one transaction at the end, so a cancelled or failed run keeps nothing.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from api.db import Database, Run
from api.jobs import (
    Report,
    UploadedFile,
    execute_run,
    map_point,
    stored_caseload,
    travel_stage,
)
from api.schemas import (
    ComparisonOut,
    FairAccessSummaryOut,
    MetricOut,
    NeedCountOut,
    NewSiteOut,
    ScenarioColumnOut,
    ScenarioFiguresOut,
    SchoolLoadOut,
    SolverLevelOut,
)
from matcher import io, pipeline
from matcher.eligibility import EligibilityConfig
from matcher.fair_access import (
    ChildAllocation,
    FairAccessConfig,
    FairAccessResult,
    allocate_fair_access,
    load_fap_history,
)
from matcher.models import Child, Setting
from matcher.placement import PlacementConfig
from matcher.planning import (
    BASE_NAME,
    METRICS,
    Scenario,
    ScenarioComparison,
    ScenarioError,
    ScenarioProblem,
    apply_scenario,
    check_scenario_names,
    compare_scenarios,
    comparison_tables,
    load_scenario,
)
from matcher.scenario_map import (
    DEFAULT_CELL_KM,
    DEFAULT_MIN_COUNT,
    CellRules,
    render_scenario_map,
    render_scenario_png,
)
from matcher.travel_estimate import TravelFor, build_travel_matrix

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

log = logging.getLogger(__name__)


#: Where each stage of a fair access run starts, as a fraction of the run.
FAIR_ACCESS_STAGES = {"reading": 0.0, "travel": 0.1, "allocating": 0.3, "saving": 0.9}
#: A scenario comparison: reading and travel, then the base and each scenario share the solve.
COMPARE_SOLVE_START, COMPARE_SOLVE_END = 0.1, 0.95
#: Longest file name written to a temporary folder (most file systems allow 255 bytes).
MAX_NAME_BYTES = 200
#: Rendered maps kept in memory: a map re-solves its scenario, which takes seconds at LA scale.
MAP_CACHE_SIZE = 16
#: Environment variables that set the cells of the maps for roles that may not see homes.
CELL_KM_VARIABLE = "SENDMATCH_MAP_CELL_KM"
MIN_COUNT_VARIABLE = "SENDMATCH_MAP_MIN_COUNT"


# --------------------------------------------------------------------------------------------
# Options shared by both kinds of run


def placement_config(options: Mapping[str, Any], inputs: io.RoundInputs) -> PlacementConfig:
    """The config ``sendmatch``'s ``prepare_round`` builds from the same options."""
    return pipeline.placement_config(
        inputs,
        float(options["primary_limit_minutes"]),
        float(options["secondary_limit_minutes"]),
        options.get("la_code"),
    )


def in_own_folder(tmp: str, index: int, upload: UploadedFile) -> Path:
    """Write ``upload`` under its own name (problems name the file the user knows), unless the
    file system cannot hold that name (a NUL, or too long in bytes): then ``upload-<n>``."""
    folder = Path(tmp) / str(index)
    folder.mkdir()
    usable = "\x00" not in upload.name and len(upload.name.encode("utf-8")) <= MAX_NAME_BYTES
    suffix = Path(upload.name).suffix
    suffix = suffix if suffix[1:].isalnum() and len(suffix) <= 10 else ""
    path = folder / (upload.name if usable else f"upload-{index + 1}{suffix}")
    path.write_bytes(upload.data)
    return path


# --------------------------------------------------------------------------------------------
# Fair access


def read_fap_history(history: UploadedFile) -> dict[str, int]:
    """``load_fap_history`` on an uploaded file; ``io.InputError`` lists every problem."""
    with tempfile.TemporaryDirectory(prefix="sendmatch-history-") as tmp:
        return load_fap_history(in_own_folder(tmp, 0, history))


def fair_access_config(options: Mapping[str, Any]) -> FairAccessConfig:
    """As ``sendmatch fair-access``: the journey limits bind preferences too."""
    eligibility = EligibilityConfig(
        primary_limit_minutes=float(options["primary_limit_minutes"]),
        secondary_limit_minutes=float(options["secondary_limit_minutes"]),
    )
    return FairAccessConfig(
        eligibility=replace(eligibility, preferences_exempt_from_travel_limit=False),
        max_per_school=options.get("max_per_school"),
        time_limit_seconds=float(options["time_limit_seconds"]),
    )


def _minutes(value: float | None) -> float | None:
    """Rounded to 0.1 minute, as the CLI's fair access workbook gives journeys."""
    return None if value is None else round(float(value), 1)


def fair_access_record(
    allocation: ChildAllocation, child: Child, settings_by_urn: Mapping[str, Setting]
) -> dict[str, Any]:
    """One child's allocation as stored JSON (the shape of ``FairAccessChildOut``)."""

    def located(urn: str) -> dict[str, float] | None:
        setting = settings_by_urn.get(urn)
        return None if setting is None else map_point(setting.location)

    return {
        "child_id": allocation.child_id,
        "school_urn": allocation.school_urn,
        "school_name": allocation.school_name,
        "travel_minutes": _minutes(allocation.minutes),
        "preference_rank": allocation.preference_rank,
        "load_before": allocation.load_before,
        "load_after": allocation.load_after,
        "reason": allocation.reason,
        "alternatives": [
            {
                "rank": rank,
                "urn": o.urn,
                "name": o.name,
                "minutes": _minutes(o.minutes),
                "load_before": o.load_before,
                "load_after": o.load_after,
                "places_left": o.places_left,
                "note": o.note,
                "location": located(o.urn),
            }
            for rank, o in enumerate(allocation.alternatives, start=1)
        ],
        "excluded": [
            {
                "urn": e.urn,
                "name": e.name,
                "minutes": _minutes(e.minutes),
                "reasons": list(e.reasons),
                "location": located(e.urn),
            }
            for e in allocation.excluded
        ],
        "schools_beyond_reach": allocation.schools_beyond_reach,
        "home": map_point(child.home),
    }


def fair_access_summary(result: FairAccessResult) -> dict[str, Any]:
    """The LA-wide figures (``FairAccessSummaryOut``): school loads and the solver's proof."""
    summary = FairAccessSummaryOut(
        children=len(result.allocations),
        placed=result.placed,
        unplaced=result.unplaced,
        with_preferences=result.with_preferences,
        any_preference_met=result.any_preference_met,
        first_preference_met=result.first_preference_met,
        status=result.status,
        max_load=result.max_load,
        total_minutes=round(result.total_minutes, 1),
        load_scale=result.load_scale,
        travel_model=result.travel_model,
        notes=list(result.notes),
        levels=[
            SolverLevelOut(
                name=level.name,
                status=level.status,
                objective=level.objective,
                best_bound=level.best_bound,
                gap=round(level.gap, 6),
            )
            for level in result.levels
        ],
        schools=[
            SchoolLoadOut(
                urn=s.urn,
                name=s.name,
                size=s.size,
                history=s.history,
                cap=s.cap,
                new=s.new,
                load_before=s.load_before,
                load_after=s.load_after,
            )
            for s in result.schools
        ],
    )
    return summary.model_dump(mode="json")


def execute_fair_access_run(
    database: Database, run_id: int, network: RoadNetwork | None = None
) -> None:
    """Allocate a queued fair access run as ``sendmatch fair-access`` does, and store it.

    Meant for a background task: one ``RunResult`` per child (the options, explained) and the
    LA-wide summary are committed with ``done`` together; a cancel ends it ``cancelled`` and a
    failure ``failed`` with the error, keeping nothing. Only ids and statuses are logged.
    """

    def work(
        options: dict[str, Any], report: Report
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        report(FAIR_ACCESS_STAGES["reading"], "reading the caseload and history files")
        inputs = stored_caseload(database, options, network)
        with database.sessions() as session:
            run = session.get_one(Run, run_id)
            history_file = (
                UploadedFile(run.input_name, run.input_data)
                if run.input_name is not None and run.input_data is not None
                else None
            )
        history = {} if history_file is None else read_fap_history(history_file)
        config = fair_access_config(options)
        report(FAIR_ACCESS_STAGES["travel"], travel_stage(network))
        travel = build_travel_matrix(
            inputs.children, inputs.settings, config.eligibility.cutoff_minutes, network
        )
        report(
            FAIR_ACCESS_STAGES["allocating"],
            "allocating (children placed, then the highest load, then travel)",
        )
        result = allocate_fair_access(
            inputs.children, inputs.settings, travel.matrix, history, config
        )
        report(FAIR_ACCESS_STAGES["saving"], "saving the results")
        by_urn = {s.urn: s for s in inputs.settings}
        by_id = {c.child_id: c for c in inputs.children}
        rows = [
            {
                "run_id": run_id,
                "child_id": a.child_id,
                "result": fair_access_record(a, by_id[a.child_id], by_urn),
            }
            for a in result.allocations
        ]
        return rows, fair_access_summary(result)

    execute_run(database, run_id, "fair access", work)


# --------------------------------------------------------------------------------------------
# Scenario files


def stored_scenario_files(options: Mapping[str, Any]) -> list[UploadedFile]:
    """The scenario files kept in ``Run.options["scenario_files"]`` (name and UTF-8 text)."""
    return [
        UploadedFile(f["name"], str(f["text"]).encode("utf-8"))
        for f in options.get("scenario_files", [])
    ]


def _read_each(
    files: Sequence[UploadedFile],
) -> tuple[list[tuple[UploadedFile, Scenario]], list[ScenarioProblem]]:
    """``load_scenario`` on each uploaded file: the files that read, and every file's problems.

    Unlike the CLI, which stops at the first bad file, every file is read, so a planner fixes
    them all in one pass; each problem is the CLI's own (file, field path, message).
    """
    problems: list[ScenarioProblem] = []
    loaded: list[tuple[UploadedFile, Scenario]] = []
    with tempfile.TemporaryDirectory(prefix="sendmatch-scenarios-") as tmp:
        for index, upload in enumerate(files):
            try:
                upload.data.decode("utf-8")
            except UnicodeDecodeError:
                message = "not UTF-8 text: save the file as UTF-8 and upload it again"
                problems.append(ScenarioProblem(upload.name, None, message))
                continue
            try:
                loaded.append((upload, load_scenario(in_own_folder(tmp, index, upload))))
            except ScenarioError as exc:
                problems.extend(exc.problems)
    return loaded, problems


def read_scenarios(files: Sequence[UploadedFile]) -> list[Scenario]:
    """Every file as a :class:`Scenario`; ``ScenarioError`` with every file's problems."""
    loaded, problems = _read_each(files)
    if problems:
        raise ScenarioError(problems)
    return [scenario for _, scenario in loaded]


def validate_scenarios(inputs: io.RoundInputs, files: Sequence[UploadedFile]) -> list[Scenario]:
    """Read the files and check them against the round, as the CLI does once it has read it:
    each field, distinct names, and edits that fit the round (known URNs, provisions on
    mainstream schools). ``ScenarioError`` lists every problem of every file."""
    loaded, problems = _read_each(files)
    try:
        check_scenario_names([scenario for _, scenario in loaded])
    except ScenarioError as exc:
        problems.extend(exc.problems)
    for upload, scenario in loaded:
        try:
            apply_scenario(inputs.children, inputs.settings, scenario, source=upload.name)
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    return [scenario for _, scenario in loaded]


# --------------------------------------------------------------------------------------------
# Scenario comparison


def compare_with_progress(
    children: Sequence[Child],
    settings: Sequence[Setting],
    scenarios: Sequence[Scenario],
    travel_for: TravelFor,
    config: PlacementConfig,
    report: Report,
) -> ScenarioComparison:
    """``matcher.planning.compare_scenarios`` (the CLI's comparison), reporting before each
    solve so a long comparison shows progress and stops between scenarios when cancelled."""
    span = (COMPARE_SOLVE_END - COMPARE_SOLVE_START) / (len(scenarios) + 1)

    def before_solve(k: int, n: int, name: str) -> None:
        what = "the base" if k == 0 else f"scenario {k} of {n - 1}: {name}"
        report(COMPARE_SOLVE_START + span * k, f"solving {what}")

    return compare_scenarios(
        children, settings, scenarios, travel_for, config, before_solve=before_solve
    )


def _figures(values: Mapping[str, Any]) -> ScenarioFiguresOut:
    """Cells of the CLI's table as typed figures (pounds are whole in the table already)."""
    cells = {m.key: values[m.label] for m in METRICS}
    if cells["cost_per_placed"] is not None:
        cells["cost_per_placed"] = round(cells["cost_per_placed"])
    return ScenarioFiguresOut.model_validate(cells)


def _need_counts(records: Sequence[Mapping[str, Any]], column: str) -> list[NeedCountOut]:
    return [
        NeedCountOut(need=str(r["need"]), description=str(r["description"]), count=r[column])
        for r in records
    ]


def new_sites(
    inputs: io.RoundInputs, scenarios: Sequence[Scenario], comparison: ScenarioComparison
) -> list[NewSiteOut]:
    """Settings each scenario adds (URNs not in the base), with the children it sends there."""
    base_urns = {s.urn for s in inputs.settings}
    sites: list[NewSiteOut] = []
    for scenario, outcome in zip(scenarios, comparison.scenarios, strict=True):
        _, settings = apply_scenario(inputs.children, inputs.settings, scenario)
        taken: dict[str, int] = {}
        for p in outcome.result.placements:
            if p.setting_urn is not None:
                taken[p.setting_urn] = taken.get(p.setting_urn, 0) + 1
        sites.extend(
            NewSiteOut(
                scenario=scenario.name,
                urn=s.urn,
                name=s.name,
                setting_type=s.setting_type.value,
                lat=s.location.latitude,
                lon=s.location.longitude,
                total_places=s.total_places,
                designated_needs=sorted(n.value for n in s.designated_needs),
                children_placed=taken.get(s.urn, 0),
            )
            for s in settings
            if s.urn not in base_urns
        )
    return sites


def comparison_out(comparison: ScenarioComparison, sites: Sequence[NewSiteOut]) -> ComparisonOut:
    """The CLI's two comparison sheets, column by column, as one typed document.

    Built from ``comparison_tables`` itself (by column position: metric, unit, a value column
    per outcome, then a change column per scenario) so the web's figures are the workbook's.
    """
    main, by_need = comparison_tables(comparison)
    outcomes = (comparison.base, *comparison.scenarios)
    n = len(outcomes)
    main_values = main.columns[2 : 2 + n]
    main_changes = main.columns[2 + n :]
    need_values = by_need.columns[2 : 2 + n]
    need_changes = by_need.columns[2 + n :]
    metric_rows = main.records[: len(METRICS)]

    def figures_in(column: str) -> ScenarioFiguresOut:
        return _figures({m.label: r[column] for m, r in zip(METRICS, metric_rows, strict=True)})

    columns = []
    for k, outcome in enumerate(outcomes):
        is_base = k == 0
        figures = figures_in(main_values[k])
        change = None if is_base else figures_in(main_changes[k - 1])
        columns.append(
            ScenarioColumnOut(
                name=outcome.name,
                description=outcome.description,
                base=is_base,
                travel_model=outcome.travel_model,
                figures=figures,
                change=change,
                unplaced_by_need=_need_counts(by_need.records, need_values[k]),
                unplaced_by_need_change=(
                    None if is_base else _need_counts(by_need.records, need_changes[k - 1])
                ),
            )
        )
    return ComparisonOut(
        metrics=[MetricOut(key=m.key, label=m.label, unit=m.unit) for m in METRICS],
        scenarios=columns,
        sites=list(sites),
    )


def execute_scenario_compare_run(
    database: Database, run_id: int, network: RoadNetwork | None = None
) -> None:
    """Compare a queued run's scenarios with its caseload as ``sendmatch scenario compare``.

    Stores the LA-wide comparison (``ComparisonOut``) as the run's summary, with ``done``, in
    one transaction; no child records. Cancel and failure as :func:`execute_fair_access_run`.
    """

    def work(
        options: dict[str, Any], report: Report
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        report(0.0, "reading the caseload and scenario files")
        inputs = stored_caseload(database, options, network)
        scenarios = validate_scenarios(inputs, stored_scenario_files(options))
        config = placement_config(options, inputs)
        travel_for = TravelFor(config.eligibility.cutoff_minutes, network)
        comparison = compare_with_progress(
            inputs.children, inputs.settings, scenarios, travel_for, config, report
        )
        report(COMPARE_SOLVE_END, "saving the comparison")
        out = comparison_out(comparison, new_sites(inputs, scenarios, comparison))
        return [], out.model_dump(mode="json")

    execute_run(database, run_id, "scenario comparison", work)


# --------------------------------------------------------------------------------------------
# Maps of a comparison's sites


MapFormat = Literal["html", "png"]
#: ``cells``: homes counted per area, small counts not drawn (every role). ``points``: a dot
#: per home, for the roles that work with children, each child's home read into the audit.
MapView = Literal["cells", "points"]


@dataclass(frozen=True)
class ComparisonMap:
    """A drawn map, and the children whose homes it draws as points (none for ``cells``):
    the reads the route must audit before sending it."""

    body: bytes
    child_ids: tuple[str, ...]


def map_cell_rules() -> CellRules:
    """The server's cells: :data:`CELL_KM_VARIABLE` km across, counts under
    :data:`MIN_COUNT_VARIABLE` not drawn; the defaults when unset.

    A value that is not a number, or below the floor :class:`CellRules` keeps (1 km, 5
    children), is logged and the defaults are used: a slip in the configuration must not
    show finer cells or smaller counts than intended.
    """
    cell_km = os.environ.get(CELL_KM_VARIABLE)
    min_count = os.environ.get(MIN_COUNT_VARIABLE)
    try:
        return CellRules(
            cell_km=DEFAULT_CELL_KM if cell_km is None else float(cell_km),
            min_count=DEFAULT_MIN_COUNT if min_count is None else int(min_count),
        )
    except ValueError as exc:
        log.warning(
            "map cells: %s=%r, %s=%r rejected (%s); using the defaults",
            CELL_KM_VARIABLE,
            cell_km,
            MIN_COUNT_VARIABLE,
            min_count,
            exc,
        )
        return CellRules()


class UnknownSiteError(LookupError):
    """The site (or scenario) asked for is not in the comparison; the message says what is."""


def _choose_scenario(
    inputs: io.RoundInputs, scenarios: Sequence[Scenario], site: str, scenario: str | None
) -> Scenario | None:
    """The scenario to map ``site`` in; None for the base.

    Without ``scenario``, the CLI's rule (``_write_scenario_maps``): the first scenario that
    has the site, else the base.
    """

    def has_site(candidate: Scenario | None) -> bool:
        settings = (
            inputs.settings
            if candidate is None
            else apply_scenario(inputs.children, inputs.settings, candidate)[1]
        )
        return any(s.urn == site for s in settings)

    if scenario is None:
        chosen = next((s for s in scenarios if has_site(s)), None)
    elif scenario == BASE_NAME:
        chosen = None
    else:
        chosen = next((s for s in scenarios if s.name == scenario), None)
        if chosen is None:
            names = ", ".join([BASE_NAME, *(s.name for s in scenarios)])
            raise UnknownSiteError(f"no scenario named {scenario!r}; there are: {names}")
    if not has_site(chosen):
        where = BASE_NAME if chosen is None else chosen.name
        raise UnknownSiteError(f"{site} is not a setting of {where!r}")
    return chosen


def render_comparison_map(
    inputs: io.RoundInputs,
    options: Mapping[str, Any],
    site: str,
    scenario: str | None,
    fmt: MapFormat,
    network: RoadNetwork | None = None,
    *,
    cells: CellRules | None = None,
) -> ComparisonMap:
    """The CLI's ``--map-site`` map of ``site``: HTML (offline, pan and zoom) or PNG bytes.

    The chosen scenario is solved again with ``compare_scenarios`` (base and that scenario
    alone: each scenario is solved independently of the others, so its plan is the one the
    comparison stored); the map is ``matcher.scenario_map``'s: homes counted in ``cells``,
    or, without them, the children's homes as unlabelled dots (and then their ids returned,
    for the audit).
    """
    scenarios = read_scenarios(stored_scenario_files(options))
    chosen = _choose_scenario(inputs, scenarios, site, scenario)
    config = placement_config(options, inputs)
    travel_for = TravelFor(config.eligibility.cutoff_minutes, network)
    picked = [] if chosen is None else [chosen]
    comparison = compare_scenarios(inputs.children, inputs.settings, picked, travel_for, config)
    if chosen is None:
        outcome, children, settings = comparison.base, inputs.children, inputs.settings
    else:
        outcome = comparison.scenarios[0]
        children, settings = apply_scenario(inputs.children, inputs.settings, chosen)
    drawn = (
        ()
        if cells is not None
        else tuple(p.child_id for p in outcome.result.placements if p.setting_urn == site)
    )
    if fmt == "html":
        html = render_scenario_map(outcome, children, settings, network, site, cells=cells)
        return ComparisonMap(html.encode("utf-8"), drawn)
    with tempfile.TemporaryDirectory(prefix="sendmatch-map-") as tmp:
        path = Path(tmp) / "map.png"
        render_scenario_png(outcome, children, settings, network, site, path, cells=cells)
        return ComparisonMap(path.read_bytes(), drawn)


class MapCache:
    """The last few maps drawn, so reopening a map does not re-solve its scenario.

    Keyed by database, run, site, scenario, format, view and cell rules, so a view of cells
    can never be answered with a cached map of points; a done run never changes, so an entry
    is never stale. Thread-safe: requests run in FastAPI's thread pool.
    """

    def __init__(self, size: int = MAP_CACHE_SIZE) -> None:
        self._size = size
        self._maps: OrderedDict[tuple[Any, ...], ComparisonMap] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> ComparisonMap | None:
        with self._lock:
            if key in self._maps:
                self._maps.move_to_end(key)
                return self._maps[key]
            return None

    def put(self, key: tuple[Any, ...], value: ComparisonMap) -> None:
        with self._lock:
            self._maps[key] = value
            self._maps.move_to_end(key)
            while len(self._maps) > self._size:
                self._maps.popitem(last=False)


map_cache = MapCache()
