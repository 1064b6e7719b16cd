"""The children list page with FastAPI's TestClient: search, filters, sort, pages, exports,
the panel pack, who may see it, and the ``run_children`` index it reads (filled when a run is
saved and by migration 0009 for runs saved before it).

The fixture run has 12 children; paging and formula-safety use a synthetic run whose index
rows are written directly (the list reads nothing else), as a 60,000-child run would be too
slow to compute in a unit test.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from api.children_index import RunChild
from api.db import Decision, Run, RunKind, RunResult, RunStatus, User
from api.pages import routes_children
from api.pages.sessions import csrf_token
from api.run_panel_pack import MAX_PACK_CHILDREN
from matcher import cli
from matcher.io import unescape_formula
from tests.api_client import DATA
from tests.test_pages_foundation import page_cookie, token_of

Headers = dict[str, dict[str, str]]
runner = CliRunner()


def children_page(client: TestClient, headers: dict[str, str], run_id: int, query: str = "") -> str:
    response = client.get(
        f"/app/runs/{run_id}/children{'?' + query if query else ''}", headers=page_cookie(headers)
    )
    assert response.status_code == 200, response.text
    return response.text


def listed_ids(html: str) -> list[str]:
    """The child ids of the table's rows, in order."""
    found = re.findall(r'<th scope="row" class="govuk-table__header"><a [^>]*>([^<]+)</a>', html)
    return [unescape(i) for i in found]


def showing(html: str) -> str:
    found = re.search(r'<h2 class="govuk-heading-m" id="showing">([^<]+)</h2>', html)
    return found.group(1) if found else ""


# --------------------------------------------------------------------------------------------
# The fixture run: 12 children


def test_the_list_shows_every_child_with_their_setting_by_name(
    client: TestClient, users: Headers, run: dict
) -> None:
    html = children_page(client, users["panel_member"], run["id"])
    assert listed_ids(html) == [f"C{n:03d}" for n in range(1, 13)]
    assert showing(html) == "Showing 1 to 12 of 12 children"
    assert f'href="/app/runs/{run["id"]}/children/C001"' in html  # each id opens the child page
    # Each placed child's setting by name, its URN beneath: the names come from the run.
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        placed = session.execute(
            select(RunChild.setting_name, RunChild.setting_urn).where(
                RunChild.run_id == run["id"], RunChild.setting_urn.is_not(None)
            )
        ).all()
    assert placed
    for name, urn in placed:
        assert f"{name}<br><span" in html and f"URN {urn}" in html


def test_saving_a_run_indexes_each_child_with_need_and_year_from_the_caseload(
    client: TestClient, users: Headers, run: dict
) -> None:
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        rows = {r.child_id: r for r in session.scalars(select(RunChild))}
        results = {c: r for c, r in session.execute(select(RunResult.child_id, RunResult.result))}
    assert set(rows) == set(results)
    # children.csv: C001 is Y7 ASD; C003 has a date of birth that makes it Y8 (see its README).
    assert (rows["C001"].primary_need, rows["C001"].nc_year, rows["C001"].phase) == (
        "ASD",
        7,
        "secondary",
    )
    assert rows["C003"].nc_year == 8
    assert rows["C002"].phase == "primary"  # Reception
    for child_id, row in rows.items():
        result = results[child_id]
        assert row.setting_urn == result["setting_urn"]
        assert row.annual_cost == result["placement_cost"] + result["transport_cost"]
        assert row.preference_met == (
            "yes"
            if result["preference_rank"]
            else ("no" if result["tailored_list"]["preferences"] else "none")
        )


def test_search_is_partial_and_ignores_capitals(
    client: TestClient, users: Headers, run: dict
) -> None:
    html = children_page(client, users["case_officer"], run["id"], "q=c01")
    assert listed_ids(html) == ["C010", "C011", "C012"]
    assert showing(html) == "Showing 1 to 3 of 3 children"
    html = children_page(client, users["case_officer"], run["id"], "q=C00")
    assert listed_ids(html) == [f"C00{n}" for n in range(1, 10)]


def test_a_near_miss_id_says_no_child_matches_and_offers_the_filters_to_clear(
    client: TestClient, users: Headers, run: dict
) -> None:
    html = children_page(client, users["panel_member"], run["id"], "q=C0013&need=ASD")
    assert "No child matches" in html
    assert "No child id in this run contains “C0013” with the other filters in use" in html
    # Each filter in use can be removed on its own, or all at once.
    base = f"/app/runs/{run['id']}/children"
    assert f'href="{base}?need=ASD">Remove' in html
    assert f'href="{base}?q=C0013">Remove' in html
    assert f'href="{base}">clear the search and every filter' in html
    assert listed_ids(html) == []


def test_filters_keep_only_the_matching_children(
    client: TestClient, users: Headers, run: dict
) -> None:
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        rows = list(session.scalars(select(RunChild).where(RunChild.run_id == run["id"])))
    user = users["admin"]
    expect = {
        "need=ASD": [r for r in rows if r.primary_need == "ASD"],
        "year=7": [r for r in rows if r.nc_year == 7],
        "phase=primary": [r for r in rows if r.phase == "primary"],
        "placed=unplaced": [r for r in rows if r.setting_urn is None],
        "placed=placed": [r for r in rows if r.setting_urn is not None],
        "kind=special": [r for r in rows if r.placement_kind == "special"],
        "preference=yes": [r for r in rows if r.preference_met == "yes"],
        "preference=no": [r for r in rows if r.preference_met == "no"],
    }
    for query, wanted in expect.items():
        html = children_page(client, user, run["id"], query)
        assert listed_ids(html) == sorted(r.child_id for r in wanted), query
    urn, name = next((r.setting_urn, r.setting_name) for r in rows if r.setting_urn)
    html = children_page(client, user, run["id"], f"setting={urn}")
    assert listed_ids(html) == sorted(r.child_id for r in rows if r.setting_urn == urn)
    assert f"Setting: {name} <a" in html  # the filter in use, by the setting's name


def test_decision_status_is_the_latest_decision(
    client: TestClient, users: Headers, run: dict
) -> None:
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        admin = session.scalar(select(User.id).where(User.username == "admin"))
        session.execute(
            insert(Decision),
            [
                {
                    "run_id": run["id"],
                    "child_id": "C002",
                    "reasons": "a",
                    "decided_by": admin,
                    "outcome": "defer",
                    "setting_urn": None,
                },
                {
                    "run_id": run["id"],
                    "child_id": "C002",
                    "reasons": "b",
                    "decided_by": admin,
                    "outcome": "refuse",
                    "setting_urn": None,
                },
                {
                    "run_id": run["id"],
                    "child_id": "C005",
                    "reasons": "c",
                    "decided_by": admin,
                    "outcome": None,
                    "setting_urn": None,
                },
            ],
        )
        session.commit()
    user = users["panel_member"]
    assert listed_ids(children_page(client, user, run["id"], "decision=refuse")) == ["C002"]
    assert listed_ids(children_page(client, user, run["id"], "decision=defer")) == []
    assert listed_ids(children_page(client, user, run["id"], "decision=unrecorded")) == ["C005"]
    undecided = listed_ids(children_page(client, user, run["id"], "decision=none"))
    assert len(undecided) == 10 and "C002" not in undecided
    html = children_page(client, user, run["id"], "q=C002")
    assert "No setting named" in html


def test_sorting_by_a_column_both_ways(client: TestClient, users: Headers, run: dict) -> None:
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        rows = list(session.scalars(select(RunChild).where(RunChild.run_id == run["id"])))
    user = users["panel_member"]
    html = children_page(client, user, run["id"], "sort=child&order=desc")
    assert listed_ids(html) == [f"C{n:03d}" for n in range(12, 0, -1)]
    html = children_page(client, user, run["id"], "sort=cost&order=desc")
    costs = {r.child_id: r.annual_cost for r in rows}
    ids = listed_ids(html)
    assert [costs[i] for i in ids] == sorted(costs.values(), reverse=True)
    assert 'aria-sort="descending"' in html
    # Unknown sort column or order: the default order, not an error.
    html = children_page(client, user, run["id"], "sort=secret&order=sideways")
    assert listed_ids(html) == [f"C{n:03d}" for n in range(1, 13)]


def test_values_the_list_does_not_offer_are_dropped_and_named(
    client: TestClient, users: Headers, run: dict
) -> None:
    html = children_page(client, users["panel_member"], run["id"], "need=XYZ&year=banana&page=-3")
    assert "Not applied" in html and "Primary need, NC year" in html
    assert len(listed_ids(html)) == 12


# --------------------------------------------------------------------------------------------
# A synthetic run of 2,345 children: pages, exports and formula text


SYNTHETIC = 2345
FORMULA_ID = '=HYPERLINK("http://example.invalid","x")'


@pytest.fixture
def big_run(client: TestClient, users: Headers) -> Iterator[int]:
    """A done placement run whose index holds 2,345 children (one with a formula for an id)."""
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        admin = session.scalar(select(User.id).where(User.username == "admin"))
        run = Run(kind=RunKind.PLACEMENT.value, status=RunStatus.DONE.value, started_by=admin)
        session.add(run)
        session.flush()
        ids = [f"K{n:05d}" for n in range(1, SYNTHETIC)] + [FORMULA_ID]
        session.execute(
            insert(RunChild),
            [
                {
                    "run_id": run.id,
                    "child_id": cid,
                    "child_key": cid.lower(),
                    "primary_need": ("ASD", "SEMH", "MLD")[n % 3],
                    "nc_year": n % 14,
                    "phase": "primary" if n % 14 <= 6 else "secondary",
                    "placement_kind": None if n % 10 == 0 else "special",
                    "setting_urn": None if n % 10 == 0 else f"{100000 + n % 7}",
                    "setting_name": None if n % 10 == 0 else f"+Setting {n % 7}",
                    "preference_rank": None,
                    "preference_met": "none",
                    "travel_minutes": float(n % 50),
                    "annual_cost": n * 10,
                }
                for n, cid in enumerate(ids)
            ],
        )
        session.commit()
        run_id = run.id
    yield run_id
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        session.execute(delete(RunChild).where(RunChild.run_id == run_id))
        session.commit()


def test_pages_number_with_ellipses_and_a_page_past_the_end_shows_the_last(
    client: TestClient, users: Headers, big_run: int
) -> None:
    user = users["panel_member"]
    html = children_page(client, user, big_run, "page=2")
    assert showing(html) == "Showing 51 to 100 of 2,345 children"
    assert listed_ids(html)[0] == "K00050"  # the formula id sorts first: "=" < "K"
    html = children_page(client, user, big_run, "page=20")
    assert html.count("govuk-pagination__item--ellipsis") == 2
    for n in ("1", "19", "21", "47"):
        assert f"page={n}" in html
    html = children_page(client, user, big_run, "page=999999")
    assert showing(html) == "Showing 2,301 to 2,345 of 2,345 children"
    # Filters and sort are kept in every page link.
    html = children_page(client, user, big_run, "need=ASD&sort=cost&order=desc&page=3")
    assert (
        f'href="/app/runs/{big_run}/children?need=ASD&amp;sort=cost&amp;order=desc&amp;page=4"'
        in html
    )


def _export(
    client: TestClient, headers: dict[str, str], run_id: int, kind: str, query: str
) -> bytes:
    response = client.get(
        f"/app/runs/{run_id}/children/download/{kind}?{query}", headers=page_cookie(headers)
    )
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.content


def test_exports_hold_every_page_of_what_is_shown(
    client: TestClient, users: Headers, big_run: int
) -> None:
    user = users["case_officer"]
    query = "need=SEMH&placed=placed&sort=minutes&order=desc"
    shown: list[str] = []
    page = 1
    while True:
        html = children_page(client, user, big_run, f"{query}&page={page}")
        shown += listed_ids(html)
        if f"page={page + 1}" not in html:
            break
        page += 1
    assert len(shown) > 50  # more than one page
    text = _export(client, user, big_run, "csv", query).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [unescape_formula(r["child_id"]) for r in rows] == shown
    assert {r["primary_need"] for r in rows} == {"SEMH"}
    book = load_workbook(io.BytesIO(_export(client, user, big_run, "xlsx", query)))
    sheet = book["Children"]
    assert [c.value for c in sheet["A"][1:]] == shown


def test_exported_text_never_becomes_a_spreadsheet_formula(
    client: TestClient, users: Headers, big_run: int
) -> None:
    user = users["case_officer"]
    text = _export(client, user, big_run, "csv", "q=hyperlink").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["child_id"] for r in rows] == ["'" + FORMULA_ID]
    assert rows[0]["setting_name"] == "'+Setting 6"
    book = load_workbook(io.BytesIO(_export(client, user, big_run, "xlsx", "q=hyperlink")))
    cell = book["Children"]["A2"]
    assert cell.value == FORMULA_ID and cell.data_type == "s"


def test_settings_of_one_name_are_told_apart_by_urn(
    client: TestClient, users: Headers, big_run: int
) -> None:
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        session.execute(
            update(RunChild)
            .where(RunChild.run_id == big_run, RunChild.setting_urn.in_(["100001", "100002"]))
            .values(setting_name="Oak Academy")
        )
        session.commit()
    html = children_page(client, users["panel_member"], big_run, "setting=100002")
    assert '<option value="100001">Oak Academy (URN 100001)</option>' in html
    assert '<option value="100002" selected>Oak Academy (URN 100002)</option>' in html
    assert "Setting: Oak Academy (URN 100002) <a" in html


def test_a_pack_of_all_matching_children_is_refused_over_the_cap(
    client: TestClient, users: Headers, big_run: int
) -> None:
    user = users["panel_member"]
    response = client.post(
        f"/app/runs/{big_run}/children/panel-pack?need=ASD",
        data={"csrf_token": csrf_token(token_of(user)), "scope": "all", "format": "html"},
        headers=page_cookie(user),
    )
    assert response.status_code == 400
    assert f"782 children match this filter: a panel pack holds at most {MAX_PACK_CHILDREN}" in (
        response.text
    )


# --------------------------------------------------------------------------------------------
# Who may see it


@pytest.mark.parametrize(
    "path", ["children", "children?q=C0", "children/download/csv", "children/download/xlsx"]
)
def test_planners_are_refused_and_strangers_sent_to_sign_in(
    client: TestClient, users: Headers, run: dict, path: str
) -> None:
    url = f"/app/runs/{run['id']}/{path}"
    refused = client.get(url, headers=page_cookie(users["planner"]))
    assert refused.status_code == 403
    assert "C001" not in refused.text
    stranger = client.get(url, follow_redirects=False)
    assert stranger.status_code == 303
    assert stranger.headers["location"].startswith("/app/sign-in")


def test_planners_get_no_panel_pack_and_a_pack_needs_the_csrf_field(
    client: TestClient, users: Headers, run: dict
) -> None:
    url = f"/app/runs/{run['id']}/children/panel-pack"
    planner = users["planner"]
    refused = client.post(
        url,
        data={"csrf_token": csrf_token(token_of(planner)), "child": "C001"},
        headers=page_cookie(planner),
    )
    assert refused.status_code == 403 and "C001" not in refused.text
    forged = client.post(url, data={"child": "C001"}, headers=page_cookie(users["panel_member"]))
    assert forged.status_code == 403 and "OFFICIAL-SENSITIVE" not in forged.text


def test_the_children_navigation_opens_the_latest_run(
    client: TestClient, users: Headers, run: dict
) -> None:
    response = client.get(
        "/app/children", headers=page_cookie(users["panel_member"]), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/app/runs/{run['id']}/children"


def test_the_children_navigation_says_when_no_run_has_finished(
    client: TestClient, users: Headers
) -> None:
    response = client.get("/app/children", headers=page_cookie(users["case_officer"]))
    assert response.status_code == 200
    assert "No placement run has finished yet" in response.text


# --------------------------------------------------------------------------------------------
# The panel pack


def _pack(client: TestClient, user: dict[str, str], run_id: int, **fields: Any) -> Any:
    return client.post(
        f"/app/runs/{run_id}/children/panel-pack",
        data={"csrf_token": csrf_token(token_of(user)), **fields},
        headers=page_cookie(user),
    )


def _cli_pack(tmp_path: Path, *children: str) -> str:
    out = tmp_path / "cli-pack.html"
    args = [
        "panel-pack",
        "--children",
        str(DATA / "children.csv"),
        "--settings",
        str(DATA / "settings.csv"),
        "--tariffs",
        str(DATA / "tariffs.csv"),
        "--year-start",
        "2026-09-01",
        "--out",
        str(out),
    ]
    for child in children:
        args += ["--child", child]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_the_pack_from_the_page_is_the_command_lines_pack(
    client: TestClient, users: Headers, run: dict, tmp_path: Path
) -> None:
    wanted = ["C004", "C001", "C009"]
    response = _pack(client, users["panel_member"], run["id"], child=wanted, format="html")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == _cli_pack(tmp_path, *wanted)


def test_a_pack_of_all_children_matching_the_filter(
    client: TestClient, users: Headers, run: dict, tmp_path: Path
) -> None:
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        asd = sorted(
            session.scalars(
                select(RunChild.child_id).where(
                    RunChild.run_id == run["id"], RunChild.primary_need == "ASD"
                )
            )
        )
    user = users["case_officer"]
    response = client.post(
        f"/app/runs/{run['id']}/children/panel-pack?need=ASD",
        data={"csrf_token": csrf_token(token_of(user)), "scope": "all", "format": "html"},
        headers=page_cookie(user),
    )
    assert response.status_code == 200, response.text
    assert response.text == _cli_pack(tmp_path, *asd)


def test_a_pack_with_no_child_ticked_says_what_to_do(
    client: TestClient, users: Headers, run: dict
) -> None:
    response = _pack(client, users["panel_member"], run["id"], format="html")
    assert response.status_code == 400
    assert "Tick the children to put in the panel pack" in response.text
    assert "govuk-error-summary" in response.text


def test_without_chromium_the_pdf_is_refused_and_the_html_offered(
    client: TestClient, users: Headers, run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_children, "find_chromium", lambda: None)
    monkeypatch.setattr("api.run_panel_pack.find_chromium", lambda: None)
    html = children_page(client, users["panel_member"], run["id"])
    assert "The PDF needs Chromium" in html and "Download panel pack (PDF)" not in html
    response = _pack(client, users["panel_member"], run["id"], child=["C001"], format="pdf")
    assert response.status_code == 400
    assert "The PDF could not be made: it needs Chromium" in response.text


@pytest.mark.skipif(
    routes_children.find_chromium() is None, reason="no Chromium to print the PDF with"
)
def test_the_pack_as_a_pdf(client: TestClient, users: Headers, run: dict) -> None:
    response = _pack(client, users["panel_member"], run["id"], child=["C001"], format="pdf")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


# --------------------------------------------------------------------------------------------
# Migration 0009 indexes the runs saved before it


def test_migration_indexes_runs_saved_before_it(
    app: FastAPI, client: TestClient, run: dict
) -> None:
    database = app.state.db
    with database.sessions() as session:
        before = {
            r.child_id: (r.primary_need, r.nc_year, r.setting_urn, r.annual_cost)
            for r in session.scalars(select(RunChild))
        }
        # A run saved before 0009 holds no need or NC year in its results.
        for row in session.scalars(select(RunResult)):
            row.result = {k: v for k, v in row.result.items() if k != "child"}
        session.commit()
    database.downgrade("0008")
    database.migrate()
    with database.sessions() as session:
        after = {
            r.child_id: (r.primary_need, r.nc_year, r.setting_urn, r.annual_cost)
            for r in session.scalars(select(RunChild))
        }
    assert len(before) == 12
    assert after == before
