"""The web page's files: served by the app, with the right types, and nothing from elsewhere.

Fast checks with TestClient; the page itself is exercised in a real browser by
``tests/test_web_e2e.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes_web import STATIC_DIR

STATIC_FILES = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    """The app on a private SQLite file: these routes touch no database, so one backend does."""
    with TestClient(create_app(f"sqlite:///{tmp_path / 'web.db'}")) as client:
        yield client


def test_index_is_served_at_the_root(web: TestClient) -> None:
    response = web.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="en-GB">' in html
    assert 'src="/static/app.js"' in html and 'type="module"' in html
    assert 'href="/static/style.css"' in html
    # Landmarks and the skip link every page of a public service needs.
    for landmark in ("<header", "<nav", "<main", "<footer", 'class="skip-link" href="#main"'):
        assert landmark in html
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("app.js", "text/javascript"),
        ("map.js", "text/javascript"),
        ("charts.js", "text/javascript"),
        ("forecast.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_with_their_media_type(
    web: TestClient, name: str, media_type: str
) -> None:
    response = web.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.content == (STATIC_DIR / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/..%2Fapp.py",
        "/static/%2E%2E%2Fauth.py",
        "/static/../app.py",
        "/static/app.py",
        "/static/",
    ],
)
def test_nothing_else_is_served_as_a_static_file(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code in {404, 422}
    assert "password_hash" not in response.text and "def " not in response.text


def test_every_asset_the_page_loads_exists() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    referenced = set(re.findall(r'(?:src|href)="/static/([^"]+)"', html))
    for script in STATIC_DIR.glob("*.js"):
        referenced |= set(re.findall(r'from "\./([^"]+)"', script.read_text()))
    assert referenced, "the page references its assets"
    assert referenced <= set(STATIC_FILES)


@pytest.mark.parametrize("name", STATIC_FILES)
def test_no_asset_is_loaded_from_another_host(name: str) -> None:
    """No CDN, web font or tile server: every asset comes from the app. The only URL allowed is
    the SVG namespace name, which is an identifier and never fetched."""
    text = (STATIC_DIR / name).read_text()
    urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*", text)
    assert [u for u in urls if u != "http://www.w3.org/2000/svg"] == []
    assert "@import" not in text and "url(" not in text.replace("url()", "")


def test_the_package_ships_the_static_files() -> None:
    """``api = ["static/*"]`` in pyproject.toml only covers a flat folder."""
    assert all(p.is_file() for p in STATIC_DIR.iterdir()), "api/static must stay flat"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"static/*"' in pyproject


def test_the_page_keeps_the_token_for_the_tab_only() -> None:
    script = (STATIC_DIR / "app.js").read_text()
    assert "sessionStorage" in script
    assert "localStorage" not in script
