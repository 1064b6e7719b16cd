"""Transition rates learnt from the history: yearly tallies, pooling chains and posteriors.

Every rate is estimated from the transitions (one row per child per year) and shrunk towards a
pooled rate, so that a state seen a few times does not get a rate of exactly 0 or 1 and a state
never seen borrows the rate of its neighbours instead of projecting zero. Each level of a chain
is the weighted count plus ``prior_strength`` children's worth of its parent's rate (see
:mod:`matcher.forecast.model` for the chains). The history is tallied once a year
(:class:`YearlyTally`), so that each part of the model can weigh the years its own way
(:func:`matcher.forecast.recency.choose`) and the inner back-test can refit on earlier years
without reading the transitions again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from matcher.forecast.space import (
    StateSpace,
    destination_allowed,
    next_year_ok,
    population_by_ncy,
)
from matcher.forecast.types import NONSEND, ForecastInputs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The parts of the model whose rates are fitted apart: each weighs the years and drifts by
#: its own measure (:mod:`matcher.forecast.recency`).
COMPONENTS = ("leave", "move", "destination", "need_change", "join", "join_split", "steps")


# --------------------------------------------------------------------------------------------
# Yearly tallies


@dataclass(frozen=True)
class YearlyTally:
    """What the history's children did, counted per transition year on the dense axes.

    Every array has the transition years as its first axis ``[T, ...]`` (``years[t]`` is the
    calendar year of the children's first January).
    """

    years: tuple[int, ...]
    at: FloatArray  # [T, N, S, A] children in the state (not joiners)
    left: FloatArray  # [T, N, S, A]
    moved_to: FloatArray  # [T, N, S, A, S'] setting changes
    after_move: FloatArray  # [T, N, S, A] survivors by state after any setting change
    need_changed_to: FloatArray  # [T, N, S, A, N'] need changes, by state after the move
    steps: FloatArray  # [T, A, D]
    joined: FloatArray  # [T, A, N, S]
    population: FloatArray  # [T, A] general population of the January the joiners arrived in
    heads: FloatArray  # [T, A] the population, or the joiners where the table has fewer

    def before(self, year: int) -> YearlyTally:
        """The tally of the transition years before ``year`` (an inner back-test's fit)."""
        keep = np.array([y < year for y in self.years], bool)
        return YearlyTally(
            tuple(y for y in self.years if y < year),
            self.at[keep],
            self.left[keep],
            self.moved_to[keep],
            self.after_move[keep],
            self.need_changed_to[keep],
            self.steps[keep],
            self.joined[keep],
            self.population[keep],
            self.heads[keep],
        )

    def age(self, base: int) -> FloatArray:
        """``[T]`` years between each transition year and the last before ``base`` (0)."""
        return (base - 1 - np.array(self.years, np.float64)).astype(np.float64)


def tally_by_year(frame: pd.DataFrame, inputs: ForecastInputs, space: StateSpace) -> YearlyTally:
    """Count the transitions of ``frame`` per year (every row counts once)."""
    n, s, a = space.shape
    years = tuple(sorted(int(y) for y in frame["calendar_year"].unique()))
    t = np.searchsorted(np.array(years, np.int64), frame["calendar_year"].to_numpy(np.int64))
    count = _Counter(len(years), t)
    # Labels to indices once per column (NONSEND becomes -1, and is masked out below).
    s1, s2 = (_indices(space.settings, frame[f"setting_{i}"]) for i in (1, 2))
    n1, n2 = (_indices(space.needs, frame[f"need_{i}"]) for i in (1, 2))
    a1 = frame["academic_year_1"].to_numpy(np.int64) - space.first_ncy
    a2 = frame["academic_year_2"].to_numpy(np.int64) - space.first_ncy
    joiner = (frame["setting_1"] == NONSEND).to_numpy()
    leaver = (frame["setting_2"] == NONSEND).to_numpy()
    here, stays, joins = ~joiner, ~joiner & ~leaver, joiner & ~leaver
    k1 = (n1 * s + s1) * a + a1
    at = count(k1, here, space.size).reshape(-1, n, s, a)
    left = count(k1, here & leaver, space.size).reshape(-1, n, s, a)
    step = np.clip(a2 - a1, 0, None)
    moved_to = count((((n1 * s + s1) * a + a1) * s) + s2, stays & (s1 != s2), space.size * s)
    k_after = (n1 * s + s2) * a + a1
    after_move = count(k_after, stays, space.size).reshape(-1, n, s, a)
    need_changed_to = count(k_after * n + n2, stays & (n1 != n2), space.size * n)
    longest = int(step[stays].max(initial=1)) + 1
    steps = count(a1 * longest + step, stays, a * longest).reshape(-1, a, longest)
    k2 = (n2 * s + s2) * a + a2
    joined = count(k2, joins, space.size).reshape(-1, n, s, a).transpose(0, 3, 1, 2)
    population = population_by_ncy(inputs, [y + 1 for y in years], space, "history's").astype(
        np.float64
    )
    # A joiner in an NC year the population table lacks still counts as one of its heads.
    heads = np.maximum(population, joined.sum(axis=(2, 3)))
    return YearlyTally(
        years,
        at,
        left,
        moved_to.reshape(-1, n, s, a, s),
        after_move,
        need_changed_to.reshape(-1, n, s, a, n),
        steps,
        np.ascontiguousarray(joined),
        population,
        heads,
    )


@dataclass(frozen=True)
class _Counter:
    """Per-year bincounts of flat indices over the rows a mask selects."""

    n_years: int
    year_index: IntArray

    def __call__(self, index: IntArray, rows: BoolArray, size: int) -> FloatArray:
        flat = self.year_index[rows] * size + index[rows]
        counts = np.bincount(flat, minlength=self.n_years * size).astype(np.float64)
        return counts.reshape(self.n_years, size)


def _indices(labels: tuple[str, ...], column: pd.Series) -> IntArray:
    return np.asarray(pd.Index(labels).get_indexer(pd.Index(column)), np.int64)


def weighed(counts: FloatArray, weights: FloatArray) -> FloatArray:
    """Counts summed over the years, each year's times its weight."""
    return np.tensordot(weights, counts, axes=(0, 0))


# --------------------------------------------------------------------------------------------
# Fitting


@dataclass(frozen=True)
class FitPlan:
    """How the fit weighs each component's years (``weights[c]``, one weight per transition
    year of the tally) and how strongly sparse states borrow from their neighbours."""

    weights: Mapping[str, FloatArray]
    prior_strength: float


@dataclass(frozen=True)
class WeightedTally:
    """The tally summed over its years, each part with its own weights (what the chains need;
    the inner back-test fits it once per prior strength)."""

    left: FloatArray  # [N, S, A]
    at: FloatArray  # [N, S, A] (leave's weights)
    moved_to: FloatArray  # [N, S, A, S'] (move's weights)
    staying: FloatArray  # [N, S, A] at - left (move's weights)
    destinations: FloatArray  # [N, S, A, S'] (destination's weights)
    need_changed_to: FloatArray  # [N, S, A, N']
    after_move: FloatArray  # [N, S, A]
    joined: FloatArray  # [A] (join's weights)
    heads: FloatArray  # [A]
    split: FloatArray  # [A, N, S] (join_split's weights)
    steps: FloatArray  # [A, D]

    @classmethod
    def of(cls, tally: YearlyTally, weights: Mapping[str, FloatArray]) -> WeightedTally:
        w = weights
        return cls(
            weighed(tally.left, w["leave"]),
            weighed(tally.at, w["leave"]),
            weighed(tally.moved_to, w["move"]),
            weighed(tally.at - tally.left, w["move"]),
            weighed(tally.moved_to, w["destination"]),
            weighed(tally.need_changed_to, w["need_change"]),
            weighed(tally.after_move, w["need_change"]),
            weighed(tally.joined, w["join"]).sum(axis=(1, 2)),
            weighed(tally.heads, w["join"]),
            weighed(tally.joined, w["join_split"]),
            weighed(tally.steps, w["steps"]),
        )


def fit(tally: YearlyTally, space: StateSpace, plan: FitPlan) -> Posterior:
    """Posteriors of every rate from the tally weighed as ``plan`` says."""
    return fit_weighted(WeightedTally.of(tally, plan.weights), space, plan.prior_strength)


def fit_weighted(tally: WeightedTally, space: StateSpace, kappa: float) -> Posterior:
    """Posteriors of every rate (forced where the rules leave no choice)."""
    phase = space.phase_of
    n = len(space.needs)
    leave = _beta_chain(tally.left, tally.at, phase, kappa)
    move = _beta_chain(tally.moved_to.sum(axis=-1), tally.staying, phase, kappa)
    allowed = destination_allowed(space)
    destination = _destination_chain(tally.destinations, allowed, phase, kappa)
    need_change = _beta_chain(tally.need_changed_to.sum(axis=-1), tally.after_move, phase, kappa)
    need_destination = _dirichlet_flat(
        tally.need_changed_to.sum(axis=(1, 2)), ~np.eye(n, dtype=bool), kappa
    )
    join = _beta_chain_ncy(tally.joined, tally.heads, phase, kappa)
    valid = space.valid.transpose(2, 0, 1)
    join_split = _join_split_chain(tally.split, valid, phase, kappa)
    steps = _steps(tally.steps, kappa)
    posterior = Posterior(
        leave, move, destination, need_change, need_destination, join, join_split, steps
    )
    return _forced(posterior, space, allowed)


def _forced(posterior: Posterior, space: StateSpace, allowed: BoolArray) -> Posterior:
    """Where the rules force a child on: staying is impossible next year -> must move; nowhere
    to move as well -> must leave. With no destination, nobody moves. A state whose movers'
    destinations were never seen (no mover of its NC year or phase went anywhere it may go,
    e.g. every mover went to its own setting): its movers go to any allowed setting alike,
    not to whichever setting happens to be last."""
    stay_ok = next_year_ok(space)
    has_destination: BoolArray = np.asarray(allowed.any(axis=-1))
    move = _force(posterior.move, ~has_destination, 0.0)
    move = _force(move, np.logical_and(~stay_ok, has_destination), 1.0)
    leave = _force(posterior.leave, np.logical_and(~stay_ok, ~has_destination), 1.0)
    destination = posterior.destination
    unseen = np.logical_and(destination.mean.sum(axis=-1) == 0, has_destination)
    destination = Dirichlet(
        np.where(unseen[..., None], 0.0, destination.alpha),
        np.where(unseen[..., None], normalised(allowed.astype(np.float64)), destination.mean),
    )
    return Posterior(
        leave,
        move,
        destination,
        posterior.need_change,
        posterior.need_destination,
        posterior.join,
        posterior.join_split,
        posterior.steps,
    )


def _bins(index: IntArray, weight: FloatArray, size: int) -> FloatArray:
    return np.bincount(index, weights=weight, minlength=size).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Posteriors


@dataclass(frozen=True)
class Beta:
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
class Dirichlet:
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
            drawn[:, rows] = normalised(gamma)
        return drawn.reshape(sims, *self.mean.shape)


@dataclass(frozen=True)
class Posterior:
    leave: Beta  # [N, S, A]
    move: Beta  # [N, S, A]
    destination: Dirichlet  # [N, S, A, S']
    need_change: Beta  # [N, S, A], at the setting after any move
    need_destination: Dirichlet  # [N, N']
    join: Beta  # [A] per head of general population
    join_split: Dirichlet  # [A, N * S]
    steps: FloatArray  # [A, D] probability of ageing d NC years, d = 0 .. D-1


# --------------------------------------------------------------------------------------------
# The pooling chains


def _force(rate: Beta, where: BoolArray, value: float) -> Beta:
    """Pin a rate (no uncertainty) where the rules leave no choice."""
    return Beta(
        np.where(where, value, rate.alpha),
        np.where(where, 1.0 - value, rate.beta),
        np.where(where, value, rate.mean),
    )


def _shrink(events: FloatArray, trials: FloatArray, prior: FloatArray, kappa: float) -> FloatArray:
    """One level of the chain: the level's frequency pulled towards its parent's rate."""
    denominator = trials + kappa
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, (events + kappa * prior) / safe, prior)


def _beta_chain(events: FloatArray, trials: FloatArray, phase: IntArray, kappa: float) -> Beta:
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
    return Beta(alpha, beta, mean)


def _beta_chain_ncy(events: FloatArray, trials: FloatArray, phase: IntArray, kappa: float) -> Beta:
    """Rates per NC year: all -> phase -> NC year (joiners per head)."""
    total = trials.sum()
    overall = events.sum() / total if total > 0 else 0.0
    phase_e = _bins(phase, events, int(phase.max()) + 1)
    phase_t = _bins(phase, trials, int(phase.max()) + 1)
    by_phase = _shrink(phase_e, phase_t, np.full(phase_e.shape, overall), kappa)[phase]
    alpha = events + kappa * by_phase
    beta = np.clip(trials - events, 0, None) + kappa * (1.0 - by_phase)
    return Beta(alpha, beta, _shrink(events, trials, by_phase, kappa))


def normalised(weights: FloatArray) -> FloatArray:
    total = weights.sum(axis=-1, keepdims=True)
    return weights / np.where(total > 0, total, 1.0)


def _shrink_distribution(counts: FloatArray, prior: FloatArray, kappa: float) -> FloatArray:
    """Counts over the last axis pulled towards a prior distribution, renormalised."""
    total = counts.sum(axis=-1, keepdims=True)
    if kappa == 0:
        return np.where(total > 0, normalised(counts), prior)
    return normalised(counts + kappa * prior)


def _destination_chain(
    moved_to: FloatArray, allowed: BoolArray, phase: IntArray, kappa: float
) -> Dirichlet:
    """Movers' new settings: all -> phase -> NC year -> setting x NC year -> state."""
    s = moved_to.shape[1]
    by_ncy_counts = moved_to.sum(axis=(0, 1))  # [A, S']
    overall = normalised(by_ncy_counts.sum(axis=0))
    phase_counts = np.zeros((phase.max() + 1, s))
    np.add.at(phase_counts, phase, by_ncy_counts)
    by_phase = _shrink_distribution(phase_counts, overall[None], kappa)
    by_ncy = _shrink_distribution(by_ncy_counts, by_phase[phase], kappa)
    not_self = ~np.eye(s, dtype=bool)[:, None, :]  # [S, 1, S']
    prior_sa = normalised(by_ncy[None] * not_self)
    by_setting_ncy = _shrink_distribution(moved_to.sum(axis=0), prior_sa, kappa)  # [S, A, S']
    prior = normalised(by_setting_ncy[None] * allowed)
    counts = moved_to * allowed
    mean = _shrink_distribution(counts, prior, kappa) * allowed
    return Dirichlet(counts + kappa * prior, normalised(mean))


def _dirichlet_flat(counts: FloatArray, allowed: BoolArray, kappa: float) -> Dirichlet:
    """Rows of counts shrunk to the pooled distribution of all rows (need changes)."""
    pooled = normalised(counts.sum(axis=0))
    prior = normalised(pooled[None] * allowed)
    counts = counts * allowed
    mean = normalised(_shrink_distribution(counts, prior, kappa) * allowed)
    return Dirichlet(counts + kappa * prior, mean)


def _join_split_chain(
    joined: FloatArray, valid: BoolArray, phase: IntArray, kappa: float
) -> Dirichlet:
    """Joiners' need x setting by NC year: all joiners -> phase -> NC year."""
    a = joined.shape[0]
    counts = joined.reshape(a, -1)
    allowed = valid.reshape(a, -1)
    overall = normalised(counts.sum(axis=0))
    phase_counts = np.zeros((phase.max() + 1, counts.shape[1]))
    np.add.at(phase_counts, phase, counts)
    by_phase = _shrink_distribution(phase_counts, overall[None], kappa)
    prior = normalised(by_phase[phase] * allowed)
    counts = counts * allowed
    mean = normalised(_shrink_distribution(counts, prior, kappa) * allowed)
    return Dirichlet(counts + kappa * prior, mean)


def _steps(counts: FloatArray, kappa: float) -> FloatArray:
    """Ageing steps by NC year, pooled towards all NC years' (never-seen steps stay 0)."""
    pooled = normalised(counts.sum(axis=0))
    if not pooled.any():
        pooled = np.zeros(counts.shape[1])
        pooled[min(1, counts.shape[1] - 1)] = 1.0
    return _shrink_distribution(counts, np.broadcast_to(pooled, counts.shape), kappa)
