"""CSV written a column at a time (matcher.output_files) is byte for byte the csv module's."""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from matcher.output_files import Cell, ColumnRecords, Table, neutralise_formula, write_tables


class Colour(StrEnum):
    RED = "red, or crimson"


def _reference_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Cell]]) -> None:
    """How every table was written before: a cell at a time through the csv module."""

    def text(value: Cell) -> Cell:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.1f}"
        if isinstance(value, str):
            return neutralise_formula(value)
        return str(value)

    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows([text(row.get(c)) for c in columns] for row in rows)


texts = st.text(alphabet=st.sampled_from(list('ab,"\r\n =+-@\t£é1.')), max_size=6)
numbers = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.05, -0.05, 2.25, 2.35]),
)
cells = st.one_of(st.none(), texts, numbers, st.booleans(), st.just(Colour.RED))
# A column of one kind, with blanks, or of anything at all.
column = st.one_of(
    st.lists(st.one_of(st.none(), texts), min_size=0, max_size=12),
    st.lists(st.one_of(st.none(), st.integers(-(10**6), 10**6)), max_size=12),
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), max_size=12),
    st.lists(st.sampled_from([0.0, -0.0, 1.25, None]), max_size=12),
    st.lists(cells, max_size=12),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), width=st.integers(1, 4))
def test_columns_and_records_write_what_the_csv_module_wrote(
    tmp_path: Path, data: st.DataObject, width: int
) -> None:
    length = data.draw(st.integers(0, 8))
    names = tuple(f"c{j}" for j in range(width))
    values = {name: (data.draw(column) + [None] * length)[:length] for name in names}
    rows = [{name: values[name][i] for name in names} for i in range(length)]
    _reference_csv(tmp_path / "expected.csv", names, rows)
    write_tables(tmp_path / "records.csv", [Table("T", names, rows)])
    write_tables(tmp_path / "columns.csv", [Table("T", names, ColumnRecords(values))])
    expected = (tmp_path / "expected.csv").read_bytes()
    assert (tmp_path / "records.csv").read_bytes() == expected
    assert (tmp_path / "columns.csv").read_bytes() == expected


def test_column_records_read_as_rows_and_a_missing_column_is_blank(tmp_path: Path) -> None:
    records = ColumnRecords({"a": ["x", None], "b": [1, 2.5]})
    assert len(records) == 2
    assert list(records) == [{"a": "x", "b": 1}, {"a": None, "b": 2.5}]
    assert records[-1] == {"a": None, "b": 2.5} and records[0:1] == [{"a": "x", "b": 1}]
    assert records.column("z") == [None, None]
    with pytest.raises(IndexError):
        records[2]
    with pytest.raises(ValueError, match="different lengths"):
        ColumnRecords({"a": [1], "b": []})
    write_tables(tmp_path / "t.xlsx", [Table("T", ("a", "b", "z"), records)])
    sheet = load_workbook(tmp_path / "t.xlsx")["T"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["a", "b", "z"],
        ["x", 1, None],
        [None, 2.5, None],
    ]
