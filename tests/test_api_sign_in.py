"""Sign-in cannot be used to guess passwords or to exhaust the server, and usernames cannot be
told apart by case alone (``api.sign_in_throttle``, ``api.auth``, migration 0004).

The API tests run on SQLite and on PostgreSQL (the ``app`` fixture; see ``tests/api_client.py``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api import auth
from api.auth import create_first_admin, create_user
from api.db import Database, Role, SchemaMismatchError, User
from api.sign_in_throttle import SignInGuard, SignInLimits, SignInRefused
from tests.api_client import PASSWORD, login

WINDOW = SignInLimits().window_seconds


def sign_in(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post("/auth/token", data={"username": username, "password": password})


class Clock:
    """A monotonic clock the test moves on by hand, so a 15-minute window takes no time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_thirty_wrong_passwords_lock_the_username_even_for_the_right_one(
    app: FastAPI, client: TestClient, users: dict
) -> None:
    clock = Clock()
    app.state.sign_in = SignInGuard(SignInLimits(), clock=clock)
    answers = [sign_in(client, "admin", f"wrong password {k}") for k in range(30)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert {a.status_code for a in answers[5:]} == {429}
    assert 0 < int(answers[-1].headers["Retry-After"]) <= WINDOW
    # Locked: the right password is not even checked, in any case of the name.
    for name in ("admin", "ADMIN"):
        assert sign_in(client, name, PASSWORD).status_code == 429
    # Other users at the same address are not locked out.
    assert sign_in(client, "planner", PASSWORD).status_code == 200
    # Once the window has passed, the right password works and clears the count.
    clock.now += WINDOW
    assert sign_in(client, "Admin", PASSWORD).status_code == 200
    assert sign_in(client, "admin", "wrong again").status_code == 401


def test_one_address_guessing_across_many_usernames_is_throttled(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unknown usernames are checked against a stand-in hash: at test cost here too.
    monkeypatch.setattr(auth, "_DUMMY_HASH", auth.password_hash.hash("not a real password"))
    limit = SignInLimits().failures_per_address
    for k in range(limit):
        assert sign_in(client, f"user{k}", "a wrong password").status_code == 401
    refused = sign_in(client, "admin", PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    # Another address, and the username that was never guessed, are unaffected.
    with TestClient(app, client=("192.0.2.7", 50000)) as elsewhere:
        assert sign_in(elsewhere, "admin", PASSWORD).status_code == 200


class SlowCountingHasher:
    """Stands in for Argon2: each check takes a while, and the most at once is recorded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def verify(self, _password: str, _hash: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return False

    def hash(self, password: str) -> str:
        return f"hashed:{password}"


def test_concurrent_wrong_sign_ins_run_few_password_checks_at_once(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = SlowCountingHasher()
    monkeypatch.setattr(auth, "password_hash", hasher)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = await asyncio.gather(
                *(
                    client.post("/auth/token", data={"username": f"u{k}", "password": "wrong"})
                    for k in range(30)
                )
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert hasher.most <= SignInLimits().workers
    assert set(statuses) <= {401, 503}
    assert statuses.count(401) >= SignInLimits().workers


def test_sign_ins_beyond_the_waiting_room_are_told_to_come_back() -> None:
    guard = SignInGuard(SignInLimits(workers=1, max_waiting=0, wait_seconds=0.01))
    with guard.password_check(), pytest.raises(SignInRefused) as refused, guard.password_check():
        pass
    assert (refused.value.status, refused.value.retry_after) == (503, 1)
    with guard.password_check():  # the worker is free again
        pass


def test_usernames_differing_only_in_case_are_refused(
    app: FastAPI, client: TestClient, users: dict
) -> None:
    body = {"username": "pm2", "password": PASSWORD, "role": "panel_member"}
    assert client.post("/users", json=body, headers=users["admin"]).status_code == 201
    clash = client.post("/users", json=body | {"username": "PM2"}, headers=users["admin"])
    assert clash.status_code == 409
    assert "'PM2' is taken (as 'pm2'" in clash.json()["detail"]
    # Sign-in finds the account whatever the case typed.
    assert client.get("/users/me", headers=login(client, "Pm2")).json()["username"] == "pm2"
    # And the database itself refuses the twin, whatever code tries to add it.
    with app.state.db.sessions() as session:
        session.add(User(username="PM2", password_hash="x", role="panel_member"))
        with pytest.raises(IntegrityError):
            session.commit()


@pytest.mark.parametrize(
    "username", ["pm2\x00", "pm\u202e2", "pm2\n", "pm 2", "", "a" * 151, "pm\u200f2"]
)
def test_create_admin_refuses_usernames_that_are_not_plain(
    username: str, database_url: str
) -> None:
    database = Database(database_url)
    with database.sessions() as session, pytest.raises(ValueError, match="a username has"):
        create_first_admin(session, username, PASSWORD)
    database.dispose()


def test_create_user_refuses_a_case_twin(database_url: str) -> None:
    database = Database(database_url)
    with database.sessions() as session:
        create_first_admin(session, "pm2", PASSWORD)
        with pytest.raises(ValueError, match=r"'PM2' is taken \(as 'pm2'"):
            create_user(session, "PM2", PASSWORD, Role.PANEL_MEMBER)
    database.dispose()


def add_users_at_0003(database: Database, *names: str) -> None:
    database.migrate("0003")
    with database.engine.begin() as connection:
        for name in names:
            connection.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, active, created_at) "
                    "VALUES (:name, 'x', 'admin', true, CURRENT_TIMESTAMP)"
                ),
                {"name": name},
            )


def current_revision(database: Database) -> Any:
    with database.engine.connect() as connection:
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


def test_upgrade_refuses_usernames_that_differ_only_in_case(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    add_users_at_0003(database, "pm2", "planner", "PM2")
    with pytest.raises(SchemaMismatchError) as refused:
        database.migrate()
    assert "'pm2' (id 1) and 'PM2' (id 3)" in str(refused.value)
    assert "UPDATE users SET username = 'PM2-2' WHERE id = 3" in str(refused.value)
    assert current_revision(database) == "0003"  # nothing half done
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE users SET username = 'PM2-2' WHERE id = 3"))
    database.migrate()
    assert current_revision(database) != "0003"
    database.dispose()
