"""Reading an LA officer's table (CSV or XLSX) within limits, and saying what is wrong with it.

The people who make these files are SEND officers working in Excel, not programmers. So
reading is forgiving about form (column case and spacing, Excel's habit of turning numbers
into floats and text into dates) and strict about meaning: every problem in a file is
collected as an :class:`InputProblem`, with the row number the user sees in Excel (header =
row 1) and the column to fix, and the whole file is rejected (:class:`InputError`), so that a
placement round never runs on half its data. Messages are plain English.

A file is read only within :class:`matcher.read_limits.ReadLimits` (rows, columns, size, and a
workbook's size once unzipped), checked before the work is done; beyond them the file is
refused with an ordinary problem saying what to change. Only the columns a reader asks for
are held: a caseload export's other columns (names, addresses) are only looked at, a block of
rows at a time, to see whether a row is blank.

A CSV is read by pyarrow (:mod:`matcher.arrow_csv`) where it reads the file exactly as
Python's csv module would, else by the csv module; a workbook by openpyxl in its streaming
mode. Either way the same cells reach the same checks.

A table is held as columns (:class:`InputTable`), which the caseload loaders check a column
at a time (:mod:`matcher.caseload_columns`); the other readers (tariffs, fair access history,
forecast inputs) take it row by row (:attr:`InputTable.rows`) through
:class:`matcher.row_checks.RowCheck`.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import itertools
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path

from matcher.cell_parsers import normalise_column
from matcher.read_limits import (
    EXCEL_MAX_COLUMNS,
    LimitExceeded,
    ReadLimits,
    check_file_size,
    check_xlsx,
    raise_hint,
    too_many_rows,
)
from matcher.sheet_format import column_letter, file_format, unescape_formula

#: Rows gathered into one block of columns when a file is read row by row.
_BLOCK_ROWS = 4096


# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with an input file, located as the user would look for it.

    ``row`` counts as Excel and text editors do (the header is row 1, the first data row is
    row 2); None for problems with the whole file. ``field`` is the column to fix, if one.
    """

    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(self.field if self.row is not None else f"column {self.field}")
        return f"{', '.join(where)}: {self.message}"


class InputError(Exception):
    """Raised with every problem found, so the user can fix a file in one pass, not one a run."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def raise_if(problems: list[InputProblem]) -> None:
    """Raise :class:`InputError` with ``problems``, if there are any."""
    if problems:
        raise InputError(problems)


def file_problem(path: Path, message: str, row: int | None = None) -> InputError:
    """An error about a whole file (or one row of it), not a cell."""
    return InputError([InputProblem(path.name, row, None, message)])


def duplicate(
    file: str, column: str, value: str | None, row: int, first_rows: dict[str, int]
) -> InputProblem | None:
    """The problem of ``value`` appearing again in a column that must be unique, naming the
    row it first appeared on (recorded in ``first_rows`` as rows go by)."""
    if value is None:
        return None
    if value in first_rows:
        return InputProblem(
            file, row, column, f"duplicate {column} {value!r}: also on row {first_rows[value]}"
        )
    first_rows[value] = row
    return None


# --------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class Row:
    """One row of a table: its number as the user sees it (header = 1) and its non-blank cells
    (normalised column name → trimmed text)."""

    number: int
    values: dict[str, str]

    def get(self, column: str) -> str | None:
        return self.values.get(column)


@dataclass(frozen=True)
class InputTable:
    """A table's non-blank rows, held as columns.

    ``columns`` are every named column in the file, in order (for column checks); ``cells``
    holds the kept ones, each a list with one trimmed text per row ("" where blank);
    ``numbers`` are the rows' numbers as the user sees them (blank rows are skipped but
    counted, so a number is always the one Excel shows).
    """

    file: str
    columns: tuple[str, ...]
    numbers: list[int]
    cells: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.numbers)

    def column(self, name: str) -> list[str]:
        """A kept column's texts, or blanks if the file has no such column."""
        found = self.cells.get(name)
        return found if found is not None else [""] * len(self.numbers)

    def row(self, index: int) -> Row:
        return Row(
            self.numbers[index],
            {name: texts[index] for name, texts in self.cells.items() if texts[index]},
        )

    @cached_property
    def rows(self) -> tuple[Row, ...]:
        return tuple(self.row(i) for i in range(len(self.numbers)))


def read_table(
    path: Path | str,
    limits: ReadLimits | None = None,
    keep: Callable[[str], bool] | None = None,
) -> InputTable:
    """Read the first sheet (XLSX) or the file (CSV) into columns of trimmed text.

    Rows are counted as they are read, so that a file beyond ``limits`` (default: from the
    environment, see :mod:`matcher.read_limits`) is refused before it fills memory. Only
    columns for which ``keep`` is true are held (all by default).
    """
    path = Path(path)
    try:
        kind = file_format(path)
    except ValueError as exc:
        raise file_problem(path, str(exc).removeprefix(f"{path.name}: ")) from None
    if not path.exists():
        raise file_problem(path, f"file not found: {path}")
    if path.is_dir():
        raise file_problem(path, f"{path} is a folder, not a file")
    limits = _read_limits(path, limits)
    try:
        if kind == "csv":
            return _read_csv(path, limits, keep)
        with _xlsx_records(path, limits) as records:
            return _table_of_records(path, records, limits, keep)
    except LimitExceeded as exc:
        raise file_problem(path, exc.message, exc.row) from None
    except PermissionError:
        raise file_problem(
            path, "permission denied (if the file is open in Excel, close it and try again)"
        ) from None
    except OSError as exc:
        raise file_problem(path, f"could not be read: {exc.strerror or exc}") from None


def check_columns(
    table: InputTable,
    known: set[str],
    required: Sequence[str | tuple[str, ...]],
    is_known: Callable[[str], bool] = lambda _: False,
) -> list[InputProblem]:
    """Missing required columns, and misspelt optional ones.

    A misspelt column (``prefrences``) would otherwise be ignored like any extra column, and a
    round would run silently without the data in it; so a near-miss of a known column that is
    absent is a problem. Other extra columns are ignored (LA exports carry many).
    """
    present = set(table.columns)
    problems = []
    for need in required:
        options = (need,) if isinstance(need, str) else need
        if not present.intersection(options):
            wanted = " or ".join(repr(o) for o in options)
            problems.append(
                InputProblem(
                    table.file,
                    None,
                    options[0],
                    f"required column {wanted} is missing; columns found: "
                    f"{', '.join(table.columns) or 'none'}",
                )
            )
    if "latitude" in known and not (
        {"latitude", "longitude"} <= present or {"easting", "northing"} <= present
    ):
        problems.append(
            InputProblem(
                table.file,
                None,
                "latitude",
                "location columns are missing: give latitude and longitude (WGS84 degrees), "
                "or easting and northing (British National Grid metres)",
            )
        )
    absent = sorted(known - present)
    for column in table.columns:
        if column in known or is_known(column):
            continue
        close = difflib.get_close_matches(column, absent, n=1, cutoff=0.85)
        if close:
            problems.append(
                InputProblem(
                    table.file,
                    None,
                    column,
                    f"column {column!r} is not recognised; did you mean {close[0]!r}?",
                )
            )
    return problems


# --------------------------------------------------------------------------------------------
# Cells


def cell_text(value: object) -> str:
    """A cell as the text the user typed, undoing Excel's conversions (7 → 7.0, dates, times)
    and the apostrophe sendmatch's CSV writers put before formula-like text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):  # "7:30" in a year_places cell becomes 07:30 in Excel
        return f"{value.hour}:{value.minute}"
    return unescape_formula(str(value).strip()).strip()


def _cell_texts(texts: list[str], apostrophes: bool) -> list[str]:
    """:func:`cell_text` of a column of CSV text; ``apostrophes``: whether any text holds one
    (only then can a formula sendmatch escaped need its apostrophe dropped)."""
    stripped = list(map(str.strip, texts))
    if apostrophes:
        return [unescape_formula(text).strip() for text in stripped]
    return stripped


# --------------------------------------------------------------------------------------------
# Reading


def _read_limits(path: Path, limits: ReadLimits | None) -> ReadLimits:
    if limits is not None:
        return limits
    try:
        return ReadLimits.from_environment()
    except ValueError as exc:
        raise file_problem(path, f"cannot be read: {exc}") from None


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without Excel's BOM), else Windows-1252: Excel's plain "CSV (Comma
    delimited)" on Windows writes cp1252, which would otherwise fail on £ or curly apostrophes
    in names. Decided by streaming the file once, so that no row is read twice."""
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise file_problem(path, "could not be read: the text encoding is not UTF-8 or Windows-1252")


def _read_csv(path: Path, limits: ReadLimits, keep: Callable[[str], bool] | None) -> InputTable:
    """pyarrow's reader where it reads the file as the csv module would, else the csv module."""
    from matcher.arrow_csv import ArrowCsv, NotPlainCsv

    check_file_size(path, limits)
    encoding = _csv_encoding(path)
    try:
        arrow = ArrowCsv(path, encoding)
    except NotPlainCsv:
        pass
    else:
        try:
            header = [cell_text(cell) for cell in arrow.header]
            width = _header_width(header, limits)

            def blocks(named: Sequence[int], held: Sequence[int]) -> Iterator[_Block]:
                for size, filled, raw in arrow.blocks(named, held):
                    yield _Block(size, filled, {i: _cell_texts(*raw[i]) for i in held})

            return _table(path, header[:width], blocks, limits, keep)
        except NotPlainCsv:
            pass
        finally:
            arrow.close()
    with _csv_records(path, encoding, limits) as records:
        return _table_of_records(path, records, limits, keep)


@contextmanager
def _csv_records(path: Path, encoding: str, limits: ReadLimits) -> Iterator[Iterator[list[str]]]:
    with path.open(newline="", encoding=encoding) as fh:

        def records() -> Iterator[list[str]]:
            try:
                reader = csv.reader(fh)
                header = [cell_text(cell) for cell in next(reader, [])]
                width = _header_width(header, limits)
                yield header[:width]
                for record in reader:  # cells beyond the named columns are ignored
                    yield [cell_text(cell) for cell in record[:width]]
            except csv.Error as exc:
                raise file_problem(path, f"could not be read as CSV: {exc}") from None

        yield records()


@contextmanager
def _xlsx_records(path: Path, limits: ReadLimits) -> Iterator[Iterator[list[str]]]:
    """The first sheet's rows as text, read in openpyxl's streaming mode after
    :func:`matcher.read_limits.check_xlsx` has bounded what opening the workbook can cost."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    unreadable = (
        "could not be read as an Excel .xlsx workbook (is it password-protected, or another "
        "format renamed to .xlsx?)"
    )
    # What a damaged or foreign file raises from zipfile, zlib or openpyxl (SyntaxError is
    # ElementTree's ParseError: a part that is not well-formed XML).
    broken: tuple[type[Exception], ...] = (InvalidFileException, zipfile.BadZipFile, KeyError)
    broken += (ValueError, TypeError, zlib.error, EOFError, NotImplementedError, RuntimeError)
    broken += (SyntaxError,)
    opening: tuple[type[Exception], ...] = (*broken, OSError)  # OSError: a truncated file
    check_file_size(path, limits)
    try:
        check_xlsx(path, limits)
        workbook = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except PermissionError:
        raise
    except opening as exc:
        raise file_problem(path, f"{unreadable}: {exc}") from None
    try:
        if not workbook.worksheets:
            yield iter(())
            return
        sheet = workbook.worksheets[0]
        # The sheet's stated size is not trusted: it may claim more columns than the data has
        # (every row would be padded out to them) or fewer rows (the rest would be dropped).
        # Rows are read as wide as the named columns: a row's cells beyond them are ignored
        # and never padded out; check_xlsx has bounded how many cells a row holds.
        sheet.reset_dimensions()

        def records() -> Iterator[list[str]]:
            try:
                first = sheet.iter_rows(max_row=1, max_col=EXCEL_MAX_COLUMNS, values_only=True)
                header = [cell_text(v) for v in next(first, ())]
                width = _header_width(header, limits)
                yield header[:width]
                if width:
                    for values in sheet.iter_rows(min_row=2, max_col=width, values_only=True):
                        yield [cell_text(v) for v in values]
            except broken as exc:
                raise file_problem(path, f"{unreadable}: {exc}") from None

        yield records()
    finally:
        workbook.close()


def _header_width(header: Sequence[str], limits: ReadLimits) -> int:
    """How many columns the header row names, up to its last named one, within the limit."""
    width = next((n for n in range(len(header), 0, -1) if header[n - 1]), 0)
    if width > limits.max_columns:
        raise LimitExceeded(
            f"the first row names columns up to {column_letter(width - 1)} ({width:,} "
            f"columns); sendmatch reads at most {limits.max_columns:,} columns: delete unused "
            f"columns, or {raise_hint('max_columns')}",
            1,
        )
    return width


def _table_of_records(
    path: Path,
    records: Iterator[list[str]],
    limits: ReadLimits,
    keep: Callable[[str], bool] | None,
) -> InputTable:
    """A table from rows of cell text, the first of them the header, gathered into blocks."""
    header = next(records, [])
    width = len(header)

    def blocks(named: Sequence[int], held: Sequence[int]) -> Iterator[_Block]:
        # A file that fails part-way is refused at the failure only after the rows before it
        # have been counted: a row beyond the limit, if it comes first, is what is reported.
        while True:
            chunk: list[list[str]] = []
            try:
                for record in itertools.islice(records, _BLOCK_ROWS):
                    chunk.append(record)
            except InputError as failure:
                if chunk:
                    yield _block(chunk, width, named, held)
                raise failure from None
            if chunk:
                yield _block(chunk, width, named, held)
            if len(chunk) < _BLOCK_ROWS:
                return

    return _table(path, header, blocks, limits, keep)


@dataclass(frozen=True)
class _Block:
    """Consecutive rows of a file: how many, those with text in a named column (counted from
    the block's first row), and the held columns' texts (by column index, every row)."""

    size: int
    filled: Sequence[int]
    texts: dict[int, list[str]]


def _block(
    records: list[list[str]], width: int, named: Sequence[int], held: Sequence[int]
) -> _Block:
    columns = [[r[i] if i < len(r) else "" for r in records] for i in range(width)]
    filled = _filled_rows([columns[i] for i in named], len(records))
    return _Block(len(records), filled, {i: columns[i] for i in held})


def _table(
    path: Path,
    header: Sequence[str],
    blocks: Callable[[Sequence[int], Sequence[int]], Iterator[_Block]],
    limits: ReadLimits,
    keep: Callable[[str], bool] | None,
) -> InputTable:
    """Check the header and gather the data rows that have something in a named column.

    ``blocks(named, held)`` reads the rows after the header, a block at a time, given the
    indexes of the named columns (a row with text in none of them is blank and skipped) and
    of those to hold. A row beyond ``limits.max_rows`` is refused, naming the first row too
    many, before the next block is read.
    """
    if not header or not any(header):
        raise file_problem(path, "the first row must hold the column names, but it is empty")
    names = [normalise_column(h) for h in header]
    raise_if(_repeated_columns(path, names))
    named = [(i, name) for i, name in enumerate(names) if name]
    held = [(i, name) for i, name in named if keep is None or keep(name)]
    numbers: list[int] = []
    cells: dict[str, list[str]] = {name: [] for _, name in held}
    offset = 2  # the row number of the block's first row
    for block in blocks([i for i, _ in named], [i for i, _ in held]):
        kept = block.filled
        room = limits.max_rows - len(numbers)
        if len(kept) > room:
            raise LimitExceeded(too_many_rows(limits), offset + kept[room])
        numbers.extend(offset + k for k in kept)
        whole = len(kept) == block.size
        for i, name in held:
            texts = block.texts[i]
            cells[name].extend(texts if whole else [texts[k] for k in kept])
        offset += block.size
    return InputTable(path.name, tuple(name for _, name in named), numbers, cells)


def _filled_rows(columns: list[list[str]], size: int) -> Sequence[int]:
    """The rows with text in at least one of ``columns`` (of ``size`` rows each)."""
    if not columns:
        return []
    # A row's cells joined are blank only if every one of them is (found at C speed).
    joined = list(map("".join, zip(*columns, strict=True)))
    return range(size) if all(joined) else [k for k, text in enumerate(joined) if text]


def _repeated_columns(path: Path, names: Sequence[str]) -> list[InputProblem]:
    problems: list[InputProblem] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        if name in seen:
            problems.append(
                InputProblem(
                    path.name,
                    None,
                    name,
                    f"appears twice (columns {column_letter(seen[name])} and "
                    f"{column_letter(index)})",
                )
            )
        else:
            seen[name] = index
    return problems
