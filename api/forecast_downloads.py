"""The files a forecast run keeps for download: the spreadsheet ``sendmatch forecast --out
forecast.xlsx`` writes and witan.send's ``Output_*.csv`` files ``--out DIR`` writes, zipped.

They are written by the command line's own writers (:mod:`matcher.forecast.outputs`) as the run
finishes (:func:`api.forecast_jobs.execute_forecast_run`) and kept as ``RunOutput`` rows, so
every download of a forecast is the same file, made on the run's day, and costs one read. They
hold LA-wide counts only, like the forecast's tables.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from io import BytesIO
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.db import Database, Run, RunOutput, RunStatus
from matcher.forecast.outputs import WORKBOOK_NAME, ForecastTables, write_forecast, write_table

#: The files a forecast run keeps (``RunOutput.name``): the command line's spreadsheet, and
#: witan.send's ``Output_*.csv`` files in one zip.
WORKBOOK_DOWNLOAD = WORKBOOK_NAME
CSV_DOWNLOAD = "forecast-csv.zip"

log = logging.getLogger(__name__)


def forecast_downloads(tables: ForecastTables) -> dict[str, bytes]:
    """The forecast's files as the command line writes them, by ``RunOutput.name``: the
    spreadsheet of ``--out forecast.xlsx`` and a zip of the ``Output_*.csv`` files of
    ``--out DIR``. The command line's writers make them (text neutralised as in every
    sendmatch CSV), so a download is the file an LA's reports already read."""
    with tempfile.TemporaryDirectory(prefix="sendmatch-forecast-files-") as tmp:
        folder = Path(tmp)
        workbook = folder / WORKBOOK_NAME
        write_forecast(tables, workbook)
        csv_files = []
        for name, frame in tables.witan.items():
            write_table(frame, folder / name, name)
            csv_files.append(folder / name)
        return {WORKBOOK_DOWNLOAD: workbook.read_bytes(), CSV_DOWNLOAD: _zipped(csv_files)}


def _zipped(paths: Sequence[Path]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, arcname=path.name)
    return buffer.getvalue()


def keep_downloads(database: Database, run_id: int, files: Mapping[str, bytes]) -> None:
    """Store the run's files before it is marked done, so a done forecast always has them.

    Its own transaction (the run's results are saved by :func:`api.jobs.execute_run`); the
    endpoints serve them only once the run is done, and a run that ends otherwise has them
    removed (:func:`forget_downloads_unless_done`)."""
    with database.sessions() as session, session.begin():
        session.execute(delete(RunOutput).where(RunOutput.run_id == run_id))
        session.add_all(
            RunOutput(run_id=run_id, name=name, data=data) for name, data in files.items()
        )


def forget_downloads_unless_done(database: Database, run_id: int) -> None:
    """A cancelled or failed forecast keeps nothing, its files included: the cancel can land
    between :func:`keep_downloads` and the run's results being saved."""
    ended = (RunStatus.CANCELLED.value, RunStatus.FAILED.value)
    try:
        with database.sessions() as session, session.begin():
            status = session.scalar(select(Run.status).where(Run.id == run_id))
            if status in ended:
                session.execute(delete(RunOutput).where(RunOutput.run_id == run_id))
    except Exception as exc:  # never served (the run is not done); worth a line in the log
        log.warning("forecast run %d: its files were not removed (%s)", run_id, type(exc).__name__)


def stored_download(session: Session, run_id: int, name: str) -> bytes | None:
    """A run's kept file, or None: a forecast made before its files were kept has none."""
    return session.scalar(
        select(RunOutput.data).where(RunOutput.run_id == run_id, RunOutput.name == name)
    )
