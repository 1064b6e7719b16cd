"""Many clients at once: a panel's page of progress bars polling a working run while members
read children's records must neither fail nor freeze the server, and a poll holds one database
connection and writes nothing unless the run it polls has died.

The load test serves the app with uvicorn in a process of its own on loopback, as ``sendmatch
serve`` does, so requests go through the real event loop, thread pool and connection pool,
and the clients (asyncio, in the test process) do not share the server's interpreter lock.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.db import Run, RunStatus, User, utcnow
from api.jobs import STALE_AFTER

#: The issue's load: a panel's page of progress bars, and members reading children meanwhile.
#: Before the limit on requests holding a session, 100 pollers froze the server for 30 s and
#: then failed (the pool was exhausted): 40 threads waited for connections that requests
#: waiting for those threads held.
POLLERS = 100
READERS = 20
LOAD_S = 3.0
#: An answer slower than this is a frozen server: a healthy one answers 120 clients in about
#: a second, a few on a loaded machine; a frozen one after the pool's 30 s, with an error.
SLOWEST_ANSWER_S = 10.0
CLIENT_TIMEOUT_S = 20.0
#: One TLS context for every client (loopback is plain HTTP): making one each takes tens of ms.
PLAIN_HTTP = ssl.create_default_context()
START_S = 60.0

SERVE = """
import sys, uvicorn
from api.app import create_app
uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


@contextmanager
def serving(database_url: str, log: Path) -> Iterator[str]:
    """The app on ``database_url`` behind uvicorn in a process of its own; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, database_url, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                if httpx.get(f"{base_url}/openapi.json", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class Answers:
    """What the clients got: each answer's time, each client's count, every failure."""

    seconds: list[float] = field(default_factory=list)
    per_client: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def keep_asking(
    base_url: str,
    paths: list[str],
    headers: dict[str, str],
    until: float,
    answers: Answers,
) -> None:
    """One client on a keep-alive connection of its own, as a browser tab would poll, asking
    for ``paths`` in turn until then, each answer before the next."""
    count = 0
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=CLIENT_TIMEOUT_S, verify=PLAIN_HTTP
    ) as http:
        while time.monotonic() < until:
            path = paths[count % len(paths)]
            asked = time.monotonic()
            try:
                response = await http.get(path)
                problem = None if response.status_code == 200 else f"HTTP {response.status_code}"
                if problem and response.status_code >= 500:
                    problem += f" {response.text[:200]}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            took = time.monotonic() - asked
            answers.seconds.append(took)
            count += 1
            if problem is not None:
                answers.failures.append(f"{path}: {problem} after {took:.1f} s")
    answers.per_client.append(count)


async def panel_at_work(
    base_url: str,
    run_path: str,
    child_paths: list[str],
    users: dict[str, dict[str, str]],
) -> tuple[Answers, Answers]:
    """Pollers and readers at once for ``LOAD_S`` seconds."""
    polls, reads = Answers(), Answers()
    until = time.monotonic() + LOAD_S
    pollers = [
        keep_asking(base_url, [run_path], users["planner"], until, polls) for _ in range(POLLERS)
    ]
    readers = [
        keep_asking(base_url, child_paths, users["panel_member"], until, reads)
        for _ in range(READERS)
    ]
    await asyncio.gather(*pollers, *readers)
    return polls, reads


def working_run(application: FastAPI, caseload_id: int) -> int:
    """A run another server process is working on: running, its heartbeat fresh."""
    with application.state.db.sessions() as session:
        starter = session.query(User).filter_by(username="admin").one()
        now = utcnow()
        run = Run(
            kind="placement",
            status=RunStatus.RUNNING.value,
            caseload_id=caseload_id,
            options={},
            started_by=starter.id,
            started_at=now,
            heartbeat_at=now,
            progress=0.4,
            stage="tailored lists: 4,000 of 25,000 children",
        )
        session.add(run)
        session.commit()
        return run.id


class DatabaseWatch:
    """While the block runs: the most connections the app held at once, and its writes to runs."""

    def __init__(self, application: FastAPI) -> None:
        self.engine = application.state.db.engine
        self.held = self.most_held = 0
        self.run_writes: list[str] = []
        self.lock = threading.Lock()

    def __enter__(self) -> DatabaseWatch:
        event.listen(self.engine, "checkout", self._checkout)
        event.listen(self.engine, "checkin", self._checkin)
        event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "checkout", self._checkout)
        event.remove(self.engine, "checkin", self._checkin)
        event.remove(self.engine, "before_cursor_execute", self._statement)

    def _checkout(self, *_args: Any) -> None:
        with self.lock:
            self.held += 1
            self.most_held = max(self.most_held, self.held)

    def _checkin(self, *_args: Any) -> None:
        with self.lock:
            self.held -= 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE RUNS"):
            with self.lock:
                self.run_writes.append(statement)


def test_a_poll_holds_one_connection_and_writes_only_to_a_stale_run(
    app: FastAPI, client: TestClient, users: dict[str, dict[str, str]], run: dict[str, Any]
) -> None:
    working = working_run(app, run["caseload_id"])
    with DatabaseWatch(app) as live:
        polled = client.get(f"/runs/{working}", headers=users["planner"])
    assert polled.status_code == 200 and polled.json()["status"] == "running"
    assert live.most_held == 1 and live.run_writes == []
    with app.state.db.sessions() as session:
        session.get_one(Run, working).heartbeat_at = utcnow() - 2 * STALE_AFTER
        session.commit()
    with DatabaseWatch(app) as stale:
        polled = client.get(f"/runs/{working}", headers=users["planner"])
    assert polled.status_code == 200 and polled.json()["status"] == "failed"
    assert stale.most_held == 1 and len(stale.run_writes) == 1


def test_many_pollers_of_a_working_run_and_readers_all_get_answers(
    app: FastAPI,
    client: TestClient,
    users: dict[str, dict[str, str]],
    run: dict[str, Any],
    tmp_path: Path,
) -> None:
    """100 clients polling one working run and 20 reading children, for a few seconds, on a
    served app: every answer a 200, none slow, every client answered, the run still working."""
    working = working_run(app, run["caseload_id"])
    children = client.get(f"/runs/{run['id']}/children", headers=users["panel_member"]).json()
    child_paths = [f"/runs/{run['id']}/children/{c['child_id']}" for c in children]
    with serving(app.state.db.url, tmp_path / "server.log") as base_url:
        polls, reads = asyncio.run(panel_at_work(base_url, f"/runs/{working}", child_paths, users))
    assert polls.failures == [] and reads.failures == [], (polls.failures + reads.failures)[:10]
    assert len(polls.per_client) == POLLERS and min(polls.per_client) >= 1
    assert len(reads.per_client) == READERS and min(reads.per_client) >= 1
    assert max(polls.seconds + reads.seconds) < SLOWEST_ANSWER_S
    after = client.get(f"/runs/{working}", headers=users["planner"]).json()
    assert after["status"] == "running"
