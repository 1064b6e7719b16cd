"""Pydantic schemas at the HTTP boundary: what clients send and receive, and nothing more.

Kept apart from the database models so that a column added for bookkeeping never leaks into
a response, and so the OpenAPI schema a client is generated from describes the API, not the
tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.db import DecisionOutcome, Role, RunKind, RunStatus
from matcher.models import PRINTABLE, printable_id

# Database ids are 64-bit integers: anything outside that range names no row, and must be a
# 422 at the boundary rather than an overflow in the database driver.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

#: Letters, digits and ``. _ @ -``: a username reads the same in every log and audit trail,
#: and is compared regardless of case (``api.auth.create_user``).
USERNAME_PATTERN = r"^[A-Za-z0-9._@-]+$"


def _printable_or_none(value: str | None) -> str | None:
    return None if value is None else printable_id(value)


#: A child's pseudonymous id, wherever a client sends one: body, path or query.
ChildId = Annotated[
    str, Field(min_length=1, max_length=100, description=PRINTABLE), AfterValidator(printable_id)
]
ChildIdPath = Annotated[
    str, Path(min_length=1, max_length=100, description=PRINTABLE), AfterValidator(printable_id)
]
ChildIdQuery = Annotated[
    str | None, Query(max_length=100, description=PRINTABLE), AfterValidator(_printable_or_none)
]


class RequestModel(BaseModel):
    """The base of every JSON body a client sends.

    NaN and infinities are refused (422): JSON has no such numbers, yet Python's parser reads
    ``NaN``, ``Infinity`` and an overflowing ``1e400`` as floats, and none means anything as a
    journey limit or an id. :func:`api.request_limits.validation_error` keeps them out of the
    error's echo of the input too, so that answer can be rendered at all.
    """

    model_config = ConfigDict(allow_inf_nan=False)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds until the token expires")


class UserCreate(RequestModel):
    username: str = Field(
        min_length=1,
        max_length=150,
        pattern=USERNAME_PATTERN,
        description="taken if another differs only in case",
    )
    password: str = Field(min_length=12, max_length=1024)
    role: Role


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    active: bool
    created_at: datetime


class Problem(BaseModel):
    """One problem in an uploaded file, located as the user finds it in Excel (header = row 1)."""

    file: str
    row: int | None
    field: str | None
    message: str


class ValidationReport(BaseModel):
    detail: str
    problems: list[Problem]


class CaseloadOut(BaseModel):
    id: int
    children: int
    settings: int
    tariffs: int
    year_start: date
    uploaded_by: str
    created_at: datetime


class RunCreate(RequestModel):
    caseload_id: RowId
    primary_limit_minutes: float = Field(45.0, gt=0, le=300)
    secondary_limit_minutes: float = Field(75.0, gt=0, le=300)
    la_code: Annotated[str, AfterValidator(printable_id)] | None = Field(
        None, max_length=10, description="home LA for children whose record has none"
    )


class RunOut(BaseModel):
    id: int
    kind: RunKind
    status: RunStatus
    progress: float = Field(default=0.0, ge=0, le=1, description="fraction of the run's work done")
    stage: str | None = Field(default=None, description="what the run is doing now, in plain words")
    cancel_requested: bool = Field(
        default=False, description="a cancel was asked for; the run stops at its next check"
    )
    caseload_id: int | None = Field(
        description="the caseload the run works on; for a forecast, the caseload whose places "
        "it is set against, or null"
    )
    started_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: dict[str, Any] | None = Field(
        None,
        description="LA-wide figures once done: the placement summary for a placement run, "
        "the shapes of GET /runs/{id}/fair-access, GET /runs/{id}/comparison and "
        "GET /runs/{id}/forecast for the others",
    )
    error: str | None = Field(
        description="why the run failed, for every role that may read the run: a first line, "
        "then one line per problem (file, row, field: reason, the first 20 and a count of the "
        "rest) that never quotes an input value, or, for a fault, its type and the run's id"
    )


class ChildPlacementOut(BaseModel):
    """One child's proposed placement and the plain-English reason for it."""

    run_id: int
    child_id: str
    setting_urn: str | None
    setting_name: str | None
    placement_kind: str | None
    provision: str | None
    preference_rank: int | None
    travel_minutes: float | None
    placement_cost: int
    transport_cost: int
    out_of_area: bool
    reason: str
    tailored_list: TailoredListOut | None = Field(
        default=None, description="the options a family is offered, with exclusions and reasons"
    )


class Point(BaseModel):
    """A place on the map, WGS84 degrees (the web page's map and any GIS tool read these)."""

    lat: float
    lon: float


class ChildSummaryOut(BaseModel):
    """One row of a run's child list: enough to pick a child, no more (the read is not audited;
    opening the child's record is)."""

    child_id: str
    setting_urn: str | None
    setting_name: str | None
    placement_kind: str | None
    preference_rank: int | None
    travel_minutes: float | None


class MarginalCostOut(BaseModel):
    """What naming an option would do to the LA-wide optimal plan
    (``matcher.system_prices.MarginalCost``); all zero for the plan's own choice."""

    children_unplaced: int
    preferences_unmet: int = Field(
        default=0,
        description="net change in children with none of their parents' preferences met",
    )
    preference_ranks: int = Field(description="net preference ranks lost across all children")
    minutes: float = Field(description="total one-way journey minutes across the LA")
    pounds: int = Field(description="a year, placements plus transport")


class ListedOptionOut(BaseModel):
    """A setting on the child's tailored list (``matcher.tailored.ListedOption``)."""

    urn: str
    name: str
    setting_type: str
    placement_kind: str
    provision: str | None
    needs_matched: list[str]
    minutes: float
    places_left: int
    placement_cost: int
    transport_cost: int
    preference_rank: int | None
    proposed: bool
    marginal_text: str = Field(description="what naming it would cost the LA-wide plan")
    marginal: MarginalCostOut | None = Field(
        default=None, description="the same in figures; null when no place can be made there"
    )
    why_listed: str
    location: Point | None


class ExcludedSettingOut(BaseModel):
    urn: str
    name: str
    setting_type: str
    minutes: float | None
    preference_rank: int | None
    reasons: list[str]
    location: Point | None


class PreferenceOut(BaseModel):
    rank: int
    urn: str
    name: str
    met: bool
    ground: str = Field(description="the s.39 Children and Families Act 2014 ground, or 'named'")
    evidence: str


class ReasonCount(BaseModel):
    reason: str
    count: int


class TailoredListOut(BaseModel):
    home: Point | None = Field(default=None, description="the child's home, for the map only")
    options: list[ListedOptionOut]
    excluded: list[ExcludedSettingOut]
    preferences: list[PreferenceOut]
    excluded_not_shown: int
    excluded_not_shown_reasons: list[ReasonCount]


class LineString(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[tuple[float, float]] = Field(description="[longitude, latitude] pairs")


class RoadProperties(BaseModel):
    seconds: float = Field(description="travel time along the road, one way, seconds")
    kmh: float = Field(description="the speed the travel-time model assumes on it")


class RoadFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: LineString
    properties: RoadProperties


class RoadsOut(BaseModel):
    """Roads in a box as a GeoJSON FeatureCollection (RFC 7946, WGS84), fastest roads first."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[RoadFeature]
    total: int = Field(description="roads in the box; more than returned when truncated")
    truncated: bool = Field(description="only the fastest roads were returned: zoom in for all")
    source: str = Field(description="the road network's source, e.g. the OpenStreetMap extract")


class DecisionCreate(RequestModel):
    child_id: ChildId
    outcome: DecisionOutcome | None = Field(
        None,
        description="agree (the proposed setting; setting_urn may be left out), name_other "
        "(setting_urn required, not the proposed one), defer or refuse (no setting_urn); "
        "left out, the decision is recorded as before outcomes existed (outcome null)",
    )
    setting_urn: Annotated[str, AfterValidator(printable_id)] | None = Field(
        None, max_length=20, description="the setting named; null records a decision to name none"
    )
    reasons: str = Field(min_length=1, max_length=20_000)


class DecisionOut(BaseModel):
    id: int
    run_id: int
    child_id: str
    outcome: DecisionOutcome | None = Field(
        description="null for a decision recorded without an outcome (before outcomes existed)"
    )
    setting_urn: str | None
    reasons: str
    decided_by: str
    created_at: datetime


class ChildReadOut(BaseModel):
    id: int
    username: str
    run_id: int
    child_id: str
    at: datetime


# --------------------------------------------------------------------------------------------
# Fair access and scenario comparison runs (api.routes_planning)


class FairAccessOptionOut(BaseModel):
    """Another school within reach, ranked by the load it would reach (``SchoolOption``)."""

    rank: int
    urn: str
    name: str
    minutes: float
    load_before: float = Field(description="the school's load without this child, per mille")
    load_after: float = Field(description="the school's load with this child, per mille")
    places_left: int | None = Field(description="room under its cap this round; null: no cap")
    note: str = Field(description="why it was not proposed, in plain words")
    location: Point | None


class FairAccessExcludedOut(BaseModel):
    """A school the child cannot be placed at, with every reason (``ExcludedSchool``)."""

    urn: str
    name: str
    minutes: float | None
    reasons: list[str]
    location: Point | None


class FairAccessChildOut(BaseModel):
    """One child's balanced fair access options, each explained (``ChildAllocation``)."""

    run_id: int
    child_id: str
    school_urn: str | None = Field(description="the proposed school; null when unplaced")
    school_name: str | None
    travel_minutes: float | None
    preference_rank: int | None = Field(
        default=None, description="1: the parents' first preference; null: not one of theirs"
    )
    load_before: float | None = Field(description="the proposed school's load without the child")
    load_after: float | None = Field(description="the proposed school's load with the child")
    reason: str
    alternatives: list[FairAccessOptionOut]
    excluded: list[FairAccessExcludedOut]
    schools_beyond_reach: int = Field(description="mainstream schools with no travel time")
    home: Point | None = Field(default=None, description="the child's home, for the map only")


class SchoolLoadOut(BaseModel):
    """A mainstream school's share of fair access, per mille of its size (``SchoolLoad``)."""

    urn: str
    name: str
    size: int
    history: int = Field(description="fair access placements in the last 12 months")
    cap: int | None = Field(description="most it may take this round; null: no cap")
    new: int = Field(description="children proposed to it in this round")
    load_before: float | None
    load_after: float | None


class SolverLevelOut(BaseModel):
    """One lexicographic level of the CP-SAT solve and its proven bound."""

    name: str
    status: str
    objective: int
    best_bound: int
    gap: float


class FairAccessSummaryOut(BaseModel):
    """LA-wide figures of a fair access run: no child's record, so every role may read it."""

    children: int
    placed: int
    unplaced: int
    with_preferences: int = Field(default=0, description="children whose parents named schools")
    any_preference_met: int = Field(
        default=0, description="children with a parental preference met"
    )
    first_preference_met: int = 0
    status: str = Field(description="OPTIMAL when every level is proven optimal, else FEASIBLE")
    max_load: float = Field(description="highest load after the round, per mille of school size")
    total_minutes: float
    load_scale: int
    travel_model: str
    notes: list[str]
    levels: list[SolverLevelOut]
    schools: list[SchoolLoadOut]


class ScenarioFiguresOut(BaseModel):
    """One column of the comparison (or its change against the base), rounded as the CLI's
    Comparison sheet: minutes to 0.1, pounds to whole pounds a year."""

    children: int
    placed: int
    unplaced: int
    with_preferences: int
    first_preference_met: int
    any_preference_met: int
    mean_minutes: float | None
    p90_minutes: float | None
    over_phase_limit: int = Field(description="journeys over the phase travel limit")
    out_of_area: int
    independent: int
    placement_cost: int
    transport_cost: int
    total_cost: int
    cost_per_placed: int | None


class NeedCountOut(BaseModel):
    need: str
    description: str
    count: int


class ScenarioColumnOut(BaseModel):
    """The base or one scenario, side by side with the others."""

    name: str
    description: str | None
    base: bool
    travel_model: str
    figures: ScenarioFiguresOut
    change: ScenarioFiguresOut | None = Field(description="scenario minus base; null for the base")
    unplaced_by_need: list[NeedCountOut]
    unplaced_by_need_change: list[NeedCountOut] | None


class MetricOut(BaseModel):
    """A row of the side-by-side table: its key in ``ScenarioFiguresOut``, label and unit."""

    key: str
    label: str
    unit: Literal["count", "minutes", "pounds"]


class NewSiteOut(BaseModel):
    """A setting a scenario adds, for the web page's map and its site picker."""

    scenario: str
    urn: str
    name: str
    setting_type: str
    lat: float
    lon: float
    total_places: int
    designated_needs: list[str]
    children_placed: int = Field(description="children the scenario places there")


class ComparisonOut(BaseModel):
    """A scenario comparison: LA-wide figures only, base first, then each scenario."""

    metrics: list[MetricOut]
    scenarios: list[ScenarioColumnOut]
    sites: list[NewSiteOut]


# --------------------------------------------------------------------------------------------
# Demand forecasts: LA-wide counts only, so every role may read them


class ForecastFigureOut(BaseModel):
    """One January's figure (children, or pounds a year for costs) over the simulated futures:
    the mean and the 95% interval that 19 in 20 futures fall in."""

    calendar_year: int = Field(description="the January counted")
    group: str | None = Field(
        description="the need (SEN2 code), the kind of place (or witan.send setting) or the NC "
        "year (-2 is N1, -1 N2, 0 reception, 1 to 20 Year 1 to 20); null for the total"
    )
    mean: float
    median: float
    low_95: float = Field(description="2.5th percentile of the simulated futures")
    high_95: float = Field(description="97.5th percentile of the simulated futures")


class ObservedCountOut(BaseModel):
    calendar_year: int
    children: int = Field(description="children with a plan in the files that January")


class BacktestRowOut(BaseModel):
    """A held-out January projected from an earlier one, against what happened (the columns of
    ``sendmatch forecast backtest``); percentages are null where the truth is 0."""

    held_out_year: int
    horizon: int = Field(description="years ahead")
    base_year: int
    level: Literal["total", "need", "setting"]
    groups: int
    projected: float
    low_95: float
    high_95: float
    truth: int
    error_pct: float | None
    covered: bool = Field(description="the 95% interval holds the truth")
    group_coverage: float = Field(description="share of the groups whose interval holds theirs")
    split_error_pct: float | None = Field(
        description="sum of |projected - truth| over the level's groups, as % of the total"
    )
    trivial_projected: float
    trivial_error_pct: float | None
    trivial_split_error_pct: float | None


class SufficiencyRowOut(BaseModel):
    """Projected demand against places for one year, kind of place, phase and need (``all``
    for every need); places and shortfalls are null for kinds of place not compared."""

    calendar_year: int
    kind_of_place: str
    phase: str
    need: str
    demand_mean: float
    demand_low_95: float
    demand_high_95: float
    places: int | None
    planned_places: int | None
    shared_places: int | None
    shortfall_mean: float | None
    shortfall_low_95: float | None
    shortfall_high_95: float | None
    sentence: str


class ShortfallOut(BaseModel):
    calendar_year: int
    sentence: str


class NeedDemandOut(BaseModel):
    """One need's projected children in the kinds of place compared (every phase together)
    against the places designated for it alone, and the places it shares with other needs;
    ``all`` counts every need against every compared place."""

    calendar_year: int
    need: str
    demand_mean: float
    demand_low_95: float
    demand_high_95: float
    places: int
    shared_places: int


class SufficiencyOut(BaseModel):
    """The forecast against the places of a caseload's settings file."""

    caseload_id: int
    shortfalls: list[ShortfallOut] = Field(
        description="each year's biggest shortfalls in words, biggest first, at most 5 a year"
    )
    rows: list[SufficiencyRowOut]
    by_need: list[NeedDemandOut] = Field(description="what the chart of demand by need draws")


class ForecastOut(BaseModel):
    """A demand forecast: ``sendmatch forecast``'s tables, its back-test and, when a caseload
    was named, its sufficiency table. The first January is the last one observed."""

    source: str = Field(description="what the forecast was made from")
    base_year: int = Field(description="the last January in the files, where projections start")
    years: list[int] = Field(description="the Januaries in the tables")
    simulations: int
    seed: int
    observed: list[ObservedCountOut]
    total: list[ForecastFigureOut]
    by_need: list[ForecastFigureOut]
    by_setting: list[ForecastFigureOut]
    by_nc_year: list[ForecastFigureOut]
    cost: list[ForecastFigureOut] | None = Field(description="pounds a year; null without costs")
    backtest: list[BacktestRowOut]
    backtest_note: str | None = Field(description="why there is no back-test, if there is none")
    sufficiency: SufficiencyOut | None
    notes: list[str] = Field(description="warnings, e.g. children in groups the costs miss")
    assumptions: list[str] = Field(
        default_factory=list,
        description="the assumptions file the forecast applied, a line each as the command "
        "line's Inputs sheet says it; empty without one",
    )
