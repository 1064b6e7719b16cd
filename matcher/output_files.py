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
from itertools import compress, islice, repeat
from pathlib import Path
from typing import Any, cast, overload

from matcher.sheet_format import (
    FORMULA_LEADS,
    file_format,
    neutralise_formula,
    unescape_formula,
)

__all__ = [
    "FORMULA_LEADS",
    "Cell",
    "ColumnRecords",
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


class ColumnRecords(Sequence[Mapping[str, Cell]]):
    """A table's records held as columns: what a writer that already has each column's values
    (one list per field of 25,000 placements) gives :class:`Table`, instead of a dict per row.

    CSV is written from the columns as they are; anything else that reads the records (the
    XLSX writer) gets each row as a dict, made when asked for.
    """

    def __init__(self, columns: Mapping[str, Sequence[Cell]]) -> None:
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._columns = dict(columns)
        self._length = lengths.pop() if lengths else 0

    def column(self, name: str) -> Sequence[Cell]:
        """The values of one column; a column not held is blank, as ``record.get`` gives."""
        values = self._columns.get(name)
        return [None] * self._length if values is None else values

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Cell]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Cell]]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("record index out of range")
        return {name: values[index] for name, values in self._columns.items()}

    def __iter__(self) -> Iterator[Mapping[str, Cell]]:
        names = list(self._columns)
        for row in zip(*self._columns.values(), strict=True):
            yield dict(zip(names, row, strict=True))


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


#: Rows joined into one block of text before it is written: a few megabytes at a time.
_ROWS_PER_BLOCK = 50_000
#: What makes the csv module's Excel dialect quote a cell (QUOTE_MINIMAL, ``\r\n`` line ends).
_NEEDS_QUOTES = (",", '"', "\r", "\n")


def _write_csv(table: Table, path: Path) -> None:
    """Column by column: each column's cells become CSV text in one pass of its own (each
    distinct text quoted once), and rows are joined into large blocks of text, rather than a
    Python call per cell and an encoding call per row. The bytes are exactly the csv module's
    (Excel dialect); a table of fewer than two columns, where that module writes a blank row
    specially, is left to it."""
    records = table.records
    if isinstance(records, ColumnRecords):
        columns = [records.column(c) for c in table.columns]
    else:
        columns = [[record.get(c) for record in records] for c in table.columns]
    texts = [_column_texts(values) for values in columns]
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        if len(texts) < 2:
            writer = csv.writer(fh)
            writer.writerow(table.columns)
            writer.writerows(zip(*texts, strict=True) if texts else ([] for _ in records))
            return
        fh.write(",".join(_csv_quoted(list(table.columns))) + "\r\n")
        # Never a blank row: with two columns or more, every row has a comma.
        rows = map(",".join, zip(*map(_csv_quoted, texts), strict=True))
        while block := "\r\n".join(islice(rows, _ROWS_PER_BLOCK)):
            fh.write(block + "\r\n")


def _csv_quoted(texts: list[str]) -> list[str]:
    """A column's texts as the csv module's Excel dialect writes them: in double quotes, with
    quotes doubled, only where a cell holds a comma, a double quote or a line break. Most
    columns have none anywhere, which one scan of their joined text shows; otherwise each
    distinct text is looked at once."""
    joined = "".join(texts)
    if not any(mark in joined for mark in _NEEDS_QUOTES):
        return texts
    quoted = {
        text: '"' + text.replace('"', '""') + '"'
        for text in set(texts)
        if "," in text or '"' in text or "\r" in text or "\n" in text  # as _NEEDS_QUOTES
    }
    return list(map(quoted.get, texts, texts))


def _column_texts(values: Sequence[Cell]) -> list[str]:
    """Every cell of a column as CSV text: blank for None, one decimal for a float, text
    neutralised against formulas (:func:`neutralise_formula`), anything else as ``str``.

    A column of one type (and blanks) is made into text without a Python call per cell, and
    a column of numbers, which repeats few values (costs, ranks, minutes to one decimal), one
    distinct value at a time. Only exact types take these ways (a subclass of str or float
    may be written otherwise), and not a float column holding a zero (0.0 and -0.0 are equal
    but are written differently); the rest go cell by cell.
    """
    kinds = set(map(type, values))
    blanks = type(None) in kinds
    kinds.discard(type(None))
    made: dict[Cell, str]
    if kinds == {int} or kinds == {float}:
        distinct = set(values)
        distinct.discard(None)
        if kinds == {int}:
            made = dict(zip(distinct, map(str, distinct), strict=True))
        elif 0.0 not in distinct:
            made = dict(zip(distinct, map(format, distinct, repeat(".1f")), strict=True))
        else:
            return list(map(_cell_text, values))
    elif kinds == {str}:
        texts = cast(list[str], list(set(values) - {None}) if blanks else values)
        leads = compress(texts, map(str.startswith, texts, repeat(FORMULA_LEADS)))
        made = {text: neutralise_formula(text) for text in leads}
        if not made and not blanks:
            return list(texts)
    else:
        return list(map(_cell_text, values))
    made[None] = ""
    return list(map(made.get, values, values))  # type: ignore[arg-type]


def _cell_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, str):
        return neutralise_formula(value) if value.startswith(FORMULA_LEADS) else value
    return str(value)


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
