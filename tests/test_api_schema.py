"""Property-based API tests: every operation, fed anything its OpenAPI schema allows, never
answers with a server error. A panel's browser or a generated client must get a 4xx it can
act on, not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from api import auth
from api.app import create_app
from api.auth import create_first_admin

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    with pytest.MonkeyPatch.context() as patch:
        # Argon2 at test cost; the production cost is deliberately slow.
        patch.setattr(
            auth, "password_hash", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),))
        )
        folder = tmp_path_factory.mktemp("schema")
        application = create_app(f"sqlite:///{folder / 'api.db'}")
        with application.state.db.sessions() as session:
            create_first_admin(session, "admin", PASSWORD)
        yield application
        application.state.db.dispose()


@pytest.fixture(scope="module")
def admin_headers(api_app: FastAPI) -> dict[str, str]:
    with TestClient(api_app) as client:
        response = client.post("/auth/token", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def api_schema(api_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


def test_no_server_errors(api_app: FastAPI, api_schema: Any, admin_headers: dict[str, str]) -> None:
    """Every operation in turn, with up to 25 generated requests each, signed in as admin."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10

    def own_session() -> dict[str, str]:
        # Logging out ends the session it is sent with: it gets one of its own, or every later
        # operation would be tested signed out.
        with TestClient(api_app) as client:
            response = client.post("/auth/token", data={"username": "admin", "password": PASSWORD})
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            logout = case.operation.path == "/auth/logout"
            response = case.call(headers=own_session() if logout else admin_headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            )

        check()
    with TestClient(api_app) as client:
        assert client.get("/users/me", headers=admin_headers).status_code == 200, (
            "the admin's session ended during the test, so later operations were not tested"
        )
