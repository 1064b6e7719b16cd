"""Running the matcher for the API: uploaded files to validated inputs, and placement runs.

The API computes nothing itself: it hands the stored files to ``matcher.io.load_round`` and the
placement to ``matcher.placement.place``, exactly as ``sendmatch place`` does, so the web and the
command line can never disagree about a child.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from api.db import Caseload, Database, Run, RunResult, RunStatus, utcnow
from matcher import io
from matcher.cli import build_travel_matrix
from matcher.costs import Tariffs
from matcher.eligibility import EligibilityConfig
from matcher.placement import PlacementConfig, place

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadedFile:
    """A file as the user sent it: its name (shown in every problem) and its bytes."""

    name: str
    data: bytes


def safe_name(name: str | None, fallback: str) -> str:
    """The user's file name without any folder part, so it cannot write outside the temp dir."""
    base = Path((name or "").replace("\\", "/")).name.strip()
    return base[:255] if base and base not in {".", ".."} else fallback


def load_uploaded_round(
    children: UploadedFile,
    settings: UploadedFile,
    tariffs: UploadedFile | None,
    year_start: date,
) -> io.RoundInputs:
    """``matcher.io.load_round`` on uploaded files; raises ``io.InputError`` with every problem.

    Each file goes to its own folder of a private temporary directory, keeping the user's file
    name (problems name the file the user knows) even if two uploads share a name.
    """
    with tempfile.TemporaryDirectory(prefix="sendmatch-upload-") as tmp:
        paths: list[Path | None] = []
        for role, upload in (("children", children), ("settings", settings), ("tariffs", tariffs)):
            if upload is None:
                paths.append(None)
                continue
            folder = Path(tmp) / role
            folder.mkdir()
            path = folder / upload.name
            path.write_bytes(upload.data)
            paths.append(path)
        children_path, settings_path, tariffs_path = paths
        assert children_path is not None and settings_path is not None
        return io.load_round(children_path, settings_path, tariffs_path, year_start=year_start)


def caseload_inputs(caseload: Caseload) -> io.RoundInputs:
    """Re-read a stored caseload with the same reader and school year that validated it."""
    tariffs = (
        UploadedFile(caseload.tariffs_name, caseload.tariffs_data)
        if caseload.tariffs_name is not None and caseload.tariffs_data is not None
        else None
    )
    return load_uploaded_round(
        UploadedFile(caseload.children_name, caseload.children_data),
        UploadedFile(caseload.settings_name, caseload.settings_data),
        tariffs,
        caseload.year_start,
    )


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe values: numpy scalars (from the solver's arrays) become Python numbers."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in record.items()}


def execute_placement_run(database: Database, run_id: int) -> None:
    """Run a queued placement and store its results, all in one transaction at the end.

    Meant for a background task. Results and the ``done`` status are committed together, so a
    reader sees either no results or all of them; on any failure the run is marked ``failed``
    with the error and nothing of its results is kept. Only the run id and status are logged:
    error text may quote an input file and is kept in the database, not in logs.
    """
    with database.sessions() as session:
        run = session.get(Run, run_id)
        if run is None or run.status != RunStatus.QUEUED:
            return
        run.status = RunStatus.RUNNING.value
        run.started_at = utcnow()
        session.commit()
        caseload_id, options = run.caseload_id, dict(run.options)

    log.info("run %d started", run_id)
    try:
        with database.sessions() as session:
            caseload = session.get_one(Caseload, caseload_id)
            inputs = caseload_inputs(caseload)
        config = PlacementConfig(
            eligibility=EligibilityConfig(
                primary_limit_minutes=float(options["primary_limit_minutes"]),
                secondary_limit_minutes=float(options["secondary_limit_minutes"]),
            ),
            tariffs=Tariffs.from_bands(inputs.tariffs),
            home_la_code=options.get("la_code"),
        )
        travel = build_travel_matrix(
            inputs.children, inputs.settings, config.eligibility.cutoff_minutes
        )
        result = place(inputs.children, inputs.settings, travel.matrix, config)
        records = [_plain(r) for r in io.placement_records(result)]
        with database.sessions() as session, session.begin():
            run = session.get_one(Run, run_id)
            session.add_all(
                RunResult(run_id=run_id, child_id=str(r["child_id"]), result=r) for r in records
            )
            run.summary = _plain(asdict(result.summary))
            run.status = RunStatus.DONE.value
            run.finished_at = utcnow()
    except Exception as exc:
        log.warning("run %d failed (%s)", run_id, type(exc).__name__)
        with database.sessions() as session, session.begin():
            # The results transaction was rolled back; delete anyway in case of a partial write
            # by a future multi-step writer, then record the failure.
            for row in session.scalars(select(RunResult).where(RunResult.run_id == run_id)):
                session.delete(row)
            run = session.get_one(Run, run_id)
            run.status = RunStatus.FAILED.value
            run.error = f"{type(exc).__name__}: {exc}"
            run.finished_at = utcnow()
        return
    log.info("run %d done", run_id)
