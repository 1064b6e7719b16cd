"""The browser-test harness: a real server, a signed-in Chromium tab per role, and the checks
every page must pass (axe-core, no other host, no script error, desktop and phone screenshots).

Its fixtures are loaded for every test module (``pytest_plugins`` in ``tests/conftest.py``);
a browser test module starts with::

    from tests.browser_harness import check_page, require_chromium
    require_chromium()  # skips the module without Chromium (fails under CI=true)

Fixtures (see each one): ``pages_server`` (one ``sendmatch serve`` per pytest session, with a
user of each role), ``page_as`` (a signed-in tab), ``demo_caseload`` and ``placement_run``.

Chromium is not a Python package: where ``/usr/bin/chromium`` is missing the browser tests
skip, except under CI (``CI=true``), where ``.ci/run`` installs it and a missing browser is a
failure. The helpers below need no browser to import.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
DATA = Path(__file__).parent / "data" / "io"
ADMIN, PASSWORD = "admin", "correct horse battery staple"
TIMEOUT_MS = 30_000
DESKTOP_WIDTH, PHONE_WIDTH = 1280, 375
#: The roles, by their API names; ``pages_server`` has one user of each.
ROLES = ("admin", "case_officer", "panel_member", "planner")
#: Longest wait for a placement run of the small test caseload to finish.
RUN_WAIT_S = 180
SESSION_COOKIE = "sendmatch_session"


def require_chromium() -> None:
    """Skip the calling test module when Chromium is missing (fail under CI)."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(folder: Path, *options: str) -> Iterator[str]:
    """``sendmatch serve`` on a free loopback port with a new database and its first admin
    (made by ``sendmatch create-admin``); yields the base URL, stops the server after."""
    database = f"sqlite:///{folder / 'web.db'}"
    cli = [sys.executable, "-m", "matcher.cli"]
    env = {**os.environ, "SENDMATCH_CACHE_DIR": str(folder / "cache"), "DATABASE_URL": database}
    made = subprocess.run(
        [*cli, "create-admin", "--username", ADMIN, "--password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (folder / "server.log").open("w") as log:
        process = subprocess.Popen(
            [*cli, "serve", "--port", str(port), "--database-url", database, *options],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base}/app/sign-in", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, (folder / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


@dataclass
class Served:
    """A running server for the pages' tests and the users on it."""

    base: str
    #: Username of each role's user, by the role's API name.
    users: dict[str, str]
    password: str = PASSWORD
    _clients: list[httpx.Client] = field(default_factory=list)

    def token(self, role: str) -> str:
        """A new session token of ``role``'s user (signed in through ``POST /auth/token``)."""
        answer = httpx.post(
            f"{self.base}/auth/token",
            data={"username": self.users[role], "password": self.password},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def api(self, role: str) -> httpx.Client:
        """A JSON API client signed in as ``role``'s user (closed with the server)."""
        client = httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {self.token(role)}"},
            timeout=60,
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture(scope="session")
def pages_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the session, without a road network (straight-line journeys), with the
    admin from ``sendmatch create-admin`` and a user of each other role made by ``POST /users``.
    Tests share it: they must not assume that lists are empty."""
    with running_server(tmp_path_factory.mktemp("pages-server")) as base:
        served = Served(base=base, users={"admin": ADMIN})
        admin = served.api("admin")
        for role in ROLES[1:]:
            username = f"{role.replace('_', '')}1"
            made = admin.post(
                "/users", json={"username": username, "password": PASSWORD, "role": role}
            )
            assert made.status_code == 201, made.text
            served.users[role] = username
        try:
            yield served
        finally:
            served.close()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def browser_page(browser: Any, base: str, width: int = DESKTOP_WIDTH) -> Iterator[Any]:
    """A new tab on ``base``; fails the test if the page fetched anything from another host
    (no CDN, fonts or tiles) or if its scripts raised an error."""
    context = browser.new_context(base_url=base, viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    foreign: list[str] = []
    tab.on(
        "request",
        lambda r: None if r.url.startswith((base, "data:", "about:")) else foreign.append(r.url),
    )
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
    finally:
        context.close()
    assert foreign == [], f"the page loaded something from another host: {foreign}"
    assert errors == [], f"the page's scripts raised errors: {errors}"


@pytest.fixture
def page_as(chromium_browser: Any, pages_server: Served) -> Iterator[Callable[..., Any]]:
    """``page_as(role, width=1280)``: a new tab signed in as ``role``'s user (the session
    cookie of a real token, as the sign-in form sets it). Every tab made is checked at the
    test's end for requests to other hosts and script errors."""
    with ExitStack() as tabs:

        def open_as(role: str, width: int = DESKTOP_WIDTH) -> Any:
            tab = tabs.enter_context(browser_page(chromium_browser, pages_server.base, width))
            host = pages_server.base.split("//", 1)[1].split(":", 1)[0]
            tab.context.add_cookies(
                [
                    {
                        "name": SESSION_COOKIE,
                        "value": pages_server.token(role),
                        "domain": host,
                        "path": "/app",
                        "httpOnly": True,
                        "sameSite": "Strict",
                    }
                ]
            )
            return tab

        yield open_as


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def assert_accessible(page: Any, where: str) -> None:
    violations = serious_violations(page)
    assert violations == [], f"{where}: {violations}"


def check_page(page: Any, name: str) -> None:
    """The checks every page passes, at desktop (1280) and phone (375) widths: axe-core finds
    nothing serious or critical, the page does not scroll sideways on the phone, and a
    full-page screenshot is saved as ``test-artifacts/pages/<name>-desktop.png`` / ``-phone``.
    The tab is left at its first width."""
    folder = ARTIFACTS / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size or {"width": DESKTOP_WIDTH, "height": 900}
    for label, width in (("desktop", DESKTOP_WIDTH), ("phone", PHONE_WIDTH)):
        page.set_viewport_size({"width": width, "height": 900})
        assert_accessible(page, f"{name} at {width} pixels wide")
        if width == PHONE_WIDTH:
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{name} scrolls sideways on a phone ({scroll} px)"
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(before)


#: A4's printable width at 96 CSS pixels an inch, inside the print stylesheet's 12 mm margins.
A4_PRINT_WIDTH = 702


def check_print(page: Any, name: str) -> None:
    """The page as printed (the print stylesheet): no header, navigation, buttons, forms or
    footer, and nothing wider than an A4 page; a screenshot ``<name>-print.png``."""
    before = page.viewport_size or {"width": DESKTOP_WIDTH, "height": 900}
    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_PRINT_WIDTH, "height": 1000})
    try:
        for hidden in (
            ".govuk-template__header",
            ".govuk-footer",
            ".govuk-button",
            "form",
            ".govuk-phase-banner",
        ):
            for i in range(page.locator(hidden).count()):
                assert not page.locator(hidden).nth(i).is_visible(), f"{name}: {hidden} printed"
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= A4_PRINT_WIDTH, f"{name} is wider than A4 when printed ({scroll} px)"
        folder = ARTIFACTS / "pages"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}-print.png"), full_page=True)
    finally:
        page.emulate_media(media="screen")
        page.set_viewport_size(before)


@pytest.fixture(scope="session")
def demo_caseload(pages_server: Served) -> int:
    """The small test caseload (``tests/data/io``: 12 children, 8 settings), uploaded through
    the API by the case officer."""
    files = {
        name: (f"{name}.csv", (DATA / f"{name}.csv").read_bytes())
        for name in ("children", "settings")
    }
    uploaded = pages_server.api("case_officer").post(
        "/caseloads", files=files, data={"year_start": "2026-09-01"}
    )
    assert uploaded.status_code == 201, uploaded.text
    return int(uploaded.json()["id"])


def wait_for_run(api: httpx.Client, run_id: int) -> dict[str, Any]:
    """The run once it has finished, however it ended; fails after :data:`RUN_WAIT_S`."""
    deadline = time.monotonic() + RUN_WAIT_S
    while True:
        run: dict[str, Any] = api.get(f"/runs/{run_id}").json()
        if run["status"] in {"done", "failed", "cancelled"}:
            return run
        assert time.monotonic() < deadline, f"run {run_id} did not finish: {run}"
        time.sleep(0.5)


@pytest.fixture(scope="session")
def placement_run(pages_server: Served, demo_caseload: int) -> int:
    """A finished placement run of ``demo_caseload``, started through the API."""
    api = pages_server.api("case_officer")
    started = api.post("/runs", json={"caseload_id": demo_caseload})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, int(started.json()["id"]))
    assert run["status"] == "done", run
    return int(run["id"])
