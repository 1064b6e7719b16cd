"""Shared fixtures for the HTTP API tests: an app on a private database, users of every role,
and the fixture caseload uploaded and placed.

Test modules import the fixtures they use by name (``from tests.api_client import app, ...``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from api import auth
from api.app import create_app
from api.auth import create_first_admin

DATA = Path(__file__).parent / "data" / "io"
YEAR_START = "2026-09-01"  # the fixtures' README: C003 is then in Y8
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with test-sized cost: the production cost is deliberately ~0.1 s a hash."""
    monkeypatch.setattr(
        auth, "password_hash", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),))
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    application = create_app(f"sqlite:///{tmp_path / 'api.db'}")
    with application.state.db.sessions() as session:
        create_first_admin(session, "admin", PASSWORD)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def users(client: TestClient) -> dict[str, dict[str, str]]:
    """Auth headers for the admin and one user of each other role."""
    admin = login(client, "admin")
    headers = {"admin": admin}
    for role in ("case_officer", "panel_member", "planner"):
        response = client.post(
            "/users", json={"username": role, "password": PASSWORD, "role": role}, headers=admin
        )
        assert response.status_code == 201, response.text
        headers[role] = login(client, role)
    return headers


def upload(
    client: TestClient, headers: dict[str, str], children: Path = DATA / "children.csv"
) -> dict:
    files = {
        "children": (children.name, children.read_bytes(), "text/csv"),
        "settings": ("settings.csv", (DATA / "settings.csv").read_bytes(), "text/csv"),
        "tariffs": ("tariffs.csv", (DATA / "tariffs.csv").read_bytes(), "text/csv"),
    }
    response = client.post(
        "/caseloads", files=files, data={"year_start": YEAR_START}, headers=headers
    )
    return {"status": response.status_code, "body": response.json()}


@pytest.fixture
def run(client: TestClient, users: dict[str, dict[str, str]]) -> dict:
    """A finished placement run of the fixture caseload."""
    uploaded = upload(client, users["case_officer"])
    assert uploaded["status"] == 201, uploaded
    response = client.post(
        "/runs", json={"caseload_id": uploaded["body"]["id"]}, headers=users["case_officer"]
    )
    assert response.status_code == 202, response.text
    status = client.get(f"/runs/{response.json()['id']}", headers=users["planner"])
    assert status.status_code == 200
    return status.json()
