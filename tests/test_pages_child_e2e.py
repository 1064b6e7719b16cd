"""The child page, comparing options and recording a decision, end to end in headless Chromium
for each role that sees children, at desktop and phone widths (axe-core, screenshots in
``test-artifacts/pages``), on the harness's shared server (:mod:`tests.browser_harness`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_harness import (
    DATA,
    Served,
    check_page,
    require_chromium,
    wait_for_run,
)

require_chromium()

from playwright.sync_api import expect  # noqa: E402

#: C013: a Year 3 autistic child whose plan allows mainstream or resourced provision only,
#: about 25 km north of the town, so every such setting is over the primary journey limit.
FAR_CHILD = "C013,3,,M,52.4700,0.7200,935,ASD,,yes,,,,,mainstream;resourced_provision,A"


@pytest.fixture(scope="module")
def unplaced_run(pages_server: Served) -> int:
    """A finished run of the test caseload with C013 added, who gets no place."""
    api = pages_server.api("case_officer")
    children = (DATA / "children.csv").read_text().rstrip("\n") + "\n" + FAR_CHILD + "\n"
    files = {
        "children": ("children.csv", children.encode()),
        "settings": ("settings.csv", (DATA / "settings.csv").read_bytes()),
    }
    uploaded = api.post("/caseloads", files=files, data={"year_start": "2026-09-01"})
    assert uploaded.status_code == 201, uploaded.text
    started = api.post("/runs", json={"caseload_id": uploaded.json()["id"]})
    run = wait_for_run(api, int(started.json()["id"]))
    assert run["status"] == "done", run
    return int(run["id"])


@pytest.mark.parametrize("role", ["panel_member", "case_officer", "admin"])
def test_read_a_child(page_as: Any, placement_run: int, role: str) -> None:
    page = page_as(role)
    page.goto(f"/app/runs/{placement_run}/children/C001")
    expect(page.locator("h1")).to_have_text("Child C001")
    expect(page.locator("#proposal")).to_contain_text("Proposed: Eastgate High School")
    expect(page.locator("#about")).to_contain_text("Autistic spectrum disorder (ASD)")
    expect(page.locator("#about")).to_contain_text("1st: Eastgate High School")
    expect(page.locator("#options")).to_contain_text("Effect on the rest of the LA")
    expect(page.locator("svg.sendmatch-map")).to_be_visible()
    decide = page.get_by_role("button", name="Record a decision")
    expect(decide).to_have_count(0 if role == "case_officer" else 1)
    check_page(page, f"child-{role}")


def test_a_planner_cannot_read_a_child(page_as: Any, placement_run: int) -> None:
    page = page_as("planner")
    page.goto(f"/app/runs/{placement_run}/children/C001")
    expect(page.locator("h1")).to_have_text("You cannot use this page")


def test_compare_three_options(page_as: Any, placement_run: int) -> None:
    page = page_as("panel_member")
    page.goto(f"/app/runs/{placement_run}/children/C001")
    boxes = page.locator("#options input[type=checkbox]")
    for i in range(3):
        boxes.nth(i).check()
    page.get_by_role("button", name="Compare the ticked options").click()
    expect(page.locator("h1")).to_have_text("Compare options")
    expect(page.locator("#compared thead th")).to_have_count(3)
    expect(page.locator("#compared")).to_contain_text("Total cost a year")
    check_page(page, "child-compare")
    page.goto(f"/app/runs/{placement_run}/children/C001")
    for i in range(4):
        boxes.nth(i).check()
    page.get_by_role("button", name="Compare the ticked options").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Select up to 3 options")
    check_page(page, "child-compare-too-many")


def test_unplaced_child_page(page_as: Any, unplaced_run: int) -> None:
    page = page_as("panel_member")
    page.goto(f"/app/runs/{unplaced_run}/children/C013")
    expect(page.locator("#why-no-place")).to_be_visible()
    expect(page.locator("main")).to_contain_text("45-minute journey limit")
    expect(page.locator("#nearest li").first).to_contain_text("minutes")
    expect(page.locator("#next-steps li").first).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("£0")
    check_page(page, "child-unplaced")


@pytest.mark.parametrize(("role", "width"), [("panel_member", 1280), ("admin", 375)])
def test_record_a_decision_via_check_answers(
    page_as: Any, placement_run: int, role: str, width: int
) -> None:
    child = {"panel_member": "C006", "admin": "C012"}[role]
    page = page_as(role, width)
    page.goto(f"/app/runs/{placement_run}/children/{child}")
    page.get_by_role("button", name="Record a decision").click()
    expect(page.locator("h1")).to_have_text("Record a decision")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Select what the panel decided")
    check_page(page, f"decision-errors-{role}")
    page.get_by_label("Name another setting").check()
    page.get_by_label("Setting the panel named").select_option(value="990004")
    page.get_by_label("The panel's reasons").fill("Closer to the family's new home.")
    check_page(page, f"decision-form-{role}")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Check the decision before recording it")
    expect(page.locator("main")).to_contain_text("Eastgate High School")
    check_page(page, f"decision-check-{role}")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("h1")).to_have_text("Decision recorded")
    check_page(page, f"decision-recorded-{role}")
    page.goto(f"/app/runs/{placement_run}/children/{child}")
    expect(page.locator("#decided")).to_contain_text("Decided: Eastgate High School")
    expect(page.locator("#decisions")).to_contain_text("Name another setting")


def test_audit_page(page_as: Any, placement_run: int) -> None:
    reader = page_as("case_officer")
    reader.goto(f"/app/runs/{placement_run}/children/C002")
    page = page_as("admin")
    page.goto("/app/audit")
    expect(page.locator("h1")).to_have_text("Audit")
    expect(page.locator("#reads")).to_contain_text("C002")
    check_page(page, "audit")


def test_a_draft_decision_survives_signing_out(
    page_as: Any, pages_server: Served, placement_run: int
) -> None:
    page = page_as("panel_member")
    form = f"/app/runs/{placement_run}/children/C008/decision"
    page.goto(form)
    page.get_by_label("Defer the decision").check()
    page.get_by_label("The panel's reasons").fill("Waiting for the EP report.")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Check the decision before recording it")
    page.get_by_role("button", name="Sign out").click()
    page.goto(form)
    expect(page.locator("h1")).to_have_text("Sign in")
    page.get_by_label("Username").fill(pages_server.users["panel_member"])
    page.get_by_label("Password", exact=True).fill(pages_server.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Record a decision")
    expect(page.get_by_label("The panel's reasons")).to_have_value("Waiting for the EP report.")
    expect(page.get_by_label("Defer the decision")).to_be_checked()
