"""Limits on what one input file may hold, checked before the work of reading it is done.

Why: an upload of a few megabytes can otherwise take the whole server's memory. An ``.xlsx``
file is a zip of XML parts: a 1 MB workbook can unzip to gigabytes (a "zip bomb"), and the
reader keeps some parts whole in memory (shared strings, styles), where each XML element costs
hundreds of bytes. A CSV has no compression but can hold millions of rows. So before a workbook
is opened its zip directory, the size of every part once unzipped and the shape of its XML are
checked without inflating anything into memory, and while a file's rows are read they are
counted and reading stops at the limit. Every refusal says what to change.

The limits that depend on the LA are :class:`ReadLimits`, with defaults generous for the
largest English LA (25,000+ children); pass one to :func:`matcher.io.load_round` (or the other
``load_*`` functions), or set the environment variables below for the ``sendmatch`` commands
and the server, which read them when no limits are passed:

===============================  ==========  ===================================================
variable                         default     what it limits
===============================  ==========  ===================================================
``SENDMATCH_MAX_ROWS``           100000      rows of data in a file (the header row aside)
``SENDMATCH_MAX_COLUMNS``        200         columns in a file
``SENDMATCH_MAX_FILE_MB``        100         a file's size as stored (CSV or XLSX)
``SENDMATCH_MAX_UNZIPPED_MB``    250         an XLSX's size once unzipped (its XML takes 2 to
                                             4 times the space of the same rows as CSV)
``SENDMATCH_MAX_XLSX_RATIO``     200         how many times a part of an XLSX may grow when
                                             unzipped (parts over 1 MB unzipped)
===============================  ==========  ===================================================

The rest are Excel's own limits or guards on the workbook's structure that no real workbook
comes near (module constants below); a file beyond them is refused as damaged.
"""

from __future__ import annotations

import os
import posixpath
import struct
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO
from xml.parsers import expat

MB = 1024 * 1024  # as Windows Explorer counts a megabyte

DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_COLUMNS = 200
DEFAULT_MAX_FILE_MB = 100
DEFAULT_MAX_UNZIPPED_MB = 250
DEFAULT_MAX_XLSX_RATIO = 200

# Excel's own maxima (Excel specifications and limits): a sheet beyond them was not made by
# Excel, and openpyxl would otherwise pad rows out to whatever a cell reference claims.
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384

# Workbook structure. openpyxl keeps every part but the worksheets whole in memory as objects,
# at up to ~650 bytes an XML element (measured: a 5 MB styles.xml of empty cell formats took
# 650 MB), so those parts are bounded by element count rather than bytes. The shared strings
# (every distinct text in the workbook, ~160 bytes a string) get a larger allowance: a whole
# LA's caseload has a few hundred thousand distinct texts at most.
MAX_PART_ELEMENTS = 300_000
MAX_SHARED_STRING_ELEMENTS = 3_000_000
MAX_SHEET_METADATA_ELEMENTS = 300_000  # merged cells, validations, formats: outside the data
MAX_ROW_ELEMENTS = 100_000  # a row's cells and their values, parsed together by openpyxl
MAX_XML_DEPTH = 64  # Office XML nests about 10 deep; deep nesting exhausts parsers' stacks
MAX_ZIP_DIRECTORY_BYTES = MB  # a workbook's zip directory lists tens of parts in a few KB
RATIO_CHECKED_FROM_BYTES = MB  # small parts may compress very well, and cost nothing

_ENVIRONMENT: dict[str, str] = {
    "max_rows": "SENDMATCH_MAX_ROWS",
    "max_columns": "SENDMATCH_MAX_COLUMNS",
    "max_file_mb": "SENDMATCH_MAX_FILE_MB",
    "max_unzipped_mb": "SENDMATCH_MAX_UNZIPPED_MB",
    "max_xlsx_ratio": "SENDMATCH_MAX_XLSX_RATIO",
}

_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
# Parts openpyxl opens by fixed name whatever the workbook says they are.
_FIXED_PARTS = frozenset(
    {
        "[Content_Types].xml",
        "_rels/.rels",
        "docProps/core.xml",
        "docProps/app.xml",
        "docProps/custom.xml",
        "xl/styles.xml",
        "xl/theme/theme1.xml",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
    }
)
# Relationships openpyxl never follows when it reads values (read-only, no external links):
# a part reached only through these is not opened, so it is not scanned either. A workbook's
# pivot cache holds a copy of the pivot table's source rows, as many elements as a big sheet.
_UNREAD_RELATIONS = frozenset(
    {
        "calcChain",
        "comments",
        "connections",
        "externalLink",
        "image",
        "pivotCacheDefinition",
        "pivotCacheRecords",
        "pivotTable",
        "printerSettings",
        "queryTable",
        "table",
        "vmlDrawing",
    }
)


@dataclass(frozen=True)
class ReadLimits:
    """How much one input file may hold; see the module docstring for what each bounds."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_columns: int = DEFAULT_MAX_COLUMNS
    max_file_mb: int = DEFAULT_MAX_FILE_MB
    max_unzipped_mb: int = DEFAULT_MAX_UNZIPPED_MB
    max_xlsx_ratio: int = DEFAULT_MAX_XLSX_RATIO

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{item.name} must be a whole number of 1 or more (got {value!r})"
                raise ValueError(msg)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * MB

    @property
    def max_unzipped_bytes(self) -> int:
        return self.max_unzipped_mb * MB

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ReadLimits:
        """The defaults, with any limit set by its ``SENDMATCH_…`` environment variable.

        Raises
        ------
        ValueError
            Naming the variable, if one is set but not a whole number of 1 or more.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, variable in _ENVIRONMENT.items():
            text = environ.get(variable, "").strip().replace(",", "").replace("_", "")
            if not text:
                continue
            if not text.isdigit() or int(text) < 1:
                msg = f"{variable} must be a whole number of 1 or more (got {text!r})"
                raise ValueError(msg)
            values[name] = int(text)
        return cls(**values)


class LimitExceeded(Exception):
    """A file beyond a limit, with the row it was found on (as Excel counts) if there is one."""

    def __init__(self, message: str, row: int | None = None) -> None:
        self.message = message
        self.row = row
        super().__init__(message)


def raise_hint(variable_of: str) -> str:
    """How a user lifts the limit on ``variable_of`` (a :class:`ReadLimits` field name)."""
    return f"set the environment variable {_ENVIRONMENT[variable_of]} to raise the limit"


def too_many_rows(limits: ReadLimits) -> str:
    return (
        f"has more than {limits.max_rows:,} rows of data; sendmatch reads at most "
        f"{limits.max_rows:,}: split the file, or {raise_hint('max_rows')}"
    )


def check_file_size(path: Path, limits: ReadLimits) -> None:
    """Refuse a file larger than ``max_file_mb`` before a byte of it is parsed."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise LimitExceeded(
            f"the file is {size / MB:,.1f} MB; sendmatch reads files of at most "
            f"{limits.max_file_mb:,} MB: split the file, or {raise_hint('max_file_mb')}"
        )


def check_xlsx(path: Path, limits: ReadLimits) -> None:
    """Refuse a workbook that would take far more memory or time to open than its data needs.

    Checked in this order, each before anything bigger is read: the zip directory's size (its
    end record, read directly); every part's size once unzipped, from the directory, against
    ``max_unzipped_mb`` in total and ``max_xlsx_ratio`` each; then, streaming every part that
    openpyxl opens through a parser that keeps nothing, the XML's depth, the element count of
    each part kept whole in memory, and each worksheet's rows and cells against Excel's
    maxima. Parts are matched to their roles as openpyxl finds them (content types,
    relationships, fixed names), and a worksheet or shared-strings part that also plays
    another role is refused, so that no part escapes the bound of the role it is read in.

    Raises
    ------
    LimitExceeded
        With a message for the user.
    zipfile.BadZipFile
        If the file is not a zip at all (the caller says it is not a workbook).
    """
    _check_zip_directory(path)
    with zipfile.ZipFile(path) as archive:
        _check_part_sizes(archive.infolist(), limits)
        parts = {info.filename: info for info in archive.infolist()}
        roles = _roles(archive, parts)
        for name, info in parts.items():
            scanner = roles.scanner(name, limits)
            if scanner is not None and info.file_size:
                with archive.open(info) as stream:
                    _scan(stream, scanner)


# --------------------------------------------------------------------------------------------
# The zip directory and part sizes


def _check_zip_directory(path: Path) -> None:
    """The central directory's size from the zip's end record, before zipfile reads it all.

    zipfile loads the whole directory into objects of a few hundred bytes an entry, so a small
    file listing millions of empty parts would take gigabytes before any other check.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        start = max(0, size - (22 + 65_535))
        fh.seek(start)
        tail = fh.read()
        at = len(tail) - 22 if tail[-22:-18] == b"PK\x05\x06" else tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise zipfile.BadZipFile("File is not a zip file")
        (directory_bytes,) = struct.unpack("<L", tail[at + 12 : at + 16])
        if at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # zip64: real sizes elsewhere
            (record_at,) = struct.unpack("<Q", tail[at - 12 : at - 4])
            if record_at > size - 56:
                raise zipfile.BadZipFile("the zip64 end record is outside the file")
            fh.seek(record_at)
            record = fh.read(56)
            if record[:4] != b"PK\x06\x06":
                raise zipfile.BadZipFile("the zip64 end record is damaged")
            (directory_bytes,) = struct.unpack("<Q", record[40:48])
    if directory_bytes > MAX_ZIP_DIRECTORY_BYTES:
        raise LimitExceeded(
            "the workbook lists far more parts than any Excel workbook "
            f"({directory_bytes / MB:,.1f} MB of zip directory): it is damaged or not a "
            "workbook; save it again from Excel, or save the sheet as CSV UTF-8"
        )


def _check_part_sizes(parts: Iterable[zipfile.ZipInfo], limits: ReadLimits) -> None:
    # The sizes come from the zip directory, which the file itself states; zipfile never
    # inflates a part beyond its stated size (it fails the CRC instead), so they bound the work.
    total = 0
    for info in parts:
        total += info.file_size
        if info.file_size > RATIO_CHECKED_FROM_BYTES and (
            info.file_size > limits.max_xlsx_ratio * max(info.compress_size, 1)
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise LimitExceeded(
                f"part {info.filename} of the workbook grows {ratio:,.0f} times when unzipped "
                f"(to {info.file_size / MB:,.1f} MB); sendmatch refuses parts growing more "
                f"than {limits.max_xlsx_ratio:,} times, which only crafted files do: save the "
                f"sheet again from Excel, or {raise_hint('max_xlsx_ratio')}"
            )
    if total > limits.max_unzipped_bytes:
        raise LimitExceeded(
            f"the workbook holds {total / MB:,.1f} MB once unzipped; sendmatch reads "
            f"workbooks of at most {limits.max_unzipped_mb:,} MB unzipped: delete unused "
            f"sheets and columns, save the sheet as CSV UTF-8, or "
            f"{raise_hint('max_unzipped_mb')}"
        )


# --------------------------------------------------------------------------------------------
# Roles of the parts


@dataclass
class _Roles:
    sheets: set[str]
    shared_strings: set[str]
    unread: set[str]  # reached only through relationships openpyxl does not follow
    scanned: set[str]  # already streamed through a scanner while finding the roles

    def scanner(self, name: str, limits: ReadLimits) -> _Scanner | None:
        if name in self.scanned or name in self.unread:
            return None
        if name in self.sheets:
            return _SheetScanner(name, limits)
        if name in self.shared_strings:
            return _PartScanner(name, MAX_SHARED_STRING_ELEMENTS)
        return _PartScanner(name, MAX_PART_ELEMENTS)


def _roles(archive: zipfile.ZipFile, parts: Mapping[str, zipfile.ZipInfo]) -> _Roles:
    """Worksheets (by relationship) and shared strings (by content type), as openpyxl finds
    them; refused if one of them is also read in another role."""
    overrides: dict[str, str] = {}
    related: dict[str, set[str]] = {}  # part → the types of the relationships to it
    scanned: set[str] = set()

    def content_type(attrs: dict[str, str]) -> None:
        if "PartName" in attrs:
            overrides[attrs["PartName"].lstrip("/")] = attrs.get("ContentType", "")

    def relationship(base: str) -> Callable[[dict[str, str]], None]:
        def add(attrs: dict[str, str]) -> None:
            if attrs.get("TargetMode") == "External" or "Target" not in attrs:
                return
            target = attrs["Target"]
            joined = target if target.startswith("/") else f"{base}/{target}"
            part = posixpath.normpath(joined).lstrip("/")
            related.setdefault(part, set()).add(attrs.get("Type", "").rpartition("/")[2])

        return add

    for name, info in parts.items():
        if name == "[Content_Types].xml":
            on_element: Callable[[dict[str, str]], None] = content_type
        elif name.endswith(".rels"):
            # "xl/_rels/workbook.xml.rels" relates parts of "xl/".
            on_element = relationship(posixpath.dirname(posixpath.dirname(name)))
        else:
            continue
        with archive.open(info) as stream:
            _scan(stream, _PartScanner(name, MAX_PART_ELEMENTS, on_element))
        scanned.add(name)

    sheets = {p for p, types in related.items() if "worksheet" in types and p in parts}
    shared_strings = {p for p, t in overrides.items() if t == _SHARED_STRINGS_TYPE}
    # openpyxl also finds the workbook and its shared strings by content type.
    looked_up = {p for p, t in overrides.items() if t.endswith(".main+xml")} | shared_strings
    unread = {
        p
        for p, types in related.items()
        if types <= _UNREAD_RELATIONS and p not in _FIXED_PARTS | looked_up
    }
    for part in sorted(sheets | shared_strings):
        own_type, relation = (
            (_WORKSHEET_TYPE, "worksheet")
            if part in sheets
            else (_SHARED_STRINGS_TYPE, "sharedStrings")
        )
        if (
            related.get(part, {relation}) != {relation}
            or part in _FIXED_PARTS
            or overrides.get(part, own_type) != own_type
            or (part in sheets and part in shared_strings)
        ):
            raise LimitExceeded(
                f"part {part} of the workbook is used in two roles, which Excel never does: "
                "the file is damaged or crafted; save the sheet as CSV UTF-8"
            )
    return _Roles(sheets, shared_strings, unread, scanned)


# --------------------------------------------------------------------------------------------
# Streaming an XML part through expat, keeping nothing


class _Scanner:
    """Counts what openpyxl would build from one part, and stops at the first excess."""

    end: Callable[[str], None] | None = None

    def __init__(self, name: str) -> None:
        self.name = name

    def start(self, name: str, attrs: dict[str, str]) -> None:
        raise NotImplementedError

    def refuse(self, what: str) -> None:
        raise LimitExceeded(
            f"part {self.name} of the workbook {what}, which no real workbook does: the file "
            "is damaged or crafted; save the sheet again from Excel, or as CSV UTF-8"
        )


class _PartScanner(_Scanner):
    """A part openpyxl keeps whole in memory: its elements are counted, its depth bounded."""

    def __init__(
        self,
        name: str,
        max_elements: int,
        on_element: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        super().__init__(name)
        self.max_elements = max_elements
        self.on_element = on_element
        self.elements = 0
        self.depth = 0
        self.end = self._end

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_XML_DEPTH:
            self.refuse(f"nests XML more than {MAX_XML_DEPTH} deep")
        if self.elements > self.max_elements:
            self.refuse(f"holds more than {self.max_elements:,} XML elements")
        if self.on_element is not None:
            self.on_element(attrs)

    def _end(self, name: str) -> None:
        self.depth -= 1


class _SheetScanner(_Scanner):
    """A worksheet, which openpyxl streams row by row: Excel's maxima bound its rows and each
    row's cells, and a budget the elements besides them. Rows holding values are counted
    against ``max_rows`` too, so that a sheet of millions of rows is refused at the limit, not
    after a million rows of parsing.

    Only element starts are seen (this runs for every cell of a whole LA's caseload, so it
    does the least it can): anything after the sheet data counts against the last row.
    """

    def __init__(self, name: str, limits: ReadLimits) -> None:
        super().__init__(name)
        self.limits = limits
        self.in_data = False
        self.elements = 0  # before the sheet data
        self.rows = 0
        self.value_rows = 0  # rows with at least one value, the header among them
        self.row_has_value = False
        self.row_elements = 0
        self.row_cells = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local in {"v", "is"} and not self.row_has_value:
            self.row_has_value = True
            self.value_rows += 1
            if self.value_rows > self.limits.max_rows + 1:
                raise LimitExceeded(too_many_rows(self.limits))
        if local == "c":
            self.row_cells += 1
            self.row_elements += 1
            if self.row_cells > EXCEL_MAX_COLUMNS:
                self.refuse(f"has a row of more than Excel's {EXCEL_MAX_COLUMNS:,} cells")
        elif local == "row":
            self.rows += 1
            self.row_elements = self.row_cells = 0
            self.row_has_value = False
            number = attrs.get("r")
            if self.rows > EXCEL_MAX_ROWS or (number is not None and not _excel_row(number)):
                self.refuse(f"has rows beyond Excel's last row, {EXCEL_MAX_ROWS:,}")
        elif self.in_data:
            self.row_elements += 1
        else:
            self.in_data = local == "sheetData"
            self.elements += 1
            if self.elements > MAX_SHEET_METADATA_ELEMENTS:
                self.refuse(f"holds more than {MAX_SHEET_METADATA_ELEMENTS:,} XML elements")
        if self.row_elements > MAX_ROW_ELEMENTS:
            self.refuse(f"has a row of more than {MAX_ROW_ELEMENTS:,} XML elements")


def _excel_row(text: str) -> bool:
    try:
        number = float(text)
    except ValueError:
        return False
    return 1 <= number <= EXCEL_MAX_ROWS


def _scan(stream: IO[bytes], scanner: _Scanner) -> None:
    """Stream a part through expat. A part that is not XML (an image) stops at its first
    malformed byte: openpyxl could not build anything from it either."""
    parser = expat.ParserCreate()
    parser.StartElementHandler = scanner.start
    if scanner.end is not None:
        parser.EndElementHandler = scanner.end
    parser.StartDoctypeDeclHandler = _no_doctype(scanner)  # Office XML never declares entities
    try:
        while chunk := stream.read(1 << 16):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError:
        return


def _no_doctype(scanner: _Scanner) -> Callable[..., None]:
    def refuse(*_: object) -> None:
        scanner.refuse("declares a DTD")

    return refuse
