"""Sessions end when they should: logout, disabling a user, expiry; and only admins manage users.

Each test runs on SQLite and on PostgreSQL (the ``app`` fixture; see ``tests/api_client.py``).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.auth import hash_token
from api.db import Token, utcnow
from tests.api_client import PASSWORD, login


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def user_id(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/users/me", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def test_logout_ends_only_this_session(app: FastAPI, client: TestClient, users: dict) -> None:
    office = login(client, "panel_member")
    laptop = login(client, "panel_member")
    assert client.post("/auth/logout", headers=office).status_code == 204
    assert client.get("/users/me", headers=office).status_code == 401
    assert client.post("/auth/logout", headers=office).status_code == 401
    assert client.get("/users/me", headers=laptop).status_code == 200
    # The ended session stays on record, with when it ended; only its hash is stored.
    with app.state.db.sessions() as session:
        token = session.scalars(select(Token).where(Token.token_hash == hash_token(bearer(office))))
        assert token.one().revoked_at is not None
        assert session.scalar(select(Token).where(Token.token_hash == bearer(office))) is None


def test_disabling_a_user_ends_all_their_sessions_at_once(client: TestClient, users: dict) -> None:
    sessions = [users["panel_member"], login(client, "panel_member")]
    target = user_id(client, users["panel_member"])
    response = client.patch(f"/users/{target}", json={"active": False}, headers=users["admin"])
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    for headers in sessions:
        assert client.get("/users/me", headers=headers).status_code == 401
    wrong = client.post("/auth/token", data={"username": "panel_member", "password": PASSWORD})
    assert wrong.status_code == 401
    # Other users are untouched.
    assert client.get("/users/me", headers=users["planner"]).status_code == 200
    # Enabled again, they sign in afresh; the ended sessions stay ended.
    enabled = client.patch(f"/users/{target}", json={"active": True}, headers=users["admin"])
    assert enabled.json()["active"] is True
    assert client.get("/users/me", headers=sessions[0]).status_code == 401
    assert client.get("/users/me", headers=login(client, "panel_member")).status_code == 200


def test_expired_token_is_refused(app: FastAPI, client: TestClient, users: dict) -> None:
    headers = users["case_officer"]
    assert client.get("/users/me", headers=headers).status_code == 200
    with app.state.db.sessions() as session:
        session.execute(
            update(Token)
            .where(Token.token_hash == hash_token(bearer(headers)))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    response = client.get("/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_role_change_takes_effect_on_the_next_request(client: TestClient, users: dict) -> None:
    planner = user_id(client, users["planner"])
    assert client.get("/users", headers=users["planner"]).status_code == 403
    changed = client.patch(f"/users/{planner}", json={"role": "admin"}, headers=users["admin"])
    assert changed.status_code == 200, changed.text
    listed = client.get("/users", headers=users["planner"])
    assert listed.status_code == 200
    assert [u["username"] for u in listed.json()] == [
        "admin",
        "case_officer",
        "panel_member",
        "planner",
    ]


def test_only_admins_manage_users_and_never_lock_themselves_out(
    client: TestClient, users: dict
) -> None:
    admin = user_id(client, users["admin"])
    officer = user_id(client, users["case_officer"])
    for role in ("case_officer", "panel_member", "planner"):
        disable = client.patch(f"/users/{officer}", json={"active": False}, headers=users[role])
        assert disable.status_code == 403
        assert client.get("/users", headers=users[role]).status_code == 403
    assert (
        client.patch("/users/999", json={"active": False}, headers=users["admin"]).status_code
        == 404
    )
    for body in ({"active": False}, {"role": "planner"}):
        refused = client.patch(f"/users/{admin}", json=body, headers=users["admin"])
        assert refused.status_code == 409
        assert "yourself" in refused.json()["detail"]
    me = client.get("/users/me", headers=users["admin"]).json()
    assert (me["role"], me["active"]) == ("admin", True)
    bad_role = client.patch(f"/users/{officer}", json={"role": "owner"}, headers=users["admin"])
    assert bad_role.status_code == 422
