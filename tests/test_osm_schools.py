"""Settings from OpenStreetMap schools (``sendmatch settings from-osm``), and GIAS precedence.

The Rutland extract in ../shared/data is read in place (skipped, with the reason, when that
folder is absent); the guessing rules and the GIAS merge are checked on hand-made features.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geodata.osm_schools import (
    SchoolFeature,
    guess_phase,
    merge_gias,
    read_osm_schools,
    settings_from_features,
    write_osm_settings,
)
from matcher import cli, io
from matcher.input_writers import write_settings
from matcher.models import Location, Setting, SettingType

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RUTLAND = SHARED / "osm" / "rutland-latest.osm.pbf"
LAD = SHARED / "boundaries" / "lad-2017-super-generalised.geojson"
GIAS_SAMPLE = Path(__file__).parent / "data" / "gias" / "edubasealldata_sample.csv"
needs_rutland = pytest.mark.skipif(
    not RUTLAND.is_file(), reason=f"the Rutland extract is not at {RUTLAND} (../shared/data absent)"
)
runner = CliRunner()


def tagged_urns_in_extract(path: Path) -> set[str]:
    """Every school or college tagged ``ref:edubase``, found by the tag alone (not by amenity
    first, as the code under test does), with pyrosm's generic tag filter."""
    import pyrosm

    frame = pyrosm.OSM(str(path)).get_data_by_custom_criteria(
        custom_filter={"ref:edubase": True},
        osm_keys_to_keep=["ref:edubase"],
        filter_type="keep",
        keep_nodes=True,
        keep_ways=True,
        keep_relations=True,
    )
    urns = set()
    for record in frame.to_dict("records"):
        tags = json.loads(record["tags"]) if isinstance(record.get("tags"), str) else {}
        if tags.get("amenity") in ("school", "college") and tags.get("name"):
            urns.add(str(record["ref:edubase"]))
    return urns


@needs_rutland
def test_the_settings_include_every_urn_tagged_in_the_extract() -> None:
    tagged = tagged_urns_in_extract(RUTLAND)
    schools = read_osm_schools(RUTLAND)
    urns = {s.urn for s in schools.settings}
    assert len(tagged) >= 5  # the extract is known to tag several (7 in the 2018 extract)
    assert tagged <= urns
    assert schools.tagged_urns == len(tagged)
    # Every school without a URN gets a stand-in that cannot pass for a DfE URN.
    assert all(u in tagged or u.startswith("OSM-") for u in urns)


@needs_rutland
def test_every_school_lies_in_the_extract_and_each_row_says_what_was_guessed(
    tmp_path: Path,
) -> None:
    schools = read_osm_schools(RUTLAND)
    for setting in schools.settings:
        assert 52.5 < setting.location.latitude < 52.8
        assert -0.9 < setting.location.longitude < -0.39
    out = tmp_path / "settings.csv"
    write_osm_settings(schools, out)
    assert io.load_settings(out) == schools.settings  # the file `place` reads, unchanged
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all("guess" in row["phase_guess"] for row in rows)
    assert all(row["source"].startswith("OpenStreetMap ") for row in rows)
    assert all("on_roll" in row["assumed"] for row in rows)


def feature(osm_id: str, lat: float = 52.67, lon: float = -0.72, **tags: str) -> SchoolFeature:
    return SchoolFeature(osm_id, {"amenity": "school", **tags}, lat, lon)


@pytest.mark.parametrize(
    ("tags", "phase"),
    [
        ({"name": "Oakham Church of England Primary School"}, "primary"),
        ({"name": "Little Acorns Infant School"}, "infant"),
        ({"name": "Hill Junior School"}, "junior"),
        ({"name": "Catmose College"}, "secondary"),
        ({"name": "Uppingham Community College"}, "secondary"),
        ({"name": "Brook Special School"}, "special"),
        ({"name": "Edith Weston Academy", "note": "primary school"}, "primary"),
        ({"name": "Town Academy", "isced:level": "2;3"}, "secondary with sixth form"),
        ({"name": "Town Academy", "school:type": "special"}, "special"),
        ({"name": "Anywhere College", "amenity": "college"}, "further education"),
        ({"name": "Brooke Hill Academy"}, "primary"),  # no phase word: the stated default
        ({"name": "Send CofE Primary School"}, "primary"),  # Send is a village
        ({"name": "Ashby Specialist Sports College"}, "secondary"),  # not a special school
    ],
)
def test_the_phase_is_guessed_from_tags_then_names(tags: dict[str, str], phase: str) -> None:
    assert guess_phase({"amenity": "school", **tags})[0] == phase


def test_unnamed_fee_paying_and_twice_mapped_schools_are_left_out_with_reasons() -> None:
    result = settings_from_features(
        [
            feature("node 1", name="Oakham Primary School"),  # the same school as way 2
            feature("way 2", lat=52.6705, name="Oakham Primary School"),
            feature("way 3"),  # no name
            feature("way 4", name="Oakham School", fee="yes"),
            feature("way 5", name="Catmose College", **{"ref:edubase": "137000"}),
        ],
        "test.osm.pbf",
    )
    assert [s.urn for s in result.settings] == ["OSM-W2", "137000"]
    assert result.settings[1].setting_type is SettingType.MAINSTREAM
    assert (result.settings[1].low_age, result.settings[1].high_age) == (11, 16)
    assert len(result.skipped) == 3
    assert any("no name" in r for r in result.skipped)
    assert any("fee-paying" in r for r in result.skipped)
    assert any("same school" in r for r in result.skipped)


def gias_setting(
    urn: str, name: str, places: int, lat: float = 52.67, lon: float = -0.72
) -> Setting:
    return Setting(
        urn=urn,
        name=name,
        setting_type=SettingType.MAINSTREAM,
        la_code="857",
        location=Location(latitude=lat, longitude=lon),
        low_age=4,
        high_age=11,
        total_places=places,
        on_roll=places - 3,
    )


def test_gias_rows_win_and_the_schools_in_one_source_only_are_listed() -> None:
    osm = settings_from_features(
        [
            feature("way 1", name="Catmose Primary School", **{"ref:edubase": "138113"}),
            feature("way 2", lat=52.68, name="Oakham C of E Primary School"),
            feature("way 3", lat=52.69, name="Exton Primary School"),
        ],
        "test.osm.pbf",
    )
    gias = [
        gias_setting("138113", "Catmose Primary School", 420),
        gias_setting("120211", "Oakham C.of E. Primary School", 315),
        gias_setting("120299", "Whissendine Primary School", 105),
    ]
    merged, match = merge_gias(osm, gias)
    by_urn = {s.urn: s for s in merged.settings}
    assert by_urn["138113"].total_places == 420  # GIAS's, not the assumed 210
    assert match.matched_by_urn == ("138113",)
    assert match.matched_by_name == (("OSM-W2", "120211"),)
    assert [s.urn for s in match.only_in_gias] == ["120299"]
    assert [s.urn for s in match.only_in_osm] == ["OSM-W3"]
    assert set(by_urn) == {"138113", "120211", "120299", "OSM-W3"}  # nothing twice
    assert merged.source["138113"] == "GIAS"
    assert "guess" in merged.phase_guess["OSM-W3"]
    lines = "\n".join(match.summary())
    assert "Only in GIAS: 120299 Whissendine Primary School" in lines
    assert "Only in OpenStreetMap (kept, with guesses): OSM-W3 Exton Primary School" in lines


@needs_rutland
def test_from_osm_command_writes_the_settings_and_reports_gias_matches(tmp_path: Path) -> None:
    gias_file = tmp_path / "gias_settings.csv"
    write_settings([gias_setting("138113", "Catmose Primary School", 420)], gias_file)
    out = tmp_path / "settings.csv"
    result = runner.invoke(
        cli.app, ["settings", "from-osm", str(RUTLAND), "--out", str(out), "--gias", str(gias_file)]
    )
    assert result.exit_code == 0, result.output
    assert "1 schools matched by URN" in result.output
    assert "Only in OpenStreetMap" in result.output
    settings = {s.urn: s for s in io.load_settings(out)}
    assert settings["138113"].total_places == 420
    assert tagged_urns_in_extract(RUTLAND) <= set(settings)


@needs_rutland
def test_a_gias_extract_is_cut_to_the_area_and_takes_precedence(tmp_path: Path) -> None:
    with GIAS_SAMPLE.open(encoding="cp1252", newline="") as fh:  # as GIAS publishes it
        reader = csv.DictReader(fh)
        header, first = list(reader.fieldnames or []), next(reader)
    near = {**first, "URN": "138113", "EstablishmentName": "Catmose Primary School"}
    near.update({"LA (code)": "857", "Easting": "486300", "Northing": "308700"})  # Oakham
    far = {**first, "URN": "990009"}  # Camden, ~130 km away: not in the area
    extract = tmp_path / "edubasealldata.csv"
    with extract.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows([near, far])
    out = tmp_path / "settings.csv"
    result = runner.invoke(
        cli.app, ["settings", "from-osm", str(RUTLAND), "--out", str(out), "--gias", str(extract)]
    )
    assert result.exit_code == 0, result.output
    urns = {s.urn for s in io.load_settings(out)}
    assert "138113" in urns and "990009" not in urns
    assert "1 schools matched by URN" in result.output


@pytest.mark.parametrize("content", [None, b"not an extract"])
def test_a_missing_or_unreadable_extract_is_named_and_nothing_is_written(
    tmp_path: Path, content: bytes | None
) -> None:
    extract = tmp_path / "area.osm.pbf"
    if content is not None:
        extract.write_bytes(content)
    out = tmp_path / "settings.csv"
    result = runner.invoke(cli.app, ["settings", "from-osm", str(extract), "--out", str(out)])
    assert result.exit_code == 2
    assert "area.osm.pbf" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == ([extract] if content is not None else [])


@needs_rutland
@pytest.mark.skipif(not LAD.is_file(), reason=f"the ONS boundaries are not at {LAD}")
def test_with_a_boundary_each_setting_is_coded_by_the_area_it_stands_in(tmp_path: Path) -> None:
    gias_file = tmp_path / "gias_settings.csv"
    stamford = gias_setting("120999", "Stamford Junior School", 240, lat=52.652, lon=-0.480)
    write_settings([stamford], gias_file)
    out = tmp_path / "settings.csv"
    args = ["settings", "from-osm", str(RUTLAND), "--out", str(out), "--gias", str(gias_file)]
    result = runner.invoke(cli.app, [*args, "--boundary", str(LAD), "--la-code", "Rutland"])
    assert result.exit_code == 0, result.output
    codes = {s.urn: s.la_code for s in io.load_settings(out)}
    assert codes.pop("120999") == "E07000141"  # South Kesteven, whatever its file said
    assert set(codes.values()) == {"E06000017"}  # the extract's own schools are all in Rutland
    assert "others in South Kesteven 1" in " ".join(result.output.split())
