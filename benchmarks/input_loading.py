"""Loading a round's input files: 25,000 children and 600 settings as CSV, ``io.load_round``.

Issue 16: reading and checking the caseload took about 3.7 s of a whole-LA ``sendmatch place``
(a pydantic model and per-cell parsing for every row). The files are the same synthetic,
calibrated LA as ``placement_scale.py`` and ``api_load.py`` (``calibrated_instance``, written
with ``matcher.input_writers`` as an LA would give them). Each repetition runs in a fresh
interpreter, so that the figures include what a ``sendmatch`` command pays: ``cold`` is
``from matcher import io`` plus the first ``io.load_round`` (pyarrow's import among it),
``first_call`` that call alone; ``warm`` is a second ``io.load_round`` in the same process (an
API worker's case). ``_cpu`` figures are the process's CPU time for the same spans: on a
machine shared with other work they move less than wall-clock time.

``--before`` also times another copy of the loader, in turn with this one (for example the
pre-issue-16 ``matcher/io.py``, saved with ``git show <commit>:matcher/io.py > /tmp/old_io.py``
and given as ``--before /tmp/old_io.py``), so that before and after run on the same machine in
the same minute. Each run replaces its own section of RESULTS.md (``--no-write``: print only).

Run: ``.venv/bin/python benchmarks/input_loading.py [--children 25000] [--settings 600]
[--repeat 5] [--before PATH]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from placement_scale import RESULTS, calibrated_instance, machine, utc_date, write_section

from matcher.input_writers import write_children, write_settings

ROOT = Path(__file__).resolve().parents[1]
YEAR_START = "2026-09-01"

# Timed in a fresh interpreter: argv = children file, settings file, loader path or "".
_TIMED = """
import json, sys, time
from datetime import date
started, started_cpu = time.perf_counter(), time.process_time()
if sys.argv[3]:
    import importlib.util
    spec = importlib.util.spec_from_file_location("loader", sys.argv[3])
    io = importlib.util.module_from_spec(spec)
    sys.modules["loader"] = io
    spec.loader.exec_module(io)
else:
    from matcher import io
year = date.fromisoformat(sys.argv[4])
first = time.perf_counter()
inputs = io.load_round(sys.argv[1], sys.argv[2], year_start=year)
loaded, loaded_cpu = time.perf_counter(), time.process_time()
io.load_round(sys.argv[1], sys.argv[2], year_start=year)
again, again_cpu = time.perf_counter(), time.process_time()
print(json.dumps({
    "children": len(inputs.children), "settings": len(inputs.settings),
    "cold": loaded - started, "first_call": loaded - first, "warm": again - loaded,
    "cold_cpu": loaded_cpu - started_cpu, "warm_cpu": again_cpu - loaded_cpu,
}))
"""


def time_once(children: Path, settings: Path, module: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _TIMED, str(children), str(settings), module, YEAR_START],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    timing: dict[str, float] = json.loads(done.stdout)
    return timing


SECTION = "## Input loading"
SPANS = ("cold", "first_call", "warm", "cold_cpu", "warm_cpu")


def report(label: str, runs: list[dict[str, float]]) -> list[str]:
    """One table row per span: median, min and max over the runs."""
    rows = []
    for key in SPANS:
        values = sorted(run[key] for run in runs)
        rows.append(
            f"| {label} | {key} | {statistics.median(values):.2f} | {values[0]:.2f} "
            f"| {values[-1]:.2f} |"
        )
    return rows


def section(args: argparse.Namespace, runs: dict[str, list[dict[str, float]]]) -> str:
    m = machine()
    lines = [
        SECTION,
        "",
        f"Machine: {m['platform']}, {m['processor']}, {m['cpus']} CPUs, {m['ram']} RAM, "
        f"Python {m['python']}. Date: {utc_date()}.",
        f"Command: `python benchmarks/input_loading.py {' '.join(sys.argv[1:])}`.",
        "",
        f"`io.load_round` on {args.children:,} children and {args.settings:,} settings as CSV, "
        f"{args.repeat} runs each in a fresh interpreter. cold: import plus the first call; "
        "first_call: that call alone (pyarrow's import among it); warm: a second call in the "
        "same process; _cpu: CPU time of the same spans.",
        "",
        "| loader | span | median s | min s | max s |",
        "|---|---|---|---|---|",
    ]
    for label, timings in runs.items():
        lines += report(label, timings)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=25_000)
    parser.add_argument("--settings", type=int, default=600)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", default="", help="also time this copy of matcher/io.py")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    loaders = {"matcher.io": ""} | ({args.before: args.before} if args.before else {})
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in loaders}
    with tempfile.TemporaryDirectory(prefix="sendmatch-input-loading-") as tmp:
        folder = Path(tmp)
        instance = calibrated_instance(args.children, args.settings, args.seed)
        write_children(instance.children, folder / "children.csv")
        write_settings(instance.settings, folder / "settings.csv")
        del instance
        for _ in range(args.repeat):  # in turn, so that both see the same load on the machine
            for label, module in loaders.items():
                timing = time_once(folder / "children.csv", folder / "settings.csv", module)
                runs[label].append(timing)
    text = section(args, runs)
    print(text)
    if not args.no_write:
        write_section(text, RESULTS, section=SECTION)


if __name__ == "__main__":
    main()
