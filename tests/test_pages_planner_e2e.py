"""The planner's pages end to end in headless Chromium: build a scenario with a new special
school placed by postcode (and try the map click), compare it with a caseload chosen from a
list, read the table, charts and map; start a forecast from files, wait for it, read it and
download its spreadsheet and CSV files. Every state shown is checked by axe-core at desktop
and phone widths, with screenshots (:func:`tests.browser_harness.check_page`).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from api.pages.scenario_builder import POSTCODES_VARIABLE
from tests.browser_harness import Served, check_page, require_chromium

require_chromium()

from playwright.sync_api import expect  # noqa: E402

# The session's server reads the postcode file from its environment when it starts, after
# every test module is collected: the small ONSPD sample, whose ZZ1 1AB lies in the test LA.
POSTCODES = Path(__file__).parent / "data" / "postcodes" / "onspd_sample.csv"
os.environ.setdefault(POSTCODES_VARIABLE, str(POSTCODES))
#: A comparison or forecast of the small test data takes seconds; a loaded machine, longer.
RUN_MS = 180_000


def test_a_planner_builds_a_scenario_compares_it_and_reads_the_results(
    page_as: Any, pages_server: Served, demo_caseload: int
) -> None:
    page = page_as("planner")
    page.goto("/app/scenarios")
    expect(page.locator("h1")).to_have_text("Compare planning scenarios")
    check_page(page, "planner-scenarios")
    page.get_by_label("Caseload to build on").select_option(str(demo_caseload))
    page.get_by_role("button", name="Build a scenario").click()
    expect(page.locator("h1")).to_have_text("Build a scenario")
    check_page(page, "planner-builder")

    # Every missing field named in the error summary, linked to its field.
    page.get_by_role("button", name="Add this new setting").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Enter the name of the new setting")
    expect(summary).to_contain_text("Enter the postcode of the site")
    check_page(page, "planner-builder-errors")

    # A click on the map fills the latitude and longitude (our one script, with the nonce).
    page.locator("#site-map").click(position={"x": 200, "y": 120})
    expect(page.locator("#latitude")).not_to_have_value("")
    expect(page.locator("#site-map-status")).to_contain_text("Point chosen on the map")

    # The new site by postcode: the postcode wins over the clicked point.
    page.get_by_label("Name of the new setting").fill("Depot Site Special School")
    page.get_by_label("Postcode", exact=True).fill("zz1 1ab")
    page.get_by_label("Youngest age").fill("11")
    page.get_by_label("Oldest age").fill("19")
    page.get_by_label("Places", exact=True).fill("60")
    needs = page.get_by_role("group", name="Needs it is for")
    needs.get_by_label("Autistic spectrum disorder (ASD)").check()
    page.get_by_role("button", name="Add this new setting").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Change added")
    changes = page.locator("#changes")
    expect(changes).to_contain_text("Open Depot Site Special School")
    expect(changes).to_contain_text("at postcode ZZ1 1AB")
    expect(page.locator("#site-map")).to_contain_text("Depot Site Special School")

    page.get_by_label("Setting that closes").select_option(
        label="The Bridge Learning Centre (40 places)"
    )
    page.get_by_role("button", name="Add this closure").click()
    expect(changes).to_contain_text("Close The Bridge Learning Centre")
    check_page(page, "planner-builder-two-changes")

    page.get_by_label("Name of the scenario").fill("Depot site")
    page.get_by_role("button", name=f"Compare with caseload {demo_caseload}").click()
    expect(page.locator("h1")).to_contain_text("Scenario comparison")
    expect(page.get_by_role("heading", name="Side by side")).to_be_visible(timeout=RUN_MS)

    table = page.locator("#comparison-table")
    expect(table).to_contain_text("Depot site: change against the base")
    expect(table).to_contain_text("Children with a place proposed")
    expect(page.locator("svg.sendmatch-chart")).to_have_count(5)
    assert "solver" not in page.content().lower()
    check_page(page, "planner-comparison")

    page.get_by_role("link", name="Map of Depot Site Special School in Depot site").click()
    expect(page.locator("h1")).to_have_text("Map of Depot Site Special School in Depot site")
    expect(page.locator("#scenario-map")).to_be_visible()
    expect(
        page.get_by_role("table", name="Children placed at the site, by journey time")
    ).to_be_visible()
    check_page(page, "planner-site-map")


def test_a_planner_builds_on_a_phone(page_as: Any, demo_caseload: int) -> None:
    page = page_as("planner", width=375)
    page.goto(f"/app/scenarios/new?caseload={demo_caseload}")
    page.get_by_label("Setting that closes").select_option(label="Linnet Brook School (80 places)")
    page.get_by_role("button", name="Add this closure").click()
    expect(page.locator("#changes")).to_contain_text("Close Linnet Brook School")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= 375


def forecast_inputs(folder: Path) -> dict[str, Any]:
    from tests.test_api_forecast import COSTS, FIRST, HEADER, LAST, history_rows, population_text

    history = []
    for year in range(FIRST, LAST + 1):
        path = folder / f"{year}.csv"
        path.write_text("\n".join([HEADER, *history_rows(year)]) + "\n")
        history.append(str(path))
    population = folder / "population.csv"
    population.write_text(population_text(range(FIRST, 2028)))
    costs = folder / "costs.csv"
    costs.write_text(COSTS)
    return {"history": history, "population": str(population), "costs": str(costs)}


def test_a_planner_runs_a_forecast_reads_it_and_downloads_it(
    page_as: Any, demo_caseload: int, tmp_path: Path
) -> None:
    files = forecast_inputs(tmp_path)
    page = page_as("planner")
    page.goto("/app/forecasts")
    expect(page.locator("h1")).to_have_text("Forecast demand")
    check_page(page, "planner-forecast-form")
    page.get_by_role("button", name="Check the files and start the forecast").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "Select the general population file"
    )
    check_page(page, "planner-forecast-errors")

    page.get_by_label("Yearly caseload files").set_input_files(files["history"])
    page.get_by_label("General population").set_input_files(files["population"])
    page.get_by_label("Costs (optional)").set_input_files(files["costs"])
    page.get_by_label("Januaries to project").fill("2024-2026")
    page.get_by_label("Caseload to compare with its places (optional)").select_option(
        str(demo_caseload)
    )
    page.get_by_text("Simulations and seed", exact=True).click()
    page.get_by_label("Simulated futures").fill("50")
    page.get_by_role("button", name="Check the files and start the forecast").click()
    expect(page.locator("h1")).to_contain_text("Forecast")
    expect(page.get_by_role("heading", name="Download the forecast")).to_be_visible(timeout=RUN_MS)
    expect(page.locator("svg.sendmatch-chart")).to_have_count(2)
    expect(page.get_by_role("heading", name="Demand against places", exact=True)).to_be_visible()
    check_page(page, "planner-forecast")

    for link, suffix in (
        ("Forecast spreadsheet (XLSX)", ".xlsx"),
        ("witan.send's CSV files (ZIP)", "-csv.zip"),
    ):
        with page.expect_download() as download:
            page.get_by_role("link", name=link).click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name.endswith(suffix)
        assert zipfile.is_zipfile(saved)  # an XLSX is a zip too

    page.get_by_label("January", exact=True).select_option("2026")
    page.get_by_role("button", name="Show this January").click()
    expect(page.get_by_role("heading", name="By need, January 2026")).to_be_visible()
