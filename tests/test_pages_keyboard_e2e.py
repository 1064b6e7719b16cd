"""What only the retired single-page app's browser tests checked, now on the GOV.UK pages.

* Keyboard alone: the skip link first, the sign-in form's focus order, visible focus, a label
  on every field, one h1 and headings in order, the navigation used by Tab and Enter.
* Reflow at 320 CSS pixels (WCAG 1.4.10; ``check_page`` checks 375): no page scrolls sideways.
* A decision naming a setting is in the audit trail under the setting's name.
* A forecast's yearly file with a bad row: listed by file, row and column, focused, linked to
  its input; then the good files' forecast: its totals table and its spreadsheet agree.

The map without roads is in ``tests/test_pages_map_roads_e2e.py``.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from tests.browser_harness import (
    ADMIN,
    PASSWORD,
    Served,
    assert_accessible,
    browser_page,
    require_chromium,
)

require_chromium()

from openpyxl import load_workbook  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

#: WCAG 1.4.10's width: content must reflow at 320 CSS pixels without sideways scrolling.
REFLOW_WIDTH = 320
#: GOV.UK Frontend's focus colour (links and buttons take it as their background on focus).
FOCUS_YELLOW = "rgb(255, 221, 0)"
#: Longest wait for a small forecast (50 simulated futures) to finish.
FORECAST_MS = 180_000


def unlabelled_fields(page: Page) -> list[str]:
    return list(
        page.evaluate(
            "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
            ".filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name)"
        )
    )


def assert_headings_in_order(page: Page) -> None:
    levels = page.evaluate(
        "[...document.querySelectorAll('main h1, main h2, main h3, main h4')]"
        ".map(e => Number(e.tagName[1]))"
    )
    assert levels[0] == 1 and levels.count(1) == 1, levels
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels


def tab_to(page: Page, text: str, backwards: bool = False, limit: int = 40) -> None:
    """Press Tab (or Shift+Tab) until the focused element's text is ``text``."""
    for _ in range(limit):
        if page.evaluate("document.activeElement.textContent.trim()") == text:
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"Tab never reached {text!r}")


def test_the_pages_work_by_keyboard_alone(chromium_browser: Any, pages_server: Served) -> None:
    with browser_page(chromium_browser, pages_server.base) as page:
        page.goto("/app/sign-in")
        expect(page.locator("h1")).to_have_text("Sign in")
        # The skip link is the first thing Tab reaches; it moves focus to the main content.
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to main content")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        page.keyboard.press("Enter")
        expect(page.locator("main")).to_be_focused()
        assert page.url.split("#")[0].endswith("/app/sign-in"), "the skip link left the page"
        # Focus order: username, password, its show button, then Sign in; Enter signs in.
        page.keyboard.press("Tab")
        expect(page.get_by_label("Username")).to_be_focused()
        page.keyboard.type(ADMIN)
        page.keyboard.press("Tab")
        expect(page.get_by_label("Password", exact=True)).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Show password")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Sign in")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text(f"Hello, {ADMIN}")
        assert_headings_in_order(page)
        # Focus is visible: the focused link takes GOV.UK's yellow.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
        tab_to(page, "Caseloads")
        colour = page.evaluate("getComputedStyle(document.activeElement).backgroundColor")
        assert colour == FOCUS_YELLOW
        # The navigation by keyboard: Enter opens the page, marked as the current one.
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Caseloads")
        current = page.get_by_role("navigation", name="Pages").locator("[aria-current=page]")
        expect(current).to_have_text("Caseloads")
        tab_to(page, "Upload a caseload")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Upload a caseload")
        # Every field has a label; headings in order; the button is reached by Tab too.
        assert unlabelled_fields(page) == []
        assert_headings_in_order(page)
        tab_to(page, "Upload and check")
        expect(page.get_by_role("button", name="Upload and check")).to_be_focused()
        colour = page.evaluate("getComputedStyle(document.activeElement).backgroundColor")
        assert colour == FOCUS_YELLOW


def test_the_pages_reflow_at_320_pixels(
    page_as: Any, placement_run: int, demo_caseload: int
) -> None:
    pages = {
        "case_officer": ["/app/", "/app/caseloads", "/app/caseloads/upload", "/app/runs/new"],
        "panel_member": [
            "/app/runs",
            f"/app/runs/{placement_run}",
            f"/app/runs/{placement_run}/children/C001",
        ],
        "planner": ["/app/scenarios", "/app/forecasts"],
    }
    for role, paths in pages.items():
        page = page_as(role, REFLOW_WIDTH)
        for path in paths:
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
            assert unlabelled_fields(page) == [], path
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= REFLOW_WIDTH, f"{path} scrolls sideways at 320 pixels ({width} px)"
            assert_accessible(page, f"{path} at {REFLOW_WIDTH} pixels wide")


def test_a_decision_naming_a_setting_is_in_the_audit_trail(
    page_as: Any, placement_run: int
) -> None:
    """C006 of the test caseload has Eastgate High School (URN 990004) on its list."""
    urn, name = "990004", "Eastgate High School"
    page = page_as("panel_member")
    page.goto(f"/app/runs/{placement_run}/children/C006/decision")
    expect(page.locator("h1")).to_have_text("Record a decision")
    page.get_by_label("Name another setting").check()
    page.get_by_label("Setting the panel named").select_option(value=urn)
    reasons = "Named at the keyboard test's panel: nearer the family."
    page.get_by_label("The panel's reasons").fill(reasons)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Check the decision before recording it")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("h1")).to_have_text("Decision recorded")

    audit = page_as("admin")
    audit.goto(f"/app/audit?run={placement_run}&child=C006")
    row = audit.locator("#audit-decisions tbody tr").filter(has_text=reasons)
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(5)).to_have_text(name)
    assert urn not in row.inner_text(), "the setting is named, not given by URN"


def test_a_forecast_files_problem_then_its_forecast_and_spreadsheet(
    page_as: Any, tmp_path: Path
) -> None:
    from tests.test_api_forecast import HEADER, history_rows, population_text

    yearly = {}
    for year in (2021, 2022, 2023):
        yearly[year] = tmp_path / f"{year}.csv"
        yearly[year].write_text("\n".join([HEADER, *history_rows(year)]) + "\n")
    rows = history_rows(2022)
    rows[2] = rows[2].replace("ASD", "XYZ")  # Excel row 4
    bad = tmp_path / "bad" / "2022.csv"
    bad.parent.mkdir()
    bad.write_text("\n".join([HEADER, *rows]) + "\n")
    population = tmp_path / "population.csv"
    population.write_text(population_text(range(2021, 2028)))

    page = page_as("planner")
    page.goto("/app/forecasts")
    files = page.get_by_label("Yearly caseload files")
    files.set_input_files([yearly[2021], bad, yearly[2023]])
    page.get_by_label("General population").set_input_files(population)
    page.get_by_label("Januaries to project").fill("2024-2026")
    page.get_by_text("Simulations and seed", exact=True).click()
    page.get_by_label("Simulated futures").fill("50")
    page.get_by_role("button", name="Check the files and start the forecast").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    problem = summary.locator("li").filter(has_text=re.compile(r"2022\.csv, row 4, primary_need"))
    expect(problem).to_have_count(1)
    assert page.title().startswith("Error: ")
    problem.get_by_role("link").click()
    expect(files).to_be_focused()

    files.set_input_files([yearly[y] for y in (2021, 2022, 2023)])
    page.get_by_label("General population").set_input_files(population)
    page.get_by_label("Januaries to project").fill("2024-2026")
    if not page.get_by_label("Simulated futures").is_visible():
        page.get_by_text("Simulations and seed", exact=True).click()
    page.get_by_label("Simulated futures").fill("50")
    page.get_by_role("button", name="Check the files and start the forecast").click()
    expect(page.get_by_role("heading", name="Download the forecast")).to_be_visible(
        timeout=FORECAST_MS
    )
    totals = page.get_by_role("table", name="Projected children with an EHC plan, each January")
    lines = totals.locator("tbody tr")
    expect(lines).to_have_count(4)  # the last January in the files, then the three projected
    expect(lines.first.locator("th")).to_contain_text("2023")
    expect(lines.last.locator("th")).to_have_text("2026")
    shown = lines.last.locator("td").first.inner_text()
    with page.expect_download() as started:
        page.get_by_role("link", name="Forecast spreadsheet (XLSX)").click()
    workbook = tmp_path / started.value.suggested_filename
    started.value.save_as(workbook)
    book = load_workbook(workbook, read_only=True)
    total = list(book["Total"].iter_rows(values_only=True))
    assert total[0][:2] == ("calendar-year", "mean")
    assert (total[-1][0], f"{total[-1][1]:,.0f}") == (2026, shown)
