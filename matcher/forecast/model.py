"""The forecast model: a Markov chain over need x setting x NC year, fitted and simulated.

How a child moves from one January to the next (witan.send's model, made sparser-proof):

1. **Leaves** the EHCP population with probability ``leave[need, setting, ncy]``.
2. **Changes setting** (kind of place) with probability ``move[need, setting, ncy]``; a mover's
   new setting is drawn from ``destination[need, setting, ncy, :]``.
3. **Changes primary need** with probability ``need_change[need, new setting, ncy]``; the new
   need is drawn from ``need_destination[need, :]`` (needs the new setting takes).
4. **Ages**: NC year ``a`` becomes ``a + d`` with the pooled probability of step ``d`` at ``a``
   seen in the history (held back ``d = 0``, skipped ``d = 2``); steps never seen have
   probability 0, so a history where everyone moves up one year projects exactly that. A
   child past NC year 20 (or the last NC year seen) leaves: the plan ends at 25.
5. **Joiners** arrive in each NC year ``a`` at ``join[a]`` per head of that January's general
   population in ``a`` (the population table's row for the projected calendar year; a missing
   year is an error), split over need x setting by ``join_split[a, :]``.

Every rate is estimated from the transitions (one row per child per year) and shrunk towards a
pooled rate, so that a state seen a few times does not get a rate of exactly 0 or 1 and a state
never seen borrows the rate of its neighbours instead of projecting zero. Each level of this
chain is the weighted count plus ``prior_strength`` children's worth of its parent's rate:

* leave, move, need change: all children -> phase of education (early years < NCY 0, primary
  0-6, secondary 7-11, 16-18 12-13, 19-25 14+) -> NC year -> setting x NC year -> the state;
  the state's rate has a Beta posterior (events + prior_strength * pooled rate, others +
  prior_strength * (1 - pooled rate)).
* a mover's destination setting: all movers -> phase -> NC year -> setting x NC year (the
  setting itself removed) -> the state, a Dirichlet posterior.
* joiners per head: all NC years -> phase -> NC year (Beta); joiners' need x setting split: all
  joiners -> phase -> NC year (Dirichlet).

The top of each chain is the plain pooled frequency with no pseudo-count: if no child in the
history ever left (or moved, or joined), the model projects none.

With ``valid_states`` (witan.send's file) a child is never sent where its setting's NC-year
range, needs or allowed moves forbid: such destinations get probability 0; a child whose
setting does not take its next NC year must move (or, with nowhere to go, leaves).

**Start.** Every simulation starts from the observed counts of the base January. witan.send's
files record each January twice, as the arrivals of the year before's transitions and as the
departures of that year's own; in an LA's linked snapshots they are the same children, but in
witan.send's anonymised demo data they differ by 5-8% across settings. The start is the
departures when the history has them (a back-test, where they are still only that January's
census), else the arrivals (a forecast from the last January).

**Uncertainty.** Each simulated future draws its own rates from their posteriors (parameter
uncertainty, as witan.send does) and then draws each year's leavers, movers and joiners
(binomial and multinomial process noise). The simulations are independent, so the 95% bounds
(2.5th and 97.5th percentiles) move by well under 1% of the total between seeds at 1,000
simulations (``ForecastConfig.n_simulations``, default 1000; witan.send's demo used 10; the
benchmark measures it).

**Recent years count more.** Each transition year is weighted ``recency_decay ** age`` (age 0
for the last year before the base year). witan.send weighs every year alike, and its own
back-test on its demo data under-forecasts (2017 from 2013-2016: mean 1,972.5 against a truth
of 2,153). On that data the leavers fell year by year (152, 155, 122, 108 a year for 1,715 to
2,018 children) while joiners did not trend (218, 280, 253, 243), so the latest years are the
better guide and a joiner-rate trend would have nothing to extrapolate. The defaults come from
the back-test on that data (``benchmarks/forecast.py``, 1,000 simulations; total error and
weighted absolute error across settings for 2016 from 2015, 2017 from 2016, 2017 from 2015):

=============  ==============  ===================  ======================
recency_decay  prior_strength  total error %        settings split error %
=============  ==============  ===================  ======================
1 (witan's)    2               -1.3, -1.5, -3.5     8.3, 7.6, 11.1
1              8               -1.6, -1.6, -3.7     7.8, 7.3, 10.3
0.5            8               -0.9, -0.8, -2.6     8.3, 6.6, 10.3
**0.25**       0               -0.0, -0.6, -1.6     9.5, 7.7, 12.6
**0.25**       2               -0.3, -0.4, -1.7     8.9, 7.4, 11.5
**0.25**       **8**           -0.5, -0.4, -1.9     8.8, 6.9, 10.6
**0.25**       32              -0.5, -0.3, -1.9     8.9, 7.1, 10.3
0.1            8               -0.0, -0.2, -1.2     9.5, 7.2, 11.4
=============  ==============  ===================  ======================

0.25 is the mildest decay that brings all three totals within 2%; stronger decay trades the
split for little; at that decay the priors help the split (0 is worst) and 8 is as good as any.
No setting of these knobs brings the split within the issue's 5% (one year) and 7% (two years)
on this data: the trivial forecast from the same start gets 9.4%, 6.9% and 14.6%.

Two ways to follow settings that grow fast were tried on the same back-test (300 simulations)
and left out, because they made the split worse or did not change it:

* a trend in each setting's share of the year's movers and joiners (the last fitted year's
  share over the year before's, with 5 children's pseudo-count, capped at 5 times, raised to
  ``λ``, tilting every destination and joiners' split): λ = 0.5 gives 10.1, 8.2, 12.3; λ = 1
  gives 11.2, 9.8, 15.0. Inflows into the small settings swing from year to year (G: 8, 15,
  1 movers in; N: 2, 20, 6), so last year's change is a poor guide to next year's;
* a prior strength of its own for movers' destinations (1 or 32) or for joiners' split
  (1 or 32): every figure within 0.5 points of the defaults'.

Most of the remaining error cannot be learnt from the years before: 2016 from 2015 (fitted on
2013-2014) misses settings S and N, which grew from 6 to 35 and from 20 to 40 children in the
held-out year itself, and setting B, whose joiners (198 then 164), movers out (55 then 102) and
leavers (82 then 53) swung in that year; 2017 from 2015 misses S's 79 children from 6.

**Planners' assumptions** (``project(..., assumptions=...)``, :mod:`matcher.forecast.knobs`:
population change, a need's joiners, a shift between settings, a new setting's places) change
the projected years only, inside the simulation: joiners' rates and split are scaled, movers
and joiners bound for a shifted setting are redirected by a binomial draw, and a new setting is
simulated as a setting of its own with its kind's drawn rates until the projection counts its
children in its kind. No extra random draws are made before an assumption's first year, so
those years are exactly the forecast without assumptions.

Knobs (``ForecastConfig.extra``), with defaults in :data:`DEFAULT_KNOBS`:

* ``recency_decay`` (0 < x <= 1): weight of a transition year relative to the year after it.
* ``prior_strength`` (>= 0, children): how much each level of the pooling chain counts; 0
  turns the priors off (a state with data uses its own frequencies; one without uses its
  parent's).
* ``parameter_uncertainty`` (0 or 1): 0 uses the posterior means in every simulation, leaving
  only the year-to-year chance (narrower intervals, for tests and comparisons).

Simulation is vectorised in numpy: all simulations of a chunk step together, a year at a time;
leavers and movers are binomial draws per occupied state, each mover's destination an inverse-
CDF draw, joiners a multinomial over need x setting per NC year.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from matcher.forecast.knobs import (
    AssumptionSet,
    Plan,
    SchoolPlan,
    ShiftPlan,
    resolve,
    with_population,
)
from matcher.forecast.types import (
    NONSEND,
    ForecastConfig,
    ForecastInputs,
    Projection,
    SettingRule,
    State,
)
from matcher.io import InputError, InputProblem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The last NC year of an EHCP (the school year in which a young person turns 25).
LAST_NC_YEAR = 20
#: Phases of education by NC year, as the pooling chain groups NC years (upper bounds).
PHASE_UPPER_BOUNDS = (-1, 6, 11, 13)
#: ``ForecastConfig.extra`` defaults; see the module docstring.
DEFAULT_KNOBS: dict[str, float] = {
    "recency_decay": 0.25,
    "prior_strength": 8.0,
    "parameter_uncertainty": 1.0,
}
#: Simulations drawn and stepped together: bounds memory at large LAs, keeps numpy busy.
#: Fixed, so that a seed gives the same futures on any machine.
_CHUNK = 125
#: Chunks run in threads (numpy's random draws and array work release the GIL).
_MAX_THREADS = 4


def project(
    inputs: ForecastInputs,
    years: Sequence[int],
    config: ForecastConfig | None = None,
    *,
    base_year: int | None = None,
    progress: Callable[[str], None] | None = None,
    assumptions: AssumptionSet | None = None,
) -> Projection:
    """Simulate the EHCP population from ``base_year``'s January to the last of ``years``.

    Fits on the transitions before ``base_year`` (default: the last observed January, so all
    of them) and starts every simulation from that January's observed counts. ``assumptions``
    (a planner's knobs, :mod:`matcher.forecast.knobs`) change the projected years only; the
    fit is the same with or without them.

    Raises
    ------
    matcher.forecast.knobs.AssumptionsError
        Assumptions naming a need, setting or year the forecast does not have.
    """
    config = config or ForecastConfig()
    knobs = _knobs(config)
    report = progress or (lambda _message: None)
    frame = inputs.transitions.frame
    base = _base_year(inputs, base_year)
    if not years or max(years) < base:
        msg = f"projected years must reach past the base year {base}"
        raise ValueError(msg)
    future = tuple(range(base + 1, max(years) + 1))
    space = _Space.build(frame, inputs.valid_states)
    plan = None
    if assumptions is not None and future:
        plan = resolve(assumptions, space.needs, space.settings, space.academic_years, future)
        inputs = with_population(inputs, assumptions, base, future)
    fitted_on = frame[frame["calendar_year"] < base]
    report(f"fitting transition rates on {len(fitted_on)} transitions before {base}")
    population = _population(inputs, future, space, "projected")
    posterior = _fit(fitted_on, inputs, space, base, knobs)
    start = _january_counts(frame, base, space, as_departures=True)
    counts = _simulate(posterior, space, start, population, config, knobs, report, plan)
    return _projection(space, (base, *future), counts, plan)


def forecast_axes(
    inputs: ForecastInputs,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """The needs, settings and NC years a forecast of ``inputs`` projects: what an
    assumptions file may name (:func:`matcher.forecast.knobs.resolve`)."""
    space = _Space.build(inputs.transitions.frame, inputs.valid_states)
    return space.needs, space.settings, space.academic_years


def january_counts(
    inputs: ForecastInputs, year: int, *, as_departures: bool = False
) -> dict[State, int]:
    """The observed children in each state in January of ``year``: as the transitions into it
    record it (a back-test's truth) or, ``as_departures``, as its own transitions do when the
    history has them (a projection's start; see ``_january_counts``)."""
    frame = inputs.transitions.frame
    space = _Space.build(frame, inputs.valid_states)
    counts = _january_counts(frame, year, space, as_departures=as_departures)
    return {space.state(k): int(n) for k, n in enumerate(counts) if n}


# --------------------------------------------------------------------------------------------
# The state space: dense arrays over need x setting x NC year


@dataclass(frozen=True)
class _Space:
    """Every state a child can be in, as the axes of dense arrays ``[need, setting, ncy]``.

    A flat state index is ``(need * S + setting) * A + ncy_index``: changing setting shifts it
    by a multiple of ``A`` and need by a multiple of ``S * A``, which the simulation uses.
    """

    needs: tuple[str, ...]
    settings: tuple[str, ...]
    first_ncy: int
    n_ncy: int
    needs_ok: BoolArray  # [N, S] the setting takes the need
    ncy_ok: BoolArray  # [S, A] the setting takes the NC year
    moves_ok: BoolArray  # [S, S'] a child may move from s to s' (never s to s)

    @classmethod
    def build(cls, frame: pd.DataFrame, rules: dict[str, SettingRule] | None) -> _Space:
        needs = _labels(frame, "need", (r.needs for r in (rules or {}).values()))
        settings = _labels(frame, "setting", [tuple((rules or {}).keys())])
        ncys = pd.concat([frame["academic_year_1"], frame["academic_year_2"]]).astype(int)
        low, high = int(ncys.min()), max(int(ncys.max()), LAST_NC_YEAR)
        for rule in (rules or {}).values():
            low, high = min(low, rule.min_academic_year), max(high, rule.max_academic_year)
        n_ncy = high - low + 1
        needs_ok = np.ones((len(needs), len(settings)), bool)
        ncy_ok = np.ones((len(settings), n_ncy), bool)
        moves_ok = ~np.eye(len(settings), dtype=bool)
        for s, setting in enumerate(settings):
            own = (rules or {}).get(setting)
            if own is None:
                continue
            needs_ok[:, s] = [need in own.needs for need in needs]
            ncy_ok[s] = [
                own.min_academic_year <= low + a <= own.max_academic_year for a in range(n_ncy)
            ]
            moves_ok[s] &= [other in own.moves_to for other in settings]
        return cls(needs, settings, low, n_ncy, needs_ok, ncy_ok, moves_ok)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.needs), len(self.settings), self.n_ncy

    @property
    def size(self) -> int:
        n, s, a = self.shape
        return n * s * a

    @property
    def valid(self) -> BoolArray:
        """``[N, S, A]``: may a child be in this state."""
        return self.needs_ok[:, :, None] & self.ncy_ok[None, :, :]

    @property
    def academic_years(self) -> tuple[int, ...]:
        return tuple(range(self.first_ncy, self.first_ncy + self.n_ncy))

    @property
    def phase_of(self) -> IntArray:
        """``[A]``: the phase of education of each NC year."""
        ncy = self.first_ncy + np.arange(self.n_ncy)
        return np.searchsorted(np.array(PHASE_UPPER_BOUNDS), ncy, side="left").astype(np.int64)

    def flat(self, need: pd.Series, setting: pd.Series, ncy: pd.Series) -> IntArray:
        n_index = pd.Index(self.needs).get_indexer(pd.Index(need))
        s_index = pd.Index(self.settings).get_indexer(pd.Index(setting))
        a_index = ncy.to_numpy(np.int64) - self.first_ncy
        _, s, a = self.shape
        return ((n_index * s + s_index) * a + a_index).astype(np.int64)

    def state(self, k: int) -> State:
        ns, a = divmod(k, self.n_ncy)
        n, s = divmod(ns, len(self.settings))
        return State(self.needs[n], self.settings[s], self.first_ncy + a)


def _labels(frame: pd.DataFrame, field: str, extra: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """Needs or settings: those in the history and those the valid states name."""
    seen = set(frame[f"{field}_1"].unique()) | set(frame[f"{field}_2"].unique())
    for group in extra:
        seen |= set(group)
    seen.discard(NONSEND)
    return tuple(sorted(str(label) for label in seen))


# --------------------------------------------------------------------------------------------
# Observed counts


def _base_year(inputs: ForecastInputs, base_year: int | None) -> int:
    observed = inputs.observed_years
    if len(observed) < 2:
        msg = "the history needs at least one year of transitions to fit a forecast"
        raise ValueError(msg)
    base = observed[-1] if base_year is None else base_year
    if base not in observed[1:]:
        msg = f"base year {base} is not an observed January after the first ({observed})"
        raise ValueError(msg)
    return base


def _january_counts(
    frame: pd.DataFrame, year: int, space: _Space, *, as_departures: bool = False
) -> IntArray:
    """Children per flat state in January of ``year``: the arrivals of the year before's
    transitions (the departures of the first year's, for the first January).

    ``as_departures`` prefers the same January as the year's own transitions record it (their
    state 1), when the history has them. The two agree in an LA's linked snapshots; in witan's
    anonymised demo data they differ by 5-8% a year across settings, and the departures are the
    children whose next year the transitions describe.
    """
    first = int(frame["calendar_year"].min())
    own = frame[frame["calendar_year"] == year]
    if year == first or (as_departures and not own.empty):
        rows, side = own, "1"
    else:
        rows, side = frame[frame["calendar_year"] == year - 1], "2"
    if rows.empty:
        msg = f"no observed January counts for {year}"
        raise ValueError(msg)
    rows = rows[rows[f"setting_{side}"] != NONSEND]
    k = space.flat(rows[f"need_{side}"], rows[f"setting_{side}"], rows[f"academic_year_{side}"])
    return np.bincount(k, minlength=space.size).astype(np.int64)


def _population(
    inputs: ForecastInputs, years: Sequence[int], space: _Space, purpose: str
) -> IntArray:
    """``[years, A]`` general population by NC year; a missing calendar year is an error."""
    frame = inputs.population.frame
    known = set(int(y) for y in frame["calendar_year"].unique())
    missing = [y for y in years if y not in known]
    if missing:
        listed = ", ".join(str(y) for y in missing)
        message = (
            f"no rows for calendar year(s) {listed}: joiners are a share of the general "
            f"population of the January they arrive in, and the {purpose} Januaries include "
            f"{listed} (an ONS projection will do for future years)"
        )
        raise InputError([InputProblem("population", None, "calendar-year", message)])
    table = frame.pivot_table(
        index="calendar_year", columns="academic_year", values="population", aggfunc="sum"
    )
    ncys = space.first_ncy + np.arange(space.n_ncy)
    table = table.reindex(index=list(years), columns=ncys).fillna(0)
    return table.to_numpy().round().astype(np.int64)


# --------------------------------------------------------------------------------------------
# Fitting: weighted tallies, then the pooling chains


@dataclass(frozen=True)
class _Beta:
    """Per-cell Beta posteriors; ``mean`` stands in where a cell has no parameters."""

    alpha: FloatArray
    beta: FloatArray
    mean: FloatArray

    def draw(
        self,
        rng: np.random.Generator,
        sims: int,
        uncertain: bool,
        cells: BoolArray | None = None,
    ) -> FloatArray:
        """``[sims, *shape]`` rates, one set per simulation; only ``cells`` (default all) are
        drawn, the rest keep the mean (states no child can be in)."""
        drawn = np.broadcast_to(self.mean, (sims, *self.mean.shape)).reshape(sims, -1).copy()
        if uncertain:
            a, b = self.alpha.ravel(), self.beta.ravel()
            chosen = (a + b) > 0
            if cells is not None:
                chosen &= cells.ravel()
            where = np.flatnonzero(chosen)
            a, b = a[where], b[where]
            sample = rng.beta(np.where(a > 0, a, 1.0), np.where(b > 0, b, 1.0), (sims, a.size))
            drawn[:, where] = np.where(a > 0, np.where(b > 0, sample, 1.0), 0.0)
        # Weighted counts summed in different orders can put a rate 1 ulp past 1.
        return np.clip(drawn, 0.0, 1.0).reshape(sims, *self.mean.shape)


@dataclass(frozen=True)
class _Dirichlet:
    """Per-row Dirichlet posteriors over the last axis; ``mean`` stands in for empty rows."""

    alpha: FloatArray
    mean: FloatArray

    def draw(
        self,
        rng: np.random.Generator,
        sims: int,
        uncertain: bool,
        cells: BoolArray | None = None,
    ) -> FloatArray:
        """``[sims, *shape]`` distributions, one set per simulation; only the rows of ``cells``
        (default all) are drawn, and within them only categories with prior or data."""
        categories = self.mean.shape[-1]
        drawn = np.broadcast_to(self.mean, (sims, *self.mean.shape))
        drawn = drawn.reshape(sims, -1, categories).copy()
        if uncertain:
            alpha = self.alpha.reshape(-1, categories)
            chosen = alpha.sum(axis=-1) > 0
            if cells is not None:
                chosen &= cells.ravel()
            rows = np.flatnonzero(chosen)
            row, category = np.nonzero(alpha[rows])
            gamma = np.zeros((sims, rows.size, categories))
            gamma[:, row, category] = rng.standard_gamma(
                alpha[rows][row, category], (sims, row.size)
            )
            drawn[:, rows] = _normalised(gamma)
        return drawn.reshape(sims, *self.mean.shape)


@dataclass(frozen=True)
class _Posterior:
    leave: _Beta  # [N, S, A]
    move: _Beta  # [N, S, A]
    destination: _Dirichlet  # [N, S, A, S']
    need_change: _Beta  # [N, S, A], at the setting after any move
    need_destination: _Dirichlet  # [N, N']
    join: _Beta  # [A] per head of general population
    join_split: _Dirichlet  # [A, N * S]
    steps: FloatArray  # [A, D] probability of ageing d NC years, d = 0 .. D-1


@dataclass(frozen=True)
class _Tally:
    """Weighted counts of what the history's children did, on the dense axes."""

    at: FloatArray  # [N, S, A] children in the state (not joiners)
    left: FloatArray  # [N, S, A]
    moved_to: FloatArray  # [N, S, A, S'] setting changes
    after_move: FloatArray  # [N, S, A] survivors by state after any setting change
    need_changed_to: FloatArray  # [N, S, A, N'] need changes, by state after the move
    steps: FloatArray  # [A, D]
    joined: FloatArray  # [A, N, S]
    heads: FloatArray  # [A] weighted general population the joiners came from


def _fit(
    frame: pd.DataFrame, inputs: ForecastInputs, space: _Space, base: int, knobs: dict[str, float]
) -> _Posterior:
    tally = _tally(frame, inputs, space, base, knobs["recency_decay"])
    kappa = knobs["prior_strength"]
    n = len(space.needs)
    phase = space.phase_of
    valid = space.valid
    stay_ok = _next_year_ok(space)
    leave = _beta_chain(tally.left, tally.at, phase, kappa)
    movers = tally.moved_to.sum(axis=-1)
    move = _beta_chain(movers, tally.at - tally.left, phase, kappa)
    allowed = _destination_allowed(space)
    destination = _destination_chain(tally.moved_to, allowed, phase, kappa)
    changed = tally.need_changed_to.sum(axis=-1)
    need_change = _beta_chain(changed, tally.after_move, phase, kappa)
    need_destination = _dirichlet_flat(
        tally.need_changed_to.sum(axis=(1, 2)), ~np.eye(n, dtype=bool), kappa
    )
    join = _beta_chain_ncy(tally.joined.sum(axis=(1, 2)), tally.heads, phase, kappa)
    join_split = _join_split_chain(tally.joined, valid.transpose(2, 0, 1), phase, kappa)
    steps = _steps(tally.steps, kappa)
    # Where the rules force a child on: staying is impossible next year -> must move; nowhere
    # to move as well -> must leave. With no destination, nobody moves.
    has_destination: BoolArray = np.asarray(allowed.any(axis=-1))
    move = _force(move, ~has_destination, 0.0)
    move = _force(move, np.logical_and(~stay_ok, has_destination), 1.0)
    leave = _force(leave, np.logical_and(~stay_ok, ~has_destination), 1.0)
    # A state whose movers' destinations were never seen (no mover of its NC year or phase
    # went anywhere it may go, e.g. every mover went to its own setting): its movers go to
    # any allowed setting alike, not to whichever setting happens to be last.
    unseen = np.logical_and(destination.mean.sum(axis=-1) == 0, has_destination)
    destination = _Dirichlet(
        np.where(unseen[..., None], 0.0, destination.alpha),
        np.where(unseen[..., None], _normalised(allowed.astype(np.float64)), destination.mean),
    )
    return _Posterior(
        leave, move, destination, need_change, need_destination, join, join_split, steps
    )


def _tally(
    frame: pd.DataFrame, inputs: ForecastInputs, space: _Space, base: int, decay: float
) -> _Tally:
    n, s, a = space.shape
    years = frame["calendar_year"].to_numpy(np.int64)
    weight = decay ** (base - 1 - years).astype(np.float64)
    joiner = (frame["setting_1"] == NONSEND).to_numpy()
    leaver = (frame["setting_2"] == NONSEND).to_numpy()
    here = ~joiner
    k1 = np.zeros(len(frame), np.int64)
    k1[here] = space.flat(
        frame["need_1"][here], frame["setting_1"][here], frame["academic_year_1"][here]
    )
    at = _bins(k1[here], weight[here], space.size).reshape(n, s, a)
    left = _bins(k1[here & leaver], weight[here & leaver], space.size).reshape(n, s, a)
    stays = here & ~leaver
    rows = frame[stays]
    w = weight[stays]
    s1 = pd.Index(space.settings).get_indexer(pd.Index(rows["setting_1"]))
    s2 = pd.Index(space.settings).get_indexer(pd.Index(rows["setting_2"]))
    n1 = pd.Index(space.needs).get_indexer(pd.Index(rows["need_1"]))
    n2 = pd.Index(space.needs).get_indexer(pd.Index(rows["need_2"]))
    a1 = rows["academic_year_1"].to_numpy(np.int64) - space.first_ncy
    step = np.clip(rows["academic_year_2"].to_numpy(np.int64) - space.first_ncy - a1, 0, None)
    changed_setting = s1 != s2
    moved_to = _bins(
        ((((n1 * s + s1) * a + a1) * s) + s2)[changed_setting], w[changed_setting], n * s * a * s
    ).reshape(n, s, a, s)
    k_after = (n1 * s + s2) * a + a1
    after_move = _bins(k_after, w, space.size).reshape(n, s, a)
    changed_need = n1 != n2
    need_changed_to = _bins(
        (k_after * n + n2)[changed_need], w[changed_need], space.size * n
    ).reshape(n, s, a, n)
    longest = int(step.max(initial=1)) + 1
    steps = _bins(a1 * longest + step, w, a * longest).reshape(a, longest)
    fitted = sorted(int(y) for y in np.unique(years))
    year_weight = decay ** (base - 1 - np.array(fitted, np.float64))
    joins = joiner & ~leaver
    joined, heads = _tally_joiners(frame[joins], weight[joins], fitted, year_weight, inputs, space)
    return _Tally(at, left, moved_to, after_move, need_changed_to, steps, joined, heads)


def _tally_joiners(
    joins: pd.DataFrame,
    weight: FloatArray,
    years: Sequence[int],
    year_weight: FloatArray,
    inputs: ForecastInputs,
    space: _Space,
) -> tuple[FloatArray, FloatArray]:
    """Weighted joiners ``[A, N, S]`` and the weighted general population they came from
    ``[A]``: each fitted year's arrival January, as a projected year uses its own."""
    n, s, a = space.shape
    k = space.flat(joins["need_2"], joins["setting_2"], joins["academic_year_2"])
    joined = _bins(k, weight, space.size).reshape(n, s, a).transpose(2, 0, 1)
    population = _population(inputs, [y + 1 for y in years], space, "history's")
    heads = (population * year_weight[:, None]).sum(axis=0).astype(np.float64)
    # A joiner in an NC year the population table lacks still counts as one of its heads.
    return joined, np.maximum(heads, joined.sum(axis=(1, 2)))


def _bins(index: IntArray, weight: FloatArray, size: int) -> FloatArray:
    return np.bincount(index, weights=weight, minlength=size).astype(np.float64)


def _next_year_ok(space: _Space) -> BoolArray:
    """``[N, S, A]``: may a child stay in its setting into the next NC year."""
    following = np.zeros_like(space.ncy_ok)
    following[:, :-1] = space.ncy_ok[:, 1:]
    return space.needs_ok[:, :, None] & following[None, :, :]


def _destination_allowed(space: _Space) -> BoolArray:
    """``[N, S, A, S']``: may a mover from (n, s, a) go to s' (judged at NC year a + 1)."""
    following = np.zeros_like(space.ncy_ok)
    following[:, :-1] = space.ncy_ok[:, 1:]
    target = space.needs_ok[:, None, None, :] & following.T[None, None, :, :]  # [N,1,A,S']
    return space.moves_ok[None, :, None, :] & target


def _force(rate: _Beta, where: BoolArray, value: float) -> _Beta:
    """Pin a rate (no uncertainty) where the rules leave no choice."""
    return _Beta(
        np.where(where, value, rate.alpha),
        np.where(where, 1.0 - value, rate.beta),
        np.where(where, value, rate.mean),
    )


def _shrink(events: FloatArray, trials: FloatArray, prior: FloatArray, kappa: float) -> FloatArray:
    """One level of the chain: the level's frequency pulled towards its parent's rate."""
    denominator = trials + kappa
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, (events + kappa * prior) / safe, prior)


def _beta_chain(events: FloatArray, trials: FloatArray, phase: IntArray, kappa: float) -> _Beta:
    """Rates of ``[N, S, A]`` cells: all -> phase -> NC year -> setting x NC year -> cell."""
    total = trials.sum()
    overall = events.sum() / total if total > 0 else 0.0
    by_ncy_e, by_ncy_t = events.sum(axis=(0, 1)), trials.sum(axis=(0, 1))
    phase_e = _bins(phase, by_ncy_e, int(phase.max()) + 1)
    phase_t = _bins(phase, by_ncy_t, int(phase.max()) + 1)
    by_phase = _shrink(phase_e, phase_t, np.full(phase_e.shape, overall), kappa)
    by_ncy = _shrink(by_ncy_e, by_ncy_t, by_phase[phase], kappa)
    by_setting_ncy = _shrink(events.sum(axis=0), trials.sum(axis=0), by_ncy[None, :], kappa)
    prior = np.broadcast_to(by_setting_ncy[None], events.shape)
    alpha = events + kappa * prior
    beta = np.clip(trials - events, 0, None) + kappa * (1.0 - prior)
    mean = _shrink(events, trials, prior, kappa)
    return _Beta(alpha, beta, mean)


def _beta_chain_ncy(events: FloatArray, trials: FloatArray, phase: IntArray, kappa: float) -> _Beta:
    """Rates per NC year: all -> phase -> NC year (joiners per head)."""
    total = trials.sum()
    overall = events.sum() / total if total > 0 else 0.0
    phase_e = _bins(phase, events, int(phase.max()) + 1)
    phase_t = _bins(phase, trials, int(phase.max()) + 1)
    by_phase = _shrink(phase_e, phase_t, np.full(phase_e.shape, overall), kappa)[phase]
    alpha = events + kappa * by_phase
    beta = np.clip(trials - events, 0, None) + kappa * (1.0 - by_phase)
    return _Beta(alpha, beta, _shrink(events, trials, by_phase, kappa))


def _normalised(weights: FloatArray) -> FloatArray:
    total = weights.sum(axis=-1, keepdims=True)
    return weights / np.where(total > 0, total, 1.0)


def _shrink_distribution(counts: FloatArray, prior: FloatArray, kappa: float) -> FloatArray:
    """Counts over the last axis pulled towards a prior distribution, renormalised."""
    total = counts.sum(axis=-1, keepdims=True)
    if kappa == 0:
        return np.where(total > 0, _normalised(counts), prior)
    return _normalised(counts + kappa * prior)


def _destination_chain(
    moved_to: FloatArray, allowed: BoolArray, phase: IntArray, kappa: float
) -> _Dirichlet:
    """Movers' new settings: all -> phase -> NC year -> setting x NC year -> state."""
    s = moved_to.shape[1]
    by_ncy_counts = moved_to.sum(axis=(0, 1))  # [A, S']
    overall = _normalised(by_ncy_counts.sum(axis=0))
    phase_counts = np.zeros((phase.max() + 1, s))
    np.add.at(phase_counts, phase, by_ncy_counts)
    by_phase = _shrink_distribution(phase_counts, overall[None], kappa)
    by_ncy = _shrink_distribution(by_ncy_counts, by_phase[phase], kappa)
    not_self = ~np.eye(s, dtype=bool)[:, None, :]  # [S, 1, S']
    prior_sa = _normalised(by_ncy[None] * not_self)
    by_setting_ncy = _shrink_distribution(moved_to.sum(axis=0), prior_sa, kappa)  # [S, A, S']
    prior = _normalised(by_setting_ncy[None] * allowed)
    counts = moved_to * allowed
    mean = _shrink_distribution(counts, prior, kappa) * allowed
    return _Dirichlet(counts + kappa * prior, _normalised(mean))


def _dirichlet_flat(counts: FloatArray, allowed: BoolArray, kappa: float) -> _Dirichlet:
    """Rows of counts shrunk to the pooled distribution of all rows (need changes)."""
    pooled = _normalised(counts.sum(axis=0))
    prior = _normalised(pooled[None] * allowed)
    counts = counts * allowed
    mean = _normalised(_shrink_distribution(counts, prior, kappa) * allowed)
    return _Dirichlet(counts + kappa * prior, mean)


def _join_split_chain(
    joined: FloatArray, valid: BoolArray, phase: IntArray, kappa: float
) -> _Dirichlet:
    """Joiners' need x setting by NC year: all joiners -> phase -> NC year."""
    a = joined.shape[0]
    counts = joined.reshape(a, -1)
    allowed = valid.reshape(a, -1)
    overall = _normalised(counts.sum(axis=0))
    phase_counts = np.zeros((phase.max() + 1, counts.shape[1]))
    np.add.at(phase_counts, phase, counts)
    by_phase = _shrink_distribution(phase_counts, overall[None], kappa)
    prior = _normalised(by_phase[phase] * allowed)
    counts = counts * allowed
    mean = _normalised(_shrink_distribution(counts, prior, kappa) * allowed)
    return _Dirichlet(counts + kappa * prior, mean)


def _steps(counts: FloatArray, kappa: float) -> FloatArray:
    """Ageing steps by NC year, pooled towards all NC years' (never-seen steps stay 0)."""
    pooled = _normalised(counts.sum(axis=0))
    if not pooled.any():
        pooled = np.zeros(counts.shape[1])
        pooled[min(1, counts.shape[1] - 1)] = 1.0
    return _shrink_distribution(counts, np.broadcast_to(pooled, counts.shape), kappa)


# --------------------------------------------------------------------------------------------
# Simulation


@dataclass(frozen=True)
class _Draws:
    """One chunk's rates, one set per simulation, flattened for the stepping loop."""

    leave: FloatArray  # [c * K]
    move: FloatArray  # [c * K]
    destination_cdf: npt.NDArray[np.float32]  # [c * K, S']
    need_change: FloatArray  # [c * K]
    need_cdf: npt.NDArray[np.float32]  # [c * N * S, N']
    join: FloatArray  # [c, A]
    join_split: FloatArray  # [c, A, N * S]


def _simulate(
    posterior: _Posterior,
    space: _Space,
    start: IntArray,
    population: IntArray,
    config: ForecastConfig,
    knobs: dict[str, float],
    report: Callable[[str], None],
    plan: Plan | None = None,
) -> npt.NDArray[np.int32]:
    sims = config.n_simulations
    if sims < 1:
        msg = "n_simulations must be at least 1"
        raise ValueError(msg)
    uncertain = knobs["parameter_uncertainty"] > 0
    # Rates are drawn only where a child can be: a valid state, or one occupied at the start.
    cells = space.valid | (start.reshape(space.shape) > 0)
    # A new setting's children are a setting of their own while simulated (its places are
    # counted), with its kind's rates; they are counted in that kind in the projection.
    adjuster = None if plan is None else _Adjuster.build(plan, space)
    stepped = space if adjuster is None else adjuster.space
    first = start if adjuster is None else adjuster.widen(start[None, :])[0]
    counts = np.empty((sims, len(population) + 1, stepped.size), np.int32)
    chunks = [(low, min(_CHUNK, sims - low)) for low in range(0, sims, _CHUNK)]
    # One random stream per chunk, spawned from the seed: the result does not depend on how
    # many threads run the chunks or in what order they finish.
    streams = np.random.SeedSequence(config.seed).spawn(len(chunks))

    def run(chunk: int) -> int:
        low, size = chunks[chunk]
        rng = np.random.default_rng(streams[chunk])
        draws = _draw(posterior, space, rng, size, uncertain, cells)
        if adjuster is not None:
            draws = adjuster.widen_draws(draws, size)
        state = np.broadcast_to(first, (size, stepped.size)).copy()
        counts[low : low + size, 0] = state
        for t, heads in enumerate(population):
            year = None if adjuster is None else adjuster.year(t)
            state = _step(state, draws, heads, posterior.steps, stepped, rng, year)
            counts[low : low + size, t + 1] = state
        return size

    workers = max(1, min(len(chunks), os.cpu_count() or 1, _MAX_THREADS))
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for size in pool.map(run, range(len(chunks))):
            done += size
            report(f"simulated {done} of {sims} futures")
    return counts


def _draw(
    posterior: _Posterior,
    space: _Space,
    rng: np.random.Generator,
    sims: int,
    uncertain: bool,
    cells: BoolArray,
) -> _Draws:
    n, s, _ = space.shape
    destination = posterior.destination.draw(rng, sims, uncertain, cells)
    need_rows = posterior.need_destination.draw(rng, sims, uncertain)  # [c, N, N']
    need_split = need_rows[:, :, None, :] * space.needs_ok.T[None, None, :, :]  # [c,N,S,N']
    need_change = posterior.need_change.draw(rng, sims, uncertain, cells)
    need_change *= need_split.sum(axis=-1)[:, :, :, None] > 0
    return _Draws(
        leave=posterior.leave.draw(rng, sims, uncertain, cells).ravel(),
        move=posterior.move.draw(rng, sims, uncertain, cells).ravel(),
        destination_cdf=_cdf(destination.reshape(-1, s)),
        need_change=need_change.ravel(),
        need_cdf=_cdf(need_split.reshape(-1, n)),
        join=posterior.join.draw(rng, sims, uncertain),
        join_split=_normalised(posterior.join_split.draw(rng, sims, uncertain)),
    )


def _cdf(probabilities: FloatArray) -> npt.NDArray[np.float32]:
    """Cumulative rows for inverse-CDF draws; from each row's last possible category on the
    value is 2, above any uniform draw, so rounding never picks an impossible category."""
    cdf = np.cumsum(_normalised(probabilities), axis=-1)
    last = probabilities.shape[-1] - 1 - np.argmax(probabilities[:, ::-1] > 0, axis=-1)
    cdf[np.arange(probabilities.shape[-1])[None, :] >= last[:, None]] = 2.0
    return cdf.astype(np.float32)


def _step(
    state: IntArray,
    draws: _Draws,
    heads: IntArray,
    steps: FloatArray,
    space: _Space,
    rng: np.random.Generator,
    year: _YearAdjustment | None = None,
) -> IntArray:
    """One year for every simulation of the chunk: leave, move, change need, age, join; then
    the planner's assumptions for the year, if any (without them no extra draws are made, so
    a seed gives the same futures as before assumptions existed)."""
    sims = state.shape[0]
    n, s, a = space.shape
    flat = state.ravel()
    occupied = np.flatnonzero(flat)
    present = flat[occupied]
    survivors = present - rng.binomial(present, draws.leave[occupied])
    movers = rng.binomial(survivors, draws.move[occupied])
    after = np.zeros(flat.size, np.int64)
    after[occupied] = survivors - movers
    source = np.repeat(occupied, movers)
    if source.size:
        new_setting = _categorical(draws.destination_cdf, source, rng)
        if year is not None:
            new_setting = year.divert_movers(source, new_setting, rng)
        old_setting = (source // a) % s
        after += np.bincount(source + (new_setting - old_setting) * a, minlength=flat.size)
    after = _change_needs(after, draws, space, rng)
    aged = _age(after.reshape(sims, n * s, a), steps, rng)
    join, split = (draws.join, draws.join_split) if year is None else year.joining(draws)
    joiners = rng.binomial(heads[None, :], join)  # [c, A]
    arrivals = rng.multinomial(joiners, split)  # [c, A, N*S]
    if year is not None:
        arrivals = year.divert_joiners(arrivals, rng)
    aged += arrivals.transpose(0, 2, 1)
    if year is not None:
        return year.after(aged.reshape(sims, n, s, a), rng).reshape(sims, -1)
    return aged.reshape(sims, -1)


def _categorical(
    cdf: npt.NDArray[np.float32], rows: IntArray, rng: np.random.Generator
) -> IntArray:
    uniform = rng.random(rows.size, dtype=np.float32)
    return (uniform[:, None] >= cdf[rows]).sum(axis=1).astype(np.int64)


def _change_needs(
    after: IntArray, draws: _Draws, space: _Space, rng: np.random.Generator
) -> IntArray:
    occupied = np.flatnonzero(after)
    changers = rng.binomial(after[occupied], draws.need_change[occupied])
    if not changers.any():
        return after
    _, s, a = space.shape
    k = space.size
    source = np.repeat(occupied, changers)
    new_need = _categorical(draws.need_cdf, source // a, rng)
    old_need = (source % k) // (s * a)
    after[occupied] -= changers
    return after + np.bincount(source + (new_need - old_need) * s * a, minlength=after.size)


def _age(counts: IntArray, steps: FloatArray, rng: np.random.Generator) -> IntArray:
    """Move every child up its drawn number of NC years; past the last NC year it leaves.

    ``counts`` is ``[..., A]``. The commonest step takes whoever the rarer steps (drawn first,
    as binomials, on occupied cells only) did not.
    """
    a = counts.shape[-1]
    if steps.shape[1] >= 2 and np.all(steps[:, 1] == 1.0):
        aged = np.zeros_like(counts)
        aged[..., 1:] = counts[..., :-1]
        return aged
    flat = counts.ravel()
    occupied = np.flatnonzero(flat)
    remaining = flat[occupied]
    ncy = occupied % a
    order = np.argsort(steps.sum(axis=0), kind="stable")  # commonest step last
    rest = np.ones(a)
    targets, moved = [], []
    for d in order:
        if d == order[-1]:
            taking = remaining
        else:
            share = np.divide(steps[:, d], rest, out=np.zeros(a), where=rest > 0)
            taking = rng.binomial(remaining, np.clip(share, 0.0, 1.0)[ncy])
        remaining = remaining - taking
        rest = rest - steps[:, d]
        stays_in_range = ncy + d < a
        targets.append(occupied[stays_in_range] + d)
        moved.append(taking[stays_in_range])
    aged = np.bincount(np.concatenate(targets), weights=np.concatenate(moved), minlength=flat.size)
    return aged.astype(np.int64).reshape(counts.shape)


# --------------------------------------------------------------------------------------------
# Results


def _projection(
    space: _Space, years: tuple[int, ...], counts: npt.NDArray[np.int32], plan: Plan | None
) -> Projection:
    if plan is not None and plan.schools:
        counts = _Adjuster.build(plan, space).narrow(counts)
    used = np.flatnonzero(counts.any(axis=(0, 1)))
    states = tuple(space.state(int(k)) for k in used)
    return Projection(years, states, np.ascontiguousarray(counts[:, :, used]))


# --------------------------------------------------------------------------------------------
# A planner's assumptions, applied in the simulation (see matcher.forecast.knobs for the rules)


@dataclass(frozen=True)
class _Adjuster:
    """A :class:`Plan` on the simulation's axes.

    Each new setting is simulated as a setting of its own, appended after the history's
    (index ``S + i``): its children take its kind's drawn rates (the same draws, so a school
    does not change how other children behave), nobody joins or moves into it except by its
    intake, and the projection counts its children in its kind (:meth:`narrow`).
    """

    plan: Plan
    base: _Space  # the history's settings
    space: _Space  # with the new settings appended
    mover_ok: BoolArray  # [N, S, A, S'] a mover from (n, s, a) may be sent to s'

    @classmethod
    def build(cls, plan: Plan, base: _Space) -> _Adjuster:
        extra = [school.target for school in plan.schools]
        s = len(base.settings)
        index = np.array([*range(s), *extra], np.int64)
        moves_ok = base.moves_ok[np.ix_(index, index)]
        moves_ok[:, s:] = False  # a new setting is entered by its intake only
        labels = [f"{base.settings[t]} (new {i})" for i, t in enumerate(extra)]
        space = _Space(
            base.needs,
            (*base.settings, *labels),
            base.first_ncy,
            base.n_ncy,
            base.needs_ok[:, index],
            base.ncy_ok[index],
            moves_ok,
        )
        return cls(plan, base, space, _destination_allowed(space))

    @property
    def _origin(self) -> IntArray:
        """Each simulated setting's setting in the history (a new one's kind)."""
        extra = [school.target for school in self.plan.schools]
        return np.array([*range(len(self.base.settings)), *extra], np.int64)

    def widen(self, counts: IntArray) -> IntArray:
        """``[c, K]`` counts on the history's states as ``[c, K']`` (new settings empty)."""
        n, s, a = self.base.shape
        wide = np.zeros((counts.shape[0], n, len(self.space.settings), a), counts.dtype)
        wide[:, :, :s] = counts.reshape(-1, n, s, a)
        return wide.reshape(counts.shape[0], -1)

    def narrow(self, counts: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        """``[sims, T, K']`` back to the history's states, a new setting's children counted
        in its kind."""
        n, s, a = self.base.shape
        sims, years = counts.shape[:2]
        wide = counts.reshape(sims, years, n, len(self.space.settings), a)
        narrow = wide[:, :, :, :s].copy()
        for i, school in enumerate(self.plan.schools):
            narrow[:, :, :, school.target] += wide[:, :, :, s + i]
        return narrow.reshape(sims, years, -1)

    def widen_draws(self, draws: _Draws, sims: int) -> _Draws:
        """The chunk's drawn rates with each new setting's copied from its kind's."""
        n, s, a = self.base.shape
        origin = self._origin
        wide = len(origin)

        def per_state(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            shaped = values.reshape(sims, n, s, a, *values.shape[1:])
            return shaped[:, :, origin].reshape(sims * n * wide * a, *values.shape[1:])

        # Nobody moves into a new setting: its column of every CDF is past the end (2).
        destination = np.full((draws.destination_cdf.shape[0], wide), 2.0, np.float32)
        destination[:, :s] = draws.destination_cdf
        need_cdf = draws.need_cdf.reshape(sims, n, s, n)[:, :, origin].reshape(-1, n)
        split = np.zeros((sims, self.base.n_ncy, n, wide))
        split[..., :s] = draws.join_split.reshape(sims, a, n, s)
        return _Draws(
            leave=per_state(draws.leave),
            move=per_state(draws.move),
            destination_cdf=per_state(destination),
            need_change=per_state(draws.need_change),
            need_cdf=need_cdf,
            join=draws.join,
            join_split=split.reshape(sims, a, n * wide),
        )

    def year(self, t: int) -> _YearAdjustment:
        return _YearAdjustment(self, t)


@dataclass(frozen=True)
class _YearAdjustment:
    """The assumptions in force in projected step ``t`` (into the January ``years[t + 1]``)."""

    adjuster: _Adjuster
    t: int

    def joining(self, draws: _Draws) -> tuple[FloatArray, FloatArray]:
        """Joiners per head and their split, each need's joiners times its factor."""
        factor = self.adjuster.plan.join_factor[self.t]
        if np.all(factor == 1.0):
            return draws.join, draws.join_split
        sims, a = draws.join.shape
        n, s, _ = self.adjuster.space.shape
        weighted = draws.join_split.reshape(sims, a, n, s) * factor[None, None, :, None]
        scale = weighted.sum(axis=(2, 3))
        join = np.clip(draws.join * scale, 0.0, 1.0)
        return join, _normalised(weighted.reshape(sims, a, n * s))

    def _flows_diverted(self) -> list[ShiftPlan]:
        """Shifts that divert this step's joiners and movers: from their first step, except
        where that step moves the children already there (which covers its flows too)."""
        return [
            shift
            for shift in self.adjuster.plan.shifts
            if self.t > shift.first or (self.t == shift.first and not shift.children_already_there)
        ]

    def divert_movers(
        self, source: IntArray, new_setting: IntArray, rng: np.random.Generator
    ) -> IntArray:
        shifts = self._flows_diverted()
        if not shifts:
            return new_setting
        space = self.adjuster.space
        _, s, a = space.shape
        state = source % space.size
        need, old, ncy = state // (s * a), (state // a) % s, state % a
        for shift in shifts:
            allowed = self.adjuster.mover_ok[need, old, ncy, shift.target] & shift.needs[need]
            heading = np.flatnonzero((new_setting == shift.source) & allowed)
            chosen = heading[rng.random(heading.size) < shift.share]
            new_setting = new_setting.copy()
            new_setting[chosen] = shift.target
        return new_setting

    def divert_joiners(self, arrivals: IntArray, rng: np.random.Generator) -> IntArray:
        shifts = self._flows_diverted()
        if not shifts:
            return arrivals
        sims, a, _ = arrivals.shape
        n, s, _ = self.adjuster.space.shape
        split = arrivals.reshape(sims, a, n, s).copy()
        valid = self.adjuster.space.valid  # [N, S, A]
        for shift in shifts:
            share = shift.share * (shift.needs[:, None] & valid[:, shift.target, :]).T  # [A, N]
            moved = rng.binomial(split[..., shift.source], share[None])
            split[..., shift.source] -= moved
            split[..., shift.target] += moved
        return split.reshape(sims, a, n * s)

    def after(self, state: IntArray, rng: np.random.Generator) -> IntArray:
        """``[c, N, S, A]`` January counts after the step: children already in a shifted
        setting move in the shift's first step; new settings take their intake."""
        for shift in self.adjuster.plan.shifts:
            if self.t == shift.first and shift.children_already_there:
                state = _shift_children(state, shift, self.adjuster.space, rng)
        s = len(self.adjuster.base.settings)
        for i, school in enumerate(self.adjuster.plan.schools):
            if self.t >= school.first:
                state = _school_intake(state, school, s + i, self.adjuster.space, rng)
        return state


def _shift_children(
    state: IntArray, shift: ShiftPlan, space: _Space, rng: np.random.Generator
) -> IntArray:
    """Each child in the shift's setting (of its needs) moves with probability ``share``."""
    share = shift.share * (shift.needs[:, None] & space.valid[:, shift.target, :])  # [N, A]
    state = state.copy()
    moved = rng.binomial(state[:, :, shift.source, :], share[None])
    state[:, :, shift.source, :] -= moved
    state[:, :, shift.target, :] += moved
    return state


def _school_intake(
    state: IntArray, school: SchoolPlan, own: int, space: _Space, rng: np.random.Generator
) -> IntArray:
    """A new setting's January: children past its NC years count in its kind again, then it
    takes children of its needs and NC years from the settings it takes from, at random,
    up to its free places (and its intake a year)."""
    state = state.copy()
    past = ~school.ages
    state[:, :, school.target, past] += state[:, :, own, past]
    state[:, :, own, past] = 0
    ages = school.ages & space.ncy_ok[own]
    needs, sources, years = (
        np.flatnonzero(school.needs),
        np.array(school.takes_from, np.int64),
        np.flatnonzero(ages),
    )
    if not (needs.size and sources.size and years.size):
        return state
    free = np.clip(school.places - state[:, :, own, :].sum(axis=(1, 2)), 0, None)
    if school.intake is not None:
        free = np.minimum(free, school.intake)
    sims = np.arange(state.shape[0])
    where = np.ix_(sims, needs, sources, years)
    eligible = state[where]  # [c, needs, sources, years]
    taken = _without_replacement(eligible.reshape(len(sims), -1), free, rng)
    taken = taken.reshape(eligible.shape)
    state[where] = eligible - taken
    state[np.ix_(sims, needs, np.array([own]), years)] += taken.sum(axis=2, keepdims=True)
    return state


def _without_replacement(counts: IntArray, take: IntArray, rng: np.random.Generator) -> IntArray:
    """``[c, M]``: ``min(take, total)`` children drawn at random from each row's ``M``
    groups, without replacement (a multivariate hypergeometric draw, one group at a time)."""
    remaining = counts.sum(axis=1)
    left = np.minimum(take, remaining).astype(np.int64)
    taken = np.zeros_like(counts)
    for j in range(counts.shape[1]):
        good = counts[:, j]
        rows = np.flatnonzero((good > 0) & (left > 0))
        if rows.size:
            bad = remaining[rows] - good[rows]
            taken[rows, j] = rng.hypergeometric(good[rows], bad, left[rows])
            left = left.copy()
            left[rows] -= taken[rows, j]
        remaining = remaining - good
    return taken


def _knobs(config: ForecastConfig) -> dict[str, float]:
    unknown = set(config.extra) - set(DEFAULT_KNOBS)
    if unknown:
        msg = f"unknown forecast settings {sorted(unknown)}; known: {sorted(DEFAULT_KNOBS)}"
        raise ValueError(msg)
    knobs = {**DEFAULT_KNOBS, **config.extra}
    if not 0 < knobs["recency_decay"] <= 1:
        msg = "recency_decay must be in (0, 1]"
        raise ValueError(msg)
    if knobs["prior_strength"] < 0:
        msg = "prior_strength must not be negative"
        raise ValueError(msg)
    return knobs
