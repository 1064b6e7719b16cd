"""A child's stored result in the words a panel reads: who the child is, the proposed place,
each option's effect on the rest of the LA, and why a child could not be placed.

Pure functions of the stored JSON (``run_results.result``: a placement record, its tailored
list and ``child``, :mod:`api.child_details`), so they are tested without a run.

The tailored list prices each option against the LA-wide optimal plan (``MarginalCost``:
children unplaced, children with no preference met, preference ranks, journey minutes,
pounds), each a net change across all children, this child included. The page speaks of the
*other* children, so this child's own part is taken out: the plan's levels are known (a
child left unplaced counts 1; a child with preferences given none of them counts 1; a k-th
preference counts k - 1), so the child's own change between the proposed place and an option
follows from the two preference ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matcher.eligibility import EXCLUSION_TEXT, EligibilityConfig, Exclusion
from matcher.models import PlacementKind, SettingType
from matcher.needs import NEED_DESCRIPTIONS, PrimaryNeed

#: places_left at or above this means the setting has no limit on places.
PLACES_UNLIMITED = 10**12
KIND_WORDS = {
    PlacementKind.MAINSTREAM.value: "Mainstream school",
    PlacementKind.RESOURCED_PROVISION.value: "Resourced provision in a mainstream school",
    PlacementKind.SPECIAL.value: "Special school",
    PlacementKind.INDEPENDENT.value: "Independent or non-maintained special school",
    PlacementKind.ALTERNATIVE_PROVISION.value: "Alternative provision",
}
PROVISION_WORDS = {
    "resourced_provision": "Resourced provision in a mainstream school",
    "sen_unit": "SEN unit in a mainstream school",
}
SETTING_TYPE_WORDS = {
    SettingType.FURTHER_EDUCATION.value: "Further education college",
    SettingType.SPECIALIST_POST16.value: "Specialist post-16 institution",
    SettingType.NON_MAINTAINED_SPECIAL.value: "Non-maintained special school",
    SettingType.INDEPENDENT_SPECIAL.value: "Independent special school",
}
REQUIREMENT_WORDS = {
    "wheelchair_access": "wheelchair access",
    "residential": "a residential place",
    "nursing": "nursing care",
}
OVER_LIMIT = EXCLUSION_TEXT[Exclusion.OVER_TRAVEL_LIMIT]
NO_ROUTE = EXCLUSION_TEXT[Exclusion.NO_ROUTE]
#: Settings just over the journey limit shown for an unplaced child.
NEAREST_SHOWN = 3


def need_words(code: str) -> str:
    """ "Autistic spectrum disorder (ASD)": the SEN2 need in words with its code."""
    try:
        words = NEED_DESCRIPTIONS[PrimaryNeed(code)]
    except ValueError:
        return code
    return f"{words[:1].upper()}{words[1:]} ({code})"


def year_words(nc_year: int) -> str:
    names = {-2: "Nursery 1", -1: "Nursery 2", 0: "Reception"}
    return names.get(nc_year, f"Year {nc_year}")


def phase_words(nc_year: int) -> str:
    if nc_year < 0:
        return "Early years"
    if nc_year <= 6:
        return "Primary"
    if nc_year <= 11:
        return "Secondary"
    return "Post-16"


def kind_words(option: Mapping[str, Any]) -> str:
    """The kind of place an option offers, as a parent would say it."""
    by_type = SETTING_TYPE_WORDS.get(str(option.get("setting_type") or ""))
    if by_type:
        return by_type
    provision = PROVISION_WORDS.get(str(option.get("provision") or ""))
    return provision or KIND_WORDS.get(str(option.get("placement_kind") or ""), "Other")


def minutes_words(minutes: float | None) -> str:
    if minutes is None:
        return "no journey time"
    whole = max(1, round(minutes))
    return f"{whole} minute{'s' if whole != 1 else ''}"


def money_words(pounds: int | float) -> str:
    return f"£{pounds:,.0f}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def children_words(n: int, what: str = "other child") -> str:
    plural = what.replace("child", "children") if n != 1 else what
    return f"{n:,} {plural}"


# --------------------------------------------------------------------------------------------
# Effect on the rest of the LA


def _own_levels(rank: int | None, placed: bool, has_preferences: bool) -> tuple[int, int, int]:
    """This child's own (unplaced, no preference met, preference ranks) in the plan's levels."""
    if not placed:
        return 1, int(has_preferences), 0
    met = rank is not None and rank > 0
    return 0, int(has_preferences and not met), max((rank or 0) - 1, 0)


def effect_words(
    option: Mapping[str, Any], proposed_rank: int | None, placed: bool, has_preferences: bool
) -> str:
    """What naming ``option`` does to everyone else and to the LA's costs, in plain English."""
    if option.get("proposed"):
        return "This is the proposed place: no change"
    marginal = option.get("marginal")
    if marginal is None:
        return "No place can be made there this round: all its places are taken"
    now = _own_levels(proposed_rank, placed, has_preferences)
    then = _own_levels(option.get("preference_rank"), True, has_preferences)
    others = [
        int(marginal["children_unplaced"]) - (then[0] - now[0]),
        int(marginal.get("preferences_unmet", 0)) - (then[1] - now[1]),
        int(marginal["preference_ranks"]) - (then[2] - now[2]),
    ]
    sentences = _others_sentences(*others) or ["No effect on other children"]
    pounds = int(marginal["pounds"])
    if pounds > 0:
        sentences.append(f"Costs the LA {money_words(pounds)} more a year in all")
    elif pounds < 0:
        sentences.append(f"Saves the LA {money_words(-pounds)} a year in all")
    return ". ".join(sentences)


def _others_sentences(unplaced: int, unmet: int, ranks: int) -> list[str]:
    sentences = []
    if unplaced > 0:
        sentences.append(f"Naming this leaves {children_words(unplaced)} without a place")
    elif unplaced < 0:
        sentences.append(f"Naming this lets {children_words(-unplaced)} have a place")
    if unmet > 0:
        sentences.append(
            f"Naming this leaves {children_words(unmet)} with none of their parents' preferences"
        )
    elif unmet < 0:
        sentences.append(f"Naming this gives {children_words(-unmet)} one of their preferences")
    if ranks > 0:
        sentences.append(
            "Naming this moves 1 other child to a later preference"
            if ranks == 1
            else f"Naming this moves other children {ranks:,} preferences later in all"
        )
    elif ranks < 0:
        sentences.append(
            "Naming this moves 1 other child to an earlier preference"
            if ranks == -1
            else f"Naming this moves other children {-ranks:,} preferences earlier in all"
        )
    return sentences


# --------------------------------------------------------------------------------------------
# The options, the parents' preferences first


@dataclass
class OptionRow:
    """One row of the child's list as the page shows it."""

    number: int
    key: str  # the URN, with the kind of provision when a setting offers more than one
    urn: str
    name: str
    kind: str
    minutes: float
    total_cost: int
    placement_cost: int
    transport_cost: int
    preference_rank: int | None
    proposed: bool
    effect: str
    places_left: str
    needs_matched: list[str]
    why_listed: str
    location: Mapping[str, float] | None

    @property
    def preference_words(self) -> str:
        rank = self.preference_rank
        return f"Parents' {ordinal(rank)} preference" if rank else "Not a parents' preference"


def option_rows(result: Mapping[str, Any]) -> list[OptionRow]:
    """The tailored list's options, parents' preferences first (by rank), then the rest in the
    list's own order (its cost to the LA-wide plan); numbered as the map numbers them."""
    listed = (result.get("tailored_list") or {}).get("options") or []
    preferences = (result.get("tailored_list") or {}).get("preferences") or []
    placed = result.get("setting_urn") is not None
    proposed_rank = result.get("preference_rank")
    first = sorted(
        (o for o in listed if o.get("preference_rank")), key=lambda o: o["preference_rank"]
    )
    ordered = first + [o for o in listed if not o.get("preference_rank")]
    rows = []
    for number, o in enumerate(ordered, start=1):
        left = int(o.get("places_left") or 0)
        rows.append(
            OptionRow(
                number=number,
                key=f"{o['urn']}:{o['provision']}" if o.get("provision") else str(o["urn"]),
                urn=str(o["urn"]),
                name=str(o["name"]),
                kind=kind_words(o),
                minutes=float(o["minutes"]),
                total_cost=int(o["placement_cost"]) + int(o["transport_cost"]),
                placement_cost=int(o["placement_cost"]),
                transport_cost=int(o["transport_cost"]),
                preference_rank=o.get("preference_rank"),
                proposed=bool(o.get("proposed")),
                effect=effect_words(o, proposed_rank, placed, bool(preferences)),
                places_left="No limit" if left >= PLACES_UNLIMITED else f"{max(left, 0):,}",
                needs_matched=[need_words(n) for n in o.get("needs_matched") or []],
                why_listed=str(o.get("why_listed") or ""),
                location=o.get("location"),
            )
        )
    return rows


def proposal_words(result: Mapping[str, Any], by_road: bool) -> str | None:
    """ "Proposed: Oakfield Special School, 23 minutes by road, £24,000 a year"; None if the
    child has no proposed place."""
    name = result.get("setting_name")
    if result.get("setting_urn") is None or not name:
        return None
    journey = minutes_words(result.get("travel_minutes"))
    journey += " by road" if by_road else " (estimated journey)"
    cost = int(result.get("placement_cost") or 0) + int(result.get("transport_cost") or 0)
    return f"Proposed: {name}, {journey}, {money_words(cost)} a year"


# --------------------------------------------------------------------------------------------
# Why a child has no place, and what the panel can do


@dataclass
class NearOption:
    name: str
    minutes: float


@dataclass
class UnplacedExplanation:
    """Which rule leaves the child without a place, the nearest way round it, and next steps."""

    cause: str  # "full", "journey" or "needs"
    headline: str
    details: list[str] = field(default_factory=list)
    nearest: list[NearOption] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def journey_limit(nc_year: int | None, run_options: Mapping[str, Any]) -> float:
    """The run's journey limit for the child's phase (the run's own, else the default)."""
    defaults = EligibilityConfig()
    if nc_year is not None and nc_year <= 6:
        value = run_options.get("primary_limit_minutes") or defaults.primary_limit_minutes
    else:
        value = run_options.get("secondary_limit_minutes") or defaults.secondary_limit_minutes
    return float(value)


def unplaced_explanation(
    result: Mapping[str, Any], nc_year: int | None, run_options: Mapping[str, Any]
) -> UnplacedExplanation:
    """Why no setting was proposed: every suitable setting is full, every one is over the
    journey limit, or none within reach can meet the child's needs."""
    tailored = result.get("tailored_list") or {}
    options = tailored.get("options") or []
    excluded: Sequence[Mapping[str, Any]] = tailored.get("excluded") or []
    limit = journey_limit(nc_year, run_options)
    if options:
        return UnplacedExplanation(
            "full",
            f"Every setting that suits this child is full this round: the {len(options)} "
            "settings on the list below have no place left that would not take one from "
            "another child.",
            next_steps=[
                "Ask a listed setting whether it can take the child above its number of places.",
                "Name a listed setting anyway if the panel judges this child's need the greater: "
                "the list shows what that does to other children.",
                "Tell the planner: the LA may need more places of this kind.",
            ],
        )
    only_journey = [e for e in excluded if list(e.get("reasons") or []) == [OVER_LIMIT]]
    if only_journey:
        nearest = sorted(only_journey, key=lambda e: float(e.get("minutes") or 0))
        return UnplacedExplanation(
            "journey",
            f"Every setting that could meet this child's needs is further than the "
            f"{round(limit)}-minute journey limit for their phase.",
            nearest=[
                NearOption(str(e["name"]), float(e.get("minutes") or 0))
                for e in nearest[:NEAREST_SHOWN]
            ],
            next_steps=[
                "The panel may name one of the settings just over the limit, with transport "
                "arranged: the limit is the LA's policy, not law.",
                "Start a new run with a longer journey limit to see the whole LA's plan change.",
                "Tell the planner: there is no suitable place within reach of this home.",
            ],
        )
    return UnplacedExplanation(
        "needs",
        "No setting within reach can meet this child's needs.",
        details=_reasons_counted(excluded, tailored.get("excluded_not_shown_reasons") or []),
        next_steps=[
            "Check the child's record (primary need, kinds of place the plan allows, "
            "requirements) is right.",
            "Look for an independent or non-maintained special school that can, and add it to "
            "the settings file.",
            "Tell the planner: the LA has no place for this need within reach.",
        ],
    )


def _reasons_counted(
    excluded: Sequence[Mapping[str, Any]], hidden: Sequence[Mapping[str, Any]]
) -> list[str]:
    counts: dict[str, int] = {}
    for e in excluded:
        for reason in e.get("reasons") or []:
            counts[reason] = counts.get(reason, 0) + 1
    for item in hidden:
        counts[str(item["reason"])] = counts.get(str(item["reason"]), 0) + int(item["count"])
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    return [
        f"{n:,} setting{'s' if n != 1 else ''}: {reason[:1].upper()}{reason[1:]}"
        for reason, n in ordered
    ]


# --------------------------------------------------------------------------------------------
# Who the child is


def about_rows(
    details: Mapping[str, Any] | None, preferences: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """The "about the child" summary list: (key, value) pairs, all plain text."""
    rows: list[tuple[str, str]] = []
    if details is not None:
        year = int(details["nc_year"])
        secondary = [need_words(n) for n in details.get("secondary_needs") or []]
        requirements = [REQUIREMENT_WORDS.get(r, r) for r in details.get("requirements") or []]
        kinds = details.get("suitable_kinds")
        kinds_text = ", ".join(
            KIND_WORDS.get(k, k).lower() for k in (kinds or details.get("default_kinds") or [])
        )
        if kinds is None:
            kinds_text += " (the usual kinds for the primary need)"
        current = details.get("current_setting")
        rows += [
            ("Primary need", need_words(str(details["primary_need"]))),
            ("Secondary needs", "; ".join(secondary) or "None recorded"),
            ("National Curriculum year", year_words(year)),
            ("Phase", phase_words(year)),
            ("EHC plan", "Yes" if details.get("has_ehcp") else "No (SEN support)"),
            (
                "Physical or care needs",
                "; ".join(requirements).capitalize() or "None recorded",
            ),
            ("Kinds of place that suit", kinds_text[:1].upper() + kinds_text[1:]),
            (
                "Current setting",
                "None recorded"
                if current is None
                else str(details.get("current_setting_name") or "A setting not in this caseload"),
            ),
        ]
    prefs = [
        f"{ordinal(int(p['rank']))}: {p['name']}"
        for p in sorted(preferences, key=lambda p: int(p["rank"]))
    ]
    rows.append(("Parents' preferences", "; ".join(prefs) or "None given"))
    return rows


def preference_lines(preferences: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(rank, setting, outcome) for each parents' preference, with the Children and Families
    Act 2014 section 39 ground when the plan does not name it."""
    lines = []
    for p in sorted(preferences, key=lambda p: int(p["rank"])):
        ground = str(p.get("ground") or "")
        if p.get("met"):
            outcome = "Proposed"
        elif ground == "not needed":
            outcome = "Not needed: an earlier preference is proposed"
        else:
            outcome = f"Not proposed: {ground}" if ground else "Not proposed"
        lines.append((ordinal(int(p["rank"])), str(p["name"]), outcome))
    return lines
