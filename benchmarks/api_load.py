"""The HTTP API under load: reading children's tailored lists, 50 clients at once, 25k-child LA.

Issue 6: requests per second and p95 latency for reading a child's tailored list under 50
concurrent clients on loopback, for a 25,000-child LA. Everything goes through the real
service, as an LA would run it:

1. the same synthetic, calibrated LA as ``placement_scale.py`` and ``tailored_lists.py``
   (25,000 children, 600 settings, about 30 eligible options per child), written as the LA's
   input files (CSV);
2. ``sendmatch create-admin`` and ``sendmatch serve`` (uvicorn, one process, its default
   settings) on a SQLite file, in a subprocess on 127.0.0.1;
3. the files uploaded (``POST /caseloads``, checked in full), the placement run started
   (``POST /runs``: placement plus every child's tailored list) and polled to ``done``, timed;
4. ``clients`` concurrent clients (asyncio, one keep-alive HTTP/1.1 connection each), each
   reading a random child's record and tailored list (``GET /runs/{id}/children/{child_id}``,
   which also writes its audit row) as fast as it is answered, for ``seconds`` seconds after a
   short warm-up. Every response is checked: status 200 and a tailored list present, else it
   counts as an error;
5. the same load again while a second placement run of the same caseload is working (each
   run works in a process of its own, so a planner's run should not hold up panel members'
   reads);
6. issue 12's pollers: while a third run works, ``pollers`` clients poll it
   (``GET /runs/{id}``, a panel's page of progress bars) and ``poll_readers`` clients read
   children of the first run, all at once, for ``seconds`` seconds; every answer must be a
   200 (before the fix, 30 or more pollers froze the server and then failed on its
   connection pool).

The load generator runs on the same machine as the server, so the two share its cores; the
figures are what one box does serving and asking at once, a pessimistic setting.

Run: ``.venv/bin/python benchmarks/api_load.py [--children 25000] [--clients 50]
[--pollers 100] [--poll-readers 50] [--seconds 30] [--no-write]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from placement_scale import RESULTS, calibrated_instance, machine, utc_date, write_section

from api.db import REQUEST_SESSIONS
from matcher.input_writers import write_children, write_settings

SECTION = "## API load"
SETTINGS_FOR = {1000: 150, 5000: 300, 25000: 600}
YEAR_START = "2026-09-01"
PASSWORD = "benchmark password only"
TARGET_CLIENTS = 50
#: Issue 12: clients polling a working run, and clients reading children meanwhile.
TARGET_POLLERS = 100
TARGET_POLL_READERS = 50
WARM_UP_S = 3.0
#: A request unanswered this long counts as an error (a frozen server), and is given up.
ANSWER_TIMEOUT_S = 60.0


@dataclass
class RunTiming:
    upload_s: float = 0.0
    run_s: float = 0.0
    stages: list[tuple[float, str]] = field(default_factory=list)  # (seconds in, stage)
    summary: dict[str, Any] = field(default_factory=dict)
    slowest_poll_s: float = 0.0  # the longest wait for GET /runs/{id} during the run
    poll_retries: int = 0
    run_process_mb: float | None = None  # the run's own process's peak resident memory


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float]
    errors: int
    error_kinds: dict[str, int]
    bytes_read: int
    warm_up_requests: int = 0
    server_cpu_s: float = 0.0  # the server's CPU time over warm-up and measurement
    client_cpu_s: float = 0.0  # the load generator's

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "matcher.cli", *args]


def start_server(
    folder: Path, database_url: str, port: int, wal: bool = False
) -> subprocess.Popen[bytes]:
    """``sendmatch serve`` as an LA would start it; its log goes to a file, not a pipe that
    could fill and stall it."""
    subprocess.run(
        cli(
            "create-admin",
            "--username",
            "admin",
            "--password",
            PASSWORD,
            "--database-url",
            database_url,
        ),
        check=True,
        capture_output=True,
    )
    if wal:
        # Persistent in the database file: the server's connections all use it.
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        cli("serve", "--port", str(port), "--database-url", database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start; see {folder / 'server.log'}")
        time.sleep(0.5)


def login(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/auth/token", data={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def upload_round(http: httpx.Client, folder: Path, admin: dict[str, str]) -> tuple[int, float]:
    """Upload the LA's files; the caseload id and the seconds the upload and check took."""
    files = {
        name: (f"{name}.csv", (folder / f"{name}.csv").read_bytes(), "text/csv")
        for name in ("children", "settings")
    }
    t0 = time.perf_counter()
    uploaded = http.post(
        "/caseloads", files=files, data={"year_start": YEAR_START}, headers=admin, timeout=600
    )
    if uploaded.status_code != 201:
        raise RuntimeError(f"upload refused: {uploaded.status_code} {uploaded.text[:2000]}")
    return int(uploaded.json()["id"]), time.perf_counter() - t0


def start_run(http: httpx.Client, caseload_id: int, admin: dict[str, str]) -> int:
    started = http.post("/runs", json={"caseload_id": caseload_id}, headers=admin)
    started.raise_for_status()
    return int(started.json()["id"])


def run_status(http: httpx.Client, run_id: int, admin: dict[str, str]) -> dict[str, Any]:
    while True:
        try:
            return dict(http.get(f"/runs/{run_id}", headers=admin, timeout=120).json())
        except httpx.TransportError:
            continue  # a kept-alive connection the busy server closed as idle: ask again


def run_processes_peak_mb(server_pid: int) -> float | None:
    """The largest peak resident memory among the server's child processes (its runs)."""
    try:
        children = psutil.Process(server_pid).children(recursive=True)
    except psutil.Error:
        return None
    peaks = [peak_rss_mb(child.pid) for child in children]
    return max((p for p in peaks if p is not None), default=None)


def wait_for_run(
    http: httpx.Client, run_id: int, admin: dict[str, str], server_pid: int
) -> RunTiming:
    """Poll a started run to its end every 0.5 s, timing each stage and each poll."""
    timing = RunTiming()
    t0 = time.perf_counter()
    while True:
        asked = time.perf_counter()
        try:
            status = http.get(f"/runs/{run_id}", headers=admin, timeout=120).json()
        except httpx.TransportError:
            # A kept-alive connection the busy server closed as idle: ask again on a new one.
            timing.poll_retries += 1
            continue
        timing.slowest_poll_s = max(timing.slowest_poll_s, time.perf_counter() - asked)
        peak = run_processes_peak_mb(server_pid)
        if peak is not None:
            timing.run_process_mb = max(timing.run_process_mb or 0.0, peak)
        elapsed = time.perf_counter() - t0
        stage = status.get("stage") or status["status"]
        if not timing.stages or timing.stages[-1][1] != stage:
            timing.stages.append((elapsed, stage))
            print(f"  {elapsed:6.1f} s  {status['progress']:.2f}  {stage}", flush=True)
        if status["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    timing.run_s = time.perf_counter() - t0
    if status["status"] != "done":
        raise RuntimeError(f"the run ended {status['status']}: {status.get('error')}")
    timing.summary = status["summary"]
    return timing


def all_child_ids(http: httpx.Client, run_id: int, headers: dict[str, str]) -> list[str]:
    ids: list[str] = []
    while True:
        page = http.get(
            f"/runs/{run_id}/children",
            params={"offset": len(ids), "limit": 1000},
            headers=headers,
            timeout=60,
        )
        page.raise_for_status()
        if not page.json():
            return ids
        ids.extend(row["child_id"] for row in page.json())


class LoopbackClient:
    """One client's keep-alive HTTP/1.1 connection, written by hand on asyncio streams.

    httpx spends about as much CPU per request as the server does, and the load generator
    shares the server's cores: a lean client keeps the measurement about the server. It sends
    GETs and reads ``Content-Length`` bodies, which is all uvicorn answers here, and opens a new
    connection whenever the server closes one.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host, **headers}.items())
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(f"GET {path} HTTP/1.1\r\n{self.head}\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            fields = {
                k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
            }
            body = await reader.readexactly(int(fields.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def _child_read_ok(body: bytes) -> bool:
    return json.loads(body).get("tailored_list") is not None


def _run_status_ok(body: bytes) -> bool:
    return json.loads(body).get("status") in {"queued", "running", "done"}


async def _asker(
    client: LoopbackClient,
    next_path: Callable[[], str],
    is_ok: Callable[[bytes], bool],
    until: float,
    record_from: float,
    out: LoadResult,
) -> None:
    """One client asking ``next_path()`` as fast as it is answered; a 200 that ``is_ok``
    counts, anything else is an error, also in the warm-up: a server that froze then failed
    must not pass for one that answered nothing because the test was short."""
    while (start := time.perf_counter()) < until:
        try:
            status, body = await asyncio.wait_for(client.get(next_path()), ANSWER_TIMEOUT_S)
            ok = status == 200 and is_ok(body)
            kind, size = ("ok" if ok else f"HTTP {status}"), len(body)
        except TimeoutError:
            await client.close()
            kind, size = f"no answer in {ANSWER_TIMEOUT_S:.0f} s", 0
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            kind, size = type(exc).__name__, 0
        elapsed_ms = (time.perf_counter() - start) * 1000
        if kind != "ok":
            out.errors += 1
            out.error_kinds[kind] = out.error_kinds.get(kind, 0) + 1
        elif start < record_from:
            out.warm_up_requests += 1
        else:
            out.bytes_read += size
            out.latencies_ms.append(elapsed_ms)
    await client.close()


def _child_readers(
    port: int,
    run_id: int,
    ids: Sequence[str],
    headers: dict[str, str],
    clients: int,
    until: float,
    record_from: float,
    out: LoadResult,
    seed: int,
) -> list[Coroutine[Any, Any, None]]:
    """Clients each reading a random child's record and tailored list, again and again."""

    def reader(rng: random.Random) -> Coroutine[Any, Any, None]:
        return _asker(
            LoopbackClient("127.0.0.1", port, headers),
            lambda: f"/runs/{run_id}/children/{rng.choice(ids)}",
            _child_read_ok,
            until,
            record_from,
            out,
        )

    return [reader(random.Random(seed + k)) for k in range(clients)]


async def load(
    port: int,
    run_id: int,
    ids: Sequence[str],
    headers: dict[str, str],
    clients: int,
    seconds: float,
    seed: int,
) -> LoadResult:
    out = LoadResult(seconds, [], 0, {}, 0)
    now = time.perf_counter()
    record_from, until = now + WARM_UP_S, now + WARM_UP_S + seconds
    await asyncio.gather(
        *_child_readers(port, run_id, ids, headers, clients, until, record_from, out, seed)
    )
    return out


async def pollers_load(
    port: int,
    working_run: int,
    done_run: int,
    ids: Sequence[str],
    headers: dict[str, str],
    args: argparse.Namespace,
) -> tuple[LoadResult, LoadResult]:
    """``args.pollers`` clients polling the working run and ``args.poll_readers`` reading
    children of the done one, all at once: the polls' and the reads' results."""
    polls = LoadResult(args.seconds, [], 0, {}, 0)
    reads = LoadResult(args.seconds, [], 0, {}, 0)
    now = time.perf_counter()
    record_from, until = now + WARM_UP_S, now + WARM_UP_S + args.seconds
    pollers = [
        _asker(
            LoopbackClient("127.0.0.1", port, headers),
            lambda: f"/runs/{working_run}",
            _run_status_ok,
            until,
            record_from,
            polls,
        )
        for _ in range(args.pollers)
    ]
    readers = _child_readers(
        port, done_run, ids, headers, args.poll_readers, until, record_from, reads, args.seed
    )
    await asyncio.gather(*pollers, *readers)
    return polls, reads


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used (Linux ``/proc``), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _collapsed(stages: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """The stages, with a run of "tailored lists: N of M children" shown once, as its first."""
    out: list[tuple[float, str]] = []
    for t, stage in stages:
        prefix = stage.split(":")[0]
        if out and ":" in stage and out[-1][1].split(":")[0] == prefix:
            continue
        out.append((t, prefix if ":" in stage and prefix == "tailored lists" else stage))
    return out


def load_row(clients: int, result: LoadResult, when: str) -> str:
    lat = result.latencies_ms
    rps = len(lat) / result.seconds
    return (
        f"| {when} | {clients} | {result.requests:,} | {rps:,.0f} | {result.percentile(50):.0f} "
        f"| {result.percentile(95):.0f} | {result.percentile(99):.0f} "
        f"| {max(lat, default=float('nan')):.0f} | {result.errors:,} "
        f"| {result.bytes_read / max(len(lat), 1) / 1024:.1f} |\n"
    )


def errors_text(result: LoadResult) -> str:
    if not result.errors:
        return "none"
    return ", ".join(f"{k}: {v:,}" for k, v in sorted(result.error_kinds.items()))


def report(
    args: argparse.Namespace,
    n_settings: int,
    timing: RunTiming,
    result: LoadResult,
    during: LoadResult,
    during_stages: str,
    server_mb: float | None,
    db_mb: float,
    pollers: PollersResult,
) -> str:
    m = machine()
    stages = "; ".join(f"{s} at {t:.0f} s" for t, s in _collapsed(timing.stages))
    lat = result.latencies_ms
    run_mb = timing.run_process_mb
    return (
        f"{SECTION}\n\n"
        f"Machine: {m['platform']}, {m['processor']}, {m['cpus']} CPUs, {m['ram']} RAM, Python "
        f"{m['python']}. Date: {utc_date()}. Load average (1/5/15 min) at the end: "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} (the machine is shared).\n"
        f"Command: `{' '.join(['python benchmarks/api_load.py', *args.argv])}`.\n\n"
        f"Setup: `sendmatch serve` (uvicorn, one process, default settings, access log to a "
        f"file; each run in a process of its own) on a SQLite file on loopback; the load "
        f"generator (asyncio, one keep-alive HTTP/1.1 connection per client, a minimal client so "
        f"that it takes little CPU) runs on the same machine and shares its cores. "
        f"LA: {args.children:,} synthetic children, {n_settings} settings "
        f"(`placement_scale.calibrated_instance`, seed {args.seed}), straight-line travel, "
        f"uploaded as CSV through `POST /caseloads`.\n\n"
        f"| step | result |\n|---|---|\n"
        f"| upload and check the files (`POST /caseloads`) | {timing.upload_s:.1f} s |\n"
        f"| placement run with every child's tailored list (`POST /runs` to `done`) "
        f"| {timing.run_s:.1f} s |\n"
        f"| children placed | {timing.summary.get('placed', 0):,} of "
        f"{timing.summary.get('children', 0):,} |\n"
        f"| database file after the runs | {db_mb:,.0f} MB |\n"
        f"| server process peak resident memory | "
        f"{'n/a' if server_mb is None else f'{server_mb:,.0f} MB'} |\n"
        f"| run process peak resident memory | "
        f"{'n/a' if run_mb is None else f'{run_mb:,.0f} MB'} |\n\n"
        f"Run stages as polled (`GET /runs/{{id}}` every 0.5 s): {stages}. Slowest poll "
        f"answer during the run: {timing.slowest_poll_s:.1f} s"
        f" ({timing.poll_retries} dropped connection(s) retried).\n\n"
        f"Reading a child's record and tailored list (`GET /runs/{{id}}/children/{{child_id}}`, "
        f"a random child each time, each read writing its audit row), {args.clients} "
        f"concurrent clients for {args.seconds:.0f} s after a {WARM_UP_S:.0f} s warm-up; then "
        f"the same again while a second placement run of the caseload was working "
        f"({during_stages}):\n\n"
        f"| while | clients | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors "
        f"| mean response KB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        + load_row(args.clients, result, "nothing else")
        + load_row(args.clients, during, "a placement run works")
        + f"\nErrors: {errors_text(result)}; during the run: {errors_text(during)}. Mean "
        f"latency {statistics.fmean(lat) if lat else 0:.0f} ms. "
        f"CPU time during the first load (warm-up included): server {result.server_cpu_s:.1f} s "
        f"({result.server_cpu_s / max(result.requests + result.warm_up_requests, 1) * 1000:.1f}"
        f" ms a request), load generator {result.client_cpu_s:.1f} s, "
        f"of {(result.seconds + WARM_UP_S) * (os.cpu_count() or 1):.0f} s of the machine's "
        f"CPU time in that span: the server process was busy "
        f"{result.server_cpu_s / (result.seconds + WARM_UP_S):.0%} of the time, and one "
        f"uvicorn process runs Python on one core at a time.\n" + pollers_text(args, pollers)
    )


def pollers_text(args: argparse.Namespace, pollers: PollersResult) -> str:
    """Issue 12's table: pollers of a working run and readers of children, at once."""
    head = "| clients | what | requests | requests/s | p50 ms | p95 ms | max ms | errors |"

    def row(clients: int, what: str, result: LoadResult) -> str:
        lat = result.latencies_ms
        return (
            f"| {clients} | {what} | {result.requests:,} | {len(lat) / result.seconds:,.0f} "
            f"| {result.percentile(50):.0f} | {result.percentile(95):.0f} "
            f"| {max(lat, default=float('nan')):.0f} | {result.errors:,} |\n"
        )

    return (
        f"\nMany pollers (issue 12): while a third placement run of the caseload was working "
        f"({pollers.stages}), {args.pollers} clients polled it (`GET /runs/{{id}}`, a panel's "
        f"page of progress bars) and {args.poll_readers} read random children of the first run, "
        f"all at once, for {args.seconds:.0f} s after a {WARM_UP_S:.0f} s warm-up. Each request "
        f"holds one database connection; at most {REQUEST_SESSIONS} requests hold one at once "
        f"and the rest wait without a thread (`api.db.get_session`).\n\n"
        f"{head}\n|---:|---|---:|---:|---:|---:|---:|---:|\n"
        + row(args.pollers, "poll the working run", pollers.polls)
        + row(args.poll_readers, "read a child (audited)", pollers.reads)
        + f"\nErrors: polls {errors_text(pollers.polls)}; reads {errors_text(pollers.reads)}.\n"
    )


def load_during_a_run(
    base_url: str,
    port: int,
    caseload_id: int,
    run_id: int,
    ids: Sequence[str],
    admin: dict[str, str],
    panel: dict[str, str],
    args: argparse.Namespace,
) -> tuple[LoadResult, str]:
    """The read load again, started once a second run is solving and timed against its
    stages; then the second run is waited for, so that the next load meets one run only."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        second, first_stage = start_working_run(http, caseload_id, admin)
        result = asyncio.run(load(port, run_id, ids, panel, args.clients, args.seconds, args.seed))
        last = run_status(http, second, admin)
        while run_status(http, second, admin)["status"] in ("queued", "running"):
            time.sleep(0.5)
    last_stage = last.get("stage") or last["status"]
    return result, f"from its stage '{first_stage}' to '{last_stage}'"


def start_working_run(
    http: httpx.Client, caseload_id: int, admin: dict[str, str]
) -> tuple[int, str]:
    """Start a run and wait until it is computing (past reading its files): its id and stage."""
    run_id = start_run(http, caseload_id, admin)
    while (status := run_status(http, run_id, admin))["status"] == "queued" or (
        status.get("stage") or ""
    ).startswith(("waiting", "reading")):
        time.sleep(0.2)
    return run_id, status.get("stage") or status["status"]


@dataclass
class PollersResult:
    polls: LoadResult
    reads: LoadResult
    stages: str  # the working run's stages over the load


def pollers_during_a_run(
    base_url: str,
    port: int,
    caseload_id: int,
    run_id: int,
    ids: Sequence[str],
    admin: dict[str, str],
    panel: dict[str, str],
    args: argparse.Namespace,
) -> PollersResult:
    """Issue 12's load: a third run started, and once it works, pollers of it and readers of
    the done run's children at once."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        working, first_stage = start_working_run(http, caseload_id, admin)
        polls, reads = asyncio.run(pollers_load(port, working, run_id, ids, panel, args))
        last = run_status(http, working, admin)
    last_stage = last.get("stage") or last["status"]
    return PollersResult(polls, reads, f"from its stage '{first_stage}' to '{last_stage}'")


#: Issue 17: the children list pages timed, each a filtered, sorted, paged view of the run.
CHILDREN_LIST_PAGES = (
    ("unfiltered, first page", ""),
    ("search by part of an id", "q=00123"),
    (
        "need + phase, sorted by cost (desc), page 5",
        "need=ASD&phase=secondary&sort=cost&order=desc&page=5",
    ),
    ("setting + placed, sorted by journey", "placed=placed&sort=minutes&setting={urn}"),
    ("no decision yet, sorted by setting name, page 40", "decision=none&sort=setting&page=40"),
    ("preference not met, NC year 7, sorted by decision", "preference=no&year=7&sort=decision"),
    ("deepest page (past the end: the last)", "page=999999"),
)


def children_list_times(
    base_url: str, run_id: int, panel: dict[str, str], repeats: int, decisions: int
) -> list[tuple[str, list[float]]]:
    """Time each :data:`CHILDREN_LIST_PAGES` page of ``/app/runs/{id}/children`` (one client,
    one request at a time, so each time is the server's work plus a loopback round trip),
    after recording ``decisions`` panel decisions so the decision status has rows to join."""
    token = panel["Authorization"].removeprefix("Bearer ")
    with httpx.Client(base_url=base_url, timeout=120) as http:
        ids = http.get(f"/runs/{run_id}/children", params={"limit": 1000}, headers=panel).json()
        urn = next(c["setting_urn"] for c in ids if c["setting_urn"])
        for child in ids[:decisions]:
            http.post(
                f"/runs/{run_id}/decisions",
                json={"child_id": child["child_id"], "setting_urn": None, "reasons": "bench"},
                headers=panel,
            ).raise_for_status()
        http.cookies.set("sendmatch_session", token)
        times: list[tuple[str, list[float]]] = []
        for label, query in CHILDREN_LIST_PAGES:
            url = f"/app/runs/{run_id}/children?{query.format(urn=urn)}"
            http.get(url).raise_for_status()  # warm the caches once
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                answer = http.get(url)
                samples.append(time.perf_counter() - t0)
                if answer.status_code != 200 or "Showing" not in answer.text:
                    raise RuntimeError(f"children list {label}: {answer.status_code}")
            times.append((label, samples))
    return times


def children_list_text(
    args: argparse.Namespace, timing: RunTiming, times: list[tuple[str, list[float]]]
) -> str:
    rows = [
        f"| {label} | {statistics.median(s) * 1000:.0f} | {max(s) * 1000:.0f} |"
        for label, s in times
    ]
    return "\n".join(
        [
            f"Children list (issue 17): `/app/runs/{{id}}/children` of a {args.children:,}-child "
            f"run (placement run {timing.run_s:.1f} s), one client on loopback, each page "
            f"{args.list_repeats} times after one warm-up request; {args.list_decisions} "
            "children have a decision. Machine: "
            + ", ".join(machine().values())
            + f"; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
            "",
            "| page | median (ms) | slowest (ms) |",
            "|---|---|---|",
            *rows,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=25_000)
    parser.add_argument("--clients", type=int, default=TARGET_CLIENTS)
    parser.add_argument("--pollers", type=int, default=TARGET_POLLERS)
    parser.add_argument("--poll-readers", type=int, default=TARGET_POLL_READERS)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--wal", action="store_true", help="put the SQLite file in WAL mode before serving"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--children-list",
        action="store_true",
        help="time the children list pages (issue 17) instead of the read load; prints only",
    )
    parser.add_argument("--list-repeats", type=int, default=20)
    parser.add_argument("--list-decisions", type=int, default=500)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    n_settings = SETTINGS_FOR.get(args.children, max(args.children // 40, 50))
    with tempfile.TemporaryDirectory(prefix="sendmatch-api-load-") as tmp:
        folder = Path(tmp)
        print(f"Generating {args.children:,} children and {n_settings} settings...", flush=True)
        instance = calibrated_instance(args.children, n_settings, args.seed)
        write_children(instance.children, folder / "children.csv")
        write_settings(instance.settings, folder / "settings.csv")
        del instance
        database = folder / "bench.db"
        port = free_port()
        server = start_server(folder, f"sqlite:///{database}", port, wal=args.wal)
        base_url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base_url, timeout=60) as http:
                admin = login(http, "admin")
                created = http.post(
                    "/users",
                    json={"username": "panel", "password": PASSWORD, "role": "panel_member"},
                    headers=admin,
                )
                created.raise_for_status()
                panel = login(http, "panel")
                print("Uploading and running the placement...", flush=True)
                caseload_id, upload_s = upload_round(http, folder, admin)
                run_id = start_run(http, caseload_id, admin)
                timing = wait_for_run(http, run_id, admin, server.pid)
                timing.upload_s = upload_s
                ids = all_child_ids(http, run_id, panel)
            print(f"Run done in {timing.run_s:.1f} s; {len(ids):,} children listed.", flush=True)
            if args.children_list:
                times = children_list_times(
                    base_url, run_id, panel, args.list_repeats, args.list_decisions
                )
                print(children_list_text(args, timing, times))
                return 0
            print(f"{args.clients} clients reading for {args.seconds:.0f} s...", flush=True)
            server_cpu, own_cpu = cpu_seconds(server.pid), time.process_time()
            result = asyncio.run(
                load(port, run_id, ids, panel, args.clients, args.seconds, args.seed)
            )
            result.server_cpu_s = cpu_seconds(server.pid) - server_cpu
            result.client_cpu_s = time.process_time() - own_cpu
            print("The same while a second placement run works...", flush=True)
            during, during_stages = load_during_a_run(
                base_url, port, caseload_id, run_id, ids, admin, panel, args
            )
            print(
                f"{args.pollers} pollers and {args.poll_readers} readers during a third run...",
                flush=True,
            )
            pollers = pollers_during_a_run(
                base_url, port, caseload_id, run_id, ids, admin, panel, args
            )
            server_mb = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a run still going holds a graceful stop
                server.kill()
                server.wait()
        db_mb = database.stat().st_size / 2**20
    text = report(
        args, n_settings, timing, result, during, during_stages, server_mb, db_mb, pollers
    )
    print(text)
    if not args.no_write:
        write_section(text, RESULTS, section=SECTION)
    loads = (result, during, pollers.polls, pollers.reads)
    clean = all(r.latencies_ms and not r.errors for r in loads)
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
