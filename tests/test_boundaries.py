"""LA boundaries (``--boundary``/``--la-code``): in and out of area by geometry.

The ONS boundary file in ../shared/data is read in place (skipped, with the reason, when that
folder is absent); the generic polygon path uses a small GeoJSON written by the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geodata.boundaries import BoundaryError, load_boundaries, local_area
from matcher import cli, pipeline
from matcher.input_writers import write_children, write_settings
from matcher.models import Child, Location, PrimaryNeed, Setting, SettingType

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LAD = SHARED / "boundaries" / "lad-2017-super-generalised.geojson"
needs_lad = pytest.mark.skipif(
    not LAD.is_file(), reason=f"the ONS boundary file is not at {LAD} (../shared/data absent)"
)
runner = CliRunner()

OAKHAM = (52.670, -0.727)
STAMFORD = (52.652, -0.480)  # Lincolnshire (South Kesteven), just over Rutland's border
UPPINGHAM = (52.588, -0.722)


@needs_lad
def test_rutland_holds_oakham_and_not_stamford() -> None:
    rutland = local_area(LAD, "E06000017")
    assert rutland.name == "Rutland"
    lat, lon = zip(OAKHAM, STAMFORD, strict=True)
    assert rutland.contains(lat, lon).tolist() == [True, False]
    where = rutland.boundaries.area_of(lat, lon)
    assert [rutland.boundaries.names[i] for i in where] == ["Rutland", "South Kesteven"]


@needs_lad
def test_the_la_is_found_by_ons_code_or_name_and_a_dfe_number_is_explained() -> None:
    assert local_area(LAD, "rutland").code == "E06000017"
    with pytest.raises(BoundaryError, match="not the DfE's three-digit LA numbers"):
        local_area(LAD, "857")
    with pytest.raises(BoundaryError, match="Did you mean Rutland"):
        local_area(LAD, "Rutlnd")


def child(child_id: str, point: tuple[float, float], prefs: tuple[str, ...]) -> Child:
    return Child(
        child_id=child_id,
        nc_year=3,
        home=Location(latitude=point[0], longitude=point[1]),
        home_la_code="857",  # the DfE number: not what the boundary file holds
        primary_need=PrimaryNeed.MLD,
        preferences=prefs,
    )


def school(urn: str, point: tuple[float, float], la_code: str | None) -> Setting:
    return Setting(
        urn=urn,
        name=f"School {urn}",
        setting_type=SettingType.MAINSTREAM,
        la_code=la_code,
        location=Location(latitude=point[0], longitude=point[1]),
        low_age=4,
        high_age=11,
        total_places=30,
        on_roll=28,
    )


def write_round(folder: Path) -> tuple[Path, Path]:
    """Two Oakham children, one wanting a Stamford school its file says is in Rutland (857),
    one an Uppingham school its file says is elsewhere: geometry must decide both."""
    children, settings = folder / "children.csv", folder / "settings.csv"
    write_children([child("C1", OAKHAM, ("100001",)), child("C2", OAKHAM, ("100002",))], children)
    write_settings(
        [school("100001", STAMFORD, "857"), school("100002", UPPINGHAM, "925")], settings
    )
    return children, settings


@needs_lad
def test_out_of_area_is_decided_by_where_the_setting_is(tmp_path: Path) -> None:
    children, settings = write_round(tmp_path)
    options = pipeline.RoundOptions(
        children, settings, la_code="Rutland", boundary=LAD, year_start=None
    )
    result = pipeline.run_round(options, [tmp_path / "placements.csv"])
    by_child = {p.child_id: p for p in result.placement.placements}
    assert by_child["C1"].setting_urn == "100001" and by_child["C1"].out_of_area
    assert by_child["C2"].setting_urn == "100002" and not by_child["C2"].out_of_area
    areas = result.prepared.areas
    assert areas is not None
    assert areas.settings_outside == {"South Kesteven": 1}
    la_of = {s.urn: s.la_code for s in result.inputs.settings}
    rows = result.placement.placements
    by_area = areas.out_of_area_by_area(
        [la_of.get(r.setting_urn or "") for r in rows], [r.out_of_area for r in rows]
    )
    assert by_area == [("South Kesteven", 1)]
    # Without the boundary, the files' own (wrong) codes decide, the other way round.
    plain = pipeline.run_round(
        pipeline.RoundOptions(children, settings, la_code="857"), [tmp_path / "plain.csv"]
    )
    assert {p.child_id: p.out_of_area for p in plain.placement.placements} == {
        "C1": False,
        "C2": True,
    }


@needs_lad
def test_place_reports_out_of_area_placements_by_neighbouring_la(tmp_path: Path) -> None:
    children, settings = write_round(tmp_path)
    args = ["place", "--children", str(children), "--settings", str(settings)]
    args += ["--boundary", str(LAD), "--la-code", "E06000017", "--out", str(tmp_path / "p.csv")]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "Out-of-area placements by LA: South Kesteven 1." in result.output
    assert "1 setting(s) outside it stay available" in result.output


@needs_lad
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--boundary needs --la-code"),
        (["--la-code", "857"], "not the DfE's three-digit LA numbers"),
    ],
)
def test_boundary_mistakes_stop_before_anything_is_written(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    children, settings = write_round(tmp_path)
    out = tmp_path / "p.csv"
    args = ["place", "--children", str(children), "--settings", str(settings)]
    result = runner.invoke(cli.app, [*args, "--boundary", str(LAD), *extra, "--out", str(out)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not out.exists()


def test_any_polygon_file_with_a_name_property_works(tmp_path: Path) -> None:
    square = [[-0.8, 52.6], [-0.6, 52.6], [-0.6, 52.7], [-0.8, 52.7], [-0.8, 52.6]]
    path = tmp_path / "my_la.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "My LA"},
                        "geometry": {"type": "Polygon", "coordinates": [square]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    area = local_area(path, "my la")
    assert area.contains([OAKHAM[0], STAMFORD[0]], [OAKHAM[1], STAMFORD[1]]).tolist() == [
        True,
        False,
    ]
    boundaries = load_boundaries(path)
    assert boundaries.area_of([STAMFORD[0]], [STAMFORD[1]]).tolist() == [-1]


def test_a_missing_or_unreadable_boundary_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BoundaryError, match="not found"):
        load_boundaries(tmp_path / "nope.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{ not json", encoding="utf-8")
    with pytest.raises(BoundaryError, match=r"bad\.geojson"):
        load_boundaries(bad)
