"""The forecast's state space and the observed counts on it, shared by the fit and the simulation.

A state is need x setting x NC year; the model keeps every rate and count in dense numpy arrays
over those three axes (``[N, S, A]``), so that a year of every simulation is a few array
operations. Phases of education group NC years where a state has too few children of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from matcher.forecast.types import NONSEND, ForecastInputs, SettingRule, State
from matcher.io import InputError, InputProblem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The last NC year of an EHCP (the school year in which a young person turns 25).
LAST_NC_YEAR = 20
#: Phases of education by NC year, as the pooling chain groups NC years (upper bounds).
PHASE_UPPER_BOUNDS = (-1, 6, 11, 13)


@dataclass(frozen=True)
class StateSpace:
    """Every state a child can be in, as the axes of dense arrays ``[need, setting, ncy]``.

    A flat state index is ``(need * S + setting) * A + ncy_index``: changing setting shifts it
    by a multiple of ``A`` and need by a multiple of ``S * A``, which the simulation uses.
    """

    needs: tuple[str, ...]
    settings: tuple[str, ...]
    first_ncy: int
    n_ncy: int
    needs_ok: BoolArray  # [N, S] the setting takes the need
    ncy_ok: BoolArray  # [S, A] the setting takes the NC year
    moves_ok: BoolArray  # [S, S'] a child may move from s to s' (never s to s)

    @classmethod
    def build(cls, frame: pd.DataFrame, rules: dict[str, SettingRule] | None) -> StateSpace:
        needs = state_labels(frame, "need", (r.needs for r in (rules or {}).values()))
        settings = state_labels(frame, "setting", [tuple((rules or {}).keys())])
        ncys = pd.concat([frame["academic_year_1"], frame["academic_year_2"]]).astype(int)
        low, high = int(ncys.min()), max(int(ncys.max()), LAST_NC_YEAR)
        for rule in (rules or {}).values():
            low, high = min(low, rule.min_academic_year), max(high, rule.max_academic_year)
        n_ncy = high - low + 1
        needs_ok = np.ones((len(needs), len(settings)), bool)
        ncy_ok = np.ones((len(settings), n_ncy), bool)
        moves_ok = ~np.eye(len(settings), dtype=bool)
        for s, setting in enumerate(settings):
            own = (rules or {}).get(setting)
            if own is None:
                continue
            needs_ok[:, s] = [need in own.needs for need in needs]
            ncy_ok[s] = [
                own.min_academic_year <= low + a <= own.max_academic_year for a in range(n_ncy)
            ]
            moves_ok[s] &= [other in own.moves_to for other in settings]
        return cls(needs, settings, low, n_ncy, needs_ok, ncy_ok, moves_ok)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.needs), len(self.settings), self.n_ncy

    @property
    def size(self) -> int:
        n, s, a = self.shape
        return n * s * a

    @property
    def valid(self) -> BoolArray:
        """``[N, S, A]``: may a child be in this state."""
        return self.needs_ok[:, :, None] & self.ncy_ok[None, :, :]

    @property
    def academic_years(self) -> tuple[int, ...]:
        return tuple(range(self.first_ncy, self.first_ncy + self.n_ncy))

    @property
    def phase_of(self) -> IntArray:
        """``[A]``: the phase of education of each NC year."""
        ncy = self.first_ncy + np.arange(self.n_ncy)
        return np.searchsorted(np.array(PHASE_UPPER_BOUNDS), ncy, side="left").astype(np.int64)

    def flat(self, need: pd.Series, setting: pd.Series, ncy: pd.Series) -> IntArray:
        n_index = pd.Index(self.needs).get_indexer(pd.Index(need))
        s_index = pd.Index(self.settings).get_indexer(pd.Index(setting))
        a_index = ncy.to_numpy(np.int64) - self.first_ncy
        _, s, a = self.shape
        return ((n_index * s + s_index) * a + a_index).astype(np.int64)

    def state(self, k: int) -> State:
        ns, a = divmod(k, self.n_ncy)
        n, s = divmod(ns, len(self.settings))
        return State(self.needs[n], self.settings[s], self.first_ncy + a)


def state_labels(
    frame: pd.DataFrame, field: str, extra: Iterable[Iterable[str]]
) -> tuple[str, ...]:
    """Needs or settings: those in the history and those the valid states name."""
    seen = set(frame[f"{field}_1"].unique()) | set(frame[f"{field}_2"].unique())
    for group in extra:
        seen |= set(group)
    seen.discard(NONSEND)
    return tuple(sorted(str(label) for label in seen))


def january_counts_flat(
    frame: pd.DataFrame, year: int, space: StateSpace, *, as_departures: bool = False
) -> IntArray:
    """Children per flat state in January of ``year``: the arrivals of the year before's
    transitions (the departures of the first year's, for the first January).

    ``as_departures`` prefers the same January as the year's own transitions record it (their
    state 1), when the history has them. The two agree in an LA's linked snapshots; in witan's
    anonymised demo data they differ by 5-8% a year across settings, and the departures are the
    children whose next year the transitions describe.
    """
    first = int(frame["calendar_year"].min())
    own = frame[frame["calendar_year"] == year]
    if year == first or (as_departures and not own.empty):
        rows, side = own, "1"
    else:
        rows, side = frame[frame["calendar_year"] == year - 1], "2"
    if rows.empty:
        msg = f"no observed January counts for {year}"
        raise ValueError(msg)
    rows = rows[rows[f"setting_{side}"] != NONSEND]
    k = space.flat(rows[f"need_{side}"], rows[f"setting_{side}"], rows[f"academic_year_{side}"])
    return np.bincount(k, minlength=space.size).astype(np.int64)


def population_by_ncy(
    inputs: ForecastInputs, years: Sequence[int], space: StateSpace, purpose: str
) -> IntArray:
    """``[years, A]`` general population by NC year; a missing calendar year is an error."""
    frame = inputs.population.frame
    known = set(int(y) for y in frame["calendar_year"].unique())
    missing = [y for y in years if y not in known]
    if missing:
        listed = ", ".join(str(y) for y in missing)
        message = (
            f"no rows for calendar year(s) {listed}: joiners are a share of the general "
            f"population of the January they arrive in, and the {purpose} Januaries include "
            f"{listed} (an ONS projection will do for future years)"
        )
        raise InputError([InputProblem("population", None, "calendar-year", message)])
    table = frame.pivot_table(
        index="calendar_year", columns="academic_year", values="population", aggfunc="sum"
    )
    ncys = space.first_ncy + np.arange(space.n_ncy)
    table = table.reindex(index=list(years), columns=ncys).fillna(0)
    return table.to_numpy().round().astype(np.int64)


def next_year_ok(space: StateSpace) -> BoolArray:
    """``[N, S, A]``: may a child stay in its setting into the next NC year."""
    following = np.zeros_like(space.ncy_ok)
    following[:, :-1] = space.ncy_ok[:, 1:]
    return space.needs_ok[:, :, None] & following[None, :, :]


def destination_allowed(space: StateSpace) -> BoolArray:
    """``[N, S, A, S']``: may a mover from (n, s, a) go to s' (judged at NC year a + 1)."""
    following = np.zeros_like(space.ncy_ok)
    following[:, :-1] = space.ncy_ok[:, 1:]
    target = space.needs_ok[:, None, None, :] & following.T[None, None, :, :]  # [N,1,A,S']
    return space.moves_ok[None, :, None, :] & target
