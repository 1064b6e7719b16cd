"""Runs in processes of their own (api.run_processes): done, crashed, stopped, or in memory.

The jobs below are module-level so that a spawned process can import them by name; each is
one of the API's real jobs or a stand-in that dies in a known way.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import psutil
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import routes_runs
from api.app import create_app
from api.db import Database, Run, RunResult, RunStatus
from api.jobs import execute_placement_run, execute_run
from api.run_processes import RunLauncher, shared_between_processes
from geodata.network import load_drive_network
from geodata.synthetic import synthetic_caseload, synthetic_settings
from matcher.input_writers import write_children, write_settings
from tests.api_client import PASSWORD, create_first_admin, login, upload

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

WAIT_S = 60.0
TINY_OSM = Path(__file__).parent / "data" / "tiny_drive.osm"


def placement_in_a_child_process(
    database: Database, run_id: int, network: RoadNetwork | None
) -> None:
    """The placement job, refusing to run in the process that started it."""
    if multiprocessing.parent_process() is None:
        raise RuntimeError("ran in the server's own process")
    execute_placement_run(database, run_id, network)


def killed_mid_run(database: Database, run_id: int, network: RoadNetwork | None) -> None:
    """Claims the run, then dies as the kernel's out-of-memory killer would end it."""

    def work(options: dict, report: object) -> tuple[list, dict]:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    execute_run(database, run_id, "test", work)


def working_forever(database: Database, run_id: int, network: RoadNetwork | None) -> None:
    def work(options: dict, report: object) -> tuple[list, dict]:
        time.sleep(600)
        return [], {}

    execute_run(database, run_id, "test", work)


@pytest.fixture
def held_run(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FastAPI, int]]:
    """An app whose runs work in processes, and one placement run it has queued but not
    started (the route's job held back), for a launcher to start with a job of the test's."""
    application = create_app(database_url)
    with application.state.db.sessions() as session:
        create_first_admin(session, "admin", PASSWORD)
    monkeypatch.setattr(application.state.runs, "queue", lambda *args: None)
    with TestClient(application) as client:
        headers = login(client, "admin")
        uploaded = upload(client, headers)
        assert uploaded["status"] == 201, uploaded
        response = client.post(
            "/runs", json={"caseload_id": uploaded["body"]["id"]}, headers=headers
        )
        assert response.status_code == 202, response.text
        yield application, int(response.json()["id"])
    application.state.db.dispose()


def run_processes_of(server_pid: int) -> list[psutil.Process]:
    """The server's run processes: spawned by it, or forked by its fork server (which, like
    the resource tracker, is the server's own child and runs no run)."""
    found = []
    for process in psutil.Process(server_pid).children(recursive=True):
        command = " ".join(process.cmdline())
        forked = "multiprocessing.forkserver" in command and process.ppid() != server_pid
        if "spawn_main" in command or forked:
            found.append(process)
    return found


def run_row(application: FastAPI, run_id: int) -> Run:
    with application.state.db.sessions() as session:
        return session.get_one(Run, run_id)


def results(application: FastAPI, run_id: int) -> int:
    with application.state.db.sessions() as session:
        return int(session.scalar(select(func.count()).where(RunResult.run_id == run_id)) or 0)


def test_an_apps_runs_work_in_processes_unless_its_database_is_in_memory(
    database_url: str,
) -> None:
    assert shared_between_processes(database_url)
    assert not shared_between_processes("sqlite://")
    assert not shared_between_processes("sqlite:///:memory:")
    assert RunLauncher(Database("sqlite://")).separate_processes is False
    application = create_app(database_url)
    try:
        assert application.state.runs.separate_processes is True
    finally:
        application.state.db.dispose()


def test_a_run_in_its_own_process_stores_every_childs_list(held_run: tuple[FastAPI, int]) -> None:
    application, run_id = held_run
    application.state.runs.run(placement_in_a_child_process, run_id)
    run = run_row(application, run_id)
    assert run.status == RunStatus.DONE.value, run.error
    assert run.summary is not None
    placed = run.summary["placed"] + run.summary["unplaced"]
    assert placed > 0 and results(application, run_id) == placed


def notes_its_parent(database: Database, run_id: int, network: RoadNetwork | None) -> None:
    """Stores its parent process's pid and command line as the run's summary."""
    parent = psutil.Process(os.getppid())

    def work(options: dict, report: object) -> tuple[list, dict]:
        return [], {"parent": parent.pid, "command": " ".join(parent.cmdline())}

    execute_run(database, run_id, "test", work)


def test_a_run_process_is_forked_from_a_fork_server_that_has_imported_the_jobs(
    held_run: tuple[FastAPI, int],
) -> None:
    """Not spawned afresh: a spawned run spends over a second importing the matcher before it
    reads its caseload. The fork server is the server's own child, so it ends with it."""
    application, run_id = held_run
    application.state.runs.run(notes_its_parent, run_id)
    run = run_row(application, run_id)
    assert run.status == RunStatus.DONE.value, run.error
    assert run.summary is not None
    assert run.summary["parent"] != os.getpid()
    assert psutil.Process(run.summary["parent"]).ppid() == os.getpid()
    assert "multiprocessing.forkserver" in run.summary["command"]
    assert "api.jobs" in run.summary["command"]


def test_a_run_process_times_journeys_on_the_servers_road_network(
    held_run: tuple[FastAPI, int],
) -> None:
    application, run_id = held_run
    network = load_drive_network(TINY_OSM, use_cache=False)
    application.state.runs.run(placement_in_a_child_process, run_id, network)
    run = run_row(application, run_id)
    assert run.status == RunStatus.DONE.value, run.error
    assert run.summary is not None and network.label in run.summary["travel_model"]


def test_a_killed_run_process_fails_its_run_and_keeps_no_results(
    held_run: tuple[FastAPI, int],
) -> None:
    application, run_id = held_run
    application.state.runs.run(killed_mid_run, run_id)
    run = run_row(application, run_id)
    assert run.status == RunStatus.FAILED.value
    assert "SIGKILL" in (run.error or "") and "out of memory" in (run.error or "")
    assert results(application, run_id) == 0
    assert application.state.runs.live_runs() == []


def test_stopping_the_server_ends_working_runs_and_marks_them_failed(
    held_run: tuple[FastAPI, int],
) -> None:
    application, run_id = held_run
    launcher: RunLauncher = application.state.runs
    waiter = threading.Thread(target=launcher.run, args=(working_forever, run_id))
    waiter.start()
    deadline = time.monotonic() + WAIT_S
    while run_row(application, run_id).status != RunStatus.RUNNING.value:
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    assert launcher.live_runs() == [run_id]
    started = time.monotonic()
    launcher.stop()
    waiter.join(WAIT_S)
    assert not waiter.is_alive() and time.monotonic() - started < WAIT_S
    run = run_row(application, run_id)
    assert run.status == RunStatus.FAILED.value
    assert "server stopped while this run was working" in (run.error or "")
    assert launcher.live_runs() == []
    # A stopping server starts no more processes: a run it is given now fails at once.
    with application.state.db.sessions() as session:
        late = Run(caseload_id=run.caseload_id, options=run.options, started_by=run.started_by)
        session.add(late)
        session.commit()
    launcher.run(placement_in_a_child_process, late.id)
    assert run_row(application, late.id).status == RunStatus.FAILED.value
    assert "was queued" in (run_row(application, late.id).error or "")


def test_the_api_runs_a_placement_in_a_process_end_to_end(database_url: str) -> None:
    # The route's own job, unpatched: a patch here would not reach the spawned process anyway.
    assert routes_runs.execute_placement_run is execute_placement_run
    application = create_app(database_url)
    with application.state.db.sessions() as session:
        create_first_admin(session, "admin", PASSWORD)
    try:
        with TestClient(application) as client:
            headers = login(client, "admin")
            uploaded = upload(client, headers)
            response = client.post(
                "/runs", json={"caseload_id": uploaded["body"]["id"]}, headers=headers
            )
            # TestClient returns once the background task (the process) has finished.
            body = client.get(f"/runs/{response.json()['id']}", headers=headers).json()
            assert body["status"] == "done", body
            children = client.get(f"/runs/{body['id']}/children", headers=headers).json()
            assert len(children) == results(application, body["id"]) > 0
    finally:
        application.state.db.dispose()


def synthetic_round(folder: Path, n_children: int) -> None:
    """A caseload big enough that its run takes several seconds: points in a 30 km box."""
    rng = np.random.default_rng(5)
    lat = 52.9 + rng.uniform(0, 0.27, 4000)
    lon = -1.3 + rng.uniform(0, 0.45, 4000)
    settings = synthetic_settings(200, lat, lon, 5, expected_children=n_children)
    write_settings(settings, folder / "settings.csv")
    write_children(synthetic_caseload(n_children, settings, lat, lon, 5), folder / "children.csv")


def test_stopping_a_real_server_mid_run_ends_the_run_within_seconds(tmp_path: Path) -> None:
    """``sendmatch serve`` told to stop (SIGTERM) while a long run works must exit in seconds,
    leave no run process behind and mark the run failed: not wait for the run, not orphan it."""
    synthetic_round(tmp_path, 25_000)  # a whole LA: 5,000 children's run ends too soon now
    database = f"sqlite:///{tmp_path / 'serve.db'}"
    cli = [sys.executable, "-m", "matcher.cli"]
    admin = ["--username", "admin", "--password", PASSWORD, "--database-url", database]
    made = subprocess.run(
        [*cli, "create-admin", *admin],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*cli, "serve", "--port", str(port), "--database-url", database],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            deadline = time.monotonic() + WAIT_S
            while True:
                try:
                    if http.get("/openapi.json").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
            token = http.post("/auth/token", data={"username": "admin", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            files = {
                name: (f"{name}.csv", (tmp_path / f"{name}.csv").read_bytes(), "text/csv")
                for name in ("children", "settings")
            }
            caseload = http.post(
                "/caseloads", files=files, data={"year_start": "2026-09-01"}, headers=headers
            )
            assert caseload.status_code == 201, caseload.text
            run_id = http.post(
                "/runs", json={"caseload_id": caseload.json()["id"]}, headers=headers
            ).json()["id"]
            while http.get(f"/runs/{run_id}", headers=headers).json()["status"] != "running":
                assert time.monotonic() < deadline, "the run never started"
                time.sleep(0.1)
            children = psutil.Process(server.pid).children(recursive=True)
            run_processes = run_processes_of(server.pid)
            assert run_processes, [" ".join(p.cmdline())[:200] for p in children]
        asked = time.monotonic()
        server.terminate()
        server.wait(timeout=WAIT_S)
        stopped_in = time.monotonic() - asked
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert stopped_in < 20, f"the server took {stopped_in:.0f} s to stop"
    # The server ended (and reaped) the run's process before exiting: not orphaned.
    assert not any(p.is_running() for p in run_processes)
    # multiprocessing's resource tracker follows once the server has gone.
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [" ".join(p.cmdline())[:200] for p in alive]
    restarted = Database(database)
    try:
        with restarted.sessions() as session:
            run = session.get_one(Run, run_id)
    finally:
        restarted.dispose()
    assert run.status == RunStatus.FAILED.value, (run.status, log.read_text()[-2000:])
    assert "server stopped while this run was working" in (run.error or "")


def needs_more_memory_than_allowed(
    database: Database, run_id: int, network: RoadNetwork | None
) -> None:
    """Asks for 4 GB, far past the 1.5 GB its launcher allows a run's process."""

    def work(options: dict, report: object) -> tuple[list, dict]:
        hoard = bytearray(4 * 1024**3)
        return [], {"size": len(hoard)}

    execute_run(database, run_id, "test", work)


def test_a_run_past_its_memory_limit_fails_alone(held_run: tuple[FastAPI, int]) -> None:
    application, run_id = held_run
    launcher = RunLauncher(application.state.db, memory_limit_mb=1536)
    launcher.run(needs_more_memory_than_allowed, run_id)
    run = run_row(application, run_id)
    assert run.status == RunStatus.FAILED.value
    assert "more memory than the server allows" in (run.error or ""), run.error
    assert results(application, run_id) == 0
    # The cap was the run process's alone: the server's own process has none.
    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY


SERVER_STAND_IN = """
import sys, threading
from api.db import Database
from api.run_processes import RunLauncher
from tests.test_run_processes import working_forever

launcher = RunLauncher(Database(sys.argv[1]))
# As in the server: the run is started, and waited on, by a worker thread.
threading.Thread(target=launcher.run, args=(working_forever, int(sys.argv[2]))).start()
threading.Event().wait()
"""


def test_a_run_process_dies_with_a_server_killed_by_sigkill(
    held_run: tuple[FastAPI, int], database_url: str
) -> None:
    """``kill -9`` gives the server no chance to end its runs: the run's process must notice
    by itself and stop, not work on to the end with nobody to read or cancel it."""
    application, run_id = held_run
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_STAND_IN, database_url, str(run_id)],
        cwd=Path(__file__).parents[1],
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while run_row(application, run_id).status != RunStatus.RUNNING.value:
            assert server.poll() is None and time.monotonic() < deadline, "never started"
            time.sleep(0.1)
        runs = run_processes_of(server.pid)
        assert len(runs) == 1
        server.kill()
        server.wait()
        _, alive = psutil.wait_procs(runs, timeout=10)
        assert not alive, "the run's process outlived its server"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
