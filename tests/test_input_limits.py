"""Limits on input files and on the domain's numbers (issue 12, findings 4 and 7).

Each oversized file is built here, small where a lowered :class:`ReadLimits` allows, and at
the real default limits for the bombs the probe sent (a shared-strings zip bomb, a row of
200,000 cells, millions of rows): those are read in a child process, which reports its own
peak memory, under an address-space cap so that a regression fails the test instead of the
machine.
"""

from __future__ import annotations

import csv
import json
import os
import random
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from matcher import cli, io, travel_estimate
from matcher.io import InputError, InputProblem, ReadLimits
from matcher.planning import ScenarioError, parse_scenario
from matcher.read_limits import MB

DATA = Path(__file__).parent / "data" / "io"
ROOT = Path(__file__).parent.parent
runner = CliRunner()

SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XML_HEAD = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
SHARED_STRINGS_OVERRIDE = (
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
PEAK_MEMORY_MB = 500


# --------------------------------------------------------------------------------------------
# Building workbooks part by part


@dataclass(frozen=True)
class Repeated:
    """A part of ``head + chunk * times + tail`` bytes, deflated without ever being built."""

    head: bytes
    chunk: bytes
    times: int
    tail: bytes


def _deflate(content: bytes | Repeated) -> tuple[bytes, int, int]:
    """(raw deflate data, CRC-32, size) of a part.

    A repeated chunk is compressed once: after a full flush the compressor starts afresh, so
    every copy compresses to the same bytes, and a gigabyte part is a few hundred copies of a
    kilobyte (its CRC is still computed over every byte, as a reader checks it).
    """
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    if isinstance(content, bytes):
        return z.compress(content) + z.flush(), zlib.crc32(content), len(content)
    start = z.compress(content.head) + z.flush(zlib.Z_FULL_FLUSH)
    piece = z.compress(content.chunk) + z.flush(zlib.Z_FULL_FLUSH)
    assert piece == z.compress(content.chunk) + z.flush(zlib.Z_FULL_FLUSH)
    end = z.compress(content.tail) + z.flush()
    crc = zlib.crc32(content.head)
    for _ in range(content.times):
        crc = zlib.crc32(content.chunk, crc)
    crc = zlib.crc32(content.tail, crc)
    size = len(content.head) + len(content.chunk) * content.times + len(content.tail)
    return start + piece * content.times + end, crc, size


def write_zip(path: Path, parts: Mapping[str, bytes | Repeated]) -> Path:
    """A zip of deflated parts, written by hand so that a part may be a ``Repeated`` bomb."""
    with path.open("wb") as fh:
        directory = b""
        for name, content in parts.items():
            data, crc, size = _deflate(content)
            encoded = name.encode()
            offset = fh.tell()
            sizes = (crc, len(data), size, len(encoded))
            fh.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, *sizes, 0))
            fh.write(encoded + data)
            directory += struct.pack(
                "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, *sizes, 0, 0, 0, 0, 0, offset
            )
            directory += encoded
        start = fh.tell()
        fh.write(directory)
        count = len(parts)
        fh.write(
            struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), start, 0)
        )
    return path


def workbook_parts(
    tmp_path: Path, header: Sequence[str] = ("child_id", "nc_year")
) -> dict[str, Any]:
    """The parts of a small, good workbook, to replace or add parts to."""
    base = tmp_path / "base.xlsx"
    workbook = Workbook()
    workbook.active.append(list(header))
    workbook.active.append(["C001", 7])
    workbook.save(base)
    with zipfile.ZipFile(base) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def sheet_xml(rows: bytes | Repeated) -> bytes | Repeated:
    head = XML_HEAD + f'<worksheet xmlns="{SHEET_NS}"><sheetData>'.encode()
    tail = b"</sheetData></worksheet>"
    if isinstance(rows, bytes):
        return head + rows + tail
    return Repeated(head + rows.head, rows.chunk, rows.times, rows.tail + tail)


def text_row(number: int, texts: Sequence[str]) -> bytes:
    cells = "".join(f'<c t="inlineStr"><is><t>{t}</t></is></c>' for t in texts)
    return f'<row r="{number}">{cells}</row>'.encode()


def with_sheet(tmp_path: Path, name: str, rows: bytes | Repeated) -> Path:
    parts = workbook_parts(tmp_path)
    parts["xl/worksheets/sheet1.xml"] = sheet_xml(rows)
    return write_zip(tmp_path / name, parts)


def many_rows_sheet(n: int) -> bytes:
    rows = [text_row(1, ["child_id", "nc_year"])]
    rows += [f'<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>'.encode() for i in range(2, n + 2)]
    return b"".join(rows)


# --------------------------------------------------------------------------------------------
# The probe's bombs, at the default limits, in a child process


def read_in_child(path: Path) -> tuple[str, float]:
    """(what load_children said, its peak resident memory in MB) from a fresh interpreter.

    The child runs with the default limits (no SENDMATCH_ variables) and at most 1 GB of
    address space: on code without the limits it fails with MemoryError, never swaps.
    """
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))\n"
        "from matcher import io\n"
        "try:\n"
        "    io.load_children(sys.argv[1])\n"
        "    print('READ')\n"
        "except io.InputError as exc:\n"
        "    print('REFUSED', exc)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking pytest process.
        "print('PEAK', next(line.split()[1] for line in open('/proc/self/status')\n"
        "                   if line.startswith('VmHWM:')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDMATCH_MAX")}
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    said, peak = done.stdout.rsplit("PEAK", 1)
    return said.strip(), int(peak) / 1024  # VmHWM is in kB


def test_shared_strings_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    parts = workbook_parts(tmp_path)
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", SHARED_STRINGS_OVERRIDE + b"</Types>"
    )
    chunk = b"<si><t>A</t></si>" * 60_000  # 1 MB of one-letter strings
    parts["xl/sharedStrings.xml"] = Repeated(
        XML_HEAD + f'<sst xmlns="{SHEET_NS}">'.encode(), chunk, 700, b"</sst>"
    )
    bomb = write_zip(tmp_path / "children.xlsx", parts)
    assert bomb.stat().st_size < 2 * MB  # 700 MB of XML in a small upload

    said, peak = read_in_child(bomb)

    assert said.startswith("REFUSED children.xlsx: part xl/sharedStrings.xml")
    assert "when unzipped" in said
    assert peak < PEAK_MEMORY_MB


def test_a_row_of_200000_cells_is_refused(tmp_path: Path) -> None:
    cells = b"".join(f'<c r="{n}1"><v>1</v></c>'.encode() for n in range(200_000))
    bomb = with_sheet(tmp_path, "children.xlsx", b'<row r="1">' + cells + b"</row>")

    said, peak = read_in_child(bomb)

    assert said.startswith("REFUSED children.xlsx: part xl/worksheets/sheet1.xml")
    assert "more than Excel's 16,384 cells" in said
    assert peak < PEAK_MEMORY_MB


def test_a_sheet_of_millions_of_rows_is_refused_at_the_row_limit(tmp_path: Path) -> None:
    # 2,000 rows of random numbers, repeated: more than the compressor's 32 KB window, so the
    # sheet compresses like real data (a few times), not like a bomb.
    numbers = random.Random(12).choices(range(10**11, 10**12), k=2_000)
    chunk = b"".join(f"<row><c><v>{n}</v></c></row>".encode() for n in numbers)
    rows = Repeated(text_row(1, ["child_id", "nc_year"]), chunk, 1_000, b"")
    bomb = with_sheet(tmp_path, "children.xlsx", rows)

    said, peak = read_in_child(bomb)

    assert said == (
        "REFUSED children.xlsx: has more than 100,000 rows of data; sendmatch reads at most "
        "100,000: split the file, or set the environment variable SENDMATCH_MAX_ROWS to raise "
        "the limit"
    )
    assert peak < PEAK_MEMORY_MB


def test_a_csv_beyond_the_row_limit_is_refused_at_the_first_row_beyond(tmp_path: Path) -> None:
    path = tmp_path / "children.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["child_id", "nc_year", "primary_need", "latitude", "longitude"])
        writer.writerows([f"C{i}", 7, "ASD", 52.25, 0.7] for i in range(150_000))

    said, peak = read_in_child(path)

    assert said.startswith("REFUSED children.csv, row 100002: has more than 100,000 rows")
    assert peak < PEAK_MEMORY_MB


# --------------------------------------------------------------------------------------------
# Each limit, lowered so that the files stay small


def refused(path: Path, limits: ReadLimits | None = None) -> InputProblem:
    with pytest.raises(InputError) as caught:
        io.load_children(path, limits=limits)
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def children_csv(path: Path, n: int, extra: Sequence[str] = ()) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["child_id", "nc_year", "primary_need", "latitude", "longitude", *extra])
        writer.writerows([f"C{i}", 7, "ASD", 52.25, 0.7, *("x" for _ in extra)] for i in range(n))
    return path


def test_rows_within_the_limit_are_read_and_one_more_is_refused(tmp_path: Path) -> None:
    limits = ReadLimits(max_rows=5)
    assert len(io.load_children(children_csv(tmp_path / "five.csv", 5), limits=limits)) == 5
    problem = refused(children_csv(tmp_path / "six.csv", 6), limits)
    assert (problem.file, problem.row, problem.field) == ("six.csv", 7, None)
    assert problem.message.startswith("has more than 5 rows of data")


def test_rows_of_an_xlsx_are_counted_while_scanning(tmp_path: Path) -> None:
    path = with_sheet(tmp_path, "children.xlsx", many_rows_sheet(6))
    problem = refused(path, ReadLimits(max_rows=5))
    assert problem.message.startswith("has more than 5 rows of data")


def test_blank_rows_do_not_count_towards_the_row_limit(tmp_path: Path) -> None:
    path = children_csv(tmp_path / "children.csv", 3)
    with path.open("a", newline="") as fh:
        fh.write(",,,,\n" * 10)
    assert len(io.load_children(path, limits=ReadLimits(max_rows=3))) == 3


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_header_wider_than_the_column_limit_is_refused(tmp_path: Path, suffix: str) -> None:
    extra = [f"extra_{n}" for n in range(20)]
    path = children_csv(tmp_path / "children.csv", 2, extra)
    if suffix == ".xlsx":
        workbook = Workbook()
        with path.open(encoding="utf-8") as fh:
            for record in csv.reader(fh):
                workbook.active.append(record)
        path = tmp_path / "children.xlsx"
        workbook.save(path)
    problem = refused(path, ReadLimits(max_columns=20))
    assert (problem.row, problem.field) == (1, None)
    assert problem.message.startswith(
        "the first row names columns up to Y (25 columns); sendmatch reads at most 20 columns"
    )
    assert len(io.load_children(path, limits=ReadLimits(max_columns=25))) == 2


def test_cells_beyond_the_named_columns_are_ignored(tmp_path: Path) -> None:
    path = children_csv(tmp_path / "children.csv", 2)
    text = path.read_text().splitlines()
    text[1] += "," * 500 + "stray"
    path.write_text("\n".join(text) + "\n")
    assert len(io.load_children(path, limits=ReadLimits(max_columns=10))) == 2


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = children_csv(tmp_path / "children.csv", 50_000)
    assert path.stat().st_size > MB
    problem = refused(path, ReadLimits(max_file_mb=1))
    assert problem.message.startswith("the file is 1.")
    assert "at most 1 MB" in problem.message and "SENDMATCH_MAX_FILE_MB" in problem.message


def test_an_xlsx_over_the_unzipped_limit_is_refused(tmp_path: Path) -> None:
    path = with_sheet(tmp_path, "children.xlsx", many_rows_sheet(60_000))
    problem = refused(path, ReadLimits(max_unzipped_mb=1))
    assert problem.message.startswith("the workbook holds 2.")
    assert "SENDMATCH_MAX_UNZIPPED_MB" in problem.message


def test_a_part_compressed_far_beyond_real_workbooks_is_refused(tmp_path: Path) -> None:
    rows = text_row(1, ["child_id"]) + b"<row><c><v>7</v></c></row>" * 100_000
    path = with_sheet(tmp_path, "children.xlsx", rows)
    problem = refused(path)  # default limits: 2.5 MB of XML from a few KB
    assert problem.message.startswith("part xl/worksheets/sheet1.xml of the workbook grows")
    assert "SENDMATCH_MAX_XLSX_RATIO" in problem.message


def test_limits_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = children_csv(tmp_path / "children.csv", 3)
    monkeypatch.setenv("SENDMATCH_MAX_ROWS", "2")
    assert refused(path).message.startswith("has more than 2 rows of data")
    monkeypatch.setenv("SENDMATCH_MAX_ROWS", "lots")
    problem = refused(path)
    assert problem.file == "children.csv"
    assert "SENDMATCH_MAX_ROWS must be a whole number of 1 or more (got 'lots')" in problem.message
    with pytest.raises(ValueError, match="max_rows must be a whole number"):
        ReadLimits(max_rows=0)


def test_load_round_passes_the_limits_to_every_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        io.load_round(
            DATA / "children.csv",
            DATA / "settings.csv",
            DATA / "tariffs.csv",
            limits=ReadLimits(max_rows=3),
        )
    refused_files = {p.file for p in caught.value.problems if "rows of data" in p.message}
    assert refused_files == {"children.csv", "settings.csv", "tariffs.csv"}


def test_a_workbook_declaring_a_dtd_is_refused(tmp_path: Path) -> None:
    dtd = b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">]>'
    rows = text_row(1, ["child_id", "nc_year"]) + b'<row r="2"><c><v>7</v></c></row>'
    parts = workbook_parts(tmp_path)
    parts["xl/worksheets/sheet1.xml"] = (
        XML_HEAD
        + dtd
        + f'<worksheet xmlns="{SHEET_NS}"><sheetData>'.encode()
        + rows
        + b"</sheetData></worksheet>"
    )
    problem = refused(write_zip(tmp_path / "children.xlsx", parts))
    assert "declares a DTD" in problem.message


def test_a_worksheet_also_read_as_another_part_is_refused(tmp_path: Path) -> None:
    parts = workbook_parts(tmp_path)
    parts["_rels/.rels"] = parts["_rels/.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rX" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/custom-properties" Target="xl/worksheets/sheet1.xml"/></Relationships>',
    )
    problem = refused(write_zip(tmp_path / "children.xlsx", parts))
    assert "used in two roles" in problem.message


def test_a_stylesheet_beyond_the_element_budget_is_refused(tmp_path: Path) -> None:
    formats = b"".join(f'<xf numFmtId="{n}"/>'.encode() for n in range(300_001))
    parts = workbook_parts(tmp_path)
    parts["xl/styles.xml"] = parts["xl/styles.xml"].replace(b"</cellXfs>", formats + b"</cellXfs>")
    problem = refused(write_zip(tmp_path / "children.xlsx", parts))
    assert problem.message.startswith(
        "part xl/styles.xml of the workbook holds more than 300,000 XML elements"
    )


RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def test_a_big_pivot_cache_is_not_scanned_as_it_is_never_read(tmp_path: Path) -> None:
    """Pivot tables copy their source rows into the workbook; sendmatch never reads them."""
    parts = workbook_parts(tmp_path, header=["child_id", "nc_year", "primary_need"])
    parts["xl/worksheets/sheet1.xml"] = sheet_xml(
        text_row(1, ["child_id", "nc_year", "primary_need", "latitude", "longitude"])
        + text_row(2, ["C1", "7", "ASD", "52.25", "0.7"])
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        f'<Relationship Id="rP" Type="{RELATIONSHIPS}/pivotCacheDefinition" '
        'Target="pivotCache/pivotCacheDefinition1.xml"/></Relationships>'.encode(),
    )
    parts["xl/pivotCache/pivotCacheDefinition1.xml"] = XML_HEAD + b"<pivotCacheDefinition/>"
    parts["xl/pivotCache/_rels/pivotCacheDefinition1.xml.rels"] = (
        XML_HEAD + b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'relationships"><Relationship Id="rR" Type="'
        + RELATIONSHIPS.encode()
        + b'/pivotCacheRecords" Target="pivotCacheRecords1.xml"/></Relationships>'
    )
    records = b"".join(f'<r><n v="{n}"/></r>'.encode() for n in range(400_000))
    parts["xl/pivotCache/pivotCacheRecords1.xml"] = (
        XML_HEAD + b"<pivotCacheRecords>" + records + b"</pivotCacheRecords>"
    )
    [child] = io.load_children(write_zip(tmp_path / "children.xlsx", parts))
    assert child.child_id == "C1"


def test_good_workbooks_still_read(tmp_path: Path) -> None:
    """An Excel-style workbook with shared strings, and openpyxl's, read as before."""
    parts = workbook_parts(tmp_path)
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", SHARED_STRINGS_OVERRIDE + b"</Types>"
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rS" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
    )
    names = ["child_id", "nc_year", "primary_need", "latitude", "longitude", "C1", "ASD"]
    strings = "".join(f"<si><t>{s}</t></si>" for s in names)
    parts["xl/sharedStrings.xml"] = XML_HEAD + f'<sst xmlns="{SHEET_NS}">{strings}</sst>'.encode()
    shared = "".join(f'<c r="{c}1" t="s"><v>{n}</v></c>' for n, c in enumerate("ABCDE"))
    data = '<c r="A2" t="s"><v>5</v></c><c r="B2"><v>7</v></c><c r="C2" t="s"><v>6</v></c>'
    data += '<c r="D2"><v>52.25</v></c><c r="E2"><v>0.7</v></c>'
    rows = f'<row r="1">{shared}</row><row r="2">{data}</row>'.encode()
    parts["xl/worksheets/sheet1.xml"] = sheet_xml(rows)
    [child] = io.load_children(write_zip(tmp_path / "children.xlsx", parts))
    assert (child.child_id, child.nc_year, child.home.latitude) == ("C1", 7, 52.25)


# --------------------------------------------------------------------------------------------
# Numbers within the domain's ranges (finding 7)


def settings_with(tmp_path: Path, changes: Mapping[str, str], row: int = 2) -> Path:
    with (DATA / "settings.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = list(reader.fieldnames or []), list(reader)
    rows[row - 2].update(changes)
    path = tmp_path / "settings.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("total_places", "1e30", "must be 10,000 or less (got 1e+30)"),
        ("total_places", "10001", "must be 10,000 or less (got 10,001)"),
        ("on_roll", "20000", "must be 10,000 or less (got 20,000)"),
        ("rp_places", "99999", "must be 10,000 or less (got 99,999)"),
        ("top_up", "1e20", "must be 10,000,000 or less (got 1e+20)"),
        ("top_up", "£10,000,001", "must be 10,000,000 or less (got 10,000,001)"),
    ],
)
def test_numbers_beyond_the_domain_are_input_problems(
    tmp_path: Path, column: str, value: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        io.load_settings(settings_with(tmp_path, {column: value}))
    [problem] = caught.value.problems
    assert (problem.file, problem.row, problem.field, problem.message) == (
        "settings.csv",
        2,
        column,
        message,
    )


def test_year_places_and_fees_are_bounded_too(tmp_path: Path) -> None:
    path = settings_with(tmp_path, {"year_places": "0:60;4:1e9", "annual_fee": "2e7"})
    with pytest.raises(InputError) as caught:
        io.load_settings(path)
    fields = {p.field: p.message for p in caught.value.problems}
    assert fields["year_places"].startswith("must be 10,000 or less")
    assert fields["annual_fee"] == "must be 10,000,000 or less (got 20,000,000)"


def test_a_tariff_band_beyond_ten_million_pounds_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.csv"
    path.write_text("band,placement_kind,annual_top_up\nA,special,1e20\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2, annual_top_up: must be 10,000,000 or less"):
        io.load_tariffs(path)


def test_the_largest_amounts_allowed_still_run(tmp_path: Path) -> None:
    """At the bounds the solver's integers do not overflow: the run completes."""
    path = settings_with(tmp_path, {"total_places": "10000", "on_roll": "0", "top_up": "10000000"})
    inputs = io.load_round(DATA / "children.csv", path, DATA / "tariffs.csv")
    travel = travel_estimate.build_travel_matrix(inputs.children, inputs.settings, 75.0).matrix
    from matcher.placement import place

    assert place(inputs.children, inputs.settings, travel).summary.children == len(inputs.children)


def test_place_with_overflowing_numbers_exits_2_naming_file_row_and_field(files: Path) -> None:
    settings_with(files, {"total_places": "1e30"})
    args = [
        "place",
        "--children",
        str(files / "children.csv"),
        "--settings",
        str(files / "settings.csv"),
        "--out",
        str(files / "placements.csv"),
        "--year-start",
        "2026-09-01",
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "settings.csv, row 2, total_places: must be 10,000 or less (got 1e+30)" in result.output
    assert not (files / "placements.csv").exists()


# --------------------------------------------------------------------------------------------
# Demand growth bounded to ten times the caseload


def growth_problems(*edits: dict) -> dict[str | None, str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({"name": "grow", "edits": list(edits)}, "grow.yaml")
    return {p.field: p.message for p in caught.value.problems}


def test_demand_growth_beyond_ten_times_the_caseload_is_refused() -> None:
    problems = growth_problems({"kind": "demand_growth", "rate": 1, "years": 20})
    assert problems == {
        "edits[0].years": "rate 1 a year for 20 years would multiply the caseload by 1.05e+06; "
        "sendmatch models growth up to 10 times the caseload, so at 1 a year give at most "
        "3 years (or a lower rate)"
    }


def test_a_need_rate_is_bounded_like_the_rate() -> None:
    edit = {"kind": "demand_growth", "rate": 0.1, "years": 10, "need_rates": {"ASD": 0.5}}
    problems = growth_problems(edit)
    assert list(problems) == ["edits[0].need_rates"]
    assert problems["edits[0].need_rates"].startswith("the rate for ASD 0.5 a year for 10 years")


def test_growth_edits_compound_within_the_same_bound() -> None:
    edit = {"kind": "demand_growth", "rate": 0.5, "years": 5}  # 7.6 times each
    problems = growth_problems(edit, edit)
    assert list(problems) == ["edits"]
    assert "together would multiply the caseload by 57.7" in problems["edits"]


def test_growth_within_the_bound_is_accepted() -> None:
    edit = {"kind": "demand_growth", "rate": 0.108, "years": 20}  # 7.8 times
    assert parse_scenario({"name": "ok", "edits": [edit]}).edits


def test_scenario_places_are_bounded_where_they_are_written() -> None:
    problems = growth_problems(
        {
            "kind": "new_resourced_provision",
            "urn": "1",
            "designated_needs": ["ASD"],
            "places": 1e30,
        },
        {"kind": "change_places", "urn": "1", "total_places": 50_000},
    )
    assert set(problems) == {"edits[0].places", "edits[1].total_places"}
    assert json.dumps(problems)  # plain messages, nothing unprintable


# --------------------------------------------------------------------------------------------
# The API's upload reads with the same limits


def post_caseload(client: Any, headers: dict[str, str], settings: Path, children: Path) -> Any:
    files = {
        "children": (children.name, children.read_bytes(), "text/csv"),
        "settings": (settings.name, settings.read_bytes(), "text/csv"),
    }
    return client.post(
        "/caseloads", files=files, data={"year_start": "2026-09-01"}, headers=headers
    )


def test_upload_with_overflowing_numbers_or_too_many_rows_is_a_422(
    client: Any, users: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with(tmp_path, {"top_up": "1e20"}, row=3)
    response = post_caseload(client, users["case_officer"], settings, DATA / "children.csv")
    assert response.status_code == 422, response.text
    assert {
        "file": "settings.csv",
        "row": 3,
        "field": "top_up",
        "message": "must be 10,000,000 or less (got 1e+20)",
    } in response.json()["problems"]

    monkeypatch.setenv("SENDMATCH_MAX_ROWS", "5")
    response = post_caseload(
        client, users["case_officer"], DATA / "settings.csv", DATA / "children.csv"
    )
    assert response.status_code == 422, response.text
    problems = {(p["file"], p["row"]): p["message"] for p in response.json()["problems"]}
    assert problems[("children.csv", 7)].startswith("has more than 5 rows of data")
