"""An LA's general population by age (ONS estimates and projections) as the base of its rates.

Without it the LA model's net new plans are a rate per plan the LA holds: the statistics' own
age structure, in years when the LA's child population grew as it did. Where a planner gives
the ONS population (``sendmatch forecast --la ... --population FILE``), each age band's net new
plans also follow that band's population: they are scaled by how far the population is above
or below where it would be had it kept growing as it did over the years the LA's rates are
learnt from (:attr:`~matcher.forecast.la_totals.LaModelConfig.effect_years`). A falling
primary population (fewer new plans at 5-10) shows; a population growing as before changes
nothing; plans already held age on whatever the population does.

The file (CSV or XLSX), one row per LA, year and single year of age:

``la_code``
    The DfE's 3-digit LA code (``857``) or the ONS code (``E06000017``); also read from
    ``area_code``, ``ons_code``, ``new_la_code`` or ``old_la_code``. Rows of England, its
    regions, Wales, Scotland and Northern Ireland are skipped.
``year``
    The ONS mid-year (30 June) of the estimate or projection; also ``mid_year`` or
    ``calendar_year``. January Y uses mid-year Y - 1: the ages on 30 June are, within two
    months, the ages on the 31 August before January, as the DfE counts them.
``age``
    A single year of age, 0 up (``90+`` as 90); ages over 25 are not used.
``population``
    People of that age, 0 or more (fractions allowed: projections have them); also ``count``
    or ``value``.
``sex`` (optional)
    When rows for persons (``persons``, ``all`` or ``total``) are present only those are
    used; otherwise every row (males and females) is added up.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher import io
from matcher.forecast.dfe_statistics import AGE_BAND_RANGES, LA, EhcpStatistics
from matcher.io import InputProblem
from matcher.read_limits import ReadLimits

BANDS = len(AGE_BAND_RANGES)
OLDEST_AGE = AGE_BAND_RANGES[-1][1]

_ALIASES: dict[str, tuple[str, ...]] = {
    "la_code": ("la_code", "area_code", "ons_code", "new_la_code", "old_la_code"),
    "year": ("year", "mid_year", "calendar_year"),
    "age": ("age",),
    "population": ("population", "count", "value"),
    "sex": ("sex",),
}
_KEYS = frozenset(a for aliases in _ALIASES.values() for a in aliases)
_PERSONS = frozenset({"persons", "person", "all", "all persons", "total", "p"})
#: ONS codes of areas that are not English LAs: England, regions, the other nations, the
#: UK's and GB's groupings.
_NOT_AN_LA = re.compile(r"^(E92|E12|W|S|N|K)", re.IGNORECASE)


@dataclass(frozen=True)
class LaPopulation:
    """People by age band each mid-year: ``bands[code][year]`` (one value per age band of
    :data:`~matcher.forecast.dfe_statistics.AGE_BANDS`), by the statistics' LA code, for
    the ages the file gives (``ages[code][year]``: the single ages found)."""

    file: str
    bands: dict[str, dict[int, np.ndarray]]
    ages: dict[str, dict[int, frozenset[int]]]

    def covers(self, code: str) -> bool:
        return code in self.bands


def read_la_population(
    path: Path | str, statistics: EhcpStatistics, *, limits: ReadLimits | None = None
) -> LaPopulation:
    """The population file, checked row by row and against the LAs of ``statistics``.

    Raises
    ------
    matcher.io.InputError
        Every problem, each with file, row and column: a column missing, a year, age or
        population that is not a number, a population below 0, a code that is no LA in the
        statistics, the same LA, year, age (and sex) twice.
    """
    table = io.read_table(path, limits, _KEYS.__contains__)
    required = [_ALIASES[name] for name in ("la_code", "year", "age", "population")]
    problems = io.check_columns(table, set(_KEYS), required)
    io.raise_if(problems)
    present = set(table.columns)
    column = {
        name: next(a for a in aliases if a in present)
        for name, aliases in _ALIASES.items()
        if present.intersection(aliases)
    }
    codes = _la_codes(statistics)
    people: dict[tuple[str, int, int, str], float] = {}
    first_rows: dict[tuple[str, int, int, str], int] = {}
    for row in table.rows:
        cells = io.RowCheck(table.file, row)
        text = cells.parse(column["la_code"], str.strip, required=True)
        year = cells.parse(column["year"], io.parse_int, required=True)
        age = cells.parse(column["age"], _age, required=True)
        count = cells.parse(column["population"], _people, required=True)
        sex = (row.get(column["sex"]) or "").strip().lower() if "sex" in column else ""
        code = None
        if text is not None and not _NOT_AN_LA.match(text):
            code = codes.get(text.upper())
            if code is None:
                cells.problem(
                    column["la_code"],
                    f"{text!r} is not an English LA in the EHC plan statistics: give the "
                    "DfE's 3-digit LA code (e.g. 857) or the ONS code (e.g. E06000017)",
                )
        problems += cells.problems
        if cells.problems or code is None or age is None or age > OLDEST_AGE:
            continue
        assert year is not None and count is not None
        key = (code, year, age, sex)
        if key in first_rows:
            problems.append(
                InputProblem(
                    table.file,
                    row.number,
                    column["age"],
                    f"LA {text}, {year}, age {age}{f', {sex}' if sex else ''} is also on row "
                    f"{first_rows[key]}",
                )
            )
            continue
        first_rows[key] = row.number
        people[key] = count
    if not problems and not people:
        problems.append(InputProblem(table.file, None, None, "no rows of English LAs aged 0 to 25"))
    io.raise_if(problems)
    return _banded(table.file, people)


def _la_codes(statistics: EhcpStatistics) -> dict[str, str]:
    las = statistics.areas[statistics.areas["level"] == LA]
    codes = {str(c).upper(): str(c) for c in las["code"]}
    for code, new in zip(las["code"], las["new_code"], strict=True):
        if isinstance(new, str) and new:
            codes.setdefault(new.upper(), str(code))
    return codes


def _age(text: str) -> int:
    cleaned = text.strip().rstrip("+")
    age = io.parse_int(cleaned)
    if age < 0:
        msg = f"{text!r} is not an age (0 or more)"
        raise ValueError(msg)
    return age


def _people(text: str) -> float:
    value = io.parse_float(text)
    if value < 0:
        msg = f"{text!r} is below 0"
        raise ValueError(msg)
    return value


def _banded(file: str, people: dict[tuple[str, int, int, str], float]) -> LaPopulation:
    """Persons rows where a (code, year) has them, else every row added up; then by band."""
    persons = {(c, y) for (c, y, _, s) in people if s in _PERSONS}
    bands: dict[str, dict[int, np.ndarray]] = {}
    ages: dict[str, dict[int, set[int]]] = {}
    for (code, year, age, sex), count in people.items():
        if (code, year) in persons and sex not in _PERSONS:
            continue
        band = next(n for n, (low, high) in enumerate(AGE_BAND_RANGES) if low <= age <= high)
        bands.setdefault(code, {}).setdefault(year, np.zeros(BANDS))[band] += count
        ages.setdefault(code, {}).setdefault(year, set()).add(age)
    return LaPopulation(
        file,
        bands,
        {c: {y: frozenset(a) for y, a in by.items()} for c, by in ages.items()},
    )


def coverage_problems(
    population: LaPopulation, codes: Sequence[str], names: dict[str, str], years: range
) -> list[InputProblem]:
    """What the file lacks for the LAs of ``codes`` it covers: every age 0-25 in each of the
    mid-``years`` the forecast uses. (An LA the file does not cover is forecast without it.)"""
    problems = []
    every_age = frozenset(range(OLDEST_AGE + 1))
    for code in codes:
        if not population.covers(code):
            continue
        label = f"{names.get(code, code)} ({code})"
        missing_years = [y for y in years if y not in population.ages[code]]
        if missing_years:
            problems.append(
                InputProblem(
                    population.file,
                    None,
                    "year",
                    f"{label}: no rows for mid-year {_ranges(missing_years)}; the forecast "
                    f"needs every mid-year from {years[0]} to {years[-1]}, ages 0 to "
                    f"{OLDEST_AGE}",
                )
            )
        for year in years:
            lacking = sorted(every_age - population.ages[code].get(year, every_age))
            if lacking:
                problems.append(
                    InputProblem(
                        population.file,
                        None,
                        "age",
                        f"{label}, mid-year {year}: no rows for age {_ranges(lacking)}",
                    )
                )
    return problems


def _ranges(values: Sequence[int]) -> str:
    """1, 2, 3, 7 -> '1-3, 7'."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def needed_years(origin: int, horizon: int, effect_years: int) -> range:
    """The mid-years a forecast from January ``origin`` uses: those of the Januaries its
    LA rates are learnt from, through the last projected January (January Y: mid-year Y-1)."""
    return range(origin - effect_years - 1, origin + horizon)


def current_las(statistics: EhcpStatistics) -> list[str]:
    """The LAs with a total in the latest January: those a forecast starts from, and so
    those whose population is used (an LA reorganised before it is not)."""
    areas = statistics.areas
    las = areas[(areas["level"] == LA) & (areas["last_year"] == statistics.last_year)]
    return sorted(las["code"])


def population_factor(
    population: LaPopulation,
    codes: Sequence[str],
    origin: int,
    horizon: int,
    effect_years: int,
    only: Collection[str] | None = None,
) -> np.ndarray:
    """LAs x years ahead x bands: each band's population in a projected January over where
    it would be had it kept its mean yearly growth of the ``effect_years`` Januaries to
    ``origin``; 1 for an LA the file does not cover or not in ``only`` (or a band with no
    people)."""
    factor = np.ones((len(codes), horizon, BANDS))
    for row, code in enumerate(codes):
        if not population.covers(code) or (only is not None and code not in only):
            continue
        by_year = population.bands[code]
        now, then = by_year[origin - 1], by_year[origin - 1 - effect_years]
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = (now / then) ** (1 / effect_years)
            for step in range(1, horizon + 1):
                expected = now * growth**step
                found = by_year[origin - 1 + step] / expected
                factor[row, step - 1] = np.where(np.isfinite(found) & (expected > 0), found, 1.0)
    return factor
