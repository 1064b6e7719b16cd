"""The planner's forecast view end to end, in headless Chromium, on a real ``sendmatch serve``.

A planner signs in, is told what is missing from an empty form, sees a bad yearly file's
problems by file and row, then uploads a small three-year history with its population and a
caseload to set demand against: the run's progress, then the totals table with its 95%
intervals and the chart of the band, the back-test and the shortfalls of places; downloads the
forecast's spreadsheet and witan.send's CSV files; and reads the results on a phone's width
(375 CSS pixels) with nothing but the wide tables scrolling sideways. axe-core checks each page,
and a screenshot of the results is kept in ``test-artifacts/forecast-page.png``; nothing is
fetched from another host and no script raises an error (see ``tests/test_web_e2e.py``, whose
server and browser helpers this reuses).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.test_api_forecast import HEADER, history_rows, population_text
from tests.test_web_e2e import (
    ADMIN,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DATA,
    PASSWORD,
    assert_accessible,
    browser_page,
    expect_heading_focused,
    running_server,
)

PLANNER = "planner1"
RUN_TIMEOUT_MS = 120_000
PHONE_WIDTH = 375  # CSS pixels: a common phone's screen


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server without a road network, with a planner and a caseload the admin uploaded."""
    with running_server(tmp_path_factory.mktemp("forecast-server")) as base:
        token = httpx.post(f"{base}/auth/token", data={"username": ADMIN, "password": PASSWORD})
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        made = httpx.post(
            f"{base}/users",
            json={"username": PLANNER, "password": PASSWORD, "role": "planner"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        files = {
            "children": ("children.csv", (DATA / "children.csv").read_bytes()),
            "settings": ("settings.csv", (DATA / "settings.csv").read_bytes()),
        }
        uploaded = httpx.post(
            f"{base}/caseloads", files=files, data={"year_start": "2026-09-01"}, headers=admin
        )
        assert uploaded.status_code == 201, uploaded.text
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    with browser_page(browser, server) as tab:
        yield tab


@pytest.fixture
def history(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for year in (2021, 2022, 2023):
        files[f"{year}.csv"] = tmp_path / f"{year}.csv"
        files[f"{year}.csv"].write_text("\n".join([HEADER, *history_rows(year)]) + "\n")
    files["population"] = tmp_path / "population.csv"
    files["population"].write_text(population_text(range(2021, 2028)))
    return files


def sign_in_as_planner(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(PLANNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect_heading_focused(page, f"Hello, {PLANNER}")


def test_a_planner_forecasts_demand_and_sees_its_tables(
    page: Page, history: dict[str, Path], tmp_path: Path
) -> None:
    sign_in_as_planner(page)
    page.get_by_role("link", name="Forecast demand", exact=True).click()
    expect_heading_focused(page, "Forecast demand")
    assert_accessible(page, "forecast form")

    # Nothing chosen: each missing answer is listed, linked to its field, before anything is sent.
    page.get_by_role("button", name="Check the files and start the forecast").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_text(
        [
            "Select the yearly caseload files (or witan.send's transitions file)",
            "Select the general population file",
            "Enter the Januaries to project, like 2026-2032",
        ]
    )
    assert_accessible(page, "forecast form with missing answers")

    # A yearly file with an unknown need code: the server's problem, by file, row and column.
    rows = history_rows(2022)
    rows[2] = rows[2].replace("ASD", "XYZ")
    bad = tmp_path / "bad" / "2022.csv"
    bad.parent.mkdir()
    bad.write_text("\n".join([HEADER, *rows]) + "\n")
    yearly = page.get_by_label("Yearly caseload files")
    yearly.set_input_files([history["2021.csv"], bad, history["2023.csv"]])
    page.get_by_label("General population").set_input_files(history["population"])
    page.get_by_label("Januaries to project").fill("2024-2026")
    page.locator("summary", has_text="Simulations and seed").click()
    page.get_by_label("Simulated futures").fill("200")
    page.get_by_role("button", name="Check the files and start the forecast").click()
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(1)
    expect(summary.locator("li")).to_contain_text("2022.csv, row 4, primary_need:")
    expect(yearly).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "forecast form with a file's problems")

    # The good files, set against the caseload's places.
    yearly.set_input_files([history[f"{y}.csv"] for y in (2021, 2022, 2023)])
    page.get_by_label("Caseload to compare with its places (optional)").fill("1")
    page.get_by_role("button", name="Check the files and start the forecast").click()
    expect_heading_focused(page, "Forecast")
    expect(page.locator("#run-stage")).to_have_text("Done.", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Cancel this run")).to_be_hidden()

    totals = page.get_by_role("table", name="Projected children with an EHC plan, each January")
    expect(totals.locator("tbody tr")).to_have_count(4)
    first = totals.locator("tbody tr").first
    expect(first.locator("th")).to_have_text("2023 (observed)")
    expect(first.locator("td")).to_have_text(["64", "64 to 64"])
    expect(totals.locator("tbody tr").last.locator("th")).to_have_text("2026")
    chart = page.locator(".chart svg[role=img]").first
    expect(chart).to_have_attribute(
        "aria-label",
        re.compile(r"^Children and young people .* Observed: 2021 53, 2022 59, 2023 64"),
    )
    backtest = page.get_by_role("table", name=re.compile("Back-test"))
    expect(backtest.locator("tbody tr")).to_have_count(1)
    expect(backtest.locator("tbody tr th")).to_have_text("2023")
    expect(page.locator(".shortfalls li").first).to_contain_text("the LA is short of")
    places = page.get_by_role("table", name="Demand against places in January 2024")
    expect(places).to_contain_text("resourced provision, primary, all needs")
    by_need = page.get_by_role("table", name="Demand against places by need in January 2024")
    expect(by_need.locator("tbody tr").first.locator("th")).to_have_text("All needs")
    expect(
        page.get_by_role(
            "img", name=re.compile("^Projected demand against places by need, January 2024")
        )
    ).to_contain_text("ASD")
    page.get_by_label("January", exact=True).select_option("2026")
    expect(page.get_by_role("table", name="Demand against places in January 2026")).to_be_visible()
    assert_accessible(page, "forecast results")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "forecast-page.png", full_page=True)

    # The downloads are the forecast the page shows: the 2026 mean of the totals table.
    mean_2026 = totals.locator("tbody tr").last.locator("td").first.inner_text()
    workbook = saved_download(page, "Forecast spreadsheet (XLSX)", tmp_path)
    assert re.fullmatch(r"forecast-\d+\.xlsx", workbook.name)
    book = load_workbook(workbook, read_only=True)
    assert book.sheetnames == [
        *("Total", "Need", "Setting", "NC year", "Need x setting x NC year", "Inputs")
    ]
    rows = list(book["Total"].iter_rows(values_only=True))
    assert rows[0][:2] == ("calendar-year", "mean") and rows[1][:2] == (2023, 64)
    assert (rows[-1][0], f"{rows[-1][1]:,.0f}") == (2026, mean_2026)
    archive = saved_download(page, "witan.send's CSV files (ZIP)", tmp_path)
    assert re.fullmatch(r"forecast-\d+-csv\.zip", archive.name)
    with zipfile.ZipFile(archive) as files:
        assert sorted(files.namelist()) == [
            *("Output_AY.csv", "Output_Count.csv", "Output_Need.csv", "Output_Setting.csv")
        ]
        counts = list(csv.DictReader(io.StringIO(files.read("Output_Count.csv").decode())))
    assert [r["calendar-year"] for r in counts] == ["2023", "2024", "2025", "2026"]
    assert f"{float(counts[-1]['mean']):,.0f}" == mean_2026

    # On a phone the page reflows: only the wide tables and the charts' drawings scroll
    # sideways in their boxes (each then a named region reached by Tab), so that a chart's
    # text is not shrunk to a few pixels.
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    expect(page.locator(".table-wrap[role=region][tabindex='0']").first).to_be_attached()
    band = page.get_by_role(
        "region", name="Children and young people with an EHC plan each January (scrolls sideways)"
    )
    expect(band).to_have_attribute("tabindex", "0")
    box = band.locator("svg").bounding_box()
    assert box is not None and box["width"] >= 600
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    assert page.evaluate("document.body.scrollWidth") <= PHONE_WIDTH
    assert_accessible(page, f"forecast results at {PHONE_WIDTH} pixels wide")
    page.screenshot(path=ARTIFACTS / "forecast-page-phone.png", full_page=True)


def saved_download(page: Page, link_name: str, folder: Path) -> Path:
    """Click a download link and save the file the browser receives, under its own name."""
    link = page.get_by_role("link", name=link_name)
    with page.expect_download() as started:
        link.click()
    download = started.value
    assert download.failure() is None
    path = folder / download.suggested_filename
    download.save_as(path)
    return path
