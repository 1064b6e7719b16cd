"""Shared fixtures for the HTTP API tests: an app on a private database, users of every role,
and the fixture caseload uploaded and placed.

Loaded for every test module by ``pytest_plugins`` in ``tests/conftest.py``.

Every test using ``app`` (or ``client``, ``users``, ``run``) runs twice: on a fresh SQLite file
and on a fresh PostgreSQL database, so nothing SQLite forgives can hide from a deployment. The
PostgreSQL server is ``$TEST_DATABASE_URL`` (``make test`` starts a throwaway one with
``.ci/with-postgres.sh`` when PostgreSQL is installed). Without it the PostgreSQL runs skip
with that reason, except under ``CI=true``, where they fail: CI installs PostgreSQL, so its
absence there is a broken CI, not a choice.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, create_engine, make_url, text

from api import auth
from api.app import create_app
from api.auth import create_first_admin
from api.db import Database

DATA = Path(__file__).parent / "data" / "io"
YEAR_START = "2026-09-01"  # the fixtures' README: C003 is then in Y8
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with test-sized cost: the production cost is deliberately ~0.1 s a hash."""
    monkeypatch.setattr(
        auth, "password_hash", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),))
    )


POSTGRES_VARIABLE = "TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


class PostgresServer:
    """The test PostgreSQL server: makes a database per test, from a migrated template."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        # CREATE and DROP DATABASE cannot run in a transaction.
        self.admin: Engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.template = f"sendmatch_template_{os.getpid()}"

    def url_of(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def create(self, template: str | None = None) -> str:
        """A new database (a copy of ``template`` if given); returns its URL."""
        name = f"sendmatch_test_{uuid.uuid4().hex[:12]}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}{clause}"))
        return self.url_of(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server of ``$TEST_DATABASE_URL``, with a template database at head.

    Migrating once and copying the template per test (``CREATE DATABASE ... TEMPLATE``) gives
    each test an empty, current schema in a few tens of milliseconds.
    """
    url = os.environ.get(POSTGRES_VARIABLE)
    if not url:
        reason = (
            f"{POSTGRES_VARIABLE} is not set: no PostgreSQL server to test on "
            "(`make test` starts one when PostgreSQL is installed)"
        )
        if in_ci():
            pytest.fail(f"CI must test on PostgreSQL, but {reason}", pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(url)
    with server.admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {server.template} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {server.template}"))
    template = Database(server.url_of(server.template))
    template.migrate()
    template.dispose()
    yield server
    server.drop(server.url_of(server.template))
    server.admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the current schema, on SQLite and then on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.db'}"
        database = Database(url)
        database.migrate()
        database.dispose()
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create(template=server.template)
    yield url
    server.drop(url)


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, on SQLite and then on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create()
    yield url
    server.drop(url)


@pytest.fixture
def app(database_url: str) -> Iterator[FastAPI]:
    # Runs in the server's threads, so tests can patch and pause the matcher; the process
    # launcher has tests of its own (tests/test_run_processes.py).
    application = create_app(database_url, separate_processes=False)
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
