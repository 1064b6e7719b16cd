"""Every English LA's EHC plans in the Januaries ahead, from the DfE's published statistics.

A cohort-component model by age band (:data:`~matcher.forecast.dfe_statistics.AGE_BANDS`):
each year the plans of a band age on (the share of the band at its top age moves to the next
band; at 25 they end), and each band gains the LA's net new plans of that age (new plans less
ceased ones) as a rate per plan the LA holds. The statistics give only January counts, so
new and ceased plans are not separate: their difference is what the counts show.

Rates are pooled across LAs, because one LA's year is noisy (a small LA such as Rutland, with
about 300 plans, moves by 10% on 30 plans): a band's rate is England's latest rate plus a
share of its region's difference from England plus the LA's own difference from its region,
averaged over its last :attr:`LaModelConfig.effect_years` years and shrunk by how much of it is
noise: the weight is tau / (tau + the LA's noise variance / years), the noise larger the fewer
plans the LA holds (:func:`_noise_variance`). The region's share and tau are learnt, by band,
from how well LAs' past differences foretold the following year's (:func:`_learned_strength`;
the method of moments when the history is too short): on these statistics an LA's difference
from England carries over only partly, and the spread of LAs' means alone overstates it.

Intervals come from the model's own uncertainty: England's rates move as they have from year
to year (a random walk with the covariance of their past changes), the LA's own difference is
drawn from its posterior, and each year adds the LA's year-to-year noise (correlated across
bands as the residuals are). Then the spread is calibrated against what happened
(:mod:`matcher.forecast.la_intervals`): the same model is run from the Januaries before the
origin, and the errors it made there set the size of the intervals, the model's own spread
only which LAs are more uncertain than others. The central projection is the median of the
simulations (the back-test scores it).

When a January has a total but no ages (January 2023 in the 2025 release, Hackney in 2024),
its ages are estimated: the year before aged one year with England's latest rates, scaled to
the known total. Only January 2015 on is learnt from: plans for 20 to 25-year-olds began
with the 2014 reforms, and statements were converted until 2018.

Where the user gives the LA's population by age (:mod:`matcher.forecast.la_population`), each
band's net new plans also follow it: they are scaled by how far the band's population is above
or below where it would be had it kept growing as in the years the LA's rates were learnt from
(:attr:`Fitted.population_factor`). The split by type of setting is
:mod:`matcher.forecast.la_settings`, a planner's tables :mod:`matcher.forecast.la_forecast`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize

from matcher.forecast.dfe_statistics import (
    AGE_BAND_RANGES,
    AGE_BANDS,
    ENGLAND,
    LA,
    EhcpStatistics,
)

BANDS = len(AGE_BANDS)
#: The widest interval the model reports, and the quantiles of it.
INTERVAL = 0.95
_LOW, _HIGH = (1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2
#: The calibration never shrinks intervals below half or widens them beyond four times the
#: model's own: outside that the model itself is wrong and should be fixed, not scaled.
CALIBRATION_RANGE = (0.5, 4.0)


@dataclass(frozen=True)
class LaModelConfig:
    """The model's settings; the defaults are those the back-test reports.

    Attributes
    ----------
    effect_years
        Years of an LA's own rates behind its difference from England.
    national_years
        Past changes of England's rates behind the spread of their future changes.
    calibration_origins
        The most earlier Januaries whose errors size the intervals (at each horizon; see
        :mod:`matcher.forecast.la_intervals`).
    learning_years
        Years whose LA differences are foretold from the years before them, to learn how
        strongly to pool LAs.
    n_simulations
        Simulated futures behind the intervals.
    seed
        The same seed gives the same intervals.
    first_year
        The first January the model learns from: 2015, the first with plans of 20 to 25-year
        olds (the 2014 reforms), as the statements of SEN were being converted to plans.
    """

    effect_years: int = 3
    national_years: int = 5
    calibration_origins: int = 6
    learning_years: int = 3
    n_simulations: int = 1000
    seed: int = 42
    first_year: int = 2015

    def __post_init__(self) -> None:
        for name in (
            "effect_years",
            "national_years",
            "calibration_origins",
            "learning_years",
            "n_simulations",
        ):
            if getattr(self, name) < 1:
                msg = f"{name} must be 1 or more"
                raise ValueError(msg)


@dataclass(frozen=True)
class Cohorts:
    """Every LA's plans by age band each January, as the statistics give them (NaN unknown).

    ``plans`` is LAs x bands x years, ``totals`` LAs x years; ``region`` the index of each
    LA's region in ``region_codes``.
    """

    codes: tuple[str, ...]
    region: np.ndarray
    region_codes: tuple[str, ...]
    years: tuple[int, ...]
    plans: np.ndarray
    totals: np.ndarray
    single_ages: dict[int, np.ndarray]  # England's plans by single age (0-25), by January

    def index(self, year: int) -> int:
        return self.years.index(year)


@dataclass(frozen=True)
class Fitted:
    """The model at one origin, for every LA (arrays are LAs x bands unless said)."""

    origin: int
    ageing: np.ndarray  # bands x bands: next January's plans from this January's, before rates
    start: np.ndarray  # plans by band in the origin January (estimated where not known)
    has_start: np.ndarray  # LAs with a total in the origin January
    national: np.ndarray  # bands: England's latest net rate per plan
    national_step: np.ndarray  # bands x bands: covariance of a year's change of England's rates
    effect: np.ndarray  # the LA's pooled difference from England
    effect_sd: np.ndarray
    noise_sd: np.ndarray
    noise_correlation: np.ndarray  # bands x bands
    weight: np.ndarray  # how much of its own difference each LA keeps (0-1)
    own_years: np.ndarray  # LAs: years of its own rates behind its difference
    # LAs x years ahead x bands: net new plans scaled by the population's departure from its
    # past growth (None: the statistics' own age structure alone, as for LAs without one)
    population_factor: np.ndarray | None = None


@dataclass(frozen=True)
class Projection:
    """Simulated futures of every LA: ``plans`` is simulations x LAs x years ahead x bands."""

    origin: int
    codes: tuple[str, ...]
    years: tuple[int, ...]
    plans: np.ndarray
    start: np.ndarray  # LAs x bands, the origin January
    scale: np.ndarray  # the calibration applied at each horizon
    fitted: Fitted
    raw_totals: np.ndarray  # simulations x LAs x years ahead, before the calibration: for sums

    def totals(self) -> np.ndarray:
        """Simulations x LAs x years ahead."""
        return self.plans.sum(axis=3)


# --------------------------------------------------------------------------------------------
# The data as arrays


def cohorts(statistics: EhcpStatistics) -> Cohorts:
    """The statistics' LAs as arrays: every LA with a total in some January."""
    las = statistics.areas[statistics.areas["level"] == LA].dropna(subset=["last_year"])
    codes = tuple(sorted(las["code"]))
    region_of = las.set_index("code")["region_code"]
    region_codes = tuple(sorted(set(region_of)))
    region = np.array([region_codes.index(region_of[c]) for c in codes])
    years = tuple(range(int(statistics.totals["year"].min()), statistics.last_year + 1))
    row = {c: n for n, c in enumerate(codes)}
    plans = np.full((len(codes), BANDS, len(years)), np.nan)
    ages = statistics.by_age[statistics.by_age["code"].isin(row)]
    plans[
        ages["code"].map(row).to_numpy(),
        ages["age_band"].map(AGE_BANDS.index).to_numpy(),
        ages["year"].to_numpy() - years[0],
    ] = ages["plans"].to_numpy(dtype=float)
    totals = np.full((len(codes), len(years)), np.nan)
    found = statistics.totals[statistics.totals["code"].isin(row)]
    totals[found["code"].map(row).to_numpy(), found["year"].to_numpy() - years[0]] = found[
        "plans"
    ].to_numpy(dtype=float)
    return Cohorts(codes, region, region_codes, years, plans, totals, _england_ages(statistics))


def _england_ages(statistics: EhcpStatistics) -> dict[int, np.ndarray]:
    single = statistics.by_single_age
    single = single[single["code"] == ENGLAND].dropna(subset=["plans"])
    out: dict[int, np.ndarray] = {}
    for year, age, plans in zip(single["year"], single["age"], single["plans"], strict=True):
        counts = out.setdefault(int(year), np.zeros(26))
        counts[int(age) if int(age) >= 0 else 2] += plans  # "under 3" (ages 0-2) as age 2
    return out


def ageing_matrix(data: Cohorts, origin: int, england_bands: np.ndarray) -> np.ndarray:
    """Bands x bands: where a band's plans are a year later if none start or end, but at 25.

    The share of a band at its top age moves on: from England's single years of age in the
    latest January at or before ``origin`` that has them, else from England's bands, assuming
    the plans per year of age change linearly between the middles of neighbouring bands.
    """
    years = [y for y in data.single_ages if y <= origin]
    if years:
        ages = data.single_ages[max(years)]
        top = np.array(
            [ages[last] / max(ages[first : last + 1].sum(), 1.0) for first, last in AGE_BAND_RANGES]
        )
    else:
        top = _top_shares(england_bands)
    matrix = np.diag(1.0 - top)
    for band in range(BANDS - 1):
        matrix[band + 1, band] = top[band]
    return matrix


def _top_shares(bands: np.ndarray) -> np.ndarray:
    widths = np.array([last - first + 1 for first, last in AGE_BAND_RANGES], dtype=float)
    middles = np.array([(first + last + 1) / 2 for first, last in AGE_BAND_RANGES])
    density = np.maximum(bands, 1.0) / widths
    shares = np.empty(BANDS)
    for band, (first, last) in enumerate(AGE_BAND_RANGES):
        ages = np.arange(first, last + 1) + 0.5
        per_age = np.clip(np.interp(ages, middles, density), 1e-9, None)
        shares[band] = per_age[-1] / per_age.sum()
    return shares


def filled_plans(data: Cohorts, last: int, ageing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plans by band in every January up to index ``last``, ages estimated where only the
    total is known; and the totals (the sum of the bands where the total is not given)."""
    plans = data.plans[:, :, : last + 1].copy()
    totals = data.totals[:, : last + 1].copy()
    known = np.isfinite(plans).all(axis=1)
    sums = np.where(known, np.nansum(plans, axis=1), np.nan)
    totals = np.where(np.isfinite(totals), totals, sums)
    ratio = np.where(known & (sums > 0), totals / np.where(sums > 0, sums, 1.0), 1.0)
    plans = plans * ratio[:, None, :]  # plans of unknown age (Hackney 2024) shared out by age
    rates = np.zeros(BANDS)
    for k in range(1, last + 1):
        both = known[:, k - 1] & known[:, k]
        if both.any():
            before, after = plans[both, :, k - 1], plans[both, :, k]
            rates = (after - before @ ageing.T).sum(axis=0) / max(before.sum(), 1.0)
        need = ~known[:, k] & np.isfinite(totals[:, k]) & known[:, k - 1]
        if need.any():
            before = plans[need, :, k - 1]
            guess = np.clip(before @ ageing.T + rates * before.sum(axis=1, keepdims=True), 0, None)
            plans[need, :, k] = _scaled(guess, totals[need, k])
            known[need, k] = True
    for k in range(last - 1, -1, -1):  # Januaries before an LA's first ages: its first shares
        need = ~known[:, k] & np.isfinite(totals[:, k]) & known[:, k + 1]
        if need.any():
            plans[need, :, k] = _scaled(plans[need, :, k + 1], totals[need, k])
            known[need, k] = True
    plans[~known[:, None, :].repeat(BANDS, axis=1)] = np.nan
    return plans, totals


def _scaled(bands: np.ndarray, totals: np.ndarray) -> np.ndarray:
    sums = bands.sum(axis=1, keepdims=True)
    shares = np.where(sums > 0, bands / np.where(sums > 0, sums, 1.0), 1.0 / BANDS)
    return shares * totals[:, None]


# --------------------------------------------------------------------------------------------
# Fitting


def fit(data: Cohorts, origin: int, config: LaModelConfig | None = None) -> Fitted:
    """The model from the Januaries up to ``origin`` (nothing later is looked at)."""
    config = config or LaModelConfig()
    last = data.index(origin)
    ageing = ageing_matrix(data, origin, np.nansum(data.plans[:, :, last], axis=0))
    plans, _ = filled_plans(data, last, ageing)
    ageing = ageing_matrix(data, origin, np.nansum(plans[:, :, last], axis=0))
    plans, _ = filled_plans(data, last, ageing)
    span = max(config.effect_years + config.learning_years, config.national_years + 1)
    floor = data.index(config.first_year) if config.first_year in data.years else 0
    first = max(last - span, floor)
    if last - first < 1:
        msg = (
            f"January {origin}: the model needs a January of {config.first_year} or later before it"
        )
        raise ValueError(msg)
    rates, national = _rates(plans, ageing, first, last)
    differences = rates - national[:, None, :]  # years x LAs x bands
    start = plans[:, :, last]
    # the plans each LA held in the years its rates come from: its noise is against these
    held = plans[:, :, max(last - config.effect_years, 0) : last].sum(axis=1)
    with np.errstate(invalid="ignore"):
        exposure = np.nan_to_num(_nan(np.nanmean, np.where(held > 0, held, np.nan), axis=1))
    # a new LA (North Northamptonshire in 2022) has no years before: its plans now
    exposure = np.where(exposure > 0, exposure, np.nan_to_num(start.sum(axis=1)))
    strength = _learned_strength(differences, exposure, data.region, config.effect_years)
    recent = _Differences.of(differences[-config.effect_years :], exposure, data.region)
    steps = np.diff(national[-(config.national_years + 1) :], axis=0)
    national_step = steps.T @ steps / len(steps) if len(steps) else np.zeros((BANDS, BANDS))
    has_start = np.isfinite(start).all(axis=1) & (start.sum(axis=1) > 0)
    return Fitted(
        origin=origin,
        ageing=ageing,
        start=np.where(has_start[:, None], start, 0.0),
        has_start=has_start,
        national=national[-1],
        national_step=national_step,
        **recent.pooled(strength or recent.moment_strength()),
    )


def _rates(
    plans: np.ndarray, ageing: np.ndarray, first: int, last: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each LA's net new plans per plan held, by band, in each year from ``first`` to
    ``last`` (years x LAs x bands), and England's (years x bands)."""
    las, years = [], []
    for k in range(first, last):
        before, after = plans[:, :, k], plans[:, :, k + 1]
        held = before.sum(axis=1, keepdims=True)
        net = after - before @ ageing.T
        with np.errstate(invalid="ignore", divide="ignore"):
            las.append(np.where(held > 0, net / held, np.nan))
        both = np.isfinite(net).all(axis=1) & (held[:, 0] > 0)
        years.append(net[both].sum(axis=0) / max(held[both].sum(), 1.0))
    return np.array(las), np.array(years)


#: How strongly LAs are pooled: a share of the region's difference (regions x bands, or
#: bands) and the variance of LAs' own persistent differences beyond noise (bands).
Strength = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Differences:
    """LAs' differences from England's rates over some years, split into their region's
    mean and their own part, with the noise of each (arrays LAs x bands)."""

    deviation: np.ndarray  # years x LAs x bands
    years: np.ndarray  # years seen
    mean: np.ndarray  # the LA's mean difference
    region_mean: np.ndarray  # its region's mean of those, for each LA
    region_means: np.ndarray  # regions x bands
    region_counts: np.ndarray  # regions x bands: LAs seen
    region: np.ndarray  # index of each LA's region in region_means
    noise: np.ndarray  # the variance of one year's difference
    sampling: np.ndarray  # the variance of the mean difference

    @classmethod
    def of(cls, deviation: np.ndarray, exposure: np.ndarray, region: np.ndarray) -> _Differences:
        years = np.isfinite(deviation).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.where(years > 0, np.nansum(deviation, axis=0) / np.maximum(years, 1), np.nan)
            spread = (
                _nan(np.nanmean, (deviation - mean) ** 2, axis=0) * years / np.maximum(years - 1, 1)
            )
        spread = np.where(years > 1, spread, np.nan)
        held = np.maximum(exposure, 1.0)[:, None]
        noise = _noise_variance(spread, held[:, 0])
        codes, index = np.unique(region, return_inverse=True)
        seen = np.isfinite(mean)
        counts = np.array([seen[index == r].sum(axis=0) for r in range(len(codes))])
        sums = np.array([np.nansum(mean[index == r], axis=0) for r in range(len(codes))])
        region_means = sums / np.maximum(counts, 1)
        return cls(
            deviation=deviation,
            years=years,
            mean=mean,
            region_mean=region_means[index],
            region_means=region_means,
            region_counts=counts,
            region=index,
            noise=noise,
            sampling=noise / np.maximum(years, 1),
        )

    @property
    def within(self) -> np.ndarray:
        return self.mean - self.region_mean

    def moment_strength(self) -> Strength:
        """The strength by the method of moments (empirical Bayes), when there are too few
        years to learn it: the variance of LAs' means beyond their sampling noise."""
        seen = self.years > 0
        tau = np.maximum(
            _nan(np.nanvar, self.within, axis=0)
            - _nan(np.nanmean, np.where(seen, self.sampling, np.nan), axis=0),
            1e-10,
        )
        region_noise = (tau + _nan(np.nanmean, self.sampling, axis=0)) / np.maximum(
            self.region_counts, 1
        )
        region_tau = np.maximum(
            _nan(np.nanvar, self.region_means, axis=0) - region_noise.mean(axis=0), 1e-10
        )
        return region_tau / (region_tau + region_noise), tau

    def guess(self, region_weight: np.ndarray | float, tau: np.ndarray | float) -> np.ndarray:
        """Each LA's pooled difference for a strength."""
        weight = np.where(self.years > 0, tau / (tau + self.sampling), 0.0)
        return region_weight * self.region_mean + weight * np.nan_to_num(self.within)

    def pooled(self, strength: Strength) -> dict[str, np.ndarray]:
        """The fitted LA effects and their uncertainty (see :class:`Fitted`)."""
        region_weight, tau = strength
        if np.ndim(region_weight) == 2:
            region_weight = region_weight[self.region]
        seen = self.years > 0
        weight = np.where(seen, tau / (tau + self.sampling), 0.0)
        region_sd = np.sqrt(_nan(np.nanvar, self.region_means, axis=0))
        effect_sd = np.sqrt(np.where(seen, weight * self.sampling, tau + region_sd**2))
        residual = (self.deviation - self.mean) / np.sqrt(
            np.where(self.noise > 0, self.noise, np.nan)
        )
        flat = residual.reshape(-1, BANDS)
        flat = flat[np.isfinite(flat).all(axis=1)]
        correlation = np.corrcoef(flat.T) if len(flat) > BANDS else np.eye(BANDS)
        correlation = np.where(np.isfinite(correlation), correlation, np.eye(BANDS))
        return {
            "effect": self.guess(region_weight, tau),
            "effect_sd": effect_sd,
            "noise_sd": np.sqrt(self.noise),
            "noise_correlation": _nearest_correlation(correlation),
            "weight": weight,
            "own_years": self.years.min(axis=1),
        }


def _noise_variance(spread: np.ndarray, held: np.ndarray, bins: int = 6) -> np.ndarray:
    """One year's variance of each LA's rates (LAs x bands): a part the same for every LA
    (policy, tribunals, a backlog cleared: an LA of 5,000 plans moves about as much in
    proportion as one of 1,000) and a part inversely proportional to the plans it holds
    (chance), fitted by band to the median spread of LAs grouped by size, so that a few LAs'
    breaks do not set it."""
    out = np.zeros_like(spread)
    known = np.isfinite(spread)
    for band in range(spread.shape[1]):
        rows = np.flatnonzero(known[:, band])
        if len(rows) < bins:
            continue
        groups = np.array_split(rows[np.argsort(held[rows])], bins)
        inverse = np.array([np.median(1.0 / held[g]) for g in groups])
        medians = np.array([np.median(spread[g, band]) for g in groups])
        (floor, per_plan), _ = optimize.nnls(np.column_stack([np.ones(bins), inverse]), medians)
        out[:, band] = floor + per_plan / held
    return out


#: The strengths tried when learning one: a share of the region's difference, and the
#: variance of LAs' persistent differences (0, then 1e-7 to 1e-2 per plan, squared).
_REGION_WEIGHTS = np.linspace(0.0, 1.0, 11)
_TAUS = np.concatenate([[1e-10], np.logspace(-7, -2, 26)])


def _learned_strength(
    differences: np.ndarray, exposure: np.ndarray, region: np.ndarray, years: int
) -> Strength | None:
    """How strongly to pool, by band, learnt from how well LAs' past differences foretold
    the next year's: the strength that would have predicted each year from the ``years``
    before it best, over every year the window allows (each LA weighted by the inverse of
    its noise). None when the window holds no such year.

    Why learnt: an LA's difference from England is only partly lasting (a new assessment
    team, a tribunal backlog cleared), and a strength from the spread of LAs' means alone
    takes the passing part for lasting; learning it from the years that followed does not.
    """
    if len(differences) <= years:
        return None
    loss = np.zeros((len(_REGION_WEIGHTS), len(_TAUS), BANDS))
    for t in range(years, len(differences)):
        past = _Differences.of(differences[t - years : t], exposure, region)
        target = differences[t]
        ok = np.isfinite(target) & np.isfinite(past.within) & (past.noise > 0)
        weight = np.where(ok, 1.0 / np.where(past.noise > 0, past.noise, 1.0), 0.0)
        target = np.where(ok, target, 0.0)
        for a, region_weight in enumerate(_REGION_WEIGHTS):
            for b, tau in enumerate(_TAUS):
                miss = target - np.where(ok, past.guess(region_weight, tau), 0.0)
                loss[a, b] += (weight * miss**2).sum(axis=0)
    best = loss.reshape(-1, BANDS).argmin(axis=0)
    a, b = np.unravel_index(best, loss.shape[:2])
    return _REGION_WEIGHTS[a], _TAUS[b]


def _nan(function: Callable[..., np.ndarray], values: np.ndarray, axis: int) -> np.ndarray:
    """A NaN-ignoring statistic that is NaN, without a warning, where every value is NaN
    (an LA with no January before, a band no LA has two years of)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(function(values, axis=axis))


def _nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    fixed = vectors @ np.diag(np.clip(values, 1e-6, None)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return fixed / np.outer(scale, scale)


# --------------------------------------------------------------------------------------------
# Simulating


def simulate(fitted: Fitted, horizon: int, n_simulations: int, seed: int) -> np.ndarray:
    """Simulated plans: simulations x LAs x years ahead x bands (0 for an LA with no total
    in the origin January)."""
    rng = np.random.default_rng(seed)
    las = fitted.start.shape[0]
    national_steps = rng.multivariate_normal(
        np.zeros(BANDS), fitted.national_step, size=(n_simulations, horizon), method="eigh"
    )
    national = fitted.national + np.cumsum(national_steps, axis=1)  # sims x years x bands
    effect = fitted.effect + fitted.effect_sd * rng.standard_normal((n_simulations, las, BANDS))
    chol = np.linalg.cholesky(fitted.noise_correlation)
    out = np.empty((n_simulations, las, horizon, BANDS))
    plans = np.broadcast_to(fitted.start, (n_simulations, las, BANDS)).copy()
    for step in range(horizon):
        noise = rng.standard_normal((n_simulations, las, BANDS)) @ chol.T * fitted.noise_sd
        rate = national[:, step, None, :] + effect + noise
        if fitted.population_factor is not None:
            rate = rate * fitted.population_factor[:, step, :]
        held = plans.sum(axis=2, keepdims=True)
        plans = np.clip(plans @ fitted.ageing.T + rate * held, 0.0, None)
        out[:, :, step, :] = plans
    return out


def project(
    data: Cohorts,
    origin: int,
    horizon: int,
    config: LaModelConfig | None = None,
    *,
    calibrate: bool = True,
    population_factor: np.ndarray | None = None,
) -> Projection:
    """Every LA's plans in the ``horizon`` Januaries after ``origin``, from the Januaries up
    to it, with intervals calibrated on earlier origins (see the module's docstring);
    ``population_factor`` (LAs x years ahead x bands) scales net new plans where the user
    gave a population."""
    config = config or LaModelConfig()
    fitted = fit(data, origin, config)
    if population_factor is not None:
        fitted = replace(fitted, population_factor=population_factor)
    plans = simulate(fitted, horizon, config.n_simulations, config.seed)
    raw_totals = plans.sum(axis=3)
    scale = np.ones(horizon)
    if calibrate:
        from matcher.forecast.la_intervals import calibration

        scale = calibration(data, origin, horizon, config, raw_totals, fitted.has_start)
        plans = _widened(plans, scale)
    return Projection(
        origin=origin,
        codes=data.codes,
        years=tuple(range(origin + 1, origin + horizon + 1)),
        plans=plans,
        start=fitted.start,
        scale=scale,
        fitted=fitted,
        raw_totals=raw_totals,
    )


def _widened(plans: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Each simulation's total moved away from the median total by ``scale`` (by horizon) on
    a log scale, its bands in the same proportions: an interval of growth widens in
    proportion, never below 0, and its median stays."""
    totals = plans.sum(axis=3)
    positive = totals > 0
    logs = np.log(np.where(positive, totals, 1.0))
    centre = np.median(logs, axis=0, keepdims=True)
    wider = np.exp(centre + (logs - centre) * scale[None, None, :])
    factor = np.where(positive, wider / np.where(positive, totals, 1.0), 0.0)
    return plans * factor[..., None]
