"""Placement at LA scale: the exact lexicographic flow against a greedy and an assignment baseline.

    .venv/bin/python benchmarks/placement_scale.py [--sizes 1000,5000,25000] [--quick]

For each size a synthetic caseload and set of settings is drawn in a box around an English
county (straight-line travel; the road-network benchmark is separate), the box scaled so that a
child has about 30 eligible options on average. Then, each in its own freshly spawned process so
that wall time and peak memory are that method's alone:

* ``flow place()``: :func:`matcher.placement.place`, exact lexicographic min-cost flow;
* ``flow stages``: the same four stages place() runs, timed one by one, each level of the
  lexicographic solve timed as it starts (``solve_lexicographic``'s ``on_level``), to show
  what each level of the objective costs; and the straight-line travel matrix the instance was
  built with, computed again and timed (place() takes it ready-made, so it is not in the wall);
* ``bare min-cost flow``: one OR-Tools ``SimpleMinCostFlow`` solve of the same placement
  network with one level of costs (an unplaced child costs more than any journey, then tenths
  of a minute), arcs and supplies loaded and the flows read back: the floor any flow-based
  tool pays for a network of that size. place() and its solve are reported as multiples of it;
* ``greedy``: each child in id order to its best option with room, on the same network;
* ``flow (totals)`` and ``LSA (totals)``: a simplified instance with no year-group or provision
  limits (seat expansion cannot nest capacities), solved by the flow and by
  ``scipy.optimize.linear_sum_assignment`` on the child × seat matrix with one weighted cost.

Peak MB is the worker's peak resident set (Linux ``VmHWM``), reset once the instance is loaded,
so it is the method's own peak with the interpreter, libraries and instance resident; "RSS
before" is the resident set just before the method started. Not ``ru_maxrss``: a spawned child
inherits its parent's high-water mark at exec, so it would charge the parent's data.

The script exits non-zero, with a FAIL line, if the flow's objective is ever lexicographically
worse than a baseline's, if any solution breaks a capacity, if place() and its stages differ, if
the solver's level objectives differ from those recomputed from the plan it returned, or if the
travel matrix computed again differs from the instance's.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import multiprocessing as mp
import os
import pickle
import platform
import pstats
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from geodata.straight_line import straight_line_matrix
from geodata.synthetic import synthetic_caseload, synthetic_settings
from matcher.eligibility import EligibilityConfig, build_arcs
from matcher.lexicographic_flow import LexicographicSolution, solve_lexicographic
from matcher.models import Child, Setting
from matcher.placement import (
    LEVEL_TITLES,
    ChildPlacement,
    PlacementConfig,
    PlacementNetwork,
    build_network,
    explain_solution,
    level_costs,
    level_names,
    place,
)
from matcher.travel import TravelTimeMatrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import (
    LsaWeights,
    Objective,
    check_feasible,
    chosen_from_flows,
    greedy,
    lsa,
    lsa_cells,
    lsa_weights,
    objective,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Placement scale"
SETTINGS_FOR_SIZE = {1000: 150, 5000: 300, 25000: 600}
TARGET_OPTIONS = 30.0  # mean eligible options per child the geography is tuned to
CENTRE = (52.3, -1.1)  # the example county box 52.0-52.6 N, 1.6-0.6 W has half-sides (0.3, 0.5)
HALF_SIDES = (0.3, 0.5)
LSA_MAX_CELLS = 4e8
LSA_MAX_GB = 8.0
TARGET_CHILDREN = 25_000
TARGET_WALL_S = 10.0
TARGET_PEAK_MB = 2048.0
# The bare solve's one level: an unplaced child costs more than any journey in tenths of a
# minute (as benchmarks/round_end_to_end.py's bare process), so placing comes first.
BARE_UNPLACED_COST = 10**7


@dataclass
class Instance:
    children: list[Child]
    settings: list[Setting]
    travel: TravelTimeMatrix
    spread: float  # box scale relative to the example county box
    phase_transfer: bool


@dataclass
class Row:
    size: int
    children: int
    settings: int
    arcs: int
    method: str
    wall_s: float | None = None
    peak_mb: float | None = None
    rss_before_mb: float | None = None
    objective: Objective | None = None
    note: str = ""
    stages: dict[str, float] = field(default_factory=dict)
    levels: dict[str, float] = field(default_factory=dict)  # seconds per objective level
    level_arcs: dict[str, int] = field(default_factory=dict)  # arcs left in each level's solver
    cpu_s: float | None = None  # CPU seconds of the timed work, where the method measures it
    solve_cpu_s: float | None = None


# --------------------------------------------------------------------------------------------
# Data


def _box_points(
    rng: np.random.Generator, n: int, spread: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    lat = rng.uniform(CENTRE[0] - HALF_SIDES[0] * spread, CENTRE[0] + HALF_SIDES[0] * spread, n)
    lon = rng.uniform(CENTRE[1] - HALF_SIDES[1] * spread, CENTRE[1] + HALF_SIDES[1] * spread, n)
    return lat, lon


def make_instance(
    n_children: int,
    n_settings: int,
    seed: int,
    spread: float,
    phase_transfer: bool = False,
    expected_children: int | None = None,
) -> Instance:
    """``geodata.synthetic`` settings and caseload on uniform points in the county box scaled
    by ``spread``, with straight-line travel times.

    Settings pick distinct points from a pool of 4 candidates per setting (the generator puts
    out-of-area settings on the pool's edge); homes are drawn from one point per child.
    Vacancies are sized by the generator for ``expected_children`` (default ``n_children``).
    """
    rng = np.random.default_rng(seed)
    s_lat, s_lon = _box_points(rng, 4 * n_settings, spread)
    c_lat, c_lon = _box_points(rng, n_children, spread)
    settings = synthetic_settings(
        n_settings,
        s_lat,
        s_lon,
        seed,
        expected_children=expected_children or n_children,
        phase_transfer=phase_transfer,
    )
    children = synthetic_caseload(
        n_children, settings, c_lat, c_lon, seed, phase_transfer=phase_transfer
    )
    travel = straight_line_matrix(
        [c.child_id for c in children],
        [c.home for c in children],
        [s.urn for s in settings],
        [s.location for s in settings],
        cutoff_minutes=EligibilityConfig().cutoff_minutes,
    )
    return Instance(children, settings, travel, spread, phase_transfer)


def options_per_child(instance: Instance) -> tuple[float, float]:
    """Mean eligible options (arcs) and mean eligible settings per child."""
    arcs = build_arcs(instance.children, instance.settings, instance.travel)
    n = len(instance.children)
    pairs = len(np.unique(arcs.child.astype(np.int64) * len(instance.settings) + arcs.setting))
    return len(arcs) / n, pairs / n


def calibrated_instance(
    n_children: int, n_settings: int, seed: int, phase_transfer: bool = False
) -> Instance:
    """Scale the box until a child has about TARGET_OPTIONS eligible options on average.

    Options per child fall roughly with the box's area, so each step rescales the sides by
    sqrt(measured / target), measured on a sample of children with the full set of settings.
    """
    sample = min(n_children, 3000)
    spread = 1.0
    for _ in range(6):
        probe = make_instance(sample, n_settings, seed, spread, phase_transfer, n_children)
        mean, _ = options_per_child(probe)
        if abs(mean / TARGET_OPTIONS - 1) < 0.05:
            break
        spread *= float(np.sqrt(mean / TARGET_OPTIONS))
    return make_instance(n_children, n_settings, seed, spread, phase_transfer)


def simplify_settings(settings: Sequence[Setting]) -> list[Setting]:
    """Settings with their total places only: no year-group limits, no provisions."""
    return [
        s.model_copy(update={"year_places": {}, "year_on_roll": {}, "provisions": ()})
        for s in settings
    ]


# --------------------------------------------------------------------------------------------
# Methods, each run in a spawned worker process


def _memory_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process in MiB: VmRSS and VmHWM on Linux.

    Not ``ru_maxrss``: in a spawned child it starts at the *parent's* peak (exec records the
    forking process's high-water mark), so it would charge the parent's instance to the method.
    """
    with contextlib.suppress(OSError):
        status = Path("/proc/self/status").read_text()
        found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        if len(found) == 2:
            return int(found["VmRSS"]) / 1024, int(found["VmHWM"]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return peak, peak


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0), so the next peak is the method's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _prepare(
    children: Sequence[Child], settings: Sequence[Setting], travel: TravelTimeMatrix
) -> tuple[PlacementConfig, PlacementNetwork, list[npt.NDArray[np.int64]]]:
    config = PlacementConfig()
    arcs = build_arcs(children, settings, travel, config.eligibility)
    network = build_network(children, settings, arcs, config)
    levels = level_costs(network, len(children), config.objective_order)
    return config, network, levels


def run_place(inst: Instance) -> dict[str, Any]:
    t, cpu = time.perf_counter(), time.process_time()
    result = place(inst.children, inst.settings, inst.travel)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "objective": placed_objective(inst.children, result.placements),
        "arcs": result.summary.eligible_arcs,
    }


def placed_objective(children: Sequence[Child], placements: Sequence[ChildPlacement]) -> Objective:
    """The objective read back from place()'s rows, independently of the level arrays."""
    placed = [(c, r) for c, r in zip(children, placements, strict=True) if r.setting_urn]
    ranks = [r.preference_rank or 0 for _, r in placed]
    met = sum(1 for c, r in placed if c.preferences and r.preference_rank)
    return Objective(
        placed=len(placed),
        preferences_unmet=sum(1 for c in children if c.preferences) - met,
        rank_cost=sum(r - 1 for r in ranks if r),
        first_preferences=ranks.count(1),
        tenths=sum(round((r.minutes or 0.0) * 10) for _, r in placed),
        pounds=sum(r.placement_cost + r.transport_cost for _, r in placed),
    )


def run_stages(inst: Instance) -> dict[str, Any]:
    """place(), stage by stage, as place() calls them, each level of the solve timed as it starts;
    then the travel matrix again, timed apart."""
    stages: dict[str, float] = {}
    t = time.perf_counter()
    config = PlacementConfig()
    arcs = build_arcs(inst.children, inst.settings, inst.travel, config.eligibility)
    stages["build_arcs"] = time.perf_counter() - t
    t = time.perf_counter()
    network = build_network(inst.children, inst.settings, arcs, config)
    stages["build_network"] = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    levels = level_costs(network, len(inst.children), config.objective_order)
    starts: list[tuple[float, int]] = []
    solution = solve_lexicographic(
        network.flow,
        levels,
        on_level=lambda _level, live: starts.append((time.perf_counter(), live)),
    )
    done = time.perf_counter()
    stages["solve_lexicographic"] = done - t
    solve_cpu = time.process_time() - cpu
    level_times = [
        (end - start, live)
        for (start, live), end in zip(starts, [s for s, _ in starts[1:]] + [done], strict=True)
    ]
    t = time.perf_counter()
    explain_solution(
        inst.children, inst.settings, network, solution.flows, inst.travel.model, config
    )
    stages["explain_solution"] = time.perf_counter() - t
    wall = sum(stages.values())
    travel_s, travel_problems = _travel_again(inst)
    names = level_names(config.objective_order)
    n = len(inst.children)
    chosen = chosen_from_flows(network, n, solution.flows)
    obj = objective(network, levels, chosen, config.objective_order)
    problems = check_feasible(network, n, chosen)
    problems.extend(_level_problems(network, chosen, obj, solution))
    problems.extend(travel_problems)
    return {
        "wall_s": wall,
        "objective": obj,
        "stages": stages,
        "travel_s": travel_s,
        "solve_cpu_s": solve_cpu,
        "levels": {name: s for name, (s, _) in zip(names, level_times, strict=True)},
        "level_arcs": {name: a for name, (_, a) in zip(names, level_times, strict=True)},
        "arcs": len(arcs),
        "problems": problems,
    }


def _travel_again(inst: Instance) -> tuple[float, list[str]]:
    """The instance's straight-line matrix computed again: seconds, and any difference."""
    t = time.perf_counter()
    travel = straight_line_matrix(
        [c.child_id for c in inst.children],
        [c.home for c in inst.children],
        [s.urn for s in inst.settings],
        [s.location for s in inst.settings],
        cutoff_minutes=EligibilityConfig().cutoff_minutes,
    )
    seconds = time.perf_counter() - t
    same = all(
        np.array_equal(getattr(travel, name), getattr(inst.travel, name))
        for name in ("rows", "cols", "minutes")
    )
    return seconds, [] if same else ["the straight-line matrix computed again differs"]


def run_bare(inst: Instance) -> dict[str, Any]:
    """One ``SimpleMinCostFlow`` solve of the placement network, one level of costs."""
    _, network, levels = _prepare(inst.children, inst.settings, inst.travel)
    flow = network.flow
    cost = levels[3] + levels[0] * BARE_UNPLACED_COST
    t, cpu = time.perf_counter(), time.process_time()
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(flow.tails, flow.heads, flow.capacities, cost)
    solver.set_nodes_supplies(np.arange(flow.n_nodes), flow.supplies)
    status = solver.solve()
    flows = solver.flows(np.arange(len(flow.tails)))
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    problems = [] if status == solver.OPTIMAL else [f"bare solve ended with status {status!r}"]
    placed = int(flows[: network.n_options].sum())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "problems": problems,
        "arcs": network.n_options,
        "placed": placed,
    }


def _level_problems(
    network: PlacementNetwork,
    chosen: npt.NDArray[np.int64],
    obj: Objective,
    solution: LexicographicSolution,
) -> list[str]:
    """The solver's level objectives against the plan it returned, recomputed two ways.

    Once from the level arrays (``objective``), once from what the levels mean (children with
    preferences and none met, ranks, minutes, pounds), so a level array that priced the wrong
    thing would show.
    """
    n = len(chosen)
    arcs = network.arcs
    used = chosen[chosen >= 0]
    rank = arcs.preference_rank[used].astype(np.int64)
    met = np.zeros(n, bool)
    met[arcs.child[used[rank > 0]]] = True
    meaning = (  # in the default order, travel before cost, as obj.level_objectives
        n - len(used),
        int((network.has_preferences & ~met).sum()),
        int((rank[rank > 0] - 1).sum()),
        int(np.rint(arcs.minutes[used].astype(np.float64) * 10).sum()),
        int((network.placement_cost[used] + network.transport_cost[used]).sum()),
    )
    problems = []
    reported = tuple(solution.level_objectives)
    if len(reported) != len(meaning):
        problems.append(f"{len(reported)} level objectives, expected {len(meaning)}")
    if reported != obj.level_objectives(n):
        problems.append(f"level objectives {reported} != {obj.level_objectives(n)} from the plan")
    if reported != meaning:
        problems.append(f"level objectives {reported} != {meaning} from what the levels mean")
    return problems


def run_greedy(inst: Instance) -> dict[str, Any]:
    stages: dict[str, float] = {}
    t = time.perf_counter()
    _, network, levels = _prepare(inst.children, inst.settings, inst.travel)
    stages["build_arcs+build_network"] = time.perf_counter() - t
    t = time.perf_counter()
    ids = np.array([c.child_id for c in inst.children])
    chosen = greedy(network, levels, len(inst.children), np.argsort(ids, kind="stable"))
    stages["greedy"] = time.perf_counter() - t
    return {
        "objective": objective(network, levels, chosen),
        "stages": stages,
        "problems": check_feasible(network, len(inst.children), chosen),
    }


def run_flow_totals(inst: Instance) -> dict[str, Any]:
    stages: dict[str, float] = {}
    settings = simplify_settings(inst.settings)
    t = time.perf_counter()
    _, network, levels = _prepare(inst.children, settings, inst.travel)
    stages["build_arcs+build_network"] = time.perf_counter() - t
    t = time.perf_counter()
    solution = solve_lexicographic(network.flow, levels)
    stages["solve_lexicographic"] = time.perf_counter() - t
    chosen = chosen_from_flows(network, len(inst.children), solution.flows)
    return {
        "objective": objective(network, levels, chosen),
        "stages": stages,
        "arcs": network.n_options,
    }


def run_lsa(inst: Instance) -> dict[str, Any]:
    stages: dict[str, float] = {}
    settings = simplify_settings(inst.settings)
    n, m = len(inst.children), len(settings)
    t = time.perf_counter()
    _, network, levels = _prepare(inst.children, settings, inst.travel)
    stages["build_arcs+build_network"] = time.perf_counter() - t
    weights = lsa_weights(network, levels, n)
    t = time.perf_counter()
    chosen = lsa(network, levels, n, m, weights)
    stages["matrix+linear_sum_assignment"] = time.perf_counter() - t
    return {
        "objective": objective(network, levels, chosen),
        "stages": stages,
        "problems": check_feasible(network, n, chosen),
        "weights": weights,
        "seats": lsa_cells(network, m, n) // max(n, 1),
    }


METHODS: dict[str, Callable[[Instance], dict[str, Any]]] = {
    "flow place()": run_place,
    "flow stages": run_stages,
    "bare min-cost flow": run_bare,
    "greedy": run_greedy,
    "flow (totals)": run_flow_totals,
    "LSA (totals)": run_lsa,
}


def _worker(conn: Any, method: str, path: str, profile_to: str | None) -> None:
    """Spawned: load the instance, run one method, send back its result, time and peak RSS."""
    with open(path, "rb") as fh:
        inst = pickle.load(fh)
    _reset_peak()
    before, _ = _memory_mb()
    profiler = cProfile.Profile() if profile_to else None
    t = time.perf_counter()
    if profiler:
        profiler.enable()
    out = METHODS[method](inst)
    if profiler:
        profiler.disable()
    out.setdefault("wall_s", time.perf_counter() - t)
    out["peak_mb"] = _memory_mb()[1]
    out["rss_before_mb"] = before
    if profiler and profile_to:
        profiler.dump_stats(profile_to)
    conn.send(out)
    conn.close()


def run_method(
    method: str, path: str, timeout_s: float, profile_to: str | None = None
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(send, method, path, profile_to))
    proc.start()
    send.close()
    if not receive.poll(timeout_s):
        proc.terminate()
        proc.join()
        return {"error": f"timed out after {timeout_s:g} s"}
    try:
        out: dict[str, Any] = receive.recv()
    except EOFError:
        out = {"error": "worker died"}
    proc.join()
    if proc.exitcode not in (0, None) and "error" not in out:
        out["error"] = f"worker exit code {proc.exitcode}"
    return out


# --------------------------------------------------------------------------------------------
# Reporting


def machine() -> dict[str, str]:
    processor = platform.processor()
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if found:
            processor = found.group(1).strip()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "platform": platform.platform(),
        "processor": processor or "unknown",
        "cpus": str(os.cpu_count()),
        "ram": f"{ram:.1f} GiB",
        "python": platform.python_version(),
    }


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def utc_date() -> str:
    try:
        return subprocess.run(
            ["date", "-u"], check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())


def _fmt(value: float | int | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table(rows: Sequence[Row]) -> str:
    head = (
        "| size | children | settings | eligible arcs | method | wall s | peak MB | RSS before MB "
        "| placed | pref unmet | rank total | first-pref met | total minutes | total £ | note |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        o = r.objective
        lines.append(
            f"| {r.size} | {r.children} | {r.settings} | {r.arcs} | {r.method} "
            f"| {_fmt(r.wall_s, '.2f')} | {_fmt(r.peak_mb, '.0f')} "
            f"| {_fmt(r.rss_before_mb, '.0f')} "
            f"| {_fmt(o.placed if o else None, 'd')} "
            f"| {_fmt(o.preferences_unmet if o else None, 'd')} "
            f"| {_fmt(o.rank_cost if o else None, 'd')} "
            f"| {_fmt(o.first_preferences if o else None, 'd')} "
            f"| {_fmt(o.minutes if o else None, ',.1f')} | {_fmt(o.pounds if o else None, ',d')} "
            f"| {r.note} |"
        )
    return "\n".join(lines)


def write_section(text: str, path: Path = RESULTS, section: str = SECTION) -> None:
    """Replace (or append) one benchmark's section, leaving every other section as it is."""
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.rstrip() + "\n\n"
    if pattern.search(current):
        updated = pattern.sub(lambda _m: block, current, count=1)
    else:
        updated = current.rstrip() + "\n\n" + block
    path.write_text(updated.rstrip() + "\n")


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="children per size, e.g. 1000,5000,25000")
    parser.add_argument("--quick", action="store_true", help="1k only, no stage run, no write")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per method, seconds")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--phase-transfer",
        action="store_true",
        help="a phase-transfer round's year mix instead of a whole-caseload re-plan",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each flow method (median wall reported)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile place() at each size")
    args = parser.parse_args(argv)
    sizes = [
        int(s) for s in (args.sizes or ("1000" if args.quick else "1000,5000,25000")).split(",")
    ]
    write = not (args.quick or args.no_write)
    generator = (
        "geodata.synthetic, "
        + ("a phase-transfer round" if args.phase_transfer else "a whole-caseload re-plan")
        + f", seed {args.seed} + size"
    )
    print(f"data: {generator}; travel: straight-line estimate")

    load_start = _load()
    rows: list[Row] = []
    failures: list[str] = []
    calibration: list[str] = []
    profiles: list[str] = []
    with tempfile.TemporaryDirectory(prefix="placement_scale_") as tmp:
        for size in sizes:
            n_settings = SETTINGS_FOR_SIZE.get(size, max(20, round(150 * (size / 1000) ** 0.43)))
            t = time.perf_counter()
            inst = calibrated_instance(size, n_settings, args.seed + size, args.phase_transfer)
            options, eligible_settings = options_per_child(inst)
            calibration.append(
                f"{size}: box scale {inst.spread:.3f} × the example county box "
                f"(≈ {2 * HALF_SIDES[0] * inst.spread * 111.2:.0f} km N-S × "
                f"{2 * HALF_SIDES[1] * inst.spread * 111.2 * np.cos(np.radians(CENTRE[0])):.0f} "
                f"km E-W); {options:.1f} eligible options and {eligible_settings:.1f} eligible "
                f"settings per child; "
                f"{sum(s.places_left for s in inst.settings) / size:.2f} places left per child"
            )
            print(f"[{size}] instance in {time.perf_counter() - t:.1f} s: {calibration[-1]}")
            path = os.path.join(tmp, f"instance_{size}.pkl")
            with open(path, "wb") as fh:
                pickle.dump(inst, fh, protocol=pickle.HIGHEST_PROTOCOL)
            del inst
            methods = [m for m in METHODS if not (args.quick and m == "flow stages")]
            results: dict[str, dict[str, Any]] = {}
            for method in methods:
                if method == "LSA (totals)":
                    skip = _lsa_skip(path, size)
                    if skip:
                        results[method] = {"error": skip}
                        print(f"[{size}] {method}: {skip}")
                        continue
                runs = args.repeat if method.startswith(("flow", "bare")) else 1
                out = _repeated(method, path, args.timeout, runs)
                results[method] = out
                print(f"[{size}] {method}: " + _summary(out))
            if args.profile:
                prof = os.path.join(tmp, f"place_{size}.prof")
                out = run_method("flow place()", path, args.timeout, prof)
                if os.path.exists(prof):
                    profiles.append(
                        f"### place(), {size} children, under cProfile "
                        f"({out.get('wall_s', float('nan')):.1f} s with the profiler on)\n\n"
                        f"```\n{_top(prof)}\n```"
                    )
            rows.extend(_rows(size, n_settings, results))
            failures.extend(_verify(size, results))

    text = _section((load_start, _load()), sizes, rows, calibration, generator, argv)
    print()
    print(text)
    for p in profiles:
        print(p)
    for f in failures:
        print(f"FAIL: {f}")
    if write:
        write_section(text)
        print(f"wrote {RESULTS.relative_to(REPO)}")
    return 1 if failures else 0


def _repeated(method: str, path: str, timeout_s: float, runs: int) -> dict[str, Any]:
    """Run ``runs`` times: median wall, largest peak, the first run's answer."""
    outs = [run_method(method, path, timeout_s) for _ in range(max(runs, 1))]
    failed = [o for o in outs if "error" in o]
    if failed:
        return failed[0]
    out = dict(outs[0])
    out["wall_s"] = float(np.median([o["wall_s"] for o in outs]))
    out["wall_min_s"] = min(o["wall_s"] for o in outs)
    out["peak_mb"] = max(o["peak_mb"] for o in outs)
    out["runs"] = len(outs)
    for seconds in ("travel_s", "cpu_s", "solve_cpu_s"):
        if seconds in out:
            out[seconds] = float(np.median([o[seconds] for o in outs]))
    for timings in ("stages", "levels"):
        if timings in out:
            out[timings] = {
                name: float(np.median([o[timings][name] for o in outs])) for name in out[timings]
            }
    return out


def _lsa_skip(path: str, size: int) -> str | None:
    """Skip LSA where its dense matrix would not fit, saying how much it would need."""
    with open(path, "rb") as fh:
        inst: Instance = pickle.load(fh)
    settings = simplify_settings(inst.settings)
    _, network, _ = _prepare(inst.children, settings, inst.travel)
    cells = lsa_cells(network, len(settings), len(inst.children))
    gb = cells * 8 / 1e9
    if cells > LSA_MAX_CELLS or gb > LSA_MAX_GB:
        return f"skipped: would need {gb:.1f} GB ({cells:.2e} cells of float64)"
    return None


def _summary(out: dict[str, Any]) -> str:
    if "error" in out:
        return str(out["error"])
    obj = out.get("objective")
    extra = f", objective {obj.key()}" if isinstance(obj, Objective) else ""
    return f"{out['wall_s']:.2f} s, peak {out['peak_mb']:.0f} MB{extra}"


def _top(prof: str, n: int = 25) -> str:
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(n)
    return buf.getvalue().strip()


def _rows(size: int, n_settings: int, results: dict[str, dict[str, Any]]) -> list[Row]:
    stages = results.get("flow stages", {})
    arcs = int(results.get("flow place()", {}).get("arcs", stages.get("arcs", 0)))
    totals_arcs = int(results.get("flow (totals)", {}).get("arcs", 0))
    rows = []
    for method, out in results.items():
        row = Row(size, size, n_settings, totals_arcs if "totals" in method else arcs, method)
        if "error" in out:
            row.note = str(out["error"])
            rows.append(row)
            continue
        row.wall_s, row.peak_mb, row.rss_before_mb = (
            out["wall_s"],
            out["peak_mb"],
            out["rss_before_mb"],
        )
        row.stages = dict(out.get("stages", {}))
        row.levels = dict(out.get("levels", {}))
        row.level_arcs = dict(out.get("level_arcs", {}))
        row.cpu_s, row.solve_cpu_s = out.get("cpu_s"), out.get("solve_cpu_s")
        if isinstance(out.get("objective"), Objective):
            row.objective = out["objective"]
        notes = []
        if out.get("runs", 1) > 1:
            notes.append(f"median of {out['runs']} runs, fastest {out['wall_min_s']:.2f} s")
        notes.extend(f"{name} {s:.2f} s" for name, s in row.stages.items())
        if "cpu_s" in out:
            notes.append(f"CPU {out['cpu_s']:.2f} s")
        if "solve_cpu_s" in out:
            notes.append(f"solve_lexicographic CPU {out['solve_cpu_s']:.2f} s")
        if "travel_s" in out:
            notes.append(f"the straight-line matrix again {out['travel_s']:.2f} s (not in wall)")
        if method == "bare min-cost flow":
            notes.append(f"one level of costs, all arcs; {out['placed']} placed")
        if row.levels:
            notes.append(
                "levels solved one by one: "
                + ", ".join(f"{name} {s:.2f} s" for name, s in row.levels.items())
            )
        if method == "LSA (totals)":
            w: LsaWeights = out["weights"]
            notes.append(
                f"{out['seats']} seats; weights "
                + ", ".join(
                    f"{name} {value:.3g}" for name, value in zip(w.names, w.weights, strict=True)
                )
                + ("" if w.exact else " (placed exact; lower levels per option, not exact)")
            )
        row.note = "; ".join(notes)
        rows.append(row)
    return rows


def _verify(size: int, results: dict[str, dict[str, Any]]) -> list[str]:
    """The flow is never lexicographically worse than a baseline; baselines are feasible."""
    failures = []
    for method, out in results.items():
        if "error" in out and not str(out["error"]).startswith("skipped"):
            failures.append(f"{size}: {method} did not finish: {out['error']}")
        for problem in out.get("problems", []):
            failures.append(f"{size}: {method} is infeasible: {problem}")

    def obj(method: str) -> Objective | None:
        value = results.get(method, {}).get("objective")
        return value if isinstance(value, Objective) else None

    pairs = [("flow stages", "greedy"), ("flow (totals)", "LSA (totals)")]
    for flow_method, baseline in pairs:
        f, b = obj(flow_method), obj(baseline)
        if f is not None and b is not None and f.key() > b.key():
            failures.append(
                f"{size}: {flow_method} {f.key()} is lexicographically worse than "
                f"{baseline} {b.key()}"
            )
    stages, placed = obj("flow stages"), obj("flow place()")
    if stages is not None and placed is not None and stages != placed:
        failures.append(
            f"{size}: place() {placed} and its stages run {stages} disagree on the optimum"
        )
    return failures


def _section(
    loads: tuple[str, str],
    sizes: Sequence[int],
    rows: Sequence[Row],
    calibration: Sequence[str],
    generator: str,
    argv: Sequence[str] | None,
) -> str:
    m = machine()
    command = shlex.join(
        [
            os.path.relpath(sys.executable, REPO),
            "benchmarks/placement_scale.py",
            *(sys.argv[1:] if argv is None else argv),
        ]
    )
    lines = [
        SECTION,
        "",
        f"Target: {TARGET_CHILDREN:,} children solved to proven optimality (exact "
        f"lexicographic min-cost flow, `place()`) in < {TARGET_WALL_S:g} s wall and "
        f"< {TARGET_PEAK_MB / 1024:g} GB.",
        "",
        f"- Machine: {m['platform']}; {m['processor']}; {m['cpus']} CPUs; {m['ram']} RAM; "
        f"Python {m['python']}; load average (1/5/15 min) {loads[0]} at the start, "
        f"{loads[1]} at the end (other jobs share the machine: wall times are noisy)",
        f"- Command: `{command}`",
        f"- Date: {utc_date()}",
        f"- Data: {generator}; settings and homes uniform in a box centred on "
        f"{CENTRE[0]} N {abs(CENTRE[1])} W, scaled per size so that a child has ~"
        f"{TARGET_OPTIONS:g} eligible options; straight-line travel "
        "(haversine × 1.3 ÷ 30 km/h), DfE 45/75-minute limits.",
        *(f"  - {c}" for c in calibration),
        "- Each method runs in its own spawned process; wall s is that method alone (the "
        "instance is loaded before the clock starts); peak MB is the worker's peak resident "
        "set (`VmHWM`, reset after the instance is loaded, so: the method's peak with the "
        "interpreter, numpy/OR-Tools and the instance resident); RSS before MB is the resident "
        "set as the method starts. Not `ru_maxrss`, which a spawned child inherits from its "
        "parent's high-water mark.",
        "- Objective, five levels each solved exactly in turn (`matcher.placement.level_costs`): "
        "(1) children placed; (2) children whose parents named settings and got none of them "
        "(pref unmet: 1 for such a child on any setting that is not one of their preferences, "
        "and when unplaced); (3) total preference rank (rank total: a k-th preference costs "
        "k−1, any other setting 0); (4) total minutes (in tenths); (5) total £ (placement + "
        "transport a year). first-pref met is reported, not optimised.",
        "- `flow place()` is `matcher.placement.place()`; `flow stages` runs its four stages "
        "directly (times in the note; wall s is their sum), timing each level of the solve as "
        "it starts (per-level table below), and then the instance's straight-line travel "
        "matrix again (place() takes it ready-made: in the note, not in wall s); `bare "
        "min-cost flow` is one OR-Tools `SimpleMinCostFlow` solve of the same network with one "
        "level of costs (unplaced 10^7, then tenths of a minute; loading arcs, solving and "
        "reading flows back), the floor for a network of that size; `greedy` takes "
        "children in id order, each to its best option with room at every capacity level of "
        "the same network (a preference before any other setting, then rank, minutes, £; its "
        "wall includes building the eligibility arcs and network).",
        "- `flow (totals)` and `LSA (totals)` solve a simplified instance: year-group limits and "
        "resourced provisions removed, each setting its total places only, because seat "
        "expansion cannot represent nested capacities. LSA is "
        "`scipy.optimize.linear_sum_assignment` on a dense child × seat matrix (a setting's "
        "places as seats, capped at the children eligible for it); each cell is priced against "
        "leaving its child unplaced (other children's seats 0, the child's own options their "
        "weighted cost less the child's weighted unplaced cost, which is higher for a child "
        "whose parents named settings), which stands in for a dummy unplaced column per child. "
        "It minimises one weighted sum: where exact lexicographic weights would pass 2^53 "
        "(float64's exact integers), only the placed level is exact (an unplaced child "
        "outweighs all other costs together) and each level below is weighted to dominate the "
        "next for one option only.",
        "",
        table(rows),
        "",
        *bare_ratio_lines(rows),
        *level_lines(rows),
    ]
    big = [r for r in rows if r.method == "flow place()" and r.size == TARGET_CHILDREN]
    if big and big[0].wall_s is not None and big[0].peak_mb is not None:
        ok = big[0].wall_s < TARGET_WALL_S and big[0].peak_mb < TARGET_PEAK_MB
        lines.append(
            f"Target {'met' if ok else 'MISSED'} at {TARGET_CHILDREN:,} children: "
            f"{big[0].wall_s:.1f} s, {big[0].peak_mb:.0f} MB peak."
        )
    else:
        lines.append(f"Target not measured: {TARGET_CHILDREN:,} was not among the sizes run.")
    lines.extend(previous_run())
    return "\n".join(lines)


def bare_ratio_lines(rows: Sequence[Row]) -> list[str]:
    """place() and the exact solve as multiples of one bare min-cost flow, size by size.

    Wall and CPU both: on a machine shared with other work, CPU seconds are the steadier.
    """
    lines = []
    for size in sorted({r.size for r in rows}):
        by_method = {r.method: r for r in rows if r.size == size}
        bare, place_row = by_method.get("bare min-cost flow"), by_method.get("flow place()")
        stages = by_method.get("flow stages")
        if not (bare and bare.wall_s and place_row and place_row.wall_s):
            continue
        solve = stages.stages.get("solve_lexicographic") if stages else None
        text = (
            f"- {size:,} children: one bare `SimpleMinCostFlow` solve of the network "
            f"{bare.wall_s:.2f} s wall; place() {place_row.wall_s / bare.wall_s:.1f}× it"
            + (f", the exact five-level solve {solve / bare.wall_s:.1f}× it" if solve else "")
        )
        if bare.cpu_s and place_row.cpu_s:
            text += (
                f". In CPU seconds: bare {bare.cpu_s:.2f} s; place() "
                f"{place_row.cpu_s / bare.cpu_s:.1f}× it"
            )
            if stages and stages.solve_cpu_s:
                text += f", the exact five-level solve {stages.solve_cpu_s / bare.cpu_s:.1f}× it"
        lines.append(text + ".")
    if not lines:
        return []
    return [
        "Against the floor, measured in the same run (`bare min-cost flow`: one solve of the "
        "same network, one level of costs; medians over the runs):",
        "",
        *lines,
        "",
    ]


def level_lines(rows: Sequence[Row]) -> list[str]:
    """Seconds, solver arcs and objective of each level, and the preference-met level's share."""
    staged = [r for r in rows if r.method == "flow stages" and r.levels and r.objective]
    if not staged:
        return []
    lines = [
        "Solve time per objective level (`flow stages`, timed inside the solve as each level "
        "starts; a level's time is its flow (a maximum flow for children placed, a min-cost "
        "flow for the rest), its node potentials and cutting the network down to its optimal "
        "face; solver arcs are the arcs still free, i.e. the face, as that level starts; "
        "medians over the runs):",
        "",
        "| size | level | s | solver arcs | objective |",
        "|---|---|---|---|---|",
    ]
    for r in staged:
        values = r.objective.level_objectives(r.children) if r.objective else ()
        for (name, seconds), value in zip(r.levels.items(), values, strict=True):
            lines.append(
                f"| {r.size} | {LEVEL_TITLES[name]} | {seconds:.2f} | {r.level_arcs[name]:,} "
                f"| {value:,} |"
            )
    lines.append("")
    for r in staged:
        if r.size != TARGET_CHILDREN:
            continue
        met, total = r.levels["preference_met"], sum(r.levels.values())
        lines.append(
            f"The preference-met level at {r.size:,} children: {met:.2f} s of the {total:.2f} s "
            f"level-by-level solve ({met / total:.0%}), on {r.level_arcs['preference_met']:,} "
            f"solver arcs against {r.level_arcs['placed']:,} for children placed."
        )
        lines.append("")
    return lines


def previous_run(path: Path = RESULTS, section: str = SECTION) -> list[str]:
    """The date and target line of the run this one replaces, so a change shows side by side."""
    current = path.read_text() if path.exists() else ""
    found = re.search(rf"^{re.escape(section)}\n(.*?)(?=^## |\Z)", current, re.S | re.M)
    if not found:
        return []
    old = found.group(1)
    date = re.search(r"^- Date: (.+)$", old, re.M)
    target = re.search(r"^Target (?:met|MISSED) at .+$", old, re.M)
    if not (date and target):
        return []
    return ["", f"Previous run ({date.group(1)}): {target.group(0)}"]


if __name__ == "__main__":
    sys.exit(main())
