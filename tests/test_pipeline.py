"""The round pipeline called directly, as the API and any other caller would: progress by
callback, problems as exceptions carrying them, nothing printed; and the command line that
starts without the heavy modules only its commands use."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from matcher import io, pipeline
from matcher.placement import place
from matcher.travel_estimate import build_travel_matrix

#: Modules ``import matcher.cli`` must not load: together they are seconds of start-up that
#: ``sendmatch --help`` and most commands never use. CP-SAT brings pandas with it.
HEAVY_MODULES = (
    "ortools",
    "pandas",
    "scipy",
    "pyarrow",
    "numpy",
    "pydantic",
    "openpyxl",
    "pyproj",
    "matplotlib",
    "fastapi",
    "sqlalchemy",
    "uvicorn",
    "geodata.network",
    "matcher.forecast",
)


def loaded_modules(statement: str) -> set[str]:
    """Every module in ``sys.modules`` after ``statement`` runs in a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_a_round_reports_its_stages_and_prints_nothing(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = files / "placements.csv"
    options = pipeline.RoundOptions(
        files / "children.csv",
        files / "settings.csv",
        files / "tariffs.csv",
        year_start=io.next_september(),
        primary_limit=40.0,
    )
    stages: list[str] = []
    result = pipeline.run_round(options, [out], progress=stages.append)

    assert capsys.readouterr() == ("", "")
    assert stages[0] == "reading and checking the input files"
    assert stages[1].startswith("estimating travel times (straight-line")
    assert stages[-1] == "writing placements.csv"
    assert result.written == (out,)
    assert result.prepared.config.eligibility.primary_limit_minutes == 40.0
    assert result.constrained is None
    assert result.travel.snap is None
    # The plan is place()'s on the same inputs, and it is the plan written.
    inputs = io.load_round(
        options.children, options.settings, options.tariffs, year_start=options.year_start
    )
    cutoff = result.prepared.config.eligibility.cutoff_minutes
    matrix = build_travel_matrix(inputs.children, inputs.settings, cutoff).matrix
    direct = place(inputs.children, inputs.settings, matrix, result.prepared.config)
    assert result.placement.summary == direct.summary
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["child_id"] for r in rows} == {c.child_id for c in result.inputs.children}


def test_a_bad_file_raises_every_problem_and_writes_nothing(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = files / "children.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(",SLCN,,yes,", ",AUT,,yes,", 1), encoding="utf-8")
    out = files / "placements.xlsx"
    options = pipeline.RoundOptions(path, files / "settings.csv")
    stages: list[str] = []

    with pytest.raises(io.InputError) as raised:
        pipeline.run_round(options, [out], progress=stages.append)

    assert [(p.file, p.row, p.field) for p in raised.value.problems] == [
        ("children.csv", 3, "primary_need")
    ]
    assert stages == ["reading and checking the input files"]
    assert not out.exists()
    assert capsys.readouterr() == ("", "")


def test_an_output_named_like_an_input_is_refused_before_any_work(files: Path) -> None:
    options = pipeline.RoundOptions(files / "children.csv", files / "settings.csv")
    stages: list[str] = []
    with pytest.raises(pipeline.OutputProblem, match="is also an input file"):
        pipeline.run_round(options, [files / "settings.csv"], progress=stages.append)
    assert stages == []


def test_an_unreadable_road_network_is_a_network_problem(files: Path, tmp_path: Path) -> None:
    bad = tmp_path / "roads.osm"
    bad.write_text("not xml", encoding="utf-8")
    options = pipeline.RoundOptions(files / "children.csv", files / "settings.csv", osm=bad)
    stages: list[str] = []
    with pytest.raises(pipeline.NetworkProblem, match=r"\S"):
        pipeline.prepare_round(options, stages.append)
    assert stages == ["loading the road network from roads.osm"]


def test_starting_the_command_line_loads_no_solver_data_frame_or_server() -> None:
    loaded = loaded_modules("import matcher.cli")
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY_MODULES))
    assert heavy == [], "import these inside the commands that use them"


def test_the_api_runs_without_the_command_line() -> None:
    loaded = loaded_modules("import api.app, api.jobs, api.planning_jobs")
    assert sorted(m for m in loaded if m == "matcher.cli" or m.startswith("matcher.cli_")) == []
