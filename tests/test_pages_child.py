"""The child page, comparing options, recording panel decisions and the audit page, through
FastAPI's TestClient (each test runs on SQLite and PostgreSQL, like the API's).

The fixture caseload (tests/data/io): C001 is an ASD Year 7 child whose parents ask for
Eastgate High School (990004) then Westley Park Academy (990003); the run proposes Eastgate.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.db import ChildRead, Decision, DecisionDraft, RunResult
from tests.api_client import DATA, PASSWORD, login, upload
from tests.test_pages_foundation import form_of, page_cookie

EASTGATE, WESTLEY = "990004", "990003"


def visible_text(page: str) -> str:
    """What a reader sees: the page without tags, attributes, scripts or the head."""
    body = page.split("<body", 1)[1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def child_url(run: dict, child_id: str = "C001") -> str:
    return f"/app/runs/{run['id']}/children/{child_id}"


def count(app: FastAPI, model: type) -> int:
    with app.state.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_child_page_says_who_the_child_is_and_the_proposal_in_words(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    reads = count(app, ChildRead)
    page = client.get(child_url(run), headers=page_cookie(users["panel_member"]))
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Autistic spectrum disorder (ASD)" in text
    assert "Speech, language and communication needs (SLCN)" in text
    assert "Year 7" in text and "Secondary" in text
    assert "1st: Eastgate High School; 2nd: Westley Park Academy" in text
    assert re.search(r"Proposed: Eastgate High School, \d+ minutes? \(estimated journey\), £", text)
    # Settings by name, never by URN, anywhere a reader looks.
    assert EASTGATE not in text and WESTLEY not in text and "URN" not in text
    assert "preference ranks" not in text
    assert "Effect on the rest of the LA" in text and "Total cost a year" in text
    # The parents' preferences lead the list, in their order.
    names = re.findall(r'<th scope="row" class="govuk-table__header">\s*([^<]+?)\s*<', page.text)
    # (Eastgate twice: its general places and its resourced provision.)
    assert names[:3] == ["Eastgate High School", "Eastgate High School", "Westley Park Academy"]
    assert '<svg class="sendmatch-map"' in page.text and "km" in text
    assert "52.242" not in page.text and "0.718" not in page.text  # home: a marker, not text
    assert "Not needed: an earlier preference is proposed" in text
    assert count(app, ChildRead) == reads + 1  # the view is in the audit trail


def test_child_page_roles(client: TestClient, users: dict, run: dict) -> None:
    assert client.get(child_url(run), headers=page_cookie(users["planner"])).status_code == 403
    officer = client.get(child_url(run), headers=page_cookie(users["case_officer"]))
    assert officer.status_code == 200
    assert "Record a decision" not in officer.text  # case officers prepare; the panel decides
    form = client.get(child_url(run) + "/decision", headers=page_cookie(users["case_officer"]))
    assert form.status_code == 403
    missing = client.get(child_url(run, "C999"), headers=page_cookie(users["admin"]))
    assert missing.status_code == 404 and "Page not found" in missing.text


def test_compare_puts_two_or_three_options_side_by_side(
    client: TestClient, users: dict, run: dict
) -> None:
    cookie = page_cookie(users["panel_member"])
    page = client.get(child_url(run), headers=cookie).text
    listed = re.findall(r'name="option" type="checkbox" value="([^"]+)"', page)
    assert len(listed) >= 3
    compared = client.get(
        child_url(run) + "/compare", params={"option": listed[:3]}, headers=cookie
    )
    assert compared.status_code == 200
    text = visible_text(compared.text)
    header = re.findall(
        r'<th scope="col" class="govuk-table__header" id="compared-\d">', compared.text
    )
    assert len(header) == 3 and "Total cost a year" in text
    assert "1. Eastgate High School" in text and "3. Westley Park Academy" in text
    assert "Resourced provision in a mainstream school" in text
    too_many = client.get(
        child_url(run) + "/compare", params={"option": listed[:4]}, headers=cookie
    )
    assert too_many.status_code == 400
    assert '<a href="#option">Select up to 3 options to compare</a>' in too_many.text
    assert too_many.text.count(" checked") == 4  # the ticks are kept to correct
    one = client.get(child_url(run) + "/compare", params={"option": listed[:1]}, headers=cookie)
    assert "Select at least 2 options to compare" in one.text


def decide(
    client: TestClient, headers: dict, run: dict, child_id: str = "C001", **fields: str
) -> object:
    return client.post(
        child_url(run, child_id) + "/decision",
        data=form_of(headers, **fields),
        headers=page_cookie(headers),
        follow_redirects=False,
    )


def confirm(client: TestClient, headers: dict, run: dict, child_id: str = "C001") -> object:
    return client.post(
        child_url(run, child_id) + "/decision/check",
        data=form_of(headers),
        headers=page_cookie(headers),
        follow_redirects=False,
    )


@pytest.mark.parametrize(
    ("fields", "outcome", "setting", "shown"),
    [
        ({"outcome": "agree"}, "agree", EASTGATE, "Decided: Eastgate High School"),
        (
            {"outcome": "name_other", "setting": WESTLEY},
            "name_other",
            WESTLEY,
            "Decided: Westley Park Academy",
        ),
        ({"outcome": "defer"}, "defer", None, "Decision deferred"),
        ({"outcome": "refuse", "setting": WESTLEY}, "refuse", None, "The panel named no setting"),
    ],
)
def test_each_outcome_is_checked_then_recorded(
    app: FastAPI,
    client: TestClient,
    users: dict,
    run: dict,
    fields: dict[str, str],
    outcome: str,
    setting: str | None,
    shown: str,
) -> None:
    member = users["panel_member"]
    answered = decide(client, member, run, reasons="Met at panel on 3 December", **fields)
    assert answered.status_code == 303  # type: ignore[attr-defined]
    check_url = answered.headers["location"]  # type: ignore[attr-defined]
    assert check_url == child_url(run) + "/decision/check"
    assert count(app, Decision) == 0  # nothing is recorded before the check
    check = client.get(check_url, headers=page_cookie(member))
    assert "Check the decision before recording it" in check.text
    assert "cannot be changed" in check.text
    recorded = confirm(client, member, run)
    assert recorded.status_code == 303  # type: ignore[attr-defined]
    done = client.get(recorded.headers["location"], headers=page_cookie(member))  # type: ignore[attr-defined]
    assert "Decision recorded" in done.text
    history = client.get(
        f"/runs/{run['id']}/decisions", params={"child_id": "C001"}, headers=member
    ).json()
    assert [(d["outcome"], d["setting_urn"]) for d in history] == [(outcome, setting)]
    assert count(app, DecisionDraft) == 0  # recording ends the draft
    text = visible_text(client.get(child_url(run), headers=page_cookie(member)).text)
    assert shown in text
    assert "Met at panel on 3 December" in text


def test_answers_with_problems_are_listed_and_kept(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    member = users["panel_member"]
    missing = decide(client, member, run, reasons="")
    assert missing.status_code == 400  # type: ignore[attr-defined]
    assert '<a href="#outcome">Select what the panel decided</a>' in missing.text  # type: ignore[attr-defined]
    assert '<a href="#reasons">Enter the panel&#39;s reasons</a>' in missing.text  # type: ignore[attr-defined]
    same = decide(client, member, run, outcome="name_other", setting=EASTGATE, reasons="x")
    assert "That is the proposed setting" in same.text  # type: ignore[attr-defined]
    unknown = decide(client, member, run, outcome="name_other", setting="123456", reasons="x")
    assert "Select a setting from the list" in unknown.text  # type: ignore[attr-defined]
    # Recording straight away, without valid answers, records nothing.
    assert confirm(client, member, run).status_code == 303  # type: ignore[attr-defined]
    assert count(app, Decision) == 0


def test_a_form_without_its_csrf_field_is_refused(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    member = users["panel_member"]
    refused = client.post(
        child_url(run) + "/decision",
        data={"outcome": "agree", "reasons": "x"},
        headers=page_cookie(member),
    )
    assert refused.status_code == 403
    assert count(app, DecisionDraft) == 0
    decide(client, member, run, outcome="agree", reasons="ok")
    refused = client.post(child_url(run) + "/decision/check", data={}, headers=page_cookie(member))
    assert refused.status_code == 403
    assert count(app, Decision) == 0


def test_a_draft_survives_signing_out(client: TestClient, users: dict, run: dict) -> None:
    member = users["panel_member"]
    decide(client, member, run, outcome="name_other", setting=WESTLEY, reasons="Typed before lunch")
    signed_out = client.post(
        "/app/sign-out", data=form_of(member), headers=page_cookie(member), follow_redirects=False
    )
    assert signed_out.status_code == 303
    gone = client.get(
        child_url(run) + "/decision", headers=page_cookie(member), follow_redirects=False
    )
    assert gone.status_code == 303  # the old session is over
    again = login(client, "panel_member", PASSWORD)
    form = client.get(child_url(run) + "/decision", headers=page_cookie(again))
    assert "Typed before lunch" in form.text
    assert re.search(r'value="name_other" checked', form.text)
    assert re.search(rf'<option value="{WESTLEY}" selected>', form.text)
    # Another member's form for the same child starts empty: drafts are one's own.
    other = client.get(child_url(run) + "/decision", headers=page_cookie(users["admin"]))
    assert "Typed before lunch" not in other.text


def test_decisions_api_takes_and_checks_an_outcome(
    client: TestClient, users: dict, run: dict
) -> None:
    url = f"/runs/{run['id']}/decisions"
    member = users["panel_member"]
    plain = client.post(url, json={"child_id": "C001", "reasons": "as before"}, headers=member)
    assert plain.status_code == 201 and plain.json()["outcome"] is None
    agreed = client.post(
        url, json={"child_id": "C001", "outcome": "agree", "reasons": "ok"}, headers=member
    )
    assert agreed.status_code == 201
    assert (agreed.json()["outcome"], agreed.json()["setting_urn"]) == ("agree", EASTGATE)
    for wrong in (
        {"outcome": "agree", "setting_urn": WESTLEY},
        {"outcome": "name_other"},
        {"outcome": "name_other", "setting_urn": EASTGATE},
        {"outcome": "defer", "setting_urn": WESTLEY},
        {"outcome": "sideways"},
    ):
        answer = client.post(
            url, json={"child_id": "C001", "reasons": "x", **wrong}, headers=member
        )
        assert answer.status_code == 422, wrong


def test_audit_page_names_settings_and_is_for_administrators(
    client: TestClient, users: dict, run: dict
) -> None:
    member = users["panel_member"]
    client.get(child_url(run), headers=page_cookie(member))
    decide(client, member, run, outcome="name_other", setting=WESTLEY, reasons="closer to home")
    confirm(client, member, run)
    assert client.get("/app/audit", headers=page_cookie(member)).status_code == 403
    audit = client.get("/app/audit", params={"child": "C001"}, headers=page_cookie(users["admin"]))
    assert audit.status_code == 200
    text = visible_text(audit.text)
    assert "Westley Park Academy" in text and WESTLEY not in text
    assert "Name another setting" in text and "panel_member" in text
    bad = client.get("/app/audit", params={"run": "twelve"}, headers=page_cookie(users["admin"]))
    assert bad.status_code == 400 and "Enter a run number" in bad.text


def far_child_caseload(tmp_path: Path) -> Path:
    """The fixture caseload and C013, a Year 3 autistic child whose plan allows a mainstream
    place or resourced provision only, about 25 km north of the town: each such setting is over
    the 45-minute primary journey limit."""
    path = tmp_path / "children.csv"
    lines = (DATA / "children.csv").read_text().splitlines()
    lines.append("C013,3,,M,52.4700,0.7200,935,ASD,,yes,,,,,mainstream;resourced_provision,A")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_unplaced_child_is_explained_with_next_steps(
    client: TestClient, users: dict, tmp_path: Path
) -> None:
    officer = users["case_officer"]
    uploaded = upload(client, officer, far_child_caseload(tmp_path))
    assert uploaded["status"] == 201, uploaded
    started = client.post("/runs", json={"caseload_id": uploaded["body"]["id"]}, headers=officer)
    run = client.get(f"/runs/{started.json()['id']}", headers=officer).json()
    assert run["status"] == "done", run
    page = client.get(child_url(run, "C013"), headers=page_cookie(users["panel_member"]))
    text = visible_text(page.text)
    assert "No place is proposed for this child" in text
    assert "Why there is no place" in text
    assert "further than the 45-minute journey limit" in text
    nearest = re.findall(r"<li>([^<]+): (\d+) minutes</li>", page.text)
    assert nearest and all(int(minutes) > 45 for _, minutes in nearest)
    assert "What the panel can do next" in text
    assert "£0" not in text
    form = client.get(child_url(run, "C013") + "/decision", headers=page_cookie(users["admin"]))
    assert 'value="agree"' not in form.text  # nothing was proposed, so nothing to agree


def test_a_run_saved_without_the_childs_details_reads_them_from_its_caseload(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    with app.state.db.sessions() as session:
        row = session.scalars(
            select(RunResult).where(RunResult.run_id == run["id"], RunResult.child_id == "C003")
        ).one()
        assert "child" in row.result  # stored as the run was saved
        row.result = {k: v for k, v in row.result.items() if k != "child"}  # as an older run
        session.commit()
    page = client.get(child_url(run, "C003"), headers=page_cookie(users["case_officer"]))
    text = visible_text(page.text)
    assert "Social, emotional and mental health (SEMH)" in text
    assert "Year 8" in text  # from the date of birth and the caseload's school year
    assert "Current setting Westley Park Academy" in text
