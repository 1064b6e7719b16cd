"""Errors for users, built from problems; logs that carry ids and code locations, never values.

The rule: a message a user reads names the file, the row, the field and a reason, and a
reason never quotes a cell of the caseload (a home's coordinates, a date of birth, a child's
id), because a run's error is open to every role and a planner may not see children's
records. The full messages, values and all, go to the one person who already holds the
files: whoever uploads them (``POST /caseloads`` answers with every problem).

So a stored caseload that no longer passes the checks it passed on upload (the server's road
network changed, say) is described by :func:`value_free_problems`: file, row and field, and a
reason chosen from a fixed list, never copied from the reader's message. Anything unexpected
is told to the user as its exception type and the run's or request's id, and logged as the
same plus the code location (file, line and function of each frame), never the exception's
message, which may quote an input.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from api.access_log import current_request_id, loggable_path
from api.schemas import Problem
from matcher import io
from matcher.planning import ScenarioError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

#: Problems written out in one error; the rest are counted ("and 640 more").
MAX_LISTED_PROBLEMS = 20
#: Frames of a traceback logged for an unexpected failure, innermost last.
LOGGED_FRAMES = 6
#: Columns holding a location: a problem there is about a home or a setting's position.
LOCATION_FIELDS = frozenset({"latitude", "longitude", "easting", "northing"})
OUTSIDE_REASON = (
    "the location is outside the area this server accepts (the UK, and the area of its road "
    "network if it has one)"
)
CHECK_REASON = "does not pass the input checks (upload the files again to see the full message)"
STORED_CASELOAD = (
    "The caseload's stored files no longer pass the input checks ({count}), so they cannot "
    "be used. "
    "This happens when the server's road network has changed since they were uploaded: "
    "upload them again to see each problem in full."
)


def value_free_problems(problems: Sequence[io.InputProblem]) -> list[Problem]:
    """Each problem's file, row and field, with a reason that quotes no value.

    The reason is picked from fixed texts, never copied: a reader's message may quote the
    cell it rejects (``latitude 60, longitude 20 is outside the UK``), and a child's id
    prefixes the checks made across files.
    """
    return [Problem(file=p.file, row=p.row, field=p.field, message=_reason(p)) for p in problems]


def problem_lines(problems: Sequence[Problem]) -> list[str]:
    """ "file, row 2, field: reason" for the first :data:`MAX_LISTED_PROBLEMS`, then a count."""
    lines = [_line(p) for p in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"and {len(problems) - MAX_LISTED_PROBLEMS:,} more")
    return lines


def stored_caseload_detail(n_problems: int) -> str:
    """Why a stored caseload cannot be used, and what to do: the problems' count, no values."""
    return STORED_CASELOAD.format(count=_count(n_problems))


def stored_caseload_error(problems: Sequence[io.InputProblem]) -> str:
    """The error of a run whose stored files no longer read, with its problems listed."""
    head = stored_caseload_detail(len(problems))
    return "\n".join([head, *problem_lines(value_free_problems(problems))])


def run_error(exc: Exception, run_id: int) -> str:
    """What a failed run tells every role that may read it (``Run.error``).

    Scenario files are the planner's own, about settings, never children: their problems are
    given in full. A caseload's problems are given without values; anything else is a fault
    of sendmatch or the server, given by type and run id only.
    """
    if isinstance(exc, io.InputError):
        return stored_caseload_error(exc.problems)
    if isinstance(exc, ScenarioError):
        problems = [
            Problem(file=p.file, row=None, field=p.field, message=p.message) for p in exc.problems
        ]
        head = f"The scenario files have {_count(len(problems))}:"
        return "\n".join([head, *problem_lines(problems)])
    if isinstance(exc, MemoryError):
        return (
            f"the run needed more memory than the server allows one run; run {run_id}. Ask "
            "your administrator to raise the limit (sendmatch serve --run-memory-limit) or to "
            "run it on a larger machine."
        )
    return (
        f"the run failed unexpectedly ({type(exc).__name__}); run {run_id}. "
        "Ask your administrator to check the server log."
    )


def code_location(exc: BaseException) -> str:
    """Where ``exc`` was raised, as "file:line in function" per frame, innermost last.

    For the server log: it tells an administrator where to look, and, unlike a traceback,
    holds no message and no source line, so no input value.
    """
    frames = traceback.extract_tb(exc.__traceback__)[-LOGGED_FRAMES:]
    return " <- ".join(f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in reversed(frames))


class LogSafeErrors:
    """ASGI middleware: an unexpected exception in a route becomes a plain 500 with the
    request's id (:mod:`api.access_log`, which must be the outer layer), and one log line with
    that id, the route (:func:`api.access_log.loggable_path`) and the code location.

    Starlette's own handler re-raises after answering, so the server prints the whole
    traceback, whose last line is the exception's message: an ``InputError`` there is every
    row's coordinates. Here the exception stops, and its message is never written anywhere.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            request_id = current_request_id()
            log.error(
                "request %s %s %s failed (%s) at %s",
                request_id,
                scope.get("method", ""),
                loggable_path(scope),
                type(exc).__name__,
                code_location(exc),
            )
            if started:  # nothing more can be sent; the client sees the connection end
                return
            detail = (
                f"the server could not answer ({type(exc).__name__}); request {request_id}. "
                "Ask your administrator to check the server log."
            )
            await JSONResponse({"detail": detail}, status_code=500)(scope, receive, send)


def _reason(problem: io.InputProblem) -> str:
    if problem.field in LOCATION_FIELDS and "outside" in problem.message:
        return OUTSIDE_REASON
    return CHECK_REASON


def _line(problem: Problem) -> str:
    where = [problem.file]
    if problem.row is not None:
        where.append(f"row {problem.row}")
    if problem.field is not None:
        where.append(problem.field)
    return f"{', '.join(where)}: {problem.message}"


def _count(n: int) -> str:
    return f"{n:,} problem{'' if n == 1 else 's'}"


def _short(filename: str) -> str:
    """A frame's file from the package folder on (``api/jobs.py``), not the install path."""
    parts = filename.replace("\\", "/").split("/")
    for root in ("api", "matcher", "geodata", "site-packages"):
        if root in parts:
            return "/".join(parts[parts.index(root) + (root == "site-packages") :])
    return parts[-1]
