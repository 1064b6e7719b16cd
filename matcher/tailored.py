"""Tailored lists: each child's suitable settings, priced against the whole LA's optimal plan.

The SEND and AP Improvement Plan asks LAs to give families a tailored list from which to express
an informed preference. Here the list is the child's eligible options (every kind of place the
EHCP allows), each with its journey, places left, annual cost, and its marginal system cost:
what naming it would do to the LA-wide optimum (children left unplaced, other children's
preferences, minutes, pounds). Every excluded setting within reach keeps its reasons, and every
parental preference the plan does not meet gets its section 39 ground in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.eligibility import EXCLUSION_TEXT, KIND_ORDER, EligibleArcs, Exclusion, describe
from matcher.models import Child, PlacementKind, Setting
from matcher.placement import (
    PlacementConfig,
    PlacementResult,
    ProgressCallback,
    explain_solution,
    group_by,
    level_costs,
    solve_flow,
)
from matcher.system_prices import MarginalCost, SystemPrices
from matcher.travel import TravelTimeMatrix

_TRAVEL_ONLY = Exclusion.OVER_TRAVEL_LIMIT | Exclusion.NO_ROUTE


@dataclass(frozen=True)
class TailoredListConfig:
    """How long a list is and what it must contain; the defaults are documented in README."""

    max_options: int = 8  # besides the proposed placement and every parental preference
    max_minutes: float | None = None  # None: the eligibility journey limits alone
    one_of_each_kind: bool = True  # the best mainstream, resourced, special... option each
    max_excluded: int | None = 10  # nearest exclusions shown (None: all); the rest counted
    workers: int = 1  # processes pricing options (a whole LA's lists: use the cores)

    def __post_init__(self) -> None:
        if self.max_options < 1:
            raise ValueError("max_options must be at least 1")
        if self.max_excluded is not None and self.max_excluded < 0:
            raise ValueError("max_excluded must not be negative")


@dataclass(frozen=True)
class ListedOption:
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
        if self.marginal is None:
            return "no place can be made there this round: all its places are committed"
        return self.marginal.describe()


@dataclass(frozen=True)
class ExcludedSetting:
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
        self.plan: PlacementResult = explain_solution(
            children, settings, network, solution.flows, travel.model, self.config
        )
        self.index = {c.child_id: i for i, c in enumerate(children)}
        self.setting_index = {s.urn: j for j, s in enumerate(settings)}
        self.setting_by_urn = {s.urn: s for s in settings}
        self._type_text = [s.setting_type.value for s in settings]
        arcs = network.arcs
        self._options = group_by(arcs.child, len(children))
        self._excluded = group_by(arcs.excluded_child, len(children))
        self._places_left = self._option_places_left()

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
        config = config or TailoredListConfig()
        wanted = list(range(len(self.children))) if children is None else list(children)
        if progress:
            progress(f"pricing {len(wanted):,} children's options against the LA-wide plan")
        options = np.concatenate([self._options[i] for i in wanted] or [np.empty(0, np.int64)])
        delta, feasible = self.prices.marginal_deltas(options, workers=config.workers)
        if progress:
            progress("writing the lists")
        arcs = self.network.arcs
        # Within each child: feasible first, then by the levels of the objective, then minutes.
        order = np.lexsort((arcs.minutes[options], *delta[::-1], ~feasible, arcs.child[options]))
        counts = np.array([len(self._options[i]) for i in wanted], np.int64)
        child_sorted = arcs.child[options[order]]
        bounds = np.searchsorted(child_sorted, np.asarray(sorted(wanted), np.int64))
        start_of = dict(zip(sorted(wanted), bounds.tolist(), strict=True))
        exclusions = _Exclusions(self, config.max_excluded)
        out = []
        for i, n_options in zip(wanted, counts.tolist(), strict=True):
            mine = order[start_of[i] : start_of[i] + n_options]
            out.append(
                self._list(i, options[mine], delta[:, mine], feasible[mine], config, exclusions)
            )
        return out

    def _list(
        self,
        i: int,
        options: npt.NDArray[np.int64],
        delta: npt.NDArray[np.int64],
        feasible: npt.NDArray[np.bool_],
        config: TailoredListConfig,
        exclusions: _Exclusions,
    ) -> TailoredList:
        """``options`` come ranked; only the chosen few become rows."""
        chosen = _choose(self.network.arcs, options, int(self.prices.current[i]), config)
        rows = tuple(
            self._listed(
                i,
                int(options[k]),
                self.prices.as_marginal(delta[:, k].tolist()) if feasible[k] else None,
                why,
            )
            for k, why in chosen
        )
        excluded, hidden, hidden_reasons = exclusions.for_child(i)
        return TailoredList(
            child_id=self.children[i].child_id,
            proposed_urn=self.plan.placements[i].setting_urn,
            options=rows,
            excluded=excluded,
            preferences=self._preference_statements(i, list(rows), excluded),
            excluded_not_shown=hidden,
            excluded_not_shown_reasons=hidden_reasons,
        )

    def _listed(
        self, i: int, a: int, marginal: MarginalCost | None, why_listed: str
    ) -> ListedOption:
        arcs, child = self.network.arcs, self.children[i]
        s = self.settings[int(arcs.setting[a])]
        p = int(arcs.provision[a])
        designated = s.provisions[p].designated_needs if p >= 0 else s.designated_needs
        needs = [child.primary_need, *sorted(child.secondary_needs)]
        rank = int(arcs.preference_rank[a])
        return ListedOption(
            urn=s.urn,
            name=s.name,
            setting_type=self._type_text[int(arcs.setting[a])],
            placement_kind=KIND_ORDER[int(arcs.kind[a])],
            provision=s.provisions[p].kind.value if p >= 0 else None,
            needs_matched=tuple(n.value for n in needs if n in designated),
            minutes=float(arcs.minutes[a]),
            places_left=int(self._places_left[a]),
            placement_cost=int(self.network.placement_cost[a]),
            transport_cost=int(self.network.transport_cost[a]),
            preference_rank=rank or None,
            proposed=int(self.prices.current[i]) == a,
            marginal=marginal,
            why_listed=why_listed,
        )

    def _preference_statements(
        self,
        i: int,
        options: list[ListedOption],
        excluded: tuple[ExcludedSetting, ...],
    ) -> tuple[PreferenceStatement, ...]:
        child = self.children[i]
        met_rank = self.plan.placements[i].preference_rank
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


class _Exclusions:
    """Every child's excluded settings, nearest first.

    A child shows the nearest ``limit`` (all if None) and every preference; the rest are
    counted by reason, so a whole LA's lists stay readable and fit a spreadsheet.
    """

    def __init__(self, model: TailoredListModel, limit: int | None) -> None:
        self.model, self.limit = model, limit

    def for_child(
        self, i: int
    ) -> tuple[tuple[ExcludedSetting, ...], int, tuple[tuple[str, int], ...]]:
        model, arcs = self.model, self.model.network.arcs
        rows = model._excluded[i]
        far = np.nan_to_num(arcs.excluded_minutes[rows], nan=np.inf)
        rows = rows[np.lexsort((arcs.excluded_setting[rows], far))]
        ranks = {urn: r for r, urn in enumerate(model.children[i].preferences, start=1)}
        shown_mask = np.ones(len(rows), bool)
        if self.limit is not None:
            shown_mask = np.arange(len(rows)) < self.limit
            wanted = [model.setting_index[u] for u in ranks if u in model.setting_index]
            if wanted:
                shown_mask |= np.isin(arcs.excluded_setting[rows], wanted)
        shown = []
        for e in rows[shown_mask].tolist():
            j = int(arcs.excluded_setting[e])
            s = model.settings[j]
            m = float(arcs.excluded_minutes[e])
            shown.append(
                ExcludedSetting(
                    urn=s.urn,
                    name=s.name,
                    setting_type=model._type_text[j],
                    minutes=None if m != m else m,  # NaN: no route
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
        reasons = tuple(
            (text, int(n)) for text, n in zip(_BIT_TEXT, counts.tolist(), strict=True) if n
        )
        return tuple(shown), len(hidden), reasons


_BITS = np.array([int(flag) for flag in EXCLUSION_TEXT], np.int32)
_BIT_TEXT = tuple(EXCLUSION_TEXT.values())


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


def _choose(
    arcs: EligibleArcs, ranked: npt.NDArray[np.int64], proposed: int, config: TailoredListConfig
) -> list[tuple[int, str]]:
    """Positions in ``ranked`` (best first) to list, with why: proposed and preferred first;
    then the best of each kind of place; then the cheapest to the LA-wide plan."""
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
