"""Tailored lists: each child's suitable settings, priced against the whole LA's optimal plan.

The SEND and AP Improvement Plan asks LAs to give families a tailored list from which to express
an informed preference. Here the list is the child's eligible options (every kind of place the
EHCP allows), each with its journey, places left, annual cost, and its marginal system cost:
what naming it would do to the LA-wide optimum (children left unplaced, other children's
preferences, minutes, pounds). Every excluded setting within reach keeps its reasons, and every
parental preference the plan does not meet gets its section 39 ground in words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from matcher.eligibility import KIND_ORDER, Exclusion, describe
from matcher.garbage_collection import paused_garbage_collection
from matcher.list_choice import (
    PROPOSED,
    ChildGroups,
    RankedOptions,
    choose,
    float_order,
    hidden_reasons,
    made_as,
    made_once,
    objects,
    or_none,
    preference_ranks,
    shown_exclusions,
    split,
    why_key,
    why_listed,
)
from matcher.models import Child, PlacementKind, PrimaryNeed, Setting
from matcher.placement import (
    PlacementConfig,
    PlacementResult,
    ProgressCallback,
    explain_solution,
    level_costs,
    level_names,
    solve_flow,
)
from matcher.residual_distances import lexicographic_order
from matcher.system_prices import MARGINAL_WORDS, NO_COST_TEXT, MarginalCost, SystemPrices
from matcher.travel import TravelTimeMatrix

IntArray = npt.NDArray[np.int64]
Number = TypeVar("Number", int, float)
_KINDS = objects(list(KIND_ORDER))  # each kind of place, to pick rows' kinds from
_TRAVEL_ONLY = Exclusion.OVER_TRAVEL_LIMIT | Exclusion.NO_ROUTE


@dataclass(frozen=True)
class TailoredListConfig:
    """How long a list is and what it must contain; the defaults are documented in README."""

    max_options: int = 8  # besides the proposed placement and every parental preference
    max_minutes: float | None = None  # None: the eligibility journey limits alone
    one_of_each_kind: bool = True  # the best mainstream, resourced, special... option each
    max_excluded: int | None = 10  # nearest exclusions shown (None: all); the rest counted

    def __post_init__(self) -> None:
        if self.max_options < 1:
            raise ValueError("max_options must be at least 1")
        if self.max_excluded is not None and self.max_excluded < 0:
            raise ValueError("max_excluded must not be negative")


class ListedOption(NamedTuple):
    """One setting on a child's list.

    A named tuple rather than a frozen dataclass, as :class:`ExcludedSetting` and
    ``MarginalCost``: a whole LA's lists hold about 700,000 of the three, and a named tuple is
    made four times faster while being as immutable.
    """

    urn: str
    name: str
    setting_type: str
    placement_kind: PlacementKind
    provision: str | None
    needs_matched: tuple[str, ...]
    minutes: float
    places_left: int
    placement_cost: int
    transport_cost: int
    preference_rank: int | None
    proposed: bool
    marginal: MarginalCost | None  # None: no place can be made there this round
    why_listed: str

    @property
    def marginal_text(self) -> str:
        return marginal_text(self.marginal)


NO_PLACE_TEXT = "no place can be made there this round: all its places are committed"


def marginal_text(marginal: MarginalCost | None) -> str:
    """An option's marginal system cost in words (None: no place can be made there)."""
    if marginal is None:
        return NO_PLACE_TEXT
    return marginal.describe()


def marginal_texts(marginals: Sequence[MarginalCost | None]) -> list[str]:
    """:func:`marginal_text` of many options at once, worded a level at a time.

    A whole LA's lists have 150,000 different costs, and wording each in a call of its own
    (:meth:`MarginalCost.describe`) was a sixth of writing them; here each level is worded
    once per distinct number (with :meth:`~MarginalCost.describe`'s own words), then the
    parts are joined.
    """
    zero = MarginalCost(0, 0, 0, 0.0, 0)
    columns = list(zip(*[zero if m is None else m for m in marginals], strict=True))
    parts = [
        _worded(values, word)
        for values, word in zip(columns or [()] * len(zero), MARGINAL_WORDS, strict=True)
    ]
    return [
        NO_PLACE_TEXT if m is None else "; ".join(filter(None, words)) or NO_COST_TEXT
        for m, words in zip(marginals, zip(*parts, strict=True), strict=True)
    ]


def _worded(values: Sequence[Number], word: Callable[[Number], str]) -> list[str]:
    """Each value worded (blank for 0), once per distinct value. Equal values are worded
    alike: 0.0 and -0.0 are both blank."""
    made = {value: word(value) if value else "" for value in set(values)}
    return list(map(made.__getitem__, values))


class ExcludedSetting(NamedTuple):
    urn: str
    name: str
    setting_type: str
    minutes: float | None
    preference_rank: int | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PreferenceStatement:
    rank: int
    urn: str
    name: str
    met: bool
    ground: str  # the Children and Families Act 2014 s.39 ground, or "named"
    evidence: str


@dataclass(frozen=True)
class TailoredList:
    child_id: str
    proposed_urn: str | None
    options: tuple[ListedOption, ...]
    excluded: tuple[ExcludedSetting, ...]
    preferences: tuple[PreferenceStatement, ...]
    excluded_not_shown: int = 0
    excluded_not_shown_reasons: tuple[tuple[str, int], ...] = ()


class TailoredListModel:
    """A solved LA: the optimal plan and its prices, ready to list options for any child."""

    def __init__(
        self,
        children: Sequence[Child],
        settings: Sequence[Setting],
        travel: TravelTimeMatrix,
        config: PlacementConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.children, self.settings = list(children), list(settings)
        self.config = config or PlacementConfig()
        report = progress or (lambda _stage: None)
        network, solution = solve_flow(children, settings, travel, self.config, report)
        self.network = network
        order = self.config.objective_order
        levels = level_costs(network, len(children), order)
        report("pricing options against the LA-wide plan")
        self.prices = SystemPrices(network, solution, levels, order, len(children))
        self._travel_model = travel.model
        self.index = {c.child_id: i for i, c in enumerate(children)}
        self.setting_index = {s.urn: j for j, s in enumerate(settings)}
        self.setting_by_urn = {s.urn: s for s in settings}
        self._columns = _SettingColumns(self.children, self.settings)
        arcs = network.arcs
        self._options = ChildGroups(arcs.child, len(children))
        # Each child's exclusions; which a list shows, in what order, is chosen per request.
        self._excluded = ChildGroups(arcs.excluded_child, len(children))
        self._places_left = self._option_places_left()
        self._in_plan = self._placed_urns_and_ranks()

    @cached_property
    def plan(self) -> PlacementResult:
        """The LA-wide plan, child by child with its reasons: made when first asked for (a
        panel pack, the API), as lists need only each child's setting and preference rank in
        it (a third of a second for a whole LA)."""
        return explain_solution(
            self.children,
            self.settings,
            self.network,
            self.prices.flows,
            self._travel_model,
            self.config,
        )

    def _placed_urns_and_ranks(self) -> list[tuple[str | None, int | None]]:
        """Each child's setting (URN) in the plan and its preference rank there (None: not
        placed, or not a preference), as :attr:`plan` would say."""
        arcs, current = self.network.arcs, self.prices.current
        placed = np.nonzero(current < self.network.n_options)[0]
        urn = objects([None] * len(current))
        rank = np.zeros(len(current), np.int64)
        urn[placed] = self._columns.urn[arcs.setting[current[placed]]]
        rank[placed] = arcs.preference_rank[current[placed]]
        return list(zip(urn.tolist(), or_none(rank), strict=True))

    def _option_places_left(self) -> np.ndarray:
        """Places left before the round on each option's path: its pool and its setting."""
        flow, net = self.network.flow, self.network
        n = len(self.children)
        first_cap = net.n_options + n
        cap_of = np.full(flow.n_nodes, np.iinfo(np.int64).max, np.int64)
        next_of = np.full(flow.n_nodes, -1, np.int64)
        cap_of[flow.tails[first_cap:]] = flow.capacities[first_cap:]
        next_of[flow.tails[first_cap:]] = flow.heads[first_cap:]
        head = net.option_head
        left = cap_of[head]
        up = next_of[head]
        has_setting = (up >= 0) & (up != net.sink)
        left[has_setting] = np.minimum(left[has_setting], cap_of[up[has_setting]])
        return left

    def for_child(self, child_id: str, config: TailoredListConfig | None = None) -> TailoredList:
        if child_id not in self.index:
            raise KeyError(f"no child with id {child_id!r} in this caseload")
        return self.lists([self.index[child_id]], config)[0]

    def lists(
        self,
        children: Sequence[int] | None = None,
        config: TailoredListConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[TailoredList]:
        """Lists for ``children`` (indices; all by default), in that order.

        Every option of every child is priced in one call, ranked in one sort and chosen in a
        few array passes: only the listed rows become Python objects.
        """
        with paused_garbage_collection():
            return self._lists(children, config or TailoredListConfig(), progress)

    def _lists(
        self,
        children: Sequence[int] | None,
        config: TailoredListConfig,
        progress: ProgressCallback | None,
    ) -> list[TailoredList]:
        wanted = np.asarray(
            range(len(self.children)) if children is None else list(children), np.int64
        )
        if progress:
            progress(f"pricing {len(wanted):,} children's options against the LA-wide plan")
        options, slot = self._options.of(wanted)
        delta, feasible = self.prices.marginal_deltas(options)
        if progress:
            progress("writing the lists")
        arcs = self.network.arcs
        # Within each child: feasible first, then by the levels of the objective, then minutes.
        order = lexicographic_order(slot, ~feasible, *delta, float_order(arcs.minutes[options]))
        ranked = RankedOptions(options[order], slot[order], delta[:, order], feasible[order])
        proposed = self.prices.current[wanted]
        why = choose(arcs, ranked, proposed, config)
        rows = self._rows(wanted, ranked, why)
        exclusions = _Exclusions(self, wanted, config.max_excluded)
        out = []
        for k, i in enumerate(wanted.tolist()):
            mine, excluded = rows[k], exclusions.shown[k]
            not_shown, not_shown_reasons = exclusions.hidden[k]
            out.append(
                TailoredList(
                    child_id=self.children[i].child_id,
                    proposed_urn=self._in_plan[i][0],
                    options=mine,
                    excluded=excluded,
                    preferences=self._preference_statements(i, list(mine), excluded),
                    excluded_not_shown=not_shown,
                    excluded_not_shown_reasons=not_shown_reasons,
                )
            )
        return out

    def _rows(
        self, wanted: IntArray, ranked: RankedOptions, why: npt.NDArray[np.int8]
    ) -> list[tuple[ListedOption, ...]]:
        """The listed options of each wanted child (best first), built column by column."""
        arcs, net, cols = self.network.arcs, self.network, self._columns
        listed = np.nonzero(why)[0]
        a = ranked.options[listed]
        slot = ranked.slot[listed]
        setting, provision, kind = arcs.setting[a], arcs.provision[a], arcs.kind[a]
        rank = arcs.preference_rank[a].astype(np.int64)
        code = why[listed]
        flat = list(
            map(
                made_as(ListedOption),
                zip(
                    cols.urn[setting].tolist(),
                    cols.name[setting].tolist(),
                    cols.type_text[setting].tolist(),
                    _KINDS[kind].tolist(),
                    cols.provision_text(setting, provision),
                    cols.needs_matched(wanted[slot], setting, provision),
                    arcs.minutes[a].astype(np.float64).tolist(),
                    self._places_left[a].tolist(),
                    net.placement_cost[a].tolist(),
                    net.transport_cost[a].tolist(),
                    or_none(rank),
                    (code == PROPOSED).tolist(),
                    self._marginals(ranked.delta[:, listed], ranked.feasible[listed]),
                    made_once(why_listed, why_key(code, rank, kind)),
                    strict=True,
                ),
            )
        )
        return split(flat, np.bincount(slot, minlength=len(wanted)))

    def _marginals(
        self, delta: IntArray, feasible: npt.NDArray[np.bool_]
    ) -> list[MarginalCost | None]:
        """:meth:`SystemPrices.as_marginal` for many columns: one list per level, not per row."""
        at = {name: k for k, name in enumerate(level_names(self.prices.order))}
        out: list[MarginalCost | None] = list(
            map(
                made_as(MarginalCost),
                zip(
                    delta[at["placed"]].tolist(),
                    delta[at["preference_met"]].tolist(),
                    delta[at["preference_rank"]].tolist(),
                    (delta[at["travel"]] / 10.0).tolist(),
                    delta[at["cost"]].tolist(),
                    strict=True,
                ),
            )
        )
        for k in np.nonzero(~feasible)[0].tolist():
            out[k] = None
        return out

    def _preference_statements(
        self,
        i: int,
        options: list[ListedOption],
        excluded: tuple[ExcludedSetting, ...],
    ) -> tuple[PreferenceStatement, ...]:
        child = self.children[i]
        met_rank = self._in_plan[i][1]
        by_urn = self.setting_by_urn
        out = []
        for rank, urn in enumerate(child.preferences, start=1):
            name = by_urn[urn].name if urn in by_urn else urn
            if met_rank == rank:
                out.append(PreferenceStatement(rank, urn, name, True, "named", "named in the plan"))
                continue
            if met_rank is not None and rank > met_rank:
                ground, evidence = "not needed", f"a higher preference ({met_rank}) is named"
            else:
                ground, evidence = _ground(urn, options, excluded, by_urn, met_rank is None)
            out.append(PreferenceStatement(rank, urn, name, False, ground, evidence))
        return tuple(out)


class _SettingColumns:
    """What listed rows say about their settings, as arrays to pick rows' values from."""

    def __init__(self, children: Sequence[Child], settings: Sequence[Setting]) -> None:
        self.children, self.settings = children, settings
        self.urn = objects([s.urn for s in settings])
        self.name = objects([s.name for s in settings])
        self.type_text = objects([s.setting_type.value for s in settings])
        self._pools = max((len(s.provisions) for s in settings), default=0) + 1
        # Children sharing needs share an id, so "needs matched" is worked out per pair of
        # needs and pool, not per row.
        ids: dict[tuple[PrimaryNeed, ...], int] = {}
        self.needs_id = np.array([ids.setdefault(_needs(c), len(ids)) for c in children], np.int64)
        self.needs = list(ids)

    def provision_text(
        self, setting: npt.NDArray[np.int32], provision: npt.NDArray[np.int16]
    ) -> list[str | None]:
        def text(pool: int) -> str | None:
            j, p = divmod(pool, self._pools)
            return self.settings[j].provisions[p - 1].kind.value if p else None

        return made_once(text, setting.astype(np.int64) * self._pools + provision + 1)

    def needs_matched(
        self, child: IntArray, setting: npt.NDArray[np.int32], provision: npt.NDArray[np.int16]
    ) -> list[tuple[str, ...]]:
        """Each row's child's needs (primary, then secondary sorted) its pool is designated for."""
        n_pools = len(self.settings) * self._pools

        def matched(key: int) -> tuple[str, ...]:
            needs, pool = divmod(key, n_pools)
            j, p = divmod(pool, self._pools)
            s = self.settings[j]
            designated = s.provisions[p - 1].designated_needs if p else s.designated_needs
            return tuple(n.value for n in self.needs[needs] if n in designated)

        pool = setting.astype(np.int64) * self._pools + provision + 1
        return made_once(matched, self.needs_id[child] * n_pools + pool)


def _needs(child: Child) -> tuple[PrimaryNeed, ...]:
    return (child.primary_need, *sorted(child.secondary_needs))


class _Exclusions:
    """Every wanted child's excluded settings, nearest first.

    A child shows the nearest ``limit`` (all if None) and every preference; the rest are
    counted by reason, so a whole LA's lists stay readable and fit a spreadsheet.
    """

    def __init__(self, model: TailoredListModel, wanted: IntArray, limit: int | None) -> None:
        arcs = model.network.arcs
        rows, slot = model._excluded.of(wanted)
        index = model.setting_index
        named = [[index.get(u, -1) for u in model.children[i].preferences] for i in wanted.tolist()]
        pick = model._excluded.pick
        setting = pick(arcs.excluded_setting, rows)
        rank = preference_ranks(named, slot, setting)
        shown = shown_exclusions(pick(arcs.excluded_minutes, rows), setting, slot, rank, limit)
        self.shown = self._shown(model, len(wanted), rows[shown], slot[shown], rank[shown])
        self.hidden = hidden_reasons(pick(arcs.excluded_reasons, rows), slot, shown, len(wanted))

    @staticmethod
    def _shown(
        model: TailoredListModel,
        n_slots: int,
        rows: IntArray,
        slot: IntArray,
        rank: npt.NDArray[np.int16],
    ) -> list[tuple[ExcludedSetting, ...]]:
        arcs, cols = model.network.arcs, model._columns
        setting = arcs.excluded_setting[rows]
        minutes = objects(arcs.excluded_minutes[rows].astype(np.float64).tolist())
        minutes[np.isnan(arcs.excluded_minutes[rows])] = None  # no route
        flat = list(
            map(
                made_as(ExcludedSetting),
                zip(
                    cols.urn[setting].tolist(),
                    cols.name[setting].tolist(),
                    cols.type_text[setting].tolist(),
                    minutes.tolist(),
                    or_none(rank),
                    made_once(describe, arcs.excluded_reasons[rows]),
                    strict=True,
                ),
            )
        )
        return split(flat, np.bincount(slot, minlength=n_slots))


def _ground(
    urn: str,
    options: list[ListedOption],
    excluded: tuple[ExcludedSetting, ...],
    by_urn: dict[str, Setting],
    none_met: bool,
) -> tuple[str, str]:
    """The s.39 ground and its evidence, in words a panel can read aloud.

    ``none_met``: the plan meets none of this child's preferences, so naming this one would
    count for this family too: the families who would lose theirs are one more than the net
    change. A swap of one family for another (net zero) is decided by the later levels.
    """
    if urn not in by_urn:
        return "not a known setting", f"URN {urn} is not in the settings file"
    mine = [o for o in options if o.urn == urn]
    if mine:
        best = mine[0]  # rows come best first
        m = best.marginal
        if m is None:
            return (
                "incompatible with the efficient education of others",
                "no capacity: every place there is committed this round",
            )
        if m.children_unplaced > 0:
            return (
                "incompatible with the efficient education of others",
                f"no capacity: naming it would leave {m.children_unplaced} other child(ren) "
                "without a place",
            )
        if m.preferences_unmet > 0:  # fewer families in all would have one of theirs
            others = m.preferences_unmet + (1 if none_met else 0)
            return (
                "incompatible with the efficient education of others",
                f"no capacity: naming it would leave {_families(others)} with none of their "
                "parents' preferences met, and the plan meets as many families' preferences "
                "as it can",
            )
        if m.preference_ranks > 0:
            return (
                "incompatible with the efficient education of others",
                "no capacity: its places go to children for whom it is a higher preference; "
                f"naming it would move other children {m.preference_ranks} preference rank(s) "
                "down in total",
            )
        return (
            "incompatible with the efficient use of resources",
            f"naming it would cost the LA-wide plan {m.describe()}",
        )
    why = [e for e in excluded if e.urn == urn]
    if why:
        reasons = why[0].reasons
        suitability = [r for r in reasons if r not in describe(_TRAVEL_ONLY)]
        if suitability:
            return "unsuitable for the child's age, ability, aptitude or SEN", "; ".join(
                suitability
            )
        return "incompatible with the efficient use of resources", "; ".join(reasons)
    return "incompatible with the efficient use of resources", describe(Exclusion.NO_ROUTE)[0]


def _families(n: int) -> str:
    return "1 other family" if n == 1 else f"{n} other families"
