"""Fixtures shared by the command-line and panel-pack tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "io"

# The HTTP API fixtures (app, client, users, run) for every API test module, and the browser
# tests' (pages_server, page_as, ...; they import no browser until a test uses them).
pytest_plugins = ["tests.api_client", "tests.browser_harness"]


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Road networks are cached in a temporary folder, never in the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SENDMATCH_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A copy of the good fixtures, so a test may break one without touching the others."""
    for name in ("children.csv", "settings.csv", "tariffs.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path
