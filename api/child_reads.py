"""The read audit, written with group commit: every read of a child's record is durable before
the record is sent, without one disk flush per read.

Each read must be in ``child_reads`` before the child's data leaves the server, so the row is
committed before the response. Committed one by one, every read waits for its own flush to
disk, and on SQLite (one writer at a time) the flushes queue: about 50 reads a second however
many clients ask. Here a writer thread commits every read queued while the previous commit was
flushing in one transaction, so 50 waiting reads share one flush, each still answered only
once its own row is durable. The thread starts with the first read and ends after a second
with none, so an idle app (or a test's) holds no thread.

The writer's connection comes from those the pool keeps beyond the requests' (see
:class:`api.db.Database`), and a reading request commits, giving its own connection back,
before it waits here (``GET /runs/{id}/children/{child_id}``): however many members read at
once, they never hold the connection the writer needs to answer them.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from fastapi import FastAPI
from sqlalchemy import insert

from api.db import ChildRead, Database, utcnow

#: How long a read waits for its audit row before the request fails (503): far above a commit.
RECORD_TIMEOUT_S = 30.0
#: A writer thread with nothing to write for this long ends; the next read starts another.
IDLE_S = 1.0


class AuditUnavailable(RuntimeError):
    """The audit row could not be written: the child's record must not be sent."""


class ReadRecorder:
    """Queues read audit rows and commits them in batches, one transaction per batch."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cond = threading.Condition()
        self._queue: list[tuple[dict[str, object], Future[None]]] = []
        self._writer: threading.Thread | None = None

    def record(self, user_id: int, run_id: int, child_id: str) -> None:
        """Return once the read is committed; raise :class:`AuditUnavailable` if it is not."""
        done: Future[None] = Future()
        # The time of the read (when it was asked for), not of its batch's commit.
        row = {"user_id": user_id, "run_id": run_id, "child_id": child_id, "at": utcnow()}
        with self._cond:
            self._queue.append((row, done))
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_batches, name="child-read-audit", daemon=True
                )
                self._writer.start()
            self._cond.notify()
        try:
            done.result(timeout=RECORD_TIMEOUT_S)
        except Exception as exc:  # the commit failed, or took longer than any commit should
            # After a timeout the row may still be committed: the trail can over-record a
            # read that was refused, never miss one that was answered.
            raise AuditUnavailable("the read could not be recorded in the audit trail") from exc

    def _write_batches(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(timeout=IDLE_S)
                if not self._queue:
                    self._writer = None
                    return
                batch, self._queue = self._queue, []
            try:
                with self.database.sessions() as session, session.begin():
                    session.execute(insert(ChildRead), [row for row, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)


_recorder_lock = threading.Lock()


def read_recorder(app: FastAPI) -> ReadRecorder:
    """The app's recorder, made on first use (one per app: one per database)."""
    with _recorder_lock:
        recorder: ReadRecorder | None = getattr(app.state, "read_recorder", None)
        if recorder is None:
            recorder = ReadRecorder(app.state.db)
            app.state.read_recorder = recorder
    return recorder
