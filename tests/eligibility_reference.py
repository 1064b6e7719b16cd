"""The eligibility rules as they were first written, pair by pair: a reference for the tests.

``matcher.eligibility`` now evaluates the rules once per kind of child and setting; these
functions are the straightforward per-pair version it replaced, kept only so that tests can
check the two give identical arcs, in identical order, with identical reasons.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matcher.eligibility import (
    KIND_ORDER,
    EligibilityConfig,
    EligibleArcs,
    Exclusion,
)
from matcher.models import (
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

_REQUIREMENT_EXCLUSION: dict[Requirement, Exclusion] = {
    Requirement.WHEELCHAIR_ACCESS: Exclusion.NO_WHEELCHAIR_ACCESS,
    Requirement.RESIDENTIAL: Exclusion.NOT_RESIDENTIAL,
    Requirement.NURSING: Exclusion.NO_NURSING,
}
_NEED_BIT = {need: 1 << i for i, need in enumerate(PrimaryNeed)}
_KIND_BIT = {kind: 1 << i for i, kind in enumerate(PlacementKind)}
_SEX_CODE = {Sex.MALE: 1, Sex.FEMALE: 2, Sex.UNKNOWN: 3}
_ADMITS_CODE = {SexAdmitted.MIXED: 0, SexAdmitted.BOYS: 1, SexAdmitted.GIRLS: 2}


def _need_mask(needs: frozenset[PrimaryNeed]) -> int:
    return sum(_NEED_BIT[n] for n in needs)


def _requirement_mask(reqs: frozenset[Requirement]) -> int:
    return sum(int(_REQUIREMENT_EXCLUSION[r]) for r in reqs)


def _candidate_pairs(
    children: Sequence[Child], urn_index: dict[str, int], travel: TravelTimeMatrix
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32], np.ndarray]:
    """All pairs the matrix reaches plus all preference pairs, with minutes and ranks.

    Matrix pairs are unique by contract, so only the few preference pairs need merging in.
    """
    n_settings = len(urn_index)
    keys = travel.rows.astype(np.int64) * n_settings + travel.cols.astype(np.int64)
    minutes = travel.minutes
    if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):
        order = np.argsort(keys, kind="stable")
        keys, minutes = keys[order], minutes[order]
    pref_keys_list, pref_ranks_list = [], []
    for i, child in enumerate(children):
        for rank, urn in enumerate(child.preferences, start=1):
            if urn in urn_index:
                pref_keys_list.append(i * n_settings + urn_index[urn])
                pref_ranks_list.append(rank)
    pref_keys = np.asarray(pref_keys_list, np.int64)
    pref_ranks = np.asarray(pref_ranks_list, np.int16)
    at = np.searchsorted(keys, pref_keys)
    known = np.zeros(len(pref_keys), bool)
    if len(keys):
        known = keys[np.minimum(at, len(keys) - 1)] == pref_keys
    new_keys = pref_keys[~known]
    ranks = np.zeros(len(keys), np.int16)
    ranks[at[known]] = pref_ranks[known]
    if len(new_keys):
        keys = np.concatenate([keys, new_keys])
        minutes = np.concatenate([minutes, np.full(len(new_keys), np.nan, np.float32)])
        ranks = np.concatenate([ranks, pref_ranks[~known]])
    return keys // n_settings, keys % n_settings, minutes, ranks


def reference_build_arcs(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: EligibilityConfig | None = None,
) -> EligibleArcs:
    """Apply the hard rules to every candidate pair, one pair at a time."""
    config = config or EligibilityConfig()
    if travel.child_ids != tuple(c.child_id for c in children) or travel.setting_urns != tuple(
        s.urn for s in settings
    ):
        travel = travel.reindexed([c.child_id for c in children], [s.urn for s in settings])
    urn_index = {s.urn: j for j, s in enumerate(settings)}
    ci, si, minutes, ranks = _candidate_pairs(children, urn_index, travel)

    age = np.array([age_at_start_of_year(c.nc_year) for c in children], np.int16)[ci]
    sex = np.array([_SEX_CODE[c.sex] for c in children], np.int8)[ci]
    need_bit = np.array([_NEED_BIT[c.primary_need] for c in children], np.int32)[ci]
    suitable = np.array(
        [sum(_KIND_BIT[k] for k in c.effective_suitable_kinds) for c in children], np.int32
    )[ci]
    required = np.array([_requirement_mask(c.requirements) for c in children], np.int32)[ci]
    limit = np.array([config.limit_for(c.nc_year) for c in children], np.float32)[ci]

    low = np.array([s.low_age for s in settings], np.int16)[si]
    high = np.array([s.high_age for s in settings], np.int16)[si]
    admitted = np.array([_ADMITS_CODE[s.sex_admitted] for s in settings], np.int8)[si]
    designated = np.array([_need_mask(s.designated_needs) for s in settings], np.int32)[si]
    facilities = np.array([_requirement_mask(s.facilities) for s in settings], np.int32)[si]
    kind_idx = np.array([KIND_ORDER.index(s.placement_kind) for s in settings], np.int8)[si]

    # Reasons common to every kind of place at the setting.
    common = np.zeros(len(ci), np.int32)
    common[(age < low) | (age >= high)] |= Exclusion.AGE_RANGE
    wrong_sex = (admitted != 0) & (admitted != sex)
    common[wrong_sex] |= Exclusion.SEX_ADMITTED
    common |= required & ~facilities
    over = minutes > limit
    if config.preferences_exempt_from_travel_limit:
        over &= ranks == 0
    common[over] |= Exclusion.OVER_TRAVEL_LIMIT
    common[np.isnan(minutes)] |= Exclusion.NO_ROUTE

    # The setting's general places.
    general = common.copy()
    kind_bit = (1 << kind_idx.astype(np.int32)).astype(np.int32)
    general[(suitable & kind_bit) == 0] |= Exclusion.KIND_NOT_SUITABLE
    specialist = kind_idx != KIND_ORDER.index(PlacementKind.MAINSTREAM)
    general[specialist & (designated != 0) & ((designated & need_bit) == 0)] |= (
        Exclusion.NEED_NOT_DESIGNATED
    )

    # Resourced provisions and SEN units: one option per (pair, provision).
    prov_setting, prov_index, prov_needs = [], [], []
    for j, s in enumerate(settings):
        for k, p in enumerate(s.provisions):
            prov_setting.append(j)
            prov_index.append(k)
            prov_needs.append(_need_mask(p.designated_needs))
    rp_kind = KIND_ORDER.index(PlacementKind.RESOURCED_PROVISION)
    if prov_setting:
        order = np.argsort(np.asarray(prov_setting), kind="stable")
        ps = np.asarray(prov_setting)[order]
        counts = np.bincount(ps, minlength=len(settings))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        per_pair = counts[si]
        pair_of = np.repeat(np.arange(len(ci)), per_pair)
        offset = np.arange(len(pair_of)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
        slot = order[np.repeat(starts[si], per_pair) + offset]
        prov_reasons = common[pair_of].copy()
        prov_reasons[(suitable[pair_of] & _KIND_BIT[PlacementKind.RESOURCED_PROVISION]) == 0] |= (
            Exclusion.KIND_NOT_SUITABLE
        )
        prov_reasons[(np.asarray(prov_needs)[slot] & need_bit[pair_of]) == 0] |= (
            Exclusion.NEED_NOT_DESIGNATED
        )
        prov_k = np.asarray(prov_index, np.int16)[slot]
    else:
        pair_of = np.empty(0, np.int64)
        prov_reasons = np.empty(0, np.int32)
        prov_k = np.empty(0, np.int16)

    ok_general = general == 0
    ok_prov = prov_reasons == 0
    option_pair = np.concatenate([np.nonzero(ok_general)[0], pair_of[ok_prov]])
    option_prov = np.concatenate([np.full(ok_general.sum(), -1, np.int16), prov_k[ok_prov]])
    option_kind = np.concatenate(
        [kind_idx[ok_general], np.full(ok_prov.sum(), rp_kind, np.int8)]
    ).astype(np.int8)
    order = np.lexsort((option_prov, option_pair))
    option_pair, option_prov, option_kind = (
        option_pair[order],
        option_prov[order],
        option_kind[order],
    )

    # A pair is excluded when none of its options is eligible; its reasons are the union.
    pair_reasons = general.copy()
    any_ok = ok_general.copy()
    if len(pair_of):
        np.bitwise_or.at(pair_reasons, pair_of, prov_reasons)
        any_ok[pair_of[ok_prov]] = True
    excluded = ~any_ok
    return EligibleArcs(
        child=ci[option_pair].astype(np.int32),
        setting=si[option_pair].astype(np.int32),
        provision=option_prov,
        kind=option_kind,
        minutes=minutes[option_pair],
        preference_rank=ranks[option_pair],
        excluded_child=ci[excluded].astype(np.int32),
        excluded_setting=si[excluded].astype(np.int32),
        excluded_reasons=pair_reasons[excluded],
        excluded_minutes=minutes[excluded],
    )
