"""One rule for personal data: what is derived from a child's home or record reaches only the
roles that work with children, audited; planners get counts per area; errors and logs quote
no input value.

The probe behind these tests recovered every placed child's home from a planner's scenario
maps (one dot per home, at every setting in turn), and read every row's coordinates in a
failed run's error, in a 500's traceback and in the server log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import routes_caseloads
from api.app import create_app
from api.auth import create_first_admin
from api.db import ChildRead
from geodata.network import RoadNetwork
from matcher.models import Location
from matcher.placement import PlacementConfig, place
from matcher.scenario_map import (
    CellRules,
    hex_cells,
    prepare_scenario_map,
    render_scenario_map,
    render_scenario_png,
)
from tests.api_client import DATA, PASSWORD, login, upload
from tests.factories import child, matrix, setting
from tests.test_api_planning import NEW_SCHOOL

# Seven children in one house-sized spot and two in another about 12 km away, all beyond the
# fixture's settings and taken by the new school: one cell of 7 is drawn, the 2 are not.
SPOT_A, SPOT_B = "52.631000,1.291000", "52.720000,1.400000"
CLUSTERS = [f"A{i:02d},3,,F,{SPOT_A},935,MLD,,yes,,,,,,A" for i in range(7)] + [
    f"B{i:02d},3,,M,{SPOT_B},935,MLD,,yes,,,,,,A" for i in range(2)
]
CLUSTER_IDS = {line.split(",")[0] for line in CLUSTERS}
# Homes in a small grid of streets in Helsinki: inside a server's road network, outside the UK.
HELSINKI_LAT, HELSINKI_LON = 60.171234, 24.941234
COORDINATE_TEXT = re.compile(r"60\.17|24\.94")


def children_file(tmp_path: Path, extra: list[str]) -> Path:
    path = tmp_path / "children.csv"
    lines = (DATA / "children.csv").read_text().splitlines()
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def compare(client: TestClient, headers: dict, caseload_id: int, tmp_path: Path) -> object:
    scenario = tmp_path / "new.json"
    scenario.write_text(json.dumps(NEW_SCHOOL))
    return client.post(
        "/runs/scenario-compare",
        data={"caseload_id": str(caseload_id)},
        files=[("scenarios", (scenario.name, scenario.read_bytes(), "application/json"))],
        headers=headers,
    )


@pytest.fixture
def clustered_run(client: TestClient, users: dict, tmp_path: Path) -> int:
    """A done comparison whose new site takes the nine cluster children."""
    uploaded = upload(client, users["case_officer"], children_file(tmp_path, CLUSTERS))
    assert uploaded["status"] == 201, uploaded
    started = compare(client, users["planner"], uploaded["body"]["id"], tmp_path)
    assert started.status_code == 202, started.text
    run = client.get(f"/runs/{started.json()['id']}", headers=users["planner"]).json()
    assert run["status"] == "done", run
    return int(run["id"])


def cell_counts(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<g class="cell">.*?<text[^>]*>([\d,]+)</text>', page)]


# --------------------------------------------------------------------------------------------
# Maps


def test_a_planners_map_counts_homes_per_cell_and_draws_no_home(
    client: TestClient, users: dict, clustered_run: int
) -> None:
    url = f"/runs/{clustered_run}/comparison/map"
    page = client.get(url, params={"site": "NEW1"}, headers=users["planner"])
    assert page.status_code == 200, page.text
    assert "<circle" not in page.text, "no dot per home"
    assert cell_counts(page.text) == [7], "the spot of seven, counted"
    assert "2 children live in such hexagons" in page.text, "the pair: not drawn, only counted"
    assert "fewer than 5 children is not drawn" in page.text


def test_no_setting_of_any_scenario_gives_a_planner_a_home(
    client: TestClient, users: dict, clustered_run: int
) -> None:
    """The probe's loop: every setting, in the base and in the scenario."""
    url = f"/runs/{clustered_run}/comparison/map"
    urns = [line.split(",")[0] for line in (DATA / "settings.csv").read_text().splitlines()[1:]]
    seen = 0
    for scenario in ("Base", NEW_SCHOOL["name"]):
        for urn in [*urns, "NEW1"]:
            params = {"site": urn, "scenario": scenario}
            response = client.get(url, params=params, headers=users["planner"])
            if response.status_code == 404:  # NEW1 is not in the base
                continue
            assert response.status_code == 200, (urn, scenario, response.text)
            seen += 1
            assert "<circle" not in response.text, (urn, scenario)
            assert all(n >= CellRules().min_count for n in cell_counts(response.text))
    assert seen == 2 * len(urns) + 1


def test_a_child_role_may_see_the_homes_and_each_one_shown_is_audited(
    app: FastAPI, client: TestClient, users: dict, clustered_run: int
) -> None:
    url = f"/runs/{clustered_run}/comparison/map"
    points = {"site": "NEW1", "view": "points"}
    assert client.get(url, params=points, headers=users["planner"]).status_code == 403
    shown = client.get(url, params=points, headers=users["case_officer"])
    assert shown.status_code == 200, shown.text
    homes = re.search(r'<g class="homes"[^>]*>(.*?)</g>', shown.text)
    assert homes is not None and homes[1].count("<circle") == len(CLUSTER_IDS)
    with app.state.db.sessions() as session:
        reads = session.scalars(select(ChildRead).where(ChildRead.run_id == clustered_run)).all()
        assert sorted(r.child_id for r in reads) == sorted(CLUSTER_IDS)
        assert {r.user.username for r in reads} == {"case_officer"}
    # The map of points is cached now; a planner's map must not be that one.
    planner = client.get(url, params={"site": "NEW1"}, headers=users["planner"])
    assert planner.status_code == 200 and "<circle" not in planner.text
    # Seen again (from the cache): audited again.
    assert client.get(url, params=points, headers=users["admin"]).status_code == 200
    with app.state.db.sessions() as session:
        again = session.scalars(select(ChildRead).where(ChildRead.run_id == clustered_run)).all()
    assert len(again) == 2 * len(CLUSTER_IDS)


def test_a_hidden_home_leaves_no_trace_on_the_map() -> None:
    """A home in a cell too small to draw may move anywhere (to another such cell) without
    changing a single byte of the page: nothing can be worked out about it, by differencing
    maps or from the map's frame."""
    site = setting("NEW-1", name="Site", location=Location(latitude=53.80, longitude=-1.54))
    spot = Location(latitude=53.801, longitude=-1.541)
    stray = [Location(latitude=53.83, longitude=-1.60), Location(latitude=53.90, longitude=-1.20)]
    pages = []
    for far in stray:
        kids = [child(f"K{i}", home=spot) for i in range(6)] + [child("LONE", home=far)]
        minutes = np.full((len(kids), 1), 10.0)
        result = place(kids, [site], matrix(kids, [site], minutes), PlacementConfig())
        pages.append(render_scenario_map(result, kids, [site], None, "NEW-1", cells=CellRules()))
    assert pages[0] == pages[1]
    assert cell_counts(pages[0]) == [6] and "1 child live in such hexagons" in pages[0]


def test_the_png_counts_cells_too(tmp_path: Path) -> None:
    site = setting("NEW-1", name="Site", location=Location(latitude=53.80, longitude=-1.54))
    kids = [child(f"K{i}", home=Location(latitude=53.801, longitude=-1.541)) for i in range(6)]
    minutes = np.full((len(kids), 1), 10.0)
    result = place(kids, [site], matrix(kids, [site], minutes), PlacementConfig())
    data = prepare_scenario_map(result, kids, [site], None, "NEW-1", cells=CellRules())
    assert data.homes.size == 0 and data.n_children == 6
    out = render_scenario_png(
        result, kids, [site], None, "NEW-1", tmp_path / "cells.png", cells=CellRules(), dpi=50
    )
    assert out.read_bytes().startswith(b"\x89PNG")


def test_cells_are_fixed_at_least_a_kilometre_and_small_counts_dropped() -> None:
    homes = np.array([[-1.541, 53.801]] * 5 + [[-1.60, 53.83]] * 4, np.float64)
    cells = hex_cells(homes, CellRules(cell_km=1.0, min_count=5))
    assert cells.counts.tolist() == [5] and cells.hidden == 4
    # The same home falls in the same cell whatever else is counted with it.
    alone = hex_cells(homes[:5], CellRules(cell_km=1.0, min_count=5))
    np.testing.assert_allclose(alone.corners, cells.corners)
    with pytest.raises(ValueError, match="at least 1 km across"):
        CellRules(cell_km=0.5)
    with pytest.raises(ValueError, match="at least 5"):
        CellRules(min_count=2)


# --------------------------------------------------------------------------------------------
# Errors and logs


def helsinki_grid() -> RoadNetwork:
    """A 4 × 4 grid of streets 200 m apart, two-way, around the Helsinki homes."""
    n = 4
    lat = np.repeat(HELSINKI_LAT + 0.0018 * np.arange(n), n)
    lon = np.tile(HELSINKI_LON + 0.0036 * np.arange(n), n)
    u, v = [], []
    for i in range(n):
        for j in range(n):
            k = i * n + j
            for other in ([k + 1] if j + 1 < n else []) + ([k + n] if i + 1 < n else []):
                u += [k, other]
                v += [other, k]
    seconds = [30.0] * len(u)
    return RoadNetwork.from_edges(
        np.arange(n * n), lon, lat, u, v, seconds, ["residential"] * len(u), "Helsinki grid"
    )


@pytest.fixture
def moved_caseload(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict, int]]:
    """A caseload uploaded to a server with a road network in Helsinki (25 homes there), then
    used by a server without it: every one of those homes is now out of its area."""
    homes = [
        f"H{i:02d},3,,F,{HELSINKI_LAT + i * 1e-5:.6f},{HELSINKI_LON:.6f},935,MLD,,yes,,,,,,A"
        for i in range(25)
    ]
    with_roads = create_app(database_url, network=helsinki_grid(), separate_processes=False)
    with with_roads.state.db.sessions() as session:
        create_first_admin(session, "admin", PASSWORD)
    with TestClient(with_roads) as first:
        admin = login(first, "admin")
        made = first.post(
            "/users",
            json={"username": "planner", "password": PASSWORD, "role": "planner"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        uploaded = upload(first, admin, children_file(tmp_path, homes))
        assert uploaded["status"] == 201, uploaded
    with_roads.state.db.dispose()
    without = create_app(database_url, separate_processes=False)
    with TestClient(without) as client:
        headers = {"admin": login(client, "admin"), "planner": login(client, "planner")}
        yield client, headers, int(uploaded["body"]["id"])
    without.state.db.dispose()


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        f"{r.getMessage()}\n{r.exc_text or ''}{r.stack_info or ''}" for r in caplog.records
    )


def test_a_run_on_homes_outside_the_area_says_which_rows_without_their_coordinates(
    moved_caseload: tuple[TestClient, dict, int], caplog: pytest.LogCaptureFixture
) -> None:
    client, users, caseload_id = moved_caseload
    caplog.set_level(logging.DEBUG)
    started = client.post("/runs", json={"caseload_id": caseload_id}, headers=users["admin"])
    assert started.status_code == 202, started.text
    run = client.get(f"/runs/{started.json()['id']}", headers=users["planner"]).json()
    assert run["status"] == "failed"
    error = run["error"]
    assert not COORDINATE_TEXT.search(error), error
    assert not re.search(r"\bH\d\d\b", error), "no child's id"
    assert len(error) < 4000
    # The first 20 rows named (the header is row 1; the fixture has 12 children), the rest
    # counted.
    assert "children.csv, row 14, latitude: the location is outside" in error
    assert "row 33," in error and "row 34," not in error and "and 5 more" in error
    text = logged(caplog)
    assert f"run {run['id']} failed (InputError)" in text
    assert not COORDINATE_TEXT.search(text) and not re.search(r"\bH\d\d\b", text)


def test_a_comparison_on_homes_outside_the_area_is_a_422_that_logs_no_coordinates(
    moved_caseload: tuple[TestClient, dict, int],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, users, caseload_id = moved_caseload
    caplog.set_level(logging.DEBUG)
    response = compare(client, users["planner"], caseload_id, tmp_path)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert len(problems) == 25
    assert problems[0] == {
        "file": "children.csv",
        "row": 14,
        "field": "latitude",
        "message": problems[0]["message"],
    }
    assert not COORDINATE_TEXT.search(response.text), response.text
    assert not COORDINATE_TEXT.search(logged(caplog))


def test_an_unexpected_fault_is_a_500_naming_the_request_and_logs_no_message(
    client: TestClient,
    users: dict,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    uploaded = upload(client, users["case_officer"])
    assert uploaded["status"] == 201

    def broken(*_args: object) -> object:
        raise ValueError(f"child C001 lives at {HELSINKI_LAT}, {HELSINKI_LON}")

    monkeypatch.setattr(routes_caseloads, "caseload_out", broken)
    caplog.set_level(logging.DEBUG)
    response = client.get(f"/caseloads/{uploaded['body']['id']}", headers=users["planner"])
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert "(ValueError)" in response.json()["detail"] and request_id in response.json()["detail"]
    assert "C001" not in response.text and not COORDINATE_TEXT.search(response.text)
    text = logged(caplog)
    assert f"request {request_id} GET /caseloads/" in text and "failed (ValueError) at" in text
    assert "C001" not in text and not COORDINATE_TEXT.search(text)
