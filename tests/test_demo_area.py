"""``sendmatch demo --area`` / ``--osm``: a whole round on a real English area (Rutland).

Reads ../shared/data in place (skipped, with the reason, when that folder is absent). Nothing
is downloaded: ``--area`` finds the extract in a cache prepared by the test, and the offline
case is simulated.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geodata import osm_download
from geodata.area_demo import AREA_DEMO_CHILDREN, build_area_demo
from geodata.boundaries import local_area
from matcher import cli, pipeline
from matcher.eligibility import EXCLUSION_TEXT
from matcher.input_writers import write_children, write_settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RUTLAND = SHARED / "osm" / "rutland-latest.osm.pbf"
LAD = SHARED / "boundaries" / "lad-2017-super-generalised.geojson"
pytestmark = pytest.mark.skipif(
    not (RUTLAND.is_file() and LAD.is_file()),
    reason=f"the Rutland extract and ONS boundaries are not in {SHARED} (../shared/data absent)",
)
runner = CliRunner()

# The reasons README "How a placement is decided" and matcher/placement.py document.
_EXCLUSIONS = "|".join(re.escape(text) for text in EXCLUSION_TEXT.values())
_LISTED = rf"({_EXCLUSIONS})(; ({_EXCLUSIONS}))*"
# The section 39 grounds for a preference not met (matcher/placement_reasons.py, ground).
_GROUND = (
    rf"(unsuitable for the child's age or SEN: {_LISTED}|journey: {_LISTED}"
    r"|no capacity: .+ all taken in the optimal plan|not a known setting)"
)
_UNMET = rf"(; preference \d+ \([^)]+\) not met: {_GROUND})+"
PLACED_REASONS = re.compile(
    rf"^(first parental preference|parental preference \d+{_UNMET}|no parental preference met"
    rf"{_UNMET}|no parental preference; best suitable setting by travel time then cost)$"
)
NO_ELIGIBLE_SETTING = re.compile(
    rf"^(no suitable setting: of \d+ setting\(s\) considered, "
    rf"(({_EXCLUSIONS}) \(\d+\)(; )?)+"
    r"|no setting within the travel-time cutoff of home)$"
)
NO_CAPACITY = re.compile(
    r"^no capacity: all places at the \d+ suitable setting\(s\) within reach are taken in the "
    r"optimal plan$"
)


def documented(setting_urn: str | None, reason: str) -> bool:
    if setting_urn:
        return bool(PLACED_REASONS.match(reason))
    return bool(NO_ELIGIBLE_SETTING.match(reason) or NO_CAPACITY.match(reason))


def test_a_rutland_round_places_every_child_who_has_an_eligible_setting(
    tmp_path: Path, private_cache: Path
) -> None:
    rutland = local_area(LAD, "E06000017")
    demo = build_area_demo(RUTLAND, private_cache, area=rutland)
    assert len(demo.children) == AREA_DEMO_CHILDREN
    assert rutland.contains(
        [c.home.latitude for c in demo.children], [c.home.longitude for c in demo.children]
    ).all()
    # Places enough at every setting that capacity never binds: then a child left unplaced
    # can only be one with no eligible setting at all.
    ample = [
        s.model_copy(
            update={"total_places": 1000, "on_roll": 0, "year_places": {}, "year_on_roll": {}}
        )
        for s in demo.settings
    ]
    children, settings = tmp_path / "children.csv", tmp_path / "settings.csv"
    write_children(demo.children, children)
    write_settings(ample, settings)
    options = pipeline.RoundOptions(
        children, settings, osm=RUTLAND, cache_dir=private_cache, boundary=LAD, la_code="Rutland"
    )
    result = pipeline.run_round(options, [tmp_path / "placements.csv"])

    rows = result.placement.placements
    unplaced = [r for r in rows if r.setting_urn is None]
    assert all(NO_ELIGIBLE_SETTING.match(r.reason) for r in unplaced), [
        r.reason for r in unplaced if not NO_ELIGIBLE_SETTING.match(r.reason)
    ]
    wrong = [r.reason for r in rows if not documented(r.setting_urn, r.reason)]
    assert not wrong, wrong
    assert len(unplaced) < len(rows) // 10  # most children have some eligible setting
    # Real rural roads: some journeys take well over a quarter of an hour.
    assert result.placement.summary.max_minutes is not None
    assert result.placement.summary.max_minutes > 15


def test_demo_on_an_extract_runs_the_round_and_reports_by_neighbouring_la(
    tmp_path: Path, private_cache: Path
) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--osm", str(RUTLAND), "--out", str(out), "--cache-dir", str(private_cache)]
    result = runner.invoke(cli.app, [*args, "--boundary", str(LAD), "--la-code", "E06000017"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Rutland (E06000017)" in text
    assert "generated caseload (not real children)" in text
    assert "Boundary: Rutland (E06000017)" in text
    assert re.search(r"Out-of-area placements by LA: [A-Z][\w ]+ \d+", text), text
    for name in ("children.csv", "settings.csv", "placements.csv", "placements.xlsx"):
        assert (out / name).is_file()
    settings_text = (out / "settings.csv").read_text(encoding="utf-8-sig")
    assert "(generated)" in settings_text and "OpenStreetMap way" in settings_text
    # The demo's own, tight, capacities: some children may be left unplaced, each for a
    # documented reason.
    with (out / "placements.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == AREA_DEMO_CHILDREN
    wrong = [r["reason"] for r in rows if not documented(r["setting_urn"], r["reason"])]
    assert not wrong, wrong


def test_demo_area_uses_the_extract_in_the_download_cache(
    tmp_path: Path, private_cache: Path
) -> None:
    """As after `sendmatch osm download rutland`: the cache's index names the file."""
    (private_cache / "rutland-latest.osm.pbf").symlink_to(RUTLAND)
    (private_cache / "extracts.json").write_text(
        json.dumps({"rutland": "rutland-latest.osm.pbf"}), encoding="utf-8"
    )
    out = tmp_path / "demo"
    args = ["demo", "--area", "Rutland", "--out", str(out), "--cache-dir", str(private_cache)]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "the area of rutland-latest.osm.pbf" in " ".join(result.output.split())
    assert "No --boundary" in result.output
    assert (out / "placements.csv").is_file()


def test_demo_area_offline_says_what_to_do_and_writes_nothing(
    tmp_path: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(area: str, cache_dir: Path, **_: object) -> Path:
        raise osm_download.OfflineError(f"could not download '{area}': no connection")

    monkeypatch.setattr(osm_download, "download_extract", offline)
    out = tmp_path / "demo"
    args = ["demo", "--area", "rutland", "--out", str(out), "--cache-dir", str(private_cache)]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "Cannot get the extract" in text and "sendmatch demo --osm FILE" in text
    assert "Traceback" not in result.output
    assert not out.exists()
