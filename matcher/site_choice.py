"""Where to open new provision: capacitated facility location over the placement network.

A panel planning sufficiency asks "of these candidate sites, which ``k`` should become new
special schools (or resourced provisions) for these needs, with this many places each?". The
answer must be judged the way placements are judged, so this module reuses the placement solver's
eligibility (:func:`matcher.eligibility.build_arcs`), network (year-group, provision and total
capacities) and costs, and adds one binary ``open[site]`` per candidate:

* every candidate becomes a hypothetical setting (designations, places, ages 4-19 by default);
* travel comes from ``travel_for(children, settings + candidates)``, so the caller chooses road
  times (:mod:`geodata.travel_times`) or the straight-line estimate;
* two levels: first the placement flow's three preference levels (children placed, then
  children with a parental preference met, then preference ranks), combined with exact weights
  into one (:func:`matcher.placement.weighted_preference_level`), then total annual £
  (placement + transport). Transport
  is priced from journey minutes by :class:`matcher.costs.TransportCostModel`, so "cost + travel"
  is one figure in pounds; total minutes are reported alongside. (The placement solver's default
  order puts minutes before pounds; here the order is fixed to pounds before minutes, and the
  before/after plans are re-solved with that order so the comparison is like for like.)

Decomposition (CP-SAT and MIP; ``SiteChoiceConfig.restrict_to_reachable``, on by default;
enumeration needs none). Only children with at
least one eligible option at some candidate can be moved by a new site directly. The model
keeps them and every option they have; every other child is fixed where the exact "no new site"
flow put them, and their use of each capacity node is subtracted. This is exact whenever some
optimal plan with the new sites leaves those other children where they were, which holds unless
a new site frees a place at an existing setting that a child *outside* the scope would take
(e.g. a child who could not reach any candidate and was unplaced, or a shorter journey becoming
free). Each chosen set is then re-solved with the exact flow over all children, so reported
totals are exact for that set; only the choice of set can be affected by the fixing, and only
by those freed-place knock-on effects. ``restrict_to_reachable=False`` models every child (exact,
fine to a few thousand children and a few hundred thousand options).

Warm start: every candidate is evaluated alone with the exact flow (a ranking panels also want),
the top ``k`` of that ranking are opened in the hint, and the hint's assignment is the exact
restricted flow for that set, so CP-SAT starts from a good feasible plan and only has to prove or
improve it (and a level that times out still reports that plan).

Solvers (``SiteChoiceConfig.solver``). With the sites fixed the rest is a min-cost flow, so the
hard part is only the choice of sites, and there are few of them:

* ``enumerate``: every allowed set of sites, each solved by the exact lexicographic flow over
  every child (no decomposition); proven optimal for the whole LA by exhaustion. 20 candidates
  and k = 2 are 190 flows.
* ``cp-sat``: one binary per site and per option, ``x ≤ open`` for every option at a candidate
  (the disaggregated linking) as well as each site's capacity row.
* ``mip``: the same model in HiGHS (SciPy's ``milp``).
* ``auto`` (the default): ``enumerate`` when the mean time of the candidates' flows (each
  tried alone) × the number of sets fits in ``time_limit``, else ``cp-sat``.

Bounds. Each level reports the best bound proven: the solver's own, the exact flow with every
candidate open (a relaxation of "k sites", valid for level 1, and for level 2 when level 1 is no
better with every site open), and with ``lp_bound`` the LP relaxation of the model given the
plan's level 1 value. At LA scale the LP relaxation is weak for level 1 (fractional sites spread
their places over every candidate) and slow, and CP-SAT's own bound depends on the CPU it gets,
so the gap is closed by enumeration rather than by bounding (``benchmarks/RESULTS.md``).

"At most k" (``at_most``, with ``site_cost`` £ a year per site opened): level 2 adds the sites'
running cost, so a site opens only when it places more children or meets more preferences
(level 1 comes first, whatever the cost), or saves more in placements and transport than it
costs. No site at all is a valid answer.

Sites may be given by postcode (a GeoJSON feature's ``postcode`` property, or a CSV of
candidates), placed by :class:`geodata.postcodes.PostcodeFile`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model
from pydantic import ValidationError

from geodata.postcodes import PostcodeError, PostcodeFile, PostcodeFileError, normalise_postcode
from matcher.eligibility import build_arcs
from matcher.lexicographic_flow import FlowNetwork, solve_lexicographic
from matcher.models import (
    Child,
    Location,
    PrimaryNeed,
    Provision,
    ProvisionKind,
    Setting,
    SettingType,
)
from matcher.placement import (
    PlacementConfig,
    PlacementNetwork,
    PlacementResult,
    build_network,
    level_costs,
    place,
    weighted_preference_level,
)
from matcher.side_constraints import LevelReport
from matcher.travel import TravelTimeMatrix

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
TravelFor = Callable[[Sequence[Child], Sequence[Setting]], TravelTimeMatrix]

# ``fixed`` in the decomposition: a child's held option, or one of these.
FREE = -1  # in the model: placed by the solver
HELD_UNPLACED = -2  # outside the model, unplaced in the no-new-site plan, and kept so

# A site's new provision: a special school, an AP, or a resourced provision in a mainstream school.
SITE_TYPES = ("special", "alternative_provision", "resourced_provision")


# --------------------------------------------------------------------------------------------
# Candidate sites from GeoJSON


@dataclass(frozen=True)
class CandidateSite:
    """A place where new provision could open: an id the LA uses, a name and a point."""

    site_id: str
    name: str
    location: Location


class CandidateSiteError(ValueError):
    """The candidate file cannot be used; ``problems`` lists every fault found, not just one."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


def polygon_centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """(lon, lat) centroid of a GeoJSON Polygon or MultiPolygon (planar in degrees, which is
    fine at the size of a school site)."""
    from shapely.geometry import shape

    shp = shape(geometry)
    if shp.is_empty or shp.area == 0:
        raise ValueError("polygon has zero area")
    return float(shp.centroid.x), float(shp.centroid.y)


def _point(geometry: Any) -> tuple[float, float]:
    if not isinstance(geometry, dict):
        raise ValueError("geometry is missing")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Point":
        if not isinstance(coords, list) or len(coords) < 2:
            raise ValueError("Point needs [longitude, latitude] coordinates")
        return float(coords[0]), float(coords[1])
    if kind in ("Polygon", "MultiPolygon"):
        if not isinstance(coords, list) or not coords:
            raise ValueError(f"{kind} has no coordinates")
        return polygon_centroid(geometry)
    raise ValueError(f"geometry type {kind!r} is not Point, Polygon or MultiPolygon")


def _postcode_location(
    postcode: Any, postcodes: PostcodeFile | None, where: str, problems: list[str]
) -> Location | None:
    """A candidate's point from its postcode, or None with the reason added to ``problems``."""
    try:
        key = normalise_postcode(str(postcode))
        if postcodes is None:
            raise PostcodeError(
                f"{key} is a postcode, and no postcode file was given: pass --postcodes FILE "
                "(the ONS Postcode Directory CSV or Code-Point Open), or give coordinates"
            )
        return postcodes.locate(key)
    except (PostcodeError, PostcodeFileError) as exc:
        problems.append(f"{where}: field 'postcode': {exc}")
        return None


def _check_id(
    raw_id: Any, where: str, seen: dict[str, int], index: int, problems: list[str]
) -> str:
    site_id = str(raw_id).strip() if raw_id is not None else ""
    if not site_id:
        problems.append(f"{where}: field 'id' is missing or blank")
    elif site_id in seen:
        first = f"{where.split(' ')[0]} {seen[site_id]}"
        problems.append(f"{where}: field 'id' {site_id!r} repeats {first}")
    else:
        seen[site_id] = index
    return site_id


def _prefetch(postcodes: PostcodeFile | None, wanted: Iterable[Any], source: str) -> None:
    if postcodes is None:
        return
    try:
        postcodes.prefetch(str(p) for p in wanted if p is not None and str(p).strip())
    except PostcodeFileError as exc:
        raise CandidateSiteError(source, exc.problems) from None


def parse_candidates(
    data: Any, source: str = "candidates", postcodes: PostcodeFile | None = None
) -> list[CandidateSite]:
    """Candidate sites from a parsed GeoJSON FeatureCollection; see :func:`load_candidates`."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise CandidateSiteError(source, ["not a GeoJSON FeatureCollection"])
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise CandidateSiteError(source, ["the FeatureCollection has no features"])
    _prefetch(
        postcodes,
        (
            (f.get("properties") or {}).get("postcode")
            for f in features
            if isinstance(f, dict)
            and not f.get("geometry")
            and isinstance(f.get("properties") or {}, dict)
        ),
        source,
    )
    problems: list[str] = []
    sites: list[CandidateSite] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict):
            problems.append(f"{where}: not a GeoJSON Feature")
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            props = {}
        site_id = _check_id(props.get("id", feature.get("id")), where, seen, index, problems)
        if not feature.get("geometry") and props.get("postcode"):
            location = _postcode_location(props["postcode"], postcodes, where, problems)
            if location is None:
                continue
        else:
            try:
                lon, lat = _point(feature.get("geometry"))
                location = Location(latitude=lat, longitude=lon)
            except (ValueError, TypeError, KeyError) as exc:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if "validation error" in message:
                    message = f"coordinates out of range (lon {lon}, lat {lat}; WGS84 expected)"
                if message == "geometry is missing":
                    message += " (give a Point or Polygon, or a 'postcode' property)"
                problems.append(f"{where}: field 'geometry': {message}")
                continue
        if site_id and seen.get(site_id) == index:
            sites.append(CandidateSite(site_id, str(props.get("name") or site_id), location))
    if problems:
        raise CandidateSiteError(source, problems)
    return sites


def _csv_candidates(text: str, source: str, postcodes: PostcodeFile | None) -> list[CandidateSite]:
    """Candidates from a CSV: ``id``, optional ``name``, and ``postcode`` or ``latitude`` and
    ``longitude`` (the header is matched ignoring case and spaces; row 1 is the header)."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower().replace(" ", "_") for h in next(reader, [])]
    if "id" not in header or not (
        {"postcode"} <= set(header) or {"latitude", "longitude"} <= set(header)
    ):
        raise CandidateSiteError(
            source, ["row 1: columns id and postcode (or latitude and longitude) are needed"]
        )
    rows = [dict(zip(header, (c.strip() for c in row), strict=False)) for row in reader]
    _prefetch(postcodes, (r.get("postcode") for r in rows if not r.get("latitude")), source)
    problems: list[str] = []
    sites: list[CandidateSite] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue
        where = f"row {number}"
        site_id = _check_id(row.get("id"), where, seen, number, problems)
        location: Location | None = None
        if row.get("latitude") or row.get("longitude"):
            try:
                location = Location(
                    latitude=float(row.get("latitude") or "nan"),
                    longitude=float(row.get("longitude") or "nan"),
                )
            except (ValueError, ValidationError):
                problems.append(
                    f"{where}: fields 'latitude', 'longitude': not a WGS84 point "
                    f"({row.get('latitude')!r}, {row.get('longitude')!r})"
                )
        elif row.get("postcode"):
            location = _postcode_location(row["postcode"], postcodes, where, problems)
        else:
            problems.append(f"{where}: field 'postcode': blank, and no latitude and longitude")
        if location is not None and site_id and seen.get(site_id) == number:
            sites.append(CandidateSite(site_id, row.get("name") or site_id, location))
    if not sites and not problems:
        problems.append("no candidate rows below the header")
    if problems:
        raise CandidateSiteError(source, problems)
    return sites


def load_candidates(path: str | Path, postcodes: PostcodeFile | None = None) -> list[CandidateSite]:
    """Read candidate sites: GeoJSON Points or Polygons (WGS84), or postcodes.

    A GeoJSON FeatureCollection (any suffix but ``.csv``): each feature needs an ``id``
    property (or feature id), ``name`` is optional; a Polygon site is placed at its centroid,
    and a feature with no geometry but a ``postcode`` property at the postcode's point in
    ``postcodes``. A ``.csv`` file: columns ``id``, ``name`` (optional), and ``postcode`` or
    ``latitude`` and ``longitude``. Every fault is collected, naming the feature index (or row)
    and the field, so an officer can fix the file in one pass.

    Raises
    ------
    CandidateSiteError
        With ``problems``, one line per fault.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CandidateSiteError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    if path.suffix.lower() == ".csv":
        return _csv_candidates(text, str(path), postcodes)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CandidateSiteError(
            str(path), [f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from exc
    return parse_candidates(data, str(path), postcodes)


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class SiteChoiceConfig:
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    low_age: int = 4
    high_age: int = 19
    restrict_to_reachable: bool = True  # see the module docstring: the decomposition
    workers: int = 2
    urn_prefix: str = "SITE-"  # a candidate's hypothetical setting is "SITE-<id>"
    la_code: str | None = None  # the LA of the new provision (for out-of-area counts)
    # "auto": "enumerate" when every subset's exact flow fits in the time limit, else "cp-sat"
    # ("mip" is HiGHS on the same model); see the module docstring.
    solver: Literal["auto", "enumerate", "cp-sat", "mip"] = "auto"
    # Also bound the cost level by the LP relaxation (HiGHS). Off by default: at 5,000 children
    # it did not finish within a 60 s limit (benchmarks/RESULTS.md), so it mostly costs time.
    lp_bound: bool = False
    at_most: bool = False  # open up to k sites: one that does not pay for itself stays shut
    site_cost: int = 0  # £ a year to run each site opened (annualised capital + fixed costs)


@dataclass(frozen=True)
class Totals:
    """One plan's headline figures, for "with the new sites" against "no new site"."""

    placed: int
    unplaced: int
    placement_cost: int
    transport_cost: int
    total_minutes: float
    independent: int
    out_of_area: int
    first_preference_met: int = 0
    any_preference_met: int = 0

    @property
    def total_cost(self) -> int:
        return self.placement_cost + self.transport_cost

    @classmethod
    def of(cls, result: PlacementResult) -> Totals:
        s = result.summary
        minutes = sum(r.minutes or 0.0 for r in result.placements if r.setting_urn)
        return cls(
            s.placed,
            s.unplaced,
            s.total_placement_cost,
            s.total_transport_cost,
            float(minutes),
            s.independent,
            s.out_of_area,
            s.first_preference_met,
            s.any_preference_met,
        )


@dataclass(frozen=True)
class SiteAlone:
    """A candidate opened on its own (exact flow): the heuristic ranking and the CP-SAT hint."""

    site_id: str
    placed: int
    total_cost: int
    level_one: int  # placed and preferences, as the flow scores it (lower is better)


@dataclass(frozen=True)
class ChosenSite:
    site: CandidateSite
    urn: str
    children: int
    by_need: dict[str, int]
    total_minutes: float


@dataclass(frozen=True)
class SiteChoice:
    chosen: tuple[ChosenSite, ...]
    with_sites: Totals
    without: Totals  # "no new site"
    result: PlacementResult  # the full plan with the chosen sites (exact flow)
    status: str  # CP-SAT status of the last level: OPTIMAL or FEASIBLE
    levels: tuple[LevelReport, ...]  # whole-LA objective and bound per level
    alone: tuple[SiteAlone, ...]  # every candidate alone, best first
    hint: tuple[str, ...]  # site ids opened in the warm start
    scope_children: int  # children in the CP-SAT model
    fixed_children: int  # children fixed at the "no new site" plan
    model_options: int  # option variables in the CP-SAT model
    travel_model: str
    seconds: float
    notes: tuple[str, ...] = ()
    site_cost: int = 0  # £ a year per site opened, in the cost level's objective
    solver: str = "cp-sat"  # the one that ran ("auto" resolved)

    @property
    def objective(self) -> int:
        return self.levels[-1].objective

    @property
    def best_bound(self) -> int:
        return self.levels[-1].best_bound

    @property
    def gap(self) -> float:
        """Relative gap of the cost level, on the whole LA's annual £ (0 when proven)."""
        return self.levels[-1].gap

    @property
    def absolute_gap(self) -> int:
        """£ a year by which a better choice of sites could at most improve on this one."""
        return 0 if self.levels[-1].proven_optimal else self.objective - self.best_bound


def candidate_setting(
    site: CandidateSite,
    designations: Iterable[PrimaryNeed | str],
    places: int,
    setting_type: str = "special",
    config: SiteChoiceConfig | None = None,
) -> Setting:
    """The hypothetical setting a candidate would become.

    ``resourced_provision`` is a mainstream school with no general places and one resourced
    provision of ``places``; the other types are settings of that type with ``places`` places.
    """
    config = config or SiteChoiceConfig()
    needs = frozenset(PrimaryNeed(n) for n in designations)
    if setting_type not in SITE_TYPES:
        raise ValueError(f"setting_type must be one of {', '.join(SITE_TYPES)}")
    common: dict[str, Any] = {
        "urn": f"{config.urn_prefix}{site.site_id}",
        "name": site.name,
        "location": site.location,
        "low_age": config.low_age,
        "high_age": config.high_age,
        "la_code": config.la_code,
    }
    if setting_type == "resourced_provision":
        provision = Provision(
            kind=ProvisionKind.RESOURCED_PROVISION, designated_needs=needs, places=places
        )
        return Setting(
            **common, setting_type=SettingType.MAINSTREAM, total_places=0, provisions=(provision,)
        )
    return Setting(
        **common,
        setting_type=SettingType(setting_type),
        designated_needs=needs,
        total_places=places,
    )


@dataclass
class _Problem:
    """The network with every candidate in it; a set of sites is evaluated by closing the rest."""

    network: PlacementNetwork
    level_one: IntArray
    money: IntArray
    n_children: int
    site_of_option: IntArray  # candidate index of each option, -1 for existing settings
    parent: dict[int, int]  # capacity node → next capacity node up (or the sink)
    cap_arc: dict[int, int]  # capacity node → its arc index
    n_existing: int  # settings before the candidates

    def capacities(self, open_sites: Iterable[int]) -> IntArray:
        caps = self.network.flow.capacities.copy()
        n_options = self.network.n_options
        closed = self.site_of_option >= 0
        closed &= ~np.isin(self.site_of_option, np.fromiter(open_sites, np.int64))
        caps[:n_options][closed] = 0
        return caps

    def solve(
        self, open_sites: Iterable[int], fixed: IntArray | None = None
    ) -> tuple[IntArray, int, int]:
        """Exact lexicographic flow with ``open_sites``; children with ``fixed[i] >= 0`` are held
        at that option, and those with ``fixed[i] == HELD_UNPLACED`` held unplaced. Returns
        (option chosen per child or -1, level-1 value, £ value)."""
        flow = self.network.flow
        caps = self.capacities(open_sites)
        supplies = flow.supplies.copy()
        n, n_options = self.n_children, self.network.n_options
        if fixed is not None:
            held = np.nonzero(fixed >= 0)[0]
            for node, used in self.node_use(fixed[held]).items():
                caps[self.cap_arc[node]] -= used
            removed = np.nonzero(fixed != FREE)[0]
            out = np.isin(self.network.arcs.child, removed)
            caps[:n_options][out] = 0
            caps[n_options + removed] = 0
            supplies[removed] = 0
            supplies[self.network.sink] += len(removed)
        net = FlowNetwork(flow.n_nodes, flow.tails, flow.heads, caps, supplies)
        levels = [self.level_one, self.full_money()]
        solution = solve_lexicographic(net, levels)
        choice = np.full(n, -1, np.int64)
        taken = np.nonzero(solution.flows[:n_options] > 0)[0]
        choice[self.network.arcs.child[taken]] = taken
        if fixed is not None:
            choice[fixed >= 0] = fixed[fixed >= 0]
        return choice, self.value(self.level_one, choice), self.value(self.full_money(), choice)

    def full_money(self) -> IntArray:
        costs = np.zeros(len(self.network.flow.tails), np.int64)
        costs[: self.network.n_options] = self.money
        return costs

    def value(self, costs: IntArray, choice: IntArray) -> int:
        """A level's value for a choice of options (unplaced children priced at their arc)."""
        placed = choice >= 0
        n_options = self.network.n_options
        total = int(costs[choice[placed]].sum())
        return total + int(costs[n_options + np.nonzero(~placed)[0]].sum())

    def path(self, option: int) -> list[int]:
        node = int(self.network.option_head[option])
        nodes = []
        while node != self.network.sink:
            nodes.append(node)
            node = self.parent[node]
        return nodes

    def node_use(self, options: IntArray) -> Counter[int]:
        use: Counter[int] = Counter()
        for a in options[options >= 0].tolist():
            use.update(self.path(a))
        return use


def _build_problem(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig,
    n_existing: int,
) -> _Problem:
    arcs = build_arcs(children, settings, travel, config.eligibility)
    network = build_network(children, settings, arcs, config)
    level_one = weighted_preference_level(
        network, level_costs(network, len(children), ("cost", "travel"))
    )
    money = network.placement_cost + network.transport_cost
    site_of_option = np.where(arcs.setting >= n_existing, arcs.setting - n_existing, -1)
    flow = network.flow
    start = network.n_options + len(children)
    tails = flow.tails[start:].tolist()
    heads = flow.heads[start:].tolist()
    parent = dict(zip(tails, heads, strict=True))
    cap_arc = {t: start + k for k, t in enumerate(tails)}
    return _Problem(
        network,
        level_one,
        money,
        len(children),
        site_of_option.astype(np.int64),
        parent,
        cap_arc,
        n_existing,
    )


def choose_sites(
    children: Sequence[Child],
    settings: Sequence[Setting],
    candidates: Sequence[CandidateSite],
    travel_for: TravelFor,
    k: int,
    designations: Iterable[PrimaryNeed | str],
    places: int,
    config: SiteChoiceConfig | None = None,
    setting_type: str = "special",
    time_limit: float = 60.0,
) -> SiteChoice:
    """Choose ``k`` of ``candidates`` (at most ``k`` with ``config.at_most``) to open with
    ``places`` places for ``designations``.

    Maximises children placed (with parental preferences, as the placement flow does), then
    minimises the LA's annual £ for placements and transport, plus ``config.site_cost`` for each
    site opened; see the module docstring for the model, the decomposition, the warm start and
    the bounds. ``time_limit`` is the solver's, in seconds, split between the two levels (the
    flows around it are extra and take seconds at LA scale).
    """
    started = time.perf_counter()
    config = config or SiteChoiceConfig()
    placement = replace(config.placement, objective_order=("cost", "travel"))
    designations = tuple(designations)
    if not 1 <= k <= len(candidates):
        raise ValueError(f"k must be between 1 and the {len(candidates)} candidate sites")
    if places < 1:
        raise ValueError("places must be at least 1")
    if config.site_cost < 0:
        raise ValueError("site_cost must be zero or more pounds a year")
    sites = [candidate_setting(c, designations, places, setting_type, config) for c in candidates]
    clash = {s.urn for s in settings} & {s.urn for s in sites}
    if clash:
        raise ValueError(f"candidate urns clash with existing settings: {sorted(clash)}")
    all_settings = [*settings, *sites]
    travel = travel_for(children, all_settings)
    problem = _build_problem(children, all_settings, travel, placement, len(settings))
    n_sites = len(sites)

    base_choice, _, _ = problem.solve([])
    alone = []
    alone_started = time.perf_counter()
    for c in range(n_sites):
        choice, one, money = problem.solve([c])
        alone.append(SiteAlone(candidates[c].site_id, int((choice >= 0).sum()), money, one))
    flow_seconds = (time.perf_counter() - alone_started) / n_sites
    order = sorted(range(n_sites), key=lambda c: (alone[c].level_one, alone[c].total_cost, c))
    hint_sites = order[:k]

    arcs = problem.network.arcs
    n = len(children)
    if config.restrict_to_reachable:
        in_scope = np.zeros(n, bool)
        in_scope[arcs.child[problem.site_of_option >= 0]] = True
    else:
        in_scope = np.ones(n, bool)
    # Outside the scope, children keep the no-new-site plan: placed where they were, or unplaced.
    fixed = np.where(in_scope, FREE, np.where(base_choice >= 0, base_choice, HELD_UNPLACED))
    hint_choice, _, _ = problem.solve(hint_sites, fixed)

    scope = _scope_model(problem, in_scope, fixed, n_sites)
    rule = _SiteRule(k, config.at_most, config.site_cost)
    solver = config.solver
    if solver == "auto":
        # Every subset's exact flow, if that fits the time (as long as the flows just run).
        fits = _subset_count(n_sites, rule) * flow_seconds <= time_limit
        solver = "enumerate" if fits else "cp-sat"
    if solver == "enumerate":
        solved = _enumerate(problem, rule, n_sites)
    elif solver == "mip":
        fallback = (hint_sites, hint_choice)
        solved = _solve_mip(scope, rule, time_limit, fallback, relax=False)
    else:
        solved = _solve_cp_sat(scope, rule, hint_sites, hint_choice, time_limit, config.workers)
    if solver == "enumerate":
        levels = solved.levels
    else:
        levels = _exact_levels(problem, fixed, solved, rule)
        levels = _tighten_bounds(problem, scope, rule, levels, n_sites, config, time_limit)

    notes = []
    if solver == "enumerate":
        notes.append(
            "every allowed set of sites solved by the exact flow over every child: optimal for "
            "the whole LA"
        )
    elif not config.restrict_to_reachable:
        notes.append("every child modelled: the site choice is exact up to the reported gap")
    else:
        notes.append(
            f"{int((~in_scope).sum())} children with no candidate within reach held at their "
            "'no new site' placement while sites were chosen (see the module docstring); totals "
            "below are the exact flow for the chosen sites"
        )
    if config.at_most and len(solved.open_sites) < k:
        notes.append(
            f"{len(solved.open_sites)} of at most {k} sites opened: another site would not pay "
            f"for its £{config.site_cost:,} a year"
        )
    chosen_sites = solved.open_sites
    chosen_settings = [sites[c] for c in chosen_sites]
    with_result = place(
        children,
        [*settings, *chosen_settings],
        travel.reindexed(
            [c.child_id for c in children],
            [s.urn for s in settings] + [s.urn for s in chosen_settings],
        ),
        placement,
    )
    without_result = place(
        children,
        settings,
        travel.reindexed([c.child_id for c in children], [s.urn for s in settings]),
        placement,
    )
    need_of = {c.child_id: c.primary_need.value for c in children}
    chosen = []
    for c, s in zip(chosen_sites, chosen_settings, strict=True):
        rows = [r for r in with_result.placements if r.setting_urn == s.urn]
        by_need = Counter(need_of[r.child_id] for r in rows)
        chosen.append(
            ChosenSite(
                candidates[c],
                s.urn,
                len(rows),
                dict(sorted(by_need.items())),
                float(sum(r.minutes or 0.0 for r in rows)),
            )
        )
    return SiteChoice(
        chosen=tuple(chosen),
        with_sites=Totals.of(with_result),
        without=Totals.of(without_result),
        result=with_result,
        status=solved.status,
        levels=levels,
        alone=tuple(alone[c] for c in order),
        hint=tuple(candidates[c].site_id for c in hint_sites),
        scope_children=int(in_scope.sum()),
        fixed_children=int((~in_scope).sum()),
        model_options=len(scope.options),
        travel_model=travel.model,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
        site_cost=config.site_cost,
        solver=solver,
    )


# --------------------------------------------------------------------------------------------
# The model both solvers share


@dataclass(frozen=True)
class _SiteRule:
    """How many sites may open, and what each costs a year (level 2 only)."""

    k: int
    at_most: bool
    site_cost: int


@dataclass
class _ScopeModel:
    """The facility-location model over the children in scope, solver-neutral.

    ``options`` are option arcs (a child × a place path); ``site[p]`` is the candidate an
    option needs open (-1 for an existing setting); ``rows`` are the capacity nodes that can
    bind: (option positions through the node, places left after the fixed children, the
    candidate owning the node or -1). Level values are ``coefficients @ x + constant``.
    """

    problem: _Problem
    options: IntArray
    site: IntArray
    by_child: list[list[int]]
    rows: list[tuple[list[int], int, int]]
    n_sites: int
    fixed: IntArray
    scope_children: IntArray

    def level(self, costs: IntArray) -> tuple[IntArray, int]:
        """A level's coefficient per option (its cost less the child's unplaced cost) and the
        constant: the held children's options, and the unplaced arc of every child in scope
        and of every child held unplaced."""
        problem = self.problem
        unplaced = problem.network.n_options + np.arange(problem.n_children)
        held = np.nonzero(self.fixed >= 0)[0]
        # Children in scope (FREE) start unplaced; HELD_UNPLACED ones stay so.
        unplaced_children = np.nonzero(self.fixed < 0)[0]
        child = problem.network.arcs.child[self.options]
        coefficients = costs[self.options] - costs[unplaced[child]]
        constant = int(costs[self.fixed[held]].sum()) + int(
            costs[unplaced[unplaced_children]].sum()
        )
        return coefficients.astype(np.int64), constant

    def levels(self) -> tuple[IntArray, ...]:
        return (self.problem.level_one, self.problem.full_money())


def _scope_model(
    problem: _Problem, in_scope: npt.NDArray[np.bool_], fixed: IntArray, n_sites: int
) -> _ScopeModel:
    arcs = problem.network.arcs
    scope_children = np.nonzero(in_scope)[0]
    options = np.nonzero(np.isin(arcs.child, scope_children))[0].astype(np.int64)
    site = problem.site_of_option[options]
    grouped: dict[int, list[int]] = defaultdict(list)
    for p, a in enumerate(options.tolist()):
        grouped[int(arcs.child[a])].append(p)
    fixed_use = problem.node_use(fixed[fixed >= 0])
    into: dict[int, list[int]] = defaultdict(list)
    node_site: dict[int, int] = {}  # every node on an option's path belongs to its setting
    for p, a in enumerate(options.tolist()):
        for node in problem.path(a):
            into[node].append(p)
            node_site[node] = int(site[p])
    caps = problem.network.flow.capacities
    rows = []
    for node, positions in into.items():
        left = int(caps[problem.cap_arc[node]]) - fixed_use.get(node, 0)
        if len(positions) > left:
            rows.append((positions, left, node_site[node]))
    return _ScopeModel(
        problem,
        options,
        site,
        list(grouped.values()),
        rows,
        n_sites,
        fixed,
        scope_children.astype(np.int64),
    )


@dataclass(frozen=True)
class _Solved:
    open_sites: list[int]
    levels: tuple[LevelReport, ...]  # whole-LA objective and bound of each level
    status: str


LEVEL_NAMES = ("children placed and preferences", "cost (placement + transport, £ a year)")


def _solve_cp_sat(
    scope: _ScopeModel,
    rule: _SiteRule,
    hint_sites: Sequence[int],
    hint_choice: IntArray,
    time_limit: float,
    workers: int,
) -> _Solved:
    """open[site] binaries and one binary per option of each child in scope; two levels."""
    model = cp_model.CpModel()
    is_open = [model.new_bool_var(f"open{c}") for c in range(scope.n_sites)]
    if rule.at_most:
        model.add(sum(is_open) <= rule.k)
    else:
        model.add(sum(is_open) == rule.k)
    x = [model.new_bool_var(f"x{a}") for a in scope.options.tolist()]
    for positions in scope.by_child:
        if len(positions) > 1:
            model.add_at_most_one(x[p] for p in positions)
    for p in np.nonzero(scope.site >= 0)[0].tolist():
        model.add_implication(x[p], is_open[int(scope.site[p])])  # x ≤ open, disaggregated
    for positions, left, site in scope.rows:
        if site >= 0:
            model.add(sum(x[p] for p in positions) <= left * is_open[site])
        else:
            model.add(sum(x[p] for p in positions) <= left)

    # The warm start is a whole plan: the current solution until CP-SAT finds a better one,
    # so a level that times out before its first solution still reports a real plan.
    child = scope.problem.network.arcs.child[scope.options]
    open_values = [c in hint_sites for c in range(scope.n_sites)]
    x_values = (hint_choice[child] == scope.options).tolist()

    reports = []
    status_name = "OPTIMAL"
    for index, costs in enumerate(scope.levels()):
        model.clear_hints()
        for c in range(scope.n_sites):
            model.add_hint(is_open[c], open_values[c])
        for var, value in zip(x, x_values, strict=True):
            model.add_hint(var, value)
        coefficients, const = scope.level(costs)
        level_expr = cp_model.LinearExpr.weighted_sum(x, coefficients.tolist())
        if index == 1 and rule.site_cost:
            level_expr = level_expr + rule.site_cost * sum(is_open)
        model.minimize(level_expr)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(time_limit / 2, 0.1)
        solver.parameters.num_workers = workers
        status = solver.solve(model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            open_values = [bool(solver.value(v)) for v in is_open]
            x_values = [bool(solver.value(v)) for v in x]
        elif status != cp_model.UNKNOWN:
            raise RuntimeError(f"CP-SAT found no plan (status {solver.status_name(status)})")
        objective = int(coefficients[np.array(x_values, bool)].sum())
        if index == 1:
            objective += rule.site_cost * sum(open_values)
        if status == cp_model.UNKNOWN:
            # No solution, so no bound either: CP-SAT's value is then not a proof. The trivial
            # one (every option at its best) holds; the flow relaxations raise it later.
            bound = int(np.minimum(coefficients, 0).sum())
        else:
            bound = min(math.ceil(solver.best_objective_bound - 1e-6), objective)
        proven = status == cp_model.OPTIMAL
        report = LevelReport(LEVEL_NAMES[index], objective + const, bound + const, proven)
        reports.append(report)
        status_name = solver.status_name(status)
        # Next level among this level's best found plans.
        model.add(level_expr <= objective)
    return _Solved([c for c in range(scope.n_sites) if open_values[c]], tuple(reports), status_name)


def _constraints(scope: _ScopeModel, rule: _SiteRule) -> tuple[Any, FloatArray, FloatArray]:
    """The model's rows as a sparse matrix over ``[x..., open...]`` with lower and upper bounds:
    one option per child, ``x ≤ open`` (disaggregated linking), capacity rows (a candidate's
    scaled by its ``open``), and the number of sites."""
    import scipy.sparse as sp

    n_x = len(scope.options)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    upper: list[float] = []
    lower: list[float] = []

    def add(columns: Sequence[int], values: Sequence[float], low: float, high: float) -> None:
        rows.extend([len(upper)] * len(columns))
        cols.extend(columns)
        vals.extend(values)
        lower.append(low)
        upper.append(high)

    for positions in scope.by_child:
        if len(positions) > 1:
            add(positions, [1.0] * len(positions), -np.inf, 1.0)
    for p in np.nonzero(scope.site >= 0)[0].tolist():
        add([p, n_x + int(scope.site[p])], [1.0, -1.0], -np.inf, 0.0)
    for positions, left, site in scope.rows:
        if site >= 0:
            add([*positions, n_x + site], [1.0] * len(positions) + [-float(left)], -np.inf, 0.0)
        else:
            add(positions, [1.0] * len(positions), -np.inf, float(left))
    sites = list(range(n_x, n_x + scope.n_sites))
    add(sites, [1.0] * scope.n_sites, 0.0 if rule.at_most else float(rule.k), float(rule.k))
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(upper), n_x + scope.n_sites))
    return matrix, np.array(lower), np.array(upper)


def _solve_mip(
    scope: _ScopeModel,
    rule: _SiteRule,
    time_limit: float,
    fallback: tuple[Sequence[int], IntArray] | None = None,
    *,
    relax: bool,
    level_one_at_most: int | None = None,
) -> _Solved:
    """The same model as a MIP in HiGHS (SciPy's ``milp``), or with ``relax`` its LP relaxation.

    Each level's bound is HiGHS's dual bound. ``fallback`` (sites, each child's option) is the
    plan kept for a level where HiGHS finds none in its time. ``level_one_at_most`` skips level
    1 and bounds it by that value: the LP bound on level 2 for a plan found by another solver,
    valid because any plan as good at level 1 is in that region.
    """
    import scipy.sparse as sp
    from scipy.optimize import Bounds, LinearConstraint, milp

    matrix, lower, upper = _constraints(scope, rule)
    n_x = len(scope.options)
    integrality = np.zeros(n_x + scope.n_sites) if relax else np.ones(n_x + scope.n_sites)
    child = scope.problem.network.arcs.child[scope.options]
    current: FloatArray | None = None
    if fallback is not None:
        open_hint = np.isin(np.arange(scope.n_sites), np.asarray(fallback[0], np.int64))
        x_hint = fallback[1][child] == scope.options
        current = np.concatenate([x_hint, open_hint]).astype(np.float64)
    deadline = time.perf_counter() + time_limit
    reports = []
    status_name = "OPTIMAL"
    for index, costs in enumerate(scope.levels()):
        coefficients, const = scope.level(costs)
        site_costs = np.full(scope.n_sites, float(rule.site_cost if index else 0))
        objective = np.concatenate([coefficients.astype(np.float64), site_costs])
        if index == 0 and level_one_at_most is not None:
            reports.append(LevelReport(LEVEL_NAMES[0], level_one_at_most, level_one_at_most, True))
            value = float(level_one_at_most - const)
        else:
            remaining = max(deadline - time.perf_counter(), 1.0)
            options = {"time_limit": remaining if index else remaining / 2, "mip_rel_gap": 0.0}
            result = milp(
                objective,
                constraints=LinearConstraint(matrix, lower, upper),
                bounds=Bounds(0.0, 1.0),
                integrality=integrality,
                options=options,
            )
            if result.x is not None:
                current = np.round(result.x) if not relax else result.x
            if current is None:
                raise RuntimeError(f"HiGHS found no plan in time ({result.message})")
            proven = result.status == 0
            value = float(objective @ current)
            if relax:
                bound = float(result.fun) if proven else -np.inf
            else:
                dual = getattr(result, "mip_dual_bound", None)
                bound = float(dual) if dual is not None and np.isfinite(dual) else -np.inf
            if not np.isfinite(bound):
                bound = float(np.minimum(objective, 0).sum())  # every variable at its best
            status_name = "OPTIMAL" if proven else "FEASIBLE"
            best = round(value) + const
            floor = math.ceil(bound - 1e-6 * max(1.0, abs(bound))) + const
            reports.append(LevelReport(LEVEL_NAMES[index], best, min(floor, best), proven))
        if index == 0:
            # Level 2 among plans as good at level 1 (+0.5: the value is a whole number).
            cap = sp.csr_matrix(np.concatenate([coefficients, np.zeros(scope.n_sites)]))
            matrix = sp.vstack([matrix, cap], format="csr")
            lower = np.append(lower, -np.inf)
            upper = np.append(upper, value + 0.5)
    opened = [] if current is None else np.nonzero(current[n_x:] > 0.5)[0].tolist()
    return _Solved(opened, tuple(reports), status_name)


def _subset_count(n_sites: int, rule: _SiteRule) -> int:
    sizes = range(rule.k + 1) if rule.at_most else (rule.k,)
    return sum(math.comb(n_sites, size) for size in sizes)


def _enumerate(problem: _Problem, rule: _SiteRule, n_sites: int) -> _Solved:
    """Every allowed set of sites, each by the exact lexicographic flow over every child (no
    decomposition): proven optimal for the whole LA by exhaustion. With 20 candidates and
    k = 2 that is 190 flows, which at LA scale beats any bound CP-SAT or a MIP proves in the
    same time."""
    sizes = range(rule.k + 1) if rule.at_most else (rule.k,)
    best: tuple[int, int, list[int]] | None = None
    for size in sizes:
        for subset in itertools.combinations(range(n_sites), size):
            _, one, money = problem.solve(subset)
            value = (one, money + rule.site_cost * size, list(subset))
            if best is None or value[:2] < best[:2]:
                best = value
    assert best is not None
    one, money, opened = best
    levels = (
        LevelReport(LEVEL_NAMES[0], one, one, True),
        LevelReport(LEVEL_NAMES[1], money, money, True),
    )
    return _Solved(opened, levels, "OPTIMAL")


def _exact_levels(
    problem: _Problem, fixed: IntArray, solved: _Solved, rule: _SiteRule
) -> tuple[LevelReport, ...]:
    """Each level's value for the chosen set is the exact flow's (never worse than the
    solver's plan for that set; the solver's bounds stay valid, see :func:`_solve_mip`)."""
    _, one, money = problem.solve(solved.open_sites, fixed)
    money += rule.site_cost * len(solved.open_sites)
    first, second = solved.levels
    first = replace(first, objective=min(first.objective, one))
    if one < solved.levels[0].objective:
        second = replace(second, objective=money)
    else:
        second = replace(second, objective=min(second.objective, money))
    return (_settle(first), _settle(second))


def _settle(level: LevelReport) -> LevelReport:
    return replace(
        level, proven_optimal=level.proven_optimal or level.objective <= level.best_bound
    )


def _tighten_bounds(
    problem: _Problem,
    scope: _ScopeModel,
    rule: _SiteRule,
    levels: tuple[LevelReport, ...],
    n_sites: int,
    config: SiteChoiceConfig,
    time_limit: float,
) -> tuple[LevelReport, ...]:
    """Raise each level's bound with relaxations the solver may not have found itself.

    Opening every candidate relaxes "k sites": its exact flow bounds level 1, and level 2 too
    when level 1 is no better with every site open. The LP relaxation with ``x ≤ open`` bounds
    level 2 given the plan's level 1 value.
    """
    first, second = levels
    _, all_one, all_money = problem.solve(range(n_sites))
    first = _settle(replace(first, best_bound=max(first.best_bound, all_one)))
    if second.proven_optimal:
        return (first, second)
    if first.objective == all_one:
        floor = all_money + (0 if rule.at_most else rule.k * rule.site_cost)
        second = _settle(replace(second, best_bound=max(second.best_bound, floor)))
    if config.lp_bound and not second.proven_optimal:
        try:
            lp = _solve_mip(scope, rule, time_limit, relax=True, level_one_at_most=first.objective)
        except RuntimeError:
            return (first, second)  # the LP did not finish in time: keep the other bounds
        lp_bound = max(second.best_bound, lp.levels[1].best_bound)
        second = _settle(replace(second, best_bound=lp_bound))
    return (first, second)
