"""The planner's pages with FastAPI's TestClient: the scenario builder writes the scenario file
format exactly (the file it gives is the file ``matcher.planning`` reads), each bad field is
named in the error summary, postcodes are placed from the server's postcode file, and roles
that may not build scenarios are refused.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api.pages.scenario_builder import POSTCODES_VARIABLE
from matcher.planning import load_scenario
from tests.api_client import upload
from tests.test_pages_foundation import form_of, page_cookie

POSTCODES = Path(__file__).parent / "data" / "postcodes" / "onspd_sample.csv"
Headers = dict[str, str]


@pytest.fixture
def caseload(client: TestClient, users: dict[str, Headers]) -> int:
    uploaded = upload(client, users["case_officer"])
    assert uploaded["status"] == 201, uploaded
    return int(uploaded["body"]["id"])


def draft_of(page: str) -> str:
    found = re.search(r'name="draft" value="([^"]*)"', page)
    assert found, "the page holds no draft"
    return html.unescape(found.group(1))


def error_summary(page: str) -> list[str]:
    """The error summary's messages, as a reader sees them."""
    start = page.find('class="govuk-error-summary"')
    if start < 0:
        return []
    block = page[start : page.index("</ul>", start)]
    return [html.unescape(m).strip() for m in re.findall(r'<a href="#[^"]+">([^<]+)</a>', block)]


def summary_links(page: str) -> list[str]:
    start = page.find('class="govuk-error-summary"')
    block = page[start : page.index("</ul>", start)] if start >= 0 else ""
    return re.findall(r'<a href="#([^"]+)">', block)


def post(
    client: TestClient, headers: Headers, caseload: int, draft: str = "", **fields: Any
) -> Any:
    data = form_of(headers, caseload=str(caseload), draft=draft, **fields)
    return client.post(
        "/app/scenarios/new", data=data, headers=page_cookie(headers), follow_redirects=False
    )


NEW_SCHOOL: dict[str, Any] = {
    "action": "new_setting",
    "setting_name": "Northgate Special Free School",
    "setting_type": "special",
    "latitude": "52.26",
    "longitude": "0.71",
    "low_age": "11",
    "high_age": "19",
    "total_places": "60",
    "needs": ["ASD", "SEMH"],
    "opening_year": "2027",
}


def test_the_builder_writes_the_file_the_scenario_parser_reads(
    client: TestClient, users: dict[str, Headers], caseload: int, tmp_path: Path
) -> None:
    planner = users["planner"]
    added = post(client, planner, caseload, **NEW_SCHOOL)
    assert added.status_code == 200, error_summary(added.text)
    assert "Open Northgate Special Free School" in added.text
    more = post(
        client,
        planner,
        caseload,
        draft_of(added.text),
        action="change_places",
        change_urn="990005",
        change_places="150",
    )
    closed = post(
        client, planner, caseload, draft_of(more.text), action="closure", close_urn="990008"
    )
    provision = post(
        client,
        planner,
        caseload,
        draft_of(closed.text),
        action="new_resourced_provision",
        provision_urn="990002",
        provision_needs=["SLCN"],
        provision_places="10",
    )
    assert provision.status_code == 200, error_summary(provision.text)
    assert "Close The Bridge Learning Centre" in provision.text  # settings by name

    got = post(
        client,
        planner,
        caseload,
        draft_of(provision.text),
        action="download",
        scenario_name="ASD free school 2027",
        description="Northgate opens; the Bridge closes",
        primary_limit_minutes="45",
        secondary_limit_minutes="75",
    )
    assert got.status_code == 200, error_summary(got.text)
    assert got.headers["content-disposition"] == 'attachment; filename="asd-free-school-2027.yaml"'
    path = tmp_path / "asd-free-school-2027.yaml"
    path.write_bytes(got.content)
    parsed = load_scenario(path)  # the command line's reader, as sendmatch scenario compare
    assert parsed.name == "ASD free school 2027"
    assert parsed.description == "Northgate opens; the Bridge closes"
    assert [e.kind for e in parsed.edits] == [
        "new_setting",
        "change_places",
        "closure",
        "new_resourced_provision",
    ]
    written = yaml.safe_load(got.content)
    assert written["edits"] == [
        {
            "kind": "new_setting",
            "name": "Northgate Special Free School",
            "setting_type": "special",
            "location": {"latitude": 52.26, "longitude": 0.71},
            "low_age": 11,
            "high_age": 19,
            "total_places": 60,
            "designated_needs": ["ASD", "SEMH"],
            "opening_year": 2027,
        },
        {"kind": "change_places", "urn": "990005", "total_places": 150},
        {"kind": "closure", "urn": "990008"},
        {
            "kind": "new_resourced_provision",
            "urn": "990002",
            "designated_needs": ["SLCN"],
            "places": 10,
        },
    ]


def test_a_change_can_be_removed_before_the_scenario_runs(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    planner = users["planner"]
    first = post(client, planner, caseload, action="closure", close_urn="990008")
    second = post(
        client, planner, caseload, draft_of(first.text), action="closure", close_urn="990006"
    )
    removed = post(client, planner, caseload, draft_of(second.text), action="remove-0")
    assert [c["edit"]["urn"] for c in json.loads(draft_of(removed.text))] == ["990006"]


@pytest.mark.parametrize(
    ("field", "value", "link", "message"),
    [
        ("setting_name", "", "setting-name", "Enter the name of the new setting"),
        ("latitude", "", "postcode", "Enter the postcode of the site"),
        ("low_age", "eleven", "low-age", "Youngest age must be a whole number"),
        ("high_age", "", "high-age", "Enter the oldest age"),
        ("total_places", "-5", "total-places", "Places must be 0 or more"),
        ("opening_year", "1850", "opening-year", "Year it opens must be 2000 or more"),
        ("latitude", "123", "latitude", "Latitude must be 90 or less"),
        ("longitude", "east", "longitude", "Longitude must be a number"),
    ],
)
def test_each_bad_field_of_a_new_setting_is_named_in_the_error_summary(
    client: TestClient,
    users: dict[str, Headers],
    caseload: int,
    field: str,
    value: str,
    link: str,
    message: str,
) -> None:
    answer = post(client, users["planner"], caseload, **{**NEW_SCHOOL, field: value})
    assert answer.status_code == 400
    assert summary_links(answer.text) == [link]
    assert error_summary(answer.text)[0].startswith(message)
    assert answer.text.count("govuk-error-message") >= 1
    assert json.loads(draft_of(answer.text)) == []  # nothing added


def test_the_parser_s_own_rules_are_shown_at_the_change(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    inverted = post(client, users["planner"], caseload, **{**NEW_SCHOOL, "high_age": "5"})
    assert summary_links(inverted.text) == ["setting-name"]
    assert "age range inverted" in error_summary(inverted.text)[0]
    fee = post(
        client, users["planner"], caseload, **{**NEW_SCHOOL, "setting_type": "independent_special"}
    )
    assert fee.status_code == 400
    assert "fee" in error_summary(fee.text)[0]


def test_changes_to_settings_are_checked_against_the_caseload(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    planner = users["planner"]
    unknown = post(client, planner, caseload, action="closure", close_urn="123456")
    assert unknown.status_code == 400
    assert summary_links(unknown.text) == ["close-urn"]
    assert "123456" in error_summary(unknown.text)[0]
    blank = post(client, planner, caseload, action="change_places", change_urn="", change_places="")
    assert summary_links(blank.text) == ["change-urn", "change-places"]
    special = post(
        client,
        planner,
        caseload,
        action="new_resourced_provision",
        provision_urn="990005",
        provision_needs=["ASD"],
        provision_places="8",
    )
    assert special.status_code == 400  # a provision goes on a mainstream school only
    assert summary_links(special.text) == ["provision-urn"]


def test_a_scenario_needs_a_name_and_a_change_before_it_runs(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    answer = post(
        client,
        users["planner"],
        caseload,
        action="run",
        scenario_name="",
        primary_limit_minutes="45",
        secondary_limit_minutes="0",
    )
    assert answer.status_code == 400
    assert summary_links(answer.text) == ["scenario-name", "changes", "secondary_limit_minutes"]


def test_a_draft_that_was_tampered_with_is_refused_not_a_server_error(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    answer = post(
        client, users["planner"], caseload, "{not json", action="closure", close_urn="990008"
    )
    assert answer.status_code == 400
    assert "start the scenario again" in error_summary(answer.text)[0]
    odd = json.dumps([{"edit": {"kind": "closure", "urn": 5}}])
    run = post(
        client,
        users["planner"],
        caseload,
        odd,
        action="run",
        scenario_name="x",
        primary_limit_minutes="45",
        secondary_limit_minutes="75",
    )
    assert run.status_code == 400
    assert error_summary(run.text)[0].startswith("Change 1:")


def test_a_postcode_is_placed_from_the_server_s_postcode_file(
    client: TestClient,
    users: dict[str, Headers],
    caseload: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    by_postcode = {**NEW_SCHOOL, "latitude": "", "longitude": "", "postcode": "zz11ab"}
    monkeypatch.delenv(POSTCODES_VARIABLE, raising=False)
    without = post(client, users["planner"], caseload, **by_postcode)
    assert without.status_code == 400
    assert POSTCODES_VARIABLE in error_summary(without.text)[0]  # says what the server needs

    monkeypatch.setenv(POSTCODES_VARIABLE, str(POSTCODES))
    placed = post(client, users["planner"], caseload, **by_postcode)
    assert placed.status_code == 200, error_summary(placed.text)
    [change] = json.loads(draft_of(placed.text))
    assert change["postcode"] == "ZZ1 1AB"
    assert change["edit"]["location"] == {"latitude": 52.25, "longitude": 0.7}
    unknown = post(client, users["planner"], caseload, **{**by_postcode, "postcode": "QQ1 1QQ"})
    assert summary_links(unknown.text) == ["postcode"]
    assert "not in onspd_sample.csv" in error_summary(unknown.text)[0]


def test_a_built_scenario_is_compared_and_its_page_shows_table_charts_and_map(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    planner = users["planner"]
    added = post(client, planner, caseload, **NEW_SCHOOL)
    started = post(
        client,
        planner,
        caseload,
        draft_of(added.text),
        action="run",
        scenario_name="Northgate",
        primary_limit_minutes="45",
        secondary_limit_minutes="75",
    )
    assert started.status_code == 303, error_summary(started.text)
    run_id = int(started.headers["location"].rsplit("/", 1)[1])
    assert client.get(f"/runs/{run_id}", headers=planner).json()["status"] == "done"
    page = client.get(f"/app/scenarios/{run_id}", headers=page_cookie(users["panel_member"]))
    assert page.status_code == 200
    text = page.text
    assert 'id="comparison-table"' in text and "Northgate: change against the base" in text
    assert text.count('class="sendmatch-chart"') == 5
    assert 'aria-label="Children with a place proposed. Base: ' in text  # the chart in words
    assert "solver" not in text.lower() and "arcs" not in text.lower()
    assert f'href="/app/scenarios/{run_id}/map?site=0"' in text
    drawn = client.get(f"/app/scenarios/{run_id}/map?site=0", headers=page_cookie(planner))
    assert drawn.status_code == 200
    assert 'class="map-svg"' in drawn.text and "Northgate Special Free School" in drawn.text
    assert 'class="govuk-table"' in drawn.text  # the map's tables, as GOV.UK tables
    nowhere = client.get(f"/app/scenarios/{run_id}/map?site=9", headers=page_cookie(planner))
    assert nowhere.status_code == 404


def test_scenario_files_are_compared_as_the_api_checks_them(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    planner = users["planner"]
    bad = b"name: broken\nedits:\n  - kind: closure\n    urn: 999999\n"
    answer = client.post(
        "/app/scenarios/upload",
        data=form_of(
            planner,
            caseload=str(caseload),
            primary_limit_minutes="45",
            secondary_limit_minutes="75",
        ),
        files=[("scenarios", ("broken.yaml", bad, "application/yaml"))],
        headers=page_cookie(planner),
    )
    assert answer.status_code == 400
    assert error_summary(answer.text)[0].startswith("broken.yaml, edits[0].urn:")


@pytest.mark.parametrize("role", ["case_officer", "panel_member"])
def test_only_planners_and_administrators_build_scenarios(
    client: TestClient, users: dict[str, Headers], caseload: int, role: str
) -> None:
    headers = users[role]
    shown = client.get(f"/app/scenarios/new?caseload={caseload}", headers=page_cookie(headers))
    assert shown.status_code == 403
    sent = post(client, headers, caseload, action="closure", close_urn="990008")
    assert sent.status_code == 403
    assert "Build a scenario" not in client.get("/app/scenarios", headers=page_cookie(headers)).text
    admin = client.get(
        f"/app/scenarios/new?caseload={caseload}", headers=page_cookie(users["admin"])
    )
    assert admin.status_code == 200


# --------------------------------------------------------------------------------------------
# The forecast pages


def forecast_files(bad_row: bool = False) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The API tests' small LA history (2021-2023), its population and costs, as uploads."""
    from tests.test_api_forecast import COSTS, FIRST, HEADER, LAST, history_rows, population_text

    files = []
    for year in range(FIRST, LAST + 1):
        rows = history_rows(year) + (["PSEUDO-X,3,NOT_A_NEED,special"] if bad_row else [])
        files.append(("history", (f"{year}.csv", "\n".join([HEADER, *rows]).encode(), "text/csv")))
    files.append(
        ("population", ("population.csv", population_text(range(FIRST, 2028)).encode(), "text/csv"))
    )
    files.append(("costs", ("costs.csv", COSTS.encode(), "text/csv")))
    return files


def start_forecast_page(
    client: TestClient, headers: Headers, files: list[Any], caseload: int | str = "", **fields: str
) -> Any:
    data = form_of(
        headers, years="2024-2026", simulations="50", seed="7", caseload=str(caseload), **fields
    )
    return client.post(
        "/app/forecasts",
        data=data,
        files=files,
        headers=page_cookie(headers),
        follow_redirects=False,
    )


def test_a_forecast_is_started_read_and_downloaded_from_the_pages(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    planner = users["planner"]
    started = start_forecast_page(client, planner, forecast_files(), caseload)
    assert started.status_code == 303, error_summary(started.text)
    run_id = int(started.headers["location"].rsplit("/", 1)[1])
    text = client.get(started.headers["location"], headers=page_cookie(planner)).text
    assert "Children and young people with an EHC plan each January" in text
    assert 'class="sendmatch-chart"' in text and "2026" in text
    assert "Demand against places by need in January 2024" in text  # against caseload's places
    later = client.get(f"/app/forecasts/{run_id}?year=2026", headers=page_cookie(planner))
    assert "Demand against places by need in January 2026" in later.text
    for path, kind in (("forecast.xlsx", "spreadsheetml"), ("forecast-csv.zip", "zip")):
        got = client.get(f"/app/forecasts/{run_id}/{path}", headers=page_cookie(planner))
        assert got.status_code == 200
        assert kind in got.headers["content-type"]
        api = client.get(f"/runs/{run_id}/{path}", headers=planner)
        assert got.content == api.content  # the API's file, through the cookie session
    reader = client.get(f"/app/forecasts/{run_id}", headers=page_cookie(users["panel_member"]))
    assert reader.status_code == 200 and "Download the forecast" in reader.text


def test_a_forecast_s_problems_are_listed_by_file_and_row_and_linked_to_their_input(
    client: TestClient, users: dict[str, Headers]
) -> None:
    answer = start_forecast_page(client, users["planner"], forecast_files(bad_row=True))
    assert answer.status_code == 400
    problems = error_summary(answer.text)
    assert problems and all(p.startswith(("2021.csv", "2022.csv", "2023.csv")) for p in problems)
    assert set(summary_links(answer.text)) == {"forecast-history"}
    assert "problems here: see the list above" in answer.text


def test_the_forecast_form_s_own_mistakes_are_named_before_any_file_is_read(
    client: TestClient, users: dict[str, Headers]
) -> None:
    answer = client.post(
        "/app/forecasts",
        data=form_of(users["planner"], years="", simulations="0", seed="-1", caseload=""),
        files=[("costs", ("costs.csv", b"need,setting,cost\n", "text/csv"))],
        headers=page_cookie(users["planner"]),
    )
    assert answer.status_code == 400
    assert summary_links(answer.text) == [
        "forecast-history",
        "forecast-population",
        "forecast-years",
        "forecast-simulations",
        "forecast-seed",
    ]


@pytest.mark.parametrize("role", ["case_officer", "panel_member"])
def test_only_planners_and_administrators_start_forecasts(
    client: TestClient, users: dict[str, Headers], role: str
) -> None:
    answer = start_forecast_page(client, users[role], forecast_files())
    assert answer.status_code == 403
    shown = client.get("/app/forecasts", headers=page_cookie(users[role]))
    assert shown.status_code == 200 and "Check the files and start" not in shown.text


def test_the_builder_s_script_and_the_map_s_styles_come_from_this_server(
    client: TestClient, users: dict[str, Headers], caseload: int
) -> None:
    page = client.get(
        f"/app/scenarios/new?caseload={caseload}", headers=page_cookie(users["planner"])
    )
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce
    assert f'src="/app/scenarios/site-map.js" nonce="{nonce.group(1)}"' in page.text
    assert 'id="site-map"' in page.text and "data-scale=" in page.text
    script = client.get("/app/scenarios/site-map.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "getScreenCTM" in script.text
    styles = client.get("/app/scenarios/planner.css")
    assert styles.headers["content-type"].startswith("text/css")
    assert ".sendmatch-scenario-map .cell polygon" in styles.text  # the map page's own rules
