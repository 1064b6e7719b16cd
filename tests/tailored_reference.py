"""Tailored lists as they were first written, child by child: a reference for the tests.

``matcher.tailored`` now ranks, chooses and describes every wanted child's options and
exclusions in a few array passes; this is the straightforward per-child version it replaced,
kept only so that tests can check the two give identical lists (pricing is the model's own).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matcher.eligibility import EXCLUSION_TEXT, KIND_ORDER, EligibleArcs, describe
from matcher.tailored import (
    ExcludedSetting,
    ListedOption,
    TailoredList,
    TailoredListConfig,
    TailoredListModel,
)

_BITS = np.array([int(flag) for flag in EXCLUSION_TEXT], np.int32)
_BIT_TEXT = tuple(EXCLUSION_TEXT.values())


def reference_list(model: TailoredListModel, i: int, config: TailoredListConfig) -> TailoredList:
    """Child ``i``'s list: its options priced, ranked and chosen on their own."""
    arcs = model.network.arcs
    options = np.nonzero(arcs.child == i)[0]
    delta, feasible = model.prices.marginal_deltas(options)
    order = np.lexsort((arcs.minutes[options], *delta[::-1], ~feasible))
    options, delta, feasible = options[order], delta[:, order], feasible[order]
    proposed = int(model.prices.current[i])
    rows = tuple(
        _listed(
            model,
            i,
            int(options[k]),
            model.prices.as_marginal(delta[:, k].tolist()) if feasible[k] else None,
            why,
        )
        for k, why in _choose(arcs, options, proposed, config)
    )
    excluded, hidden, hidden_reasons = _exclusions(model, i, config.max_excluded)
    return TailoredList(
        child_id=model.children[i].child_id,
        proposed_urn=model.plan.placements[i].setting_urn,
        options=rows,
        excluded=excluded,
        preferences=model._preference_statements(i, list(rows), excluded),
        excluded_not_shown=hidden,
        excluded_not_shown_reasons=hidden_reasons,
    )


def _listed(model: TailoredListModel, i: int, a: int, marginal: object, why: str) -> ListedOption:
    arcs, child = model.network.arcs, model.children[i]
    s = model.settings[int(arcs.setting[a])]
    p = int(arcs.provision[a])
    designated = s.provisions[p].designated_needs if p >= 0 else s.designated_needs
    needs = [child.primary_need, *sorted(child.secondary_needs)]
    rank = int(arcs.preference_rank[a])
    return ListedOption(
        urn=s.urn,
        name=s.name,
        setting_type=s.setting_type.value,
        placement_kind=KIND_ORDER[int(arcs.kind[a])],
        provision=s.provisions[p].kind.value if p >= 0 else None,
        needs_matched=tuple(n.value for n in needs if n in designated),
        minutes=float(arcs.minutes[a]),
        places_left=int(model._places_left[a]),
        placement_cost=int(model.network.placement_cost[a]),
        transport_cost=int(model.network.transport_cost[a]),
        preference_rank=rank or None,
        proposed=int(model.prices.current[i]) == a,
        marginal=marginal,  # type: ignore[arg-type]
        why_listed=why,
    )


def _choose(
    arcs: EligibleArcs, ranked: npt.NDArray[np.int64], proposed: int, config: TailoredListConfig
) -> list[tuple[int, str]]:
    chosen: dict[int, str] = {}
    ranks = arcs.preference_rank[ranked].tolist()
    for n, a in enumerate(ranked.tolist()):
        if a == proposed:
            chosen[n] = "proposed placement"
        elif ranks[n]:
            chosen[n] = f"parental preference {ranks[n]}"
    minutes = arcs.minutes[ranked]
    within = [
        n
        for n in range(len(ranked))
        if config.max_minutes is None or minutes[n] <= config.max_minutes
    ]
    kinds = arcs.kind[ranked].tolist()
    if config.one_of_each_kind:
        for k, kind in enumerate(KIND_ORDER):
            best = next((n for n in within if kinds[n] == k), None)
            if best is not None and best not in chosen:
                chosen[best] = f"best {kind.value.replace('_', ' ')} option"
    extra = sum(1 for why in chosen.values() if not why.startswith(("proposed", "parental")))
    for n in within:
        if extra >= config.max_options:
            break
        if n not in chosen:
            chosen[n] = "low cost to the LA-wide plan"
            extra += 1
    return sorted(chosen.items())


def _exclusions(
    model: TailoredListModel, i: int, limit: int | None
) -> tuple[tuple[ExcludedSetting, ...], int, tuple[tuple[str, int], ...]]:
    arcs = model.network.arcs
    rows = np.nonzero(arcs.excluded_child == i)[0]
    far = np.nan_to_num(arcs.excluded_minutes[rows], nan=np.inf)
    rows = rows[np.lexsort((arcs.excluded_setting[rows], far))]
    ranks = {urn: r for r, urn in enumerate(model.children[i].preferences, start=1)}
    shown_mask = np.ones(len(rows), bool)
    if limit is not None:
        shown_mask = np.arange(len(rows)) < limit
        wanted = [model.setting_index[u] for u in ranks if u in model.setting_index]
        if wanted:
            shown_mask |= np.isin(arcs.excluded_setting[rows], wanted)
    shown = []
    for e in rows[shown_mask].tolist():
        s = model.settings[int(arcs.excluded_setting[e])]
        m = float(arcs.excluded_minutes[e])
        shown.append(
            ExcludedSetting(
                urn=s.urn,
                name=s.name,
                setting_type=s.setting_type.value,
                minutes=None if m != m else m,
                preference_rank=ranks.get(s.urn),
                reasons=describe(int(arcs.excluded_reasons[e])),
            )
        )
    hidden = rows[~shown_mask]
    if not len(hidden):
        return tuple(shown), 0, ()
    counts = np.bincount(
        np.nonzero(_BITS & arcs.excluded_reasons[hidden][:, None])[1], minlength=len(_BITS)
    )
    reasons = tuple((text, int(n)) for text, n in zip(_BIT_TEXT, counts.tolist(), strict=True) if n)
    return tuple(shown), len(hidden), reasons
