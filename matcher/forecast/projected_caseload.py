"""A projected year as a caseload the placement engine can place: 2029's demand, not today's.

Capacity planners choose sites and compare scenarios for the children who will need places
when a school opens, years from now. :func:`projected_caseload` turns one projected January
into children: as many in each primary need x kind of place x NC year as the projection
says, living where children with that need live now. ``scenario compare`` and ``sites
choose`` then run on it with the same solver as on today's caseload.

The rules, in plain words (the README repeats them):

- **How many**: one simulated future's counts (``simulation``), or, by default, the mean of
  all of them rounded to whole children so that the total is the rounded mean total (the
  states with the largest fractions get the odd child; ties go to the state listed first).
- **Who**: ids ``F<year>-000001`` upwards, pseudonymous and never a real child's; primary
  need and NC year from the state; the kinds of place the child may take from the kind it is
  projected in (:data:`SUITABLE_KINDS`): special and independent are both specialist school
  places, so a child projected into either may take either (the solver prefers the nearer and
  cheaper, and a new special school can take children who would otherwise go independent);
  resourced provision, mainstream and AP only their own kind; post-16 a school sixth form or
  college (mainstream) or a specialist post-16 institution (independent). Children projected
  in other arrangements (education otherwise than at school, home education, awaiting a
  place) take no place and are left out.
- **Where**: each child borrows the home of a current child with the same primary need (any
  child where none has it), walked in a seeded random order so that homes are spread over the
  current children before any is used twice, moved up to ``jitter_km`` (0.5 km) in a random
  direction. It keeps that child's home LA and sex, and, when the need is the same, its
  physical requirements (wheelchair access, residential, nursing). Projected children have no
  parental preferences, current setting, sibling group or top-up band: nobody has said yet.
- The same projection, year, simulation and seed give the same caseload.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from matcher.forecast.inputs import OTHER, POST16
from matcher.forecast.sufficiency import state_kinds_and_needs
from matcher.forecast.types import Projection
from matcher.models import MAX_NC_YEAR, MIN_NC_YEAR, Child, PlacementKind
from matcher.needs import PrimaryNeed
from matcher.planning import DEFAULT_JITTER_KM, _jitter

#: The first letter of a projected child's id: ``F2029-000001`` (F for forecast).
PROJECTED_ID_PREFIX = "F"

_MAINSTREAM, _RP, _SPECIAL, _INDEPENDENT, _AP = (
    PlacementKind.MAINSTREAM,
    PlacementKind.RESOURCED_PROVISION,
    PlacementKind.SPECIAL,
    PlacementKind.INDEPENDENT,
    PlacementKind.ALTERNATIVE_PROVISION,
)
#: The kinds of place a child projected in each kind may take (see the module's rules).
SUITABLE_KINDS: dict[str, frozenset[PlacementKind]] = {
    _MAINSTREAM.value: frozenset({_MAINSTREAM}),
    _RP.value: frozenset({_RP}),
    _SPECIAL.value: frozenset({_SPECIAL, _INDEPENDENT}),
    _INDEPENDENT.value: frozenset({_INDEPENDENT, _SPECIAL}),
    _AP.value: frozenset({_AP}),
    POST16: frozenset({_MAINSTREAM, _INDEPENDENT}),
}
#: Kinds of place whose children take no place, so are not in a projected caseload.
TAKES_NO_PLACE = frozenset({OTHER})


def projected_caseload(
    projection: Projection,
    year: int,
    current_children: Sequence[Child],
    *,
    simulation: int | None = None,
    seed: int = 0,
    kinds: Mapping[str, str] | None = None,
    needs: Mapping[str, str] | None = None,
    jitter_km: float = DEFAULT_JITTER_KM,
) -> list[Child]:
    """The children of one projected January, ready for :func:`matcher.placement.place`.

    Parameters
    ----------
    projection
        Simulated futures whose settings are kinds of place (see ``kinds``).
    year
        A calendar year of the projection (its January count).
    current_children
        Today's caseload: where children live, by primary need.
    simulation
        Which simulated future (0 to simulations - 1); ``None`` for the rounded mean.
    seed
        Seeds the order homes are borrowed in and the jitter.
    kinds, needs
        As :func:`matcher.forecast.sufficiency.sufficiency`: labels that are not kinds of
        place or SEN2 codes, mapped to them.
    jitter_km
        The furthest a projected home is moved from the home it borrows, in km.

    Raises
    ------
    ValueError
        A year the projection does not have, a simulation out of range, no current children,
        a state's NC year outside -2 to 20, a setting or need that is not a kind of place or
        SEN2 code.
    """
    if not current_children:
        msg = (
            "the current caseload is empty: projected children borrow the homes of current "
            "children, so give today's caseload file"
        )
        raise ValueError(msg)
    counts = projected_counts(projection, year, simulation=simulation)
    state_kinds, state_needs = state_kinds_and_needs(projection, kinds=kinds, needs=needs)
    _check_nc_years(projection, counts, year)
    homes = _Homes(current_children, np.random.default_rng(seed), jitter_km)
    caseload: list[Child] = []
    for k, state in enumerate(projection.states):
        if state_kinds[k] in TAKES_NO_PLACE or not counts[k]:
            continue
        for _ in range(int(counts[k])):
            caseload.append(
                homes.child(
                    f"{PROJECTED_ID_PREFIX}{year}-{len(caseload) + 1:06d}",
                    state_needs[k],
                    state.academic_year,
                    SUITABLE_KINDS[state_kinds[k]],
                )
            )
    return caseload


def projected_counts(
    projection: Projection, year: int, *, simulation: int | None = None
) -> npt.NDArray[np.int64]:
    """Children in each of the projection's states in January of ``year``: one simulation's,
    or the mean over simulations rounded to whole children keeping the rounded total."""
    if year not in projection.years:
        msg = (
            f"{year} is not a year of this forecast: it runs from {projection.years[0]} to "
            f"{projection.years[-1]}"
            if projection.years
            else f"{year} is not a year of this forecast: it has no years"
        )
        raise ValueError(msg)
    at_year = projection.counts[:, projection.years.index(year), :].astype(np.int64)
    n_simulations = at_year.shape[0]
    if simulation is not None:
        if not 0 <= simulation < n_simulations:
            msg = (
                f"simulation {simulation} does not exist: this forecast has {n_simulations} "
                f"simulations, numbered 0 to {n_simulations - 1}"
            )
            raise ValueError(msg)
        return np.asarray(at_year[simulation])
    return _rounded_mean(at_year)


def _rounded_mean(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Largest-remainder rounding of the mean per state, so that the states add up to the
    rounded mean total: rounding each state alone could add or lose dozens of children."""
    n_simulations = counts.shape[0]
    sums = counts.sum(axis=0)  # exact integers: the mean is sums / n_simulations
    whole = sums // n_simulations
    target = math.floor(int(sums.sum()) / n_simulations + 0.5)
    remainders = sums - whole * n_simulations
    order = np.argsort(-remainders, kind="stable")
    extra = target - int(whole.sum())
    whole[order[:extra]] += 1
    return np.asarray(whole)


def _check_nc_years(projection: Projection, counts: npt.NDArray[np.int64], year: int) -> None:
    outside = sorted(
        {
            state.academic_year
            for state, count in zip(projection.states, counts, strict=True)
            if count and not MIN_NC_YEAR <= state.academic_year <= MAX_NC_YEAR
        }
    )
    if outside:
        msg = (
            f"the forecast has children in NC years {', '.join(map(str, outside))} in {year}; "
            f"a caseload holds NC years {MIN_NC_YEAR} to {MAX_NC_YEAR} only"
        )
        raise ValueError(msg)


class _Homes:
    """Lends projected children the homes of current children with the same need."""

    def __init__(self, children: Sequence[Child], rng: np.random.Generator, jitter_km: float):
        self._rng = rng
        self._jitter_km = jitter_km
        self._everyone = list(children)
        self._by_need: dict[PrimaryNeed, list[Child]] = {}
        for child in children:
            self._by_need.setdefault(child.primary_need, []).append(child)
        self._order: dict[PrimaryNeed | None, tuple[npt.NDArray[np.int64], int]] = {}

    def child(
        self, child_id: str, need: PrimaryNeed, nc_year: int, kinds: frozenset[PlacementKind]
    ) -> Child:
        same_need = need in self._by_need
        source = self._next(need if same_need else None)
        return Child(
            child_id=child_id,
            nc_year=nc_year,
            sex=source.sex,
            home=_jitter(source.home, self._jitter_km, self._rng),
            home_la_code=source.home_la_code,
            primary_need=need,
            requirements=source.requirements if same_need else frozenset(),
            suitable_kinds=kinds,
        )

    def _next(self, need: PrimaryNeed | None) -> Child:
        """The next child of a seeded shuffle of the need's children (of all, for None)."""
        pool = self._everyone if need is None else self._by_need[need]
        if need not in self._order:
            self._order[need] = (self._rng.permutation(len(pool)), 0)
        order, used = self._order[need]
        self._order[need] = (order, used + 1)
        return pool[int(order[used % len(pool)])]
