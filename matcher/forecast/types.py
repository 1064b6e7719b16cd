"""The data the forecast's parts share: inputs as tidy tables, projections as count arrays.

Kept apart from reading files and from the model, so that readers (witan.send's files, an LA's
own yearly snapshots) and the model can change without each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

#: The setting and need of a child outside the SEND population: a joiner's state before it
#: joins, a leaver's after it leaves (witan.send's convention).
NONSEND = "NONSEND"

#: Columns of :attr:`TransitionTable.frame`, in order.
TRANSITION_COLUMNS = (
    "calendar_year",
    "setting_1",
    "need_1",
    "academic_year_1",
    "setting_2",
    "need_2",
    "academic_year_2",
)
#: Columns of :attr:`PopulationTable.frame`.
POPULATION_COLUMNS = ("calendar_year", "academic_year", "population")
#: Columns of :attr:`CostTable.frame`.
COST_COLUMNS = ("need", "setting", "cost")

GroupBy = Literal["total", "need", "setting", "academic_year"]


class State(NamedTuple):
    """Where a child is one January: primary need, setting (or kind of place), NC year."""

    need: str
    setting: str
    academic_year: int


@dataclass(frozen=True)
class TransitionTable:
    """One row per child per year: in January of ``calendar_year`` in state 1, a year later in
    state 2. ``NONSEND`` in setting and need marks a joiner (state 1) or a leaver (state 2).

    ``frame`` has exactly :data:`TRANSITION_COLUMNS`; years are ints, the rest strings.
    The population in January of year ``y + 1`` is the rows of ``calendar_year == y`` whose
    state 2 is not ``NONSEND``.
    """

    frame: pd.DataFrame


@dataclass(frozen=True)
class PopulationTable:
    """The general population by calendar year and NC year (ONS estimates or projections)."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class CostTable:
    """Annual cost in pounds of one child in a need x setting."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class SettingRule:
    """witan.send's valid-states row: which NC years and needs a setting takes, where its
    children may move to."""

    group: str
    min_academic_year: int
    max_academic_year: int
    needs: frozenset[str]
    moves_to: frozenset[str]


@dataclass(frozen=True)
class ForecastInputs:
    """Everything a forecast is made from, already checked (readers raise on bad input)."""

    transitions: TransitionTable
    population: PopulationTable
    costs: CostTable | None = None
    valid_states: dict[str, SettingRule] | None = None
    source: str = ""  # where the inputs came from, for reports

    @property
    def observed_years(self) -> tuple[int, ...]:
        """January counts known: every transition year's second year, and the first year."""
        years = sorted(int(y) for y in self.transitions.frame["calendar_year"].unique())
        return (years[0], *(y + 1 for y in years)) if years else ()


@dataclass(frozen=True)
class ForecastConfig:
    """How many futures to simulate and how the model is regularised; see ``model``."""

    n_simulations: int = 1000
    seed: int = 42
    extra: dict[str, float] = field(default_factory=dict)  # model-specific knobs, documented there


@dataclass(frozen=True)
class Projection:
    """Simulated futures: ``counts[s, t, k]`` children in ``states[k]`` in January of
    ``years[t]`` in simulation ``s``. ``years[0]`` is the last observed January (all
    simulations equal its observed counts), as witan.send's outputs begin."""

    years: tuple[int, ...]
    states: tuple[State, ...]
    counts: npt.NDArray[np.int32]

    def grouped(self, by: GroupBy) -> tuple[tuple[str | int, ...], npt.NDArray[np.int64]]:
        """Labels and counts summed within each group: ``[sims, years, groups]``."""
        if by == "total":
            return ("total",), self.counts.sum(axis=2, dtype=np.int64)[:, :, None]
        index = {"need": 0, "setting": 1, "academic_year": 2}[by]
        keys = [state[index] for state in self.states]
        labels = tuple(sorted(set(keys), key=lambda k: (str(type(k)), k)))
        position = {label: g for g, label in enumerate(labels)}
        member = np.zeros((len(keys), len(labels)), np.int64)
        member[np.arange(len(keys)), [position[k] for k in keys]] = 1
        return labels, self.counts.astype(np.int64) @ member
