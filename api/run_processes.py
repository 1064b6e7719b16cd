"""Runs in processes of their own, so a whole-LA run never slows the server's answers.

A placement run with every child's tailored list keeps a core busy for minutes. Inside the
server process it would hold Python's interpreter lock against every request (panel members
reading lists while a planner runs a scenario); in a process of its own it runs on another
core, a crash or an out-of-memory kill takes only the run down, and its memory goes back to
the system when it ends. The process talks to the server only through the database, as a run
already does: it claims the run, reports progress, checks for a cancel and saves its results
there (see :mod:`api.jobs`), so nothing else crosses between them.

Processes are not forked from the server: a fork from a server thread would copy locks other
threads (the event loop, the database pool) may hold. Where the system allows it (Linux, macOS)
they are forked from a *fork server*, a small single-threaded process the launcher starts when
the app starts, which has already imported the matcher and the jobs
(:data:`PRELOADED_MODULES`): a run then starts in a few milliseconds instead of spending over
a second importing numpy, OR-Tools, pandas and the jobs before it can read its caseload.
Elsewhere they are ``spawn``-ed, importing everything afresh. An in-memory SQLite database
cannot be shared between processes, so an app on one runs its runs in threads instead.

Each run's process has a memory limit (:data:`DEFAULT_RUN_MEMORY_MB`, or ``sendmatch serve
--run-memory-limit``): a run that outgrows it fails on its own, instead of pushing the machine
into swap or the kernel's out-of-memory killer choosing the server. And it dies with its
server, however the server ends (even ``kill -9``): a run nobody can read or cancel any more
would only hold a core and memory to the end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Literal

from fastapi import BackgroundTasks
from sqlalchemy import update

from api.db import Database, Run, RunStatus, utcnow
from api.jobs import INTERRUPTED_MESSAGE, rows_changed, run_with_heartbeat

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

    from geodata.network import RoadNetwork

log = logging.getLogger(__name__)

#: A run's computation, as every ``execute_*_run`` in :mod:`api.jobs` and
#: :mod:`api.planning_jobs` is: module-level, so a spawned process can import it by name.
RunJob = Callable[[Database, int, "RoadNetwork | None"], None]

#: Seconds a stopping server gives a run's process to end after SIGTERM before killing it.
STOP_GRACE_SECONDS = 5.0

LOST_MESSAGE = (
    "the run's process stopped unexpectedly ({how}); no results were kept. A run this size may "
    "need more memory than the server has; start it again, or ask your administrator."
)

START_FAILED_MESSAGE = "the server could not start a process for this run; start it again."

#: How often (seconds) a run's process checks that its server is still alive, where the kernel
#: cannot be asked to signal it (not Linux) or the server died before it could ask.
PARENT_CHECK_SECONDS = 1.0
#: Linux prctl option: the signal a process receives when the thread that started it ends.
_PR_SET_PDEATHSIG = 1

#: What the fork server imports once, before forking any run: every job's module and what a
#: job imports only when it runs. A module missing here still works; its run imports it.
PRELOADED_MODULES = (
    "api.jobs",
    "api.planning_jobs",
    "api.forecast_jobs",
    "matcher.arrow_csv",
    "sqlite3",
)


def default_run_memory_mb() -> int:
    """Half the machine's memory, at least 2 GB: a 25,000-child run peaks near 1.3 GB
    (benchmarks/RESULTS.md), and the other half keeps the server and the system answering.

    Overridden by ``$SENDMATCH_RUN_MEMORY_MB`` or ``sendmatch serve --run-memory-limit``.
    """
    configured = os.environ.get("SENDMATCH_RUN_MEMORY_MB")
    if configured:
        return int(configured)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024
    return max(2 * 1024, total // (2 * 1024 * 1024))


def limit_memory(limit_mb: int | None) -> None:
    """Cap this process's address space: allocations past it raise ``MemoryError`` here, and
    the run fails, rather than the machine swapping or the kernel killing another process."""
    if limit_mb is None:
        return
    limit = limit_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def die_with_parent(server_pid: int) -> None:
    """End this process when the server that started its run ends, even by ``kill -9``.

    The process's parent is the server (``spawn``) or the server's fork server, which ends
    when the server does. On Linux the kernel sends SIGKILL when the parent dies (the server's
    thread waits on this process until it ends; the fork server waits on its server);
    everywhere, a watchdog thread exits once the process is re-parented (its parent died) or
    the server is gone, which also covers a parent that died before the kernel was asked.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _let_fork_server_end_with_server()
    parent_pid = os.getppid()
    if parent_pid != server_pid and (parent_pid == 1 or not _alive(server_pid)):
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid and _alive(server_pid):
            threading.Event().wait(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="server-watchdog", daemon=True).start()


def _let_fork_server_end_with_server() -> None:
    """Close this process's copy of the fork server's "alive" pipe, if it was forked by one.

    The fork server exits when every holder of that pipe's write end has: the server and,
    handed one at fork, each run. A run holding it would keep the fork server (its parent)
    alive after a ``kill -9`` of the server, and so itself; a run starts no processes of its
    own, so it has no use for it.
    """
    from multiprocessing import forkserver

    # Its pipe end is private: there is no public way to close it. Should a later Python rename
    # it, nothing is closed and the watchdog below still ends the run with the server.
    server: Any = forkserver._forkserver
    alive_fd = getattr(server, "_forkserver_alive_fd", None)
    if alive_fd is not None:
        os.close(alive_fd)
        server._forkserver_alive_fd = None


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_context() -> SpawnContext | ForkServerContext:
    """The fork server where the system has one (started at once, see :func:`warm_up`), else
    ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def warm_up() -> None:
    """Start the fork server now, importing :data:`PRELOADED_MODULES` in the background, so
    the first run is as quick to start as any other. Idempotent; nothing on ``spawn``."""
    context = run_context()
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    context.set_forkserver_preload(list(PRELOADED_MODULES))
    forkserver.ensure_running()


def shared_between_processes(url: str) -> bool:
    """False for an in-memory SQLite database, which only its own process can see."""
    memory = url in {"sqlite://", "sqlite:///:memory:"} or "mode=memory" in url
    return not memory


def _run_in_child(
    job: RunJob,
    url: str,
    run_id: int,
    network: RoadNetwork | None,
    server_pid: int,
    memory_limit_mb: int | None,
) -> None:
    """A run process's whole life: tied to its server, its memory capped, its own engine
    on the server's database, the run."""
    die_with_parent(server_pid)
    limit_memory(memory_limit_mb)
    database = Database(url)
    try:
        run_with_heartbeat(job, database, run_id, network)
    finally:
        database.dispose()


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = ", often the system running out of memory" if name == "SIGKILL" else ""
        return f"stopped by {name}{hint}"
    return f"exit code {exitcode}"


def fail_lost_run(database: Database, run_id: int, message: str) -> bool:
    """Mark a run failed if it is still queued or working; True if it was."""
    with database.sessions() as session, session.begin():
        result = session.execute(
            update(Run)
            .where(
                Run.id == run_id,
                Run.status.in_([RunStatus.QUEUED.value, RunStatus.RUNNING.value]),
            )
            .values(
                status=RunStatus.FAILED.value,
                error=message,
                stage="failed",
                finished_at=utcnow(),
            )
        )
    return rows_changed(result) == 1


class RunLauncher:
    """Starts each queued run, in a process of its own unless the database is in memory.

    One per app (``app.state.runs``). ``separate_processes=False`` runs them in the server's
    thread pool, as tests that patch the matcher need; :meth:`stop`, at server shutdown, ends
    the processes still working and marks their runs failed, so no run is left "running".
    ``memory_limit_mb`` caps each run's process (default :func:`default_run_memory_mb`; None
    for no cap); runs in threads share the server's memory and have no cap of their own.
    """

    def __init__(
        self,
        database: Database,
        separate_processes: bool = True,
        memory_limit_mb: int | Literal["default"] | None = "default",
    ) -> None:
        self.database = database
        self.separate_processes = separate_processes and shared_between_processes(database.url)
        self.memory_limit_mb = (
            default_run_memory_mb() if memory_limit_mb == "default" else memory_limit_mb
        )
        self._live: dict[int, BaseProcess] = {}
        self._lock = threading.Lock()
        self._stopping = False
        if self.separate_processes:
            warm_up()

    def queue(
        self,
        background: BackgroundTasks,
        job: RunJob,
        run_id: int,
        network: RoadNetwork | None = None,
    ) -> None:
        """Start ``job`` for ``run_id`` once the response that queued it has been sent;
        ``network`` (the server's, if any) times its journeys on roads."""
        background.add_task(self.run, job, run_id, network)

    def run(self, job: RunJob, run_id: int, network: RoadNetwork | None = None) -> None:
        """Run the job and wait for it (in a worker thread of the server's pool)."""
        if not self.separate_processes:
            run_with_heartbeat(job, self.database, run_id, network)
            return
        process = run_context().Process(
            target=_run_in_child,
            args=(job, self.database.url, run_id, network, os.getpid(), self.memory_limit_mb),
            name=f"sendmatch-run-{run_id}",
            # Ended with the server however it exits; a run needs no processes of its own,
            # which a daemonic process may not start.
            daemon=True,
        )
        with self._lock:
            if self._stopping:
                fail_lost_run(self.database, run_id, INTERRUPTED_MESSAGE.format(status="queued"))
                return
            try:
                process.start()
            except Exception as exc:
                fail_lost_run(self.database, run_id, START_FAILED_MESSAGE)
                log.warning("run %d: its process did not start (%s)", run_id, type(exc).__name__)
                raise
            self._live[run_id] = process
        try:
            process.join()
        finally:
            with self._lock:
                self._live.pop(run_id, None)
        if process.exitcode == 0:
            return
        if self._stopping:
            message = INTERRUPTED_MESSAGE.format(status="working")
        else:
            message = LOST_MESSAGE.format(how=_how(process.exitcode))
        if fail_lost_run(self.database, run_id, message):
            log.warning("run %d: its process ended, %s", run_id, _how(process.exitcode))

    def live_runs(self) -> list[int]:
        with self._lock:
            return sorted(self._live)

    def stop(self) -> None:
        """End every run's process (SIGTERM, then SIGKILL after a grace period); each run
        still working is marked failed by :meth:`run` or here, whichever sees it first."""
        with self._lock:
            self._stopping = True
            live = dict(self._live)
        for process in live.values():
            process.terminate()
        for run_id, process in live.items():
            process.join(STOP_GRACE_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
            fail_lost_run(self.database, run_id, INTERRUPTED_MESSAGE.format(status="working"))
