"""Ways to solve the exact lexicographic levels faster, each measured against what ships.

    .venv/bin/python benchmarks/exact_levels.py [--size 25000] [--repeat 3] [--no-write]

Issue 16 asks for the levels (children placed, preferences met, their ranks, minutes, pounds)
to cost less than a full solve each, keeping the objective exact, and for each idea to be
measured. On the 25,000-child calibrated instance of ``benchmarks/round_end_to_end.py`` (the
same placement network ``sendmatch place`` builds), this times, in one process, median of
``--repeat`` runs:

* **shipped**: :func:`matcher.lexicographic_flow.solve_lexicographic` as ``place`` calls it:
  the first level as a maximum flow, each later level only on the arcs its predecessors left
  free, forced arcs taken out, nodes renumbered, no potentials for the last level;
* **levels 2 and 3 as one**: preferences met and their ranks in one min-cost flow with exact
  weights (the ranks' largest possible total + 1 on "met"), so one solve fewer;
* **levels 3 and 4 as one**: ranks and minutes the same way;
* **restricted arcs, priced**: each later level first on the arcs the previous level's flow
  used plus each child's cheapest arcs at this level, then every arc left out priced with the
  level's potentials and the negative ones added, until none is: column generation, exact.

Every variant must reach the same objective vector as the shipped solver, or the script exits
with a FAIL line. The section it writes says which won.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from placement_scale import SETTINGS_FOR_SIZE, calibrated_instance, machine, utc_date, write_section

from matcher import lexicographic_flow as lf
from matcher.eligibility import build_arcs
from matcher.lexicographic_flow import FlowNetwork, solve_lexicographic
from matcher.placement import PlacementConfig, build_network, level_costs

SECTION = "## Exact levels: ideas measured"
SEED = 2025
IntArray = npt.NDArray[np.int64]


def shipped(network: FlowNetwork, levels: Sequence[IntArray]) -> IntArray:
    return solve_lexicographic(network, levels, priced=False).flows


def merged(first: int) -> Callable[[FlowNetwork, Sequence[IntArray]], IntArray]:
    """Levels ``first`` and ``first + 1`` as one, weighted exactly (each child sends one unit
    down one arc, so the lower level's span is the sum of each child's dearest arc)."""

    def solve(network: FlowNetwork, levels: Sequence[IntArray]) -> IntArray:
        upper, lower = levels[first], levels[first + 1]
        children = network.supplies > 0
        child_arc = children[network.tails]
        dearest = np.zeros(network.n_nodes, np.int64)
        np.maximum.at(dearest, network.tails[child_arc], np.abs(lower[child_arc]))
        weight = int(dearest.sum()) + 1
        joined = [*levels[:first], upper * weight + lower, *levels[first + 2 :]]
        return solve_lexicographic(network, joined, priced=False).flows

    return solve


def restricted(network: FlowNetwork, levels: Sequence[IntArray]) -> IntArray:
    """Column generation within each later level; the first level as shipped."""
    capacities, supplies = network.capacities.copy(), network.supplies.copy()
    fixed = np.zeros(len(network.tails), np.int64)
    residual = lf._ResidualArcs.of(network)
    child_arc = network.supplies[network.tails] > 0
    previous: IntArray | None = None
    for level, costs in enumerate(levels):
        live = capacities > 0
        if previous is None:
            kept = live
        else:
            best = np.full(network.n_nodes, np.iinfo(np.int64).max)
            np.minimum.at(best, network.tails[live], costs[live])
            kept = live & ((previous > 0) | ~child_arc | (costs == best[network.tails]))
        while True:
            own = np.where(kept, capacities, 0)
            stage = FlowNetwork(network.n_nodes, network.tails, network.heads, own, supplies)
            flows = lf._solve_level(stage, costs, own)
            potentials = residual.potentials(costs, own, flows)
            reduced = costs + potentials[network.tails] - potentials[network.heads]
            missing = live & ~kept & (reduced < 0)
            if not missing.any():
                break
            kept |= missing
        previous = flows
        if level == len(levels) - 1:
            return fixed + flows
        saturate = live & (reduced < 0)
        np.add.at(supplies, network.tails[saturate], -capacities[saturate])
        np.add.at(supplies, network.heads[saturate], capacities[saturate])
        fixed = fixed + np.where(saturate, capacities, 0)
        previous = np.where(saturate, 0, previous)
        capacities = np.where(live & (reduced != 0), 0, capacities)
    raise AssertionError("no levels")


VARIANTS = {
    "shipped (max flow first, free arcs only, forced arcs out)": shipped,
    "levels 2 and 3 (met, ranks) as one weighted level": merged(1),
    "levels 3 and 4 (ranks, minutes) as one weighted level": merged(2),
    "restricted arcs, priced (column generation)": restricted,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    instance = calibrated_instance(args.size, SETTINGS_FOR_SIZE[args.size], SEED)
    config = PlacementConfig()
    arcs = build_arcs(instance.children, instance.settings, instance.travel, config.eligibility)
    placement = build_network(instance.children, instance.settings, arcs, config)
    levels = level_costs(placement, len(instance.children))
    network = placement.flow
    rows, reference = [], None
    for name, solve in VARIANTS.items():
        times, objective = [], None
        for _ in range(args.repeat):
            start = time.perf_counter()
            flows = solve(network, levels)
            times.append(time.perf_counter() - start)
            objective = tuple(int((costs * flows).sum()) for costs in levels)
        reference = reference or objective
        if objective != reference:
            sys.exit(f"FAIL: {name} reached {objective}, the shipped solver {reference}")
        runs = ", ".join(f"{t:.2f}" for t in times)
        rows.append(f"| {name} | {statistics.median(times):.2f} | {runs} |")
        print(rows[-1], flush=True)
    m = machine()
    text = "\n".join(
        [
            SECTION,
            "",
            f"Machine: {m['platform']}, {m['processor']}, {m['cpus']} CPUs, {m['ram']} RAM, "
            f"Python {m['python']}. Date: {utc_date()}.",
            f"Command: `python benchmarks/exact_levels.py --size {args.size} --repeat "
            f"{args.repeat}`.",
            "",
            f"The five levels of `sendmatch place` on the {args.size:,}-child calibrated "
            f"instance ({len(network.tails):,} arcs), solved in one process; every variant "
            f"reached the same objective vector {reference}. Seconds, median of "
            f"{args.repeat}.",
            "",
            "| how the levels are solved | solve s | runs (s) |",
            "|---|---:|---|",
            *rows,
            "",
        ]
    )
    if not args.no_write:
        write_section(text, section=SECTION)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
