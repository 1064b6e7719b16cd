"""A planner's assumptions about the future, applied to a forecast: ``sendmatch forecast
--assume FILE``.

The forecast projects the past forward; a planner knows things the past does not show: an ONS
projection of the general population, a need whose joiners are rising, a policy to place in
special schools children who would have gone independent, a new special school opening. An
assumptions file says so, in YAML or JSON::

    name: ASD rising, new school
    population:
      rate: 0.005                 # or file: ons_2024.csv
    joiners:
      - need: ASD
        change_a_year: 0.10       # +10% a year, compounding
        from_year: 2027
    shifts:
      - from_setting: independent
        to_setting: special
        share: 0.2
        from_year: 2027
    new_settings:
      - name: Oakfield special free school
        places: 120
        needs: [ASD, SEMH]
        first_nc_year: 7
        last_nc_year: 13
        opening_year: 2027        # opens in September 2027: counts from January 2028

Every problem in a file is reported at once with the path to its field
(``joiners[0].need``), as for scenario files (:mod:`matcher.planning`): first for the file on
its own (:func:`load_assumptions`) and then against the forecast's needs, settings and years
(:func:`resolve`). The rules each knob follows are in its class's docstring; the model applies
them inside every simulated future (:mod:`matcher.forecast.model`), so the same seed gives the
same futures.

Years: ``from_year`` is the first January counted with the change (the joiners and moves of
the year before it); ``opening_year`` is a September, as in scenario files, so a school
opening in September 2027 counts from January 2028.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from matcher.file_problems import FieldProblem, FieldProblems, error_location
from matcher.forecast.types import ForecastInputs, PopulationTable

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Year = Annotated[int, Field(ge=1990, le=2100)]
Share = Annotated[float, Field(ge=0, le=1)]
#: NC years as the forecast knows them (witan.send's -5 for age 0 to 20 for age 24).
AcademicYear = Annotated[int, Field(ge=-5, le=25)]
Label = Annotated[str, Field(min_length=1, max_length=100)]


class AssumptionProblem(FieldProblem):
    """One thing wrong with an assumptions file, located by file and the path to the field.

    A model validator's problem with one field starts "@field: " to be located at that field
    (:func:`matcher.file_problems.error_location`), as in :mod:`matcher.planning`.
    """


class AssumptionsError(FieldProblems[AssumptionProblem], ValueError):
    """Raised with every problem found, so a planner fixes the file in one pass."""


class _Knob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PopulationChange(_Knob):
    """The general population of the projected years, which joiners are a share of.

    ``rate``: the last observed January's population of each NC year grows by ``rate`` a year
    (compounding; negative shrinks), in place of the population file's projected years.
    ``file``: a population file (calendar-year, academic-year, population; an ONS projection)
    whose rows for the projected years replace the population file's (relative to the
    assumptions file's folder). The years already observed always keep the population file's
    figures: the joiner rates are learnt from them.
    """

    rate: Annotated[float, Field(ge=-0.2, le=0.2)] | None = None
    file: Label | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.rate is None) == (self.file is None):
            msg = (
                "give either rate (a change a year, e.g. 0.01 for 1% a year) or file (a "
                "population projection: calendar-year, academic-year, population), not "
                + ("both" if self.rate is not None else "neither")
            )
            raise ValueError(msg)
        return self

    def describe(self) -> str:
        if self.rate is not None:
            return (
                f"the last observed January's general population, {_signed_pct(self.rate)} "
                "a year (compounding), in every projected year"
            )
        return f"the projected years' general population from {self.file}"


class JoinerChange(_Knob):
    """More (or fewer) children of one need joining the EHCP population.

    From January ``from_year``, the joiners of ``need`` (at every NC year and into every
    setting) are the model's times ``(1 + change) * (1 + change_a_year) ** (year - from_year +
    1)``: ``change_a_year: 0.1`` from 2027 is 1.1 times in 2027, 1.21 in 2028; ``change: 0.25``
    is a quarter more every year from 2027. A need that never joined in the history stays at
    none. ``change: -1`` stops the need's joiners.
    """

    need: Label
    from_year: Year
    change: Annotated[float, Field(ge=-1, le=10)] = 0.0
    change_a_year: Annotated[float, Field(ge=-0.5, le=1)] = 0.0

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.change == 0 and self.change_a_year == 0:
            msg = (
                "give change (a one-off change, e.g. 0.25 for a quarter more joiners) or "
                "change_a_year (e.g. 0.1 for 10% more each year), or both"
            )
            raise ValueError(msg)
        return self

    def factor(self, year: int) -> float:
        """How many times the model's joiners of the need join in January ``year``."""
        if year < self.from_year:
            return 1.0
        return (1.0 + self.change) * (1.0 + self.change_a_year) ** (year - self.from_year + 1)

    def describe(self) -> str:
        parts = []
        if self.change:
            parts.append(_signed_pct(self.change))
        if self.change_a_year:
            parts.append(f"{_signed_pct(self.change_a_year)} a year (compounding)")
        return f"{self.need} joiners {' then '.join(parts)} from January {self.from_year}"


class PlacementShift(_Knob):
    """A share of the children who would be in one setting are in another instead.

    From January ``from_year``, each child who would join ``from_setting`` or move into it is
    in ``to_setting`` instead with probability ``share``; with ``children_already_there``
    (the default), so is each child in ``from_setting`` in January ``from_year``, once. So
    about ``share`` of the children who would be in ``from_setting`` are in ``to_setting``
    from then on; they then leave, move and age as ``to_setting``'s children do. ``needs``
    (default every need) limits it; a child goes only where the valid states allow.
    """

    from_setting: Label = "independent"
    to_setting: Label = "special"
    share: Share
    from_year: Year
    needs: Annotated[tuple[Label, ...], Field(min_length=1)] | None = None
    children_already_there: bool = True

    @model_validator(mode="after")
    def _two_settings(self) -> Self:
        if self.from_setting.strip().lower() == self.to_setting.strip().lower():
            msg = "@to_setting: must differ from from_setting"
            raise ValueError(msg)
        return self

    def describe(self) -> str:
        who = "children" if self.needs is None else f"children with {_listed(self.needs)}"
        text = (
            f"{self.share:.0%} of the {who} who would join or move into {self.from_setting} go "
            f"to {self.to_setting} instead, from January {self.from_year}"
        )
        if self.children_already_there:
            text += f"; so do {self.share:.0%} of those in {self.from_setting} that January"
        return text


class NewSettingPlaces(_Knob):
    """A new setting's places, taken up by children who would otherwise be elsewhere.

    The rule: from the January after ``opening_year`` (a school opening in September 2027
    counts from January 2028), each January the new setting takes children of its ``needs``
    and NC years (``first_nc_year`` to ``last_nc_year``) who would otherwise be in the
    settings of ``takes_from`` (default independent), chosen at random among them, until its
    children number ``places`` (at most ``intake_a_year`` new children a year, when given).
    Its children are counted as ``setting`` (default special) and leave, move, change need
    and age as that setting's children do; one who ages past ``last_nc_year`` stays counted
    in ``setting`` but no longer holds one of its places. Children who would otherwise be in
    another school of the same kind are not modelled: moving them changes no count.
    """

    name: Annotated[str, Field(min_length=1, max_length=100)]
    places: Annotated[int, Field(ge=1, le=10_000)]
    needs: Annotated[tuple[Label, ...], Field(min_length=1)]
    opening_year: Year
    first_nc_year: AcademicYear = -5
    last_nc_year: AcademicYear = 25
    setting: Label = "special"
    takes_from: Annotated[tuple[Label, ...], Field(min_length=1)] = ("independent",)
    intake_a_year: Annotated[int, Field(ge=1, le=10_000)] | None = None

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if self.last_nc_year < self.first_nc_year:
            msg = f"@last_nc_year: {self.last_nc_year} is before first_nc_year"
            raise ValueError(msg)
        lowered = {label.strip().lower() for label in self.takes_from}
        if self.setting.strip().lower() in lowered:
            msg = "@takes_from: must not include the new setting's own kind (setting)"
            raise ValueError(msg)
        return self

    @property
    def first_year(self) -> int:
        """The first January its places count in."""
        return self.opening_year + 1

    def describe(self) -> str:
        ages = (
            ""
            if (self.first_nc_year, self.last_nc_year) == (-5, 25)
            else f", NC years {self.first_nc_year} to {self.last_nc_year}"
        )
        intake = f", at most {self.intake_a_year:,} a year" if self.intake_a_year else ""
        return (
            f"{self.name!r}: {self.places:,} {self.setting} places for {_listed(self.needs)}"
            f"{ages}, opening September {self.opening_year}: from January {self.first_year} it "
            f"takes children of those needs who would otherwise be in "
            f"{_listed(self.takes_from)}, up to its places{intake}"
        )


class Assumptions(_Knob):
    """An assumptions file: a name and any of the knobs (see each class for its rule)."""

    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    population: PopulationChange | None = None
    joiners: tuple[JoinerChange, ...] = ()
    shifts: tuple[PlacementShift, ...] = ()
    new_settings: tuple[NewSettingPlaces, ...] = ()

    def descriptions(self) -> list[tuple[str, str]]:
        """(knob, what it assumes) rows, for the forecast's Inputs sheet."""
        rows: list[tuple[str, str]] = []
        if self.population is not None:
            rows.append(("Assumed population", self.population.describe()))
        rows += [("Assumed joiners", knob.describe()) for knob in self.joiners]
        rows += [("Assumed shift", knob.describe()) for knob in self.shifts]
        rows += [("Assumed new setting", knob.describe()) for knob in self.new_settings]
        return rows


@dataclass(frozen=True)
class AssumptionSet:
    """An assumptions file as read: its knobs, its name, and the population file it names."""

    name: str
    source: str
    assumptions: Assumptions
    population: PopulationTable | None = None

    def descriptions(self) -> list[tuple[str, str]]:
        rows = [("Assumptions", f"{self.name} ({self.source})")]
        if self.assumptions.description:
            rows.append(("Assumptions: description", self.assumptions.description))
        return rows + self.assumptions.descriptions()


# --------------------------------------------------------------------------------------------
# Reading


def parse_assumptions(data: object, source: str = "<assumptions>") -> Assumptions:
    """Validate parsed data as :class:`Assumptions`; :class:`AssumptionsError` naming each field."""
    if not isinstance(data, Mapping):
        message = "an assumptions file must hold a mapping (name, population, joiners, ...)"
        raise AssumptionsError([AssumptionProblem(source, None, message)])
    try:
        return Assumptions.model_validate(data)
    except ValidationError as err:
        raise AssumptionsError([_problem(source, e) for e in err.errors()]) from None


def load_assumptions(path: Path | str) -> AssumptionSet:
    """Read and check an assumptions file (``.yaml``, ``.yml``, ``.json``), and the population
    file it names (relative to its folder).

    Raises
    ------
    AssumptionsError
        Every problem, each with the file and the path to the field.
    """
    path = Path(path)
    assumptions = parse_assumptions(_read_data(path), path.name)
    population = None
    change = assumptions.population
    if change is not None and change.file is not None:
        population = _read_population(path.parent / change.file, path.name)
    return AssumptionSet(assumptions.name or path.stem, path.name, assumptions, population)


def _read_data(path: Path) -> object:
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        message = f"cannot read: {err.strerror or err}"
        raise AssumptionsError([AssumptionProblem(source, None, message)]) from None
    except UnicodeDecodeError:
        message = "not a text file: give a .yaml or .json file"
        raise AssumptionsError([AssumptionProblem(source, None, message)]) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix in {".yaml", ".yml"}:
            return yaml.safe_load(text)
    except json.JSONDecodeError as err:
        message = f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        raise AssumptionsError([AssumptionProblem(source, None, message)]) from None
    except yaml.YAMLError as err:
        raise AssumptionsError(
            [AssumptionProblem(source, None, f"not valid YAML: {err}")]
        ) from None
    message = f"unknown file type {suffix!r}: use .yaml, .yml or .json"
    raise AssumptionsError([AssumptionProblem(source, None, message)])


def _read_population(path: Path, source: str) -> PopulationTable:
    from matcher.forecast.inputs import read_population
    from matcher.io import InputError

    if not path.is_file():
        message = f"no such file {path.name!r} (looked in {path.parent})"
        raise AssumptionsError([AssumptionProblem(source, "population.file", message)])
    try:
        return read_population(path)
    except InputError as err:
        problems = [
            AssumptionProblem(source, "population.file", str(problem)) for problem in err.problems
        ]
        raise AssumptionsError(problems) from None


def _problem(source: str, err: Mapping[str, Any]) -> AssumptionProblem:
    return AssumptionProblem(source, *error_location(err))


# --------------------------------------------------------------------------------------------
# Against a forecast: labels to indices, years to steps


@dataclass(frozen=True)
class ShiftPlan:
    """A :class:`PlacementShift` on the model's axes; ``first`` is the projected step (0 for
    the first projected January) from which it applies."""

    first: int
    source: int
    target: int
    share: float
    needs: BoolArray  # [N]
    children_already_there: bool


@dataclass(frozen=True)
class SchoolPlan:
    """A :class:`NewSettingPlaces` on the model's axes."""

    first: int
    target: int
    needs: BoolArray  # [N]
    ages: BoolArray  # [A] the NC years it takes
    takes_from: tuple[int, ...]
    places: int
    intake: int | None


@dataclass(frozen=True)
class Plan:
    """What the simulation applies, a step (projected January) at a time."""

    join_factor: FloatArray  # [T, N]
    shifts: tuple[ShiftPlan, ...]
    schools: tuple[SchoolPlan, ...]


def resolve(
    assumptions: AssumptionSet,
    needs: Sequence[str],
    settings: Sequence[str],
    academic_years: Sequence[int],
    projected: Sequence[int],
) -> Plan:
    """The assumptions on a forecast's axes: its needs, settings and NC years, and the
    Januaries it projects (consecutive, first to last).

    Needs and settings are matched as written, then ignoring case, then as SEN2 codes and
    kinds of place in any usual spelling ("autism", "Special school - independent").

    Raises
    ------
    AssumptionsError
        A need or setting the forecast does not have, a year it does not project.
    """
    knobs = assumptions.assumptions
    problems: list[AssumptionProblem] = []
    lookup = _Lookup(assumptions.source, needs, settings, problems)
    first, last = projected[0], projected[-1]

    def step(year: int, where: str) -> int:
        if not first <= year <= last:
            problems.append(
                AssumptionProblem(
                    assumptions.source,
                    where,
                    f"{year} is not a projected January ({first} to {last})",
                )
            )
        return year - first

    change = knobs.population
    if change is not None and change.file is not None and assumptions.population is None:
        problems.append(
            AssumptionProblem(
                assumptions.source,
                "population.file",
                "the population file was not read: give the assumptions file on the command "
                "line (sendmatch forecast --assume), or a rate instead",
            )
        )
    join_factor = np.ones((len(projected), len(needs)))
    for i, joiner in enumerate(knobs.joiners):
        n = lookup.need(joiner.need, f"joiners[{i}].need")
        step(joiner.from_year, f"joiners[{i}].from_year")
        if n is not None:
            join_factor[:, n] *= [joiner.factor(year) for year in projected]
    shifts = []
    for i, shift in enumerate(knobs.shifts):
        where = f"shifts[{i}]"
        source = lookup.setting(shift.from_setting, f"{where}.from_setting")
        target = lookup.setting(shift.to_setting, f"{where}.to_setting")
        chosen = lookup.needs(shift.needs, f"{where}.needs")
        t = step(shift.from_year, f"{where}.from_year")
        if source is not None and target is not None and chosen is not None:
            plan = ShiftPlan(t, source, target, shift.share, chosen, shift.children_already_there)
            shifts.append(plan)
    schools = []
    ages = np.asarray(academic_years)
    for i, school in enumerate(knobs.new_settings):
        where = f"new_settings[{i}]"
        target = lookup.setting(school.setting, f"{where}.setting")
        chosen = lookup.needs(school.needs, f"{where}.needs")
        takes = [
            lookup.setting(s, f"{where}.takes_from[{j}]") for j, s in enumerate(school.takes_from)
        ]
        t = step(school.first_year, f"{where}.opening_year")
        in_range = (ages >= school.first_nc_year) & (ages <= school.last_nc_year)
        if not in_range.any():
            problems.append(
                AssumptionProblem(
                    assumptions.source,
                    f"{where}.first_nc_year",
                    f"the forecast has no NC years from {school.first_nc_year} to "
                    f"{school.last_nc_year} (it has {ages.min()} to {ages.max()})",
                )
            )
        if target is not None and chosen is not None and None not in takes:
            taken = tuple(sorted({s for s in takes if s is not None and s != target}))
            plan_ = SchoolPlan(
                t, target, chosen, in_range, taken, school.places, school.intake_a_year
            )
            schools.append(plan_)
    if problems:
        raise AssumptionsError(problems)
    return Plan(join_factor, tuple(shifts), tuple(schools))


def with_population(
    inputs: ForecastInputs, assumptions: AssumptionSet | None, base: int, projected: Sequence[int]
) -> ForecastInputs:
    """The inputs with the assumed general population in the projected years (see
    :class:`PopulationChange`); unchanged without a population assumption."""
    change = None if assumptions is None else assumptions.assumptions.population
    if change is None or assumptions is None:
        return inputs
    frame = inputs.population.frame
    years = list(projected)
    if change.rate is not None:
        start = frame[frame["calendar_year"] == base]
        growth = [(1.0 + change.rate) ** (year - base) for year in years]
        rows = [
            start.assign(
                calendar_year=year,
                population=(start["population"] * factor).round().astype(np.int64),
            )
            for year, factor in zip(years, growth, strict=True)
        ]
        replaced = years
    else:
        if assumptions.population is None:  # resolve() refuses this first
            msg = "the population file named in the assumptions was not read"
            raise AssumptionsError([AssumptionProblem(assumptions.source, "population.file", msg)])
        given = assumptions.population.frame
        rows = [given[given["calendar_year"].isin(years)]]
        replaced = sorted(set(rows[0]["calendar_year"]))
    kept = frame[~frame["calendar_year"].isin(replaced)]
    population = pd.concat([kept, *rows], ignore_index=True)
    return ForecastInputs(
        inputs.transitions,
        PopulationTable(population.reset_index(drop=True)),
        inputs.costs,
        inputs.valid_states,
        inputs.source,
    )


class _Lookup:
    """Labels in an assumptions file matched to the forecast's, problems collected."""

    def __init__(
        self,
        source: str,
        needs: Sequence[str],
        settings: Sequence[str],
        problems: list[AssumptionProblem],
    ) -> None:
        self.source = source
        self.needs_list = list(needs)
        self.settings_list = list(settings)
        self.problems = problems

    def need(self, label: str, where: str) -> int | None:
        return self._find(label, self.needs_list, where, "need", _need_code)

    def setting(self, label: str, where: str) -> int | None:
        return self._find(label, self.settings_list, where, "setting", _kind_code)

    def needs(self, labels: Sequence[str] | None, where: str) -> BoolArray | None:
        chosen = np.zeros(len(self.needs_list), bool)
        if labels is None:
            chosen[:] = True
            return chosen
        found = [self.need(label, f"{where}[{j}]") for j, label in enumerate(labels)]
        if None in found:
            return None
        chosen[[n for n in found if n is not None]] = True
        return chosen

    def _find(
        self,
        label: str,
        known: list[str],
        where: str,
        what: str,
        canonical: Callable[[str], str | None],
    ) -> int | None:
        for match in (
            lambda k: k == label,
            lambda k: k.lower() == label.strip().lower(),
            lambda k: canonical(k) is not None and canonical(k) == canonical(label),
        ):
            hits = [i for i, k in enumerate(known) if match(k)]
            if len(hits) == 1:
                return hits[0]
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        self.problems.append(
            AssumptionProblem(
                self.source,
                where,
                f"{label!r} is not a {what} of this forecast (its {what}s: {shown})",
            )
        )
        return None


def _need_code(label: str) -> str | None:
    from matcher.needs import parse_need

    try:
        return parse_need(label).value
    except ValueError:
        return None


def _kind_code(label: str) -> str | None:
    from matcher.forecast.inputs import parse_kind_of_place

    try:
        return parse_kind_of_place(label)
    except ValueError:
        return None


def _signed_pct(rate: float) -> str:
    return f"{rate:+.1%}".replace(".0%", "%")


def _listed(labels: Sequence[str]) -> str:
    return ", ".join(labels)
