"""The 95% intervals of the LA model, calibrated on what happened at earlier origins.

Why not the model's own spread: the model's intervals come from the year-to-year noise of
LAs' rates over its last few years, and that noise is not stable. From the January 2022
origin on it shrank (LAs had grown, and 2019-2022 were calm years) just as LAs' changes grew
(January 2023 was the first of the DfE's person-level collection), and intervals scaled by
how much earlier origins' intervals needed kept that shrinkage: they held the truth for only
81-86% of LAs. So the model is trusted only for *which* LAs are more uncertain than others,
and the *size* of the error comes from the errors actually seen (split-conformal, by horizon):

1. At each earlier origin (one whose truth at the horizon is known by the forecast's origin:
   nothing later is looked at), every LA's error is scored as its absolute log error divided
   by its relative difficulty: the model's half-width of its interval (on the side the truth
   fell) over the median LA's half-width at that origin and horizon.
2. The level one year ahead is the conformal 95% quantile (the ceil((n + 1) x 0.95)-th
   smallest) of the scores of the earlier origins pooled: every origin since the first with
   a full model (January 2018 on these statistics), at most
   :attr:`~matcher.forecast.la_totals.LaModelConfig.calibration_origins` of them, so that a
   calm few years (2019-2022) do not set it alone.
3. Its growth with the horizon is the ratio of the h-year quantile to the 1-year quantile
   at the same earlier origins (so that an origin with unusually large errors moves both);
   where no earlier origin is h years back, it grows as a random walk does, with the square
   root of the horizon, from the longest horizon measured. It never shrinks with the horizon.
4. Each LA's interval is then its relative difficulty times that level: the model's own
   interval widened or narrowed (on a log scale, around its median) by the level over the
   median LA's half-width, one factor per horizon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.forecast import la_totals

#: The quantile the intervals are calibrated to, and the model's quantiles of it.
INTERVAL = la_totals.INTERVAL
#: A horizon no earlier origin reaches widens from the longest measured as a random walk:
#: by the square root of the ratio of the horizons.
EXTRAPOLATION_POWER = 0.5


def conformal_quantile(scores: Sequence[np.ndarray], level: float = INTERVAL) -> float:
    """The ceil((n + 1) x level)-th smallest of the scores pooled (the largest when n is too
    small): with exchangeable scores, a new one falls at or below it with probability at
    least ``level``."""
    if not scores:
        return float("nan")
    pooled = np.concatenate([np.asarray(s, dtype=float) for s in scores])
    ordered = np.sort(pooled[np.isfinite(pooled)])
    if not len(ordered):
        return float("nan")
    rank = int(np.ceil((len(ordered) + 1) * level)) - 1
    return float(ordered[min(rank, len(ordered) - 1)])


def log_interval(totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulations x LAs -> each LA's log median and half-widths below and above it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(totals)
        low, median, high = np.quantile(logs, [la_totals._LOW, 0.5, la_totals._HIGH], axis=0)
    return median, median - low, high - median


def typical_half_width(totals: np.ndarray, has_start: np.ndarray) -> float:
    """The median LA's half-width (log scale) of the model's interval: the yardstick an LA's
    own half-width is measured against."""
    _, below, above = log_interval(totals)
    half = (below + above) / 2
    usable = has_start & np.isfinite(half) & (half > 0)
    return float(np.median(half[usable])) if usable.any() else float("nan")


def relative_scores(totals: np.ndarray, truth: np.ndarray, has_start: np.ndarray) -> np.ndarray:
    """Each LA's absolute log error over its relative difficulty (LAs with no truth, no
    start or no spread are left out)."""
    median, below, above = log_interval(totals)
    typical = typical_half_width(totals, has_start)
    with np.errstate(divide="ignore", invalid="ignore"):
        seen = np.log(truth)
        half = np.where(seen >= median, above, below)
        usable = has_start & np.isfinite(seen) & np.isfinite(half) & (half > 0)
        return np.abs(seen[usable] - median[usable]) / (half[usable] / typical)


def earlier_scores(
    data: la_totals.Cohorts, origin: int, horizon: int, config: la_totals.LaModelConfig
) -> dict[int, dict[int, np.ndarray]]:
    """Scores by earlier origin and horizon: for each horizon, up to
    ``calibration_origins`` origins, the latest first, whose truth is known by ``origin``.

    The first origin tried is the first with a full model (its LA differences from
    ``effect_years`` years)."""
    first = max(data.years[0], config.first_year) + config.effect_years
    wanted = config.calibration_origins
    scores: dict[int, dict[int, np.ndarray]] = {}
    for past in range(origin - 1, first - 1, -1):
        reach = [
            h
            for h in range(1, min(horizon, origin - past) + 1)
            if sum(h in s for s in scores.values()) < wanted
        ]
        if not reach:
            continue
        fitted = la_totals.fit(data, past, config)
        sims = la_totals.simulate(fitted, max(reach), config.n_simulations, config.seed + past)
        totals = sims.sum(axis=3)
        for h in reach:
            truth = data.totals[:, data.index(past + h)]
            found = relative_scores(totals[:, :, h - 1], truth, fitted.has_start)
            if len(found):  # none when the statistics give no spread to check against
                scores.setdefault(past, {})[h] = found
    return scores


def calibrated_levels(scores: dict[int, dict[int, np.ndarray]], horizon: int) -> np.ndarray:
    """The half-width (log scale) of the median LA's 95% interval at each horizon, from the
    earlier origins' scores (NaN where there are none at all)."""
    latest_first = [scores[o] for o in sorted(scores, reverse=True)]
    one_year = [s[1] for s in latest_first if 1 in s]
    levels = np.full(horizon, np.nan)
    if not one_year:
        return levels
    level = conformal_quantile(one_year)
    levels[0] = level
    measured, growth = 1, 1.0
    for h in range(2, horizon + 1):
        both = [s for s in latest_first if 1 in s and h in s]
        if both:
            far = conformal_quantile([s[h] for s in both])
            near = conformal_quantile([s[1] for s in both])
            if near > 0:
                measured, growth = h, far / near
                levels[h - 1] = level * growth
                continue
        levels[h - 1] = level * growth * (h / measured) ** EXTRAPOLATION_POWER
    return np.fmax.accumulate(levels)


def calibration(
    data: la_totals.Cohorts,
    origin: int,
    horizon: int,
    config: la_totals.LaModelConfig,
    totals: np.ndarray,
    has_start: np.ndarray,
) -> np.ndarray:
    """The factor by which to widen the model's intervals (``totals``: simulations x LAs x
    years ahead, the model's own) at each horizon: the calibrated level over the model's
    median half-width, within :data:`~matcher.forecast.la_totals.CALIBRATION_RANGE`; 1 (the
    model's own) where no earlier origin can be checked."""
    levels = calibrated_levels(earlier_scores(data, origin, horizon, config), horizon)
    scale = np.ones(horizon)
    for h in range(1, horizon + 1):
        typical = typical_half_width(totals[:, :, h - 1], has_start)
        if np.isfinite(levels[h - 1]) and typical > 0:
            scale[h - 1] = float(np.clip(levels[h - 1] / typical, *la_totals.CALIBRATION_RANGE))
    return scale
