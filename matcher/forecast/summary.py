"""witan.send's summary statistics of simulated futures, per calendar year and group.

The columns and their order are witan.send's (``Output_Count.csv`` and friends), so that charts
and reports an LA built on witan.send's outputs keep working. Two differences, both in
witan.send's disfavour: percentiles are exact (numpy's linear interpolation between simulated
values), where witan.send reads them off an HdrHistogram with 3 significant digits (its demo's
2017 row has a minimum of 2,153 under a mean of 2,154); and the numbers are not rounded (the
writers round for display).

``std-dev`` is the spread of the simulations (population standard deviation, as HdrHistogram's);
``low-ci``/``high-ci`` is the 95% confidence interval of the *mean*, mean +- 1.96 sd / sqrt(n),
as witan.send computes it (its 2018 row: 2257.8 - 1.96 x 25.81 / sqrt(10) = 2241.81). The range
a planner should plan within is ``low-95pc-bound`` to ``high-95pc-bound`` (2.5th and 97.5th
percentiles of the simulations), not the confidence interval, which shrinks with more
simulations.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from matcher.forecast.types import CostTable, GroupBy, Projection

#: The statistics' columns, in witan.send's order, after calendar-year and the group.
STATISTIC_COLUMNS = (
    "mean",
    "std-dev",
    "iqr",
    "min",
    "low-95pc-bound",
    "q1",
    "median",
    "q3",
    "high-95pc-bound",
    "max",
    "low-ci",
    "high-ci",
)
#: witan.send's name for each grouping's column.
GROUP_COLUMN = {"need": "need", "setting": "setting", "academic_year": "academic-year"}
_Z_95 = 1.96


def summary_table(
    projection: Projection, by: GroupBy = "total", costs: CostTable | None = None
) -> pd.DataFrame:
    """One row per calendar year (and group): witan.send's statistics of the simulations.

    With ``costs``, of each simulation's annual cost in pounds (children x the cost of their
    need and setting; a need x setting missing from the table costs 0, as in witan.send)
    instead of its children.
    """
    values = _weighted(projection, costs)
    labels, grouped = _grouped(projection, values, by)
    rows = []
    for t, year in enumerate(projection.years):
        for g, label in enumerate(labels):
            statistics = _statistics(grouped[:, t, g])
            rows.append({"calendar-year": year, **({} if by == "total" else {"group": label}),
                         **statistics})  # fmt: skip
    columns = ["calendar-year", *([] if by == "total" else [GROUP_COLUMN[by]]), *STATISTIC_COLUMNS]
    table = pd.DataFrame(rows).rename(columns={"group": GROUP_COLUMN.get(by, "group")})
    return table.reindex(columns=columns)


def _weighted(projection: Projection, costs: CostTable | None) -> npt.NDArray[np.float64]:
    """Per-state multiplier: 1 for counts, the annual cost of the state's need x setting."""
    if costs is None:
        return np.ones(len(projection.states))
    frame = costs.frame
    cost = {
        (str(need), str(setting)): float(value)
        for need, setting, value in zip(frame["need"], frame["setting"], frame["cost"], strict=True)
    }
    return np.array([cost.get((s.need, s.setting), 0.0) for s in projection.states])


def _grouped(
    projection: Projection, values: npt.NDArray[np.float64], by: GroupBy
) -> tuple[tuple[str | int, ...], npt.NDArray[np.float64]]:
    """``[sims, years, groups]`` of counts times ``values``, summed within groups (a year at a
    time, so a large LA's projection is never copied whole into floats)."""
    if by == "total":
        labels: tuple[str | int, ...] = ("total",)
        member = values[:, None]
    else:
        index = {"need": 0, "setting": 1, "academic_year": 2}[by]
        keys = [state[index] for state in projection.states]
        labels = tuple(sorted(set(keys), key=lambda k: (str(type(k)), k)))
        position = {label: g for g, label in enumerate(labels)}
        member = np.zeros((len(keys), len(labels)))
        member[np.arange(len(keys)), [position[k] for k in keys]] = values
    sims, years, _ = projection.counts.shape
    grouped = np.empty((sims, years, len(labels)))
    for t in range(years):
        grouped[:, t] = projection.counts[:, t] @ member
    return labels, grouped


def _statistics(samples: npt.NDArray[np.float64]) -> dict[str, float]:
    low, q1, median, q3, high = np.percentile(samples, [2.5, 25, 50, 75, 97.5])
    mean = float(samples.mean())
    spread = float(samples.std())
    half_width = _Z_95 * spread / np.sqrt(len(samples))
    return {
        "mean": mean,
        "std-dev": spread,
        "iqr": float(q3 - q1),
        "min": float(samples.min()),
        "low-95pc-bound": float(low),
        "q1": float(q1),
        "median": float(median),
        "q3": float(q3),
        "high-95pc-bound": float(high),
        "max": float(samples.max()),
        "low-ci": mean - half_width,
        "high-ci": mean + half_width,
    }
