"""The ``sendmatch place`` command: user mistakes give a message and exit code, never a file.

Output is checked through ``result.output`` (stdout and stderr together, as a user sees them).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from matcher import cli, io, placement
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


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A copy of the good fixtures, so a test may break one without touching the others."""
    for name in ("children.csv", "settings.csv", "tariffs.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


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
    assert code == cli.EXIT_INPUT_PROBLEM == 2
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
    assert code == cli.EXIT_FAILED == 1
    assert "Permission denied" in output and "close it" in output


# --------------------------------------------------------------------------------------------
# a run, with a stand-in solver: checks the command's own wiring


def fake_place(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig | None = None,
    progress: ProgressCallback | None = None,
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
    ) -> PlacementResult:
        seen.update(children=children, config=config, travel=travel)
        return fake_place(children, settings, travel, config, progress)

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
    matrix = cli.build_travel_matrix(children, settings, cutoff_minutes=10)
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
