"""Caseload and settings files checked a column at a time, with the row checker's messages.

Why: read row by row, every child went through a :class:`matcher.row_checks.RowCheck` and a
pydantic validation, about 3 s for a whole LA's 25,000 children, longer than the placement
itself. Here each column is parsed at once, each distinct text of it once (a caseload has a
few hundred distinct need codes, years and preference lists, not 25,000), and locations are
checked as arrays.

How the messages stay exactly the row checker's: the column checks only decide which rows
are certainly good. Every other row (a cell that does not parse, a value out of range, a
duplicate id, a location outside the UK, or anything these checks do not read for
themselves, such as a child's easting given without a northing) goes through the row checker
of :mod:`matcher.caseload_rows`, which words its problems, in file order, as it always has. A
row the column checks wrongly doubted costs a little time and nothing else.

Good children become :class:`matcher.models.Child` objects without a second validation: their
values were checked against every rule of the model here (tests/test_columnar_loading.py
fails if the model gains a field or a validator these checks do not know), and build the
same objects, field for field, as validation would. Settings, a few hundred in any LA and
with more rules between their fields, are validated one by one as before; a setting that
fails validation is one more row for the row checker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from datetime import date
from itertools import compress
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from matcher.caseload_rows import PROVISION_PREFIXES, child_from_row, setting_from_row
from matcher.cell_parsers import (
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_nc_year,
    parse_needs,
    parse_placement_kinds,
    parse_pounds,
    parse_requirements,
    parse_setting_type,
    parse_sex,
    parse_sex_admitted,
    parse_urns,
    parse_year_map,
)
from matcher.garbage_collection import paused_garbage_collection
from matcher.input_tables import InputProblem, InputTable, duplicate
from matcher.models import MAX_NC_YEAR, MIN_NC_YEAR, Child, Location, Setting, nc_year_from_birth
from matcher.needs import parse_need
from matcher.row_checks import (
    BNG_EASTING,
    BNG_NORTHING,
    Area,
    bng_to_wgs84_arrays,
    inside_areas,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)

#: The fields of :class:`Child` and the validators these checks stand in for; a test compares
#: them with the model's, so that a new rule cannot be skipped unnoticed.
CHILD_FIELDS_CHECKED = (
    "child_id",
    "nc_year",
    "sex",
    "home",
    "home_la_code",
    "primary_need",
    "secondary_needs",
    "has_ehcp",
    "current_setting",
    "preferences",
    "sibling_group",
    "requirements",
    "suitable_kinds",
    "top_up_band",
)
CHILD_VALIDATORS_CHECKED = frozenset({"_id_has_no_spaces", "_preferences_distinct"})
CHILD_ID_MAX_LENGTH = 64
URN_MAX_LENGTH = 32


# --------------------------------------------------------------------------------------------
# Columns


class _Columns:
    """A table's columns parsed at once, and the rows that must go through the row checker."""

    def __init__(self, table: InputTable) -> None:
        self.table = table
        self.size = len(table)
        self.doubtful: set[int] = set()

    def texts(self, column: str, *, required: bool = False) -> list[str | None]:
        """A column's texts, None where blank."""
        texts = self.table.column(column)
        if required:
            self._need(texts)
        return [text or None for text in texts]

    def parsed(
        self, column: str, parser: Callable[[str], T], *, required: bool = False
    ) -> list[T | None]:
        """A column parsed, None where blank or where the text does not parse."""
        texts = self.table.column(column)
        values, failed = parse_distinct(texts, parser)
        self.doubtful.update(failed)
        if required:
            self._need(texts)
        return values

    def _need(self, texts: list[str]) -> None:
        """Rows with a required cell blank are doubtful."""
        if not all(texts):
            self.doubtful.update(i for i, text in enumerate(texts) if not text)


def parse_distinct(
    texts: Sequence[str], parser: Callable[[str], T]
) -> tuple[list[T | None], list[int]]:
    """Each distinct text parsed once: the values (None where blank or failing) and the rows
    whose text failed. Parsers are pure, so that sharing a result between rows is safe."""
    results: dict[str, T | None] = {"": None}
    failing: set[str] = set()
    for text in set(texts):
        if text:
            try:
                results[text] = parser(text)
            except ValueError:
                results[text] = None
                failing.add(text)
    failed = [i for i, text in enumerate(texts) if text in failing] if failing else []
    return list(map(results.__getitem__, texts)), failed


def _floats(texts: Sequence[str]) -> FloatArray:
    """:func:`matcher.cell_parsers.parse_float` of a column: NaN where blank or failing."""
    import numpy as np

    try:  # without a comma, parse_float is float() with non-finite values refused
        values = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
    except ValueError:
        values = np.array([_float_or_nan(text) for text in texts], dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def _float_or_nan(text: str) -> float:
    if not text:
        return float("nan")
    try:
        return parse_float(text)
    except ValueError:
        return float("nan")


def _given(texts: Sequence[str]) -> BoolArray:
    import numpy as np

    return np.fromiter(map(bool, texts), dtype=np.bool_, count=len(texts))


def _locations(cols: _Columns, extra_areas: Sequence[Area]) -> tuple[list[float], list[float]]:
    """Latitudes and longitudes, from latitude/longitude or else easting/northing, as the row
    checker reads them; a row with any doubt about its location is doubtful."""
    import numpy as np

    table = cols.table
    lat_texts, lon_texts = table.column("latitude"), table.column("longitude")
    east_texts, north_texts = table.column("easting"), table.column("northing")
    by_degrees = _given(lat_texts) | _given(lon_texts)
    by_grid = ~by_degrees & (_given(east_texts) | _given(north_texts))
    lat, lon = _floats(lat_texts), _floats(lon_texts)
    if by_grid.any():
        east, north = _floats(east_texts)[by_grid], _floats(north_texts)[by_grid]
        on_grid = (
            (BNG_EASTING[0] <= east)
            & (east <= BNG_EASTING[1])
            & (BNG_NORTHING[0] <= north)
            & (north <= BNG_NORTHING[1])
        )
        grid_lon, grid_lat = bng_to_wgs84_arrays(
            np.where(on_grid, east, 0.0), np.where(on_grid, north, 0.0)
        )
        lat[by_grid] = np.where(on_grid, grid_lat, np.nan)
        lon[by_grid] = np.where(on_grid, grid_lon, np.nan)
    with np.errstate(invalid="ignore"):  # NaN (blank or failing) compares False: doubtful
        usable = (by_degrees | by_grid) & (lat >= -90) & (lat <= 90)
        usable &= (lon >= -180) & (lon <= 180)
    cols.doubtful.update(np.flatnonzero(~(usable & inside_areas(lat, lon, extra_areas))).tolist())
    return lat.tolist(), lon.tolist()


def _first_rows(cols: _Columns, keys: Sequence[str | None]) -> list[int]:
    """Each row's first row with the same key (itself if first or blank); later ones are
    doubtful (the row checker reports them as duplicates)."""
    first: dict[str, int] = {}
    firsts = [first.setdefault(key, i) if key is not None else i for i, key in enumerate(keys)]
    cols.doubtful.update(i for i, j in enumerate(firsts) if j != i)
    return firsts


def _duplicate_of(
    table: InputTable, column: str, keys: Sequence[str | None], firsts: Sequence[int], i: int
) -> InputProblem | None:
    """The row checker's duplicate problem for row ``i``, if it repeats an earlier key."""
    key = keys[i]
    if key is None or firsts[i] == i:
        return None
    return duplicate(table.file, column, key, table.numbers[i], {key: table.numbers[firsts[i]]})


# --------------------------------------------------------------------------------------------
# Children


def checked_children(
    table: InputTable,
    year_start: date,
    pref_columns: Sequence[str],
    extra_areas: Sequence[Area] = (),
) -> tuple[list[Child], list[InputProblem]]:
    """The children of a caseload table, and every problem in it in the row checker's words
    and order (:func:`matcher.caseload_rows.child_from_row`)."""
    with paused_garbage_collection():
        return _checked_children(table, year_start, pref_columns, extra_areas)


def _checked_children(
    table: InputTable,
    year_start: date,
    pref_columns: Sequence[str],
    extra_areas: Sequence[Area],
) -> tuple[list[Child], list[InputProblem]]:
    cols = _Columns(table)
    ids = cols.texts("child_id", required=True)
    cols.doubtful.update(
        i
        for i, child_id in enumerate(ids)
        if child_id is not None
        and (len(child_id) > CHILD_ID_MAX_LENGTH or not child_id.isprintable())
    )
    firsts = _first_rows(cols, ids)
    fields: dict[str, list[Any]] = {
        "child_id": ids,
        "nc_year": _nc_years(cols, year_start),
        "sex": cols.parsed("sex", parse_sex),
        "home": _points(*_locations(cols, extra_areas)),
        "home_la_code": cols.texts("home_la_code"),
        "primary_need": cols.parsed("primary_need", parse_need, required=True),
        "secondary_needs": cols.parsed("secondary_needs", _or_none(parse_needs)),
        "has_ehcp": cols.parsed("has_ehcp", parse_bool),
        "current_setting": cols.texts("current_setting"),
        "preferences": _preferences(cols, pref_columns),
        "sibling_group": cols.texts("sibling_group"),
        "requirements": cols.parsed("requirements", _or_none(_frozen(parse_requirements))),
        "suitable_kinds": cols.parsed("suitable_kinds", _or_none(_frozen(parse_placement_kinds))),
        "top_up_band": cols.texts("top_up_band"),
    }
    children: list[Child] = []
    problems: list[InputProblem] = []
    for i, built in enumerate(_built(Child, fields)):  # a doubtful row's is not used
        if i not in cols.doubtful:
            children.append(built)
            continue
        dup = _duplicate_of(table, "child_id", ids, firsts, i)
        if dup:
            problems.append(dup)
        checked = child_from_row(
            table.file, table.row(i), year_start, pref_columns, problems, extra_areas
        )
        if checked is not None:
            children.append(checked)
    return children, problems


def _built(model: type[ModelT], fields: dict[str, list[Any]]) -> Iterator[ModelT]:
    """``model`` objects, one a row, from columns of checked values (None: not given, so the
    default) for every field, in the model's order; as ``model_validate`` builds them."""
    assert tuple(fields) == tuple(model.model_fields), "every field, in the model's order"
    make = _trusted(model)
    names = tuple(fields)
    columns = list(fields.values())
    infos = model.model_fields.values()
    defaulted = [_defaulted(c, info) for c, info in zip(columns, infos, strict=True)]
    # Which fields a row gives: the same few patterns recur, so their sets are made once, and
    # shared between a frozen model's objects (pydantic copies the set before it changes one).
    shared = bool(model.model_config.get("frozen"))
    patterns: dict[tuple[bool, ...], set[str]] = {}
    givens = zip(*([v is not None for v in column] for column in columns), strict=True)
    for values, pattern in zip(zip(*defaulted, strict=True), givens, strict=True):
        given = patterns.get(pattern)
        if given is None:
            given = patterns[pattern] = set(compress(names, pattern))
        yield make(dict(zip(names, values, strict=True)), given if shared else set(given))


def _nc_years(cols: _Columns, year_start: date) -> list[int | None]:
    """NC years from nc_year, or else from date_of_birth, within N1 to the last year."""
    texts = cols.table.column("nc_year")
    years = cols.parsed("nc_year", parse_nc_year)
    born, _ = parse_distinct(cols.table.column("date_of_birth"), parse_date)
    by_birth: dict[date, int] = {}
    for i, year in enumerate(years):
        if year is None and not texts[i]:  # read from the date of birth, if it reads
            day = born[i]
            if day is None:
                cols.doubtful.add(i)
                continue
            if day not in by_birth:
                by_birth[day] = nc_year_from_birth(day, year_start)
            year = years[i] = by_birth[day]
        if year is not None and not MIN_NC_YEAR <= year <= MAX_NC_YEAR:
            cols.doubtful.add(i)
    return years


def _points(lat: list[float], lon: list[float]) -> list[Location]:
    """Checked points as :class:`Location` objects (frozen: one set of fields given serves)."""
    make, given = _trusted(Location), {"latitude", "longitude"}
    return [make({"latitude": y, "longitude": x}, given) for y, x in zip(lat, lon, strict=True)]


def _preferences(cols: _Columns, pref_columns: Sequence[str]) -> list[tuple[str, ...] | None]:
    """Ranked preferences, from numbered columns filled in rank order or one ';' list."""
    if not pref_columns:
        ranked = cols.parsed("preferences", _ranked_urns)
    else:
        ranked = []
        columns = [cols.table.column(c) for c in pref_columns]
        for i, cells in enumerate(zip(*columns, strict=True)):
            given = [urn for urn in cells if urn]
            if given and not all(cells[: len(given)]):  # a blank before a later preference
                cols.doubtful.add(i)
            ranked.append(tuple(given) or None)
    for i, urns in enumerate(ranked):
        if urns is not None and len(set(urns)) != len(urns):
            cols.doubtful.add(i)
    return ranked


def _ranked_urns(text: str) -> tuple[str, ...] | None:
    return tuple(parse_urns(text)) or None


def _frozen(parser: Callable[[str], list[T]]) -> Callable[[str], frozenset[T]]:
    return lambda text: frozenset(parser(text))


def _or_none(parser: Callable[[str], frozenset[T]]) -> Callable[[str], frozenset[T] | None]:
    """An empty set read as not given, so that the model's default applies."""
    return lambda text: parser(text) or None


def _defaulted(column: list[Any], info: FieldInfo) -> list[Any]:
    """A column with the field's default where not given (a default made afresh for each
    row where the model makes it so, as validation would)."""
    if info.is_required():
        return column
    if info.default_factory is not None:
        return [info.get_default(call_default_factory=True) if v is None else v for v in column]
    default = info.get_default()
    return [default if v is None else v for v in column]


def _trusted(model: type[ModelT]) -> Callable[[dict[str, Any], set[str]], ModelT]:
    """Build ``model`` objects from values already checked against all its rules, as
    ``model_validate`` would build them (``values`` holds every field, in the model's order;
    ``given`` the fields the file set), without a second validation."""
    plain = (
        not model.__private_attributes__
        and model.__pydantic_post_init__ is None
        and model.model_config.get("extra") in (None, "ignore")
    )
    if not plain:  # pydantic's own construction does what more such a model needs
        return lambda values, given: model.model_construct(given, **values)
    new, set_attribute = object.__new__, object.__setattr__

    def make(values: dict[str, Any], given: set[str]) -> ModelT:
        built = new(model)
        set_attribute(built, "__dict__", values)
        set_attribute(built, "__pydantic_fields_set__", given)
        set_attribute(built, "__pydantic_extra__", None)
        set_attribute(built, "__pydantic_private__", None)
        return built

    return make


# --------------------------------------------------------------------------------------------
# Settings


def checked_settings(
    table: InputTable, extra_areas: Sequence[Area] = ()
) -> tuple[list[Setting], list[InputProblem]]:
    """The settings of a settings table, and every problem in it in the row checker's words
    and order (:func:`matcher.caseload_rows.setting_from_row`)."""
    with paused_garbage_collection():
        return _checked_settings(table, extra_areas)


def _checked_settings(
    table: InputTable, extra_areas: Sequence[Area]
) -> tuple[list[Setting], list[InputProblem]]:
    cols = _Columns(table)
    urns = cols.texts("urn", required=True)
    cols.doubtful.update(
        i for i, urn in enumerate(urns) if urn is not None and len(urn) > URN_MAX_LENGTH
    )
    firsts = _first_rows(cols, urns)
    fields: dict[str, list[Any]] = {
        "urn": urns,
        "name": cols.texts("name", required=True),
        "setting_type": cols.parsed("setting_type", parse_setting_type, required=True),
        "la_code": cols.texts("la_code"),
        "location": _points(*_locations(cols, extra_areas)),
        "low_age": cols.parsed("low_age", parse_int, required=True),
        "high_age": cols.parsed("high_age", parse_int, required=True),
        "sex_admitted": cols.parsed("sex_admitted", parse_sex_admitted),
        "designated_needs": cols.parsed("designated_needs", parse_needs),
        "facilities": cols.parsed("facilities", _frozen(parse_requirements)),
        "total_places": cols.parsed("total_places", parse_int, required=True),
        "on_roll": cols.parsed("on_roll", parse_int),
        "year_places": cols.parsed("year_places", parse_year_map),
        "year_on_roll": cols.parsed("year_on_roll", parse_year_map),
        "provisions": _provisions(cols),
        "annual_fee": cols.parsed("annual_fee", parse_pounds),
        "top_up": cols.parsed("top_up", parse_pounds),
    }
    names = tuple(fields)
    settings: list[Setting] = []
    problems: list[InputProblem] = []
    for i, values in enumerate(zip(*fields.values(), strict=True)):
        setting = None
        if i not in cols.doubtful:
            given = {n: v for n, v in zip(names, values, strict=True) if v is not None}
            with suppress(ValidationError):  # the row checker words the problems
                setting = Setting.model_validate(given)
        if setting is None:
            dup = _duplicate_of(table, "urn", urns, firsts, i)
            if dup:
                problems.append(dup)
            setting = setting_from_row(table.file, table.row(i), problems, extra_areas)
        if setting is not None:
            settings.append(setting)
    return settings, problems


def _provisions(cols: _Columns) -> list[tuple[dict[str, Any], ...] | None]:
    """Each setting's resourced provision and SEN unit, from their three columns each."""
    per_prefix = []
    for prefix, kind in PROVISION_PREFIXES.items():
        needs = cols.parsed(f"{prefix}_needs", parse_needs)
        places = cols.parsed(f"{prefix}_places", parse_int)
        on_roll = cols.parsed(f"{prefix}_on_roll", parse_int)
        provisions: list[dict[str, Any] | None] = []
        for i, (need, place, roll) in enumerate(zip(needs, places, on_roll, strict=True)):
            if need is None and place is None and roll is None:
                provisions.append(None)
                continue
            if place is None:  # blank, or failing: the row checker says which
                cols.doubtful.add(i)
            provision: dict[str, Any] = {"kind": kind, "designated_needs": need or frozenset()}
            if place is not None:
                provision["places"] = place
            if roll is not None:
                provision["on_roll"] = roll
            provisions.append(provision)
        per_prefix.append(provisions)
    return [tuple(p for p in row if p is not None) or None for row in zip(*per_prefix, strict=True)]
