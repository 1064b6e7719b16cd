"""Scenario sweeps: many candidate sites × designations × sizes, solved in parallel on Dask.

A sufficiency panel asks "which of these 20 sites, designated for which needs, with how many
places, does most good?". :func:`sweep_scenarios` turns the question into one
:class:`matcher.planning.Scenario` per combination (one :class:`~matcher.planning.NewSetting`
edit each), and :func:`run_sweep` solves every one of them the way
:func:`matcher.planning.compare_scenarios` does (:func:`~matcher.planning.apply_scenario`, the
incremental :func:`~matcher.planning.scenario_travel`, :func:`matcher.placement.place`,
:func:`~matcher.planning.scenario_metrics`), as Dask tasks, and gathers one row per scenario in
the scenarios' order. :func:`run_sweep_sequential` does the same in this process, with the same
result, and is the fallback where Dask is not installed.

Dask is optional (``pip install "dask[distributed]"``) and imported only when a sweep runs on
it. By default a :class:`distributed.LocalCluster` of single-threaded worker processes is
started for the sweep and closed after it (CP-SAT and the flow solver hold the GIL, so
processes, not threads, give parallelism); give ``scheduler="tcp://host:8786"`` to run on an
existing cluster, or ``client=`` to reuse a client. The round's children, settings and base
travel matrix, the ``travel_for`` callable and the config are scattered to every worker once;
each task carries only its scenario.

``travel_for`` is sent to worker processes, so it must be picklable: a module-level function
or an instance of a module-level class, not a lambda or a closure. :class:`StraightLineTravel`
is the straight-line model as such a class. For road times, a class holding the
:class:`geodata.network.RoadNetwork` (or the path to load it from on the worker) and calling
:func:`geodata.travel_times.road_travel_matrix` works the same way; only the new setting's
column is timed per scenario, so the base matrix's routing is done once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from matcher.io import Cell, Table
from matcher.models import Child, PrimaryNeed, Setting, SettingType
from matcher.placement import PlacementConfig, place
from matcher.planning import (
    BASE_NAME,
    METRICS,
    NewResourcedProvision,
    NewSetting,
    Scenario,
    ScenarioError,
    ScenarioMetrics,
    ScenarioProblem,
    TravelFor,
    apply_scenario,
    check_scenario_names,
    scenario_metrics,
    scenario_travel,
)
from matcher.site_choice import CandidateSite
from matcher.travel import TravelTimeMatrix

Progress = Callable[[int, int], None]

# The new setting of a sweep scenario is "SITE-<site id>", like matcher.site_choice's.
SITE_URN_PREFIX = "SITE-"
RESOURCED_PROVISION = "resourced_provision"

# The metrics a sweep reports, each with its change against the base.
SWEEP_METRICS: tuple[str, ...] = (
    "placed",
    "unplaced",
    "mean_minutes",
    "p90_minutes",
    "over_phase_limit",
    "independent",
    "total_cost",
)
# Metrics where more is better; :meth:`SweepResult.best` sorts these descending.
HIGHER_IS_BETTER = frozenset({"placed", "first_preference_met", "any_preference_met"})
DEFAULT_RANKING: tuple[str, ...] = ("unplaced", "over_phase_limit", "total_cost", "mean_minutes")
SWEEP_SHEET = "Sweep"


# --------------------------------------------------------------------------------------------
# Building the scenarios


def _needs(designation: Sequence[str]) -> tuple[PrimaryNeed, ...]:
    return tuple(PrimaryNeed(n) for n in designation)


def sweep_scenarios(
    candidates: Sequence[CandidateSite],
    designations: Sequence[Sequence[str]],
    sizes: Sequence[int],
    setting_type: str = "special",
    low_age: int = 4,
    high_age: int = 19,
) -> list[Scenario]:
    """One scenario per (candidate, designation, size), in that nesting order.

    Each scenario opens one setting at the candidate, URN ``SITE-<site id>``, named e.g.
    ``"c07 ASD+SEMH 120"``. ``setting_type`` is a :class:`matcher.models.SettingType` value or
    ``"resourced_provision"`` (a new mainstream site with no general places and one resourced
    provision of that size). Unknown needs, sizes below zero, repeated combinations and names
    over 64 characters raise :class:`ValueError`.
    """
    if setting_type != RESOURCED_PROVISION:
        try:
            kind = SettingType(setting_type)
        except ValueError:
            allowed = ", ".join([*(t.value for t in SettingType), RESOURCED_PROVISION])
            raise ValueError(f"setting_type must be one of {allowed}") from None
    needs = [_needs(d) for d in designations]
    if setting_type == RESOURCED_PROVISION and any(not n for n in needs):
        raise ValueError("a resourced provision needs at least one designated need")
    if any(size < 0 for size in sizes):
        raise ValueError("sizes must be zero or more places")
    scenarios: list[Scenario] = []
    seen: set[str] = set()
    for site in candidates:
        urn = f"{SITE_URN_PREFIX}{site.site_id}"
        for need in needs:
            label = "+".join(n.value for n in need) or "any need"
            for size in sizes:
                name = f"{site.site_id} {label} {size}"
                if name in seen:
                    raise ValueError(f"scenario {name!r} appears twice: repeated site or option")
                if len(name) > 64:
                    raise ValueError(f"scenario name {name!r} is over 64 characters")
                seen.add(name)
                description = f"{site.name}: {label}, {size} places ({setting_type})"
                if setting_type == RESOURCED_PROVISION:
                    edits: tuple[NewSetting | NewResourcedProvision, ...] = (
                        NewSetting(
                            urn=urn,
                            name=site.name,
                            setting_type=SettingType.MAINSTREAM,
                            location=site.location,
                            low_age=low_age,
                            high_age=high_age,
                            total_places=0,
                        ),
                        NewResourcedProvision(
                            urn=urn, designated_needs=frozenset(need), places=size
                        ),
                    )
                else:
                    edits = (
                        NewSetting(
                            urn=urn,
                            name=site.name,
                            setting_type=kind,
                            location=site.location,
                            low_age=low_age,
                            high_age=high_age,
                            designated_needs=frozenset(need),
                            total_places=size,
                        ),
                    )
                scenarios.append(Scenario(name=name, description=description, edits=edits))
    return scenarios


# --------------------------------------------------------------------------------------------
# A picklable travel model


@dataclass(frozen=True)
class StraightLineTravel:
    """``travel_for`` for the straight-line estimate, picklable for Dask worker processes.

    Minutes within ``cutoff_minutes``, plus every pair a child's record names (preferences and
    current setting), as :func:`matcher.travel_estimate.build_travel_matrix` does without a
    road network.
    """

    cutoff_minutes: float = 75.0
    detour_factor: float | None = None
    speed_kmh: float | None = None

    def __call__(self, children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
        from geodata.straight_line import straight_line_matrix

        column = {s.urn: j for j, s in enumerate(settings)}
        pairs = sorted(
            {
                (i, column[urn])
                for i, c in enumerate(children)
                for urn in (*c.preferences, c.current_setting)
                if urn is not None and urn in column
            }
        )
        options: dict[str, Any] = {}
        if self.detour_factor is not None:
            options["detour_factor"] = self.detour_factor
        if self.speed_kmh is not None:
            options["speed_kmh"] = self.speed_kmh
        return straight_line_matrix(
            [c.child_id for c in children],
            [c.home for c in children],
            [s.urn for s in settings],
            [s.location for s in settings],
            self.cutoff_minutes,
            required_pairs=pairs,
            **options,
        )


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SweepRow:
    """One scenario of a sweep and its metrics."""

    scenario: str
    site_id: str | None
    site_name: str | None
    setting_type: str | None
    designations: tuple[str, ...]
    places: int | None
    metrics: ScenarioMetrics


@dataclass(frozen=True)
class SweepResult:
    """The base's metrics and one row per scenario, in the scenarios' order."""

    base: ScenarioMetrics
    rows: tuple[SweepRow, ...]
    travel_model: str

    def change(self, row: SweepRow, key: str) -> float | int | None:
        """``row`` minus the base for one metric; None where either has no value."""
        a, b = row.metrics.value(key), self.base.value(key)
        if a is None or b is None:
            return None
        return a - b

    def best(
        self, by: str | Sequence[str] = DEFAULT_RANKING, n: int | None = None
    ) -> list[SweepRow]:
        """Rows best first: by each key in turn (fewest, or most for :data:`HIGHER_IS_BETTER`),
        missing values last, ties in scenario order; the first ``n`` if given."""
        keys = (by,) if isinstance(by, str) else tuple(by)

        def rank(row: SweepRow) -> tuple[tuple[bool, float], ...]:
            out = []
            for key in keys:
                value = row.metrics.value(key)
                if value is None:
                    out.append((True, 0.0))
                else:
                    out.append((False, -value if key in HIGHER_IS_BETTER else value))
            return tuple(out)

        ranked = sorted(self.rows, key=rank)
        return ranked if n is None else ranked[:n]


def _cell(value: float | int | None, unit: str) -> Cell:
    if value is None:
        return None
    if unit == "minutes":
        return round(float(value), 1)
    if unit == "pounds":
        return round(value)
    return value


def sweep_table(result: SweepResult, by: str | Sequence[str] | None = None) -> Table:
    """A "Sweep" sheet: the base, then one row per scenario (in order, or best first ``by``),
    each with the sweep metrics and their change against the base."""
    metrics = [m for m in METRICS if m.key in SWEEP_METRICS]
    columns = ["scenario", "site_id", "site_name", "setting_type", "designations", "places"]
    for m in metrics:
        columns += [m.label, f"{m.label}: change vs base"]
    columns.append("travel_model")
    base: dict[str, Cell] = {"scenario": BASE_NAME, "travel_model": result.travel_model}
    for m in metrics:
        base[m.label] = _cell(result.base.value(m.key), m.unit)
    records = [base]
    rows = result.rows if by is None else result.best(by)
    for row in rows:
        record: dict[str, Cell] = {
            "scenario": row.scenario,
            "site_id": row.site_id,
            "site_name": row.site_name,
            "setting_type": row.setting_type,
            "designations": "+".join(row.designations),
            "places": row.places,
            "travel_model": result.travel_model,
        }
        for m in metrics:
            record[m.label] = _cell(row.metrics.value(m.key), m.unit)
            record[f"{m.label}: change vs base"] = _cell(result.change(row, m.key), m.unit)
        records.append(record)
    return Table(SWEEP_SHEET, columns, records)


def _describe(scenario: Scenario, metrics: ScenarioMetrics) -> SweepRow:
    """A row from the scenario's first new setting (and resourced provision, if any)."""
    new = next((e for e in scenario.edits if isinstance(e, NewSetting)), None)
    provision = next((e for e in scenario.edits if isinstance(e, NewResourcedProvision)), None)
    if new is None:
        return SweepRow(scenario.name, None, None, None, (), None, metrics)
    urn = new.urn or ""
    site_id = urn.removeprefix(SITE_URN_PREFIX) if urn.startswith(SITE_URN_PREFIX) else urn
    if provision is not None and provision.urn == new.urn:
        kind, needs, places = RESOURCED_PROVISION, provision.designated_needs, provision.places
    else:
        kind, needs, places = new.setting_type.value, new.designated_needs, new.total_places
    ordered = tuple(n.value for n in sorted(needs))
    return SweepRow(scenario.name, site_id, new.name, kind, ordered, places, metrics)


# --------------------------------------------------------------------------------------------
# Solving


@dataclass(frozen=True)
class SweepInputs:
    """Everything a scenario task needs besides its scenario: scattered to workers once."""

    children: tuple[Child, ...]
    settings: tuple[Setting, ...]
    base_travel: TravelTimeMatrix
    travel_for: TravelFor
    config: PlacementConfig


def evaluate_scenario(inputs: SweepInputs, scenario: Scenario) -> ScenarioMetrics:
    """One scenario solved exactly as :func:`matcher.planning.compare_scenarios` solves it
    (incremental travel): apply the edits, time the new pairs, place, measure."""
    kids, sites = apply_scenario(inputs.children, inputs.settings, scenario)
    travel = scenario_travel(
        inputs.children, inputs.settings, inputs.base_travel, kids, sites, inputs.travel_for
    )
    result = place(kids, sites, travel, inputs.config)
    return scenario_metrics(kids, result, inputs.config)


def _prepare(
    children: Sequence[Child],
    settings: Sequence[Setting],
    scenarios: Sequence[Scenario],
    travel_for: TravelFor,
    config: PlacementConfig | None,
) -> tuple[SweepInputs, ScenarioMetrics]:
    """Check names, check every scenario applies (all problems at once), solve the base."""
    check_scenario_names(scenarios)
    problems: list[ScenarioProblem] = []
    for scenario in scenarios:
        try:
            apply_scenario(children, settings, scenario)
        except ScenarioError as err:
            problems.extend(err.problems)
    if problems:
        raise ScenarioError(problems)
    config = config or PlacementConfig()
    base_travel = travel_for(children, settings)
    base_result = place(children, settings, base_travel, config)
    inputs = SweepInputs(tuple(children), tuple(settings), base_travel, travel_for, config)
    return inputs, scenario_metrics(children, base_result, config)


def _result(
    inputs: SweepInputs,
    base: ScenarioMetrics,
    scenarios: Sequence[Scenario],
    metrics: Iterable[ScenarioMetrics],
) -> SweepResult:
    rows = tuple(_describe(s, m) for s, m in zip(scenarios, metrics, strict=True))
    return SweepResult(base, rows, inputs.base_travel.model)


def run_sweep_sequential(
    children: Sequence[Child],
    settings: Sequence[Setting],
    scenarios: Sequence[Scenario],
    travel_for: TravelFor,
    config: PlacementConfig | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """:func:`run_sweep` in this process, one scenario after another; the same result."""
    inputs, base = _prepare(children, settings, scenarios, travel_for, config)
    metrics = []
    for done, scenario in enumerate(scenarios, start=1):
        metrics.append(evaluate_scenario(inputs, scenario))
        if progress is not None:
            progress(done, len(scenarios))
    return _result(inputs, base, scenarios, metrics)


class DaskNotInstalledError(ImportError):
    """A Dask sweep was asked for without ``dask[distributed]`` installed."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as err:
        raise DaskNotInstalledError(
            'parallel sweeps need Dask: pip install "dask[distributed]" '
            "(or run the sweep sequentially)"
        ) from err
    return distributed


def run_sweep(
    children: Sequence[Child],
    settings: Sequence[Setting],
    scenarios: Sequence[Scenario],
    travel_for: TravelFor,
    config: PlacementConfig | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    client: Any = None,
) -> SweepResult:
    """Solve the base once and every scenario as a Dask task; rows in the scenarios' order.

    Runs on ``client`` if given (left open), else on the cluster at ``scheduler``, else on a
    new local cluster of ``workers`` single-threaded processes (default: the CPU count), closed
    afterwards. ``progress(done, total)`` is called as each scenario finishes. Without Dask
    installed, a sweep with no ``scheduler`` or ``client`` runs sequentially
    (:func:`run_sweep_sequential`); asking for a scheduler raises
    :class:`DaskNotInstalledError`. ``travel_for`` must be picklable (see the module notes).
    """
    if client is None and scheduler is None:
        try:
            distributed = _distributed()
        except DaskNotInstalledError:
            return run_sweep_sequential(children, settings, scenarios, travel_for, config, progress)
    else:
        distributed = _distributed()
    inputs, base = _prepare(children, settings, scenarios, travel_for, config)
    cluster = None
    own_client = client is None
    if client is None:
        if scheduler is not None:
            client = distributed.Client(scheduler)
        else:
            cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = distributed.Client(cluster)
    try:
        shared = client.scatter(inputs, broadcast=True)
        futures = [
            client.submit(evaluate_scenario, shared, scenario, pure=False) for scenario in scenarios
        ]
        total = len(futures)
        if progress is not None:
            for done, _ in enumerate(distributed.as_completed(futures), start=1):
                progress(done, total)
        metrics: list[ScenarioMetrics] = client.gather(futures)
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
    return _result(inputs, base, scenarios, metrics)


__all__ = [
    "DEFAULT_RANKING",
    "HIGHER_IS_BETTER",
    "SWEEP_METRICS",
    "DaskNotInstalledError",
    "StraightLineTravel",
    "SweepInputs",
    "SweepResult",
    "SweepRow",
    "evaluate_scenario",
    "run_sweep",
    "run_sweep_sequential",
    "sweep_scenarios",
    "sweep_table",
]
