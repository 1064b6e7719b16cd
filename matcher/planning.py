"""Capacity-planning scenarios: "what happens if we open, expand, close or grow?".

A capacity planner asks questions such as "if we open a 120-place ASD/SEMH special free school
at site X in 2027, what happens?". A :class:`Scenario` is a named list of edits to the round's
inputs (new settings, changed places, closures, new resourced provisions, demand growth);
:func:`apply_scenario` turns the base inputs into the scenario's inputs without touching the
base, and :func:`compare_scenarios` re-solves the base and every scenario with the same
:func:`matcher.placement.place`, so that differences come from the edits alone and never from a
different solver or objective.

Scenario files are JSON, or YAML where PyYAML is installed; every problem in a file is
reported at once with the path to the field (``edits[2].total_places``), like the input files'
:class:`matcher.io.InputError`.

A scenario may also name a forecast's year as its demand (``demand: forecast.xlsx#2029``): its
children are then that January's projected caseload
(:func:`matcher.forecast.projected_caseload.projected_caseload`), living where today's children
with the same need live, instead of today's children; see :class:`Scenario`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geodata.postcodes import PostcodeError, PostcodeFile, PostcodeFileError, normalise_postcode
from matcher.file_problems import (
    FieldProblem,
    FieldProblems,
    at_field,
    field_path,
    plain_message,
)
from matcher.io import Cell, Table
from matcher.models import (
    Child,
    Location,
    NcYear,
    Places,
    Pounds,
    Provision,
    ProvisionKind,
    Requirement,
    Setting,
    SettingType,
    SexAdmitted,
)
from matcher.needs import NEED_DESCRIPTIONS, PrimaryNeed
from matcher.placement import PlacementConfig, PlacementResult, place
from matcher.site_choice import polygon_centroid
from matcher.travel import TravelTimeMatrix

if TYPE_CHECKING:
    from matcher.forecast.types import Projection

# National growth in EHC plans, January 2024 → January 2025: 576,474 → 638,745 plans, +10.8%
# (DfE, "Education, health and care plans", England 2025; see DOMAIN.md, "~10% a year"). The
# default for ``demand_growth`` when a scenario gives no local rate; an LA's own SEN2 trend is
# better where known.
NATIONAL_EHCP_GROWTH_RATE = 0.108

# Synthetic children from demand growth live near a real child's home, not on top of it, so
# that a new site's catchment is not an artefact of duplicated points. 0.5 km keeps them in
# the same neighbourhood (and the same travel-time band) as the child they are copied from.
DEFAULT_JITTER_KM = 0.5
_KM_PER_DEGREE_LATITUDE = 111.2

# Demand growth may at most multiply a need's caseload by this, over all of a scenario's
# ``demand_growth`` edits together: ``(1 + rate) ** years`` ≤ 10. Ten times today's caseload is
# far beyond any planning horizon (a decade at the national ~11% a year is 2.8 times), and
# every generated child costs memory and solver time, so a slip such as ``rate: 1, years: 20``
# (a million-fold) is a scenario problem, not a server brought down.
MAX_GROWTH_FACTOR = 10.0

GROWTH_ID_PREFIX = "GROWTH"
NEW_URN_PREFIX = "NEW"
BASE_NAME = "Base"


# --------------------------------------------------------------------------------------------
# Errors


class ScenarioProblem(FieldProblem):
    """One thing wrong with a scenario, located by file and the path to the field."""


class ScenarioError(FieldProblems[ScenarioProblem]):
    """Raised with every problem found, so a planner fixes a scenario file in one pass."""


# --------------------------------------------------------------------------------------------
# The scenario model


class _Edit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Errors about ``site`` are raised in a model validator, which pydantic locates at the edit;
# this prefix moves them to ``edits[i].site`` (see :func:`_problem`).
SITE_FIELD = "site: "


def _postcode_point(postcode: str, postcodes: PostcodeFile | None) -> tuple[float, float]:
    """(lat, lon) of a site given by postcode, or a ValueError saying what to do."""
    try:
        key = normalise_postcode(postcode)
    except PostcodeError as err:
        raise ValueError(f"{SITE_FIELD}{err}, nor a GeoJSON Polygon") from None
    if postcodes is None:
        raise ValueError(
            f"{SITE_FIELD}{key} is a postcode, and no postcode file was given: pass "
            "--postcodes FILE (the ONS Postcode Directory CSV or Code-Point Open), or give "
            "location coordinates"
        )
    try:
        point = postcodes.locate(key)
    except (PostcodeError, PostcodeFileError) as err:
        raise ValueError(f"{SITE_FIELD}{err}") from None
    return point.latitude, point.longitude


class NewSetting(_Edit):
    """A new setting, e.g. a special free school. ``urn`` None gets ``NEW-<n>``.

    ``opening_year`` is informational: a scenario models the round as if the setting were open.
    Without ``la_code`` the setting counts as in area for every child (an LA plans its own).
    """

    kind: Literal["new_setting"] = "new_setting"
    urn: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    name: Annotated[str, Field(min_length=1)]
    setting_type: SettingType = SettingType.SPECIAL
    la_code: str | None = None
    location: Location
    low_age: Annotated[int, Field(ge=0, le=25)]
    high_age: Annotated[int, Field(ge=1, le=26)]
    sex_admitted: SexAdmitted = SexAdmitted.MIXED
    designated_needs: frozenset[PrimaryNeed] = frozenset()
    facilities: frozenset[Requirement] = frozenset()
    total_places: Places
    year_places: dict[NcYear, Places] = Field(default_factory=dict)
    opening_year: Annotated[int, Field(ge=2000, le=2100)] | None = None
    annual_fee: Pounds | None = None
    top_up: Pounds | None = None

    @model_validator(mode="before")
    @classmethod
    def _site(cls, data: Any, info: ValidationInfo) -> Any:
        """A site may be given as ``site``: a GeoJSON Polygon (a plot from the estates team),
        placed at its centroid, or a UK postcode, placed at the point the postcode file the
        caller passed gives it (``context["postcodes"]``, a :class:`PostcodeFile`). Travel times
        then snap that point to the road network."""
        if not isinstance(data, dict) or "site" not in data:
            return data
        if "location" in data:
            raise ValueError("give either location or site, not both")
        site = data["site"]
        if isinstance(site, str):
            lat, lon = _postcode_point(site, (info.context or {}).get("postcodes"))
        elif isinstance(site, dict) and site.get("type") in {"Polygon", "MultiPolygon"}:
            try:
                lon, lat = polygon_centroid(site)
            except (ValueError, TypeError, KeyError, IndexError) as err:
                raise ValueError(f"{SITE_FIELD}not a usable polygon ({err})") from None
        else:
            raise ValueError(f"{SITE_FIELD}must be a UK postcode or a GeoJSON Polygon")
        rest = {k: v for k, v in data.items() if k != "site"}
        return {**rest, "location": {"latitude": lat, "longitude": lon}}

    @model_validator(mode="after")
    def _valid_setting(self) -> Self:
        # The setting's own rules (age range, fee for independents) checked here, so that the
        # error names this edit rather than surfacing later from apply_scenario.
        try:
            self.to_setting(self.urn or f"{NEW_URN_PREFIX}-0")
        except ValidationError as err:
            raise ValueError("; ".join(plain_message(e) for e in err.errors())) from None
        return self

    def to_setting(self, urn: str) -> Setting:
        data = self.model_dump(exclude={"kind", "urn", "opening_year"})
        return Setting.model_validate({**data, "urn": urn, "on_roll": 0})


class ChangePlaces(_Edit):
    """Expand or reduce an existing setting's places; given year groups replace the old ones."""

    kind: Literal["change_places"] = "change_places"
    urn: Annotated[str, Field(min_length=1)]
    total_places: Places | None = None
    year_places: dict[NcYear, Places] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.total_places is None and self.year_places is None:
            raise ValueError("give total_places and/or year_places")
        return self


class Closure(_Edit):
    """Close a setting. Preferences naming it stay on children's records and go unmet."""

    kind: Literal["closure"] = "closure"
    urn: Annotated[str, Field(min_length=1)]


class NewResourcedProvision(_Edit):
    """A resourced provision or SEN unit added to an existing mainstream school.

    ``provision_kind`` rather than ``kind``: ``kind`` names the edit.
    """

    kind: Literal["new_resourced_provision"] = "new_resourced_provision"
    urn: Annotated[str, Field(min_length=1)]
    provision_kind: ProvisionKind = ProvisionKind.RESOURCED_PROVISION
    designated_needs: Annotated[frozenset[PrimaryNeed], Field(min_length=1)]
    places: Places


class DemandGrowth(_Edit):
    """More children with plans: each need's caseload grows by ``(1 + rate) ** years``.

    The extra children are synthetic copies of existing ones (see :func:`grow_demand`): the
    same primary need, NC year and requirements, a home jittered within ``jitter_km``, and no
    parental preferences (nobody has expressed one yet).
    """

    kind: Literal["demand_growth"] = "demand_growth"
    rate: Annotated[float, Field(ge=0, le=1)] = NATIONAL_EHCP_GROWTH_RATE
    years: Annotated[int, Field(ge=1, le=20)] = 1
    need_rates: dict[PrimaryNeed, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    seed: int = 0
    jitter_km: Annotated[float, Field(ge=0, le=5)] = DEFAULT_JITTER_KM

    @field_validator("years")
    @classmethod
    def _bounded_years(cls, years: int, info: ValidationInfo) -> int:
        rate = info.data.get("rate")  # absent if the rate itself was invalid
        if rate is not None:
            _check_growth(rate, years, "rate")
        return years

    @field_validator("need_rates")
    @classmethod
    def _bounded_need_rates(
        cls, rates: dict[PrimaryNeed, float], info: ValidationInfo
    ) -> dict[PrimaryNeed, float]:
        years = info.data.get("years")
        if years is not None and rates:
            need, rate = max(rates.items(), key=lambda item: item[1])
            _check_growth(rate, years, f"the rate for {need.value}")
        return rates

    def rate_for(self, need: PrimaryNeed) -> float:
        return self.need_rates.get(need, self.rate)

    @property
    def growth_factor(self) -> float:
        """The most any need's caseload is multiplied by: ``(1 + rate) ** years``."""
        return (1.0 + max([self.rate, *self.need_rates.values()])) ** self.years


def _check_growth(rate: float, years: int, what: str) -> None:
    factor = (1.0 + rate) ** years
    if factor <= MAX_GROWTH_FACTOR:
        return
    most_years = math.floor(math.log(MAX_GROWTH_FACTOR) / math.log1p(rate))
    raise ValueError(
        f"{what} {rate:g} a year for {years} years would multiply the caseload by "
        f"{factor:,.3g}; sendmatch models growth up to {MAX_GROWTH_FACTOR:g} times the "
        f"caseload, so at {rate:g} a year give at most {most_years} years (or a lower rate)"
    )


Edit = Annotated[
    NewSetting | ChangePlaces | Closure | NewResourcedProvision | DemandGrowth,
    Field(discriminator="kind"),
]
_EDIT_KINDS = frozenset(
    {"new_setting", "change_places", "closure", "new_resourced_provision", "demand_growth"}
)


class Scenario(BaseModel):
    """A named set of edits to a round's inputs, applied in order.

    ``demand`` (``"PATH#YEAR"``, e.g. ``forecast.xlsx#2029``) makes the scenario's children
    the caseload projected for January of YEAR by the forecast at PATH (its spreadsheet, its
    ``_simulations.npz`` or its ``--out`` folder; relative to the scenario file's folder), in
    place of today's children, whose homes the projected children borrow
    (:func:`matcher.forecast.projected_caseload.projected_caseload`). By default the
    caseload is the mean of the simulated futures rounded to whole children;
    ``demand_simulation`` picks one future instead (0 to simulations - 1), and ``demand_seed``
    seeds which homes are borrowed. A ``demand_growth`` edit cannot go with ``demand``: the
    forecast already grows demand.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    demand: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    demand_simulation: Annotated[int, Field(ge=0)] | None = None
    demand_seed: int = 0
    edits: tuple[Edit, ...] = ()

    @field_validator("demand")
    @classmethod
    def _demand_is_path_and_year(cls, demand: str | None) -> str | None:
        if demand is not None:
            demand_spec(demand)
        return demand

    @model_validator(mode="after")
    def _demand_replaces_growth(self) -> Self:
        if self.demand is None:
            if self.demand_simulation is not None:
                raise ValueError(
                    "@demand_simulation: goes with demand (a forecast's year, e.g. "
                    "forecast.xlsx#2029); without demand the scenario places today's children"
                )
            return self
        for i, edit in enumerate(self.edits):
            if isinstance(edit, DemandGrowth):
                raise ValueError(
                    f"@edits[{i}]: a scenario with demand takes its children from the "
                    "forecast, which already grows demand: remove this demand_growth edit, or "
                    "remove demand to grow today's caseload instead"
                )
        return self

    @field_validator("edits")
    @classmethod
    def _bounded_total_growth(cls, edits: tuple[Edit, ...]) -> tuple[Edit, ...]:
        # Growth edits compound (each copies the children as they stand), so the bound on
        # generated children holds for their product, not only for each edit.
        factor = math.prod(e.growth_factor for e in edits if isinstance(e, DemandGrowth))
        if factor > MAX_GROWTH_FACTOR:
            raise ValueError(
                f"the demand_growth edits together would multiply the caseload by "
                f"{factor:,.3g}; sendmatch models growth up to {MAX_GROWTH_FACTOR:g} times the "
                "caseload: lower their rates or years"
            )
        return edits


# --------------------------------------------------------------------------------------------
# Reading scenario files


def _problem(source: str, err: Mapping[str, Any]) -> ScenarioProblem:
    # Errors that a model validator finds in one field are located at the model, not the
    # field: a message "site: ..." or "@edits[2]: ..." is moved to that field.
    path, message = field_path(err["loc"], _EDIT_KINDS), plain_message(err)
    if message.startswith(SITE_FIELD):
        path, message = f"{path}.site" if path else "site", message.removeprefix(SITE_FIELD)
    return ScenarioProblem(source, *at_field(path, message))


def parse_scenario(
    data: object, source: str = "<scenario>", postcodes: PostcodeFile | None = None
) -> Scenario:
    """Validate parsed data (a mapping) as a :class:`Scenario`; :class:`ScenarioError` if bad.

    ``postcodes`` places new settings whose ``site`` is a postcode; without it such a site is
    an error that says to pass a postcode file.
    """
    try:
        return Scenario.model_validate(data, context={"postcodes": postcodes})
    except ValidationError as err:
        raise ScenarioError([_problem(source, e) for e in err.errors()]) from None


def scenario_postcodes(data: object) -> set[str]:
    """The postcodes a parsed scenario uses as sites (as written), so that a postcode file is
    read once for every scenario of a run (:meth:`PostcodeFile.prefetch`)."""
    edits = data.get("edits") if isinstance(data, dict) else None
    if not isinstance(edits, list):
        return set()
    return {e["site"] for e in edits if isinstance(e, dict) and isinstance(e.get("site"), str)}


def load_scenario(
    path: Path | str, postcodes: PostcodeFile | None = None, *, read_forecasts: bool = False
) -> Scenario:
    """Read and validate a scenario file: ``.json``, ``.yaml`` or ``.yml``."""
    return load_scenarios([path], postcodes, read_forecasts=read_forecasts)[0]


def load_scenarios(
    paths: Sequence[Path | str],
    postcodes: PostcodeFile | None = None,
    *,
    read_forecasts: bool = False,
) -> list[Scenario]:
    """Read and validate scenario files, reporting every problem of every file at once.

    Sites given by postcode are looked up in one pass over ``postcodes`` for all the files.

    A scenario's ``demand`` names a file on this machine, so it is read only where the caller
    says the scenario files are the user's own (``read_forecasts``, the command line): a
    server reading uploaded scenarios must not open paths they name. With it, the forecast's
    path is made relative to the scenario file's folder and the forecast is checked now (the
    file, the year, the simulation), before any solving; without it, ``demand`` is a problem.
    """
    raw: list[tuple[str, object]] = []
    problems: list[ScenarioProblem] = []
    for path in paths:
        try:
            raw.append((Path(path).name, _read_scenario_data(Path(path))))
        except ScenarioError as err:
            problems.extend(err.problems)
    if postcodes is not None:
        wanted = set().union(*(scenario_postcodes(data) for _, data in raw))
        try:
            postcodes.prefetch(wanted)
        except PostcodeFileError as err:
            problems.extend(ScenarioProblem("--postcodes", None, p) for p in err.problems)
            raise ScenarioError(problems) from None
    loaded = []
    folders = {Path(path).name: Path(path).parent for path in paths}
    for source, data in raw:
        try:
            scenario = parse_scenario(data, source, postcodes)
        except ScenarioError as err:
            problems.extend(err.problems)
            continue
        if scenario.demand is not None:
            if not read_forecasts:
                problems.append(ScenarioProblem(source, "demand", _FORECASTS_NOT_READ))
                continue
            scenario = _demand_beside(scenario, folders[source])
            problems.extend(_demand_problems(scenario, source))
        loaded.append(scenario)
    if problems:
        raise ScenarioError(problems)
    return loaded


def _read_scenario_data(path: Path) -> object:
    """A scenario file's parsed mapping, before validation."""
    source = path.name
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError([ScenarioProblem(source, None, f"cannot read: {err}")]) from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            message = f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
            raise ScenarioError([ScenarioProblem(source, None, message)]) from None
    elif suffix in {".yaml", ".yml"}:
        data = _load_yaml(text, source)
    else:
        message = f"unknown scenario file type {suffix!r}: use .json, .yaml or .yml"
        raise ScenarioError([ScenarioProblem(source, None, message)])
    if not isinstance(data, dict):
        message = "a scenario file must hold a mapping with name, description and edits"
        raise ScenarioError([ScenarioProblem(source, None, message)])
    return data


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError([ScenarioProblem(source, None, f"not valid YAML: {err}")]) from None


# --------------------------------------------------------------------------------------------
# A forecast's year as a scenario's demand

_FORECASTS_NOT_READ = (
    "a forecast named in a scenario is read on the command line only (sendmatch scenario "
    "compare): remove demand here"
)
_DEMAND_FORM = "give the forecast and the January to place as PATH#YEAR, e.g. forecast.xlsx#2029"


def demand_spec(demand: str) -> tuple[Path, int]:
    """A scenario's ``demand`` (``"PATH#YEAR"``) as the forecast's path and the year; a
    ValueError in words for a planner if it is not that."""
    path, hash_sign, year = demand.strip().rpartition("#")
    if not hash_sign or not path.strip():
        msg = f"{demand!r}: {_DEMAND_FORM}"
        raise ValueError(msg)
    if not re.fullmatch(r"\d{4}", year.strip()) or not 2000 <= int(year) <= 2100:
        msg = f"{year!r} is not a year: {_DEMAND_FORM}"
        raise ValueError(msg)
    return Path(path.strip()), int(year)


def _demand_beside(scenario: Scenario, folder: Path) -> Scenario:
    """The scenario with its forecast's path made relative to the scenario file's folder."""
    assert scenario.demand is not None
    path, year = demand_spec(scenario.demand)
    return scenario.model_copy(update={"demand": f"{folder / path}#{year}"})


def _demand_problems(scenario: Scenario, source: str) -> list[ScenarioProblem]:
    """What stops a scenario's forecast giving a caseload, found before any solving."""
    from matcher.forecast.projected_caseload import projected_counts
    from matcher.forecast.sufficiency import kinds_of_place_problem

    assert scenario.demand is not None
    path, year = demand_spec(scenario.demand)
    try:
        projection = demand_projection(path, source)
    except ScenarioError as err:
        return err.problems
    problem = kinds_of_place_problem(projection)
    if problem is not None:
        return [ScenarioProblem(source, "demand", _placed_needs(problem))]
    if year not in projection.years:
        return [ScenarioProblem(source, "demand", _year_outside(year, projection))]
    try:
        projected_counts(projection, year, simulation=scenario.demand_simulation)
    except ValueError as err:
        return [ScenarioProblem(source, "demand_simulation", str(err))]
    return []


def _placed_needs(problem: str) -> str:
    return (
        f"{problem}; a scenario's demand needs a forecast made from --history, whose settings "
        "are kinds of place and needs SEN2 codes"
    )


def _year_outside(year: int, projection: Projection) -> str:
    return (
        f"{year} is not a year of this forecast: it runs from {projection.years[0]} to "
        f"{projection.years[-1]}"
    )


def demand_projection(path: Path | str, source: str) -> Projection:
    """The forecast a scenario names, read once however often its scenario is applied (until
    the file changes); :class:`ScenarioError` at ``demand`` if it cannot be read."""
    from matcher.forecast.outputs import projection_file, read_projection
    from matcher.io import InputError

    file = projection_file(path)
    try:
        if file.is_file():
            stat = file.stat()
            return _read_projection_once(str(file.resolve()), stat.st_mtime_ns, stat.st_size)
        return read_projection(path)  # which says which file is missing
    except InputError as err:
        raise ScenarioError(
            [ScenarioProblem(source, "demand", str(p)) for p in err.problems]
        ) from None


@functools.lru_cache(maxsize=2)
def _read_projection_once(path: str, mtime_ns: int, size: int) -> Projection:
    from matcher.forecast.outputs import read_projection

    projection = read_projection(path)
    projection.counts.setflags(write=False)  # shared by every caller: nobody may change it
    return projection


def forecast_demand(demand: str, source: str = "--demand") -> Scenario:
    """A scenario of no edits whose children are a forecast's year (``sendmatch sites choose
    --demand forecast.xlsx#2029``), checked as a scenario file's ``demand`` is, with the path
    relative to the working folder. :class:`ScenarioError` located at ``source``."""
    try:
        scenario = parse_scenario({"name": "demand", "demand": demand}, source)
        problems = _demand_problems(scenario, source)
    except ScenarioError as err:
        problems = err.problems
    if problems:
        raise ScenarioError([replace(p, field=None) for p in problems])
    return scenario


def demand_caseload(
    scenario: Scenario, children: Sequence[Child], source: str | None = None
) -> list[Child]:
    """The children of a scenario with ``demand``: its forecast's projected caseload for the
    year, living where ``children`` (today's) live. :class:`ScenarioError` at ``demand`` if
    the forecast cannot give one."""
    from matcher.forecast.projected_caseload import projected_caseload
    from matcher.forecast.sufficiency import kinds_of_place_problem

    if scenario.demand is None:
        return list(children)
    file = source or f"scenario {scenario.name!r}"
    path, year = demand_spec(scenario.demand)
    projection = demand_projection(path, file)
    problem = kinds_of_place_problem(projection)
    if problem is not None:
        raise ScenarioError([ScenarioProblem(file, "demand", _placed_needs(problem))])
    try:
        return projected_caseload(
            projection,
            year,
            children,
            simulation=scenario.demand_simulation,
            seed=scenario.demand_seed,
        )
    except ValueError as err:
        field = "demand_simulation" if str(err).startswith("simulation ") else "demand"
        raise ScenarioError([ScenarioProblem(file, field, str(err))]) from None


# --------------------------------------------------------------------------------------------
# Applying a scenario


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def growth_count(n: int, rate: float, years: int) -> int:
    """Extra children for a caseload of ``n`` after ``years`` at ``rate`` a year (compound)."""
    return _round_half_up(n * ((1.0 + rate) ** years - 1.0))


def grow_demand(
    children: Sequence[Child], growth: DemandGrowth, id_prefix: str = GROWTH_ID_PREFIX
) -> list[Child]:
    """The synthetic children ``growth`` adds, deterministic for a given ``seed``.

    Per primary need, ``growth_count`` copies are made by walking a seeded shuffle of that
    need's children (so copies spread over the caseload before any child is copied twice).
    Each copy keeps need, secondary needs, NC year, sex, requirements, suitable kinds, top-up
    band and home LA, gets a fresh id ``<prefix>-<n>`` and a home moved uniformly within
    ``jitter_km``, and has no preferences, current setting or sibling group: they describe a
    real family, not a projected one.
    """
    rng = np.random.default_rng(growth.seed)
    taken = {c.child_id for c in children}
    by_need: dict[PrimaryNeed, list[Child]] = {}
    for c in children:
        by_need.setdefault(c.primary_need, []).append(c)
    added: list[Child] = []
    serial = 0
    for need in sorted(by_need):
        group = by_need[need]
        extra = growth_count(len(group), growth.rate_for(need), growth.years)
        order = rng.permutation(len(group))
        for k in range(extra):
            source = group[int(order[k % len(group)])]
            serial += 1
            while f"{id_prefix}-{serial}" in taken:
                serial += 1
            new_id = f"{id_prefix}-{serial}"
            taken.add(new_id)
            added.append(
                source.model_copy(
                    update={
                        "child_id": new_id,
                        "home": _jitter(source.home, growth.jitter_km, rng),
                        "preferences": (),
                        "current_setting": None,
                        "sibling_group": None,
                    }
                )
            )
    return added


def _jitter(home: Location, radius_km: float, rng: np.random.Generator) -> Location:
    distance = radius_km * math.sqrt(float(rng.random()))
    bearing = 2 * math.pi * float(rng.random())
    dlat = distance * math.cos(bearing) / _KM_PER_DEGREE_LATITUDE
    cos_lat = max(math.cos(math.radians(home.latitude)), 1e-6)
    dlon = distance * math.sin(bearing) / (_KM_PER_DEGREE_LATITUDE * cos_lat)
    return Location(
        latitude=min(max(home.latitude + dlat, -90.0), 90.0),
        longitude=min(max(home.longitude + dlon, -180.0), 180.0),
    )


def apply_scenario(
    children: Sequence[Child],
    settings: Sequence[Setting],
    scenario: Scenario,
    source: str | None = None,
) -> tuple[list[Child], list[Setting]]:
    """The scenario's children and settings; the inputs are not changed (models are frozen).

    With ``demand``, the children are the forecast's projected caseload for its year
    (:func:`demand_caseload`), today's children lending their homes only. Edits apply in
    order, so ``closure`` then ``change_places`` on the same URN is an error, and
    ``demand_growth`` copies the children as they stand (two growth edits compound). Every
    reference problem (unknown URN, a provision on a non-mainstream school, a duplicate URN on
    a new setting) is collected and raised together as :class:`ScenarioError`. New settings go
    after the existing ones in input order; closed settings are removed.
    """
    file = source or f"scenario {scenario.name!r}"
    problems: list[ScenarioProblem] = []
    try:
        kids = demand_caseload(scenario, children, file)
    except ScenarioError as err:
        problems.extend(err.problems)
        kids = []
    by_urn: dict[str, Setting] = {s.urn: s for s in settings}
    closed: set[str] = set()
    new_serial = 0

    def problem(i: int, field: str | None, message: str) -> None:
        path = f"edits[{i}]" + (f".{field}" if field else "")
        problems.append(ScenarioProblem(file, path, message))

    def existing(i: int, urn: str) -> Setting | None:
        if urn in by_urn:
            return by_urn[urn]
        why = "closed by an earlier edit" if urn in closed else "no setting has this URN"
        problem(i, "urn", f"unknown URN {urn!r}: {why}")
        return None

    def revalidate(i: int, s: Setting, update: dict[str, Any]) -> Setting | None:
        try:
            return Setting.model_validate({**s.model_dump(), **update})
        except ValidationError as err:
            for e in err.errors():
                problem(i, field_path(e["loc"], _EDIT_KINDS), plain_message(e))
            return None

    for i, edit in enumerate(scenario.edits):
        if isinstance(edit, NewSetting):
            if edit.urn is None:
                new_serial += 1
                while f"{NEW_URN_PREFIX}-{new_serial}" in by_urn.keys() | closed:
                    new_serial += 1
                urn = f"{NEW_URN_PREFIX}-{new_serial}"
            else:
                urn = edit.urn
            if urn in by_urn or urn in closed:
                problem(i, "urn", f"duplicate URN {urn!r}: a setting already has it")
                continue
            by_urn[urn] = edit.to_setting(urn)
        elif isinstance(edit, ChangePlaces):
            s = existing(i, edit.urn)
            if s is None:
                continue
            update: dict[str, Any] = {}
            if edit.total_places is not None:
                update["total_places"] = edit.total_places
            if edit.year_places is not None:
                update["year_places"] = {**s.year_places, **edit.year_places}
            changed = revalidate(i, s, update)
            if changed is not None:
                by_urn[s.urn] = changed
        elif isinstance(edit, Closure):
            if existing(i, edit.urn) is not None:
                del by_urn[edit.urn]
                closed.add(edit.urn)
        elif isinstance(edit, NewResourcedProvision):
            s = existing(i, edit.urn)
            if s is None:
                continue
            if s.setting_type is not SettingType.MAINSTREAM:
                problem(
                    i,
                    "urn",
                    f"{edit.urn} is a {s.setting_type.value} setting: resourced provisions and "
                    "SEN units belong to mainstream schools",
                )
                continue
            provision = Provision(
                kind=edit.provision_kind,
                designated_needs=edit.designated_needs,
                places=edit.places,
            )
            changed = revalidate(i, s, {"provisions": (*s.provisions, provision)})
            if changed is not None:
                by_urn[s.urn] = changed
        else:
            kids.extend(grow_demand(kids, edit, f"{GROWTH_ID_PREFIX}{i}"))
    if problems:
        raise ScenarioError(problems)
    return kids, list(by_urn.values())


# --------------------------------------------------------------------------------------------
# Comparing scenarios

TravelFor = Callable[[Sequence[Child], Sequence[Setting]], TravelTimeMatrix]
Unit = Literal["count", "minutes", "pounds"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: Unit


METRICS: tuple[Metric, ...] = (
    Metric("children", "Children", "count"),
    Metric("placed", "Placed", "count"),
    Metric("unplaced", "Unplaced", "count"),
    Metric("with_preferences", "Children with parental preferences", "count"),
    Metric("first_preference_met", "First preference met", "count"),
    Metric("any_preference_met", "Any preference met", "count"),
    Metric("mean_minutes", "Mean travel (minutes)", "minutes"),
    Metric("p90_minutes", "90th percentile travel (minutes)", "minutes"),
    Metric("over_phase_limit", "Journeys over the phase travel limit", "count"),
    Metric("out_of_area", "Out-of-area placements", "count"),
    Metric("independent", "Independent placements", "count"),
    Metric("placement_cost", "Placement cost (£ a year)", "pounds"),
    Metric("transport_cost", "Transport cost (£ a year)", "pounds"),
    Metric("total_cost", "Total cost (£ a year)", "pounds"),
    Metric("cost_per_placed", "Cost per placed child (£ a year)", "pounds"),
)


@dataclass(frozen=True)
class ScenarioMetrics:
    """What a planner compares: places, preferences, journeys and money."""

    children: int
    placed: int
    unplaced: int
    unplaced_by_need: Mapping[PrimaryNeed, int]
    with_preferences: int
    first_preference_met: int
    any_preference_met: int
    mean_minutes: float | None
    p90_minutes: float | None
    over_phase_limit: int
    out_of_area: int
    independent: int
    placement_cost: int
    transport_cost: int
    total_cost: int
    cost_per_placed: float | None

    def value(self, key: str) -> float | int | None:
        value = getattr(self, key)
        if value is not None and not isinstance(value, int | float):
            raise KeyError(f"{key!r} is not a single-figure metric")
        return value


@dataclass(frozen=True)
class ScenarioOutcome:
    name: str
    description: str | None
    metrics: ScenarioMetrics
    result: PlacementResult
    travel_model: str


@dataclass(frozen=True)
class ScenarioComparison:
    base: ScenarioOutcome
    scenarios: tuple[ScenarioOutcome, ...]

    def change(self, outcome: ScenarioOutcome, key: str) -> float | int | None:
        """``outcome`` minus the base for one metric; None where either has no value."""
        a, b = outcome.metrics.value(key), self.base.metrics.value(key)
        if a is None or b is None:
            return None
        return a - b

    def unplaced_change(self, outcome: ScenarioOutcome, need: PrimaryNeed) -> int:
        by_need, base = outcome.metrics.unplaced_by_need, self.base.metrics.unplaced_by_need
        return by_need.get(need, 0) - base.get(need, 0)


def scenario_metrics(
    children: Sequence[Child], result: PlacementResult, config: PlacementConfig
) -> ScenarioMetrics:
    """Metrics of one solved scenario; the phase limit is the eligibility config's."""
    s = result.summary
    by_id = {c.child_id: c for c in children}
    placed = [p for p in result.placements if p.setting_urn is not None]
    minutes = np.array([p.minutes for p in placed if p.minutes is not None], np.float64)
    over = sum(
        1
        for p in placed
        if p.minutes is not None
        and p.minutes > config.eligibility.limit_for(by_id[p.child_id].nc_year)
    )
    unplaced_by_need: dict[PrimaryNeed, int] = {}
    for p in result.placements:
        if p.setting_urn is None:
            need = by_id[p.child_id].primary_need
            unplaced_by_need[need] = unplaced_by_need.get(need, 0) + 1
    total = s.total_placement_cost + s.total_transport_cost
    return ScenarioMetrics(
        children=s.children,
        placed=s.placed,
        unplaced=s.unplaced,
        unplaced_by_need=unplaced_by_need,
        with_preferences=s.with_preferences,
        first_preference_met=s.first_preference_met,
        any_preference_met=s.any_preference_met,
        mean_minutes=float(minutes.mean()) if len(minutes) else None,
        p90_minutes=float(np.percentile(minutes, 90)) if len(minutes) else None,
        over_phase_limit=over,
        out_of_area=s.out_of_area,
        independent=s.independent,
        placement_cost=s.total_placement_cost,
        transport_cost=s.total_transport_cost,
        total_cost=total,
        cost_per_placed=total / s.placed if s.placed else None,
    )


def _stack(
    parts: Sequence[TravelTimeMatrix],
    children: Sequence[Child],
    settings: Sequence[Setting],
    model: str,
) -> TravelTimeMatrix:
    """Disjoint blocks of one matrix, each put in the full row and column order."""
    ids, urns = [c.child_id for c in children], [s.urn for s in settings]
    blocks = [m.reindexed(ids, urns) for m in parts]
    rows = np.concatenate([b.rows for b in blocks]) if blocks else np.empty(0, np.int32)
    cols = np.concatenate([b.cols for b in blocks]) if blocks else np.empty(0, np.int32)
    minutes = np.concatenate([b.minutes for b in blocks]) if blocks else np.empty(0, np.float32)
    order = np.lexsort((cols, rows))
    return TravelTimeMatrix(
        tuple(ids), tuple(urns), rows[order], cols[order], minutes[order], model
    )


def scenario_travel(
    base_children: Sequence[Child],
    base_settings: Sequence[Setting],
    base_travel: TravelTimeMatrix,
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel_for: TravelFor,
) -> TravelTimeMatrix:
    """The scenario's travel matrix, timing only what the base matrix does not already hold.

    Journeys depend only on a home and a site, so pairs of a base child (same home) and a base
    setting (same location) keep their base time; ``travel_for`` times the rest: every child to
    new or moved settings, and new children to the other settings. On an LA-wide road network
    this saves nearly all of the routing a whole recomputation would do.

    Assumes, as both travel-time models here do, that ``travel_for`` gives a pair the same time
    whatever else is in the call, and that it adds the preference pairs it needs from the
    children's records (new children have none; settings new to a scenario get them in the
    settings block).
    """
    old_home = {c.child_id: c.home for c in base_children}
    old_site = {s.urn: s.location for s in base_settings}
    new_children = [c for c in children if old_home.get(c.child_id) != c.home]
    kept_settings = [s for s in settings if old_site.get(s.urn) == s.location]
    new_settings = [s for s in settings if old_site.get(s.urn) != s.location]
    model = base_travel.model
    parts = [base_travel]
    if new_settings and children:
        parts.append(travel_for(children, new_settings))
    if new_children and kept_settings:
        parts.append(travel_for(new_children, kept_settings))
    return _stack(parts, children, settings, model)


def check_scenario_names(scenarios: Sequence[Scenario]) -> None:
    """Names head a comparison's columns: they must be distinct and not the base's."""
    names = [s.name for s in scenarios]
    clashes = sorted({n for n in names if names.count(n) > 1 or n.lower() == BASE_NAME.lower()})
    if clashes:
        raise ScenarioError(
            [
                ScenarioProblem(
                    f"scenario {n!r}", "name", "scenario names must be distinct and not 'Base'"
                )
                for n in clashes
            ]
        )


def compare_scenarios(
    children: Sequence[Child],
    settings: Sequence[Setting],
    scenarios: Sequence[Scenario],
    travel_for: TravelFor,
    config: PlacementConfig | None = None,
    *,
    incremental_travel: bool = True,
    before_solve: Callable[[int, int, str], None] | None = None,
) -> ScenarioComparison:
    """Solve the base and every scenario with :func:`matcher.placement.place` and compare.

    ``travel_for(children, settings)`` makes a travel matrix (pass a road-network function so
    a new site gets road times). With ``incremental_travel`` only pairs the base matrix lacks
    are timed (see :func:`scenario_travel`); False recomputes every scenario's matrix whole.
    Scenario names must be distinct and not ``"Base"``: they head the comparison's columns.
    ``before_solve(k, n, name)`` is called before solve ``k`` of ``n`` (the base is 0): the
    API reports progress there, and may raise to stop between solves when a run is cancelled.
    """
    config = config or PlacementConfig()
    check_scenario_names(scenarios)
    if before_solve is not None:
        before_solve(0, len(scenarios) + 1, BASE_NAME)
    base_travel = travel_for(children, settings)
    base_result = place(children, settings, base_travel, config)
    base = ScenarioOutcome(
        BASE_NAME,
        "the round as it stands, no edits",
        scenario_metrics(children, base_result, config),
        base_result,
        base_travel.model,
    )
    outcomes = []
    for k, scenario in enumerate(scenarios, start=1):
        if before_solve is not None:
            before_solve(k, len(scenarios) + 1, scenario.name)
        kids, sites = apply_scenario(children, settings, scenario)
        if incremental_travel:
            travel = scenario_travel(children, settings, base_travel, kids, sites, travel_for)
        else:
            travel = travel_for(kids, sites)
        result = place(kids, sites, travel, config)
        outcomes.append(
            ScenarioOutcome(
                scenario.name,
                scenario.description,
                scenario_metrics(kids, result, config),
                result,
                travel.model,
            )
        )
    return ScenarioComparison(base, tuple(outcomes))


# --------------------------------------------------------------------------------------------
# Tables for matcher.io.write_tables

COMPARISON_SHEET = "Comparison"
UNPLACED_SHEET = "Unplaced by need"


def _cell(value: float | int | None, unit: Unit) -> Cell:
    if value is None:
        return None
    if unit == "minutes":
        return round(float(value), 1)
    if unit == "pounds":
        return round(value)
    return value


def _change_column(name: str) -> str:
    return f"{name}: change vs base"


def comparison_tables(comparison: ScenarioComparison) -> list[Table]:
    """A "Comparison" sheet (one row per metric; a column per scenario, then one per change
    against the base) and an "Unplaced by need" sheet in the same layout, by primary need."""
    outcomes = (comparison.base, *comparison.scenarios)
    value_columns = [o.name for o in outcomes]
    change_columns = [_change_column(o.name) for o in comparison.scenarios]
    records: list[dict[str, Cell]] = []
    for metric in METRICS:
        record: dict[str, Cell] = {"metric": metric.label, "unit": metric.unit}
        for o in outcomes:
            record[o.name] = _cell(o.metrics.value(metric.key), metric.unit)
        for o in comparison.scenarios:
            record[_change_column(o.name)] = _cell(comparison.change(o, metric.key), metric.unit)
        records.append(record)
    record = {"metric": "Travel-time model", "unit": "text"}
    record.update({o.name: o.travel_model for o in outcomes})
    records.append(record)

    needs = sorted({need for o in outcomes for need in o.metrics.unplaced_by_need})
    need_records: list[dict[str, Cell]] = []
    for need in needs:
        row: dict[str, Cell] = {"need": need.value, "description": NEED_DESCRIPTIONS[need]}
        for o in outcomes:
            row[o.name] = o.metrics.unplaced_by_need.get(need, 0)
        for o in comparison.scenarios:
            row[_change_column(o.name)] = comparison.unplaced_change(o, need)
        need_records.append(row)
    return [
        Table(COMPARISON_SHEET, ["metric", "unit", *value_columns, *change_columns], records),
        Table(
            UNPLACED_SHEET, ["need", "description", *value_columns, *change_columns], need_records
        ),
    ]


__all__ = [
    "BASE_NAME",
    "METRICS",
    "NATIONAL_EHCP_GROWTH_RATE",
    "ChangePlaces",
    "Closure",
    "DemandGrowth",
    "Edit",
    "NewResourcedProvision",
    "NewSetting",
    "Scenario",
    "ScenarioComparison",
    "ScenarioError",
    "ScenarioMetrics",
    "ScenarioOutcome",
    "ScenarioProblem",
    "apply_scenario",
    "compare_scenarios",
    "comparison_tables",
    "demand_caseload",
    "demand_projection",
    "demand_spec",
    "forecast_demand",
    "grow_demand",
    "growth_count",
    "load_scenario",
    "load_scenarios",
    "parse_scenario",
    "scenario_metrics",
    "scenario_postcodes",
    "scenario_travel",
]
