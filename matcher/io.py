"""The import point of sendmatch's file formats: every reader and writer, under one name.

The formats live in modules by kind of file; this module gathers their names so that callers
(the CLI, the API, the forecast and planning code, tests) write ``io.load_round`` or
``io.write_placements`` without knowing which module holds what:

- :mod:`matcher.input_tables`: reading a CSV or XLSX table within limits (CSV through
  :mod:`matcher.arrow_csv`), problems (:class:`InputProblem`, :class:`InputError`), column
  checks;
- :mod:`matcher.cell_parsers` and :mod:`matcher.row_checks`: cell text to values, one row
  checked cell by cell, where a home or a setting may be;
- :mod:`matcher.caseload_files`: a round's caseload, settings and tariffs
  (:func:`load_round`), checked a column at a time by :mod:`matcher.caseload_columns`, with
  the messages of the row checker, :mod:`matcher.caseload_rows`;
- :mod:`matcher.output_files`: atomic writes, :class:`Table` and :func:`write_tables`, with
  :mod:`matcher.sheet_format`'s formula neutralising;
- :mod:`matcher.placement_files`, :mod:`matcher.tailored_list_files`,
  :mod:`matcher.fair_access_files`: each output's tables.

Reading never loads the solver. New code may import from the modules themselves.
"""

from __future__ import annotations

from matcher.caseload_files import (
    CHILD_COLUMNS,
    SETTING_COLUMNS,
    TARIFF_COLUMNS,
    RoundInputs,
    check_references,
    load_children,
    load_round,
    load_settings,
    load_tariffs,
    next_september,
)
from matcher.caseload_rows import PROVISION_PREFIXES, child_from_row, setting_from_row
from matcher.cell_parsers import (
    enum_parser,
    list_parser,
    normalise_column,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_nc_year,
    parse_needs,
    parse_pounds,
    parse_urns,
    parse_year_map,
    plain_error,
)
from matcher.fair_access_files import (
    FAIR_ACCESS_SHEETS,
    fair_access_tables,
    write_fair_access,
)
from matcher.input_tables import (
    InputError,
    InputProblem,
    InputTable,
    Row,
    cell_text,
    check_columns,
    duplicate,
    raise_if,
    read_table,
)
from matcher.output_files import (
    Cell,
    Table,
    atomic_path,
    check_output_path,
    csv_companions,
    write_tables,
    write_workbook,
)
from matcher.placement_files import (
    PLACEMENT_COLUMNS,
    SummaryRow,
    placement_records,
    summary_rows,
    write_placements,
)
from matcher.read_limits import ReadLimits
from matcher.row_checks import (
    BNG_EASTING,
    BNG_NORTHING,
    UK,
    UK_LATITUDE,
    UK_LONGITUDE,
    Area,
    RowCheck,
    location_problem,
)
from matcher.sheet_format import (
    FORMULA_LEADS,
    SUPPORTED_SUFFIXES,
    FileFormat,
    file_format,
    neutralise_formula,
    unescape_formula,
)
from matcher.tailored_list_files import (
    EXCLUDED_COLUMNS,
    OPTION_COLUMNS,
    PREFERENCE_COLUMNS,
    TAILORED_SHEETS,
    tailored_list_tables,
    write_tailored_lists,
)

__all__ = [
    "BNG_EASTING",
    "BNG_NORTHING",
    "CHILD_COLUMNS",
    "EXCLUDED_COLUMNS",
    "FAIR_ACCESS_SHEETS",
    "FORMULA_LEADS",
    "OPTION_COLUMNS",
    "PLACEMENT_COLUMNS",
    "PREFERENCE_COLUMNS",
    "PROVISION_PREFIXES",
    "SETTING_COLUMNS",
    "SUPPORTED_SUFFIXES",
    "TAILORED_SHEETS",
    "TARIFF_COLUMNS",
    "UK",
    "UK_LATITUDE",
    "UK_LONGITUDE",
    "Area",
    "Cell",
    "FileFormat",
    "InputError",
    "InputProblem",
    "InputTable",
    "ReadLimits",
    "RoundInputs",
    "Row",
    "RowCheck",
    "SummaryRow",
    "Table",
    "atomic_path",
    "cell_text",
    "check_columns",
    "check_output_path",
    "check_references",
    "child_from_row",
    "csv_companions",
    "duplicate",
    "enum_parser",
    "fair_access_tables",
    "file_format",
    "list_parser",
    "load_children",
    "load_round",
    "load_settings",
    "load_tariffs",
    "location_problem",
    "neutralise_formula",
    "next_september",
    "normalise_column",
    "parse_bool",
    "parse_date",
    "parse_float",
    "parse_int",
    "parse_nc_year",
    "parse_needs",
    "parse_pounds",
    "parse_urns",
    "parse_year_map",
    "placement_records",
    "plain_error",
    "raise_if",
    "read_table",
    "setting_from_row",
    "summary_rows",
    "tailored_list_tables",
    "unescape_formula",
    "write_fair_access",
    "write_placements",
    "write_tables",
    "write_tailored_lists",
    "write_workbook",
]
