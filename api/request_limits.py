"""What a request may send, enforced before any work is done on it: sign-in, then body size.

:class:`RequestLimits` is a plain ASGI middleware, so it sees a request before anything has read
its body, and it reads the body through a counting wrapper. For a request with a body it:

1. checks the bearer token first, before a single byte of the body is read, except on the
   sign-in forms (``POST /auth/token``, ``POST /app/sign-in``): a stranger's upload is
   answered 401 without being read, spooled to a temporary file or parsed; a page's form
   (under ``/app/``) is checked for its session cookie instead, and without one is sent to
   the sign-in page, unread;
2. refuses at once with 413 a ``Content-Length`` over the limit for its path;
3. counts the bytes of a body sent without a length (chunked) and stops it with 413 as soon as
   they pass that limit.

Each refusal asks the server to close the connection, so the rest of the body is not even
received.

The limits (:class:`BodyLimits`): a file upload may be as large as its files' own limits allow
together, plus 1 MB for the form around them (a caseload: three files of 50 MB; a fair access
history: 5 MB; a scenario comparison: twenty files of 1 MB; a forecast: fifteen yearly files of
10 MB or a 50 MB transitions file, with its population, costs, valid states and assumptions
file); any other body, a JSON body or the sign-in form, 1 MB. ``SENDMATCH_MAX_UPLOAD_MB`` lowers
every upload's limit to that many MB and ``SENDMATCH_MAX_JSON_KB`` sets the other bodies' limit
in KB.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from fastapi import Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import routes_caseloads, routes_forecast, routes_planning
from api.auth import NOT_SIGNED_IN, live_token
from api.db import Database
from api.pages.sessions import PAGE_PREFIX, PAGE_SIGN_IN, cookie_signed_in, signed_out_redirect
from api.sign_in_throttle import positive_int_from_env

MB = 1024 * 1024
#: Room in a multipart upload for its boundaries, part headers and small form fields.
FORM_BYTES = MB
#: Each upload path's own limit: the most its files may hold together, plus the form.
UPLOAD_BYTES: dict[tuple[str, str], int] = {
    ("POST", "/caseloads"): 3 * routes_caseloads.MAX_UPLOAD_BYTES + FORM_BYTES,
    ("POST", "/runs/fair-access"): routes_planning.MAX_HISTORY_BYTES + FORM_BYTES,
    ("POST", "/runs/scenario-compare"): (
        routes_planning.MAX_SCENARIO_FILES * routes_planning.MAX_SCENARIO_BYTES + FORM_BYTES
    ),
    ("POST", "/runs/forecast"): routes_forecast.MAX_FORECAST_FILES_BYTES + FORM_BYTES,
    ("POST", "/app/caseloads/upload"): 3 * routes_caseloads.MAX_UPLOAD_BYTES + FORM_BYTES,
    ("POST", "/app/scenarios/upload"): (
        routes_planning.MAX_SCENARIO_FILES * routes_planning.MAX_SCENARIO_BYTES + FORM_BYTES
    ),
    ("POST", "/app/forecasts"): routes_forecast.MAX_FORECAST_FILES_BYTES + FORM_BYTES,
}
#: Sent with every refusal of a body: the server then closes the connection instead of reading
#: (and discarding) the rest of the body, however large the client said it would be.
CLOSE = {"Connection": "close"}
#: Bodies read without a bearer token: the sign-in forms.
SIGN_IN_PATH = "/auth/token"
PUBLIC_POSTS = {("POST", SIGN_IN_PATH), ("POST", PAGE_SIGN_IN)}


@dataclass(frozen=True)
class BodyLimits:
    """Largest request bodies accepted, in bytes."""

    #: Any body that is not a file upload: JSON, the sign-in form.
    json_bytes: int = MB
    #: Caps every upload path's own limit (:data:`UPLOAD_BYTES`); None keeps those.
    upload_bytes: int | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> BodyLimits:
        """``SENDMATCH_MAX_JSON_KB`` (default 1024) and ``SENDMATCH_MAX_UPLOAD_MB`` (default:
        each upload path's own limit)."""
        json_kb = positive_int_from_env(environ, "SENDMATCH_MAX_JSON_KB", cls.json_bytes // 1024)
        upload_mb = positive_int_from_env(environ, "SENDMATCH_MAX_UPLOAD_MB", 0)
        return cls(json_bytes=json_kb * 1024, upload_bytes=upload_mb * MB or None)

    def for_request(self, method: str, path: str) -> int:
        """The limit for a request to ``path``: its upload limit, else the JSON one."""
        upload = UPLOAD_BYTES.get((method, path))
        if upload is None:
            return self.json_bytes
        return upload if self.upload_bytes is None else min(upload, self.upload_bytes)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its limit; FastAPI answers it with a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, _too_large(limit), CLOSE)


class RequestLimits:
    """The ASGI middleware: sign-in before the body, then the body's size (module docstring)."""

    def __init__(self, app: ASGIApp, database: Database, limits: BodyLimits) -> None:
        self.app = app
        self.database = database
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not _has_body(headers):
            await self.app(scope, receive, send)  # nothing to read, so nothing to guard
            return
        refusal = await self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self.limits.for_request(scope["method"], scope["path"])
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # raised where no exception handler was on the way out
            if started:
                raise
            await _answer(exc.status_code, exc.detail)(scope, receive, send)

    async def _refusal(self, scope: Scope, headers: Headers) -> Response | None:
        """The answer that ends the request before its body is read, if there is one."""
        path: str = scope["path"]
        public = (scope["method"], path) in PUBLIC_POSTS or path == "/"
        if path.startswith(PAGE_PREFIX) and not public:
            # The pages sign in with their cookie (api.pages.sessions), never a bearer token.
            async with self.database.request_sessions():
                signed_in = await to_thread.run_sync(self._page_signed_in, headers)
            if not signed_in:
                return signed_out_redirect()
        elif not public:
            authorization = headers.get("authorization", "")
            # A request's use of the database, so within the requests' share of the pool.
            async with self.database.request_sessions():
                signed_in = await to_thread.run_sync(self._signed_in, authorization)
            if not signed_in:
                return _answer(401, NOT_SIGNED_IN, {"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length")
        if length is None:
            return None
        if not length.isdigit():
            return _answer(400, "the Content-Length header is not a number of bytes")
        limit = self.limits.for_request(scope["method"], path)
        return _answer(413, _too_large(limit)) if int(length) > limit else None

    def _page_signed_in(self, headers: Headers) -> bool:
        with self.database.sessions() as session:
            return cookie_signed_in(session, headers.get("cookie", ""))

    def _signed_in(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        with self.database.sessions() as session:
            return live_token(session, token.strip()) is not None


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a request that fails validation, in its usual shape, but with any NaN
    or infinity in the echoed input written as a string: JSON cannot carry them, so FastAPI's
    own handler fails with a 500 on ``{"primary_limit_minutes": NaN}``."""
    assert isinstance(exc, RequestValidationError)
    errors = _finite(jsonable_encoder(exc.errors()))
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _answer(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code, headers=CLOSE | (headers or {}))


def _too_large(limit: int) -> str:
    size = f"{limit / MB:g} MB" if limit >= MB else f"{math.ceil(limit / 1024)} KB"
    return f"the request is larger than {size}, the most accepted here"
