"""The GOV.UK pages end to end in headless Chromium, for each role, at desktop and phone widths.

The harness (:mod:`tests.browser_harness`) runs one real server with a user of each role; every
page visited is checked by axe-core at 1280 and 375 pixels wide, must not scroll sideways on
the phone, fetches nothing from another host and raises no script error; full-page screenshots
are kept in ``test-artifacts/pages``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser_harness import (
    ADMIN,
    DATA,
    PASSWORD,
    RUN_WAIT_S,
    Served,
    check_page,
    check_print,
    require_chromium,
)

require_chromium()

from playwright.sync_api import expect  # noqa: E402

#: What each role is offered in the service navigation, at least (other pages add theirs).
NAVIGATION = {
    "admin": ["Home", "Caseloads", "Runs", "Users"],
    "case_officer": ["Home", "Caseloads", "Runs"],
    "panel_member": ["Home", "Caseloads", "Runs"],
    "planner": ["Home", "Caseloads", "Runs"],
}


def test_sign_in_goes_back_to_the_page_asked_for_and_sign_out_ends_it(
    chromium_browser: Any, pages_server: Served
) -> None:
    from tests.browser_harness import browser_page

    with browser_page(chromium_browser, pages_server.base) as page:
        page.goto("/")
        expect(page.locator("h1")).to_have_text("Sign in")
        check_page(page, "sign-in")
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password", exact=True).fill("not the password at all")
        page.get_by_role("button", name="Sign in").click()
        summary = page.locator(".govuk-error-summary")
        expect(summary).to_be_focused()
        expect(summary).to_contain_text("Enter a correct username and password")
        assert page.title().startswith("Error: ")
        check_page(page, "sign-in-error")

        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("h1")).to_have_text(f"Hello, {ADMIN}")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("region", name="Important")).to_contain_text("You have signed out")
        page.goto("/app/")
        expect(page.locator("h1")).to_have_text("Sign in")


@pytest.mark.parametrize("role", list(NAVIGATION))
def test_each_role_is_offered_only_what_it_may_do(page_as: Any, role: str) -> None:
    page = page_as(role)
    page.goto("/app/")
    expect(page.locator("h1")).to_contain_text("Hello")
    links = page.get_by_role("navigation", name="Pages").get_by_role("link")
    expect(links.first).to_have_text("Home")
    texts = [t.strip() for t in links.all_inner_texts()]
    assert set(NAVIGATION[role]) <= set(texts), texts
    assert ("Users" in texts) == (role == "admin")
    check_page(page, f"home-{role}")
    # Every page offered opens: no link ends in "you cannot use this page".
    for href in [links.nth(i).get_attribute("href") for i in range(links.count())]:
        answer = page.goto(str(href))
        assert answer is not None and answer.status == 200, href
        expect(page.locator("body")).not_to_contain_text("cannot use this page")


def test_upload_problems_are_listed_by_file_and_row(page_as: Any, tmp_path: Path) -> None:
    page = page_as("case_officer")
    lines = (DATA / "children.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",SLCN,", ",AUT,", 1)  # Excel row 3
    broken = tmp_path / "broken children.csv"
    broken.write_text("\n".join(lines) + "\n")
    page.goto("/app/caseloads")
    page.get_by_role("button", name="Upload a caseload").click()
    expect(page.locator("h1")).to_have_text("Upload a caseload")
    check_page(page, "upload-form")
    page.get_by_label("Caseload (children)").set_input_files(broken)
    page.get_by_label("Settings", exact=True).set_input_files(DATA / "settings.csv")
    page.get_by_role("button", name="Upload and check").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    problems = summary.locator("li")
    expect(problems.filter(has_text="broken children.csv, row 3, primary_need")).to_have_count(1)
    assert page.title().startswith("Error: ")
    check_page(page, "upload-problems")
    problems.first.get_by_role("link").click()
    expect(page.get_by_label("Caseload (children)")).to_be_focused()


def test_upload_start_a_run_and_read_its_summary(page_as: Any) -> None:
    page = page_as("case_officer")
    page.goto("/app/caseloads/upload")
    page.get_by_label("Caseload (children)").set_input_files(DATA / "children.csv")
    page.get_by_label("Settings", exact=True).set_input_files(DATA / "settings.csv")
    page.get_by_label("Day").fill("1")
    page.get_by_label("Month").fill("9")
    page.get_by_label("Year", exact=True).fill("2026")
    page.get_by_role("button", name="Upload and check").click()
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("12 children and 8 settings")
    expect(page.get_by_label("Caseload", exact=True)).to_have_value(
        re.compile(r"^\d+$")
    )  # the new caseload is chosen
    check_page(page, "start-run")
    page.get_by_role("button", name="Start the run").click()
    expect(page.locator("h1")).to_have_text(re.compile(r"^Placement run \d+$"))
    # The page reloads itself every 2 seconds while the run works.
    expect(page.locator(".govuk-summary-list").first).to_contain_text(
        "Finished", timeout=RUN_WAIT_S * 1000
    )
    expect(page.get_by_text("12 (100%)")).to_be_visible()
    # The breakdowns and map are prepared after the first view; the page reloads until then.
    expect(page.get_by_role("table", name=re.compile("Children by primary need"))).to_be_visible(
        timeout=RUN_WAIT_S * 1000
    )
    expect(
        page.get_by_role("img", name=re.compile("Map of the settings and where"))
    ).to_be_visible()
    check_page(page, "run-summary-case-officer")
    check_print(page, "run-summary")


@pytest.mark.parametrize("role", list(NAVIGATION))
def test_lists_and_a_run_for_each_role(page_as: Any, placement_run: int, role: str) -> None:
    page = page_as(role)
    page.goto("/app/caseloads")
    expect(page.get_by_role("table", name=re.compile("caseload"))).to_be_visible()
    uploads = page.get_by_role("button", name="Upload a caseload")
    expect(uploads).to_have_count(1 if role in {"admin", "case_officer"} else 0)
    check_page(page, f"caseloads-{role}")
    page.goto("/app/runs")
    page.get_by_role("link", name=f"Run {placement_run}", exact=True).click()
    expect(page.locator("h1")).to_have_text(f"Placement run {placement_run}")
    expect(page.get_by_role("table", name=re.compile("How full each setting"))).to_be_visible(
        timeout=RUN_WAIT_S * 1000
    )
    lines = page.locator("svg.sendmatch-map line")
    if role == "planner":
        expect(lines).to_have_count(0)  # where children live is not the planner's to see
    else:
        assert lines.count() > 0
    check_page(page, f"run-{role}")
    page.goto("/app/runs")
    check_page(page, f"runs-{role}")


def test_an_admin_adds_a_user_and_turns_them_off(page_as: Any, pages_server: Served) -> None:
    page = page_as("admin")
    page.goto("/app/users")
    check_page(page, "users")
    page.get_by_label("Username").fill("panel2")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("radio", name="Panel member").check()
    page.get_by_role("button", name="Add user").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("at least 12 characters")
    check_page(page, "users-problem")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("panel2 can now sign in.")
    page.get_by_role("button", name="Turn off panel2").click()
    row = page.get_by_role("row").filter(has_text="panel2")
    expect(row).to_contain_text("Off")
