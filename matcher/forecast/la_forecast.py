"""An LA's (or every LA of a region's) forecast from the DfE's statistics, as a planner reads it.

Every LA is modelled together (:mod:`matcher.forecast.la_totals`: the pooling needs them all,
and the region and England beside an LA are sums of them), once for however many LAs are
reported, so a region's forecast costs about what one LA's does. Then each LA's simulations
become tables: the total each January (observed, then projected with its 95% interval), by
age group, by type of setting (:mod:`matcher.forecast.la_settings`), by primary need and type
of setting when the LA's own history is given (:mod:`matcher.forecast.la_history`), and the
LA beside its region and England.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher import io
from matcher.forecast.dfe_statistics import (
    AGE_BANDS,
    ENGLAND,
    LA,
    SETTING_TYPES,
    EhcpStatistics,
    region_table,
)
from matcher.forecast.la_history import HistorySplit, split_simulations
from matcher.forecast.la_population import (
    LaPopulation,
    coverage_problems,
    current_las,
    needed_years,
    population_factor,
)
from matcher.forecast.la_settings import SettingPanel, setting_simulations
from matcher.forecast.la_totals import (
    _HIGH,
    _LOW,
    Cohorts,
    LaModelConfig,
    Projection,
    cohorts,
    project,
)


@dataclass(frozen=True)
class LaForecast:
    """One LA's forecast: tables as a planner reads them.

    ``total`` has the observed Januaries then the projected ones (``kind``); ``by_age`` and
    ``by_setting`` the projected Januaries by group; ``by_need`` (with the LA's history) by
    primary need, and ``by_need_setting`` by need and type of setting; all with ``mean``,
    ``low_95``, ``median``, ``high_95``. ``comparison`` sets the LA beside its region and
    England.
    """

    code: str
    name: str
    region: str
    origin: int
    total: pd.DataFrame
    by_age: pd.DataFrame
    by_setting: pd.DataFrame
    comparison: pd.DataFrame
    notes: tuple[str, ...]
    method: tuple[tuple[str, str], ...]
    by_need: pd.DataFrame | None = None
    by_need_setting: pd.DataFrame | None = None


@dataclass(frozen=True)
class RegionForecast:
    """Every LA of a region: ``las`` each LA's forecast, ``total`` the region's (the sum of
    its LAs' simulations: see :func:`forecast_region`)."""

    code: str
    name: str
    origin: int
    las: tuple[LaForecast, ...]
    total: pd.DataFrame


def forecast_las(
    statistics: EhcpStatistics,
    codes: Sequence[str],
    years_ahead: int,
    config: LaModelConfig | None = None,
    *,
    history_years: int = 5,
    population: LaPopulation | None = None,
    history: HistorySplit | None = None,
) -> list[LaForecast]:
    """The forecasts of the LAs with ``codes`` for the ``years_ahead`` Januaries after the
    latest in the statistics, from one run of the model of every LA. ``population`` scales
    the net new plans of the LAs it covers (:mod:`matcher.forecast.la_population`);
    ``history`` (one LA's: give one code) splits by need and setting.

    Raises
    ------
    ValueError
        An LA with no total in the latest January.
    matcher.io.InputError
        The population lacks a year or age the forecast needs for an LA it covers.
    """
    context = _model(statistics, years_ahead, config, population, history_years)
    _check_starts(context, codes)
    return [
        _forecast_one(context, code, population, history if len(codes) == 1 else None)
        for code in codes
    ]


def forecast_la(
    statistics: EhcpStatistics,
    code: str,
    years_ahead: int,
    config: LaModelConfig | None = None,
    *,
    history_years: int = 5,
    population: LaPopulation | None = None,
    history: HistorySplit | None = None,
) -> LaForecast:
    """The forecast of the LA with ``code`` (see :func:`forecast_las`)."""
    return forecast_las(
        statistics,
        [code],
        years_ahead,
        config,
        history_years=history_years,
        population=population,
        history=history,
    )[0]


def region_las(statistics: EhcpStatistics, region_code: str, *, current: bool = True) -> list[str]:
    """The region's LAs; ``current``: only those with a total in the latest January (those
    reorganised before it are left out: their successors are in)."""
    areas = statistics.areas
    las = areas[(areas["region_code"] == region_code) & (areas["level"] == LA)]
    if current:
        las = las[las["last_year"] == statistics.last_year]
    return sorted(las["code"])


def forecast_region(
    statistics: EhcpStatistics,
    region_code: str,
    years_ahead: int,
    config: LaModelConfig | None = None,
    *,
    history_years: int = 5,
    population: LaPopulation | None = None,
) -> RegionForecast:
    """Every LA of the region, and the region's total: the sum of its LAs' simulations
    (see :func:`_region_total`)."""
    codes = region_las(statistics, region_code)
    context = _model(statistics, years_ahead, config, population, history_years)
    _check_starts(context, codes)
    forecasts = tuple(_forecast_one(context, code, population, None) for code in codes)
    return RegionForecast(
        code=region_code,
        name=str(region_table(statistics).set_index("code").loc[region_code, "name"]),
        origin=context.projection.origin,
        las=forecasts,
        total=_region_total(context, region_code),
    )


# --------------------------------------------------------------------------------------------
# One LA


@dataclass(frozen=True)
class _Context:
    """What every LA's tables are made from."""

    statistics: EhcpStatistics
    data: Cohorts
    projection: Projection
    panel: SettingPanel
    config: LaModelConfig
    history_years: int


def _model(
    statistics: EhcpStatistics,
    years_ahead: int,
    config: LaModelConfig | None,
    population: LaPopulation | None,
    history_years: int,
) -> _Context:
    """Every LA modelled together from the latest January."""
    config = config or LaModelConfig()
    data = cohorts(statistics)
    origin = statistics.last_year
    factor = None
    if population is not None:
        names = dict(zip(statistics.areas["code"], statistics.areas["name"], strict=True))
        years = needed_years(origin, years_ahead, config.effect_years)
        current = current_las(statistics)
        io.raise_if(coverage_problems(population, current, names, years))
        factor = population_factor(
            population, data.codes, origin, years_ahead, config.effect_years, set(current)
        )
    projection = project(data, origin, years_ahead, config, population_factor=factor)
    panel = SettingPanel.of(statistics)
    return _Context(statistics, data, projection, panel, config, history_years)


def _check_starts(context: _Context, codes: Sequence[str]) -> None:
    origin = context.projection.origin
    areas = context.statistics.areas.set_index("code")
    for code in codes:
        if not context.projection.fitted.has_start[context.data.codes.index(code)]:
            name = str(areas.loc[code, "name"])
            msg = f"{name} ({code}) has no total in January {origin}, the latest January"
            raise ValueError(msg)


def _forecast_one(
    context: _Context, code: str, population: LaPopulation | None, history: HistorySplit | None
) -> LaForecast:
    data, projection = context.data, context.projection
    origin = projection.origin
    row = data.codes.index(code)
    area = context.statistics.areas.set_index("code").loc[code]
    sims = projection.plans[:, row]  # sims x years x bands
    years = projection.years
    totals = sims.sum(axis=2)
    total = _total_table(data, row, origin, context.history_years, years, totals)
    start = projection.fitted.start[row]
    by_age = _group_table(years, sims, AGE_BANDS, "age_band", origin, start)
    by_setting, by_need, by_need_setting = _split_tables(context, code, sims, history)
    name = str(area["name"])
    notes = _notes(context, row, name)
    if population is not None:
        notes += _population_notes(population, code, name, projection, row)
    if history is not None:
        notes += _history_notes(history, data, row, name, origin)
    return LaForecast(
        code=code,
        name=name,
        region=str(area["region_name"]),
        origin=origin,
        total=total,
        by_age=by_age,
        by_setting=by_setting,
        comparison=_comparison(context, row, str(area["region_code"])),
        notes=notes,
        method=_method(projection, row, context.config, population, history, code),
        by_need=by_need,
        by_need_setting=by_need_setting,
    )


def _split_tables(
    context: _Context, code: str, sims: np.ndarray, history: HistorySplit | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """By type of setting (from the LA's history if given, else the statistics), and by
    need and by need x setting (with the history only)."""
    panel, origin, years = context.panel, context.projection.origin, context.projection.years
    if history is not None:
        cells = split_simulations(history, sims, panel.drift(code, origin))
        seen = history.january == origin  # the snapshot of the origin: its counts shown
        by_setting = _group_table(
            years,
            cells.sum(axis=2),
            SETTING_TYPES,
            "setting_type",
            origin,
            history.observed("setting") if seen else None,
        )
        by_need = _group_table(
            years,
            cells.sum(axis=3),
            history.needs,
            "need",
            origin,
            history.observed("need") if seen else None,
        )
        return by_setting, by_need, _need_setting_table(years[-1], cells[:, -1], history.needs)
    if panel.has_settings(code, origin):
        settings = setting_simulations(panel, code, origin, sims)
        observed = panel.observed(code, origin)
        by_setting = _group_table(years, settings, SETTING_TYPES, "setting_type", origin, observed)
    else:  # the files given have no types of setting (an age file alone)
        by_setting = _group_table(years, sims[:, :, :0], (), "setting_type", origin, None)
    return by_setting, None, None


def _summary(values: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and 95% interval of simulations (first axis)."""
    low, median, high = np.quantile(values, [_LOW, 0.5, _HIGH], axis=0)
    return {"mean": values.mean(axis=0), "low_95": low, "median": median, "high_95": high}


def _total_table(
    data: Cohorts,
    row: int,
    origin: int,
    history_years: int,
    years: Sequence[int],
    totals: np.ndarray,
) -> pd.DataFrame:
    observed = [
        {"january": y, "kind": "observed", "mean": data.totals[row, data.index(y)]}
        for y in range(max(origin - history_years + 1, data.years[0]), origin + 1)
        if np.isfinite(data.totals[row, data.index(y)])
    ]
    stats = _summary(totals)
    projected = [
        {"january": y, "kind": "projected", **{k: float(v[n]) for k, v in stats.items()}}
        for n, y in enumerate(years)
    ]
    frame = pd.DataFrame(observed + projected)
    return frame[["january", "kind", "mean", "low_95", "median", "high_95"]]


def _group_table(
    years: Sequence[int],
    sims: np.ndarray,
    groups: Sequence[str],
    column: str,
    origin: int,
    observed: np.ndarray | None,
) -> pd.DataFrame:
    """Projected Januaries by group, after the origin's counts (when known: the origin's
    ages are estimated when the statistics give only its total, and said so in the notes)."""
    stats = _summary(sims)  # each years x groups
    first = (
        [
            {"january": origin, "kind": "observed", column: g, "mean": float(observed[m])}
            for m, g in enumerate(groups)
        ]
        if observed is not None
        else []
    )
    records = [
        {
            "january": y,
            "kind": "projected",
            column: g,
            **{k: float(v[n, m]) for k, v in stats.items()},
        }
        for n, y in enumerate(years)
        for m, g in enumerate(groups)
    ]
    columns = ["january", "kind", column, "mean", "low_95", "median", "high_95"]
    return pd.DataFrame(first + records, columns=columns)


def _need_setting_table(year: int, cells: np.ndarray, needs: Sequence[str]) -> pd.DataFrame:
    """The last projected January by need x type of setting (cells: sims x needs x types)."""
    stats = _summary(cells)
    records = [
        {
            "january": year,
            "need": need,
            "setting_type": setting,
            **{k: float(v[n, t]) for k, v in stats.items()},
        }
        for n, need in enumerate(needs)
        for t, setting in enumerate(SETTING_TYPES)
        if stats["mean"][n, t] > 0
    ]
    columns = ["january", "need", "setting_type", "mean", "low_95", "median", "high_95"]
    return pd.DataFrame(records, columns=columns)


# --------------------------------------------------------------------------------------------
# A region's total


def _region_total(context: _Context, region_code: str) -> pd.DataFrame:
    """Observed Januaries (the DfE's region row), then the sum of the region's LAs'
    calibrated simulations, simulation by simulation (England's rates move alike in each LA
    of a simulation). In the all-LA back-test these intervals held the region's truth in 101
    of 108 (region, January, horizon) cases, but in only 5 of 9 regions for January 2024 one
    year ahead: a year that moves every LA alike moves the sum, and no calibration on single
    LAs sees that."""
    data, projection = context.data, context.projection
    origin = projection.origin
    region = _area_totals(context.statistics, region_code)
    in_region = np.array([data.region_codes[r] == region_code for r in data.region])
    for k, year in enumerate(data.years):  # a file of LAs alone: the sum of the LAs
        if year not in region and np.isfinite(data.totals[in_region, k]).any():
            region[year] = float(np.nansum(data.totals[in_region, k]))
    first = max(origin - context.history_years + 1, data.years[0])
    observed = [
        {"january": y, "kind": "observed", "mean": region[y]}
        for y in range(first, origin + 1)
        if y in region
    ]
    sums = projection.totals()[:, in_region & projection.fitted.has_start].sum(axis=1)
    stats = _summary(sums)
    projected = [
        {"january": y, "kind": "projected", **{k: float(v[n]) for k, v in stats.items()}}
        for n, y in enumerate(projection.years)
    ]
    frame = pd.DataFrame(observed + projected)
    return frame.reindex(columns=["january", "kind", "mean", "low_95", "median", "high_95"])


# --------------------------------------------------------------------------------------------
# Beside the region and England


def _comparison(context: _Context, row: int, region_code: str) -> pd.DataFrame:
    statistics, data, projection = context.statistics, context.data, context.projection
    origin = projection.origin
    in_region = np.array([data.region_codes[r] == region_code for r in data.region])
    # sums of LAs from the model's own simulations: the calibration widens each LA's interval
    # for its own surprises, which largely cancel in a sum of LAs
    totals = projection.raw_totals  # sims x LAs x years
    last = len(projection.years)
    end = projection.years[-1]
    areas = {
        "la": (data.codes[row], totals[:, row, -1]),
        "region": (region_code, totals[:, in_region, -1].sum(axis=1)),
        "england": (ENGLAND, totals[:, projection.fitted.has_start, -1].sum(axis=1)),
    }
    measures: dict[str, dict[str, float | str]] = {}
    for column, (code, future) in areas.items():
        history = _area_totals(statistics, code)
        now = history.get(origin, np.nan)
        shares = context.panel.special_shares(code, origin)
        values = {
            f"EHC plans, January {origin}": now,
            "Growth in the last year": _growth(history, origin, 1),
            "Growth a year over the last three years": _growth(history, origin, 3),
            "Share in special schools": shares[0],
            "Share in independent or non-maintained special schools": shares[1],
            f"Projected EHC plans, January {end} (median)": float(np.median(future)),
            f"Projected growth a year to January {end}": (
                (float(np.median(future)) / now) ** (1 / last) - 1 if now > 0 else np.nan
            ),
        }
        for measure, value in values.items():
            measures.setdefault(measure, {})[column] = value
    return pd.DataFrame(
        [{"measure": m, **v} for m, v in measures.items()],
        columns=["measure", "la", "region", "england"],
    )


def _area_totals(statistics: EhcpStatistics, code: str) -> dict[int, float]:
    rows = statistics.totals[statistics.totals["code"] == code].dropna(subset=["plans"])
    return dict(zip(rows["year"].astype(int), rows["plans"].astype(float), strict=True))


def _growth(history: dict[int, float], origin: int, years: int) -> float:
    now, then = history.get(origin, np.nan), history.get(origin - years, np.nan)
    if not (now > 0 and then > 0):
        return np.nan
    return (now / then) ** (1 / years) - 1


# --------------------------------------------------------------------------------------------
# What the forecast rests on


def _notes(context: _Context, row: int, name: str) -> tuple[str, ...]:
    """What a planner should know before quoting the forecast."""
    statistics, data, projection = context.statistics, context.data, context.projection
    fitted, origin = projection.fitted, projection.origin
    notes = []
    if int(fitted.own_years[row]) == 0:
        notes.append(
            f"{name} has no earlier January of its own in the statistics (a new LA): its "
            "rates are its region's and England's"
        )
    else:
        notes.append(
            f"{name} keeps {float(np.mean(fitted.weight[row])):.0%} of its own difference "
            "from its region's rates (averaged over age groups), learnt from how well LAs' "
            "past differences foretold the next year's; the rest is its region's and England's"
        )
    if not np.isfinite(data.plans[row, :, data.index(origin)]).all():
        notes.append(
            f"The statistics give {name}'s total for January {origin} but not its ages: "
            "they are estimated from the year before, aged on"
        )
    if any(data.years[0] <= y <= origin and y == 2023 for y in range(origin - 3, origin + 1)):
        notes.append(
            "From January 2023 the DfE's figures come from a person-level collection (before: "
            "LA totals), and LAs' year-to-year changes were larger since: the intervals are "
            "sized by the errors the model made from every earlier January"
        )
    if not context.panel.has_settings(data.codes[row], origin):
        notes.append(
            "The statistics given have no types of setting: give the DfE's caseload by "
            "setting or by establishment type as well for the split by type of setting"
        )
    notes += [n for n in statistics.notes if n.startswith(f"{name},") or "suppressed" in n]
    return tuple(notes)


def _population_notes(
    population: LaPopulation, code: str, name: str, projection: Projection, row: int
) -> tuple[str, ...]:
    factor = projection.fitted.population_factor
    if not population.covers(code) or factor is None:
        return (
            f"{population.file} has no rows for {name}: its net new plans follow the plans it "
            "holds (the statistics' own age structure), not its population",
        )
    end = projection.years[-1]
    change = ", ".join(f"{band} {factor[row, -1, b] - 1:+.1%}" for b, band in enumerate(AGE_BANDS))
    return (
        f"Net new plans follow {name}'s population by age ({population.file}): by January "
        f"{end} they are scaled by how far each age group's population is from where its "
        f"growth of the years before would have taken it: {change}",
    )


def _history_notes(
    history: HistorySplit, data: Cohorts, row: int, name: str, origin: int
) -> tuple[str, ...]:
    notes = [
        f"Totals and age groups are the DfE statistics' forecast; the split by need and type "
        f"of setting is {name}'s own January {history.january} snapshot (children by age "
        "group), the types of setting drifting as the DfE's figures for the LA have"
    ]
    if history.january != origin:
        notes.append(
            f"The history has no January {origin} (the statistics' latest): its latest, "
            f"January {history.january}, gives the split"
        )
    own = history.children_by_year.get(origin)
    published = data.totals[row, data.index(origin)]
    if own is not None and np.isfinite(published) and published > 0:
        notes.append(
            f"Your January {origin} snapshot has {own:,} children with a plan; the DfE's "
            f"statistics {published:,.0f} ({own / published - 1:+.1%})"
        )
    if history.bands_without_children:
        shown = ", ".join(history.bands_without_children)
        notes.append(f"No child aged {shown} in the snapshot: those take the split of all ages")
    return tuple(notes)


def _method(
    projection: Projection,
    row: int,
    config: LaModelConfig,
    population: LaPopulation | None,
    history: HistorySplit | None,
    code: str,
) -> tuple[tuple[str, str], ...]:
    scale = ", ".join(f"{s:.2f}" for s in projection.scale)
    base = "net new plans per plan held"
    if population is not None and population.covers(code):
        base += f", following the population by age ({population.file})"
    method = [
        ("Model", f"cohort-component by age band, {base}, pooled across LAs"),
        ("Latest January (origin)", str(projection.origin)),
        ("LA's own years behind its rates", str(int(projection.fitted.own_years[row]))),
        ("Simulations", f"{config.n_simulations:,} (seed {config.seed})"),
        (
            "Interval",
            "95%, sized by the model's errors from every earlier January (split-conformal); "
            "the model's own spread widened by horizon: " + scale,
        ),
    ]
    if history is not None:
        method.append(
            (
                "Split by need and setting",
                f"the LA's history ({history.source}), January {history.january}",
            )
        )
    return tuple(method)
