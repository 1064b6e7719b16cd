"""Which options and exclusions each child's tailored list shows, for many children at once.

A whole LA's lists rank three quarters of a million options and sift five million exclusions;
child by child in Python that took most of a minute. Here every step is a pass over arrays of
all the wanted children's rows, grouped by each child's *slot* (its place in the request, so a
child asked for twice gets two lists). Only the rows a list shows become Python objects
(``matcher.tailored``), and values rows share (texts, a setting's name) are made once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from matcher.eligibility import EXCLUSION_TEXT, KIND_ORDER, EligibleArcs
from matcher.residual_distances import lexicographic_order

if TYPE_CHECKING:
    from matcher.tailored import TailoredListConfig

IntArray = npt.NDArray[np.int64]
Value = TypeVar("Value")
Row = TypeVar("Row", bound=tuple[object, ...])

# Why an option is listed, as :func:`choose` says (0: it is not).
PROPOSED, PREFERENCE, BEST_OF_KIND, LOW_COST = 1, 2, 3, 4


class ChildGroups:
    """Indices of a child-keyed array, grouped by child: each child's options or exclusions."""

    def __init__(self, keys: npt.NDArray[np.int32], n: int, within: IntArray | None = None) -> None:
        """``within``: the order of the indices within each group (default: as they come)."""
        # Eligibility makes its arrays child by child: then the grouping is the identity.
        self.in_order = within is None and bool(np.all(keys[1:] >= keys[:-1]))
        if self.in_order:
            self.order = np.arange(len(keys))
        else:
            within = np.arange(len(keys)) if within is None else within
            self.order = within[np.argsort(keys[within], kind="stable")]
        self.bounds = np.searchsorted(keys[self.order], np.arange(n + 1))

    def of(self, wanted: IntArray) -> tuple[IntArray, IntArray]:
        """The wanted children's indices, child after child, and each one's slot in ``wanted``."""
        starts = self.bounds[wanted]
        counts = self.bounds[wanted + 1] - starts
        slot = np.repeat(np.arange(len(wanted)), counts)
        if len(wanted) == len(self.bounds) - 1 and np.array_equal(wanted, np.arange(len(wanted))):
            return self.order, slot  # every child in order: their indices are all of them
        shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        return self.order[np.arange(len(slot)) + shift], slot

    def pick(self, values: npt.NDArray[Any], rows: IntArray) -> npt.NDArray[Any]:
        """``values[rows]`` for ``rows`` from :meth:`of`; when they are every index in order
        (a whole LA's, as they come), ``values`` itself rather than a copy of millions."""
        return values if self.in_order and rows is self.order else values[rows]


@dataclass(frozen=True)
class RankedOptions:
    """Every wanted option, grouped by slot and best first within it, with its price."""

    options: IntArray
    slot: IntArray
    delta: IntArray  # levels × options: what forcing it does to the LA-wide plan
    feasible: npt.NDArray[np.bool_]


def positions(slot: IntArray) -> IntArray:
    """Each row's place among its slot's rows (0 for the first); rows come grouped by slot."""
    first = np.ones(len(slot), bool)
    first[1:] = slot[1:] != slot[:-1]
    starts = np.nonzero(first)[0]
    return np.arange(len(slot)) - np.repeat(starts, np.diff(np.append(starts, len(slot))))


def choose(
    arcs: EligibleArcs, ranked: RankedOptions, proposed: IntArray, config: TailoredListConfig
) -> npt.NDArray[np.int8]:
    """Why each ranked option is listed (0: it is not): proposed and preferred first; then the
    best of each kind of place; then the cheapest to the LA-wide plan, up to ``max_options``
    besides the proposed and the preferred. ``proposed``: each slot's option in the plan."""
    options, slot = ranked.options, ranked.slot
    why = np.zeros(len(options), np.int8)
    why[arcs.preference_rank[options] > 0] = PREFERENCE
    why[options == proposed[slot]] = PROPOSED
    within = np.ones(len(options), bool)
    if config.max_minutes is not None:
        within = arcs.minutes[options] <= config.max_minutes
    candidates = np.nonzero(within)[0]
    if config.one_of_each_kind and len(candidates):
        key = slot[candidates] * len(KIND_ORDER) + arcs.kind[options[candidates]]
        _, first = np.unique(key, return_index=True)  # the first of each kind: the best
        best = candidates[first]
        why[best[why[best] == 0]] = BEST_OF_KIND
    n_best = np.bincount(slot[why == BEST_OF_KIND], minlength=int(slot.max(initial=-1)) + 1)
    extra = within & (why == 0)
    taken = np.cumsum(extra)
    before = np.zeros(len(options), np.int64)  # extras of earlier slots
    starts = np.nonzero(positions(slot) == 0)[0]
    before[starts] = taken[starts] - extra[starts]
    before = np.maximum.accumulate(before)
    room = config.max_options - n_best[slot] if len(slot) else np.zeros(0, np.int64)
    why[extra & (taken - before - 1 < room)] = LOW_COST
    return why


def why_key(code: npt.NDArray[np.int8], rank: IntArray, kind: npt.NDArray[np.int8]) -> IntArray:
    """One integer for what :func:`why_listed` words: the reason, rank and kind of place."""
    return (code.astype(np.int64) * 2**16 + rank) * 2**8 + kind


def why_listed(key: int) -> str:
    code_rank, kind = divmod(key, 2**8)
    code, rank = divmod(code_rank, 2**16)
    if code == PROPOSED:
        return "proposed placement"
    if code == PREFERENCE:
        return f"parental preference {rank}"
    if code == BEST_OF_KIND:
        return f"best {KIND_ORDER[kind].value.replace('_', ' ')} option"
    return "low cost to the LA-wide plan"


def preference_ranks(
    named: Sequence[Sequence[int]], slot: IntArray, setting: npt.NDArray[np.int32]
) -> npt.NDArray[np.int16]:
    """The preference rank (0: none) each row's setting has for the child in its slot.

    ``named``: each slot's preferred settings' indices in rank order (−1: not a setting). A
    setting named twice keeps its last rank, as a dict of the list would.
    """
    width = max((len(x) for x in named), default=0)
    table = np.full((len(named), width), -1, np.int32)  # slot × rank - 1 → setting
    for k, row in enumerate(named):
        table[k, : len(row)] = row
    rank = np.zeros(len(slot), np.int16)  # small: one per exclusion of a whole LA
    for r in range(width):
        rank[table[slot, r] == setting] = r + 1
    return rank


def shown_exclusions(
    minutes: npt.NDArray[np.float32],
    setting: npt.NDArray[np.int32],
    slot: IntArray,
    rank: npt.NDArray[np.integer[Any]],
    limit: int | None,
) -> IntArray:
    """The rows (grouped by slot) a list shows, in its order: nearest first, no route (NaN)
    last, then by setting. A slot shows its ``limit`` nearest (all if None) and every
    preference (``rank`` > 0).

    A whole LA has five million exclusions, and sorting them all by minutes took most of a
    second for the ten a child shows. Only the rows that can be among their slot's nearest
    (:func:`_in_nearest_buckets`) and the preferences are sorted; within a slot, a row's
    place among those is its place among all the slot's rows, as every row before it is
    there too.
    """
    candidate = rank > 0
    if limit is None:
        candidate[:] = True
    else:
        candidate |= _in_nearest_buckets(minutes, slot, limit)
    rows = np.flatnonzero(candidate)
    far = np.nan_to_num(minutes[rows], nan=np.inf)
    order = rows[lexicographic_order(slot[rows], float_order(far), setting[rows])]
    if limit is None:
        return order
    return order[(positions(slot[order]) < limit) | (rank[order] > 0)]


#: Buckets of journey minutes in which each slot's nearest exclusions are first looked for,
#: and how many slot-bucket counts are held at once at most (8 bytes each).
NEAR_BUCKETS = 128
NEAR_COUNTS = 1 << 22


def _in_nearest_buckets(
    minutes: npt.NDArray[np.float32], slot: IntArray, limit: int
) -> npt.NDArray[np.bool_]:
    """Rows in their slot's nearest buckets of minutes that hold at least ``limit`` rows
    together (all a slot's rows if it has fewer): every row that can be among its slot's
    ``limit`` nearest, and a few more, found in a few passes and one count, not a sort.

    Buckets split the journeys evenly up to the longest; NaN (no route) and infinity come
    last, as in the order shown, so a row outside these buckets is farther than all within.
    """
    n_slots = int(slot[-1]) + 1 if len(slot) else 0
    if limit == 0 or n_slots == 0:
        return np.zeros(len(slot), bool)
    buckets = int(np.clip(NEAR_COUNTS // n_slots - 1, 1, NEAR_BUCKETS))
    top = float(np.max(minutes, where=np.isfinite(minutes), initial=0.0))
    scale = np.float32((buckets - 1) / top) if top > 0 else np.float32(0.0)
    if not np.isfinite(scale):  # journeys too short for a float32 scale: one bucket
        scale = np.float32(0.0)
    with np.errstate(invalid="ignore"):  # infinity × 0 is NaN: no route, last
        scaled = minutes * scale
    np.clip(scaled, 0, buckets, out=scaled)  # in place: these are a whole LA's rows
    bucket = np.nan_to_num(scaled, copy=False, nan=buckets).astype(np.int32)
    del scaled
    key = slot * (buckets + 1)
    key += bucket
    counts = np.bincount(key, minlength=n_slots * (buckets + 1))
    del key
    reached = np.cumsum(counts.reshape(n_slots, buckets + 1), axis=1) >= limit
    last = np.where(reached[:, -1], np.argmax(reached, axis=1), buckets).astype(np.int32)
    return bucket <= last[slot]


def hidden_reasons(
    reasons: npt.NDArray[np.int32], slot: IntArray, shown: IntArray, n_slots: int
) -> list[tuple[int, tuple[tuple[str, int], ...]]]:
    """Per slot: how many exclusions are not shown, and how many of them for each reason.

    ``reasons`` and ``slot``: every exclusion's; ``shown``: the rows shown. The hidden are
    counted as all less those shown, so the millions of hidden rows are never picked out.
    """
    counts = _reason_counts(reasons, slot, n_slots) - _reason_counts(
        reasons[shown], slot[shown], n_slots
    )
    totals = np.bincount(slot, minlength=n_slots) - np.bincount(slot[shown], minlength=n_slots)
    return [
        (total, tuple((text, n) for text, n in zip(_BIT_TEXT, row, strict=True) if n))
        for total, row in zip(totals.tolist(), counts.tolist(), strict=True)
    ]


def _reason_counts(reasons: npt.NDArray[np.int32], slot: IntArray, n_slots: int) -> IntArray:
    """Slots × reasons: how many rows of each slot have each reason. Rows are counted by
    their combination of reasons (a few dozen occur), which is then split into reasons."""
    if not len(reasons):
        return np.zeros((n_slots, len(_BITS)), np.int64)
    combos = np.flatnonzero(np.bincount(reasons))
    combo_of = np.zeros(int(combos[-1]) + 1, np.int64)
    combo_of[combos] = np.arange(len(combos))
    key = slot * len(combos)
    key += combo_of[reasons]
    by_combo = np.bincount(key, minlength=n_slots * len(combos)).reshape(n_slots, len(combos))
    has_reason = (combos[:, None] & np.array(_BITS, np.int64)[None, :]) != 0
    return by_combo @ has_reason.astype(np.int64)


def float_order(values: npt.NDArray[np.floating]) -> IntArray:
    """Integers in the order of ``values`` (NaN last, equal ones equal): a sort key for
    :func:`~matcher.residual_distances.lexicographic_order`."""
    if values.dtype == np.float32 and not np.any(values < 0):
        # Non-negative float32 sort as their bit patterns do; NaN's lie above infinity's.
        bits = (values + np.float32(0.0)).view(np.int32)  # -0.0 + 0.0 is +0.0
        return np.where(np.isnan(values), np.int64(2**31), bits.astype(np.int64))
    return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)


def made_once(make: Callable[[int], Value], keys: npt.NDArray[np.integer]) -> list[Value]:
    """``make(key)`` for each row's key, made once per distinct key (rows share a few)."""
    distinct, back = np.unique(keys.astype(np.int64), return_inverse=True)
    made = objects([make(key) for key in distinct.tolist()])
    return made[back.reshape(-1)].tolist()


def made_as(kind: type[Row]) -> Callable[[tuple[object, ...]], Row]:
    """A named tuple of ``kind`` from a plain tuple of its fields, as ``kind._make`` but with
    no Python call per row: a whole LA's lists make 700,000 of them."""
    return partial(tuple.__new__, kind)


def objects(values: Sequence[object]) -> npt.NDArray[np.object_]:
    """An array of Python objects, to pick rows' values from in one step."""
    out = np.empty(len(values), object)
    out[:] = values
    return out


def or_none(values: npt.NDArray[np.integer[Any]]) -> list[int | None]:
    """0 as None (no preference rank), as Python values."""
    out = objects(values.tolist())
    out[values == 0] = None
    return out.tolist()


def split(flat: list[Value], counts: IntArray) -> list[tuple[Value, ...]]:
    """``flat`` cut into consecutive tuples of ``counts`` items: each slot's rows."""
    ends = np.cumsum(counts).tolist()
    return [tuple(flat[end - n : end]) for n, end in zip(counts.tolist(), ends, strict=True)]


_BITS = [int(flag) for flag in EXCLUSION_TEXT]
_BIT_TEXT = tuple(EXCLUSION_TEXT.values())
