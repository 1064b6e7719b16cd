"""Writing tables: atomically, as sheets of one workbook or as CSV files side by side.

Every output of sendmatch (placements, tailored lists, fair access allocations, planning and
forecast tables) is a list of :class:`Table` written by :func:`write_tables`, so that they all
behave alike: a file is written to a temporary name beside it and renamed in one step
(:func:`atomic_path`), so that a failed run never leaves half a file that could be taken for
a whole one; CSV is UTF-8 with a byte-order mark (Excel then shows £ and accents); text that
Excel would run as a formula is neutralised (:func:`matcher.sheet_format.neutralise_formula`)
in CSV and stored as text in XLSX.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.sheet_format import (
    FORMULA_LEADS,
    file_format,
    neutralise_formula,
    unescape_formula,
)

__all__ = [
    "FORMULA_LEADS",
    "Cell",
    "Table",
    "atomic_path",
    "check_output_path",
    "csv_companions",
    "neutralise_formula",
    "unescape_formula",
    "write_tables",
]

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """One sheet of an output workbook (or one CSV file)."""

    name: str
    columns: Sequence[str]
    records: Sequence[Mapping[str, Cell]]
    # Per-row number format for the last column (e.g. a measure/value sheet), else by column.
    row_formats: Sequence[str | None] | None = None


def _new_file_mode() -> int:
    # mkstemp makes files 0600; a finished output should get the user's usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    A half-written placement file could be mistaken for a complete one and sent to a panel, so
    on any error the temporary file is removed and ``path`` is left as it was (or absent).
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        mode = path.stat().st_mode & 0o777 if path.exists() else _new_file_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_tables(path: Path | str, tables: Sequence[Table], csv_tables: int | None = None) -> None:
    """Write tables as sheets of one XLSX, or as CSV files: the first at ``path``, the others
    beside it as ``<stem>_<sheet>.csv``. ``csv_tables`` limits how many go to CSV (a summary
    sheet has no place in a CSV). Each file is written atomically."""
    path = Path(path)
    if file_format(path) == "xlsx":
        with atomic_path(path) as tmp:
            write_workbook(tables, tmp)
        return
    for n, table in enumerate(tables[:csv_tables]):
        target = path if n == 0 else path.with_name(f"{path.stem}_{_slug(table.name)}.csv")
        with atomic_path(target) as tmp:
            _write_csv(table, tmp)


def csv_companions(path: Path | str, tables: Sequence[str]) -> list[Path]:
    """The files :func:`write_tables` writes for these sheet names at ``path``."""
    path = Path(path)
    if file_format(path) == "xlsx":
        return [path]
    return [path] + [path.with_name(f"{path.stem}_{_slug(t)}.csv") for t in tables[1:]]


def _slug(name: str) -> str:
    return "_".join(name.lower().split())


def _write_csv(table: Table, path: Path) -> None:
    """Column by column: each column's cells become text in one pass of its own, and the csv
    module's C writer takes the rows from there, rather than a Python call per cell."""
    records = table.records
    texts = [_column_texts([record.get(c) for record in records]) for c in table.columns]
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.columns)
        writer.writerows(zip(*texts, strict=True) if texts else ([] for _ in records))


def _column_texts(values: list[Cell]) -> list[str]:
    """Every cell of a column as CSV text: blank for None, one decimal for a float, text
    neutralised against formulas (:func:`neutralise_formula`), anything else as ``str``."""
    return [
        ""
        if value is None
        else f"{value:.1f}"
        if isinstance(value, float)
        else (neutralise_formula(value) if value.startswith(FORMULA_LEADS) else value)
        if isinstance(value, str)
        else str(value)
        for value in values
    ]


_NUMBER_FORMATS = {
    "travel_minutes": "0.0",
    "placement_cost": "£#,##0",
    "transport_cost": "£#,##0",
    "annual_cost": "£#,##0",
    "marginal_minutes": "0.0",
    "marginal_pounds": "£#,##0",
}
#: Number formats of a measure/value sheet's values, by unit.
SUMMARY_FORMATS: dict[str, str | None] = {
    "percent": '0.0"%"',
    "minutes": "0.0",
    "pounds": "£#,##0",
    "count": "#,##0",
    "text": None,
}
_WIDTHS = {"setting_name": 36, "reason": 60, "reasons": 70, "evidence": 70, "Measure": 52}


def write_workbook(tables: Sequence[Table], path: Path) -> None:
    """Stream every table to one workbook with XlsxWriter.

    XlsxWriter in constant-memory mode writes a row and forgets it, several times faster than
    openpyxl's write-only mode: a whole LA's tailored lists (over a million cells) in seconds.
    Text is always text: nothing starting with "=" becomes a formula, and nothing that looks
    like a web address or a number is converted.
    """
    import xlsxwriter

    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "nan_inf_to_errors": True,
    }
    with xlsxwriter.Workbook(str(path), options) as workbook:
        bold = workbook.add_format({"bold": True})
        number_formats: dict[str, Any] = {}

        def number_format(code: str | None) -> Any:
            if code is None:
                return None
            if code not in number_formats:
                number_formats[code] = workbook.add_format({"num_format": code})
            return number_formats[code]

        for table in tables:
            sheet = workbook.add_worksheet(table.name)
            for j, column in enumerate(table.columns):
                sheet.set_column(j, j, _WIDTHS.get(column, max(len(column) + 4, 12)))
            sheet.freeze_panes(1, 1)
            sheet.write_row(0, 0, table.columns, bold)
            formats = [number_format(_NUMBER_FORMATS.get(c)) for c in table.columns]
            for n, record in enumerate(table.records, start=1):
                if table.row_formats is not None:
                    formats[-1] = number_format(table.row_formats[n - 1])
                for j, column in enumerate(table.columns):
                    _write_cell(sheet, n, j, record.get(column), formats[j])


def _write_cell(sheet: Any, row: int, column: int, value: Cell, number_format: Any) -> None:
    if value is None:
        return
    if isinstance(value, str):
        sheet.write_string(row, column, value)
    elif isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    else:
        sheet.write_number(row, column, value, number_format)


def check_output_path(
    path: Path | str, inputs: Sequence[Path | str] = (), suffixes: Sequence[str] | None = None
) -> str | None:
    """Why ``path`` cannot take the output, or None: checked before any work is done.

    ``suffixes`` (lower case, with the dot) are the endings the output may have; by default a
    table's, ``.csv`` or ``.xlsx``. Other outputs, such as the HTML panel pack, name theirs.
    """
    path = Path(path)
    if suffixes is None:
        wanted = ".csv or .xlsx"
        try:
            file_format(path)
        except ValueError as exc:
            return str(exc)
    else:
        wanted = " or ".join(suffixes)
        if path.suffix.lower() not in suffixes:
            return f"{path.name}: the file name must end in {wanted} (got {path.suffix!r})"
    if path.is_dir():
        return f"{path} is a folder; give a file name ending in {wanted}"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    resolved = path.resolve()
    for other in inputs:
        if Path(other).resolve() == resolved:
            return f"{path.name} is also an input file; choose another name for the output"
    return None
