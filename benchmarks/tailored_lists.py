"""Tailored lists at LA scale: every child's list, and one child's list against a warm model.

Targets (issue 16, from issue 4's 30 s and 200 ms): lists for every child of a 25k caseload,
solve included, in at most 10 s on 2 cores, and one child's list against a warm model in at
most 10 ms. The caseload is the same synthetic,
calibrated one as ``placement_scale.py`` (about 30 eligible options per child, straight-line
travel), so the two benchmarks describe the same LA.

Run: ``.venv/bin/python benchmarks/tailored_lists.py [--sizes 1000,5000,25000] [--no-write]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from placement_scale import (
    RESULTS,
    calibrated_instance,
    machine,
    utc_date,
    write_section,
)

from matcher.placement import PlacementConfig
from matcher.tailored import TailoredListConfig, TailoredListModel

SETTINGS_FOR = {1000: 150, 5000: 300, 25000: 600}
SINGLE_CHILD_SAMPLE = 50
TARGET_ALL_S = 10.0  # issue 16: solve, prices and every child's list
TARGET_ONE_MS = 10.0  # issue 16: one child's list against a warm model


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(size: int, seed: int) -> dict[str, float]:
    inst = calibrated_instance(size, SETTINGS_FOR.get(size, max(size // 40, 50)), seed)
    t0 = time.perf_counter()
    model = TailoredListModel(inst.children, inst.settings, inst.travel, PlacementConfig())
    t_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    lists = model.lists(config=TailoredListConfig())
    t_lists = time.perf_counter() - t0
    options = sum(len(tl.options) for tl in lists)
    # One child against the warm model: fresh children each time, so no cached search helps.
    fresh = TailoredListModel(inst.children, inst.settings, inst.travel, PlacementConfig())
    rng = np.random.default_rng(seed)
    ids = rng.choice(len(inst.children), size=min(SINGLE_CHILD_SAMPLE, size), replace=False)
    single = []
    for i in ids.tolist():
        t0 = time.perf_counter()
        fresh.for_child(inst.children[i].child_id)
        single.append(time.perf_counter() - t0)
    return {
        "children": size,
        "settings": len(inst.settings),
        "options_priced": float(model.network.n_options),
        "options_listed": float(options),
        "model_s": t_model,
        "lists_s": t_lists,
        "all_s": t_model + t_lists,
        "single_median_ms": statistics.median(single) * 1000,
        "single_max_ms": max(single) * 1000,
        "peak_mb": _peak_mb(),
    }


def table(rows: Sequence[dict[str, float]]) -> str:
    head = (
        "| children | settings | options priced | options listed | solve + prices s "
        "| all lists s | total s | one child median ms | one child max ms | peak MB |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['children']:,.0f} | {r['settings']:,.0f} | {r['options_priced']:,.0f} "
        f"| {r['options_listed']:,.0f} | {r['model_s']:.1f} | {r['lists_s']:.1f} "
        f"| {r['all_s']:.1f} | {r['single_median_ms']:.1f} | {r['single_max_ms']:.1f} "
        f"| {r['peak_mb']:,.0f} |\n"
        for r in rows
    )
    return head + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,25000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        row = run(size, args.seed)
        print(table([row]), flush=True)
        rows.append(row)
    big = rows[-1]
    verdict = (
        f"Targets at {big['children']:,.0f} children: every list in {big['all_s']:.1f} s "
        f"(target ≤ {TARGET_ALL_S:.0f} s: {'met' if big['all_s'] <= TARGET_ALL_S else 'MISSED'});"
        f" one child in {big['single_median_ms']:.1f} ms median, "
        f"{big['single_max_ms']:.1f} ms max (target ≤ {TARGET_ONE_MS:.0f} ms: "
        f"{'met' if big['single_max_ms'] <= TARGET_ONE_MS else 'MISSED'})."
    )
    print(verdict)
    if not args.no_write:
        m = machine()
        command = "python benchmarks/tailored_lists.py " + " ".join(argv or sys.argv[1:])
        write_section(
            "## Tailored lists\n\n"
            f"Machine: {m['platform']}, {m['processor']}, {m['cpus']} CPUs, {m['ram']} RAM, "
            f"Python {m['python']}. "
            f"Command: `{command.strip()}`. Date: {utc_date()}.\n\n"
            "Solve + prices: the lexicographic flow and the warm pricing model "
            "(`TailoredListModel`, its reduced residual graph and hub searches included). All "
            "lists: every child's options priced by the exact marginal system cost in one bulk "
            "search (`matcher.residual_distances`, one process) and the lists built, with the "
            "nearest 10 exclusions each. One child: `for_child` on a warm model for "
            f"{SINGLE_CHILD_SAMPLE} random children whose searches were not cached. "
            "Peak MB is the process's maximum resident set.\n\n" + table(rows) + "\n" + verdict,
            RESULTS,
            section="## Tailored lists",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
