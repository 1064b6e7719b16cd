"""What a request may send: bodies checked for sign-in and size before they are read, no 500
for numbers JSON does not have, ids of printable characters, and access logs without child ids
(``api.request_limits``, ``api.access_log``).

The API tests run on SQLite and on PostgreSQL (the ``app`` fixture; see ``tests/api_client.py``).
Bodies are sent straight to the ASGI app from a generator that counts what the server asked
for: the test client would read a whole body before the app sees any of it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from api.access_log import REQUEST_ID_HEADER, log_config
from api.request_limits import MB, UPLOAD_BYTES, BodyLimits
from tests.api_client import PASSWORD

CHUNK = 64 * 1024
BOUNDARY = "sendmatchtestboundary"


class CountingBody:
    """A request body of ``head``, ``size`` filler bytes and ``tail``, handed to the server a
    chunk at a time; ``sent`` is how much of it the server has read."""

    def __init__(self, size: int, head: bytes = b"", tail: bytes = b"") -> None:
        self.parts = self._chunks(head, size, tail)
        self.sent = 0
        self.total = len(head) + size + len(tail)

    @staticmethod
    def _chunks(head: bytes, size: int, tail: bytes) -> Iterator[bytes]:
        yield head
        filler = b"x" * CHUNK
        for start in range(0, size, CHUNK):
            yield filler[: min(CHUNK, size - start)]
        yield tail

    async def receive(self) -> Message:
        chunk = next(self.parts, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        self.sent += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.sent < self.total}


def multipart(field: str, filename: str, size: int, fields: dict[str, str]) -> CountingBody:
    """A multipart form with small ``fields`` and one file of ``size`` bytes."""
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
    )
    return CountingBody(size, head.encode(), f"\r\n--{BOUNDARY}--\r\n".encode())


def send(
    app: FastAPI, path: str, body: CountingBody, headers: dict[str, str], *, length: bool = False
) -> tuple[int, dict[str, str]]:
    """POST ``body`` to ``path``; chunked unless ``length`` (then with its Content-Length)."""
    raw = {k.lower(): v for k, v in headers.items()}
    raw["transfer-encoding" if not length else "content-length"] = (
        "chunked" if not length else str(body.total)
    )
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in raw.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    answer: dict[str, Any] = {}

    async def reply(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

    asyncio.run(app(scope, body.receive, reply))
    return answer["status"], answer["headers"]


FORM = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("token", [None, "Bearer not-a-real-token", "Basic YWRtaW46YWRtaW4="])
def test_an_upload_without_a_live_token_is_refused_before_it_is_read(
    app: FastAPI, client: TestClient, token: str | None
) -> None:
    body = multipart("children", "children.csv", 60 * MB, {"year_start": "2026-09-01"})
    status, headers = send(
        app, "/caseloads", body, FORM | ({"authorization": token} if token else {})
    )
    assert status == 401
    assert headers["www-authenticate"] == "Bearer"
    assert headers["connection"] == "close"  # the server will not receive the rest either
    assert body.sent == 0  # not one byte read, so nothing spooled to a temporary file


def test_a_json_body_without_a_live_token_is_refused_before_it_is_read(app: FastAPI) -> None:
    body = CountingBody(200 * MB, b'{"caseload_id": 1, "la_code": "')
    assert send(app, "/runs", body, JSON)[0] == 401
    assert body.sent == 0


def test_an_upload_over_its_limit_is_stopped_as_soon_as_it_passes_it(
    app: FastAPI, users: dict
) -> None:
    limit = UPLOAD_BYTES[("POST", "/runs/fair-access")]
    signed_in = FORM | users["case_officer"]
    body = multipart("history", "history.csv", 4 * limit, {"caseload_id": "1"})
    status, headers = send(app, "/runs/fair-access", body, signed_in)
    assert (status, headers["connection"]) == (413, "close")
    assert limit < body.sent <= limit + CHUNK + 1024
    # Announced by its Content-Length, it is refused without a byte read.
    body = multipart("history", "history.csv", 4 * limit, {"caseload_id": "1"})
    assert send(app, "/runs/fair-access", body, signed_in, length=True)[0] == 413
    assert body.sent == 0


def test_a_json_body_over_its_limit_is_stopped_as_soon_as_it_passes_it(
    app: FastAPI, users: dict
) -> None:
    limit = BodyLimits().json_bytes
    body = CountingBody(20 * MB, b'{"caseload_id": 1, "la_code": "', b'"}')
    assert send(app, "/runs", body, JSON | users["case_officer"])[0] == 413
    assert body.sent <= limit + CHUNK + 1024
    # The sign-in form is read without a token, so it has the same limit.
    body = CountingBody(20 * MB, b"username=admin&password=")
    assert (
        send(app, "/auth/token", body, {"content-type": "application/x-www-form-urlencoded"})[0]
        == 413
    )
    assert body.sent <= limit + CHUNK + 1024


def test_the_upload_limit_can_be_lowered() -> None:
    limits = BodyLimits.from_environment(
        {"SENDMATCH_MAX_UPLOAD_MB": "2", "SENDMATCH_MAX_JSON_KB": "8"}
    )
    assert limits.for_request("POST", "/caseloads") == 2 * MB
    assert limits.for_request("POST", "/runs") == 8 * 1024
    defaults = BodyLimits.from_environment({})
    assert defaults.for_request("POST", "/caseloads") == 151 * MB
    with pytest.raises(ValueError, match="SENDMATCH_MAX_UPLOAD_MB must be a whole number"):
        BodyLimits.from_environment({"SENDMATCH_MAX_UPLOAD_MB": "lots"})


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400"]


@pytest.mark.parametrize("number", NON_FINITE)
def test_numbers_json_does_not_have_are_a_422_on_every_json_route(
    client: TestClient, users: dict, number: str
) -> None:
    admin = users["admin"]
    bodies = [
        ("POST", "/users", f'{{"username": "x", "password": {number}, "role": "planner"}}'),
        ("PATCH", "/users/1", f'{{"active": {number}}}'),
        ("POST", "/runs", f'{{"caseload_id": 1, "primary_limit_minutes": {number}}}'),
        ("POST", "/runs", f'{{"caseload_id": {number}}}'),
        ("POST", "/runs/1/decisions", f'{{"child_id": {number}, "reasons": "r"}}'),
        (
            "POST",
            "/runs/1/decisions",
            f'{{"child_id": "C001", "reasons": "r", "setting_urn": {number}}}',
        ),
    ]
    for method, path, content in bodies:
        response = client.request(method, path, content=content, headers=JSON | admin)
        assert response.status_code == 422, (method, path, content, response.text)
        assert isinstance(response.json()["detail"], list)  # FastAPI's usual shape
    finite = client.post(
        "/runs", content='{"caseload_id": 1, "primary_limit_minutes": 1e300}', headers=JSON | admin
    )
    assert finite.status_code == 422  # over 300 minutes: refused for the range, rendered fine


BAD_IDS = ["C\x0001", "C\u202e01", "C\u200f01", "C\x1b[2J", "C\n01", "C\u206601"]


@pytest.mark.parametrize("child_id", BAD_IDS)
def test_child_ids_with_control_or_bidi_codes_are_a_422(
    client: TestClient, users: dict, child_id: str
) -> None:
    panel = users["panel_member"]
    quoted = quote(child_id, safe="")
    for path in (
        f"/runs/1/children/{quoted}",
        f"/runs/1/fair-access/{quoted}",
        f"/runs/1/decisions?child_id={quoted}",
    ):
        response = client.get(path, headers=panel)
        assert response.status_code == 422, (path, response.text)
    decision = {"child_id": child_id, "setting_urn": None, "reasons": "named"}
    response = client.post("/runs/1/decisions", json=decision, headers=panel)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "child_id"]


# --------------------------------------------------------------------------------------------
# The access log, as `sendmatch serve` configures it, on a real server


LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "api", "matcher", "geodata")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put the loggers that ``log_config`` changes back as they were, for later tests."""
    saved = {
        name: (lg.handlers[:], lg.filters[:], lg.level, lg.propagate, lg.disabled)
        for name in LOGGERS
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, filters, level, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.filters[:] = handlers, filters
        lg.level, lg.propagate, lg.disabled = level, propagate, disabled


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def served(app: FastAPI, restored_logging: None) -> Iterator[tuple[str, Records]]:
    """The app under uvicorn on a free loopback port, with ``log_config()``; the access log's
    records as its handlers see them."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=log_config(), log_level="info", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    records = Records()
    logging.getLogger("uvicorn.access").addHandler(records)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", records
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_the_access_log_shows_routes_not_child_ids(served: tuple[str, Records]) -> None:
    url, records = served
    with httpx.Client(base_url=url) as http:
        token = http.post("/auth/token", data={"username": "admin", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        read = http.get("/runs/7/children/C0001?child_id=C0002", headers=headers)
        lost = http.get("/runs/7/children/C0003/more", headers=headers)
    lines = [r.getMessage() for r in records.records]
    assert not [line for line in lines if "C000" in line], lines
    assert any('"GET /runs/7/children/{child_id} HTTP/1.1" 404' in line for line in lines), lines
    assert any('"GET /runs/*/children/*/* HTTP/1.1" 404' in line for line in lines), lines
    # Each line carries the id its response was sent with, and no two requests share one.
    ids = [r.request_id for r in records.records]  # type: ignore[attr-defined]
    assert read.headers[REQUEST_ID_HEADER] in ids and lost.headers[REQUEST_ID_HEADER] in ids
    assert len(set(ids)) == len(ids) == 3
    formatter = logging.getLogger("uvicorn.access").handlers[0].formatter
    assert formatter is not None
    assert f"request={ids[1]}" in formatter.format(records.records[1])
