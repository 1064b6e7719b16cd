"""Fair access and scenario comparison runs over HTTP, held to what the CLI gives.

TestClient runs background tasks before returning the response, so a run started with a POST
is finished when the call returns; cancellation and failure are driven by calling the jobs
directly on a queued run.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from api import planning_jobs
from api.db import ChildRead, Database, Run, RunResult, User
from matcher import cli, io, planning
from matcher.eligibility import EligibilityConfig
from matcher.fair_access import FairAccessConfig, allocate_fair_access, load_fap_history
from matcher.planning import ScenarioError, compare_scenarios, comparison_tables, load_scenario
from matcher.travel_estimate import TravelFor, build_travel_matrix
from tests.api_client import DATA, YEAR_START, upload

FAIR_ACCESS = Path(__file__).parent / "data" / "fair_access"
PLANNING = Path(__file__).parent / "data" / "planning"

# Three primary-age children in Norwich, about 50 km from every setting of the fixture round:
# beyond the 45-minute limit, so unplaced until a scenario opens a school next to them.
NORWICH_CLUSTER = [f"N00{i},3,,F,52.63{i},1.29{i},935,MLD,,yes,,,,,,A" for i in (1, 2, 3)]
NEW_SCHOOL = {
    "name": "Norwich special free school",
    "description": "an MLD special school next to the unserved cluster",
    "edits": [
        {
            "kind": "new_setting",
            "urn": "NEW1",
            "name": "Norwich Special Free School",
            "setting_type": "special",
            "location": {"latitude": 52.632, "longitude": 1.292},
            "low_age": 4,
            "high_age": 19,
            "designated_needs": ["MLD"],
            "total_places": 40,
        }
    ],
}
CLOSURE_YAML = "name: closure\nedits:\n  - kind: closure\n    urn: '990003'\n"


def count(app: FastAPI, model: type) -> int:
    database: Database = app.state.db
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def caseload(client: TestClient, users: dict, children: Path = DATA / "children.csv") -> int:
    uploaded = upload(client, users["case_officer"], children)
    assert uploaded["status"] == 201, uploaded
    return int(uploaded["body"]["id"])


def start_fair_access(
    client: TestClient, headers: dict, caseload_id: int, history: Path | None = None
) -> Any:
    files = (
        {"history": (history.name, history.read_bytes(), "text/csv")}
        if history is not None
        else None
    )
    return client.post(
        "/runs/fair-access", data={"caseload_id": str(caseload_id)}, files=files, headers=headers
    )


def scenario_files(tmp_path: Path) -> list[Path]:
    new = tmp_path / "new.json"
    new.write_text(json.dumps(NEW_SCHOOL))
    closure = tmp_path / "closure.yaml"
    closure.write_text(CLOSURE_YAML)
    return [new, closure]


def start_compare(client: TestClient, headers: dict, caseload_id: int, paths: list[Path]) -> Any:
    files = [("scenarios", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    return client.post(
        "/runs/scenario-compare",
        data={"caseload_id": str(caseload_id)},
        files=files,
        headers=headers,
    )


@pytest.fixture
def cluster_children(tmp_path: Path) -> Path:
    """The fixture caseload plus the unserved Norwich cluster."""
    path = tmp_path / "children.csv"
    lines = (DATA / "children.csv").read_text().splitlines()
    path.write_text("\n".join([*lines, *NORWICH_CLUSTER]) + "\n")
    return path


@pytest.fixture
def comparison_run(client: TestClient, users: dict, tmp_path: Path, cluster_children: Path) -> dict:
    caseload_id = caseload(client, users, cluster_children)
    started = start_compare(client, users["planner"], caseload_id, scenario_files(tmp_path))
    assert started.status_code == 202, started.text
    run = client.get(f"/runs/{started.json()['id']}", headers=users["planner"]).json()
    assert run["status"] == "done", run
    return run


# --------------------------------------------------------------------------------------------
# Fair access


def test_fair_access_run_gives_each_child_the_cli_allocation(
    app: FastAPI, client: TestClient, users: dict
) -> None:
    caseload_id = caseload(client, users)
    started = start_fair_access(
        client, users["case_officer"], caseload_id, FAIR_ACCESS / "history.csv"
    )
    assert started.status_code == 202, started.text
    assert started.json()["kind"] == "fair_access"
    run = client.get(f"/runs/{started.json()['id']}", headers=users["planner"]).json()
    assert run["status"] == "done", run
    assert run["progress"] == 1.0 and run["stage"] == "done"

    # What `sendmatch fair-access` computes on the same files with its default options.
    inputs = io.load_round(
        DATA / "children.csv",
        DATA / "settings.csv",
        None,
        year_start=date.fromisoformat(YEAR_START),
    )
    eligibility = replace(EligibilityConfig(), preferences_exempt_from_travel_limit=False)
    travel = build_travel_matrix(inputs.children, inputs.settings, eligibility.cutoff_minutes)
    expected = allocate_fair_access(
        inputs.children,
        inputs.settings,
        travel.matrix,
        load_fap_history(FAIR_ACCESS / "history.csv"),
        FairAccessConfig(eligibility=eligibility),
    )
    assert count(app, RunResult) == len(expected.allocations) == 12
    for allocation in expected.allocations:
        response = client.get(
            f"/runs/{run['id']}/fair-access/{allocation.child_id}", headers=users["panel_member"]
        )
        assert response.status_code == 200, response.text
        got = response.json()
        assert got["school_urn"] == allocation.school_urn
        assert got["reason"] == allocation.reason
        assert got["preference_rank"] == allocation.preference_rank
        assert [o["urn"] for o in got["alternatives"]] == [o.urn for o in allocation.alternatives]
        assert [o["note"] for o in got["alternatives"]] == [o.note for o in allocation.alternatives]
        assert [e["urn"] for e in got["excluded"]] == [e.urn for e in allocation.excluded]
        assert [e["reasons"] for e in got["excluded"]] == [
            list(e.reasons) for e in allocation.excluded
        ]

    summary = client.get(f"/runs/{run['id']}/fair-access", headers=users["planner"])
    assert summary.status_code == 200, summary.text
    figures = summary.json()
    assert (figures["placed"], figures["unplaced"]) == (expected.placed, expected.unplaced)
    assert figures["any_preference_met"] == expected.any_preference_met
    assert figures["with_preferences"] == expected.with_preferences
    assert {s["urn"]: s["history"] for s in figures["schools"]}["990003"] == 4
    assert figures["max_load"] == pytest.approx(expected.max_load)
    # LA-wide only: no child's id anywhere in what every role may read.
    assert not re.search(r"\bC0\d\d\b", summary.text + json.dumps(run["summary"]))


def test_fair_access_roles_and_the_audit_of_each_read(
    app: FastAPI, client: TestClient, users: dict
) -> None:
    caseload_id = caseload(client, users)
    for role in ("planner", "panel_member"):
        assert start_fair_access(client, users[role], caseload_id).status_code == 403
    started = start_fair_access(client, users["admin"], caseload_id)
    assert started.status_code == 202, started.text
    url = f"/runs/{started.json()['id']}/fair-access/C001"
    assert client.get(url, headers=users["planner"]).status_code == 403
    assert count(app, ChildRead) == 0, "a refused read is not a read"
    assert client.get(url, headers=users["case_officer"]).status_code == 200
    missing = f"/runs/{started.json()['id']}/fair-access/NOPE"
    assert client.get(missing, headers=users["case_officer"]).status_code == 404
    reads = client.get("/audit/reads", headers=users["admin"]).json()
    assert [(r["username"], r["run_id"], r["child_id"]) for r in reads] == [
        ("case_officer", started.json()["id"], "C001")
    ]


def test_fair_access_child_of_another_kind_of_run_is_404(
    client: TestClient, users: dict, run: dict
) -> None:
    response = client.get(f"/runs/{run['id']}/fair-access/C001", headers=users["admin"])
    assert response.status_code == 404
    assert "placement" in response.json()["detail"]


def test_placement_child_paths_refuse_a_fair_access_run(client: TestClient, users: dict) -> None:
    started = start_fair_access(client, users["case_officer"], caseload(client, users))
    run_id = started.json()["id"]
    for path in (f"/runs/{run_id}/children", f"/runs/{run_id}/children/C001"):
        response = client.get(path, headers=users["admin"])
        assert response.status_code == 404, response.text
        assert "fair_access" in response.json()["detail"]


def test_bad_history_is_422_naming_its_rows_and_nothing_is_stored(
    app: FastAPI, client: TestClient, users: dict
) -> None:
    caseload_id = caseload(client, users)
    response = start_fair_access(
        client, users["case_officer"], caseload_id, FAIR_ACCESS / "history_bad.csv"
    )
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(
        p["file"] == "history_bad.csv"
        and p["row"] == 3
        and p["field"] == "placements_last_12_months"
        for p in problems
    ), problems
    assert count(app, Run) == 0


def test_unknown_caseload_is_404(client: TestClient, users: dict, tmp_path: Path) -> None:
    assert start_fair_access(client, users["admin"], 99).status_code == 404
    assert start_compare(client, users["admin"], 99, scenario_files(tmp_path)).status_code == 404


# --------------------------------------------------------------------------------------------
# Scenario comparison


def test_comparison_equals_the_cli_table(
    client: TestClient, users: dict, tmp_path: Path, cluster_children: Path, comparison_run: dict
) -> None:
    out = tmp_path / "compare.xlsx"
    args = [
        "scenario",
        "compare",
        *(str(p) for p in scenario_files(tmp_path)),
        "--children",
        str(cluster_children),
        "--settings",
        str(DATA / "settings.csv"),
        "--tariffs",
        str(DATA / "tariffs.csv"),
        "--out",
        str(out),
        "--year-start",
        YEAR_START,
    ]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(out)["Comparison"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]

    response = client.get(f"/runs/{comparison_run['id']}/comparison", headers=users["planner"])
    assert response.status_code == 200, response.text
    comparison = response.json()
    columns = comparison["scenarios"]
    assert [c["name"] for c in columns] == list(header[2:5])
    labels = {m["label"]: m["key"] for m in comparison["metrics"]}
    for row in body:
        key = labels.get(str(row[0]))
        if key is None:
            continue  # the travel-time model's row, given per column as travel_model
        cells = dict(zip(header, row, strict=True))
        for column in columns:
            assert column["figures"][key] == pytest.approx(cells[column["name"]]), key
        for column in columns[1:]:
            change = cells[f"{column['name']}: change vs base"]
            assert column["change"][key] == pytest.approx(change), key

    base, new, closure = columns
    assert new["figures"]["unplaced"] < base["figures"]["unplaced"] == 3
    # A row for each need unplaced anywhere: closing 990003 leaves a PD child unplaced.
    assert {n["need"]: n["count"] for n in base["unplaced_by_need"]} == {"MLD": 3, "PD": 0}
    assert {n["need"]: n["count"] for n in new["unplaced_by_need_change"]} == {"MLD": -3, "PD": 0}
    assert {n["need"]: n["count"] for n in closure["unplaced_by_need"]} == {"MLD": 3, "PD": 1}
    assert closure["change"] is not None and base["change"] is None
    assert comparison["sites"] == [
        {
            "scenario": "Norwich special free school",
            "urn": "NEW1",
            "name": "Norwich Special Free School",
            "setting_type": "special",
            "lat": 52.632,
            "lon": 1.292,
            "total_places": 40,
            "designated_needs": ["MLD"],
            "children_placed": 3,
        }
    ]
    # LA-wide figures only.
    assert not re.search(r"\b[CN]0\d\d\b", response.text)


def test_comparison_roles(
    client: TestClient, users: dict, tmp_path: Path, comparison_run: dict
) -> None:
    caseload_id = comparison_run["caseload_id"]
    for role in ("case_officer", "panel_member"):
        refused = start_compare(client, users[role], caseload_id, scenario_files(tmp_path))
        assert refused.status_code == 403, role
    assert (
        start_compare(client, users["admin"], caseload_id, scenario_files(tmp_path)).status_code
        == 202
    )
    for role in ("planner", "panel_member", "case_officer", "admin"):
        url = f"/runs/{comparison_run['id']}/comparison"
        assert client.get(url, headers=users[role]).status_code == 200, role
    assert client.get(f"/runs/{comparison_run['id']}/comparison").status_code == 401
    # A comparison run has no child records: its children's results are not there to read.
    child = client.get(f"/runs/{comparison_run['id']}/fair-access/C001", headers=users["admin"])
    assert child.status_code == 404


def test_bad_scenario_files_are_422_with_file_and_field_and_nothing_is_stored(
    app: FastAPI, client: TestClient, users: dict, tmp_path: Path
) -> None:
    caseload_id = caseload(client, users)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("name: unknown\nedits:\n  - kind: closure\n    urn: NOPE\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: Sch\u00f6n\n".encode("latin-1"))
    response = start_compare(
        client, users["planner"], caseload_id, [PLANNING / "bad.json", unknown, latin]
    )
    assert response.status_code == 422, response.text
    problems = {(p["file"], p["field"], p["message"]) for p in response.json()["problems"]}
    # The CLI's own messages, for every field of every file.
    with pytest.raises(ScenarioError) as raised:
        load_scenario(PLANNING / "bad.json")
    cli_problems = {(p.file, p.field, p.message) for p in raised.value.problems}
    assert cli_problems <= problems
    assert ("bad.json", "edits[1].total_places", "Input should be greater than or equal to 0") in (
        problems
    )
    assert any(
        f == "unknown.yaml" and fd == "edits[0].urn" and "NOPE" in m for f, fd, m in problems
    )
    assert any(f == "latin.yaml" and "UTF-8" in m for f, _, m in problems)
    assert count(app, Run) == 0


def test_scenario_names_must_be_distinct(
    app: FastAPI, client: TestClient, users: dict, tmp_path: Path
) -> None:
    caseload_id = caseload(client, users)
    twin = tmp_path / "twin.yaml"
    twin.write_text(CLOSURE_YAML)
    response = start_compare(
        client, users["planner"], caseload_id, [*scenario_files(tmp_path), twin]
    )
    assert response.status_code == 422, response.text
    assert [p["field"] for p in response.json()["problems"]] == ["name"]
    assert count(app, Run) == 0


def test_map_is_offline_html_with_unlabelled_homes(
    client: TestClient, users: dict, comparison_run: dict
) -> None:
    url = f"/runs/{comparison_run['id']}/comparison/map"
    response = client.get(url, params={"site": "NEW1"}, headers=users["planner"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "Norwich Special Free School" in page
    assert "3 children" in page  # the cluster, counted in words
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace, never a fetch
    assert not re.search(r"\b[CN]0\d\d\b", page), "children are unlabelled"
    # A planner sees counts per area: three children make no cell big enough to draw.
    assert "<circle" not in page and 'class="cell"' not in page
    assert "3 children live in such hexagons" in page
    points = client.get(url, params={"site": "NEW1", "view": "points"}, headers=users["admin"])
    assert points.status_code == 200 and points.text.count("<circle") >= 3
    assert not re.search(r"\b[CN]0\d\d\b", points.text), "children are unlabelled dots"
    png = client.get(url, params={"site": "NEW1", "format": "png"}, headers=users["planner"])
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_of_a_site_not_in_the_comparison_is_404(
    client: TestClient, users: dict, comparison_run: dict
) -> None:
    url = f"/runs/{comparison_run['id']}/comparison/map"
    assert client.get(url, params={"site": "NOPE"}, headers=users["admin"]).status_code == 404
    wrong = client.get(url, params={"site": "NEW1", "scenario": "closure"}, headers=users["admin"])
    assert wrong.status_code == 404 and "NEW1" in wrong.json()["detail"]
    base = client.get(url, params={"site": "990003", "scenario": "Base"}, headers=users["admin"])
    assert base.status_code == 200


def test_comparison_reports_before_each_solve_and_keeps_the_cli_figures(
    tmp_path: Path, cluster_children: Path
) -> None:
    inputs = io.load_round(
        cluster_children,
        DATA / "settings.csv",
        DATA / "tariffs.csv",
        year_start=date.fromisoformat(YEAR_START),
    )
    scenarios = [load_scenario(p) for p in scenario_files(tmp_path)]
    config = planning_jobs.placement_config(
        {"primary_limit_minutes": 45, "secondary_limit_minutes": 75}, inputs
    )
    travel_for = TravelFor(config.eligibility.cutoff_minutes)
    seen: list[tuple[float, str]] = []
    stepped = planning_jobs.compare_with_progress(
        inputs.children,
        inputs.settings,
        scenarios,
        travel_for,
        config,
        lambda progress, stage: seen.append((progress, stage)),
    )
    whole = compare_scenarios(inputs.children, inputs.settings, scenarios, travel_for, config)
    assert comparison_tables(stepped) == comparison_tables(whole)
    assert [p for p, _ in seen] == sorted(p for p, _ in seen) and len(seen) == 3
    assert "the base" in seen[0][1] and "scenario 2 of 2" in seen[-1][1]
    assert "closure" in seen[-1][1]


# --------------------------------------------------------------------------------------------
# Cancellation and failure keep nothing


def queued_run(app: FastAPI, client: TestClient, users: dict, kind: str, options: dict) -> int:
    caseload_id = caseload(client, users)
    database: Database = app.state.db
    with database.sessions() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        run = Run(kind=kind, caseload_id=caseload_id, options=options, started_by=admin.id)
        session.add(run)
        session.commit()
        return run.id


def cancel(database: Database, run_id: int) -> None:
    with database.sessions() as session, session.begin():
        session.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))


FAIR_OPTIONS = {
    "primary_limit_minutes": 45.0,
    "secondary_limit_minutes": 75.0,
    "max_per_school": None,
    "time_limit_seconds": 10.0,
}


def compare_options(tmp_path: Path) -> dict:
    files = scenario_files(tmp_path)
    return {
        "primary_limit_minutes": 45.0,
        "secondary_limit_minutes": 75.0,
        "la_code": None,
        "scenario_files": [{"name": p.name, "text": p.read_text()} for p in files],
    }


def run_row(database: Database, run_id: int) -> Run:
    with database.sessions() as session:
        return session.get_one(Run, run_id)


def test_cancelled_fair_access_run_keeps_no_results(
    app: FastAPI, client: TestClient, users: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    database: Database = app.state.db
    run_id = queued_run(app, client, users, "fair_access", FAIR_OPTIONS)
    real = planning_jobs.allocate_fair_access

    def cancelled_while_allocating(*args: Any, **kwargs: Any) -> Any:
        cancel(database, run_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(planning_jobs, "allocate_fair_access", cancelled_while_allocating)
    planning_jobs.execute_fair_access_run(database, run_id)
    run = run_row(database, run_id)
    assert (run.status, run.summary, run.error) == ("cancelled", None, None)
    assert count(app, RunResult) == 0


def test_cancelled_comparison_stops_between_scenarios(
    app: FastAPI,
    client: TestClient,
    users: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database: Database = app.state.db
    run_id = queued_run(app, client, users, "scenario_compare", compare_options(tmp_path))
    real = planning.place
    solves: list[tuple[float, str | None]] = []

    def cancelled_after_the_base(*args: Any, **kwargs: Any) -> Any:
        row = run_row(database, run_id)
        solves.append((row.progress, row.stage))  # as a poller sees the run meanwhile
        cancel(database, run_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(planning, "place", cancelled_after_the_base)
    planning_jobs.execute_scenario_compare_run(database, run_id)
    run = run_row(database, run_id)
    assert (run.status, run.summary) == ("cancelled", None)
    assert solves == [(0.1, "solving the base")], "no scenario is solved once cancelled"


def test_failed_runs_keep_nothing_and_say_why(
    app: FastAPI,
    client: TestClient,
    users: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database: Database = app.state.db

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(planning_jobs, "allocate_fair_access", broken)
    fair = queued_run(app, client, users, "fair_access", FAIR_OPTIONS)
    planning_jobs.execute_fair_access_run(database, fair)
    run = run_row(database, fair)
    # A fault is told by its type and the run's id: its message may quote an input.
    assert run.status == "failed" and run.error is not None
    assert "(RuntimeError)" in run.error and f"run {fair}" in run.error
    assert "solver exploded" not in run.error
    assert count(app, RunResult) == 0

    options = compare_options(tmp_path)
    options["scenario_files"][0]["text"] = "{not json"  # corrupted after it was checked
    compare = queued_run(app, client, users, "scenario_compare", options)
    planning_jobs.execute_scenario_compare_run(database, compare)
    run = run_row(database, compare)
    assert run.status == "failed" and run.error is not None and "new.json" in run.error
    assert run.summary is None
    # A failed comparison has nothing to show.
    response = client.get(f"/runs/{compare}/comparison", headers=users["planner"])
    assert response.status_code == 409
