"""Placement runs over HTTP: tailored lists in every child's result, the child list, progress,
cancellation and crashes (never partial results), interrupted runs, and the road map."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import jobs, routes_runs
from api.app import create_app
from api.db import ChildRead, Run, RunResult, RunStatus, utcnow
from geodata.network import RoadNetwork, load_drive_network
from matcher import io
from matcher.tailored import TailoredListModel
from tests.api_client import DATA, YEAR_START, upload

TINY_OSM = Path(__file__).parent / "data" / "tiny_drive.osm"
WAIT_S = 30.0


def count(application: FastAPI, model: type, **where: Any) -> int:
    with application.state.db.sessions() as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(session.scalar(query) or 0)


def child_ids(client: TestClient, run_id: int, headers: dict[str, str], **params: Any) -> list:
    response = client.get(f"/runs/{run_id}/children", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [c["child_id"] for c in response.json()]


# --- tailored lists in a finished run --------------------------------------------------------


def test_done_run_reaches_full_progress(run: dict) -> None:
    assert run["status"] == "done", run
    assert run["progress"] == 1.0
    assert run["stage"] == "done"
    assert run["cancel_requested"] is False


def test_every_child_has_a_tailored_list_consistent_with_the_placement(
    client: TestClient, users: dict, run: dict
) -> None:
    inputs = io.load_round(
        DATA / "children.csv",
        DATA / "settings.csv",
        DATA / "tariffs.csv",
        year_start=date.fromisoformat(YEAR_START),
    )
    homes = {c.child_id: c.home for c in inputs.children}
    preferences = {c.child_id: c.preferences for c in inputs.children}
    located = {s.urn: s.location for s in inputs.settings}
    ids = child_ids(client, run["id"], users["case_officer"])
    assert ids == sorted(homes)
    for child_id in ids:
        response = client.get(f"/runs/{run['id']}/children/{child_id}", headers=users["admin"])
        assert response.status_code == 200, response.text
        child = response.json()
        tailored = child["tailored_list"]
        assert tailored is not None, child_id
        proposed = [o for o in tailored["options"] if o["proposed"]]
        if child["setting_urn"] is None:
            assert proposed == [], child_id
        else:
            # The list's proposed option is the placement itself, at no cost to the plan.
            assert [o["urn"] for o in proposed] == [child["setting_urn"]], child_id
            assert proposed[0]["marginal_text"] == "no cost to the LA-wide plan"
            assert proposed[0]["placement_kind"] == child["placement_kind"]
            assert proposed[0]["minutes"] == pytest.approx(child["travel_minutes"], abs=0.05)
        assert all(e["reasons"] for e in tailored["excluded"]), child_id
        assert tailored["home"] == pytest.approx(
            {"lat": homes[child_id].latitude, "lon": homes[child_id].longitude}, abs=1e-6
        )
        for row in [*tailored["options"], *tailored["excluded"]]:
            where = located[row["urn"]]
            assert row["location"] == pytest.approx(
                {"lat": where.latitude, "lon": where.longitude}, abs=1e-6
            )
        statements = tailored["preferences"]
        assert [p["urn"] for p in statements] == list(preferences[child_id])
        met = [p["rank"] for p in statements if p["met"]]
        assert met == ([child["preference_rank"]] if child["preference_rank"] else [])
        assert all(p["ground"] and p["evidence"] for p in statements)


def test_tailored_lists_match_the_matcher_run_directly(
    client: TestClient, users: dict, run: dict
) -> None:
    """The API stores what ``sendmatch tailored-lists`` would write, option for option."""
    inputs = io.load_round(
        DATA / "children.csv",
        DATA / "settings.csv",
        DATA / "tariffs.csv",
        year_start=date.fromisoformat(YEAR_START),
    )
    from matcher.costs import Tariffs
    from matcher.placement import PlacementConfig
    from matcher.travel_estimate import build_travel_matrix

    config = PlacementConfig(tariffs=Tariffs.from_bands(inputs.tariffs))
    travel = build_travel_matrix(
        inputs.children, inputs.settings, config.eligibility.cutoff_minutes
    )
    model = TailoredListModel(inputs.children, inputs.settings, travel.matrix, config)
    for expected in model.lists():
        url = f"/runs/{run['id']}/children/{expected.child_id}"
        got = client.get(url, headers=users["panel_member"]).json()["tailored_list"]
        assert [(o["urn"], o["why_listed"]) for o in got["options"]] == [
            (o.urn, o.why_listed) for o in expected.options
        ]
        assert [e["urn"] for e in got["excluded"]] == [e.urn for e in expected.excluded]
        assert got["excluded_not_shown"] == expected.excluded_not_shown


def test_child_read_is_audited_and_planners_see_no_child(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    url = f"/runs/{run['id']}/children"
    for path in (url, f"{url}/C001"):
        assert client.get(path, headers=users["planner"]).status_code == 403
        assert client.get(path).status_code == 401
    # Listing children to pick one is not a read of any child's record...
    assert child_ids(client, run["id"], users["panel_member"])
    assert count(app, ChildRead) == 0
    # ...opening one is.
    assert client.get(f"{url}/C002", headers=users["case_officer"]).status_code == 200
    with app.state.db.sessions() as session:
        reads = session.scalars(select(ChildRead)).all()
        assert [(r.user.username, r.run_id, r.child_id) for r in reads] == [
            ("case_officer", run["id"], "C002")
        ]


def test_concurrent_reads_are_each_audited_before_they_are_answered(
    app: FastAPI, client: TestClient, users: dict, run: dict
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = child_ids(client, run["id"], users["admin"]) * 3
    url = f"/runs/{run['id']}/children/"
    with ThreadPoolExecutor(12) as pool:
        codes = list(
            pool.map(lambda c: client.get(url + c, headers=users["panel_member"]).status_code, ids)
        )
    assert codes == [200] * len(ids)
    with app.state.db.sessions() as session:
        reads = sorted(r.child_id for r in session.scalars(select(ChildRead)))
    assert reads == sorted(ids)


def test_a_read_that_cannot_be_audited_is_refused(
    app: FastAPI, client: TestClient, users: dict, run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    from api import child_reads

    broken = text("INSERT INTO no_such_table (user_id) VALUES (:user_id)")
    monkeypatch.setattr(child_reads, "insert", lambda _table: broken)
    response = client.get(f"/runs/{run['id']}/children/C001", headers=users["panel_member"])
    assert response.status_code == 503
    assert "setting_urn" not in response.text and "C001" not in response.text
    assert count(app, ChildRead) == 0


def test_child_list_pages_in_id_order_and_filters_unplaced(
    client: TestClient, users: dict, run: dict
) -> None:
    headers = users["panel_member"]
    everyone = child_ids(client, run["id"], headers)
    assert len(everyone) == run["summary"]["children"]
    pages = [child_ids(client, run["id"], headers, offset=k, limit=5) for k in (0, 5, 10)]
    assert [c for page in pages for c in page] == everyone
    rows = client.get(f"/runs/{run['id']}/children", headers=headers).json()
    unplaced = child_ids(client, run["id"], headers, unplaced_only=True)
    assert unplaced == [r["child_id"] for r in rows if r["setting_urn"] is None]
    assert len(unplaced) == run["summary"]["unplaced"]
    placed = [r for r in rows if r["setting_urn"] is not None]
    assert placed and all(r["setting_name"] and r["placement_kind"] for r in placed)
    assert any(r["preference_rank"] == 1 for r in rows)
    for bad in ({"limit": 0}, {"limit": routes_runs.MAX_CHILDREN_PAGE + 1}, {"offset": -1}):
        response = client.get(f"/runs/{run['id']}/children", params=bad, headers=headers)
        assert response.status_code == 422, bad


def test_an_unplaced_child_is_listed_as_such_with_every_exclusion_explained(
    client: TestClient, users: dict, tmp_path: Path
) -> None:
    children = tmp_path / "children.csv"
    # No setting offers both a residential and a nursing place: C013 cannot be placed.
    extra = "C013,7,,M,52.2500,0.7100,935,ASD,,yes,,,,residential;nursing,,B\n"
    children.write_text((DATA / "children.csv").read_text() + extra)
    uploaded = upload(client, users["case_officer"], children)
    assert uploaded["status"] == 201, uploaded
    started = client.post(
        "/runs", json={"caseload_id": uploaded["body"]["id"]}, headers=users["admin"]
    )
    run_id = started.json()["id"]
    assert child_ids(client, run_id, users["admin"], unplaced_only=True) == ["C013"]
    assert "C013" in child_ids(client, run_id, users["admin"])
    child = client.get(f"/runs/{run_id}/children/C013", headers=users["admin"]).json()
    assert child["setting_urn"] is None
    tailored = child["tailored_list"]
    assert not any(o["proposed"] for o in tailored["options"])
    shown = {e["urn"]: e["reasons"] for e in tailored["excluded"]}
    assert shown and all(shown.values())
    assert any(
        "nursing" in reason or "residential" in reason for r in shown.values() for reason in r
    )


# --- progress, cancellation, crashes ---------------------------------------------------------


@pytest.fixture
def queued_run(
    app: FastAPI, client: TestClient, users: dict, monkeypatch: pytest.MonkeyPatch
) -> int:
    """A run left queued: the background task the endpoint would start is held back."""
    monkeypatch.setattr(routes_runs, "execute_placement_run", lambda *_args: None)
    uploaded = upload(client, users["case_officer"])
    assert uploaded["status"] == 201, uploaded
    response = client.post(
        "/runs", json={"caseload_id": uploaded["body"]["id"]}, headers=users["case_officer"]
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return int(response.json()["id"])


class Gate:
    """Holds the run at one point until released; says when the run has reached it."""

    def __init__(self) -> None:
        self.reached, self.release = threading.Event(), threading.Event()

    def wait_here(self) -> None:
        self.reached.set()
        assert self.release.wait(WAIT_S), "the test never released the run"


@pytest.fixture
def in_background(app: FastAPI) -> Iterator[Callable[[int], threading.Thread]]:
    threads: list[threading.Thread] = []

    def start(run_id: int) -> threading.Thread:
        thread = threading.Thread(target=jobs.execute_placement_run, args=(app.state.db, run_id))
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join(WAIT_S)


def test_progress_rises_through_the_stages_to_one(
    app: FastAPI, queued_run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "LIST_CHUNK", 5)  # 12 children: three chunks
    seen: list[tuple[float, str]] = []
    report = jobs.report_progress

    def recording(database: Any, run_id: int, progress: float, stage: str) -> None:
        seen.append((progress, stage))
        report(database, run_id, progress, stage)

    monkeypatch.setattr(jobs, "report_progress", recording)
    jobs.execute_placement_run(app.state.db, queued_run)
    progress = [p for p, _ in seen]
    assert progress == sorted(progress) and progress[0] == 0.0 and progress[-1] < 1.0
    stages = [s for _, s in seen]
    for expected in ("reading", "travel times", "solving", "tailored lists: 10 of 12", "saving"):
        assert any(expected in s for s in stages), (expected, stages)
    with app.state.db.sessions() as session:
        finished = session.get_one(Run, queued_run)
        assert (finished.status, finished.progress, finished.stage) == ("done", 1.0, "done")


def test_cancelling_a_queued_run_stops_it_before_it_starts(
    app: FastAPI, client: TestClient, users: dict, queued_run: int
) -> None:
    url = f"/runs/{queued_run}/cancel"
    assert client.post(url, headers=users["planner"]).status_code == 403
    assert client.post(url, headers=users["panel_member"]).status_code == 403
    response = client.post(url, headers=users["case_officer"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    jobs.execute_placement_run(app.state.db, queued_run)  # the held-back task, arriving late
    assert client.get(f"/runs/{queued_run}", headers=users["planner"]).json()["status"] == (
        "cancelled"
    )
    assert count(app, RunResult) == 0
    # Asking again is harmless.
    assert client.post(url, headers=users["admin"]).json()["status"] == "cancelled"
    assert client.post("/runs/999/cancel", headers=users["admin"]).status_code == 404


def test_a_finished_run_cannot_be_cancelled(client: TestClient, users: dict, run: dict) -> None:
    response = client.post(f"/runs/{run['id']}/cancel", headers=users["admin"])
    assert response.status_code == 409
    assert client.get(f"/runs/{run['id']}", headers=users["admin"]).json()["status"] == "done"


def _hold_at(where: str, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the run wait on ``gate`` in the travel stage, in the second tailored-list chunk, or
    just before it saves (after its last check between stages)."""
    if where == "travel":
        build = jobs.build_travel_matrix

        def held_travel(*args: Any, **kwargs: Any) -> Any:
            gate.wait_here()
            return build(*args, **kwargs)

        monkeypatch.setattr(jobs, "build_travel_matrix", held_travel)
    elif where == "second list chunk":
        monkeypatch.setattr(jobs, "LIST_CHUNK", 5)
        lists = TailoredListModel.lists
        calls = []

        def held_lists(self: TailoredListModel, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 2:
                gate.wait_here()
            return lists(self, *args, **kwargs)

        monkeypatch.setattr(TailoredListModel, "lists", held_lists)
    else:
        save = jobs.save_results

        def held_save(*args: Any) -> Any:
            gate.wait_here()
            return save(*args)

        monkeypatch.setattr(jobs, "save_results", held_save)


@pytest.mark.parametrize("where", ["travel", "second list chunk", "before saving"])
def test_cancelling_a_running_run_keeps_no_results(
    app: FastAPI,
    client: TestClient,
    users: dict,
    queued_run: int,
    in_background: Callable[[int], threading.Thread],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    gate = Gate()
    _hold_at(where, gate, monkeypatch)
    worker = in_background(queued_run)
    assert gate.reached.wait(WAIT_S)
    running = client.get(f"/runs/{queued_run}", headers=users["planner"]).json()
    assert running["status"] == "running"
    assert 0.0 <= running["progress"] < 1.0 and running["stage"]
    response = client.post(f"/runs/{queued_run}/cancel", headers=users["case_officer"])
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("running", True)
    gate.release.set()
    worker.join(WAIT_S)
    assert not worker.is_alive()
    final = client.get(f"/runs/{queued_run}", headers=users["planner"]).json()
    assert (final["status"], final["summary"], final["error"]) == ("cancelled", None, None)
    assert count(app, RunResult, run_id=queued_run) == 0
    for path in ("children", "children/C001"):
        url = f"/runs/{queued_run}/{path}"
        assert client.get(url, headers=users["admin"]).status_code == 409


def test_a_crash_in_the_tailored_lists_keeps_no_results(
    app: FastAPI,
    client: TestClient,
    users: dict,
    queued_run: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "LIST_CHUNK", 5)
    lists = TailoredListModel.lists
    calls = []

    def crashing(self: TailoredListModel, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return lists(self, *args, **kwargs)

    monkeypatch.setattr(TailoredListModel, "lists", crashing)
    jobs.execute_placement_run(app.state.db, queued_run)
    final = client.get(f"/runs/{queued_run}", headers=users["planner"]).json()
    assert final["status"] == "failed"
    assert "(RuntimeError)" in final["error"] and "worker lost" not in final["error"]
    assert final["progress"] < 1.0 and final["summary"] is None
    assert count(app, RunResult) == 0
    assert client.get(f"/runs/{queued_run}/children", headers=users["admin"]).status_code == 409


def test_runs_left_by_a_stopped_server_are_marked_failed_on_start(
    app: FastAPI, client: TestClient, users: dict, queued_run: int
) -> None:
    long_ago = utcnow() - jobs.STALE_AFTER - timedelta(seconds=1)
    caseload_id = client.get(f"/runs/{queued_run}", headers=users["admin"]).json()["caseload_id"]
    waiting = client.post("/runs", json={"caseload_id": caseload_id}, headers=users["admin"])
    live = client.post("/runs", json={"caseload_id": caseload_id}, headers=users["admin"])
    with app.state.db.sessions() as session:
        crashed = session.get_one(Run, queued_run)
        crashed.status, crashed.progress, crashed.heartbeat_at = "running", 0.4, long_ago
        session.get_one(Run, waiting.json()["id"]).created_at = long_ago
        # Another server process's run, beating: a restart of this one must leave it alone.
        beating = session.get_one(Run, live.json()["id"])
        beating.status, beating.heartbeat_at = RunStatus.RUNNING.value, utcnow()
        session.commit()
    restarted = create_app(app.state.db.url)
    try:
        with restarted.state.db.sessions() as session:
            runs = {r.id: r for r in session.scalars(select(Run))}
    finally:
        restarted.state.db.dispose()
    assert runs[queued_run].status == "failed"
    assert "server stopped while this run was working" in (runs[queued_run].error or "")
    assert runs[waiting.json()["id"]].status == "failed"
    assert "was queued" in (runs[waiting.json()["id"]].error or "")
    assert runs[live.json()["id"]].status == "running"


def test_a_run_whose_heartbeat_stops_is_failed_when_polled(
    app: FastAPI, client: TestClient, users: dict, queued_run: int
) -> None:
    with app.state.db.sessions() as session:
        run = session.get_one(Run, queued_run)
        run.status, run.heartbeat_at = RunStatus.RUNNING.value, utcnow()
        session.commit()
    assert client.get(f"/runs/{queued_run}", headers=users["planner"]).json()["status"] == "running"
    with app.state.db.sessions() as session:
        session.get_one(Run, queued_run).heartbeat_at = utcnow() - jobs.STALE_AFTER * 2
        session.commit()
    polled = client.get(f"/runs/{queued_run}", headers=users["planner"]).json()
    assert polled["status"] == "failed" and "server stopped" in polled["error"]


def test_polling_a_live_run_waits_for_no_write_lock(
    app: FastAPI, client: TestClient, users: dict, queued_run: int
) -> None:
    """A run saving a whole LA's results holds the database's write lock (SQLite) or its row
    (PostgreSQL) for seconds; polling it meanwhile must answer at once, not queue behind it."""
    with app.state.db.sessions() as session:
        run = session.get_one(Run, queued_run)
        run.status, run.heartbeat_at = RunStatus.RUNNING.value, utcnow()
        session.commit()
    with app.state.db.engine.connect() as saver:
        if saver.dialect.name == "sqlite":
            saver.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            saver.begin()
            saver.execute(select(Run.id).where(Run.id == queued_run).with_for_update())
        answers: list[Any] = []
        poller = threading.Thread(
            target=lambda: answers.append(
                client.get(f"/runs/{queued_run}", headers=users["planner"])
            )
        )
        poller.start()
        poller.join(5)  # a poll that waits for the lock is still waiting now
        answered_in_time = bool(answers)
        saver.rollback()  # releases the lock either way
    poller.join(WAIT_S)
    assert answered_in_time, "the poll waited for the saving run's lock"
    assert answers[0].status_code == 200 and answers[0].json()["status"] == "running"


def test_a_working_run_keeps_its_heartbeat(
    app: FastAPI, queued_run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.02)
    database = app.state.db

    def slow_job(db: Any, run_id: int) -> None:
        assert jobs.claim_run(db, run_id) is not None
        with db.sessions() as session:
            first = session.get_one(Run, run_id).heartbeat_at
        threading.Event().wait(0.3)
        with db.sessions() as session:
            assert session.get_one(Run, run_id).heartbeat_at > first

    jobs.run_with_heartbeat(slow_job, database, queued_run)


# --- the road network ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_network() -> RoadNetwork:
    return load_drive_network(TINY_OSM, use_cache=False)


def roads(client: TestClient, headers: dict[str, str], **box: Any) -> Any:
    return client.get("/network/roads", params=box, headers=headers)


WHOLE = {"south": 53.7, "west": -1.7, "north": 54.0, "east": -1.4}


def test_roads_need_a_network(client: TestClient, users: dict) -> None:
    response = roads(client, users["planner"], **WHOLE)
    assert response.status_code == 404
    assert "sendmatch serve --osm" in response.json()["detail"]


def test_roads_in_a_box_as_geojson(
    app: FastAPI, client: TestClient, users: dict, tiny_network: RoadNetwork
) -> None:
    app.state.network = tiny_network
    assert roads(client, {}, **WHOLE).status_code == 401
    response = roads(client, users["planner"], **WHOLE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["truncated"] is False
    graph = tiny_network.seconds.tocoo()
    junction_pairs = {
        frozenset(p) for p in zip(graph.row.tolist(), graph.col.tolist(), strict=True)
    }
    assert body["total"] == len(body["features"]) == len(junction_pairs)
    ends = {
        frozenset(map(tuple, f["geometry"]["coordinates"]))
        for f in body["features"]
        if f["geometry"]["type"] == "LineString"
    }
    expected = {
        frozenset(
            (round(float(tiny_network.lon[n]), 6), round(float(tiny_network.lat[n]), 6)) for n in p
        )
        for p in junction_pairs
    }
    assert ends == expected
    speeds = [f["properties"]["kmh"] for f in body["features"]]
    assert speeds == sorted(speeds, reverse=True) and speeds[-1] > 0
    # The motorway 7-11-12 (east of -1.53) is the fastest road: a limit of one returns it.
    fastest = roads(client, users["planner"], limit=1, **WHOLE).json()
    assert fastest["truncated"] is True and fastest["total"] == body["total"]
    assert fastest["features"][0]["properties"]["kmh"] == speeds[0]
    assert all(lon >= -1.54 for lon, _ in fastest["features"][0]["geometry"]["coordinates"])
    empty = {"south": 50.0, "west": 0.0, "north": 50.1, "east": 0.1}
    assert roads(client, users["planner"], **empty).json()["features"] == []
    # A box around the western end only holds roads that reach into it.
    west = roads(client, users["planner"], south=53.79, west=-1.565, north=53.81, east=-1.555)
    for feature in west.json()["features"]:
        assert min(lon for lon, _ in feature["geometry"]["coordinates"]) <= -1.555
    assert 0 < west.json()["total"] < body["total"]


@pytest.mark.parametrize(
    "box",
    [
        {"south": 54.0, "west": -1.7, "north": 53.7, "east": -1.4},  # south above north
        {"south": 53.7, "west": -1.4, "north": 54.0, "east": -1.7},  # west east of east
        {"south": -91, "west": -1.7, "north": 54.0, "east": -1.4},
        {"south": 53.7, "west": -1.7, "north": 54.0},
    ],
)
def test_roads_reject_a_bad_box(
    app: FastAPI, client: TestClient, users: dict, tiny_network: RoadNetwork, box: dict
) -> None:
    app.state.network = tiny_network
    assert roads(client, users["planner"], **box).status_code == 422


def test_runs_time_journeys_on_the_servers_road_network(
    app: FastAPI, client: TestClient, users: dict, tiny_network: RoadNetwork
) -> None:
    app.state.network = tiny_network
    caseload = upload(client, users["case_officer"])["body"]["id"]
    started = client.post("/runs", json={"caseload_id": caseload}, headers=users["admin"])
    done = client.get(f"/runs/{started.json()['id']}", headers=users["admin"]).json()
    assert done["status"] == "done", done
    assert tiny_network.label in done["summary"]["travel_model"]


def test_uploads_may_lie_in_the_servers_road_network_area(
    app: FastAPI, client: TestClient, users: dict, tmp_path: Path
) -> None:
    """As ``place --osm`` does, a server with a network abroad (the demo's Helsinki sample)
    accepts homes and settings in that network's area; without it they are typing slips."""
    shifted = tmp_path / "children.csv"
    lines = (DATA / "children.csv").read_text().splitlines()
    fields = lines[1].split(",")
    fields[4], fields[5] = "60.1700", "24.9400"  # C001 moves to Helsinki
    shifted.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    refused = upload(client, users["case_officer"], shifted)
    assert refused["status"] == 422
    assert any(p["row"] == 2 and "UK" in p["message"] for p in refused["body"]["problems"])
    helsinki = SimpleNamespace(lat=np.array([60.15, 60.20]), lon=np.array([24.90, 25.00]))
    app.state.network = helsinki
    assert upload(client, users["case_officer"], shifted)["status"] == 201


def test_serve_refuses_an_unreadable_road_network(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from matcher import cli, cli_options

    bad = tmp_path / "roads.osm"
    bad.write_text("not xml")
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    result = CliRunner().invoke(
        cli.app, ["serve", "--osm", str(bad), "--cache-dir", str(tmp_path), "--database-url", url]
    )
    assert result.exit_code == cli_options.EXIT_INPUT_PROBLEM, result.output
    assert "Cannot use the road network" in result.output


def test_serve_with_a_road_network_draws_its_roads(tmp_path: Path) -> None:
    """``sendmatch serve --osm`` end to end: the network is loaded and served on loopback."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    from tests.api_client import PASSWORD

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    command = [sys.executable, "-m", "matcher.cli"]
    admin = ["create-admin", "--username", "admin", "--password", PASSWORD, "--database-url", url]
    subprocess.run([*command, *admin], check=True, capture_output=True)
    serve = ["serve", "--port", str(port), "--database-url", url, "--osm", str(TINY_OSM)]
    server = subprocess.Popen(
        [*command, *serve, "--cache-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                token = httpx.post(
                    f"{base}/auth/token", data={"username": "admin", "password": PASSWORD}
                )
                break
            except httpx.HTTPError:
                assert server.poll() is None, "the server stopped"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        response = httpx.get(f"{base}/network/roads", params=WHOLE, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["features"]
        assert "tiny_drive.osm" in response.json()["source"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_openapi_describes_the_run_and_map_routes(client: TestClient) -> None:
    """Enough for a generated client: each route, its parameters and its response schema."""
    schema = client.get("/openapi.json").json()
    paths, components = schema["paths"], schema["components"]["schemas"]
    ok = "200"

    def response_ref(path: str, method: str) -> str:
        content = paths[path][method]["responses"][ok]["content"]["application/json"]
        return str(content["schema"])

    assert "ChildSummaryOut" in response_ref("/runs/{run_id}/children", "get")
    params = {p["name"] for p in paths["/runs/{run_id}/children"]["get"]["parameters"]}
    assert {"offset", "limit", "unplaced_only"} <= params
    assert "RunOut" in response_ref("/runs/{run_id}/cancel", "post")
    assert "409" in paths["/runs/{run_id}/cancel"]["post"]["responses"]
    assert "RoadsOut" in response_ref("/network/roads", "get")
    road_params = {p["name"] for p in paths["/network/roads"]["get"]["parameters"]}
    assert {"south", "west", "north", "east", "limit"} <= road_params
    child = paths["/runs/{run_id}/children/{child_id}"]["get"]["responses"]
    assert "503" in child and "ChildPlacementOut" in response_ref(
        "/runs/{run_id}/children/{child_id}", "get"
    )
    assert "TailoredListOut" in str(components["ChildPlacementOut"]["properties"]["tailored_list"])
    assert "MarginalCostOut" in str(components["ListedOptionOut"]["properties"]["marginal"])
    assert "cancel_requested" in components["RunOut"]["properties"]
