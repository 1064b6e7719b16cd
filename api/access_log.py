"""What the server's logs say about a request: an id to find it by, and never a child's id.

Each request gets a random id, sent back as ``X-Request-ID`` and written on every log line the
request causes, so a user's "it failed at 10:42" can be found without logging what they sent.
The access log shows a request's route rather than its path (``/runs/3/children/{child_id}``,
not the child's id), keeps the ids of runs, caseloads and users (numbers that identify no
child), and drops query strings. A path that matches no route is shown with only the words the
API's routes use, every other segment as ``*``.

``sendmatch serve`` installs this with :func:`log_config`.
"""

from __future__ import annotations

import copy
import logging
import re
import secrets
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
#: Path parameters shown in the access log: row numbers that name no child.
LOGGED_PATH_PARAMS = frozenset({"run_id", "caseload_id", "user_id"})

_request_id: ContextVar[str] = ContextVar("sendmatch_request_id", default="-")
_scope: ContextVar[Scope | None] = ContextVar("sendmatch_request_scope", default=None)
_route_words: WeakKeyDictionary[Any, frozenset[str]] = WeakKeyDictionary()


def current_request_id() -> str:
    """The id of the request being served, ``-`` outside one."""
    return _request_id.get()


class RequestIds:
    """ASGI middleware: a fresh id per request, in the response's headers and in the logs.

    The id is never taken from the client: a log line must not carry what a caller typed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        # Not reset afterwards: the server's access log line is written as the response
        # starts, possibly by an outer layer (a 500), and each request runs in a task of its
        # own, so the values end with it.
        _request_id.set(request_id)
        _scope.set(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


def loggable_path(scope: Scope) -> str:
    """The request's route with only :data:`LOGGED_PATH_PARAMS` filled in; no query string."""
    route_path = getattr(scope.get("route"), "path_format", None)
    if not isinstance(route_path, str):
        return scrub_path(scope.get("path", ""), _words_of(scope.get("app")))
    params = scope.get("path_params", {})

    def shown(match: re.Match[str]) -> str:
        value = str(params.get(match[1], ""))
        return value if match[1] in LOGGED_PATH_PARAMS and value.isdigit() else match[0]

    return re.sub(r"\{(\w+)\}", shown, route_path)


def scrub_path(path: str, words: frozenset[str] = frozenset()) -> str:
    """``path`` without its query and with every segment not in ``words`` written ``*``."""
    segments = path.partition("?")[0].split("/")
    return "/".join(s if s in words or not s else "*" for s in segments)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record, for the formats of :func:`log_config`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class AccessLogScrubber(RequestIdFilter):
    """For uvicorn's access logger: the path in its arguments becomes :func:`loggable_path`."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            scope = _scope.get()
            shown = loggable_path(scope) if scope is not None else scrub_path(str(path))
            record.args = (client, method, shown, version, status)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with request ids on every line, scrubbed access paths,
    and the ``api``, ``matcher`` and ``geodata`` loggers shown at INFO."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "request_id": {"()": RequestIdFilter},
        "access_paths": {"()": AccessLogScrubber},
    }
    config["formatters"]["access"]["fmt"] = (
        '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s '
        "request=%(request_id)s"
    )
    config["formatters"]["sendmatch"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s request=%(request_id)s",
    }
    config["handlers"]["sendmatch"] = {
        "class": "logging.StreamHandler",
        "formatter": "sendmatch",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["uvicorn.access"]["filters"] = ["access_paths"]
    for name in ("api", "matcher", "geodata"):
        config["loggers"][name] = {"handlers": ["sendmatch"], "level": "INFO", "propagate": False}
    return config


def _words_of(app: Any) -> frozenset[str]:
    """The literal segments of ``app``'s paths (``runs``, ``children``...), read from its
    OpenAPI description, plus the web page's ``static``."""
    openapi = getattr(app, "openapi", None)
    if openapi is None:
        return frozenset()
    words = _route_words.get(app)
    if words is None:
        paths = [*openapi().get("paths", {}), "/static"]
        words = frozenset(s for p in paths for s in p.split("/") if s and "{" not in s)
        _route_words[app] = words
    return words
