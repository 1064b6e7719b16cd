"""Running the matcher for the API: uploaded files to validated inputs, and placement runs.

The API computes nothing itself: it hands the stored files to ``matcher.io.load_round``, the
placement and every child's tailored list to ``matcher.tailored.TailoredListModel`` (whose plan
is exactly ``matcher.placement.place``'s: the same flow, explained by the same function), as
``sendmatch place`` and ``sendmatch tailored-lists`` do, so the web and the command line can
never disagree about a child.

A run reports its progress and checks for a cancel request in short transactions of their own
between stages, and writes its results and its ``done`` status in one transaction at the end:
a run that is cancelled, crashes or dies with the server leaves no partial results visible.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import orjson
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from api.child_details import add_child_details
from api.children_index import insert_children_index
from api.db import Caseload, Database, Run, RunResult, RunStatus, json_text, utcnow
from api.user_errors import code_location, run_error
from matcher import io
from matcher.garbage_collection import paused_garbage_collection
from matcher.models import Location, Setting
from matcher.pipeline import placement_config
from matcher.tailored import TailoredList, TailoredListConfig, TailoredListModel
from matcher.travel_estimate import build_travel_matrix, network_area

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

log = logging.getLogger(__name__)

#: Children whose tailored lists are built between two progress updates and cancel checks: about
#: a second of work each at LA scale, so a cancel is honoured promptly and progress moves.
LIST_CHUNK = 1000
#: Where each stage of a placement run starts, as a fraction of the run (roughly their share of
#: the time at 25,000 children with straight-line travel); saving ends at 1.0 with ``done``.
STAGE_START = {
    "reading": 0.0,
    "travel": 0.05,
    "solving": 0.15,
    "lists": 0.3,
    "saving": 0.85,
}
# A working run's process stamps it this often; one silent for STALE_AFTER died with its process.
# Generous against a stalled disk or a long garbage collection, short against a user waiting.
HEARTBEAT_SECONDS = 10.0
STALE_AFTER = timedelta(minutes=2)

INTERRUPTED_MESSAGE = (
    "the server stopped while this run was {status}; no results were kept. Start the run again."
)


def rows_changed(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched: how a conditional update tells whether it won."""
    return int(cast("CursorResult[Any]", result).rowcount)


class RunCancelled(Exception):
    """Raised at a check between stages when someone asked for the run to stop."""


@dataclass(frozen=True)
class UploadedFile:
    """A file as the user sent it: its name (shown in every problem) and its bytes."""

    name: str
    data: bytes


def safe_name(name: str | None, fallback: str) -> str:
    """The user's file name without any folder part, so it cannot write outside the temp dir."""
    base = Path((name or "").replace("\\", "/")).name.strip()
    return base[:255] if base and base not in {".", ".."} else fallback


def load_uploaded_round(
    children: UploadedFile,
    settings: UploadedFile,
    tariffs: UploadedFile | None,
    year_start: date,
    network: RoadNetwork | None = None,
) -> io.RoundInputs:
    """``matcher.io.load_round`` on uploaded files; raises ``io.InputError`` with every problem.

    Each file goes to its own folder of a private temporary directory, keeping the user's file
    name (problems name the file the user knows) even if two uploads share a name. Points in
    the area of the server's road network are accepted as well as the UK, as ``place --osm``
    accepts them.
    """
    areas = [network_area(network, "given to sendmatch serve --osm")] if network else []
    with tempfile.TemporaryDirectory(prefix="sendmatch-upload-") as tmp:
        paths: list[Path | None] = []
        for role, upload in (("children", children), ("settings", settings), ("tariffs", tariffs)):
            if upload is None:
                paths.append(None)
                continue
            folder = Path(tmp) / role
            folder.mkdir()
            path = folder / upload.name
            path.write_bytes(upload.data)
            paths.append(path)
        children_path, settings_path, tariffs_path = paths
        assert children_path is not None and settings_path is not None
        return io.load_round(
            children_path, settings_path, tariffs_path, year_start=year_start, extra_areas=areas
        )


def caseload_inputs(caseload: Caseload, network: RoadNetwork | None = None) -> io.RoundInputs:
    """Re-read a stored caseload with the same reader, school year and road network area."""
    tariffs = (
        UploadedFile(caseload.tariffs_name, caseload.tariffs_data)
        if caseload.tariffs_name is not None and caseload.tariffs_data is not None
        else None
    )
    return load_uploaded_round(
        UploadedFile(caseload.children_name, caseload.children_data),
        UploadedFile(caseload.settings_name, caseload.settings_data),
        tariffs,
        caseload.year_start,
        network,
    )


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe values: numpy scalars (from the solver's arrays) become Python numbers."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in record.items()}


# --------------------------------------------------------------------------------------------
# Tailored lists as stored JSON (the shape of ``api.schemas.TailoredListOut``)


def map_point(location: Location | None) -> dict[str, float] | None:
    """WGS84 for the web page's map; rounded to about 10 cm, as no map needs more."""
    if location is None:
        return None
    return {"lat": round(location.latitude, 6), "lon": round(location.longitude, 6)}


def tailored_list_record(
    tailored: TailoredList, home: Location, points: Mapping[str, dict[str, float] | None]
) -> dict[str, Any]:
    """One child's list as plain JSON, built field by field rather than through pydantic:
    a 25,000-child run stores half a million rows of it, and validation happens on reading.

    ``points``: each setting's :func:`map_point` by URN, made once for the whole run.
    """
    return {
        "home": map_point(home),
        "options": [
            {
                "urn": o.urn,
                "name": o.name,
                "setting_type": o.setting_type,
                "placement_kind": o.placement_kind.value,
                "provision": o.provision,
                "needs_matched": list(o.needs_matched),
                "minutes": round(o.minutes, 1),
                "places_left": o.places_left,
                "placement_cost": o.placement_cost,
                "transport_cost": o.transport_cost,
                "preference_rank": o.preference_rank,
                "proposed": o.proposed,
                "marginal_text": o.marginal_text,
                "marginal": None if o.marginal is None else o.marginal._asdict(),
                "why_listed": o.why_listed,
                "location": points.get(o.urn),
            }
            for o in tailored.options
        ],
        "excluded": [
            {
                "urn": e.urn,
                "name": e.name,
                "setting_type": e.setting_type,
                "minutes": None if e.minutes is None else round(e.minutes, 1),
                "preference_rank": e.preference_rank,
                "reasons": list(e.reasons),
                "location": points.get(e.urn),
            }
            for e in tailored.excluded
        ],
        "preferences": [
            {
                "rank": p.rank,
                "urn": p.urn,
                "name": p.name,
                "met": p.met,
                "ground": p.ground,
                "evidence": p.evidence,
            }
            for p in tailored.preferences
        ],
        "excluded_not_shown": tailored.excluded_not_shown,
        "excluded_not_shown_reasons": [
            {"reason": reason, "count": count}
            for reason, count in tailored.excluded_not_shown_reasons
        ],
    }


# --------------------------------------------------------------------------------------------
# Run bookkeeping: each a short transaction of its own


def report_progress(database: Database, run_id: int, progress: float, stage: str) -> None:
    """Record progress, then stop the run if a cancel was asked for (the one place it checks).

    One statement in its own transaction, so a poller sees it at once and no lock is held
    while the run computes.
    """
    with database.sessions() as session, session.begin():
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(progress=round(min(max(progress, 0.0), 1.0), 4), stage=stage[:100])
        )
        cancel = session.scalar(select(Run.cancel_requested).where(Run.id == run_id))
    if cancel:
        raise RunCancelled


def claim_run(database: Database, run_id: int) -> dict[str, Any] | None:
    """Queued → running, atomically (a cancel may race it); the run's options, or None."""
    with database.sessions() as session, session.begin():
        claimed = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
            .values(
                status=RunStatus.RUNNING.value,
                started_at=utcnow(),
                heartbeat_at=utcnow(),
                progress=0.0,
                stage="waiting to start",
            )
        )
        if rows_changed(claimed) != 1:
            return None
        run = session.get_one(Run, run_id)
        return {"caseload_id": run.caseload_id, **dict(run.options)}


def finish_without_results(
    database: Database, run_id: int, status: RunStatus, error: str | None, stage: str
) -> None:
    with database.sessions() as session, session.begin():
        # The results transaction never committed; the delete is a guard should a future
        # writer ever commit in steps.
        session.execute(delete(RunResult).where(RunResult.run_id == run_id))
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status=status.value, error=error, stage=stage, finished_at=utcnow())
        )


def _beat(database: Database, run_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            with database.sessions() as session, session.begin():
                session.execute(
                    update(Run)
                    .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value)
                    .values(heartbeat_at=utcnow())
                )
        except Exception as exc:  # a busy database must not kill the run; the next beat retries
            log.warning("run %d heartbeat missed (%s)", run_id, type(exc).__name__)


def run_with_heartbeat(
    job: Callable[..., None], database: Database, run_id: int, *args: Any
) -> None:
    """Run ``job(database, run_id, *args)`` while a thread stamps the run's heartbeat.

    How every run is run, in its own process or a server thread (``api.run_processes``):
    another server process on the same database tells a live run from one whose process died
    by this stamp alone.
    """
    stop = threading.Event()
    beater = threading.Thread(
        target=_beat, args=(database, run_id, stop), name=f"run-{run_id}-heartbeat", daemon=True
    )
    beater.start()
    try:
        job(database, run_id, *args)
    finally:
        stop.set()
        beater.join()


def fail_interrupted_runs(
    database: Database, run_ids: Sequence[int] | None = None, now: datetime | None = None
) -> int:
    """Mark runs whose process died (no heartbeat for ``STALE_AFTER``) as ``failed``.

    A ``running`` run is dead when its last heartbeat (or its start) is that old; a ``queued``
    one when it was created that long ago, since a live server claims its runs at once. Runs
    another live server is working on keep beating and are left alone, so several server
    processes may share a database. Called by ``create_app`` for every run; returns how many
    it marked. ``GET /runs/{id}`` uses :func:`is_interrupted` and
    :func:`mark_interrupted_runs` in its own session instead.
    """
    with database.sessions() as session, session.begin():
        return mark_interrupted_runs(session, run_ids, now)


def mark_interrupted_runs(
    session: Session, run_ids: Sequence[int] | None = None, now: datetime | None = None
) -> int:
    """:func:`fail_interrupted_runs` in the caller's session and transaction, not committed.

    It looks before it writes, and writes only when a run is stale: an UPDATE waits for
    SQLite's write lock (or PostgreSQL's row lock), which a run saving a whole LA's results
    holds for seconds, even when it matches no row. The UPDATE keeps the staleness condition,
    so a heartbeat landing in between leaves the run working.
    """
    cutoff = (now or utcnow()) - STALE_AFTER
    marked = 0
    for status in _SIGNS_OF_LIFE:
        where = and_(Run.status == status.value, _last_sign_of_life_sql(status) < cutoff)
        if run_ids is not None:
            where = and_(where, Run.id.in_(run_ids))
        if session.scalar(select(func.count()).select_from(Run).where(where)) == 0:
            continue
        done = session.execute(
            update(Run)
            .where(where)
            .values(
                status=RunStatus.FAILED.value,
                error=INTERRUPTED_MESSAGE.format(
                    status="queued" if status == RunStatus.QUEUED else "working"
                ),
                stage="interrupted",
                finished_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        marked += rows_changed(done)
    if marked:
        log.warning("%d run(s) whose process stopped marked failed", marked)
    return marked


def is_interrupted(run: Run, now: datetime | None = None) -> bool:
    """Whether :func:`mark_interrupted_runs` would mark ``run``, judged from the row as read.

    Pure Python, so that polling a live run neither writes nor asks the database again.
    """
    signs = _SIGNS_OF_LIFE.get(RunStatus(run.status), ())
    last = next((t for t in (getattr(run, name) for name in signs) if t is not None), None)
    return last is not None and last < (now or utcnow()) - STALE_AFTER


#: A run's last sign of life by status, first found first: a working run's heartbeat, else its
#: start, else its creation; a queued run's creation. One rule for SQL and for Python.
_SIGNS_OF_LIFE: dict[RunStatus, tuple[str, ...]] = {
    RunStatus.RUNNING: ("heartbeat_at", "started_at", "created_at"),
    RunStatus.QUEUED: ("created_at",),
}


def _last_sign_of_life_sql(status: RunStatus) -> ColumnElement[datetime]:
    columns = [getattr(Run, name) for name in _SIGNS_OF_LIFE[status]]
    # SQLite's coalesce wants two arguments at least.
    return func.coalesce(*columns) if len(columns) > 1 else columns[0]


# --------------------------------------------------------------------------------------------
# The placement run


def pricing_order(model: TailoredListModel) -> list[int]:
    """Children ordered by the place they hold in the optimal plan, for chunked lists.

    Pricing a child's options costs one search per place the child would leave
    (``SystemPrices.marginal_deltas``), shared by every child leaving the same place within
    one ``lists`` call but not kept between calls. Chunks of children in id order would each
    repeat nearly every search; chunks in this order share them, so chunking costs at most one
    repeated search per chunk boundary.
    """
    held = model.network.flow.heads[model.prices.current]
    return np.argsort(held, kind="stable").tolist()


def _result_rows(
    run_id: int,
    model: TailoredListModel,
    settings: Sequence[Setting],
    report: Callable[[float, str], None],
) -> list[dict[str, Any]]:
    """Every child's placement record with its tailored list, as ``run_results`` rows.

    Lists are built :data:`LIST_CHUNK` children at a time (in :func:`pricing_order`),
    reporting (and so checking for a cancel) between chunks, and each chunk becomes plain JSON
    at once, so a whole LA's list objects are never all held together.
    """
    config = TailoredListConfig()
    points = {s.urn: map_point(s.location) for s in settings}
    records = io.placement_records(model.plan)
    n = len(records)
    order = pricing_order(model)
    start, end = STAGE_START["lists"], STAGE_START["saving"]
    rows: list[dict[str, Any]] = []
    # Half a million small dicts, none of them garbage: see ``paused_garbage_collection``.
    with paused_garbage_collection():
        for first in range(0, n, LIST_CHUNK):
            report(
                start + (end - start) * first / max(n, 1),
                f"tailored lists: {first:,} of {n:,} children",
            )
            chunk = order[first : first + LIST_CHUNK]
            for i, tailored in zip(chunk, model.lists(chunk, config), strict=True):
                result = _plain(records[i])
                home = model.children[i].home
                result["tailored_list"] = tailored_list_record(tailored, home, points)
                child_id = str(result["child_id"])
                rows.append({"run_id": run_id, "child_id": child_id, "result": result})
    return rows


def save_results(
    database: Database, run_id: int, rows: list[dict[str, Any]], summary: dict[str, Any]
) -> None:
    """Results and ``done`` in one transaction, unless a cancel got in first.

    The status is claimed first (running and not cancelled → done), which locks the run's row:
    a cancel request either lands before it (nothing is written) or after it (it finds the run
    done and is refused), never half-way. Each result is encoded as JSON before the
    transaction starts, so the database's write lock is held only while rows are written.
    """
    encoded = [(r["run_id"], r["child_id"], json_text(r["result"])) for r in rows]
    with database.sessions() as session, session.begin():
        claimed = session.execute(
            update(Run)
            .where(
                Run.id == run_id,
                Run.status == RunStatus.RUNNING.value,
                Run.cancel_requested.is_(False),
            )
            .values(
                status=RunStatus.DONE.value,
                summary=summary,
                progress=1.0,
                stage="done",
                finished_at=utcnow(),
            )
        )
        if rows_changed(claimed) != 1:
            raise RunCancelled
        if rows:
            insert_encoded_results(session, encoded)
            insert_children_index(session, rows)  # the children list's index (migration 0009)


def insert_encoded_results(session: Session, encoded: Sequence[tuple[int, str, str]]) -> None:
    """``run_results`` rows whose result is JSON text already, in the caller's transaction.

    On SQLite the text goes straight to the driver in one ``executemany``, without the ORM's
    bulk insert making and processing a parameter set per row (about 0.1 s of CPU a
    25,000-child run, measured). On other databases the ORM's insert is kept (its JSON bind
    casts the text on PostgreSQL), the text passed through the JSON serializer as an
    ``orjson.Fragment`` rather than encoded again.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"INSERT INTO {RunResult.__tablename__} (run_id, child_id, result) VALUES (?, ?, ?)",
            list(encoded),
        )
        return
    with paused_garbage_collection():
        session.execute(
            insert(RunResult),
            [
                {"run_id": run_id, "child_id": child_id, "result": orjson.Fragment(text)}
                for run_id, child_id, text in encoded
            ],
        )


Report = Callable[[float, str], None]
# A run's computation: its options and a progress reporter in, its result rows and summary out.
RunWork = Callable[[dict[str, Any], Report], tuple[list[dict[str, Any]], dict[str, Any]]]


def execute_run(database: Database, run_id: int, label: str, work: RunWork) -> None:
    """Claim a queued run, compute it with ``work``, store its results: every kind's skeleton.

    Results and the ``done`` status are committed together, so a reader sees either no
    results or all of them; on cancellation the run ends ``cancelled``, on any failure
    ``failed`` with the error, and nothing of its results is kept either way. The error is
    :func:`api.user_errors.run_error`'s: problems by file, row and field without input values,
    or the exception's type and the run's id, since every role may read it. Only the run's
    kind, id, status, exception type and code location are logged, never a message.
    """
    options = claim_run(database, run_id)
    if options is None:
        return
    log.info("%s run %d started", label, run_id)

    def report(progress: float, stage: str) -> None:
        report_progress(database, run_id, progress, stage)

    try:
        rows, summary = work(options, report)
        save_results(database, run_id, rows, summary)
    except RunCancelled:
        log.info("%s run %d cancelled", label, run_id)
        finish_without_results(database, run_id, RunStatus.CANCELLED, None, "cancelled")
        return
    except Exception as exc:
        log.warning(
            "%s run %d failed (%s) at %s", label, run_id, type(exc).__name__, code_location(exc)
        )
        finish_without_results(database, run_id, RunStatus.FAILED, run_error(exc, run_id), "failed")
        return
    log.info("%s run %d done", label, run_id)


def travel_stage(network: RoadNetwork | None) -> str:
    return "travel times on the road network" if network else "travel times (straight line)"


def stored_caseload(
    database: Database, options: Mapping[str, Any], network: RoadNetwork | None
) -> io.RoundInputs:
    with database.sessions() as session:
        return caseload_inputs(session.get_one(Caseload, options["caseload_id"]), network)


def execute_placement_run(
    database: Database, run_id: int, network: RoadNetwork | None = None
) -> None:
    """Place a queued run's caseload, build every child's tailored list, store them.

    Meant for a background task (:func:`execute_run`). ``network`` gives road travel times
    (else straight-line). The cyclic garbage collector is paused for the whole run: a run
    makes next to no cyclic garbage (50 objects left at the end of a 25,000-child run) but
    millions of long-lived objects, which the collector would otherwise walk again and again
    (1 to 2 s of CPU in a 25,000-child run, measured); reference counting frees everything
    as usual.
    """

    def work(
        options: dict[str, Any], report: Report
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        report(STAGE_START["reading"], "reading the caseload files")
        inputs = stored_caseload(database, options, network)
        config = placement_config(
            inputs,
            float(options["primary_limit_minutes"]),
            float(options["secondary_limit_minutes"]),
            options.get("la_code"),
        )
        report(STAGE_START["travel"], travel_stage(network))
        travel = build_travel_matrix(
            inputs.children, inputs.settings, config.eligibility.cutoff_minutes, network
        )
        report(STAGE_START["solving"], "solving the placement")
        model = TailoredListModel(
            inputs.children,
            inputs.settings,
            travel.matrix,
            config,
            progress=lambda stage: report(STAGE_START["solving"], stage),
        )
        rows = _result_rows(run_id, model, inputs.settings, report)
        add_child_details(rows, inputs.children, inputs.settings)  # for the child page
        report(STAGE_START["saving"], "saving the results")
        return rows, _plain(asdict(model.plan.summary))

    with paused_garbage_collection():
        execute_run(database, run_id, "placement", work)
