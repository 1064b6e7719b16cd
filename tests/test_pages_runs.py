"""The caseload, run and users pages with FastAPI's TestClient: lists, the upload form and its
problems, starting a run, a run's progress and summary, cancelling, and managing users."""

from __future__ import annotations

import re
import time
from collections import Counter

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.db import Run, User
from api.pages import run_summary
from tests.api_client import DATA, PASSWORD, upload
from tests.test_pages_foundation import form_of, page_cookie


def prepared_run_page(client: TestClient, run_id: int, headers: dict[str, str]) -> str:
    """A finished run's page once its breakdowns and map are ready (prepared in a thread on
    the first view, which says so and asks the browser to reload)."""
    for _ in range(600):
        page = client.get(f"/app/runs/{run_id}", headers=page_cookie(headers))
        if 'id="preparing"' not in page.text:
            assert "refresh" not in page.headers
            return page.text
        assert page.headers["refresh"] == "2"
        time.sleep(0.1)
    raise AssertionError("the run's overview was not ready after a minute")


def upload_page(
    client: TestClient, headers: dict[str, str], children: bytes, name: str = "children.csv"
) -> object:
    return client.post(
        "/app/caseloads/upload",
        data=form_of(
            headers, **{"year_start-day": "1", "year_start-month": "9", "year_start-year": "2026"}
        ),
        files={
            "children": (name, children, "text/csv"),
            "settings": ("settings.csv", (DATA / "settings.csv").read_bytes(), "text/csv"),
        },
        headers=page_cookie(headers),
        follow_redirects=False,
    )


def test_upload_problems_are_listed_by_file_and_row_and_nothing_is_stored(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    lines = (DATA / "children.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",SLCN,", ",AUT,", 1)  # Excel row 3: not a need
    lines[5] = re.sub(r"^(C005),[^,]*,", r"\1,Year 99,", lines[5])  # row 6: not a year
    answer = upload_page(client, users["case_officer"], "\n".join(lines).encode(), "broken.csv")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    html = answer.text  # type: ignore[attr-defined]
    assert "<title>Error: Upload a caseload" in html
    problems = re.findall(r'<a href="#children">([^<]+)</a>', html)
    assert any(p.startswith("broken.csv, row 3, primary_need") for p in problems), problems
    assert any(p.startswith("broken.csv, row 6, nc_year") for p in problems), problems
    assert "2 problems in this file: see the list above" in html
    assert "nothing was stored" in html
    listed = client.get("/app/caseloads", headers=page_cookie(users["case_officer"]))
    assert "No caseload has been uploaded yet." in listed.text


def test_missing_files_and_a_date_that_is_not_real_are_named(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    answer = client.post(
        "/app/caseloads/upload",
        data=form_of(
            users["admin"],
            **{"year_start-day": "31", "year_start-month": "2", "year_start-year": "2026"},
        ),
        files={"children": ("", b"", "application/octet-stream")},
        headers=page_cookie(users["admin"]),
    )
    assert answer.status_code == 400
    assert '<a href="#children">Select the caseload file</a>' in answer.text
    assert '<a href="#settings">Select the settings file</a>' in answer.text
    assert '<a href="#year_start-day">Enter a real date' in answer.text


def test_an_upload_leads_to_starting_a_run_which_shows_its_summary(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    officer = users["case_officer"]
    answer = upload_page(client, officer, (DATA / "children.csv").read_bytes())
    assert answer.status_code == 303  # type: ignore[attr-defined]
    location = answer.headers["location"]  # type: ignore[attr-defined]
    assert re.fullmatch(r"/app/runs/new\?caseload=\d+&uploaded=1", location)
    caseload = location.split("=")[1].split("&")[0]
    offered = client.get(location, headers=page_cookie(officer))
    assert f"Caseload {caseload} uploaded" in offered.text
    assert "12 children and 8 settings" in offered.text

    started = client.post(
        "/app/runs",
        data=form_of(
            officer, caseload=caseload, primary_limit_minutes="45", secondary_limit_minutes="75"
        ),
        headers=page_cookie(officer),
        follow_redirects=False,
    )
    assert started.status_code == 303
    first = client.get(started.headers["location"], headers=page_cookie(users["admin"]))
    assert "Finished" in first.text and "12 (100%)" in first.text  # the counts at once
    assert "being prepared" in first.text and first.headers["refresh"] == "2"
    html = prepared_run_page(
        client, int(started.headers["location"].split("/")[-1]), users["admin"]
    )
    assert "Place proposed" in html and "12 (100%)" in html
    assert "10 (100% of those with preferences)" in html
    for caption in (
        "Children by primary need",
        "Children by phase of education",
        "Children by kind of place proposed",
    ):
        assert caption in html
    assert "Autistic spectrum disorder" in html and "Secondary (Years 7 to 11)" in html
    assert "Lark Valley Primary School" in html and "Estimated from straight-line" in html
    assert f'href="/app/runs/{started.headers["location"].split("/")[-1]}/children"' in html
    assert html.count("<circle") >= 8 and "<line " in html  # every setting; where children live
    for word in ("arc", "solver", "level"):
        assert not re.search(rf"\b{word}s?\b", html[html.index("<main") :], re.IGNORECASE)
    listed = client.get("/app/runs?show=mine", headers=page_cookie(officer))
    assert "Run " in listed.text and "12 of 12" in listed.text


def test_a_planner_sees_the_summary_but_not_where_children_live(
    client: TestClient, users: dict[str, dict[str, str]], run: dict
) -> None:
    html = prepared_run_page(client, run["id"], users["planner"])
    assert "How full each setting would be" in html and "<circle" in html
    assert "<line " not in html
    assert "Cancel this run" not in html
    assert f'href="/app/runs/{run["id"]}/children"' not in html  # planners see no children


def test_start_run_form_names_each_wrong_field(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    answer = client.post(
        "/app/runs",
        data=form_of(
            users["admin"], caseload="99", primary_limit_minutes="0", secondary_limit_minutes="many"
        ),
        headers=page_cookie(users["admin"]),
    )
    assert answer.status_code == 400
    assert '<a href="#caseload">Select the caseload to place</a>' in answer.text
    assert "Enter a primary journey limit between 1 and 300 minutes" in answer.text
    assert "Enter a secondary journey limit between 1 and 300 minutes" in answer.text


def queued_run(app: FastAPI, users: dict[str, dict[str, str]], client: TestClient) -> int:
    """A run left queued (written straight to the database, so nothing picks it up)."""
    caseload = upload(client, users["case_officer"])["body"]["id"]
    with app.state.db.sessions() as session:
        officer = session.scalar(select(User).where(User.username == "case_officer"))
        assert officer is not None
        row = Run(kind="placement", caseload_id=caseload, options={}, started_by=officer.id)
        session.add(row)
        session.commit()
        return row.id


def test_a_working_run_refreshes_itself_and_may_be_cancelled(
    app: FastAPI, client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    run_id = queued_run(app, users, client)
    officer = page_cookie(users["case_officer"])
    page = client.get(f"/app/runs/{run_id}", headers=officer)
    assert page.headers["refresh"] == "2"
    assert "Waiting to start." in page.text and "Stop updating this page" in page.text
    assert "Cancel this run" in page.text
    still = client.get(f"/app/runs/{run_id}?refresh=off", headers=officer)
    assert "refresh" not in still.headers and "Refresh this page" in still.text
    planner = client.get(f"/app/runs/{run_id}", headers=page_cookie(users["planner"]))
    assert "Cancel this run" not in planner.text  # a placement run is not the planner's to stop
    refused = client.post(
        f"/app/runs/{run_id}/cancel",
        data=form_of(users["planner"]),
        headers=page_cookie(users["planner"]),
    )
    assert refused.status_code == 403
    asked = client.post(
        f"/app/runs/{run_id}/cancel",
        data=form_of(users["case_officer"]),
        headers=officer,
        follow_redirects=False,
    )
    assert (asked.status_code, asked.headers["location"]) == (303, f"/app/runs/{run_id}")
    cancelled = client.get(f"/app/runs/{run_id}", headers=officer)
    assert "This run was cancelled" in cancelled.text and "refresh" not in cancelled.headers


def test_an_admin_adds_a_user_and_turns_an_account_off(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    admin = page_cookie(users["admin"])
    taken = client.post(
        "/app/users",
        data=form_of(users["admin"], username="PLANNER", password=PASSWORD, role="planner"),
        headers=admin,
    )
    assert taken.status_code == 400
    assert "is taken" in taken.text and 'href="#username"' in taken.text
    short = client.post(
        "/app/users",
        data=form_of(users["admin"], username="pm2", password="short", role=""),
        headers=admin,
    )
    assert "at least 12 characters" in short.text and "Select what the person may do" in short.text
    added = client.post(
        "/app/users",
        data=form_of(users["admin"], username="pm2", password=PASSWORD, role="panel_member"),
        headers=admin,
        follow_redirects=False,
    )
    assert (added.status_code, added.headers["location"]) == (303, "/app/users?added=pm2")
    listed = client.get(added.headers["location"], headers=admin)
    assert "pm2 can now sign in." in listed.text
    spoofed = client.get("/app/users?added=Call+0800+now", headers=admin)
    assert "Call 0800 now" not in spoofed.text

    accounts = client.get("/users", headers=users["admin"]).json()
    planner_id = next(a["id"] for a in accounts if a["username"] == "planner")
    assert f'action="/app/users/{planner_id}/active"' in listed.text
    turned_off = client.post(
        f"/app/users/{planner_id}/active",
        data=form_of(users["admin"], active="no"),
        headers=admin,
        follow_redirects=False,
    )
    assert turned_off.status_code == 303
    assert client.get("/users/me", headers=users["planner"]).status_code == 401


def test_the_map_draws_at_most_max_flows_lines_and_loses_no_child() -> None:
    """Areas grow until the lines fit; every child is still counted in some line."""
    areas: Counter[tuple[float, float, str]] = Counter()
    for i in range(4000):
        lat, lon = 52 + (i % 80) * 0.01, 0.5 + (i // 80) * 0.01
        areas[(round(lat, 6), round(lon, 6), f"URN{i % 3}")] += 2
    size, lines = run_summary._coarsened(areas)
    assert len(lines) <= run_summary.MAX_FLOWS
    assert size > run_summary.AREA_DEGREES
    assert sum(lines.values()) == sum(areas.values())
