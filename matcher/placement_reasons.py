"""Why each child got the outcome of the optimal plan: the "reason" a panel would ask for.

Words come from the eligibility reasons and from which capacities the plan filled. A whole
LA's plan is explained with a few array passes, not array work per child: the grounds of
every unmet preference are found together, by looking each (child, setting) pair up among the
options and the excluded pairs at once; and since most children share one of a few reasons
("first parental preference") and the grounds repeat, each distinct ground is put into words
once. Unplaced children are counted out together in the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from matcher.eligibility import EXCLUSION_TEXT, EligibleArcs, Exclusion, describe
from matcher.models import Setting

if TYPE_CHECKING:  # annotations only: placement imports this module
    from matcher.placement import PlacementNetwork

FIRST_PREFERENCE = "first parental preference"
NO_PREFERENCE = "no parental preference; best suitable setting by travel time then cost"
NO_PREFERENCE_MET = "no parental preference met"
NOTHING_WITHIN_CUTOFF = "no setting within the travel-time cutoff of home"


def placement_reasons(
    preferences: Sequence[tuple[str, ...]],
    settings: Sequence[Setting],
    network: PlacementNetwork,
    chosen: npt.NDArray[np.int64],
    full: npt.NDArray[np.bool_],
) -> list[str]:
    """Each child's reason, from its preferences (the URNs its parents named, in order), the
    option arc it takes (``chosen``, -1 if unplaced) and which capacity nodes the plan fills
    (``full``)."""
    n = len(preferences)
    placed = chosen >= 0
    rank = values_at(network.arcs.preference_rank, chosen, 0)
    reason = np.empty(n, dtype=object)
    reason.fill(NO_PREFERENCE)  # np.full is ten times slower for objects
    reason[placed & (rank == 1)] = FIRST_PREFERENCE
    who, texts = _unmet_preferences(settings, network, full, preferences, placed, rank)
    reason[who] = np.array(texts, dtype=object)
    unplaced = np.flatnonzero(~placed)
    reason[unplaced] = np.array(_unplaced(network.arcs, unplaced, n, len(settings)), object)
    return reason.tolist()


def _unmet_preferences(
    settings: Sequence[Setting],
    network: PlacementNetwork,
    full: npt.NDArray[np.bool_],
    preferences: Sequence[tuple[str, ...]],
    placed: npt.NDArray[np.bool_],
    rank: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """The children placed without their first preference, and for each its reason: which
    preference it got (or none), then every preference before it with its ground."""
    counts = np.fromiter(map(len, preferences), np.int64, len(preferences))
    child = np.repeat(np.arange(len(preferences)), counts)
    position = np.arange(len(child)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    got = rank[child]
    shown = np.flatnonzero(placed[child] & ((got == 0) | (position < got)))
    if not len(shown):
        return np.empty(0, np.int64), []
    named = list(chain.from_iterable(preferences))
    urns = list(map(named.__getitem__, shown.tolist()))
    child, position = child[shown], position[shown]
    urn_index = {s.urn: j for j, s in enumerate(settings)}
    setting = np.fromiter(map(urn_index.get, urns, repeat(-1)), np.int64, len(urns))
    grounds = _grounds(network, full, child, setting, len(settings))
    lines = [
        f"; preference {r} ({urn}) not met: {ground}"
        for r, urn, ground in zip(position.tolist(), urns, grounds, strict=True)
    ]
    starts = np.flatnonzero(np.r_[True, child[1:] != child[:-1]])
    who = child[starts]
    heads = [_head(r) for r in rank[who].tolist()]
    bounds = np.r_[starts, len(child)].tolist()
    texts = [
        head + "".join(lines[a:b])
        for head, a, b in zip(heads, bounds[:-1], bounds[1:], strict=True)
    ]
    return who, texts


@cache
def _head(rank: int) -> str:
    return f"parental preference {rank}" if rank else NO_PREFERENCE_MET


def _grounds(
    network: PlacementNetwork,
    full: npt.NDArray[np.bool_],
    child: npt.NDArray[np.int64],
    setting: npt.NDArray[np.int64],
    m: int,
) -> list[str]:
    """Why each (child, setting) pair could not be named: the setting is unknown, the plan
    filled its places (or the year group's, or the provision's), or the child is excluded
    there. Pairs share a few grounds, each put into words once."""
    arcs, n = network.arcs, len(network.has_preferences)
    option = _PairIndex(arcs.child, arcs.setting, m).first(child, setting)
    excluded = _PairIndex(arcs.excluded_child, arcs.excluded_setting, m).first(child, setting)
    head = values_at(network.option_head, option, 0)
    own = (head != values_at(arcs.setting, option, 0).astype(np.int64) + n) & full[head]
    reasons = values_at(arcs.excluded_reasons, excluded, int(Exclusion.NO_ROUTE)).astype(np.int64)
    # One code per ground: 0 unknown, 1 the setting's places, 2 + node a capacity node's
    # places, -1 - reasons the exclusion's.
    code = np.where(setting < 0, 0, np.where(option >= 0, np.where(own, 2 + head, 1), -1 - reasons))
    codes = code.tolist()
    words = {c: _ground_words(c, network.node_label) for c in set(codes)}
    return list(map(words.__getitem__, codes))


def _ground_words(code: int, labels: Sequence[str]) -> str:
    if code == 0:
        return "not a known setting"
    if code > 0:
        level = labels[code - 2] if code > 1 else "places"
        return f"no capacity: {level} all taken in the optimal plan"
    return ground(-1 - code)


@cache
def ground(reasons: int) -> str:
    """The s.39 ground a panel would cite for a preference that cannot be named."""
    suitability = reasons & ~(Exclusion.OVER_TRAVEL_LIMIT | Exclusion.NO_ROUTE)
    if suitability:
        return "unsuitable for the child's age or SEN: " + "; ".join(describe(suitability))
    return "journey: " + "; ".join(describe(reasons))


def _unplaced(arcs: EligibleArcs, unplaced: npt.NDArray[np.int64], n: int, m: int) -> list[str]:
    """Why each unplaced child is: every place within reach taken, or nothing suitable (each
    exclusion counted over the settings considered), or nothing within the cutoff."""
    k = len(unplaced)
    if not k:
        return []
    slot = np.full(n, -1, np.int64)  # each unplaced child's place among them
    slot[unplaced] = np.arange(k)
    options = slot[arcs.child]
    mine = options >= 0
    pairs = np.unique(options[mine] * m + arcs.setting[mine])
    reachable = np.bincount(pairs // m, minlength=k).tolist()
    excluded = slot[arcs.excluded_child]
    mine = excluded >= 0
    ex_slot, ex_reasons = excluded[mine], arcs.excluded_reasons[mine]
    considered = np.bincount(ex_slot, minlength=k).tolist()
    counted = {
        text: np.bincount(ex_slot[(ex_reasons & int(flag)) != 0], minlength=k).tolist()
        for flag, text in EXCLUSION_TEXT.items()
    }
    texts = []
    for i in range(k):
        if reachable[i]:
            texts.append(
                f"no capacity: all places at the {reachable[i]} suitable setting(s) within "
                "reach are taken in the optimal plan"
            )
        elif not considered[i]:
            texts.append(NOTHING_WITHIN_CUTOFF)
        else:
            ranked = sorted(
                ((text, count[i]) for text, count in counted.items() if count[i]),
                key=lambda kv: (-kv[1], kv[0]),
            )
            detail = "; ".join(f"{text} ({count})" for text, count in ranked)
            texts.append(f"no suitable setting: of {considered[i]} setting(s) considered, {detail}")
    return texts


class _PairIndex:
    """(child, setting) pairs, to find a pair by binary search.

    Eligibility lists pairs in (child, setting) order, then the few preferences the travel
    matrix did not reach: a couple of sorted runs, each searched as it is. Any other order is
    sorted once.
    """

    def __init__(
        self, child: npt.NDArray[np.int32], setting: npt.NDArray[np.int32], m: int
    ) -> None:
        self.m = m
        keys = child.astype(np.int64) * m + setting
        breaks = np.flatnonzero(keys[1:] < keys[:-1]) + 1
        if len(breaks) <= _MAX_RUNS:
            self.order: npt.NDArray[np.int64] | None = None
        else:
            self.order = np.argsort(keys, kind="stable")  # equal keys keep their first first
            keys, breaks = keys[self.order], np.empty(0, np.int64)
        self.keys = keys
        starts, stops = np.r_[0, breaks].tolist(), np.r_[breaks, len(keys)].tolist()
        self.runs = list(zip(starts, stops, strict=True))

    def first(
        self, child: npt.NDArray[np.int64], setting: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """The first entry for each pair (-1 where there is none); settings < 0 never match."""
        wanted = child * self.m + setting
        found = np.full(len(wanted), -1, np.int64)
        for lo, hi in self.runs:
            if hi == lo:
                continue
            at = np.minimum(np.searchsorted(self.keys[lo:hi], wanted), hi - lo - 1) + lo
            hit = (found < 0) & (self.keys[at] == wanted) & (setting >= 0)
            found[hit] = at[hit] if self.order is None else self.order[at[hit]]
        return found


# Sorted runs searched one by one before the pairs are sorted instead.
_MAX_RUNS = 8


def values_at(
    values: npt.NDArray[Any], index: npt.NDArray[np.int64], missing: int
) -> npt.NDArray[Any]:
    """``values[index]``, with ``missing`` where the index is -1 (and for empty ``values``)."""
    out = np.full(len(index), missing, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out
