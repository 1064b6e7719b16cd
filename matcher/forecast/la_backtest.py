"""The all-LA back-test: every LA's total EHC plans forecast for Januaries it has not seen,
beside the naive forecasts a model has to beat.

Rolling origin: each held-out January (by default the last three in the statistics) is
forecast from the Januaries 1, 2 and 3 years before it, for every LA with the data, and each
forecast is scored by the mean absolute percentage error (MAPE) of the LAs' totals, and by
how many LAs' totals fall inside the 95% interval. The LAs scored at each (January, horizon)
are those with a total in the held-out January and in the origin and the three Januaries
before it, so that every naive forecast is defined for each of them; the naive forecasts are
those of issue 15, and reproduce its figures (January 2024 one year ahead over 149 LAs:
national growth 4.4%, own growth 5.3%, three-year mean growth 4.7%, linear trend 5.1%, no
growth 10.6%).

All LAs are modelled together as arrays, so the whole back-test takes seconds; it needs no
Dask cluster.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from matcher.forecast import la_totals
from matcher.forecast.dfe_statistics import ENGLAND, LA, EhcpStatistics
from matcher.forecast.la_settings import SettingPanel, projected_shares

MODEL = "model"
#: The naive forecasts, in the order the issue lists them.
NAIVE: dict[str, str] = {
    "national_growth": "last count x last year's national growth",
    "own_growth": "last count x the LA's own growth of the last year",
    "own_growth_3y": "last count x the LA's mean growth over three years",
    "linear_trend_3y": "a straight line through the LA's last three counts",
    "no_growth": "last count",
}
#: The target the issue sets: one year ahead, at least 25% below the best naive MAPE.
IMPROVEMENT_TARGET = 0.25
COVERAGE_TARGET = (0.90, 0.98)


@dataclass(frozen=True)
class LaBacktest:
    """The back-test's tables.

    ``summary`` has one row per held-out January and horizon: the LAs scored, the model's
    MAPE (of its central projection, the median of the simulations), median error and
    coverage of its 95% intervals, each naive forecast's MAPE, the best of them, and the
    model's improvement on it. ``detail`` has one row per LA, January and horizon.
    ``settings`` scores the split by type of setting (:func:`setting_split_scores`);
    ``regions`` the 95% intervals of regions' totals (:func:`region_scores`).
    """

    summary: pd.DataFrame
    detail: pd.DataFrame
    seconds: float
    config: la_totals.LaModelConfig
    settings: pd.DataFrame = field(default_factory=pd.DataFrame)
    regions: pd.DataFrame = field(default_factory=pd.DataFrame)


def naive_forecasts(
    totals: np.ndarray, england: np.ndarray, years: Sequence[int], origin: int, horizon: int
) -> dict[str, np.ndarray]:
    """Each naive forecast of every LA's total ``horizon`` Januaries after ``origin``:
    ``totals`` is LAs x ``years``, ``england`` England's total for each of ``years``."""
    k = list(years).index(origin)
    last, before = totals[:, k], totals[:, k - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = np.mean([totals[:, k - j] / totals[:, k - j - 1] for j in range(3)], axis=0)
        slope = (totals[:, k] - totals[:, k - 2]) / 2
        level = totals[:, k - 2 : k + 1].mean(axis=1)
        return {
            "national_growth": last * (england[k] / england[k - 1]) ** horizon,
            "own_growth": last * (last / before) ** horizon,
            "own_growth_3y": last * growth**horizon,
            "linear_trend_3y": level + slope * (1 + horizon),
            "no_growth": last.copy(),
        }


def backtest_all_las(
    statistics: EhcpStatistics,
    targets: Sequence[int] | None = None,
    horizons: Sequence[int] = (1, 2, 3),
    config: la_totals.LaModelConfig | None = None,
    *,
    las: Sequence[str] | None = None,
) -> LaBacktest:
    """Forecast each of ``targets`` (default: the last three Januaries) from ``horizons``
    years before, for every LA (or the ``las`` given, e.g. a region's), and score it.

    Raises
    ------
    ValueError
        A target or horizon the statistics cannot test (too few Januaries before it).
    """
    config = config or la_totals.LaModelConfig()
    started = time.perf_counter()
    data = la_totals.cohorts(statistics)
    years = data.years
    targets = list(targets) if targets else [y for y in years[-3:]]
    england = _england(statistics, years)
    earliest = config.first_year + 1
    needed: dict[int, int] = {}
    for target in targets:
        for horizon in horizons:
            origin = target - horizon
            if origin - 3 < years[0] or origin < earliest or target > years[-1]:
                msg = (
                    f"January {target} {horizon} year(s) ahead needs January {origin} and the "
                    f"three before it (from {max(years[0], earliest - 3)}); the statistics "
                    f"run {years[0]}-{years[-1]}"
                )
                raise ValueError(msg)
            needed[origin] = max(needed.get(origin, 0), horizon)
    projections = {o: la_totals.project(data, o, h, config) for o, h in sorted(needed.items())}
    panel = SettingPanel.of(statistics)
    split_rows, region_rows = [], []
    chosen = np.isin(data.codes, list(las)) if las is not None else np.ones(len(data.codes), bool)
    names = statistics.areas.set_index("code")["name"]
    summary, detail = [], []
    for target in targets:
        for horizon in horizons:
            origin = target - horizon
            projection = projections[origin]
            k = years.index(origin)
            window = data.totals[:, k - 3 : k + 1]
            truth = data.totals[:, years.index(target)]
            scored = (
                chosen
                & np.isfinite(window).all(axis=1)
                & np.isfinite(truth)
                & projection.fitted.has_start
            )
            sims = projection.totals()[:, :, horizon - 1]
            naive = naive_forecasts(data.totals, england, years, origin, horizon)
            row, rows = _score(target, horizon, scored, truth, sims, naive, data.codes, names)
            summary.append(row)
            detail += rows
            split_rows.append(
                setting_split_scores(panel, projection, data.codes, scored, target, horizon)
            )
            region_rows.append(region_scores(data, projection, scored, truth, target, horizon))
    return LaBacktest(
        summary=pd.DataFrame(summary),
        detail=pd.DataFrame(detail),
        seconds=time.perf_counter() - started,
        config=config,
        settings=pd.DataFrame(split_rows),
        regions=pd.DataFrame(region_rows),
    )


def region_scores(
    data: la_totals.Cohorts,
    projection: la_totals.Projection,
    scored: np.ndarray,
    truth: np.ndarray,
    target: int,
    horizon: int,
) -> dict[str, Any]:
    """Each region's total of its scored LAs (the sum of their simulations, simulation by
    simulation, as ``sendmatch forecast --region`` sums them) against the sum of their
    truths: how many regions' 95% intervals held it, and the absolute % error of the median."""
    sims = projection.totals()[:, :, horizon - 1]
    covered, errors = 0, []
    regions = sorted(set(data.region[scored]))
    for region in regions:
        chosen = scored & (data.region == region)
        sums = sims[:, chosen].sum(axis=1)
        low, median, high = np.quantile(sums, [la_totals._LOW, 0.5, la_totals._HIGH])
        actual = float(truth[chosen].sum())
        covered += int(low <= actual <= high)
        errors.append(abs(median - actual) / actual * 100)
    return {
        "january": target,
        "horizon": horizon,
        "regions": len(regions),
        "regions_in_95": covered,
        "region_mape": float(np.mean(errors)) if errors else np.nan,
    }


def setting_split_scores(
    panel: SettingPanel,
    projection: la_totals.Projection,
    codes: Sequence[str],
    scored: np.ndarray,
    target: int,
    horizon: int,
) -> dict[str, Any]:
    """The split by type of setting of January ``target``, forecast ``horizon`` years
    before, against what happened, for every LA scored with its setting types known in the
    origin and the target January: the weighted absolute error across setting types (the sum
    over types of |projected - actual| over the LA's plans, with the projected shares applied
    to the actual total, so that only the split is scored), for the forecast (its shares
    drifting as they have) and for the naive forecast of the origin January's shares.

    The mean over LAs is given, and over all LAs' plans together (large LAs weighing more)."""
    origin = projection.origin
    mean_bands = projection.plans[:, :, horizon - 1].mean(axis=0)  # LAs x bands
    errors: dict[str, list[float]] = {MODEL: [], "last_shares": []}
    misplaced = {MODEL: 0.0, "last_shares": 0.0}
    plans = 0.0
    for row in map(int, np.flatnonzero(scored)):
        now, then = panel.observed(codes[row], origin), panel.observed(codes[row], target)
        if now is None or then is None:
            continue
        actual = then / then.sum()
        guesses = {
            MODEL: projected_shares(panel, codes[row], origin, horizon, mean_bands[row]),
            "last_shares": now / now.sum(),
        }
        for name, guess in guesses.items():
            error = float(np.abs(guess - actual).sum())
            errors[name].append(error * 100)
            misplaced[name] += error * float(then.sum())
        plans += float(then.sum())
    found = len(errors[MODEL])
    return {
        "january": target,
        "horizon": horizon,
        "las": found,
        "model_split_error": float(np.mean(errors[MODEL])) if found else np.nan,
        "last_shares_split_error": float(np.mean(errors["last_shares"])) if found else np.nan,
        "model_split_error_all_plans": misplaced[MODEL] / plans * 100 if plans else np.nan,
        "last_shares_split_error_all_plans": (
            misplaced["last_shares"] / plans * 100 if plans else np.nan
        ),
        "model_better_in_las": int(
            sum(m < n for m, n in zip(errors[MODEL], errors["last_shares"], strict=True))
        ),
    }


def _england(statistics: EhcpStatistics, years: Sequence[int]) -> np.ndarray:
    rows = statistics.totals[statistics.totals["code"] == ENGLAND].set_index("year")["plans"]
    las = statistics.totals[
        statistics.totals["code"].isin(
            statistics.areas.loc[statistics.areas["level"] == LA, "code"]
        )
    ]
    summed = las.groupby("year")["plans"].sum()  # when a file has no national row
    return np.array([rows.get(y, summed.get(y, np.nan)) for y in years], dtype=float)


def _score(
    target: int,
    horizon: int,
    scored: np.ndarray,
    truth: np.ndarray,
    sims: np.ndarray,
    naive: dict[str, np.ndarray],
    codes: Sequence[str],
    names: pd.Series,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    low, central, high = np.quantile(sims, [la_totals._LOW, 0.5, la_totals._HIGH], axis=0)
    covered = (truth >= low) & (truth <= high)
    with np.errstate(invalid="ignore", divide="ignore"):  # LAs not scored have no truth
        errors = {MODEL: np.abs(central - truth) / truth}
        errors |= {name: np.abs(values - truth) / truth for name, values in naive.items()}
        width = (high - low) / central
    mape = {name: float(np.mean(e[scored]) * 100) for name, e in errors.items()}
    best = min(NAIVE, key=lambda name: mape[name])
    row: dict[str, Any] = {
        "january": target,
        "horizon": horizon,
        "las": int(scored.sum()),
        "model_mape": mape[MODEL],
        "model_median_ape": float(np.median(errors[MODEL][scored]) * 100),
        "model_coverage_95": float(np.mean(covered[scored]) * 100),
        "model_interval_width": float(np.median(width[scored]) * 100),
        **{f"{name}_mape": mape[name] for name in NAIVE},
        "best_naive": best,
        "improvement_on_best": (1 - mape[MODEL] / mape[best]) * 100,
    }
    rows = [
        {
            "january": target,
            "horizon": horizon,
            "la_code": codes[i],
            "la_name": str(names.get(codes[i], codes[i])),
            "truth": float(truth[i]),
            "model": float(central[i]),
            "model_mean": float(sims[:, i].mean()),
            "low_95": float(low[i]),
            "high_95": float(high[i]),
            "covered": bool(covered[i]),
            "model_error_pct": float((central[i] - truth[i]) / truth[i] * 100),
            **{name: float(values[i]) for name, values in naive.items()},
        }
        for i in map(int, np.flatnonzero(scored))
    ]
    return row, rows


# --------------------------------------------------------------------------------------------
# The chart


_LABELS = {
    MODEL: "model",
    "national_growth": "national growth",
    "own_growth": "own growth (1 year)",
    "own_growth_3y": "own growth (3-year mean)",
    "linear_trend_3y": "linear trend (3 years)",
    "no_growth": "no growth",
}


def backtest_chart(result: LaBacktest) -> Any:
    """Error by horizon against the naive forecasts (mean over the held-out Januaries) and
    the coverage of the 95% intervals by January and horizon, against the 90-98% target."""
    from matplotlib.figure import Figure

    summary = result.summary
    figure = Figure(figsize=(12.0, 5.0), dpi=110, layout="constrained")
    error_axes, coverage_axes = figure.subplots(1, 2, width_ratios=(3, 2))
    horizons = sorted(summary["horizon"].unique())
    methods = [MODEL, *[m for m in NAIVE if m != "no_growth"]]
    width = 0.8 / len(methods)
    colours = ["#1d70b8", "#f47738", "#85994b", "#912b88", "#6f72af", "#b1b4b6"]
    for n, method in enumerate(methods):
        means = [summary.loc[summary["horizon"] == h, f"{method}_mape"].mean() for h in horizons]
        positions = np.arange(len(horizons)) + (n - (len(methods) - 1) / 2) * width
        error_axes.bar(positions, means, width, label=_LABELS[method], color=colours[n])
    error_axes.set_xticks(np.arange(len(horizons)), [f"{h} year(s) ahead" for h in horizons])
    error_axes.set_ylabel("mean absolute % error of LA totals")
    januaries = ", ".join(str(y) for y in sorted(summary["january"].unique()))
    error_axes.set_title(f"Error by horizon (mean over January {januaries})")
    error_axes.legend(fontsize="small", frameon=False)
    error_axes.grid(axis="y", alpha=0.3)
    low, high = COVERAGE_TARGET
    coverage_axes.axhspan(low * 100, high * 100, color="#00703c", alpha=0.12, label="target 90-98%")
    for h, rows in summary.groupby("horizon"):
        coverage_axes.plot(
            rows["january"], rows["model_coverage_95"], marker="o", label=f"{h} year(s) ahead"
        )
    coverage_axes.set_ylim(50, 100)
    coverage_axes.set_xticks(sorted(summary["january"].unique()))
    coverage_axes.set_ylabel("% of LAs whose total fell in the 95% interval")
    coverage_axes.set_title("Coverage of the 95% intervals")
    coverage_axes.legend(fontsize="small", frameon=False, loc="lower left")
    coverage_axes.grid(alpha=0.3)
    return figure
