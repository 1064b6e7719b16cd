"""What the fit chooses from the history itself, never from the years it projects.

Three choices, all made from the transition years before the base year (a back-test's fit
never sees the year it is scored on, and neither do its choices):

**How much recent years count, per part of the model.** Rates drift: on witan.send's demo data
the leavers at NC year 11 fell from 43% to 20% in four years while movers at NC year 14 rose
from none to half. Each part (leavers, movers, movers' destinations, need changes, joiners per
head, joiners' split, ageing steps) is tallied per year in cells of setting x phase of
education, and the spread of its yearly counts around their pooled rate (Pearson's
chi-squared over its degrees of freedom, ``phi``; cells with at least one expected event and
non-event a year) says how much more the rate moved than chance alone would move it. Read as
a local-level model (a rate that takes a random walk, seen through binomial noise), the
excess gives the drift's variance relative to the noise, ``q = 6 (phi - 1) / (T + 1)`` over
``T`` years (a random walk's points spread ``(T + 1) / 6`` of a step per degree of freedom),
and the best forecast is then an exponentially weighted mean of the years with decay
``1 - K``, ``K = (sqrt(q^2 + 4q) - q) / 2`` (the steady-state Kalman gain; Muth 1960, Harvey
1989). A part whose years agree (``phi <= 1``) weighs every year alike, as witan.send does; a
part that jumps leans on the last years. The decay never goes below :data:`MIN_DECAY`.

**How far rates drift in the projected years.** The same ``q`` over a cell's mean children a
year is how far a rate moves from one year to the next relative to its binomial variance; as a
Beta (Dirichlet) around the cell's rate that is a concentration of ``n / q - 1`` (never below
:data:`MIN_CONCENTRATION`), which each simulated future draws its cells' rates from
(:mod:`matcher.forecast.drift`), so that the intervals allow for next year's rates being
different from the history's, not only for chance given the history's rates.

**How strongly sparse states borrow from their neighbours** (``prior_strength``, children's
worth of the pooled rate): the one of :data:`PRIOR_STRENGTHS` whose forecasts of the history's
own years, one year ahead, split the children across settings best (the sum over settings of
|expected - actual| over the actual total, averaged over every transition year with at least
one year before it, each fitted on the years before it with the recency chosen from those
years). A history of one transition year has nothing to test on and takes
:data:`FALLBACK_PRIOR_STRENGTH`, the grid's geometric middle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.forecast.rates import (
    COMPONENTS,
    FitPlan,
    FloatArray,
    Posterior,
    WeightedTally,
    YearlyTally,
    fit_weighted,
)
from matcher.forecast.space import StateSpace

#: A decay is never below this: each year counts at least a twentieth of the year after it.
MIN_DECAY = 0.05
#: Prior strengths the inner back-test chooses from (children's worth of the pooled rate).
PRIOR_STRENGTHS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
#: Prior strength when the history has no year to test on: the grid's geometric middle.
FALLBACK_PRIOR_STRENGTH = 8.0
#: The least drift concentration (a Beta of concentration 2 around a rate is already wide).
MIN_CONCENTRATION = 2.0
#: A cell counts in the dispersion when it expects at least this many events and non-events
#: in every year (Pearson's statistic is unreliable on rarer cells).
_MIN_EXPECTED = 1.0


@dataclass(frozen=True)
class Drift:
    """A part of the model's year-to-year drift, as the history shows it.

    ``rates`` are the part's pooled rates in its cells (setting x phase, phase x destination,
    phase, or phase x setting: see :func:`_component_cells`); a cell's rate moves from one
    year to the next like a Beta (Dirichlet) draw of ``concentration`` around it, 0 meaning no
    drift measured.
    """

    dispersion: float  # phi: spread of yearly counts over the binomial's (1 = none beyond it)
    cells: int  # cells it was measured on
    decay: float  # weight of a year relative to the year after it
    concentration: float
    rates: FloatArray


@dataclass(frozen=True)
class FitChoices:
    """What the fit chose for one base year, and why (for reports and the benchmark)."""

    drift: dict[str, Drift]
    prior_strength: float
    scores: dict[float, float]  # prior strength -> mean inner split error %, if tested

    def plan(self, tally: YearlyTally, base: int) -> FitPlan:
        age = tally.age(base)
        return FitPlan({c: self.drift[c].decay ** age for c in COMPONENTS}, self.prior_strength)

    @property
    def drifting(self) -> dict[str, Drift]:
        """The parts whose rates drift (what widens the simulated futures)."""
        return {c: d for c, d in self.drift.items() if d.concentration > 0}


def choose(
    tally: YearlyTally,
    space: StateSpace,
    *,
    decay: float | None = None,
    prior_strength: float | None = None,
) -> FitChoices:
    """The fit's choices from ``tally`` (the years before the base year) alone.

    ``decay`` fixes every part's decay (no estimate; drift is still measured for the
    intervals); ``prior_strength`` fixes it (no inner back-test).
    """
    drift = measure_drift(tally, space, decay)
    if prior_strength is not None:
        return FitChoices(drift, prior_strength, {})
    scores = inner_scores(tally, space, decay)
    if not scores:
        return FitChoices(drift, FALLBACK_PRIOR_STRENGTH, {})
    best = min(scores, key=lambda kappa: (scores[kappa], kappa))
    return FitChoices(drift, best, scores)


# --------------------------------------------------------------------------------------------
# Drift: the yearly counts' dispersion, read as a local-level model


def measure_drift(
    tally: YearlyTally, space: StateSpace, decay: float | None = None
) -> dict[str, Drift]:
    """Each part's dispersion, decay and drift from the tally's years."""
    years = len(tally.years)
    drift = {}
    for component, (events, trials) in _component_cells(tally, space).items():
        excess = _excess(events.reshape(years, -1), trials.reshape(years, -1))
        q = 6.0 * max(excess.dispersion - 1.0, 0.0) / (years + 1)
        gain = (np.sqrt(q * q + 4.0 * q) - q) / 2.0
        chosen = max(1.0 - gain, MIN_DECAY) if decay is None else decay
        # q per cell of mean size n: a rate's drift variance is q / n of its binomial's.
        concentration = max(excess.trials / q - 1.0, MIN_CONCENTRATION) if q > 0 else 0.0
        total = trials.sum(axis=0)
        rates = np.divide(events.sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
        drift[component] = Drift(excess.dispersion, excess.cells, chosen, concentration, rates)
    return drift


@dataclass(frozen=True)
class _Excess:
    dispersion: float  # Pearson's chi-squared over its degrees of freedom (1 if unmeasured)
    cells: int
    trials: float  # mean trials a year of the cells measured


def _excess(events: FloatArray, trials: FloatArray) -> _Excess:
    """Pearson's chi-squared of ``[T, C]`` yearly counts against each cell's pooled rate, over
    its degrees of freedom. Only cells expecting :data:`_MIN_EXPECTED` events and non-events
    every year count; fewer than two years, or no such cell, measure nothing (1)."""
    years = events.shape[0]
    total = trials.sum(axis=0)
    rate = np.divide(events.sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
    expected = trials * rate
    common = (expected >= _MIN_EXPECTED) & ((trials - expected) >= _MIN_EXPECTED)
    used = common.all(axis=0)
    if years < 2 or not used.any():
        return _Excess(1.0, 0, 0.0)
    variance = expected[:, used] * (1.0 - rate[used])
    chi2 = float((((events[:, used] - expected[:, used]) ** 2) / variance).sum())
    cells = int(used.sum())
    return _Excess(chi2 / (cells * (years - 1)), cells, float(trials[:, used].mean()))


def _component_cells(
    tally: YearlyTally, space: StateSpace
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Each part's yearly events and trials ``[T, *cells]``: cells of setting x phase ``[S, P]``
    for leaving, moving, need changes and ageing steps; phase x destination ``[P, S']`` for
    movers' settings; phase ``[P]`` for joiners per head; phase x setting ``[P, S]`` for
    joiners' settings (a share's trials are all of its phase's movers or joiners)."""
    phase = space.phase_of
    onehot = np.eye(int(phase.max()) + 1)[phase]  # [A, P]
    at = tally.at.sum(axis=1)  # [T, S, A]
    left = tally.left.sum(axis=1)
    movers = tally.moved_to.sum(axis=1)  # [T, S, A, S']
    destinations = np.einsum("tsad,ap->tpd", movers, onehot)
    split = np.einsum("tas,ap->tps", tally.joined.sum(axis=2), onehot)
    usual = np.zeros(tally.steps.shape[-1], bool)
    usual[min(1, usual.size - 1)] = True
    unusual_steps = tally.steps[..., ~usual].sum(axis=-1)  # [T, A]
    return {
        "leave": (left @ onehot, at @ onehot),
        "move": (movers.sum(axis=-1) @ onehot, (at - left) @ onehot),
        "destination": (destinations, _shares_trials(destinations)),
        "need_change": (
            tally.need_changed_to.sum(axis=(1, 4)) @ onehot,
            tally.after_move.sum(axis=1) @ onehot,
        ),
        "join": (split.sum(axis=-1), tally.heads @ onehot),
        "join_split": (split, _shares_trials(split)),
        "steps": (unusual_steps @ onehot, tally.steps.sum(axis=-1) @ onehot),
    }


def _shares_trials(counts: FloatArray) -> FloatArray:
    return np.broadcast_to(counts.sum(axis=-1, keepdims=True), counts.shape).copy()


# --------------------------------------------------------------------------------------------
# Prior strength: the inner back-test


def inner_scores(
    tally: YearlyTally, space: StateSpace, decay: float | None = None
) -> dict[float, float]:
    """Mean one-year-ahead settings split error (%) of each prior strength over the tally's
    own years (each fitted on the years before it); empty with one year."""
    totals = dict.fromkeys(PRIOR_STRENGTHS, 0.0)
    origins = tally.years[1:]
    for origin in origins:
        earlier = tally.before(origin)
        drift = measure_drift(earlier, space, decay)
        weighted = WeightedTally.of(
            earlier, FitChoices(drift, 0.0, {}).plan(earlier, origin).weights
        )
        truth = SettingFlows.observed(tally, origin).end
        for kappa in PRIOR_STRENGTHS:
            posterior = fit_weighted(weighted, space, kappa)
            totals[kappa] += SettingFlows.expected(posterior, tally, origin).split_error(truth)
    return {kappa: total / len(origins) for kappa, total in totals.items()} if origins else {}


@dataclass(frozen=True)
class SettingFlows:
    """One year's flows by setting ``[S]``: the January's children, and who leaves, moves out,
    moves in and joins by the next."""

    start: FloatArray
    leavers: FloatArray
    movers_out: FloatArray
    movers_in: FloatArray
    joiners: FloatArray

    @property
    def end(self) -> FloatArray:
        return self.start - self.leavers - self.movers_out + self.movers_in + self.joiners

    def split_error(self, truth: FloatArray) -> float:
        """Sum over settings of |projected - actual| over the actual total, in %."""
        total = float(truth.sum())
        return 100.0 * float(np.abs(self.end - truth).sum()) / total if total else 0.0

    @classmethod
    def observed(cls, tally: YearlyTally, year: int) -> SettingFlows:
        t = tally.years.index(year)
        moved = tally.moved_to[t]  # [N, S, A, S']
        return cls(
            tally.at[t].sum(axis=(0, 2)),
            tally.left[t].sum(axis=(0, 2)),
            moved.sum(axis=(0, 2, 3)),
            moved.sum(axis=(0, 1, 2)),
            tally.joined[t].sum(axis=(0, 1)),
        )

    @classmethod
    def expected(cls, posterior: Posterior, tally: YearlyTally, year: int) -> SettingFlows:
        """The posterior means' flows from the year's observed January and population."""
        t = tally.years.index(year)
        start = tally.at[t]  # [N, S, A]
        leavers = start * posterior.leave.mean
        movers = (start - leavers) * posterior.move.mean
        arriving = movers[..., None] * posterior.destination.mean
        per_head = tally.population[t] * posterior.join.mean  # as a projected year: no peeking
        joiners = per_head[:, None] * posterior.join_split.mean
        _, s, _ = start.shape
        return cls(
            start.sum(axis=(0, 2)),
            leavers.sum(axis=(0, 2)),
            movers.sum(axis=(0, 2)),
            arriving.sum(axis=(0, 1, 2)),
            joiners.reshape(joiners.shape[0], -1, s).sum(axis=(0, 1)),
        )
