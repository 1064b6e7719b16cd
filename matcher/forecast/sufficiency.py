"""Sufficiency: projected EHCP demand against commissioned places, year by year, with intervals.

A capacity planner asks "in 2029, how many ASD special places for secondary age will we be
short?". :func:`sufficiency` answers it for every year of a :class:`Projection`, kind of
place, phase and primary need, from the settings file's places (and places planned in a
scenario), with the 95% interval of the shortfall across the simulated futures.

The rules, in plain words (the README repeats them):

- **Phase** of a child: early years (NC year below 0), primary (reception to Y6), secondary
  (Y7 to Y11), post-16 (Y12 and above). A setting's places are shared out over the NC years
  its age range covers (age on 31 August = NC year + 4): year-group places where the settings
  file gives them, the rest of its places evenly over its other years, then summed by phase
  and rounded to whole places (largest remainder), so an all-through 2-19 special school's
  100 places count 12 in early years, 41 in primary, 29 in secondary and 18 in post-16.
- **Kinds of place compared**: resourced provision (and SEN units), special, independent
  (NMSS and ISS) and alternative provision. Mainstream schools' and colleges' places are open
  to every pupil, not commissioned for children with plans, so mainstream, post-16 (FE and
  specialist post-16 institutions, as the history reader groups them) and other arrangements
  show projected demand only. A resourced provision's places are its own (``provisions``);
  the host school's places are mainstream places.
- **Needs**: a setting designated for several needs (or, for a special school, for none)
  serves any of them, so places are not split between needs. Each kind x phase is compared
  in total (``need`` = ``all``), and each need against the places designated for that need
  alone; the places it may also use but shares with other needs are shown beside
  (``shared_places``), so the need's real gap lies between ``shortfall`` and ``shortfall`` -
  ``shared_places``.
- **Shortfall** in each simulated future = demand - places (- planned places in force that
  year); its mean and 2.5th and 97.5th percentiles are reported. A negative shortfall is
  places to spare. Places are what the settings file says: all of them, whatever LA a setting
  is in and whoever is on roll (special schools also take children from other LAs, AP takes
  pupils without plans), so give the settings whose places the LA can use.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from matcher.forecast.inputs import (
    KINDS_OF_PLACE,
    OTHER,
    POST16,
    SETTING_KIND_OF_PLACE,
    parse_kind_of_place,
)
from matcher.forecast.types import Projection
from matcher.models import (
    LAST_PRIMARY_NC_YEAR,
    MAX_NC_YEAR,
    MIN_NC_YEAR,
    PlacementKind,
    Provision,
    Setting,
)
from matcher.needs import PrimaryNeed, parse_need
from matcher.planning import NewResourcedProvision, NewSetting, Scenario

#: Phases of education, youngest first, and the last NC year of each but the last.
PHASES: tuple[str, ...] = ("early years", "primary", "secondary", "post-16")
_LAST_NC_YEAR_OF_PHASE = (-1, LAST_PRIMARY_NC_YEAR, 11)
_PHASE_WORDS = {
    "early years": "early years",
    "primary": "primary age",
    "secondary": "secondary age",
    "post-16": "post-16 age",
}

#: The ``need`` of a row that counts every need together.
ALL_NEEDS = "all"

#: Kinds of place whose places are commissioned for children with plans, so compared with
#: demand. The others show demand only; :data:`NOT_COMPARED` says why, in the row's sentence.
COMPARED_KINDS: tuple[str, ...] = (
    PlacementKind.RESOURCED_PROVISION.value,
    PlacementKind.SPECIAL.value,
    PlacementKind.INDEPENDENT.value,
    PlacementKind.ALTERNATIVE_PROVISION.value,
)
NOT_COMPARED: dict[str, str] = {
    PlacementKind.MAINSTREAM.value: "mainstream places are open to every pupil",
    POST16: "college and sixth-form places are open to every student",
    OTHER: "other arrangements (education otherwise than at school, home education, "
    "awaiting a place) have no places",
}
_KIND_WORDS = {kind: kind.replace("_", " ") for kind in KINDS_OF_PLACE} | {
    POST16: "post-16",
    OTHER: "other arrangements",
}

#: The table's columns, in order.
SUFFICIENCY_COLUMNS: tuple[str, ...] = (
    "calendar_year",
    "kind_of_place",
    "phase",
    "need",
    "demand_mean",
    "demand_low_95",
    "demand_high_95",
    "places",
    "planned_places",
    "shared_places",
    "shortfall_mean",
    "shortfall_low_95",
    "shortfall_high_95",
    "sentence",
)

_Key = tuple[str, str, str]  # kind of place, phase, need (or ALL_NEEDS)


@dataclass(frozen=True)
class PlannedSetting:
    """A setting whose places a scenario adds, counted from the January of ``first_year``
    (a school opening in September 2027 is in the January 2028 count: ``first_year`` 2028);
    ``None`` counts them in every year."""

    setting: Setting
    first_year: int | None = None

    def open_in(self, year: int) -> bool:
        return self.first_year is None or year >= self.first_year


def sufficiency(
    projection: Projection,
    settings: Sequence[Setting],
    *,
    extra_places: Sequence[Setting | PlannedSetting] = (),
    kinds: Mapping[str, str] | None = None,
    needs: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Projected demand against places, by year, kind of place, phase and need.

    Parameters
    ----------
    projection
        Simulated futures whose settings are kinds of place (an LA history forecast).
    settings
        The commissioned settings (a sendmatch settings file).
    extra_places
        Places planned in a scenario: new settings, with the year they first count from
        (:class:`PlannedSetting`, see :func:`planned_settings`) or counted every year.
    kinds, needs
        The kind of place of each of the projection's settings and the SEN2 code of each of
        its needs, where they are not already (witan.send's own codes); other labels are
        read in any usual spelling ("SEN unit", "Special school - independent", "autism").

    Returns
    -------
    pandas.DataFrame
        :data:`SUFFICIENCY_COLUMNS`, one row per year x kind x phase x need (``all`` first),
        including groups with places but no projected demand. ``places`` of a need's row are
        the places designated for that need alone; ``places``, ``shared_places`` and the
        shortfall are NaN for kinds of place not compared (see the module's rules).

    Raises
    ------
    ValueError
        A setting label that is not a kind of place, a need that is not a SEN2 code.
    """
    state_kinds, state_needs = state_kinds_and_needs(projection, kinds=kinds, needs=needs)
    state_keys = [
        (kind, phase_of(state.academic_year), need.value)
        for kind, need, state in zip(state_kinds, state_needs, projection.states, strict=True)
    ]
    planned = [p if isinstance(p, PlannedSetting) else PlannedSetting(p) for p in extra_places]
    existing = _tally(settings)
    planned_tallies = [(p, _tally([p.setting])) for p in planned]
    groups = sorted(
        {(kind, phase, ALL_NEEDS) for kind, phase, _ in state_keys}
        | set(state_keys)
        | _rows_of(existing, *(tally for _, tally in planned_tallies)),
        key=_group_order,
    )
    demand = _demand(projection, state_keys, groups)  # [simulations, years, groups]
    mean = demand.mean(axis=0)
    low, high = np.percentile(demand, [2.5, 97.5], axis=0)
    rows = []
    for t, year in enumerate(projection.years):
        in_force = _Tally()
        for p, tally in planned_tallies:
            if p.open_in(year):
                in_force.update(tally)
        for g, key in enumerate(groups):
            stats = (float(mean[t, g]), float(low[t, g]), float(high[t, g]))
            rows.append(_row(year, key, stats, existing, in_force))
    return pd.DataFrame(rows, columns=list(SUFFICIENCY_COLUMNS))


#: The columns of :func:`demand_and_places_by_need`, in order.
NEED_CHART_COLUMNS: tuple[str, ...] = (
    "calendar_year",
    "need",
    "demand_mean",
    "demand_low_95",
    "demand_high_95",
    "places",
    "shared_places",
)


def demand_and_places_by_need(
    projection: Projection,
    settings: Sequence[Setting],
    *,
    extra_places: Sequence[Setting | PlannedSetting] = (),
    kinds: Mapping[str, str] | None = None,
    needs: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Projected demand against places for each need, every phase and compared kind of place
    together, year by year: what the chart of demand against places draws.

    ``demand_*`` are the children of the need in the kinds of place compared (resourced
    provision, special, independent, AP; see the module's rules), their mean and 95% bounds
    over the simulated futures (of the sum, not sums of bounds). ``places`` are the places
    designated for the need alone, in those kinds, with the planned places in force that year;
    ``shared_places`` the places it shares with other needs. The ``all`` row counts every need
    against every compared place (``shared_places`` 0).

    Raises
    ------
    ValueError
        As :func:`sufficiency`.
    """
    state_kinds, state_needs = state_kinds_and_needs(projection, kinds=kinds, needs=needs)
    compared = [kind in COMPARED_KINDS for kind in state_kinds]
    planned = [p if isinstance(p, PlannedSetting) else PlannedSetting(p) for p in extra_places]
    existing = _tally(settings)
    planned_tallies = [(p, _tally([p.setting])) for p in planned]
    with_places = {
        key[2].removeprefix(_SHARED)
        for tally in (existing, *(t for _, t in planned_tallies))
        for key in tally
        if key[0] in COMPARED_KINDS
    }
    demanded = {need.value for need, used in zip(state_needs, compared, strict=True) if used}
    groups = [ALL_NEEDS, *sorted((demanded | with_places) - {ALL_NEEDS})]
    member = np.zeros((len(projection.states), len(groups)), np.float64)
    for k, (need, used) in enumerate(zip(state_needs, compared, strict=True)):
        if used:
            member[k, 0] = member[k, groups.index(need.value)] = 1.0
    rows = []
    for t, year in enumerate(projection.years):
        demand = projection.counts[:, t, :].astype(np.float64) @ member  # [sims, groups]
        mean = demand.mean(axis=0)
        low, high = np.percentile(demand, [2.5, 97.5], axis=0)
        in_force = _Tally(existing)
        for p, tally in planned_tallies:
            if p.open_in(year):
                in_force.update(tally)
        for g, label in enumerate(groups):
            own = sum(in_force[(kind, phase, label)] for kind in COMPARED_KINDS for phase in PHASES)
            shared = 0
            if label != ALL_NEEDS:
                shared = sum(
                    in_force[(kind, phase, _SHARED + label)]
                    for kind in COMPARED_KINDS
                    for phase in PHASES
                )
            rows.append((year, label, float(mean[g]), float(low[g]), float(high[g]), own, shared))
    return pd.DataFrame(rows, columns=list(NEED_CHART_COLUMNS))


def phase_of(nc_year: int) -> str:
    """The phase of education of an NC year (see :data:`PHASES`)."""
    for phase, last in zip(PHASES, _LAST_NC_YEAR_OF_PHASE, strict=False):
        if nc_year <= last:
            return phase
    return PHASES[-1]


def setting_kind_of_place(setting: Setting) -> str:
    """The kind of place a setting's own places are (its provisions are resourced provision)."""
    return SETTING_KIND_OF_PLACE[setting.setting_type]


def state_kinds_and_needs(
    projection: Projection,
    *,
    kinds: Mapping[str, str] | None = None,
    needs: Mapping[str, str] | None = None,
) -> tuple[list[str], list[PrimaryNeed]]:
    """Each state's kind of place and SEN2 primary need, or a ValueError naming every label
    that is neither, with what to do about it."""
    kinds = kinds or {}
    needs = needs or {}
    kind_of: dict[str, str] = {}
    need_of: dict[str, PrimaryNeed] = {}
    bad_settings: list[str] = []
    bad_needs: list[str] = []
    for state in projection.states:
        if state.setting not in kind_of and state.setting not in bad_settings:
            try:
                kind_of[state.setting] = parse_kind_of_place(
                    kinds.get(state.setting, state.setting)
                )
            except ValueError:
                bad_settings.append(state.setting)
        if state.need not in need_of and state.need not in bad_needs:
            try:
                need_of[state.need] = parse_need(needs.get(state.need, state.need))
            except ValueError:
                bad_needs.append(state.need)
    problems = []
    if bad_settings:
        problems.append(
            f"settings {_listed(bad_settings)} are not kinds of place "
            f"({', '.join(KINDS_OF_PLACE)}): give each one's kind of place (``kinds``); a "
            "forecast from an LA's own history has them already"
        )
    if bad_needs:
        problems.append(
            f"needs {_listed(bad_needs)} are not SEN2 primary need codes "
            f"({', '.join(n.value for n in PrimaryNeed)}): give each one's code (``needs``)"
        )
    if problems:
        msg = "; ".join(problems)
        raise ValueError(msg)
    return (
        [kind_of[state.setting] for state in projection.states],
        [need_of[state.need] for state in projection.states],
    )


def kinds_of_place_problem(projection: Projection) -> str | None:
    """Why a forecast cannot be set against places or placed, in words for a planner (its
    settings are not kinds of place, or its needs not SEN2 codes, as in a forecast made from
    witan.send's files), or None when it can. Callers add what kind of forecast they need."""
    settings: list[str] = []
    needs: list[str] = []
    for label in sorted({state.setting for state in projection.states}):
        try:
            parse_kind_of_place(label)
        except ValueError:
            settings.append(label)
    for label in sorted({state.need for state in projection.states}):
        try:
            parse_need(label)
        except ValueError:
            needs.append(label)
    problems = []
    if settings:
        problems.append(
            f"this forecast's settings are witan.send codes or other labels ({_listed(settings)}), "
            f"not kinds of place ({', '.join(KINDS_OF_PLACE)})"
        )
    if needs:
        whose = "its" if settings else "this forecast's"
        problems.append(
            f"{whose} needs {_listed(needs)} are not SEN2 primary need codes "
            f"({', '.join(n.value for n in PrimaryNeed)})"
        )
    return "; ".join(problems) or None


def planned_settings(scenario: Scenario, settings: Sequence[Setting]) -> list[PlannedSetting]:
    """The places a scenario file adds, for :func:`sufficiency`'s ``extra_places``.

    A new setting counts from the January after its ``opening_year`` (every year without
    one); a new resourced provision or SEN unit, which has no opening year, counts every year
    at its host school's ages. Demand growth is not about places and is left out. Closures
    and changed places are refused rather than ignored: sufficiency adds places to the
    settings file, so make those changes in the settings file itself.
    """
    by_urn = {s.urn: s for s in settings}
    planned: list[PlannedSetting] = []
    refused: list[str] = []
    for i, edit in enumerate(scenario.edits):
        if isinstance(edit, NewSetting):
            first = None if edit.opening_year is None else edit.opening_year + 1
            planned.append(PlannedSetting(edit.to_setting(edit.urn or f"NEW-{i}"), first))
        elif isinstance(edit, NewResourcedProvision):
            host = by_urn.get(edit.urn)
            if host is None:
                refused.append(f"edits[{i}]: no setting has URN {edit.urn!r}")
                continue
            unit = Provision(
                kind=edit.provision_kind,
                designated_needs=edit.designated_needs,
                places=edit.places,
            )
            # The host school with the new unit's places only: its own are counted already.
            only_the_unit = host.model_copy(
                update={
                    "total_places": 0,
                    "year_places": {},
                    "year_on_roll": {},
                    "provisions": (unit,),
                }
            )
            planned.append(PlannedSetting(only_the_unit))
        elif edit.kind in {"closure", "change_places"}:
            refused.append(
                f"edits[{i}] is a {edit.kind.replace('_', ' ')}: sufficiency counts the places "
                "a scenario adds; change the settings file for closures and changed places"
            )
    if refused:
        msg = f"scenario {scenario.name!r}: " + "; ".join(refused)
        raise ValueError(msg)
    return planned


# --------------------------------------------------------------------------------------------
# Places


#: Places by (kind, phase, need): ``all`` for the kind x phase total, a need for places
#: designated for it alone, and ``shared:<need>`` for places it shares with other needs.
_Tally = Counter[_Key]
_SHARED = "shared:"


def _rows_of(*tallies: _Tally) -> set[_Key]:
    """The groups places give rows to: kind x phase totals and needs' own places."""
    return {key for tally in tallies for key in tally if not key[2].startswith(_SHARED)}


def _tally(settings: Iterable[Setting]) -> _Tally:
    tally = _Tally()
    for setting in settings:
        years = [y for y in range(MIN_NC_YEAR, MAX_NC_YEAR + 1) if setting.admits_age(y)]
        kind = setting_kind_of_place(setting)
        if kind in COMPARED_KINDS:
            by_phase = places_by_phase(setting.total_places, years, setting.year_places)
            _count(tally, kind, by_phase, setting.designated_needs)
        for provision in setting.provisions:
            by_phase = places_by_phase(provision.places, years, {})
            _count(
                tally,
                PlacementKind.RESOURCED_PROVISION.value,
                by_phase,
                provision.designated_needs,
            )
    return tally


def _count(
    tally: _Tally, kind: str, by_phase: Mapping[str, int], designated: frozenset[PrimaryNeed]
) -> None:
    """A setting designated for one need has places for it alone; for several (or, for a
    special school, none: it takes any need) it shares them among them."""
    for phase, places in by_phase.items():
        tally[(kind, phase, ALL_NEEDS)] += places
        if len(designated) == 1:
            tally[(kind, phase, next(iter(designated)).value)] += places
        else:
            for need in designated or PrimaryNeed:
                tally[(kind, phase, _SHARED + need.value)] += places


def places_by_phase(
    total: int, nc_years: Sequence[int], year_places: Mapping[int, int]
) -> dict[str, int]:
    """A setting's places shared out by phase, in whole places (see the module's rules).

    Year-group places stay in their year; the rest of ``total`` is spread evenly over the
    other NC years of its age range. Where year groups hold more than ``total``, the total
    binds and they are scaled down to it; where every year has a year-group limit, those
    limits bind. Phases are then rounded by largest remainder so they add up to the whole.
    """
    capped = sum(year_places.values())
    open_years = [y for y in nc_years if y not in year_places]
    share: dict[int, float] = {y: float(p) for y, p in year_places.items()}
    if capped > total or not open_years:
        whole = min(total, capped)
        scale = whole / capped if capped else 0.0
        share = {y: p * scale for y, p in share.items()}
    else:
        whole = total
        share |= {y: (total - capped) / len(open_years) for y in open_years}
    by_phase: dict[str, float] = {}
    for year, places in share.items():
        by_phase[phase_of(year)] = by_phase.get(phase_of(year), 0.0) + places
    return _largest_remainder(by_phase, whole)


def _largest_remainder(shares: Mapping[str, float], whole: int) -> dict[str, int]:
    floors = {key: math.floor(value + 1e-9) for key, value in shares.items()}
    left = whole - sum(floors.values())
    by_remainder = sorted(shares, key=lambda key: (-(shares[key] - floors[key]), PHASES.index(key)))
    for key in by_remainder[: max(left, 0)]:
        floors[key] += 1
    return {key: value for key, value in floors.items() if value}


# --------------------------------------------------------------------------------------------
# Demand and rows


def _group_order(key: _Key) -> tuple[int, str, int, int, str]:
    kind, phase, need = key
    known = kind in KINDS_OF_PLACE
    return (
        KINDS_OF_PLACE.index(kind) if known else len(KINDS_OF_PLACE),
        "" if known else kind,
        PHASES.index(phase),
        0 if need == ALL_NEEDS else 1,
        need,
    )


def _demand(
    projection: Projection, state_keys: Sequence[_Key], groups: Sequence[_Key]
) -> npt.NDArray[np.float64]:
    """Children per group in every simulation and year: each state counts in its need's
    group and in its kind x phase total. Floats so that numpy multiplies with BLAS (exact for
    any count of children), one year at a time so that 1,000 simulations of a large LA do not
    hold a float copy of every year."""
    position = {key: g for g, key in enumerate(groups)}
    member = np.zeros((len(state_keys), len(groups)), np.float64)
    for k, (kind, phase, need) in enumerate(state_keys):
        member[k, position[(kind, phase, need)]] = 1.0
        member[k, position[(kind, phase, ALL_NEEDS)]] = 1.0
    demand = np.empty((*projection.counts.shape[:2], len(groups)), np.float64)
    for t in range(projection.counts.shape[1]):  # a year at a time: a float copy of one year
        demand[:, t, :] = projection.counts[:, t, :].astype(np.float64) @ member
    return demand


def _row(
    year: int,
    key: _Key,
    demand: tuple[float, float, float],
    existing: _Tally,
    planned: _Tally,
) -> dict[str, object]:
    kind, phase, need = key
    row: dict[str, object] = {
        "calendar_year": year,
        "kind_of_place": kind,
        "phase": phase,
        "need": need,
        "demand_mean": demand[0],
        "demand_low_95": demand[1],
        "demand_high_95": demand[2],
    }
    if kind not in COMPARED_KINDS:
        nan = math.nan
        row |= dict.fromkeys(SUFFICIENCY_COLUMNS[7:13], nan)
        row["sentence"] = _demand_sentence(year, key, demand)
        return row
    places, extra = existing[key], planned[key]
    shared_key = (kind, phase, _SHARED + need)
    shared = existing[shared_key] + planned[shared_key] if need != ALL_NEEDS else 0
    supply = places + extra
    shortfall = (demand[0] - supply, demand[1] - supply, demand[2] - supply)
    row |= {
        "places": places,
        "planned_places": extra,
        "shared_places": shared,
        "shortfall_mean": shortfall[0],
        "shortfall_low_95": shortfall[1],
        "shortfall_high_95": shortfall[2],
    }
    row["sentence"] = _shortfall_sentence(year, key, shortfall, demand[0], places, extra, shared)
    return row


def _whole(value: float) -> int:
    return math.floor(value + 0.5)


def _shortfall_sentence(
    year: int,
    key: _Key,
    shortfall: tuple[float, float, float],
    demand: float,
    places: int,
    planned: int,
    shared: int,
) -> str:
    kind, phase, need = key
    what = f"{'' if need == ALL_NEEDS else need + ' '}{_KIND_WORDS[kind]} places for "
    what += _PHASE_WORDS[phase]
    mean, low, high = (_whole(value) for value in shortfall)
    if mean > 0:
        text = f"In {year} the LA is short of {mean:,} {what}"
        interval = f"{low:,}–{high:,}" if low >= 0 else _mixed(low, high)
    elif mean < 0:
        text = f"In {year} the LA has {-mean:,} {what} to spare"
        interval = f"{-high:,}–{-low:,}" if high <= 0 else _mixed(low, high)
    else:
        text = f"In {year} the LA's {what} match projected demand"
        interval = _mixed(low, high)
    if low != high:
        text += f" (95% interval {interval})"
    text += f": projected demand {_whole(demand):,} against {places:,} places"
    if planned:
        text += f" and {planned:,} planned"
    if shared:
        text += f"; {shared:,} more places are shared with other needs"
    return text + "."


def _mixed(low: int, high: int) -> str:
    """An interval of shortfalls in words, from the most spare to the most short."""

    def gap(value: int) -> str:
        if value > 0:
            return f"{value:,} short"
        return f"{-value:,} spare" if value < 0 else "none spare"

    return f"from {gap(low)} to {gap(high)}"


def _demand_sentence(year: int, key: _Key, demand: tuple[float, float, float]) -> str:
    kind, phase, need = key
    mean, low, high = (_whole(value) for value in demand)
    who = "child" if mean == 1 else "children"
    plan = "an EHCP" if need == ALL_NEEDS else f"an EHCP for {need}"
    text = (
        f"In {year}, {mean:,} {who} with {plan} of {_PHASE_WORDS[phase]} are projected in "
        f"{_KIND_WORDS[kind]}"
    )
    if low != high:
        text += f" (95% interval {low:,}–{high:,})"
    return f"{text}; {NOT_COMPARED.get(kind, 'these places are not compared')}, so not compared."


def _listed(labels: Sequence[str]) -> str:
    shown = ", ".join(repr(label) for label in sorted(labels)[:10])
    return shown + (f" and {len(labels) - 10} more" if len(labels) > 10 else "")
