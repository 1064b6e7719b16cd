"""Each kind of run on its own page: cancelling a comparison or a forecast comes back to its
own page (where the planner was), and a fair access run's figures are on the run page (they
were only on the retired single-page app)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.db import Run, RunKind, RunStatus, User
from tests.test_pages_foundation import form_of, page_cookie


def queued(app: FastAPI, kind: RunKind, **finished: object) -> int:
    """A run of ``kind`` left queued (written straight to the database: nothing starts it),
    or as ``finished`` says."""
    with app.state.db.sessions() as session:
        planner = session.scalar(select(User).where(User.username == "planner"))
        assert planner is not None
        row = Run(kind=kind.value, options={}, started_by=planner.id, **finished)
        session.add(row)
        session.commit()
        return row.id


@pytest.mark.parametrize(
    ("kind", "page", "said"),
    [
        (RunKind.SCENARIO_COMPARE, "/app/scenarios/{id}", "This comparison was cancelled"),
        (RunKind.FORECAST, "/app/forecasts/{id}", "This forecast was cancelled"),
    ],
)
def test_cancelling_goes_back_to_the_runs_own_page(
    app: FastAPI,
    client: TestClient,
    users: dict[str, dict[str, str]],
    kind: RunKind,
    page: str,
    said: str,
) -> None:
    run_id = queued(app, kind)
    planner = page_cookie(users["planner"])
    own = page.format(id=run_id)
    assert "Cancel this" in client.get(own, headers=planner).text
    asked = client.post(
        f"/app/runs/{run_id}/cancel",
        data=form_of(users["planner"]),
        headers=planner,
        follow_redirects=False,
    )
    assert (asked.status_code, asked.headers["location"]) == (303, own)
    assert said in client.get(own, headers=planner).text
    # Asked again once it has ended: still back to its own page, which says how it ended.
    again = client.post(
        f"/app/runs/{run_id}/cancel",
        data=form_of(users["planner"]),
        headers=planner,
        follow_redirects=False,
    )
    assert (again.status_code, again.headers["location"]) == (303, own)


def test_a_finished_fair_access_run_shows_its_figures(
    app: FastAPI, client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    summary = {
        "children": 40,
        "placed": 38,
        "unplaced": 2,
        "with_preferences": 30,
        "any_preference_met": 27,
        "first_preference_met": 21,
        "max_load": 412.5,
        "travel_model": "straight-line estimate",
        "notes": ["Two children had no school within reach."],
    }
    run_id = queued(app, RunKind.FAIR_ACCESS, status=RunStatus.DONE.value, summary=summary)
    page = client.get(f"/app/runs/{run_id}", headers=page_cookie(users["panel_member"]))
    assert page.status_code == 200
    assert "/classic/" not in page.text and "See the results of this run" not in page.text
    figures = page.text[page.text.index('id="fair-access-summary"') :]
    for said in ("School offered", "38 (95%)", "21 of 30 with preferences", "412.5 per thousand"):
        assert said in figures
    assert "Two children had no school within reach." in figures
