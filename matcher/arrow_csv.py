"""A CSV's cells column by column, read by pyarrow exactly as Python's csv module reads them.

Python's :mod:`csv` reader hands over one row at a time, and turning 25,000 rows of a
caseload into cells that way takes a large share of a whole round's loading time; pyarrow's
CSV reader does the same in C, a block at a time, in a few milliseconds. The two agree on
every file that pyarrow reads as a rectangle of text (quoting, doubled quotes, line endings,
embedded newlines; tests/test_columnar_loading.py compares them on thousands of random
files). pyarrow refuses files the csv module tolerates (a row longer or shorter than the
header) and ignores a limit the csv module enforces (131,072 characters in a cell). For those
files :class:`NotPlainCsv` is raised, and the caller reads the file the slower way, so that
what a user sees never depends on which reader ran.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: Columns given a type up front; a file with more physical columns is read the slower way
#: (pyarrow would guess the type of the others, and turn "007" into 7).
TYPED_COLUMNS = 1024
BLOCK_BYTES = 1 << 20


#: The characters Python's ``str.strip`` removes (``str.isspace``), as code points and ranges:
#: a cell of nothing else is blank once trimmed.
PYTHON_WHITESPACE = (
    (0x09, 0x0D),
    (0x1C, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
#: A cell with any other character has text in it (an RE2 pattern, as pyarrow matches).
NOT_BLANK = "[^" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in PYTHON_WHITESPACE) + "]"


# The compute functions are called by name through ``pyarrow._compute.call_function`` (which
# ``pyarrow.compute`` re-exports): importing ``pyarrow.compute`` itself builds a Python wrapper
# for each of its hundreds of functions, a tenth of a caseload's whole loading time.


class NotPlainCsv(Exception):
    """pyarrow cannot read this file exactly as the csv module would: read it that way."""


class ArrowCsv:
    """A CSV file opened by pyarrow: its header row, then blocks of the columns asked for.

    Cells are as the csv module returns them: untrimmed, blank as "". Raises
    :class:`NotPlainCsv`, on opening or part-way through the blocks, where pyarrow and the
    csv module could disagree.
    """

    def __init__(self, path: Path, encoding: str) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        self._errors = (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeError)
        read_options = pa_csv.ReadOptions(
            autogenerate_column_names=True,
            block_size=BLOCK_BYTES,
            encoding="utf8" if encoding == "utf-8-sig" else encoding,  # pyarrow drops a BOM
        )
        parse_options = pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False)
        convert_options = pa_csv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(TYPED_COLUMNS)},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            self._reader = pa_csv.open_csv(
                path,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
                # The C library's allocator gives a block's memory back when it is done with;
                # pyarrow's default (mimalloc) kept twice the file's size for the process's life.
                memory_pool=pa.system_memory_pool(),
            )
            if any(field.type != pa.string() for field in self._reader.schema):
                raise NotPlainCsv("more columns than are typed as text")
            self._first = self._reader.read_next_batch()
        except self._errors as exc:
            raise NotPlainCsv(str(exc)) from None
        except StopIteration:
            raise NotPlainCsv("no rows") from None
        _check_cell_sizes(self._first)
        self.header: list[str] = [column[0].as_py() for column in self._first.columns]

    def blocks(
        self, named: Sequence[int], held: Sequence[int]
    ) -> Iterator[tuple[int, Sequence[int], dict[int, tuple[list[str], bool]]]]:
        """The data rows (the header row aside), a block at a time: how many rows, those with
        text in a ``named`` column, and the ``held`` columns' texts, each with whether any
        holds an apostrophe (so that only those are looked at for formulas sendmatch escaped).

        Columns not held never become Python strings: a caseload export's names and addresses
        are looked at only to see whether a row is blank.
        """
        try:
            yield _block(self._first.slice(1), named, held)
            for batch in self._reader:
                _check_cell_sizes(batch)
                yield _block(batch, named, held)
        except self._errors as exc:
            raise NotPlainCsv(str(exc)) from None

    def close(self) -> None:
        self._reader.close()


def _check_cell_sizes(batch: Any) -> None:
    """The csv module refuses a cell beyond its limit ("field larger than field limit"); a
    byte count within the limit means the characters are within it too."""
    from pyarrow._compute import call_function

    limit = csv.field_size_limit()
    for column in batch.columns:
        longest = call_function("max", [call_function("binary_length", [column])]).as_py()
        if longest is not None and longest > limit:
            raise NotPlainCsv("a cell beyond the csv module's field size limit")


def _block(
    batch: Any, named: Sequence[int], held: Sequence[int]
) -> tuple[int, Sequence[int], dict[int, tuple[list[str], bool]]]:
    from pyarrow._compute import MatchSubstringOptions, call_function

    filled: Any = None
    for i in named:
        has_text = call_function(
            "match_substring_regex", [batch.column(i)], MatchSubstringOptions(NOT_BLANK)
        )
        filled = has_text if filled is None else call_function("or", [filled, has_text])
    size = batch.num_rows
    rows: Sequence[int]
    if filled is None:
        rows = []
    elif call_function("all", [filled]).as_py() is not False:
        rows = range(size)
    else:
        rows = call_function("indices_nonzero", [filled]).to_pylist()
    return size, rows, {i: _texts(batch.column(i)) for i in held}


def _texts(column: Any) -> tuple[list[str], bool]:
    from pyarrow._compute import MatchSubstringOptions, call_function

    # Not through numpy: pyarrow turns text into a numpy array by way of pandas, whose import
    # alone takes longer than reading a whole LA's caseload.
    texts: list[str] = column.to_pylist()
    quoted = call_function("match_substring", [column], MatchSubstringOptions("'"))
    return texts, bool(call_function("any", [quoted]).as_py())
