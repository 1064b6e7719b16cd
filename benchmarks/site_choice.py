"""Site choice at LA scale: enumeration, CP-SAT and a MIP against a PySAL spopt p-median.

    .venv/bin/python benchmarks/site_choice.py [--children 5000 --settings 300]
        [--solvers benders,enumerate,cp-sat,mip] [--road-grid-m 250] [--no-write]
        [--instance la-5k-k2|la-25k-sizes-k3|la-25k-k5] [--sizes 60,120] [--gap 0.001]

``--instance`` picks one of issue 19's targets (children, candidates, sizes, k, time limit,
gap and solvers; only ``--solvers`` overrides what it sets). ``benders`` prints its bound as it
goes.

A whole-LA synthetic caseload (``placement_scale.calibrated_instance``), ``--candidates`` random
candidate points in the same box, ``k`` new ASD/SEMH special schools of ``--places`` places, on
straight-line times or (``--road-grid-m``) road times on a synthetic street grid over the box.
Each of our solvers (:func:`matcher.site_choice.choose_sites`) is timed and its gap reported.
The p-median (spopt, if installed) minimises minutes from each ASD/SEMH child to the nearest
open candidate, ignoring capacity, existing settings, eligibility and cost: its chosen sites are
then re-solved with the same exact flow so every row is judged on children placed, preferences
met and annual £. Each run replaces its own sub-section of "Site choice" in RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geodata.network import RoadNetwork
from geodata.straight_line import straight_line_matrix
from matcher.models import Child, Location, Setting
from matcher.placement import PlacementConfig, place
from matcher.site_choice import (
    BendersProgress,
    CandidateSite,
    SiteChoice,
    SiteChoiceConfig,
    SiteOption,
    Totals,
    TravelFor,
    candidate_setting,
    choose_sites,
)
from matcher.travel import TravelTimeMatrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from placement_scale import (
    CENTRE,
    HALF_SIDES,
    RESULTS,
    calibrated_instance,
    machine,
    utc_date,
    write_section,
)

CUTOFF = 75.0
SECTION = "## Site choice"
INTRO = (
    "Each run below is one `benchmarks/site_choice.py` command; a run replaces its own "
    "sub-section and leaves the others. Solvers: `enumerate` (every k-subset by the exact "
    "flow: proven by exhaustion), `benders` (Benders decomposition: a CP-SAT master over the "
    "sites, cut by the exact flow's node potentials; `matcher/site_benders.py`), `cp-sat` and "
    "`mip` (HiGHS, through SciPy's `milp`) on the facility-location model with x ≤ open; "
    "`auto`, the default, enumerates when the subsets' flows fit the time limit, else runs "
    "`benders`. Enumeration and Benders solve every child; CP-SAT and the MIP only the "
    "children who can reach a candidate, the rest held at the no-new-site plan (see "
    "`matcher/site_choice.py`). Every table row is the exact whole-LA flow for the sites "
    "chosen, so rows compare like for like."
)
DESIGNATIONS = ("ASD", "SEMH")
# Issue 19's targets: children, candidates, k, sizes (places), time limit (s), gap, solvers.
INSTANCES: dict[str, dict[str, Any]] = {
    "la-5k-k2": {
        "children": 5000,
        "candidates": 20,
        "k": 2,
        "sizes": None,
        "time_limit": 60.0,
        "gap": 0.0,
        "solvers": "benders,enumerate,cp-sat,mip",
    },
    "la-25k-sizes-k3": {
        "children": 25000,
        "candidates": 50,
        "k": 3,
        "sizes": "60,120",
        "time_limit": 120.0,
        "gap": 0.001,
        "solvers": "benders",
    },
    "la-25k-k5": {
        "children": 25000,
        "candidates": 100,
        "k": 5,
        "sizes": None,
        "time_limit": 300.0,
        "gap": 0.0,
        "solvers": "benders,cp-sat",
    },
}


def straight_line(children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
    return straight_line_matrix(
        [c.child_id for c in children],
        [c.home for c in children],
        [s.urn for s in settings],
        [s.location for s in settings],
        cutoff_minutes=CUTOFF,
    )


def p_median(
    children: list[Child],
    candidates: list[CandidateSite],
    k: int,
    travel: TravelFor,
    time_limit: float,
) -> tuple[list[int], float, str] | str:
    """spopt's p-median on minutes (unreachable pairs at 10× the cutoff): its sites, wall
    seconds and CBC's status; or why it did not run or gave no sites in ``time_limit``."""
    if time_limit <= 0:
        return "not run (--pmedian-time-limit 0)"
    try:
        import pulp
        from spopt.locate import PMedian
    except ImportError:
        return "spopt not installed"
    clients = [c for c in children if c.primary_need.value in DESIGNATIONS]
    m = travel(clients, [candidate_setting(s, DESIGNATIONS, 1) for s in candidates])
    dense = np.full((len(clients), len(candidates)), 10 * CUTOFF)
    dense[m.rows, m.cols] = m.minutes
    solver, name = pmedian_solver(time_limit)
    t = time.perf_counter()
    model = PMedian.from_cost_matrix(dense, np.ones(len(clients)), p_facilities=k)
    try:
        model.solve(solver)
    except RuntimeError as exc:  # spopt raises when the solver returns no solution
        return f"{name} found no solution in {time.perf_counter() - t:.0f} s ({exc})"
    wall = time.perf_counter() - t
    status = f"{name} {pulp.LpStatus[model.problem.status]}"
    try:
        chosen = [j for j in range(len(candidates)) if model.fac2cli[j]]
    except (AttributeError, IndexError, TypeError):
        return f"{name} gave no sites in {wall:.0f} s (status {status})"
    if len(chosen) != k:
        return f"{name} gave no {k} sites in {wall:.0f} s (status {status})"
    return chosen, wall, status


def pmedian_solver(time_limit: float) -> tuple[Any, str]:
    """HiGHS through PuLP when highspy is installed (the ``bench`` extra), else PuLP's CBC."""
    import pulp

    if "HiGHS" in pulp.listSolvers(onlyAvailable=True):
        return pulp.HiGHS(msg=False, timeLimit=time_limit), "HiGHS"
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit), "CBC"


def road_grid(instance_box: tuple[float, float, float, float], spacing_m: float) -> RoadNetwork:
    """A street grid over the instance's box (as ``travel_matrix.synthetic_grid``, but placed
    where the instance is): residential streets, a primary every 10th line, a trunk every
    50th, two-way, speeds from the default class table. Not OSM: an offline stand-in."""
    from travel_matrix import METRES_PER_DEG_LAT, _grid_class

    from geodata.network import DEFAULT_SPEED_MODEL

    south, west, north, east = instance_box
    rows_n = int((north - south) * METRES_PER_DEG_LAT / spacing_m) + 2
    lon_m = METRES_PER_DEG_LAT * np.cos(np.radians((south + north) / 2))
    cols_n = int((east - west) * lon_m / spacing_m) + 2
    rows, cols = np.divmod(np.arange(rows_n * cols_n), cols_n)
    lat = south + rows * spacing_m / METRES_PER_DEG_LAT
    lon = west + cols * spacing_m / lon_m
    idx = np.arange(rows_n * cols_n).reshape(rows_n, cols_n)
    h_u, h_v = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    h_class = np.repeat([_grid_class(r) for r in range(rows_n)], cols_n - 1)
    v_u, v_v = idx[:-1, :].ravel(), idx[1:, :].ravel()
    v_class = np.tile([_grid_class(c) for c in range(cols_n)], rows_n - 1)
    u = np.concatenate([h_u, h_v, v_u, v_v])
    v = np.concatenate([h_v, h_u, v_v, v_u])
    classes = np.concatenate([h_class, h_class, v_class, v_class])
    kmh = {c: DEFAULT_SPEED_MODEL.class_kmh(c) for c in ("trunk", "primary", "residential")}
    seconds = spacing_m / (np.vectorize(kmh.__getitem__)(classes) / 3.6)
    return RoadNetwork.from_edges(
        np.arange(rows_n * cols_n) + 1,
        lon,
        lat,
        u,
        v,
        seconds,
        classes.tolist(),
        label=f"synthetic {rows_n}×{cols_n} grid at {spacing_m:g} m (not OSM)",
    )


@dataclass(frozen=True)
class RoadTravel:
    """``travel_for`` on a road network (picklable, like the CLI's)."""

    network: RoadNetwork

    def __call__(self, children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
        from geodata.travel_times import road_travel_matrix

        return road_travel_matrix(
            self.network,
            [c.child_id for c in children],
            [c.home for c in children],
            [s.urn for s in settings],
            [s.location for s in settings],
            CUTOFF,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=5000)
    parser.add_argument("--settings", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--places", type=int, default=120)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument(
        "--solvers",
        default=None,
        help="comma-separated: benders, enumerate, cp-sat, mip (default cp-sat,mip, or the "
        "instance's)",
    )
    parser.add_argument(
        "--road-grid-m", type=float, default=None, help="road times on a synthetic grid"
    )
    parser.add_argument(
        "--pmedian-time-limit", type=float, default=600.0, help="seconds for the p-median solver"
    )
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--instance", choices=sorted(INSTANCES), default=None)
    parser.add_argument(
        "--sizes", default=None, help="places per size, e.g. 60,120: each site opens at one"
    )
    parser.add_argument("--gap", type=float, default=0.0, help="benders: stop within this")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--label", default=None, help="sub-heading of this run (default from the data)"
    )
    args = parser.parse_args()
    if args.instance:
        for name, value in INSTANCES[args.instance].items():
            if name != "solvers" or args.solvers is None:
                setattr(args, name, value)
    args.solvers = args.solvers or "cp-sat,mip"
    options = None
    if args.sizes:
        options = [SiteOption(int(s)) for s in args.sizes.split(",")]

    inst = calibrated_instance(args.children, args.settings, args.seed + args.children)
    rng = np.random.default_rng(args.seed)
    lat = rng.uniform(-1, 1, args.candidates) * HALF_SIDES[0] * inst.spread + CENTRE[0]
    lon = rng.uniform(-1, 1, args.candidates) * HALF_SIDES[1] * inst.spread + CENTRE[1]
    candidates = [
        CandidateSite(f"c{j:02d}", f"Candidate {j}", Location(latitude=a, longitude=b))
        for j, (a, b) in enumerate(zip(lat.tolist(), lon.tolist(), strict=True))
    ]
    travel: TravelFor = straight_line
    travel_text = "straight-line travel"
    if args.road_grid_m:
        points = [c.home for c in inst.children] + [s.location for s in inst.settings]
        points += [c.location for c in candidates]
        box = (
            min(p.latitude for p in points) - 0.01,
            min(p.longitude for p in points) - 0.01,
            max(p.latitude for p in points) + 0.01,
            max(p.longitude for p in points) + 0.01,
        )
        t = time.perf_counter()
        network = road_grid(box, args.road_grid_m)
        travel = RoadTravel(network)
        travel_text = (
            f"road travel times on a {network.label} built in {time.perf_counter() - t:.1f} s"
        )

    rows = []
    details = []
    without: Totals | None = None
    for solver in [s.strip() for s in args.solvers.split(",") if s.strip()]:
        if options and solver in ("cp-sat", "mip"):
            details.append(f"- sendmatch {solver}: not run (one size per site only).")
            continue
        config = SiteChoiceConfig(solver=solver, gap=args.gap)  # type: ignore[arg-type]
        t = time.perf_counter()
        choice = choose_sites(
            inst.children,
            inst.settings,
            candidates,
            travel,
            args.k,
            DESIGNATIONS,
            args.places,
            config,
            time_limit=args.time_limit,
            options=options,
            on_progress=_progress,
        )
        wall = time.perf_counter() - t
        without = choice.without
        name = {
            "cp-sat": "sendmatch CP-SAT",
            "mip": "sendmatch MIP (HiGHS)",
            "enumerate": "sendmatch enumerate (exact flow per subset)",
            "benders": "sendmatch Benders (exact flow per master step)",
        }.get(solver, f"sendmatch {solver}")
        rows.append(_row(name, choice.with_sites, wall, _gap(choice)))
        details.append(_detail(name, choice, args.time_limit))
        print(rows[-1], flush=True)
    assert without is not None
    rows.append(_row("no new site", without, None, ""))
    pm = p_median(inst.children, candidates, args.k, travel, args.pmedian_time_limit)
    places = max(o.places for o in options) if options else args.places
    if isinstance(pm, str):
        pm_line = f"- spopt p-median: {pm}."
    else:
        chosen, pm_wall, pm_status = pm
        sites = [candidate_setting(candidates[j], DESIGNATIONS, places) for j in chosen]
        settings = [*inst.settings, *sites]
        placement = PlacementConfig(objective_order=("cost", "travel"))
        result = place(inst.children, settings, travel(inst.children, settings), placement)
        ids = ", ".join(candidates[j].site_id for j in chosen)
        rows.append(
            _row(
                f"spopt p-median ({ids}; {pm_status}), re-solved by flow",
                Totals.of(result),
                pm_wall,
                "",
            )
        )
        pm_line = (
            "- spopt p-median (spopt "
            + _version("spopt")
            + f", {pm_status.split()[0]} via PuLP): minimises minutes from each ASD/SEMH "
            "child to its nearest open candidate, ignoring capacity, existing settings, age "
            "ranges and cost; wall s is "
            "the p-median solve alone; its sites are then placed with the exact flow, so all "
            "rows are judged on the same two levels (children placed with preferences, then £)."
        )

    label = args.label or (
        f"{args.children:,} children, {args.candidates} candidates, k={args.k}, "
        + ("road grid" if args.road_grid_m else "straight line")
    )
    text = "\n".join(
        [
            f"### {label}",
            "",
            f"- Machine: {platform.platform()}; {machine()['processor']}; "
            f"{machine()['cpus']} CPUs (shared with other jobs while this ran); Python "
            f"{platform.python_version()}",
            f"- Date: {utc_date()}",
            "- Command: `.venv/bin/python benchmarks/site_choice.py "
            + " ".join(sys.argv[1:])
            + "`",
            f"- Data: `calibrated_instance({args.children}, {args.settings}, "
            f"seed {args.seed + args.children})`, {travel_text}; {args.candidates} "
            f"candidate points uniform in the same box; k={args.k} new special schools for "
            f"{'/'.join(DESIGNATIONS)}, "
            + (f"one of {args.sizes} places each" if options else f"{args.places} places")
            + f", ages 4-19; gap {args.gap:g}.",
            *details,
            pm_line,
            "- gap: the cost level's relative gap between the plan and the best proven bound "
            "(the solver's own, and the exact flow with every site open; the LP relaxation "
            "bound, `lp_bound`, is off by default: it did not finish within 60 s at 5,000 "
            "children); £ in brackets is how much a better choice could at most save a year.",
            "",
            "| method | wall s | placed | preferences met (1st / any) | total £ a year | "
            "placement £ | transport £ | total minutes | gap |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if not args.no_write:
        write_section(merge_run(RESULTS, label, text), RESULTS, section=SECTION)
    return 0


def merge_run(path: Path, label: str, block: str) -> str:
    """The whole "Site choice" section with this run's sub-section replaced or added."""
    current = path.read_text() if path.exists() else ""
    found = re.search(rf"^{re.escape(SECTION)}\n(.*?)(?=^## |\Z)", current, re.S | re.M)
    body = found.group(1) if found else ""
    runs = re.findall(r"^(### .*?)(?=^### |\Z)", body, re.S | re.M)
    heading = f"### {label}"
    runs = [r.rstrip() for r in runs if r.splitlines()[0].strip() != heading]
    return "\n\n".join([SECTION, INTRO, *runs, block.rstrip()])


def _detail(name: str, choice: SiteChoice, time_limit: float) -> str:
    chosen_ids = ", ".join(
        f"{c.site.site_id}{f' at {c.option.places} places' if c.option else ''} "
        f"({c.children} children: " + ", ".join(f"{n} {v}" for n, v in c.by_need.items()) + ")"
        for c in choice.chosen
    )
    first, second = choice.levels
    if choice.solver in ("enumerate", "benders"):
        model = f"every child in every flow ({choice.flows} flows)"
    else:
        model = (
            f"{choice.scope_children} children in the model ({choice.model_options} option "
            f"variables), {choice.fixed_children} held at the no-new-site plan"
        )
    return (
        f"- {name}: `choose_sites(solver={choice.solver!r})`, time limit {time_limit:g} s; "
        f"{model}; status {choice.status}; level 1 {first.objective:,} (bound "
        f"{first.best_bound:,}), level 2 £{second.objective:,} (bound £{second.best_bound:,}); "
        f"chosen {chosen_ids}; runner-up {_runner_up(choice)}. Wall s includes the travel "
        "matrix, the flows (enumerate, cp-sat and mip also solve each candidate alone), the "
        "bounds and the re-solves."
    )


def _progress(step: BendersProgress) -> None:
    print(
        f"  benders {step.seconds:6.1f} s  level {step.level}  flows {step.flows:3d}  best "
        f"{step.best:,}  bound {step.bound:,}  gap {step.gap:.4%}",
        file=sys.stderr,
        flush=True,
    )


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _runner_up(choice: SiteChoice) -> str:
    r = choice.runner_up
    if r is None:
        return "none seen"
    how = "second best" if r.proven_second else "best other set evaluated"
    return f"{', '.join(r.site_ids)} (£{r.cost:,}, {how})"


def _gap(choice: SiteChoice) -> str:
    if choice.gap == 0:
        return "0 (proven)"
    return f"{choice.gap:.4%} (≤ £{choice.absolute_gap:,})"


def _row(name: str, totals: Totals, wall: float | None, gap: str) -> str:
    w = f"{wall:.1f}" if wall is not None else "–"
    return (
        f"| {name} | {w} | {totals.placed} | {totals.first_preference_met} / "
        f"{totals.any_preference_met} | {totals.total_cost:,} | {totals.placement_cost:,} "
        f"| {totals.transport_cost:,} | {totals.total_minutes:,.1f} | {gap or '–'} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
