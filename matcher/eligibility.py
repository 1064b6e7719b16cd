"""Which (child, setting) pairs may be placed, and for every other pair, why not.

The hard rules (age range, sex admitted, kind of place the EHCP allows, designated need,
physical requirements, journey limit) are applied to every pair the travel matrix can reach,
plus every parental preference, in vectorised form: a 25k-child LA has millions of pairs.
Every rule but the journey depends on the setting and on a few facts about the child, which a
whole LA's children share in a few thousand combinations; those rules are evaluated once per
combination and setting, and each pair looks its answer up. Every excluded pair keeps a bit
mask of its reasons, so any "why not X?" has an answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntFlag
from functools import cache, cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.models import (
    MAX_NC_YEAR,
    MIN_NC_YEAR,
    Child,
    PlacementKind,
    PrimaryNeed,
    Requirement,
    Setting,
    Sex,
    SexAdmitted,
    age_at_start_of_year,
)
from matcher.travel import TravelTimeMatrix


@dataclass(frozen=True)
class EligibilityConfig:
    """Hard rules that are policy, not law: DfE best-practice journey limits by phase."""

    primary_limit_minutes: float = 45.0
    secondary_limit_minutes: float = 75.0
    # A parent may prefer a setting further away and arrange the journey; the limit then does
    # not bar the preference (the LA still prices the transport).
    preferences_exempt_from_travel_limit: bool = True

    @property
    def cutoff_minutes(self) -> float:
        return max(self.primary_limit_minutes, self.secondary_limit_minutes)

    def limit_for(self, nc_year: int) -> float:
        return self.primary_limit_minutes if nc_year <= 6 else self.secondary_limit_minutes


class Exclusion(IntFlag):
    """Why a child cannot take a place at a setting. Several can hold at once."""

    AGE_RANGE = 1
    SEX_ADMITTED = 2
    KIND_NOT_SUITABLE = 4
    NEED_NOT_DESIGNATED = 8
    NO_WHEELCHAIR_ACCESS = 16
    NOT_RESIDENTIAL = 32
    NO_NURSING = 64
    OVER_TRAVEL_LIMIT = 128
    NO_ROUTE = 256  # beyond the travel matrix's cutoff, or no road route at all


EXCLUSION_TEXT: dict[Exclusion, str] = {
    Exclusion.AGE_RANGE: "outside the setting's age range",
    Exclusion.SEX_ADMITTED: "single-sex setting does not admit the child's sex",
    Exclusion.KIND_NOT_SUITABLE: "this kind of place is not suitable under the child's EHCP",
    Exclusion.NEED_NOT_DESIGNATED: "not designated for the child's primary need",
    Exclusion.NO_WHEELCHAIR_ACCESS: "no wheelchair access",
    Exclusion.NOT_RESIDENTIAL: "not residential",
    Exclusion.NO_NURSING: "no nursing care",
    Exclusion.OVER_TRAVEL_LIMIT: "journey over the travel-time limit for the child's phase",
    Exclusion.NO_ROUTE: "no travel time: beyond the travel-time cutoff or no route",
}

# Plain ints: IntFlag arithmetic is slow when millions of masks are explained.
_EXCLUSION_VALUES = tuple((int(flag), text) for flag, text in EXCLUSION_TEXT.items())

_REQUIREMENT_EXCLUSION: dict[Requirement, Exclusion] = {
    Requirement.WHEELCHAIR_ACCESS: Exclusion.NO_WHEELCHAIR_ACCESS,
    Requirement.RESIDENTIAL: Exclusion.NOT_RESIDENTIAL,
    Requirement.NURSING: Exclusion.NO_NURSING,
}

_NEED_BIT = {need: 1 << i for i, need in enumerate(PrimaryNeed)}
_KIND_BIT = {kind: 1 << i for i, kind in enumerate(PlacementKind)}
KIND_ORDER = tuple(PlacementKind)
# Sex as small codes; a single-sex setting admits only its own code, so "U" never matches.
_SEX_CODE = {Sex.MALE: 1, Sex.FEMALE: 2, Sex.UNKNOWN: 3}
_ADMITS_CODE = {SexAdmitted.MIXED: 0, SexAdmitted.BOYS: 1, SexAdmitted.GIRLS: 2}
_MAINSTREAM_KIND = KIND_ORDER.index(PlacementKind.MAINSTREAM)
_RP_KIND = KIND_ORDER.index(PlacementKind.RESOURCED_PROVISION)
_AGE = np.array([age_at_start_of_year(y) for y in range(MIN_NC_YEAR, MAX_NC_YEAR + 1)], np.int16)


def describe(reasons: int) -> tuple[str, ...]:
    """Plain-English reasons, in a fixed order, for a panel to read aloud."""
    return _describe(int(reasons))


@cache
def _describe(reasons: int) -> tuple[str, ...]:
    return tuple(text for flag, text in _EXCLUSION_VALUES if reasons & flag)


def _need_mask(needs: frozenset[PrimaryNeed]) -> int:
    return sum(_NEED_BIT[n] for n in needs)


@cache
def _requirement_mask(reqs: frozenset[Requirement]) -> int:
    return sum(int(_REQUIREMENT_EXCLUSION[r]) for r in reqs)


@cache
def _kind_mask(kinds: frozenset[PlacementKind]) -> int:
    return sum(_KIND_BIT[k] for k in kinds)


@dataclass(frozen=True)
class EligibleArcs:
    """Eligible (child, setting, pool) options, and every excluded candidate pair with reasons.

    ``provision`` is -1 for a setting's general places, else the index into
    ``settings[setting].provisions``. ``preference_rank`` is 0 when the setting is not one of
    the child's preferences, else 1 for the first preference.
    """

    child: npt.NDArray[np.int32]
    setting: npt.NDArray[np.int32]
    provision: npt.NDArray[np.int16]
    kind: npt.NDArray[np.int8]  # index into KIND_ORDER
    minutes: npt.NDArray[np.float32]
    preference_rank: npt.NDArray[np.int16]
    excluded_child: npt.NDArray[np.int32]
    excluded_setting: npt.NDArray[np.int32]
    excluded_reasons: npt.NDArray[np.int32]
    excluded_minutes: npt.NDArray[np.float32]  # NaN where there is no route

    def __len__(self) -> int:
        return len(self.child)

    def with_exclusions_of(
        self, children: npt.NDArray[np.integer[Any]], theirs: EligibleArcs
    ) -> EligibleArcs:
        """These arcs, with ``children``'s excluded pairs replaced by those of ``theirs``.

        ``theirs`` is :func:`build_arcs` of those children alone (child ``k`` there is
        ``children[k]`` here), on a travel matrix that times every pair within the cutoff: how
        a round timed only its possible options still explains a child who has none.
        """
        keep = ~np.isin(self.excluded_child, children)
        mapped = np.asarray(children, np.int32)[theirs.excluded_child]
        return replace(
            self,
            excluded_child=np.concatenate([self.excluded_child[keep], mapped]),
            excluded_setting=np.concatenate([self.excluded_setting[keep], theirs.excluded_setting]),
            excluded_reasons=np.concatenate([self.excluded_reasons[keep], theirs.excluded_reasons]),
            excluded_minutes=np.concatenate([self.excluded_minutes[keep], theirs.excluded_minutes]),
        )


def build_arcs(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: EligibilityConfig | None = None,
    screen: OptionScreen | None = None,
) -> EligibleArcs:
    """Apply the hard rules to every candidate pair; see module docstring.

    ``screen``: the round's :func:`option_screen` (of these children, settings and config),
    whose table of reasons by kind of child is then read rather than made again.
    """
    config = config or EligibilityConfig()
    if travel.child_ids != tuple(c.child_id for c in children) or travel.setting_urns != tuple(
        s.urn for s in settings
    ):
        travel = travel.reindexed([c.child_id for c in children], [s.urn for s in settings])
    places = _SettingColumns.of(settings)
    if screen is None:
        people = _ChildColumns.of(children, {s.urn: j for j, s in enumerate(settings)}, config)
    else:
        people = screen.people
    pairs = _candidate_pairs(people, len(settings), travel)
    if screen is None:
        general = _general_reasons(people, places, pairs)
    else:
        general = screen.reasons[people.profiles[1][pairs.child], pairs.setting]
    general |= _journey_reasons(people, pairs, config)
    provisions = _provision_options(people, places, pairs, general)
    return _eligible_and_excluded(pairs, places, general, provisions)


@dataclass(frozen=True)
class OptionScreen:
    """Which (child, setting) pairs could be an option at all, known before any journey is timed.

    Every rule but the journey depends on the kind of child (see
    :attr:`_ChildColumns.profiles`) and the setting, so a whole LA's answer is one small table;
    with each child's journey limit it tells a travel model which pairs are worth timing. A
    round that only needs options (``sendmatch place``) times a seventh of the pairs a round
    that explains every exclusion must. :func:`build_arcs` then reads the same table rather
    than work it out again.
    """

    people: _ChildColumns
    reasons: npt.NDArray[np.int32]  # kind × setting: the general places' reasons but journeys
    possible: npt.NDArray[np.bool_]  # kind × setting: some place there passes every such rule

    @property
    def cutoffs(self) -> npt.NDArray[np.float32]:
        """Each child's journey limit, minutes."""
        return self.people.limit

    def keep(
        self, rows: npt.NDArray[np.integer[Any]], cols: npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.bool_]:
        """Whether each (child row, setting column) pair passes every rule but the journey."""
        return np.asarray(self.possible[self.people.profiles[1][rows], cols])


def option_screen(
    children: Sequence[Child], settings: Sequence[Setting], config: EligibilityConfig | None = None
) -> OptionScreen:
    """:class:`OptionScreen` for a round: the same rules :func:`build_arcs` applies, per kind."""
    config = config or EligibilityConfig()
    people = _ChildColumns.of(children, {s.urn: j for j, s in enumerate(settings)}, config)
    places = _SettingColumns.of(settings)
    reasons = _kind_reasons(people, places)
    possible = reasons == 0
    with_provisions = np.flatnonzero(places.provision_count > 0)
    if len(with_provisions):
        # As _provision_options: the general reasons less the two of the general places alone,
        # then the provision's own kind and designated needs.
        first = people.profiles[0]
        slot_setting = np.repeat(np.arange(len(places.low)), places.provision_count)
        own = np.int32(Exclusion.KIND_NOT_SUITABLE | Exclusion.NEED_NOT_DESIGNATED)
        slot_ok = (reasons[:, slot_setting] & ~own) == 0
        slot_ok &= ((people.suitable[first] & _KIND_BIT[PlacementKind.RESOURCED_PROVISION]) != 0)[
            :, None
        ]
        slot_ok &= (places.provision_needs[None, :] & people.need[first][:, None]) != 0
        starts = places.provision_start[with_provisions]
        possible[:, with_provisions] |= np.logical_or.reduceat(slot_ok, starts, axis=1)
    return OptionScreen(people, reasons, possible)


def _eligible_and_excluded(
    pairs: _Pairs,
    places: _SettingColumns,
    general: npt.NDArray[np.int32],
    provisions: _ProvisionOptions,
) -> EligibleArcs:
    """Options with no reason against them, in pair order; pairs with none, with every reason.

    ``general`` (the general places' reasons) is reused for the excluded pairs' reasons.
    """
    ok_general = general == 0
    general_at = np.nonzero(ok_general)[0]
    option_pair = np.concatenate([general_at, provisions.pair[provisions.ok]])
    option_prov = np.concatenate(
        [np.full(len(general_at), -1, np.int16), provisions.index[provisions.ok]]
    )
    option_kind = np.concatenate(
        [
            places.kind[pairs.setting[general_at]],
            np.full(int(provisions.ok.sum()), _RP_KIND, np.int8),
        ]
    )
    # Each pair's options together, general places first, then provisions in their order.
    order = np.argsort(
        option_pair * (places.most_provisions + 1) + (option_prov + 1), kind="stable"
    )
    option_pair, option_prov, option_kind = (
        option_pair[order],
        option_prov[order],
        option_kind[order],
    )

    # A pair is excluded when none of its options is eligible; its reasons are the union.
    any_ok = ok_general
    pair_reasons = general
    if len(provisions.pair):
        any_ok[provisions.pair[provisions.ok]] = True
        starts = np.flatnonzero(np.r_[True, provisions.pair[1:] != provisions.pair[:-1]])
        pair_reasons[provisions.pair[starts]] |= np.bitwise_or.reduceat(provisions.reasons, starts)
    excluded = np.flatnonzero(~any_ok)
    return EligibleArcs(
        child=pairs.child[option_pair],
        setting=pairs.setting[option_pair],
        provision=option_prov,
        kind=option_kind,
        minutes=pairs.minutes[option_pair],
        preference_rank=pairs.rank[option_pair],
        excluded_child=pairs.child[excluded],
        excluded_setting=pairs.setting[excluded],
        excluded_reasons=pair_reasons[excluded],
        excluded_minutes=pairs.minutes[excluded],
    )


@dataclass(frozen=True)
class _ChildColumns:
    """What the rules read of each child, as arrays: the records are read once, here."""

    age: npt.NDArray[np.int16]
    sex: npt.NDArray[np.int8]
    need: npt.NDArray[np.int32]  # the primary need's bit
    suitable: npt.NDArray[np.int32]  # bits of the kinds of place the EHCP allows
    required: npt.NDArray[np.int32]  # Exclusion bits of the requirements
    limit: npt.NDArray[np.float32]  # journey limit for the child's phase
    preference_child: npt.NDArray[np.int64]  # one entry per preference naming a known setting
    preference_setting: npt.NDArray[np.int64]
    preference_rank: npt.NDArray[np.int16]

    @classmethod
    def of(
        cls, children: Sequence[Child], urn_index: dict[str, int], config: EligibilityConfig
    ) -> _ChildColumns:
        n = len(children)
        year = np.fromiter((c.nc_year for c in children), np.int64, n) - MIN_NC_YEAR
        limits = np.array(
            [config.limit_for(y) for y in range(MIN_NC_YEAR, MAX_NC_YEAR + 1)], np.float32
        )
        counts = np.fromiter((len(c.preferences) for c in children), np.int64, n)
        named = np.fromiter(
            (urn_index.get(urn, -1) for c in children for urn in c.preferences),
            np.int64,
            int(counts.sum()),
        )
        who = np.repeat(np.arange(n, dtype=np.int64), counts)
        rank = np.arange(len(named), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        known = named >= 0
        return cls(
            age=_AGE[year],
            sex=np.fromiter((_SEX_CODE[c.sex] for c in children), np.int8, n),
            need=np.fromiter((_NEED_BIT[c.primary_need] for c in children), np.int32, n),
            suitable=np.fromiter(
                (_kind_mask(c.effective_suitable_kinds) for c in children), np.int32, n
            ),
            required=np.fromiter(
                (_requirement_mask(c.requirements) for c in children), np.int32, n
            ),
            limit=limits[year],
            preference_child=who[known],
            preference_setting=named[known],
            preference_rank=(rank[known] + 1).astype(np.int16),
        )

    @cached_property
    def profiles(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Children alike for every rule but the journey: (one child of each kind, kind of each).

        A whole LA has a few thousand kinds of child (year × sex × need × allowed kinds ×
        requirements), so the rules are applied once per kind and setting, not per pair.
        """
        facts = np.stack([self.age, self.sex, self.need, self.suitable, self.required], axis=1)
        _, first, kind = np.unique(facts, axis=0, return_index=True, return_inverse=True)
        return first, kind.reshape(-1)


@dataclass(frozen=True)
class _SettingColumns:
    low: npt.NDArray[np.int16]
    high: npt.NDArray[np.int16]
    admits: npt.NDArray[np.int8]
    designated: npt.NDArray[np.int32]
    facilities: npt.NDArray[np.int32]
    kind: npt.NDArray[np.int8]  # index into KIND_ORDER
    provision_count: npt.NDArray[np.int64]
    provision_start: npt.NDArray[np.int64]  # where a setting's provisions start in the lists
    provision_index: npt.NDArray[np.int16]  # k of settings[j].provisions[k], setting by setting
    provision_needs: npt.NDArray[np.int32]

    @property
    def most_provisions(self) -> int:
        return int(self.provision_count.max()) if len(self.provision_count) else 0

    @classmethod
    def of(cls, settings: Sequence[Setting]) -> _SettingColumns:
        count = np.array([len(s.provisions) for s in settings], np.int64)
        return cls(
            low=np.array([s.low_age for s in settings], np.int16),
            high=np.array([s.high_age for s in settings], np.int16),
            admits=np.array([_ADMITS_CODE[s.sex_admitted] for s in settings], np.int8),
            designated=np.array([_need_mask(s.designated_needs) for s in settings], np.int32),
            facilities=np.array([_requirement_mask(s.facilities) for s in settings], np.int32),
            kind=np.array([KIND_ORDER.index(s.placement_kind) for s in settings], np.int8),
            provision_count=count,
            provision_start=np.cumsum(count) - count,
            provision_index=np.array(
                [k for s in settings for k in range(len(s.provisions))], np.int16
            ),
            provision_needs=np.array(
                [_need_mask(p.designated_needs) for s in settings for p in s.provisions], np.int32
            ),
        )


@dataclass(frozen=True)
class _Pairs:
    """Candidate pairs: every pair the matrix reaches, then preferences it does not reach."""

    child: npt.NDArray[np.int32]
    setting: npt.NDArray[np.int32]
    minutes: npt.NDArray[np.float32]  # NaN for a preference with no travel time
    rank: npt.NDArray[np.int16]  # 0 unless the setting is one of the child's preferences

    def __len__(self) -> int:
        return len(self.child)


def _candidate_pairs(people: _ChildColumns, n_settings: int, travel: TravelTimeMatrix) -> _Pairs:
    """All pairs the matrix reaches, in (child, setting) order, then the unreached preferences.

    Matrix pairs are unique by contract, so only the few preference pairs need merging in.
    """
    rows, cols, minutes = travel.rows, travel.cols, travel.minutes
    keys = rows.astype(np.int64) * n_settings + cols
    if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):
        order = np.argsort(keys, kind="stable")
        keys, rows, cols, minutes = keys[order], rows[order], cols[order], minutes[order]
    pref_keys = people.preference_child * n_settings + people.preference_setting
    at = np.searchsorted(keys, pref_keys)
    known = np.zeros(len(pref_keys), bool)
    if len(keys):
        known = keys[np.minimum(at, len(keys) - 1)] == pref_keys
    rank = np.zeros(len(keys), np.int16)
    rank[at[known]] = people.preference_rank[known]
    new = ~known
    if not new.any():  # every preference has a travel time: the matrix's arrays as they are
        return _Pairs(rows, cols, minutes, rank)
    return _Pairs(
        child=np.concatenate([rows, people.preference_child[new].astype(np.int32)]),
        setting=np.concatenate([cols, people.preference_setting[new].astype(np.int32)]),
        minutes=np.concatenate([minutes, np.full(int(new.sum()), np.nan, np.float32)]),
        rank=np.concatenate([rank, people.preference_rank[new]]),
    )


def _general_reasons(
    people: _ChildColumns, places: _SettingColumns, pairs: _Pairs
) -> npt.NDArray[np.int32]:
    """Every rule but the journey, for each pair's general places (not its provisions).

    Applied to each kind of child × setting and looked up per pair, unless the pairs are fewer
    than that table, when they are checked one by one.
    """
    first, profile = people.profiles
    n_settings = len(places.low)
    if len(first) * n_settings <= len(pairs):
        table = _kind_reasons(people, places)
        return table.ravel()[profile[pairs.child] * n_settings + pairs.setting]
    return _static_reasons(people, pairs.child, places, pairs.setting)


def _kind_reasons(people: _ChildColumns, places: _SettingColumns) -> npt.NDArray[np.int32]:
    """:func:`_static_reasons` of each kind of child (:attr:`_ChildColumns.profiles`) at each
    setting: a kind × setting table."""
    first = people.profiles[0]
    everywhere = np.arange(len(places.low), dtype=np.intp)[None, :]
    return _static_reasons(people, first[:, None], places, everywhere)


def _static_reasons(
    people: _ChildColumns,
    child: npt.NDArray[np.integer[Any]],
    places: _SettingColumns,
    setting: npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.int32]:
    """The age, sex, requirement, kind and need rules for (broadcast) children × settings."""
    age, low, high = people.age[child], places.low[setting], places.high[setting]
    admits = places.admits[setting]
    reasons = np.where((age < low) | (age >= high), np.int32(Exclusion.AGE_RANGE), np.int32(0))
    reasons |= np.where(
        (admits != 0) & (admits != people.sex[child]), np.int32(Exclusion.SEX_ADMITTED), 0
    ).astype(np.int32)
    reasons |= people.required[child] & ~places.facilities[setting]
    kind = places.kind[setting]
    kind_bit = np.left_shift(np.int32(1), kind.astype(np.int32))
    reasons |= np.where(
        (people.suitable[child] & kind_bit) == 0, np.int32(Exclusion.KIND_NOT_SUITABLE), 0
    ).astype(np.int32)
    designated = places.designated[setting]
    undesignated = (
        (kind != _MAINSTREAM_KIND) & (designated != 0) & ((designated & people.need[child]) == 0)
    )
    reasons |= np.where(undesignated, np.int32(Exclusion.NEED_NOT_DESIGNATED), 0).astype(np.int32)
    return reasons.astype(np.int32, copy=False)


def _journey_reasons(
    people: _ChildColumns, pairs: _Pairs, config: EligibilityConfig
) -> npt.NDArray[np.int32]:
    """Over the phase's journey limit (a preference may be spared), or no travel time at all."""
    over = pairs.minutes > people.limit[pairs.child]
    if config.preferences_exempt_from_travel_limit:
        over &= pairs.rank == 0
    reasons = np.where(over, np.int32(Exclusion.OVER_TRAVEL_LIMIT), np.int32(0))
    reasons[np.isnan(pairs.minutes)] |= Exclusion.NO_ROUTE
    return reasons


@dataclass(frozen=True)
class _ProvisionOptions:
    """One entry per (pair, provision) for the pairs whose setting has provisions."""

    pair: npt.NDArray[np.int64]  # ascending
    index: npt.NDArray[np.int16]
    reasons: npt.NDArray[np.int32]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        return self.reasons == 0


def _provision_options(
    people: _ChildColumns, places: _SettingColumns, pairs: _Pairs, general: npt.NDArray[np.int32]
) -> _ProvisionOptions:
    """Resourced provisions and SEN units: the pair's common reasons plus the provision's own.

    Their places are a resourced provision's, whatever the school is, and they are designated
    for needs of their own.
    """
    with_provisions = np.flatnonzero(places.provision_count[pairs.setting] > 0)
    per_pair = places.provision_count[pairs.setting[with_provisions]]
    pair = np.repeat(with_provisions, per_pair)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    slot = places.provision_start[pairs.setting[pair]] + offset
    child = pairs.child[pair]
    # General places' reasons less the two that belong to the general places alone.
    reasons = general[pair] & ~np.int32(Exclusion.KIND_NOT_SUITABLE | Exclusion.NEED_NOT_DESIGNATED)
    reasons[(people.suitable[child] & _KIND_BIT[PlacementKind.RESOURCED_PROVISION]) == 0] |= (
        Exclusion.KIND_NOT_SUITABLE
    )
    reasons[(places.provision_needs[slot] & people.need[child]) == 0] |= (
        Exclusion.NEED_NOT_DESIGNATED
    )
    return _ProvisionOptions(pair, places.provision_index[slot], reasons)
