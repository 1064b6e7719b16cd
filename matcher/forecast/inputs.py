"""Reading a forecast's inputs: witan.send's own files as they are, or an LA's yearly snapshots.

Two ways in, one result (:class:`~matcher.forecast.types.ForecastInputs`):

* :func:`read_witan_inputs` reads witan.send's ``transitions.csv``, ``population.csv`` and the
  optional ``costs.csv`` and ``valid-states.csv`` unchanged, so an LA that has them switches
  without rework.
* :func:`read_la_history` reads the LA's own January snapshots (the SEN2 census or the caseload
  file of each year) and links each child from one year to the next by its pseudonymous id:
  present both years is a transition, only in the later year a joiner, only in the earlier a
  leaver.

Files are read through :mod:`matcher.io` (CSV or XLSX, its read limits, forgiving headers), and
problems are reported as it reports them: every problem in every file, each with the file, the
row as Excel shows it and the column, raised together as one :class:`matcher.io.InputError`, so
that a forecast never runs on half its data. Messages never repeat a child's id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import pandas as pd

from matcher import io
from matcher.cell_parsers import parse_setting_type
from matcher.forecast.types import (
    COST_COLUMNS,
    NONSEND,
    POPULATION_COLUMNS,
    TRANSITION_COLUMNS,
    CostTable,
    ForecastInputs,
    PopulationTable,
    SettingRule,
    State,
    TransitionTable,
)
from matcher.io import InputError, InputProblem
from matcher.models import MAX_NC_YEAR, MIN_NC_YEAR, PlacementKind, SettingType
from matcher.needs import parse_need
from matcher.read_limits import ReadLimits

T = TypeVar("T")

#: The kinds of place an LA's history is projected by: sendmatch's placement kinds, then
#: post-16 (FE colleges and specialist post-16 institutions) and other arrangements (EOTAS,
#: elective home education, NEET, awaiting provision), which the DfE counts apart.
POST16 = "post16"
OTHER = "other"
KINDS_OF_PLACE: tuple[str, ...] = (*(kind.value for kind in PlacementKind), POST16, OTHER)

# How LA exports and the DfE's tables spell a kind of place (as _kind_key makes them).
_KIND_SPELLINGS: dict[str, str] = {
    PlacementKind.MAINSTREAM.value: "ms mainstream_school mainstream_school_la_maintained "
    "mainstream_school_academy mainstream_school_free_school la_maintained_mainstream "
    "mainstream_academy academy free_school",
    PlacementKind.RESOURCED_PROVISION.value: "rp srp resourced sen_unit unit "
    "resourced_provision_or_sen_unit resourced_provision_sen_unit "
    "mainstream_with_resourced_provision mainstream_with_sen_unit",
    PlacementKind.SPECIAL.value: "special_school maintained_special la_maintained_special "
    "special_school_la_maintained special_academy special_free_school "
    "special_school_academy_free special_school_academy_or_free_school",
    PlacementKind.INDEPENDENT.value: "iss nmss independent_special independent_special_school "
    "independent_school special_school_independent non_maintained_special "
    "non_maintained_special_school special_school_non_maintained",
    PlacementKind.ALTERNATIVE_PROVISION.value: "ap pru ap_pru alternative_provision_pru "
    "pupil_referral_unit",
    POST16: "post_16 fe further_education fe_college sixth_form_college specialist_post16 "
    "specialist_post_16 specialist_post_16_institution specialist_post_16_institutions spi",
    OTHER: "other_arrangements eotas ehe elective_home_education home_education "
    "educated_elsewhere neet awaiting_provision not_in_education",
}
_KIND_ALIASES: dict[str, str] = {kind: kind for kind in KINDS_OF_PLACE} | {
    spelling: kind for kind, spellings in _KIND_SPELLINGS.items() for spelling in spellings.split()
}

#: A settings file's setting_type (sendmatch's, as GIAS import writes it) → kind of place: FE
#: colleges and specialist post-16 institutions are post-16 places. Histories and sufficiency
#: group settings alike.
SETTING_KIND_OF_PLACE: dict[SettingType, str] = {
    SettingType.MAINSTREAM: PlacementKind.MAINSTREAM.value,
    SettingType.SPECIAL: PlacementKind.SPECIAL.value,
    SettingType.NON_MAINTAINED_SPECIAL: PlacementKind.INDEPENDENT.value,
    SettingType.INDEPENDENT_SPECIAL: PlacementKind.INDEPENDENT.value,
    SettingType.ALTERNATIVE_PROVISION: PlacementKind.ALTERNATIVE_PROVISION.value,
    SettingType.FURTHER_EDUCATION: POST16,
    SettingType.SPECIALIST_POST16: POST16,
}

# witan.send's column spellings, by the names io.normalise_column gives them: problems name a
# column as the user's file spells it.
_WITAN_NAMES: dict[str, str] = {
    **{column: column.replace("_", "-") for column in TRANSITION_COLUMNS},
    "academic_year": "academic-year",
    "setting_group": "setting-group",
    "min_academic_year": "min-academic-year",
    "max_academic_year": "max-academic-year",
    "setting_>setting": "setting->setting",
}
_POPULATION_KEYS = set(POPULATION_COLUMNS)
_COST_KEYS = set(COST_COLUMNS)
_VALID_STATE_KEYS = {
    "setting",
    "setting_group",
    "min_academic_year",
    "max_academic_year",
    "needs",
    "setting_>setting",
}

# An LA snapshot's columns: the name used in messages first, then the other spellings taken.
_HISTORY_ALIASES: dict[str, tuple[str, ...]] = {
    "child_id": ("child_id", "person_id"),
    "nc_year": ("nc_year", "ncy", "national_curriculum_year", "year_group"),
    "primary_need": ("primary_need", "need", "primary_need_type", "sen_primary_need"),
    "kind_of_place": ("kind_of_place", "placement_kind", "setting_type"),
    "setting_urn": ("setting_urn", "urn"),
    "census_year": ("census_year", "calendar_year"),
}
_HISTORY_KEYS = {alias for aliases in _HISTORY_ALIASES.values() for alias in aliases}
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")
_SCHOOL_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_/ ]?(\d\d)(?!\d)")  # 2021-22
_TABLE_SUFFIXES = {".csv", ".xlsx", ".xls", ".xlsm", ".xlsb", ".ods"}  # io explains the others


# --------------------------------------------------------------------------------------------
# Public readers


def read_witan_inputs(
    transitions: Path | str,
    population: Path | str,
    costs: Path | str | None = None,
    valid_states: Path | str | None = None,
    *,
    limits: ReadLimits | None = None,
) -> ForecastInputs:
    """witan.send's input files, as witan.send reads them, checked together.

    Raises
    ------
    matcher.io.InputError
        With every problem in every file: a child ageing backwards, NONSEND in a setting but
        not its need, a transition year without population rows, a negative population, a
        state or move the valid states forbid, a misspelt column.
    """
    problems: list[InputProblem] = []
    read = _Collector(problems)
    moves = read(lambda: _read_transitions(transitions, limits))
    people = read(lambda: read_population(population, limits=limits))
    cost_table = read(lambda: read_costs(costs, limits=limits)) if costs is not None else None
    rules = read(lambda: read_valid_states(valid_states, limits=limits)) if valid_states else None
    if moves is not None and people is not None:
        problems += _population_gaps(people, Path(population).name, moves.table, _WITAN_NAMES)
    if moves is not None and rules is not None:
        problems += _invalid_states(moves, rules)
    io.raise_if(problems)
    assert moves is not None and people is not None  # every reader either returned or failed
    names = [Path(p).name for p in (transitions, population, costs, valid_states) if p]
    return ForecastInputs(
        moves.table, people, cost_table, rules, source=f"witan.send files: {', '.join(names)}"
    )


def read_la_history(
    folder_or_files: Path | str | Sequence[Path | str],
    population: Path | str,
    *,
    costs: Path | str | None = None,
    settings: Path | str | None = None,
    limits: ReadLimits | None = None,
) -> ForecastInputs:
    """An LA's January snapshots, one a year, linked child by child into transitions.

    ``folder_or_files`` is a folder of snapshot files (every ``.csv`` and ``.xlsx`` in it) or
    the files themselves. Each file holds one row per child with a plan: ``child_id``,
    ``nc_year`` (R, N1, N2, 7 or Y7), ``primary_need`` (SEN2 code) and ``kind_of_place``
    (see :data:`KINDS_OF_PLACE`), or a ``setting_urn`` and the ``settings`` file that gives
    each URN's ``setting_type`` or ``kind_of_place``. A file's year is the one in its name
    (``2021.csv``, ``caseload_2021.xlsx``) or its ``census_year`` column. ``costs`` has
    ``need``, ``setting`` (a kind of place) and ``cost``; a blank need, ``all`` or ``*``
    prices that kind of place for every need without a row of its own (spelt out for each
    need in the history).

    Raises
    ------
    matcher.io.InputError
        With every problem: a duplicate child id in a year, a child whose NC year goes back,
        a year missing between the first and the last, an unknown need code or kind of place,
        fewer than two years, a year without population rows.
    """
    problems: list[InputProblem] = []
    read = _Collector(problems)
    paths = read(lambda: _snapshot_paths(folder_or_files))
    kinds = read(lambda: _read_setting_kinds(settings, limits)) if settings is not None else None
    people = read(lambda: read_population(population, limits=limits))
    snapshots: dict[int, dict[str, _Snapshot]] = {}
    moves = None
    if paths is not None and (settings is None or kinds is not None):
        snapshots = _read_snapshots(paths, kinds, settings, limits, problems)
        moves = _link_years(snapshots, _label(folder_or_files), problems)
    if moves is not None and people is not None:
        problems += _population_gaps(people, Path(population).name, moves, _WITAN_NAMES)
    cost_table = None
    if costs is not None:
        cost_table = read(lambda: read_costs(costs, limits=limits, kind_of_place=True))
    if cost_table is not None and moves is not None:
        cost_table = cost_of(cost_table, {*moves.frame["need_1"], *moves.frame["need_2"]})
    io.raise_if(problems)
    assert moves is not None and people is not None
    years = sorted(snapshots)
    return ForecastInputs(
        moves,
        people,
        cost_table,
        None,
        source=f"LA history: {len(years)} January snapshots, {years[0]}–{years[-1]}",
    )


def read_population(path: Path | str, *, limits: ReadLimits | None = None) -> PopulationTable:
    """The general population by calendar year and NC year (witan.send's ``population.csv``).

    Decimals (an ONS projection) are rounded to whole people.
    """
    table = io.read_table(path, limits, _POPULATION_KEYS.__contains__)
    io.raise_if(_columns(table, _POPULATION_KEYS, POPULATION_COLUMNS, _WITAN_NAMES))
    _raise_if_empty(table, "general population")
    problems: list[InputProblem] = []
    first_rows: dict[tuple[int, int], int] = {}
    records: list[tuple[int, int, int]] = []
    for row in table.rows:
        cells = _Cells(table.file, row, _WITAN_NAMES)
        year = cells.parse("calendar_year", io.parse_int, required=True)
        age = cells.parse("academic_year", parse_academic_year, required=True)
        people = cells.parse("population", io.parse_float, required=True)
        if people is not None and people < 0:
            cells.problem("population", f"{people:g} is negative: a population is 0 or more")
        elif year is not None and age is not None and people is not None:
            if (year, age) in first_rows:
                cells.problem(
                    "academic_year",
                    f"calendar-year {year}, academic-year {age} is given twice "
                    f"(also row {first_rows[(year, age)]})",
                )
            first_rows.setdefault((year, age), row.number)
            records.append((year, age, round(people)))
        problems += cells.problems
    io.raise_if(problems)
    return PopulationTable(_frame(records, POPULATION_COLUMNS, ints=POPULATION_COLUMNS))


def read_costs(
    path: Path | str, *, limits: ReadLimits | None = None, kind_of_place: bool = False
) -> CostTable:
    """Annual cost in pounds of one child in a need x setting (witan.send's ``costs.csv``).

    With ``kind_of_place`` (an LA's history), needs are SEN2 codes and settings kinds of place,
    read in any of their usual spellings, and a blank need (or ``all``, ``*``) stands for every
    need: the frame then holds it as ``*``, expanded by :func:`cost_of`.
    """
    table = io.read_table(path, limits, _COST_KEYS.__contains__)
    required: tuple[str, ...] = ("setting", "cost") if kind_of_place else COST_COLUMNS
    io.raise_if(_columns(table, _COST_KEYS, required, _WITAN_NAMES))
    _raise_if_empty(table, "costs")
    problems: list[InputProblem] = []
    first_rows: dict[tuple[str, str], int] = {}
    records: list[tuple[str, str, float]] = []
    need_of: Callable[[str], str] = _any_need if kind_of_place else _plain
    setting_of: Callable[[str], str] = parse_kind_of_place if kind_of_place else _plain
    for row in table.rows:
        cells = _Cells(table.file, row, _WITAN_NAMES)
        need = cells.parse("need", need_of, required=not kind_of_place) or "*"
        setting = cells.parse("setting", setting_of, required=True)
        cost = cells.parse("cost", _pounds, required=True)
        if cost is not None and cost < 0:
            cells.problem("cost", f"£{cost:,.2f} is negative: a cost is £0 or more")
        elif setting is not None and cost is not None and not cells.problems:
            if (need, setting) in first_rows:
                cells.problem(
                    "setting",
                    f"need {need} in {setting} is priced twice (also row "
                    f"{first_rows[(need, setting)]})",
                )
            first_rows.setdefault((need, setting), row.number)
            records.append((need, setting, cost))
        problems += cells.problems
    io.raise_if(problems)
    return CostTable(_frame(records, COST_COLUMNS))


def cost_of(costs: CostTable, needs: Iterable[str]) -> CostTable:
    """``costs`` with every ``*`` (any need) row spelt out for each of ``needs`` that has no
    row of its own for that setting: the table the model and summaries look up."""
    frame = costs.frame
    specific = frame[frame["need"] != "*"]
    priced = set(zip(specific["need"], specific["setting"], strict=True))
    extra = [
        (need, setting, cost)
        for setting, cost in frame.loc[frame["need"] == "*", ["setting", "cost"]].itertuples(
            index=False
        )
        for need in sorted(set(needs))
        if need != NONSEND and (need, setting) not in priced
    ]
    rows = [*specific.itertuples(index=False, name=None), *extra]
    return CostTable(_frame(rows, COST_COLUMNS))


def read_valid_states(
    path: Path | str, *, limits: ReadLimits | None = None
) -> dict[str, SettingRule]:
    """witan.send's ``valid-states.csv``: each setting's NC years, needs and allowed moves."""
    table = io.read_table(path, limits, _VALID_STATE_KEYS.__contains__)
    required = ("setting", "min_academic_year", "max_academic_year", "needs", "setting_>setting")
    io.raise_if(_columns(table, _VALID_STATE_KEYS, required, _WITAN_NAMES))
    _raise_if_empty(table, "valid states")
    problems: list[InputProblem] = []
    rules: dict[str, SettingRule] = {}
    rows: dict[str, int] = {}
    for row in table.rows:
        cells = _Cells(table.file, row, _WITAN_NAMES)
        setting = cells.parse("setting", _plain, required=True)
        low = cells.parse("min_academic_year", parse_academic_year, required=True)
        high = cells.parse("max_academic_year", parse_academic_year, required=True)
        needs = cells.parse("needs", _names, required=True)
        moves = cells.parse("setting_>setting", _names, required=True)
        if low is not None and high is not None and low > high:
            cells.problem("max_academic_year", f"{high} is below min-academic-year {low}")
        if setting is not None and setting in rows:
            cells.problem("setting", f"setting {setting} is given twice (also row {rows[setting]})")
        if setting is not None and not cells.problems:
            assert low is not None and high is not None and needs is not None and moves
            group = row.get("setting_group") or setting
            rules[setting] = SettingRule(group, low, high, needs, moves)
            rows[setting] = row.number
        problems += cells.problems
    for setting, rule in rules.items():
        unknown = sorted(rule.moves_to - rules.keys())
        if unknown:
            problems.append(
                InputProblem(
                    table.file,
                    rows[setting],
                    "setting->setting",
                    f"moves to {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'}"
                    " not a setting of the file",
                )
            )
    io.raise_if(problems)
    return rules


def check_population_years(
    inputs: ForecastInputs, years: Iterable[int], population_file: str
) -> None:
    """Refuse a projection to years the population file does not cover: joiners are drawn from
    the general population of every year projected.

    Raises
    ------
    matcher.io.InputError
        Naming each year missing from ``population_file``.
    """
    have = set(inputs.population.frame["calendar_year"].astype(int))
    wanted = sorted(set(years))
    io.raise_if(
        [
            InputProblem(
                population_file,
                None,
                "calendar-year",
                f"no rows for {year}: the forecast runs to {wanted[-1]} and needs the general "
                "population of every year it projects (an ONS projection will do)",
            )
            for year in wanted
            if year not in have
        ]
    )


def uncosted_states(inputs: ForecastInputs) -> list[tuple[str, str]]:
    """Need x setting pairs holding children in the inputs but absent from the cost table: their
    children cost nothing in ``Output_Cost.csv``, so the CLI warns about them."""
    if inputs.costs is None:
        return []
    frame = inputs.transitions.frame
    held = set(zip(frame["need_2"], frame["setting_2"], strict=True))
    held |= set(zip(frame["need_1"], frame["setting_1"], strict=True))
    priced = set(zip(inputs.costs.frame["need"], inputs.costs.frame["setting"], strict=True))
    return sorted((n, s) for n, s in held - priced if n != NONSEND)


# --------------------------------------------------------------------------------------------
# Cell parsers


def parse_academic_year(text: str) -> int:
    """An NC year as witan.send writes it (-5 … 25), or as an LA does (R, N1, Y7)."""
    return io.parse_nc_year(text)


def parse_kind_of_place(text: str) -> str:
    """A kind of place in any usual spelling ('Special school - independent' → independent)."""
    key = _kind_key(text)
    if key in _KIND_ALIASES:
        return _KIND_ALIASES[key]
    msg = (
        f"{text!r} is not a kind of place; use one of {', '.join(KINDS_OF_PLACE)} "
        "(SEN unit counts as resourced_provision, NMSS and ISS as independent, FE and "
        "specialist post-16 institutions as post16)"
    )
    raise ValueError(msg)


def _kind_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _plain(text: str) -> str:
    """A witan.send state name as written; NONSEND in any case."""
    name = text.strip()
    return NONSEND if name.upper() == NONSEND else name


def _names(text: str) -> frozenset[str]:
    """witan.send's comma-separated lists ("T,U,V")."""
    names = frozenset(part.strip() for part in re.split(r"[,;]", text) if part.strip())
    if not names:
        msg = "no names given; separate several with commas"
        raise ValueError(msg)
    return names


def _pounds(text: str) -> float:
    """'£55,000', '55000' or '1000.0': pennies kept, as witan.send keeps them."""
    try:
        return io.parse_float(text.replace("£", "").strip())
    except ValueError:
        msg = f"{text!r} is not an amount in pounds"
        raise ValueError(msg) from None


def _any_need(text: str) -> str:
    if text.strip().lower() in {"*", "all", "any"}:
        return "*"
    return parse_need(text).value


# --------------------------------------------------------------------------------------------
# Table helpers


class _Cells(io.RowCheck):
    """io's row check, naming columns as the file spells them (witan.send's hyphens)."""

    def __init__(self, file: str, row: io.Row, names: Mapping[str, str]) -> None:
        super().__init__(file, row)
        self.names = names

    def problem(self, column: str | None, message: str, model_field: str | None = None) -> None:
        shown = self.names.get(column, column) if column is not None else None
        super().problem(shown, message, model_field)


class _Collector:
    """Runs one file's reader, keeping its problems with the others' instead of stopping."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = problems

    def __call__(self, reader: Callable[[], T]) -> T | None:
        try:
            return reader()
        except InputError as exc:
            self.problems += exc.problems
            return None


def _columns(
    table: io.InputTable,
    known: set[str],
    required: Sequence[str | tuple[str, ...]],
    names: Mapping[str, str],
) -> list[InputProblem]:
    """io's column check (missing, misspelt), naming columns as the file spells them."""
    problems = io.check_columns(table, known, required)
    renamed = []
    for problem in problems:
        message = problem.message
        for key, shown in names.items():
            message = message.replace(f"'{key}'", f"'{shown}'")
        field = names.get(problem.field, problem.field) if problem.field else None
        renamed.append(replace(problem, field=field, message=message))
    return renamed


def _raise_if_empty(table: io.InputTable, what: str) -> None:
    if not table.rows:
        io.raise_if([InputProblem(table.file, None, None, f"the file has no {what} in it")])


def _frame(
    records: Sequence[tuple[object, ...]], columns: Sequence[str], ints: Sequence[str] = ()
) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(list(records), columns=list(columns))
    for column in ints:
        frame[column] = frame[column].astype("int64")
    return frame


# --------------------------------------------------------------------------------------------
# witan.send's transitions


@dataclass(frozen=True)
class _Transitions:
    table: TransitionTable
    file: str
    rows: tuple[int, ...]  # each frame row's row number in the file, for later checks


def _read_transitions(path: Path | str, limits: ReadLimits | None) -> _Transitions:
    keys = set(TRANSITION_COLUMNS)
    table = io.read_table(path, limits, keys.__contains__)
    io.raise_if(_columns(table, keys, TRANSITION_COLUMNS, _WITAN_NAMES))
    _raise_if_empty(table, "transitions")
    problems: list[InputProblem] = []
    records: list[tuple[object, ...]] = []
    rows: list[int] = []
    for row in table.rows:
        cells = _Cells(table.file, row, _WITAN_NAMES)
        year = cells.parse("calendar_year", io.parse_int, required=True)
        first = _state(cells, "1")
        second = _state(cells, "2")
        if year is not None and first is not None and second is not None:
            _check_transition(cells, first, second)
            if not cells.problems:
                records.append((year, *_ordered(first), *_ordered(second)))
                rows.append(row.number)
        problems += cells.problems
    io.raise_if(problems)
    frame = _frame(records, TRANSITION_COLUMNS, ints=_YEAR_COLUMNS)
    return _Transitions(TransitionTable(frame), table.file, tuple(rows))


_YEAR_COLUMNS = ("calendar_year", "academic_year_1", "academic_year_2")


def _state(cells: _Cells, side: str) -> State | None:
    setting = cells.parse(f"setting_{side}", _plain, required=True)
    need = cells.parse(f"need_{side}", _plain, required=True)
    age = cells.parse(f"academic_year_{side}", parse_academic_year, required=True)
    if setting is None or need is None or age is None:
        return None
    return State(need, setting, age)


def _ordered(state: State) -> tuple[str, str, int]:
    """A state in the transitions file's column order: setting, need, academic year."""
    return state.setting, state.need, state.academic_year


def _check_transition(cells: _Cells, first: State, second: State) -> None:
    for side, state in (("1", first), ("2", second)):
        if (state.setting == NONSEND) != (state.need == NONSEND):
            column = f"need_{side}" if state.setting == NONSEND else f"setting_{side}"
            cells.problem(
                column,
                f"setting-{side} and need-{side} must both be NONSEND (a child outside the SEND "
                "population) or neither",
            )
    if first.setting == NONSEND and second.setting == NONSEND:
        cells.problem("setting_2", "NONSEND in both years: the row is no child with a plan")
    if second.academic_year < first.academic_year:
        cells.problem(
            "academic_year_2",
            f"the child ages backwards: academic-year-2 ({second.academic_year}) is below "
            f"academic-year-1 ({first.academic_year})",
        )


def _population_gaps(
    population: PopulationTable,
    population_file: str,
    transitions: TransitionTable,
    names: Mapping[str, str],
) -> list[InputProblem]:
    have = set(population.frame["calendar_year"].astype(int))
    wanted = sorted(set(transitions.frame["calendar_year"].astype(int)))
    return [
        InputProblem(
            population_file,
            None,
            names.get("calendar_year", "calendar_year"),
            f"no rows for {year}: the transitions from {year} need that year's general "
            "population (joiners are a share of it)",
        )
        for year in wanted
        if year not in have
    ]


def _invalid_states(moves: _Transitions, rules: Mapping[str, SettingRule]) -> list[InputProblem]:
    """Transitions the valid states forbid: a state they do not allow, or a move between
    settings they do not list. witan.send would drop them; sendmatch says where they are."""
    problems: list[InputProblem] = []
    frame = moves.table.frame
    columns = [*TRANSITION_COLUMNS[1:]]
    for number, values in zip(moves.rows, frame[columns].itertuples(index=False), strict=True):
        s1, n1, a1, s2, n2, a2 = values
        for side, (setting, need, age) in (("1", (s1, n1, a1)), ("2", (s2, n2, a2))):
            message = _state_problem(rules, setting, need, age)
            if message:
                problems.append(InputProblem(moves.file, number, message[0] + side, message[1]))
        known = s1 in rules and s2 in rules  # an unknown setting is reported above
        if known and s1 != s2 and s2 not in rules[s1].moves_to:
            problems.append(
                InputProblem(
                    moves.file,
                    number,
                    "setting-2",
                    f"a move from {s1} to {s2}, which valid-states does not allow "
                    f"({s1}'s setting->setting)",
                )
            )
    return problems


def _state_problem(
    rules: Mapping[str, SettingRule], setting: str, need: str, age: int
) -> tuple[str, str] | None:
    """(column stem, message) if the valid states forbid the state, else None."""
    if setting == NONSEND:
        return None
    rule = rules.get(setting)
    if rule is None:
        return "setting-", f"setting {setting} is not in valid-states"
    if not rule.min_academic_year <= age <= rule.max_academic_year:
        return (
            "academic-year-",
            f"academic year {age} is outside setting {setting}'s range in valid-states "
            f"({rule.min_academic_year} to {rule.max_academic_year})",
        )
    if need not in rule.needs:
        return "need-", f"need {need} is not among setting {setting}'s needs in valid-states"
    return None


# --------------------------------------------------------------------------------------------
# An LA's yearly snapshots


@dataclass(frozen=True)
class _Snapshot:
    """One child in one January: its state, and where the file says so."""

    state: State
    file: str
    row: int
    nc_column: str  # as the file spells it


def _label(folder_or_files: Path | str | Sequence[Path | str]) -> str:
    if isinstance(folder_or_files, str | Path):
        return Path(folder_or_files).name or str(folder_or_files)
    return "the history files"


def _snapshot_paths(folder_or_files: Path | str | Sequence[Path | str]) -> list[Path]:
    if isinstance(folder_or_files, str | Path):
        folder = Path(folder_or_files)
        if not folder.is_dir():
            return [folder]  # one file holding every year in its census_year column
        paths = sorted(
            path
            for path in folder.iterdir()
            if path.is_file()
            and path.suffix.lower() in _TABLE_SUFFIXES
            and not path.name.startswith((".", "~$"))  # hidden files, Excel's lock files
        )
        if not paths:
            io.raise_if(
                [InputProblem(folder.name, None, None, "the folder has no .csv or .xlsx files")]
            )
        return paths
    return [Path(path) for path in folder_or_files]


def _year_in_name(path: Path) -> int | str:
    """The year a file's name gives, or why it gives none."""
    school_year = _SCHOOL_YEAR_IN_NAME.search(path.stem)
    if school_year and int(school_year[2]) == (int(school_year[1]) + 1) % 100:
        return (
            f"its name holds the school year {school_year[0]}, and the census is the January "
            "of the year after"
        )
    years = sorted(set(_YEAR_IN_NAME.findall(path.stem)))
    if len(years) == 1:
        return int(years[0])
    if not years:
        return "its name holds no year"
    return f"its name holds {len(years)} years ({', '.join(years)})"


def _read_setting_kinds(path: Path | str, limits: ReadLimits | None) -> dict[str, str]:
    """URN → kind of place from a settings file's ``kind_of_place`` or ``setting_type``."""
    keys = {"urn", "kind_of_place", "setting_type"}
    table = io.read_table(path, limits, keys.__contains__)
    io.raise_if(io.check_columns(table, keys, ["urn", ("kind_of_place", "setting_type")]))
    problems: list[InputProblem] = []
    kinds: dict[str, str] = {}
    first_rows: dict[str, int] = {}
    for row in table.rows:
        cells = _Cells(table.file, row, {})
        urn = cells.parse("urn", str, required=True)
        if row.get("kind_of_place") is not None:
            kind = cells.parse("kind_of_place", parse_kind_of_place)
        else:
            kind_type = cells.parse("setting_type", parse_setting_type, required=True)
            kind = SETTING_KIND_OF_PLACE[kind_type] if kind_type is not None else None
        duplicate = io.duplicate(table.file, "urn", urn, row.number, first_rows)
        if duplicate:
            problems.append(duplicate)
        if urn is not None and kind is not None:
            kinds[urn] = kind
        problems += cells.problems
    io.raise_if(problems)
    return kinds


def _read_snapshots(
    paths: Sequence[Path],
    kinds: Mapping[str, str] | None,
    settings: Path | str | None,
    limits: ReadLimits | None,
    problems: list[InputProblem],
) -> dict[int, dict[str, _Snapshot]]:
    """Every file's children by year; problems are added to ``problems``."""
    years: dict[int, dict[str, _Snapshot]] = {}
    for path in paths:
        try:
            table = io.read_table(path, limits, _HISTORY_KEYS.__contains__)
        except InputError as exc:
            problems += exc.problems
            continue
        columns = _history_columns(table, settings is not None, problems)
        if columns is None:
            continue
        if not table.rows:
            problems.append(InputProblem(table.file, None, None, "the file has no children in it"))
        named = _year_in_name(path)
        settings_file = Path(settings).name if settings is not None else ""
        for row in table.rows:
            _read_child(table.file, row, columns, named, kinds, settings_file, years, problems)
    return years


def _history_columns(
    table: io.InputTable, has_settings: bool, problems: list[InputProblem]
) -> dict[str, str] | None:
    """Which of each column's spellings the file uses, or None if it lacks a required one."""
    place = (*_HISTORY_ALIASES["kind_of_place"], *_HISTORY_ALIASES["setting_urn"])
    required = [_HISTORY_ALIASES[c] for c in ("child_id", "nc_year", "primary_need")]
    found = io.check_columns(table, _HISTORY_KEYS, [*required, place])
    present = set(table.columns)
    columns = {
        name: next(a for a in aliases if a in present)
        for name, aliases in _HISTORY_ALIASES.items()
        if present.intersection(aliases)
    }
    if "kind_of_place" not in columns and "setting_urn" in columns and not has_settings:
        found.append(
            InputProblem(
                table.file,
                None,
                "kind_of_place",
                f"the file gives {columns['setting_urn']} but no kind_of_place: add a "
                "kind_of_place column, or give a settings file (--settings) that says each "
                "URN's setting_type",
            )
        )
    problems += found
    return None if found else columns


def _read_child(
    file: str,
    row: io.Row,
    columns: Mapping[str, str],
    named: int | str,
    kinds: Mapping[str, str] | None,
    settings_file: str,
    years: dict[int, dict[str, _Snapshot]],
    problems: list[InputProblem],
) -> None:
    cells = _Cells(file, row, {})
    child = cells.parse(columns["child_id"], str, required=True)
    age = cells.parse(columns["nc_year"], _nc_year, required=True)
    need = cells.parse(columns["primary_need"], lambda t: parse_need(t).value, required=True)
    kind = _kind_of(cells, columns, kinds, settings_file)
    year = _row_year(cells, columns, named)
    problems += cells.problems
    if cells.problems:
        return
    assert child is not None and age is not None and need is not None
    assert kind is not None and year is not None
    children = years.setdefault(year, {})
    earlier = children.get(child)
    if earlier is not None:
        same_file = earlier.file == file
        where = f"row {earlier.row}" if same_file else f"{earlier.file} row {earlier.row}"
        message = f"duplicate {columns['child_id']}: the child appears twice in {year} ({where})"
        problems.append(InputProblem(file, row.number, columns["child_id"], message))
        return
    children[child] = _Snapshot(State(need, kind, age), file, row.number, columns["nc_year"])


def _nc_year(text: str) -> int:
    year = io.parse_nc_year(text)
    if not MIN_NC_YEAR <= year <= MAX_NC_YEAR:
        msg = f"NC year {year} is outside N1 ({MIN_NC_YEAR}) to {MAX_NC_YEAR} (age 25)"
        raise ValueError(msg)
    return year


def _kind_of(
    cells: _Cells, columns: Mapping[str, str], kinds: Mapping[str, str] | None, settings_file: str
) -> str | None:
    kind_column = columns.get("kind_of_place")
    if kind_column is not None and cells.row.get(kind_column) is not None:
        return cells.parse(kind_column, parse_kind_of_place)
    urn_column = columns.get("setting_urn")
    if urn_column is None or kinds is None:
        cells.problem(kind_column, "required but blank")
        return None
    urn = cells.parse(urn_column, str, required=True)
    if urn is not None and urn not in kinds:
        cells.problem(urn_column, f"the URN is not in the settings file {settings_file}")
        return None
    return kinds.get(urn) if urn is not None else None


def _row_year(cells: _Cells, columns: Mapping[str, str], named: int | str) -> int | None:
    year_column = columns.get("census_year")
    if year_column is not None and cells.row.get(year_column) is not None:
        return cells.parse(year_column, io.parse_int)
    if isinstance(named, int):
        return named
    cells.problem(
        year_column or "census_year",
        f"which January is this? {named}: name the file by its census year (e.g. 2024.csv "
        "for January 2024) or give a census_year column",
    )
    return None


def _link_years(
    snapshots: Mapping[int, Mapping[str, _Snapshot]], label: str, problems: list[InputProblem]
) -> TransitionTable | None:
    """Each child's state one January and the next: a transition, a joiner or a leaver.

    A child absent one year and back the next is a leaver, then a joiner: that is what the
    census shows, and what the model must learn from.
    """
    years = sorted(snapshots)
    if len(years) < 2:
        problems.append(
            InputProblem(
                label,
                None,
                None,
                f"only {'one year' if years else 'no year'} of history "
                f"({', '.join(map(str, years)) or 'none'}): the forecast learns how children "
                "move from one January to the next, so give at least two years",
            )
        )
        return None
    missing = sorted(set(range(years[0], years[-1] + 1)) - set(years))
    for year in missing:
        problems.append(
            InputProblem(
                label,
                None,
                None,
                f"no snapshot for January {year}: the years must run without a gap from "
                f"{years[0]} to {years[-1]}, or the children of {year - 1} cannot be linked",
            )
        )
    _check_ageing(snapshots, years, problems)
    if missing:
        return None
    records: list[tuple[object, ...]] = []
    for year in years[:-1]:
        records += _year_transitions(year, snapshots[year], snapshots[year + 1])
    return TransitionTable(_frame(records, TRANSITION_COLUMNS, ints=_YEAR_COLUMNS))


def _year_transitions(
    year: int, now: Mapping[str, _Snapshot], then: Mapping[str, _Snapshot]
) -> list[tuple[object, ...]]:
    records: list[tuple[object, ...]] = []
    for child, snap in now.items():
        later = then.get(child)
        after = later.state if later is not None else _outside(snap.state.academic_year + 1)
        records.append((year, *_ordered(snap.state), *_ordered(after)))
    for child, snap in then.items():
        if child not in now:
            joiner = _outside(snap.state.academic_year - 1)
            records.append((year, *_ordered(joiner), *_ordered(snap.state)))
    return records


def _outside(academic_year: int) -> State:
    return State(NONSEND, NONSEND, academic_year)


def _check_ageing(
    snapshots: Mapping[int, Mapping[str, _Snapshot]],
    years: Sequence[int],
    problems: list[InputProblem],
) -> None:
    """A child's NC year never goes down from one snapshot to a later one (it may stay, for
    a child kept back a year)."""
    last: dict[str, tuple[int, _Snapshot]] = {}
    for year in years:
        for child, snap in snapshots[year].items():
            before = last.get(child)
            if before is not None and snap.state.academic_year < before[1].state.academic_year:
                earlier_year, earlier = before
                problems.append(
                    InputProblem(
                        snap.file,
                        snap.row,
                        snap.nc_column,
                        f"the child's NC year goes back from {earlier.state.academic_year} in "
                        f"{earlier_year} ({earlier.file} row {earlier.row}) to "
                        f"{snap.state.academic_year} in {year}: check the NC year or the "
                        "child_id",
                    )
                )
            last[child] = (year, snap)
