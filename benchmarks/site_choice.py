"""Site choice at LA scale: CP-SAT facility location against a PySAL spopt p-median.

    .venv/bin/python benchmarks/site_choice.py [--children 5000 --settings 300] [--no-write]

A whole-LA synthetic caseload (``placement_scale.calibrated_instance``), ``--candidates`` random
candidate points in the same box, ``k`` new ASD/SEMH special schools of ``--places`` places. Our
:func:`matcher.site_choice.choose_sites` is timed and its gap reported. The p-median (spopt, if
installed) minimises weighted minutes from each ASD/SEMH child to the nearest open candidate,
ignoring capacity, existing settings, eligibility and cost: its chosen sites are then re-solved
with the same exact flow so both are judged on children placed and annual £.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geodata.straight_line import straight_line_matrix
from matcher.models import Child, Setting
from matcher.placement import PlacementConfig, place
from matcher.site_choice import CandidateSite, SiteChoice, candidate_setting, choose_sites
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
DESIGNATIONS = ("ASD", "SEMH")


def travel_for(children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
    return straight_line_matrix(
        [c.child_id for c in children],
        [c.home for c in children],
        [s.urn for s in settings],
        [s.location for s in settings],
        cutoff_minutes=CUTOFF,
    )


def p_median(
    children: list[Child], candidates: list[CandidateSite], k: int
) -> tuple[list[int], float] | str:
    """spopt's p-median on minutes (unreachable pairs at 10× the cutoff), or why not run."""
    try:
        import pulp
        from spopt.locate import PMedian
    except ImportError:
        return "spopt not installed"
    clients = [c for c in children if c.primary_need.value in DESIGNATIONS]
    m = travel_for(clients, [candidate_setting(s, DESIGNATIONS, 1) for s in candidates])
    dense = np.full((len(clients), len(candidates)), 10 * CUTOFF)
    dense[m.rows, m.cols] = m.minutes
    t = time.perf_counter()
    model = PMedian.from_cost_matrix(dense, np.ones(len(clients)), p_facilities=k)
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    wall = time.perf_counter() - t
    chosen = [j for j in range(len(candidates)) if model.fac2cli[j]]
    return chosen, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=5000)
    parser.add_argument("--settings", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--places", type=int, default=120)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    inst = calibrated_instance(args.children, args.settings, args.seed + args.children)
    rng = np.random.default_rng(args.seed)
    lat = rng.uniform(-1, 1, args.candidates) * HALF_SIDES[0] * inst.spread + CENTRE[0]
    lon = rng.uniform(-1, 1, args.candidates) * HALF_SIDES[1] * inst.spread + CENTRE[1]
    from matcher.models import Location

    candidates = [
        CandidateSite(f"c{j:02d}", f"Candidate {j}", Location(latitude=a, longitude=b))
        for j, (a, b) in enumerate(zip(lat.tolist(), lon.tolist(), strict=True))
    ]
    t = time.perf_counter()
    choice = choose_sites(
        inst.children,
        inst.settings,
        candidates,
        travel_for,
        args.k,
        DESIGNATIONS,
        args.places,
        time_limit=args.time_limit,
    )
    wall = time.perf_counter() - t

    rows = [_row("sendmatch CP-SAT", choice.with_sites, wall, _gap(choice), choice)]
    rows.append(_row("no new site", choice.without, None, "", None))
    pm = p_median(inst.children, candidates, args.k)
    if isinstance(pm, str):
        pm_line = f"- spopt p-median: {pm}."
    else:
        chosen, pm_wall = pm
        sites = [candidate_setting(candidates[j], DESIGNATIONS, args.places) for j in chosen]
        settings = [*inst.settings, *sites]
        config = PlacementConfig(objective_order=("cost", "travel"))
        result = place(inst.children, settings, travel_for(inst.children, settings), config)
        from matcher.site_choice import Totals

        ids = ", ".join(candidates[j].site_id for j in chosen)
        rows.append(
            _row(f"spopt p-median ({ids}), re-solved by flow", Totals.of(result), pm_wall, "", None)
        )
        pm_line = (
            "- spopt p-median (spopt "
            + _version("spopt")
            + ", CBC via PuLP): minimises minutes from each ASD/SEMH child to its nearest open "
            "candidate, ignoring capacity, existing settings, age ranges and cost; wall s is "
            "the p-median solve alone; its sites are then placed with the exact flow."
        )

    chosen_ids = ", ".join(
        f"{c.site.site_id} ({c.children} children: "
        + ", ".join(f"{n} {v}" for n, v in c.by_need.items())
        + ")"
        for c in choice.chosen
    )
    text = "\n".join(
        [
            "## Site choice",
            "",
            f"- Machine: {platform.platform()}; {machine()['processor']}; "
            f"{machine()['cpus']} CPUs; Python {platform.python_version()}",
            f"- Date: {utc_date()}",
            "- Command: `.venv/bin/python benchmarks/site_choice.py "
            + " ".join(sys.argv[1:])
            + "`",
            f"- Data: `calibrated_instance({args.children}, {args.settings}, "
            f"seed {args.seed + args.children})`, straight-line travel; {args.candidates} "
            f"candidate points uniform in the same box; k={args.k} new special schools for "
            f"{'/'.join(DESIGNATIONS)}, {args.places} places, ages 4-19.",
            f"- sendmatch: `choose_sites`, CP-SAT time limit {args.time_limit:g} s "
            f"({choice.levels[0].name}, then {choice.levels[1].name}), 2 workers; "
            f"{choice.scope_children} children in the model ({choice.model_options} option "
            f"variables), {choice.fixed_children} held at the no-new-site plan; CP-SAT status "
            f"{choice.status}; chosen {chosen_ids}; warm start {', '.join(choice.hint)}. Wall s "
            "includes the travel matrix, one exact flow per candidate alone and the re-solves.",
            pm_line,
            "",
            "| method | wall s | placed | total £ a year | placement £ | transport £ | total "
            "minutes | gap |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if not args.no_write:
        write_section(text, RESULTS, section="## Site choice")
    return 0


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _gap(choice: SiteChoice) -> str:
    if choice.gap == 0:
        return "0 (proven)"
    return f"{choice.gap:.4%} (≤ £{choice.absolute_gap:,})"


def _row(name: str, totals: object, wall: float | None, gap: str, _c: object) -> str:
    from matcher.site_choice import Totals

    assert isinstance(totals, Totals)
    w = f"{wall:.1f}" if wall is not None else "–"
    return (
        f"| {name} | {w} | {totals.placed} | {totals.total_cost:,} | {totals.placement_cost:,} "
        f"| {totals.transport_cost:,} | {totals.total_minutes:,.1f} | {gap or '–'} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
