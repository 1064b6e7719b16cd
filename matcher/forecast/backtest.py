"""How far to trust the forecast: project years already seen from the years before them.

For each held-out January (the last ``max(horizons)`` observed) and each horizon ``h``, the
model is fitted on the transitions before ``year - h`` and projects ``year`` from ``year - h``'s
observed counts; the projection is scored against what happened, in total and across needs
and settings. Beside it, the trivial forecast a planner could do on a spreadsheet: the growth
of the last transition year (its arrivals' total over its departures' total) applied to every
group ``h`` times, from the same starting counts as the model. A model that cannot beat it on
the split across settings is not worth its complexity (on witan.send's demo data it gets the
totals within about 1.5%).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from matcher.forecast.model import january_counts, one_year_flows, project
from matcher.forecast.types import NONSEND, ForecastConfig, ForecastInputs, GroupBy, State

#: Levels scored, in the order of the rows.
LEVELS: tuple[GroupBy, ...] = ("total", "need", "setting")
#: Columns of :func:`backtest`'s table.
BACKTEST_COLUMNS = (
    "held_out_year",
    "horizon",
    "base_year",
    "level",
    "groups",
    "projected",
    "low_95",
    "high_95",
    "truth",
    "error_pct",
    "covered",
    "group_coverage",
    "split_error_pct",
    "trivial_projected",
    "trivial_error_pct",
    "trivial_split_error_pct",
)


def backtest(
    inputs: ForecastInputs,
    horizons: Sequence[int] = (1, 2, 3),
    config: ForecastConfig | None = None,
) -> pd.DataFrame:
    """One row per (held-out year, horizon, level in total / need / setting).

    ``projected``, ``low_95``, ``high_95``, ``truth``, ``error_pct`` and ``covered`` are about
    the total (the same on a year's three rows, so each row reads alone). ``group_coverage`` is
    the share of the level's groups whose 95% interval holds their truth; ``split_error_pct`` is
    the weighted absolute error across the level's groups, sum |projected mean - truth| / total
    truth (for the total level, the absolute total error). ``trivial_*`` are the same figures
    for the trivial forecast.
    """
    observed = inputs.observed_years
    cases = _cases(observed, horizons)
    truths = {year: january_counts(inputs, year) for year in {y for y, _ in cases}}
    rows: list[dict[str, object]] = []
    for base in sorted({year - h for year, h in cases}):
        targets = sorted(year for year, h in cases if year - h == base)
        projection = project(inputs, targets, config, base_year=base)
        growth = _last_growth(inputs, base)
        start = january_counts(inputs, base, as_departures=True)
        for year in targets:
            t = projection.years.index(year)
            for level in LEVELS:
                labels, grouped = projection.grouped(level)
                simulated = {label: grouped[:, t, g] for g, label in enumerate(labels)}
                trivial = {
                    label: n * growth ** (year - base) for label, n in _by(start, level).items()
                }
                rows.append(_row(year, base, level, simulated, _by(truths[year], level), trivial))
    order = {level: i for i, level in enumerate(LEVELS)}
    table = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    table["_level"] = table["level"].map(order)
    table = table.sort_values(["horizon", "held_out_year", "_level"]).drop(columns="_level")
    return table.reset_index(drop=True)


#: What the oracles of :func:`one_year_oracles` are told, in the order of its columns: each
#: replaces the model's expected flows by what happened in the held-out year itself.
ORACLES = (
    "joiners",
    "joiners' settings",
    "leavers",
    "movers",
    "movers' destinations",
    "leavers and movers",
)


def one_year_oracles(inputs: ForecastInputs, config: ForecastConfig | None = None) -> pd.DataFrame:
    """How far the settings split one year ahead could get if the model knew part of the
    held-out year: for each held-out January with a year to fit on, the expected split error
    (%) of the model's flows, then of the same flows with one part replaced by what happened
    (joiners' settings and movers' destinations keep the model's totals), and the trivial
    forecast told the true total (every setting grown alike to it).

    Expected flows are the posterior means (no simulation), so ``model`` is the back-test's
    one-year split error up to simulation noise. An oracle that still misses a target shows
    that no model of that part alone could meet it from the years before.
    """
    rows = []
    for year in inputs.observed_years[2:]:
        settings, model, truth = one_year_flows(inputs, year - 1, config)
        end = truth.end
        scaled_joiners = truth.joiners * _ratio(model.joiners.sum(), truth.joiners.sum())
        scaled_in = truth.movers_in * _ratio(model.movers_in.sum(), truth.movers_in.sum())
        told = {
            "joiners": replace(model, joiners=truth.joiners),
            "joiners' settings": replace(model, joiners=scaled_joiners),
            "leavers": replace(model, leavers=truth.leavers),
            "movers": replace(model, movers_out=truth.movers_out, movers_in=truth.movers_in),
            "movers' destinations": replace(model, movers_in=scaled_in),
            "leavers and movers": replace(
                model,
                leavers=truth.leavers,
                movers_out=truth.movers_out,
                movers_in=truth.movers_in,
            ),
        }
        grown = truth.start * _ratio(end.sum(), truth.start.sum())
        rows.append(
            {
                "held_out_year": year,
                "settings": len(settings),
                "model": model.split_error(end),
                **{name: told[name].split_error(end) for name in ORACLES},
                "trivial told the total": _pct(float(np.abs(grown - end).sum()), end.sum()),
            }
        )
    return pd.DataFrame(rows)


def january_disagreement(inputs: ForecastInputs, year: int) -> float:
    """Sum over settings of |the January as the year before's transitions record it - as its
    own transitions do| over its total, in %: 0 in an LA's linked snapshots. A projection
    across ``year`` starts its second year from the first record and is scored against the
    second's descendants, so this much of a two-year split error no model can remove."""
    arrivals = _by(january_counts(inputs, year), "setting")
    departures = _by(january_counts(inputs, year, as_departures=True), "setting")
    labels = set(arrivals) | set(departures)
    gap = sum(abs(arrivals.get(g, 0) - departures.get(g, 0)) for g in labels)
    return _pct(gap, sum(arrivals.values()))


def _ratio(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0


def _cases(observed: Sequence[int], horizons: Sequence[int]) -> list[tuple[int, int]]:
    """(held-out year, horizon) pairs with at least one transition year to fit on."""
    if not horizons or min(horizons) < 1:
        msg = "horizons must be whole years of at least 1"
        raise ValueError(msg)
    held_out = observed[-max(horizons) :]
    cases = [
        (year, h) for h in sorted(set(horizons)) for year in held_out if year - h > observed[0]
    ]
    if not cases:
        msg = (
            f"the history ({observed[0]}-{observed[-1]}) is too short to hold out "
            f"{max(horizons)} year(s) and still fit on one"
        )
        raise ValueError(msg)
    return cases


def _last_growth(inputs: ForecastInputs, base: int) -> float:
    """Arrivals over departures of the transitions into ``base``'s January."""
    frame = inputs.transitions.frame
    rows = frame[frame["calendar_year"] == base - 1]
    before = int((rows["setting_1"] != NONSEND).sum())
    after = int((rows["setting_2"] != NONSEND).sum())
    return after / before if before else 1.0


def _by(counts: Mapping[State, int], level: GroupBy) -> dict[str | int, int]:
    grouped: dict[str | int, int] = {}
    for state, n in counts.items():
        key: str | int = "total" if level == "total" else getattr(state, level)
        grouped[key] = grouped.get(key, 0) + n
    return grouped


def _row(
    year: int,
    base: int,
    level: GroupBy,
    simulated: Mapping[str | int, np.ndarray],
    truth: Mapping[str | int, int],
    trivial: Mapping[str | int, float],
) -> dict[str, object]:
    labels = sorted(set(simulated) | set(truth) | set(trivial), key=str)
    sims = len(next(iter(simulated.values())))
    zero = np.zeros(sims, np.int64)
    totals = sum((simulated.get(g, zero) for g in labels), start=zero)
    truth_total = sum(truth.values())
    low, high = np.percentile(totals, [2.5, 97.5])
    covered_groups = []
    split_error = 0.0
    trivial_error = 0.0
    for g in labels:
        runs = simulated.get(g, zero)
        lo, hi = np.percentile(runs, [2.5, 97.5])
        covered_groups.append(lo <= truth.get(g, 0) <= hi)
        split_error += abs(float(runs.mean()) - truth.get(g, 0))
        trivial_error += abs(trivial.get(g, 0.0) - truth.get(g, 0))
    trivial_total = sum(trivial.values())
    return {
        "held_out_year": year,
        "horizon": year - base,
        "base_year": base,
        "level": level,
        "groups": len(labels),
        "projected": float(totals.mean()),
        "low_95": float(low),
        "high_95": float(high),
        "truth": truth_total,
        "error_pct": _pct(float(totals.mean()) - truth_total, truth_total),
        "covered": bool(low <= truth_total <= high),
        "group_coverage": float(np.mean(covered_groups)),
        "split_error_pct": _pct(split_error, truth_total),
        "trivial_projected": trivial_total,
        "trivial_error_pct": _pct(trivial_total - truth_total, truth_total),
        "trivial_split_error_pct": _pct(trivial_error, truth_total),
    }


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else float("nan")
