"""Fetch an OpenStreetMap extract once, by name, and keep it on disk.

This is the only module of sendmatch that goes on the internet, and only when asked: travel
times are always computed from a local file (:func:`geodata.network.load_drive_network`).
Names are those of pyrosm's extract index (Geofabrik regions and counties such as
``"west_yorkshire"``, ``"greater_london"``, ``"kent"``; BBBike cities such as ``"leeds"``).
The index ships inside pyrosm, so an unknown name is reported without a network call.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_INDEX_NAME = "extracts.json"


class OsmDownloadError(Exception):
    """An OSM extract could not be provided; the message says why and what to do."""


class UnknownAreaError(OsmDownloadError, ValueError):
    """The area is not a name in pyrosm's extract index."""


class DownloadFailedError(OsmDownloadError):
    """The server was reached but did not provide the file (e.g. HTTP 404 or 503).

    Attributes
    ----------
    url
        The address that was tried, or None if unknown.
    """

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class OfflineError(DownloadFailedError):
    """The download server could not be reached: no internet, a firewall or a proxy."""


def _normalise(area: str) -> str:
    return " ".join(area.strip().lower().replace("-", "_").split()).replace(" ", "_")


def _read_index(cache_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((cache_dir / _INDEX_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_index(cache_dir: Path, index: dict[str, str]) -> None:
    path = cache_dir / _INDEX_NAME
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # the file is there; only the shortcut is lost
        logger.warning("could not update %s: %s", path, exc)


def cached_extract(area: str, cache_dir: Path) -> Path | None:
    """The extract for ``area`` already in ``cache_dir``, or None. Never goes online."""
    filename = _read_index(Path(cache_dir)).get(_normalise(area))
    if filename is None:
        return None
    path = Path(cache_dir) / filename
    return path if path.is_file() and path.stat().st_size > 0 else None


def download_extract(
    area: str,
    cache_dir: Path,
    *,
    update: bool = False,
    timeout: float = 60.0,
    opener: Any = None,
) -> Path:
    """Path of a local ``.osm.pbf`` extract of ``area``, downloading it on first use.

    Parameters
    ----------
    area
        A name from pyrosm's extract index, e.g. ``"west_yorkshire"`` (case, spaces and
        dashes are ignored).
    cache_dir
        Folder the extract is kept in; created if missing. A second call returns the file
        there without going online.
    update
        Download again even if the file is cached (OSM extracts are refreshed daily).
    timeout
        Seconds to wait for the server on connect and on each read.
    opener
        Passed to pyrosm: an object with ``open(request, timeout=...)`` that makes the HTTP
        requests (e.g. ``urllib.request.build_opener(ProxyHandler(...))`` behind a proxy).

    Returns
    -------
    Path
        The extract file (a few MB for a city, 50-150 MB for an English county).

    Raises
    ------
    UnknownAreaError
        ``area`` is not in the index; the message suggests close names.
    OfflineError
        The download server could not be reached.
    DownloadFailedError
        The server answered with an error, or the file could not be written to ``cache_dir``.
    """
    if not isinstance(area, str) or not area.strip():
        raise UnknownAreaError("the area name is empty; give a name such as 'west_yorkshire'")
    folder = Path(cache_dir)
    key = _normalise(area)
    if not update:
        hit = cached_extract(area, folder)
        if hit is not None:
            return hit

    import pyrosm
    from pyrosm.exceptions import ExtractDownloadError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        found = pyrosm.get_data(
            area,
            update=update,
            directory=str(folder),
            timeout=timeout,
            opener=opener,
            progress=False,
        )
    except ExtractDownloadError as exc:
        url = getattr(exc, "url", None)
        where = f" from {url}" if url else ""
        if getattr(exc, "status", None) is None:
            raise OfflineError(
                f"could not download the OpenStreetMap extract '{area}'{where}: the server "
                f"could not be reached ({exc.__cause__ or exc}). Check the internet connection, "
                f"or download the file on another machine and put it in {folder}, or pass a "
                "local .osm.pbf file instead.",
                url,
            ) from exc
        raise DownloadFailedError(
            f"could not download the OpenStreetMap extract '{area}'{where}: {exc}", url
        ) from exc
    except ValueError as exc:
        raise UnknownAreaError(f"unknown OpenStreetMap extract '{area}': {exc}") from exc
    except OSError as exc:
        raise DownloadFailedError(
            f"could not save the OpenStreetMap extract '{area}' in {folder}: {exc}"
        ) from exc

    path = Path(found)
    if path.parent.resolve() == folder.resolve():
        index = _read_index(folder)
        index[key] = path.name
        _write_index(folder, index)
    logger.info("OpenStreetMap extract '%s' at %s", area, path)
    return path
