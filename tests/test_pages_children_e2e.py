"""The children list end to end in headless Chromium, for each role that may see children, at
desktop and phone widths: find a child by part of the id, filter, sort, export, panel pack.

Every state shown is checked by axe-core at 1280 and 375 pixels wide and must not scroll
sideways on the phone (:func:`tests.browser_harness.check_page`); screenshots are kept in
``test-artifacts/pages/children-*``. The run is the harness's 12-child placement run.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser_harness import Served, check_page, require_chromium

require_chromium()

from playwright.sync_api import expect  # noqa: E402

CHILD_ROLES = ("panel_member", "case_officer", "admin")


def listed(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("tbody th[scope=row]").all_inner_texts()]


@pytest.mark.parametrize("role", CHILD_ROLES)
def test_find_filter_sort_and_export_children(
    page_as: Any, pages_server: Served, placement_run: int, role: str, tmp_path: Path
) -> None:
    page = page_as(role)
    page.goto("/app/")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Children").click()
    expect(page.locator("h1")).to_have_text("Children")  # the newest run: other tests add runs
    page.goto(f"/app/runs/{placement_run}/children")
    expect(page.locator("#showing")).to_contain_text("of 12 children")
    check_page(page, f"children-list-{role}")

    # Part of an id, in the wrong case.
    page.get_by_label("Find a child by id").fill("c01")
    page.get_by_role("button", name="Search and filter").click()
    expect(page.locator("#showing")).to_have_text("Showing 1 to 3 of 3 children")
    assert listed(page) == ["C010", "C011", "C012"]
    check_page(page, f"children-search-{role}")

    # A near miss: no dead end, the filters to clear are offered.
    page.get_by_label("Find a child by id").fill("C0102")
    page.get_by_role("button", name="Search and filter").click()
    expect(page.get_by_role("heading", name="No child matches")).to_be_visible()
    check_page(page, f"children-no-match-{role}")
    page.get_by_role("link", name="clear the search and every filter").click()
    expect(page.locator("#showing")).to_contain_text("of 12 children")

    # A filter, then a sort by a column both ways.
    page.get_by_label("Primary need").select_option("ASD")
    page.get_by_role("button", name="Search and filter").click()
    asd = listed(page)
    assert asd and page.locator("tbody tr td:nth-child(3)").all_inner_texts() == ["ASD"] * len(asd)
    page.locator("thead").get_by_role("link", name=re.compile("^Child")).click()
    header = page.locator("th[aria-sort=descending]")
    expect(header).to_contain_text("Child")
    assert listed(page) == sorted(asd, reverse=True)
    check_page(page, f"children-filtered-sorted-{role}")

    # The export holds the rows shown, in the order shown.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV file").click()
    path = tmp_path / "children.csv"
    download.value.save_as(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["child_id"] for r in rows] == listed(page)


@pytest.mark.parametrize("role", CHILD_ROLES)
def test_panel_pack_of_ticked_children(
    page_as: Any, pages_server: Served, placement_run: int, role: str, tmp_path: Path
) -> None:
    page = page_as(role)
    page.goto(f"/app/runs/{placement_run}/children")
    # Nothing ticked: the error summary says what to do.
    page.get_by_role("button", name="Download panel pack (HTML)").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Tick the children to put in the panel pack")
    check_page(page, f"children-pack-error-{role}")

    page.get_by_label("Put child C002 in the panel pack").check()
    page.get_by_label("Put child C007 in the panel pack").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download panel pack (HTML)").click()
    path = tmp_path / "pack.html"
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert "Placement panel pack" in text
    assert "Child C002" in text and "Child C007" in text and "Child C001" not in text
    if role == "panel_member":
        page.get_by_label("Put child C002 in the panel pack").check()
        with page.expect_download(timeout=180_000) as pdf:
            page.get_by_role("button", name="Download panel pack (PDF)").click()
        pdf_path = tmp_path / "pack.pdf"
        pdf.value.save_as(pdf_path)
        assert pdf_path.read_bytes().startswith(b"%PDF-")


def test_planners_are_not_offered_children(page_as: Any, placement_run: int) -> None:
    page = page_as("planner")
    page.goto("/app/")
    navigation = page.get_by_role("navigation", name="Pages")
    expect(navigation.get_by_role("link", name="Children")).to_have_count(0)
    response = page.goto(f"/app/runs/{placement_run}/children")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("You cannot use this page")
    assert "C001" not in page.content()
    check_page(page, "children-planner-refused")


def test_csv_export_parses(pages_server: Served, placement_run: int) -> None:
    """The CSV a browser downloads is the one the API client gets for the same address."""
    api = pages_server.api("panel_member")
    token = pages_server.token("panel_member")
    answer = api.get(
        f"/app/runs/{placement_run}/children/download/csv",
        params={"placed": "placed"},
        headers={"Cookie": f"sendmatch_session={token}", "Authorization": ""},
    )
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows and all(r["setting_urn"] for r in rows)
