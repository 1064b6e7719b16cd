"""What sendmatch's tables look like on disk, for reading and writing alike.

A table is a ``.csv`` file or the first sheet of an ``.xlsx`` workbook; columns are found by
Excel's letters in messages; and text that a spreadsheet would run as a formula is written
with a leading apostrophe, which reading drops again, so that ids survive a round trip. The
readers (:mod:`matcher.input_tables`) and the writers (:mod:`matcher.output_files`) both
keep to these rules, so they live here, apart from both.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

FileFormat = Literal["csv", "xlsx"]
SUPPORTED_SUFFIXES: dict[str, FileFormat] = {".csv": "csv", ".xlsx": "xlsx"}


def file_format(path: Path) -> FileFormat:
    """The format implied by a file's extension; ValueError in plain English otherwise."""
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return SUPPORTED_SUFFIXES[suffix]
    if suffix in {".xls", ".xlsm", ".xlsb", ".ods"}:
        raise ValueError(
            f"{path.name}: {suffix} files are not supported; in Excel use File > Save As and "
            "choose 'Excel Workbook (.xlsx)' or 'CSV UTF-8 (.csv)'"
        )
    raise ValueError(f"{path.name}: the file name must end in .csv or .xlsx (got {suffix!r})")


def column_letter(index: int) -> str:
    """0 → A, 27 → AB: how Excel users find a column."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


# OWASP's rule against CSV injection: Excel runs a cell starting with one of these as a
# formula (=HYPERLINK(...), +1+cmd|...), so a text cell starting with one gets an apostrophe,
# which Excel shows and never runs. Child ids, URNs and setting names come from users' files.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_formula(text: str) -> str:
    """``text`` as a CSV cell that spreadsheet programs show and never evaluate.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    ``'``, except a plain number such as ``-0.71`` (a longitude), which Excel reads as that
    number and which must stay one. Only text is ever passed: numbers are written as numbers.
    """
    if text.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape_formula(text: str) -> str:
    """Undo :func:`neutralise_formula` on reading, so an id written out and read back is the
    same id: a leading ``'`` before one of :data:`FORMULA_LEADS` is dropped."""
    if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_LEADS):
        return text[1:]
    return text
