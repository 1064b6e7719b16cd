"""Fetch the DfE's "Education, health and care plans" statistics once, and keep them.

Like :mod:`geodata.osm_download`, this goes on the internet only when asked
(``sendmatch data download ehcp-statistics``), and a second call finds the file in the cache
without going online. What is fetched is the release's "Download all data" ZIP from
explore-education-statistics (:data:`RELEASE_ZIP_URL`): the 2024 release, whose caseload files
give every LA's plans by age band and by type of establishment for each January 2010-2024 (the
2025 release's ``caseload.csv`` has ages for its last year only). The ZIP is kept as it is;
:func:`matcher.forecast.dfe_statistics.read_ehcp_statistics` reads the caseload files inside.

No internet (or a firewall): the error says where to download the ZIP by hand and how to give
it, ``--ehcp-statistics FILE.zip``, or to put it in the cache folder under :data:`ZIP_NAME`.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The release page, for people: "Download all data (ZIP)" is on its "Explore data" tab.
RELEASE_PAGE = (
    "https://explore-education-statistics.service.gov.uk/find-statistics/"
    "education-health-and-care-plans/2024"
)
#: The release's "Download all data" ZIP (release version 2e60aacd-…, reporting year 2024,
#: as the DfE's own data guidance names it).
RELEASE_ZIP_URL = (
    "https://content.explore-education-statistics.service.gov.uk/api/releases/"
    "2e60aacd-d46c-416a-af4d-9d2269506ff6/files"
)
#: The cache's subfolder and the name the ZIP is kept under.
FOLDER = "dfe-ehcp-statistics"
ZIP_NAME = "education-health-and-care-plans-2024.zip"
MANIFEST = "manifest.json"
#: The release's ZIP is a few tens of MB; a response beyond this is not it.
MAX_DOWNLOAD_BYTES = 500 * 1024 * 1024
_CHUNK = 1 << 20


class StatisticsDownloadError(Exception):
    """The statistics could not be provided; the message says why and what to do."""


class OfflineError(StatisticsDownloadError):
    """The server could not be reached: no internet, a firewall or a proxy."""


@dataclass(frozen=True)
class Download:
    """Where the statistics are, and whether this call fetched them."""

    path: Path
    downloaded: bool


def by_hand(folder: Path) -> str:
    """How to get the file without sendmatch going online."""
    return (
        f"Download it by hand: open {RELEASE_PAGE}, choose 'Explore data' and 'Download all "
        f"data (ZIP)', then give that file with --ehcp-statistics FILE.zip (or put it in "
        f"{folder} as {ZIP_NAME})"
    )


def cached_statistics(cache_dir: Path) -> Path | None:
    """The statistics already in the cache, or None. Never goes online."""
    path = Path(cache_dir) / FOLDER / ZIP_NAME
    return path if path.is_file() and path.stat().st_size > 0 else None


def download_statistics(
    cache_dir: Path,
    *,
    update: bool = False,
    timeout: float = 60.0,
    opener: Any = None,
    url: str = RELEASE_ZIP_URL,
) -> Download:
    """The release's ZIP in ``cache_dir``, downloading it on first use.

    Parameters
    ----------
    cache_dir
        The cache folder; the ZIP is kept in its ``dfe-ehcp-statistics`` subfolder.
    update
        Download again even if the file is cached.
    timeout
        Seconds to wait for the server on connect and on each read.
    opener
        An object with ``open(request, timeout=...)`` that makes the HTTP request (e.g.
        ``urllib.request.build_opener(ProxyHandler(...))`` behind a proxy); urllib's default
        opener otherwise.

    Raises
    ------
    OfflineError
        The server could not be reached.
    StatisticsDownloadError
        The server answered with an error or with something that is not the release's ZIP,
        or the file could not be written.
    """
    folder = Path(cache_dir) / FOLDER
    if not update:
        hit = cached_statistics(Path(cache_dir))
        if hit is not None:
            return Download(hit, downloaded=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot make the cache folder {folder}: {exc.strerror or exc}"
        raise StatisticsDownloadError(msg) from exc
    target = folder / ZIP_NAME
    partial = folder / f".{ZIP_NAME}.{os.getpid()}.part"
    try:
        digest = _fetch(url, partial, timeout, opener or urllib.request.build_opener(), folder)
        _check_zip(partial, folder)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _write_manifest(folder, url, digest)
    return Download(target, downloaded=True)


def _fetch(url: str, path: Path, timeout: float, opener: Any, folder: Path) -> str:
    request = urllib.request.Request(url, headers={"User-Agent": "sendmatch"})
    digest = hashlib.sha256()
    try:
        with opener.open(request, timeout=timeout) as response, path.open("wb") as out:
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    msg = f"{url} sent more than {MAX_DOWNLOAD_BYTES >> 20} MB: not the release"
                    raise StatisticsDownloadError(msg)
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        msg = (
            f"could not download the EHC plan statistics from {url}: the server answered "
            f"{exc.code} {exc.reason}. {by_hand(folder)}"
        )
        raise StatisticsDownloadError(msg) from exc
    except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        msg = (
            f"could not download the EHC plan statistics from {url}: the server could not be "
            f"reached ({reason}). Check the internet connection (or proxy), or: "
            f"{by_hand(folder)}"
        )
        raise OfflineError(msg) from exc
    except OSError as exc:
        msg = f"could not save the EHC plan statistics in {folder}: {exc.strerror or exc}"
        raise StatisticsDownloadError(msg) from exc
    return digest.hexdigest()


def _check_zip(path: Path, folder: Path) -> None:
    """Refuse what is not a ZIP of caseload files (a web page, a changed release)."""
    from matcher.forecast.dfe_statistics import read_ehcp_statistics
    from matcher.io import InputError

    if not zipfile.is_zipfile(path):
        msg = f"the download is not a ZIP file (the address may have changed). {by_hand(folder)}"
        raise StatisticsDownloadError(msg)
    try:
        read_ehcp_statistics(path)
    except InputError as exc:
        msg = (
            "the downloaded ZIP has no caseload file sendmatch can read "
            f"({exc.problems[0].message}). {by_hand(folder)}"
        )
        raise StatisticsDownloadError(msg) from exc


def _write_manifest(folder: Path, url: str, digest: str) -> None:
    """Where and when the file came from, for whoever checks the figures later."""
    record = {
        "url": url,
        "release_page": RELEASE_PAGE,
        "file": ZIP_NAME,
        "sha256": digest,
        "downloaded": datetime.now(UTC).isoformat(timespec="seconds"),
        "licence": "Open Government Licence v3.0",
    }
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(tmp, folder / MANIFEST)
    except OSError:  # the statistics are there; only the record of them is lost
        tmp.unlink(missing_ok=True)
