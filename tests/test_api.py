"""The HTTP API end to end with TestClient, on a fresh SQLite file and a fresh PostgreSQL database.

TestClient runs background tasks before returning the response, so a run started with
``POST /runs`` is finished when the call returns.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select

from api.auth import create_first_admin
from api.db import (
    AppendOnlyError,
    Caseload,
    ChildRead,
    Database,
    Decision,
    RunResult,
    User,
    begin_ordered_write,
)
from tests.api_client import DATA, PASSWORD, login, upload


def count(app: FastAPI, model: type) -> int:
    database: Database = app.state.db
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_login_succeeds_and_fails(client: TestClient) -> None:
    headers = login(client, "admin")
    assert client.get("/users/me", headers=headers).json()["role"] == "admin"
    wrong = client.post("/auth/token", data={"username": "admin", "password": "wrong password"})
    assert wrong.status_code == 401
    unknown = client.post("/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    assert client.get("/users/me").status_code == 401
    bad = client.get("/users/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


def test_only_admin_creates_users_and_only_once_first(
    app: FastAPI, client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    body = {"username": "x", "password": PASSWORD, "role": "admin"}
    assert client.post("/users", json=body, headers=users["case_officer"]).status_code == 403
    duplicate = {"username": "planner", "password": PASSWORD, "role": "planner"}
    assert client.post("/users", json=duplicate, headers=users["admin"]).status_code == 409
    with app.state.db.sessions() as session, pytest.raises(ValueError, match="users exist"):
        create_first_admin(session, "second", PASSWORD)


def test_upload_stores_the_caseload(app: FastAPI, client: TestClient, users: dict) -> None:
    result = upload(client, users["case_officer"])
    assert result["status"] == 201
    assert result["body"]["children"] == 12
    assert result["body"]["settings"] == 8
    assert result["body"]["uploaded_by"] == "case_officer"
    assert count(app, Caseload) == 1
    # Planners and panel members do not import caseloads.
    assert upload(client, users["planner"])["status"] == 403
    assert upload(client, users["panel_member"])["status"] == 403


def test_xlsx_upload_is_read_like_csv(client: TestClient, users: dict, tmp_path: Path) -> None:
    import csv

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    with (DATA / "children.csv").open(newline="") as fh:
        for record in csv.reader(fh):
            sheet.append(record)
    xlsx = tmp_path / "children.xlsx"
    workbook.save(xlsx)
    result = upload(client, users["case_officer"], xlsx)
    assert result["status"] == 201, result
    assert result["body"]["children"] == 12


def test_bad_file_is_rejected_with_every_problem_and_nothing_stored(
    app: FastAPI, client: TestClient, users: dict, tmp_path: Path
) -> None:
    lines = (DATA / "children.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",R,", ",Y99,")  # C002's year: row 3 as Excel shows it
    bad = tmp_path / "children.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = upload(client, users["case_officer"], bad)
    assert result["status"] == 422
    problems = result["body"]["problems"]
    assert any(
        p["file"] == "children.csv" and p["row"] == 3 and p["field"] == "nc_year" for p in problems
    ), problems
    assert count(app, Caseload) == 0


def test_run_completes_and_child_read_is_audited(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    assert run["status"] == "done", run
    assert run["summary"]["children"] == 12
    assert count(app, RunResult) == 12
    url = f"/runs/{run['id']}/children/C001"
    child = client.get(url, headers=users["panel_member"])
    assert child.status_code == 200, child.text
    assert child.json()["child_id"] == "C001"
    assert child.json()["reason"]
    # Planners never see a child's record, and their attempt is not a read.
    assert client.get(url, headers=users["planner"]).status_code == 403
    assert client.get(f"/runs/{run['id']}/children/NOPE", headers=users["admin"]).status_code == 404
    reads = client.get("/audit/reads", headers=users["admin"]).json()
    assert [(r["username"], r["child_id"]) for r in reads] == [("panel_member", "C001")]
    assert client.get("/audit/reads", headers=users["panel_member"]).status_code == 403


def test_failed_run_keeps_no_results(app: FastAPI, client: TestClient, users: dict) -> None:
    caseload_id = upload(client, users["case_officer"])["body"]["id"]
    with app.state.db.sessions() as session:  # corrupt the stored file after validation
        caseload = session.get_one(Caseload, caseload_id)
        caseload.settings_data = b"urn\n1\n"
        session.commit()
    started = client.post("/runs", json={"caseload_id": caseload_id}, headers=users["admin"])
    run = client.get(f"/runs/{started.json()['id']}", headers=users["admin"]).json()
    assert run["status"] == "failed"
    assert "no longer pass the input checks" in run["error"]
    assert "settings.csv" in run["error"]
    assert count(app, RunResult) == 0
    child = client.get(f"/runs/{run['id']}/children/C001", headers=users["admin"])
    assert child.status_code == 409


def test_decisions_are_appended_in_order(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    url = f"/runs/{run['id']}/decisions"
    first = {"child_id": "C001", "setting_urn": "990004", "reasons": "first preference"}
    second = {"child_id": "C001", "setting_urn": None, "reasons": "deferred: new evidence"}
    assert client.post(url, json=first, headers=users["panel_member"]).status_code == 201
    assert client.post(url, json=second, headers=users["admin"]).status_code == 201
    # Case officers prepare cases; only the panel decides.
    assert client.post(url, json=first, headers=users["case_officer"]).status_code == 403
    unknown = {**first, "setting_urn": "123456"}
    assert client.post(url, json=unknown, headers=users["admin"]).status_code == 422
    history = client.get(url, params={"child_id": "C001"}, headers=users["case_officer"]).json()
    assert [(d["setting_urn"], d["decided_by"]) for d in history] == [
        ("990004", "panel_member"),
        (None, "admin"),
    ]
    assert client.get(url, headers=users["planner"]).status_code == 403
    with app.state.db.sessions() as session:
        decision = session.scalars(select(Decision)).first()
        assert decision is not None
        decision.reasons = "rewritten"
        with pytest.raises(AppendOnlyError):
            session.commit()


def test_audit_rows_cannot_be_deleted_even_in_sql(app: FastAPI, run: dict, users: dict) -> None:
    with app.state.db.engine.connect() as connection:
        connection.execute(insert(ChildRead).values(user_id=1, run_id=run["id"], child_id="C001"))
        with pytest.raises(Exception, match="append-only"):
            connection.execute(delete(ChildRead))


def test_openapi_lists_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    expected = {
        "/auth/token": {"post"},
        "/auth/logout": {"post"},
        "/users": {"get", "post"},
        "/users/me": {"get"},
        "/users/{user_id}": {"patch"},
        "/caseloads": {"post"},
        "/caseloads/{caseload_id}": {"get"},
        "/runs": {"post"},
        "/runs/{run_id}": {"get"},
        "/runs/{run_id}/children/{child_id}": {"get"},
        "/runs/{run_id}/decisions": {"get", "post"},
        "/audit/reads": {"get"},
    }
    # The routes of this module's resources; runs of other kinds, the web page and the road
    # map have their own tests.
    assert {p: set(paths.get(p, {})) for p in expected} == expected
    assert "OAuth2PasswordBearer" in schema["components"]["securitySchemes"]
    assert "ValidationReport" in schema["components"]["schemas"]


def test_unknown_run_and_caseload_are_404(client: TestClient, users: dict) -> None:
    assert client.get("/runs/999", headers=users["planner"]).status_code == 404
    assert client.post("/runs", json={"caseload_id": 9}, headers=users["admin"]).status_code == 404
    assert client.get("/caseloads/9", headers=users["planner"]).status_code == 404


def test_create_admin_command_then_refuses_a_second(database_url: str) -> None:
    from typer.testing import CliRunner

    from matcher import cli

    runner = CliRunner()
    args = ["create-admin", "--username", "root", "--password", "a long enough password"]
    first = runner.invoke(cli.app, [*args, "--database-url", database_url])
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli.app, [*args, "--database-url", database_url])
    assert second.exit_code == 2
    assert "users exist already" in second.output


@contextmanager
def serving(database_url: str, log_dir: Path, count: int = 1) -> Iterator[list[str]]:
    """``count`` ``sendmatch serve`` processes on one database; yields their base URLs."""
    servers: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for n in range(count):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            log = log_dir / f"server{n}.log"
            command = [sys.executable, "-m", "matcher.cli", "serve", "--port", str(port)]
            with log.open("wb") as out:  # a file, not a pipe: a full pipe would stall the server
                process = subprocess.Popen(
                    [*command, "--database-url", database_url], stdout=out, stderr=out
                )
            servers.append((process, f"http://127.0.0.1:{port}", log))
        deadline = time.monotonic() + 60
        for process, base, log in servers:
            while True:
                try:
                    httpx.get(f"{base}/openapi.json", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    assert process.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, f"server did not start: {log.read_text()}"
                    time.sleep(0.2)
        yield [base for _, base, _ in servers]
    finally:
        for process, _, _ in servers:
            process.terminate()
        for process, _, _ in servers:
            process.wait(timeout=10)


def test_serve_command_answers_on_loopback(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, tmp_path) as [base]:
        response = httpx.get(f"{base}/openapi.json", timeout=5)
    assert response.status_code == 200
    assert "/runs" in response.json()["paths"]


def test_decisions_through_two_server_processes_are_all_kept_in_order(
    database_url: str, users: dict, run: dict, tmp_path: Path
) -> None:
    """Two ``sendmatch serve`` processes on one database, 24 decisions for one child at once."""
    path = f"/runs/{run['id']}/decisions"
    with serving(database_url, tmp_path, count=2) as bases:

        def decide(n: int) -> tuple[int, int]:
            body = {"child_id": "C001", "setting_urn": None, "reasons": f"decision {n}"}
            response = httpx.post(
                bases[n % 2] + path, json=body, headers=users["panel_member"], timeout=60
            )
            return response.status_code, n % 2

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(decide, range(24)))
        history = httpx.get(
            bases[0] + path, params={"child_id": "C001"}, headers=users["admin"], timeout=10
        ).json()
    assert answers == [(201, n % 2) for n in range(24)]
    assert sorted(d["reasons"] for d in history) == sorted(f"decision {n}" for n in range(24))
    ids = [d["id"] for d in history]
    assert ids == sorted(ids) and len(set(ids)) == 24
    times = [datetime.fromisoformat(d["created_at"]) for d in history]
    assert times == sorted(times), "in id order, the decisions' times run forward"


def test_a_decision_waits_while_another_process_writes_for_the_same_child(
    app: FastAPI, users: dict, run: dict, database_url: str, tmp_path: Path
) -> None:
    """The lock is the database's: a server process waits for a writer in this process."""
    path = f"/runs/{run['id']}/decisions"
    body = {"child_id": "C001", "setting_urn": None, "reasons": "from the server"}
    with serving(database_url, tmp_path) as [base]:
        warm = httpx.get(f"{base}/users/me", headers=users["panel_member"], timeout=10)
        assert warm.status_code == 200
        database: Database = app.state.db
        with database.sessions() as session, ThreadPoolExecutor(max_workers=1) as pool:
            held_at = begin_ordered_write(session, f"decisions:{run['id']}:C001")
            pending = pool.submit(
                httpx.post, base + path, json=body, headers=users["panel_member"], timeout=60
            )
            time.sleep(1.0)
            assert not pending.done(), "the server wrote while another process held the lock"
            admin_id = session.scalar(select(User.id).where(User.username == "admin"))
            assert admin_id is not None
            held = Decision(
                run_id=run["id"],
                child_id="C001",
                reasons="held the lock",
                decided_by=admin_id,
                created_at=held_at,
            )
            session.add(held)
            session.commit()
            response = pending.result()
    assert response.status_code == 201, response.text
    theirs = response.json()
    assert theirs["id"] > held.id
    assert datetime.fromisoformat(theirs["created_at"]) >= held_at


def test_concurrent_decisions_for_one_child_are_all_kept_in_order(
    client: TestClient, users: dict, run: dict
) -> None:
    url = f"/runs/{run['id']}/decisions"

    def decide(n: int) -> int:
        body = {"child_id": "C001", "setting_urn": None, "reasons": f"decision {n}"}
        return client.post(url, json=body, headers=users["panel_member"]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(decide, range(16)))
    assert codes == [201] * 16
    history = client.get(url, params={"child_id": "C001"}, headers=users["admin"]).json()
    assert sorted(d["reasons"] for d in history) == sorted(f"decision {n}" for n in range(16))
    ids = [d["id"] for d in history]
    assert ids == sorted(ids) and len(set(ids)) == 16
    times = [d["created_at"] for d in history]
    assert times == sorted(times), "the history is in the order the decisions were made"
