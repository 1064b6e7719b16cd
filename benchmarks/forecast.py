"""Demand forecast: back-test on witan.send's demo data beside witan.send's own, and speed at scale.

    .venv/bin/python benchmarks/forecast.py [--simulations 1000]
        [--parts backtest,projection,speed[,variants]] [--no-write]

* ``backtest``: :func:`matcher.forecast.backtest.backtest` on ``../shared/data/witan-send-demo``
  (2013-2017), beside witan.send's published back-test (``validation_results_count.csv``) and
  the trivial forecast (the last transition year's growth applied to every group), against the
  issue's targets: for 2016 and 2017 one year ahead and 2017 two years ahead, totals within 2%
  with the 95% interval covering the truth, and the weighted absolute error across settings
  (sum |projected - actual| / total) at most 5% one year ahead and 7% two years ahead. Then
  what the fit chose for each base year from the years before it, and the one-year oracles
  (:func:`matcher.forecast.backtest.one_year_oracles`): how far the split could get if the
  model knew part of the held-out year.
* ``projection``: 2018-2022 from all the history, beside witan.send's ``Output_Count.csv`` (its
  10 simulations), and how much the 95% bounds move with the seed.
* ``speed``: 1,000 simulated futures of 10 years for a synthetic 25,000-child LA of 13 needs x
  8 kinds of place x 26 NC years with valid states (target under 10 s on 2 cores), wall time of
  the fit and simulation and the process's peak resident memory (Linux ``VmHWM`` reset after
  the history is built, so the peak is the forecast's own with the inputs resident).
* ``variants`` (not run by default): the back-test's target cases under the model's earlier
  fixed knobs and with each of the fit's own choices switched off in turn, so the effect of
  each is measured, not assumed.

Each run replaces its own "## Forecast" section at the end of RESULTS.md (appends it if absent);
``--no-write`` only prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.forecast.backtest import (
    ORACLES,
    backtest,
    january_disagreement,
    one_year_oracles,
)
from matcher.forecast.inputs import read_witan_inputs
from matcher.forecast.knobs import AssumptionSet, parse_assumptions
from matcher.forecast.model import DEFAULT_KNOBS, fit_choices, january_counts, project
from matcher.forecast.rates import COMPONENTS
from matcher.forecast.summary import summary_table
from matcher.forecast.types import (
    NONSEND,
    ForecastConfig,
    ForecastInputs,
    PopulationTable,
    SettingRule,
    TransitionTable,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from placement_scale import RESULTS, machine, utc_date

DEMO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "witan-send-demo"
SECTION = "## Forecast"
TARGET_CASES = ((2016, 1), (2017, 1), (2017, 2))
TARGET_TOTAL_PCT = 2.0
TARGET_SPLIT_PCT = {1: 5.0, 2: 7.0}
TARGET_SPEED_S = 10.0
SEN2_NEEDS = (
    "ASD", "HI", "MLD", "MSI", "NSA", "OTH", "PD", "PMLD", "SEMH", "SLCN", "SLD", "SPLD", "VI",
)  # fmt: skip
#: Kinds of place with the NC years they take (a realistic large LA's valid states).
KINDS = {
    "mainstream": (-3, 14),
    "resourced": (0, 11),
    "special": (-2, 19),
    "independent": (0, 19),
    "ap": (1, 11),
    "post16": (12, 20),
    "early_years": (-5, 0),
    "eotas": (-5, 20),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=1000)
    parser.add_argument("--parts", default="backtest,projection,speed")
    parser.add_argument("--children", type=int, default=25_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    config = ForecastConfig(n_simulations=args.simulations)
    blocks = [_header(argv)]
    failures: list[str] = []
    if parts & {"backtest", "projection", "variants"}:
        inputs = _demo_inputs()
        if "backtest" in parts:
            text, missed = _backtest_block(inputs, config)
            blocks.append(text)
            failures += missed
        if "projection" in parts:
            blocks.append(_projection_block(inputs, config))
        if "variants" in parts:
            blocks.append(_variants_block(inputs, config))
    if "speed" in parts:
        text, missed = _speed_block(args.children, config)
        blocks.append(text)
        failures += missed
    blocks.append(
        "Targets not met: " + "; ".join(failures) + "." if failures else "Every target met."
    )
    report = "\n\n".join(blocks)
    print(report)
    if not args.no_write:
        _write_section(report)
    return 0


# --------------------------------------------------------------------------------------------
# witan.send's demo data


def _demo_inputs() -> ForecastInputs:
    data = DEMO / "data"
    if not data.exists():
        msg = f"witan.send's demo data is not at {DEMO.resolve()} (see ../shared/data)"
        raise SystemExit(msg)
    return read_witan_inputs(
        data / "transitions.csv",
        data / "population.csv",
        data / "costs.csv",
        data / "valid-states.csv",
    )


def _backtest_block(inputs: ForecastInputs, config: ForecastConfig) -> tuple[str, list[str]]:
    started = time.perf_counter()
    table = backtest(inputs, (1, 2, 3), config)
    wall = time.perf_counter() - started
    witan = pd.read_csv(DEMO / "results_for_checking" / "validation_results_count.csv")
    witan = witan.set_index(["calendar-year", "n-transition"])
    lines = [
        "### Back-test on witan.send's demo data",
        "",
        f"{config.n_simulations} simulations a projection, seed {config.seed}, model defaults "
        f"{DEFAULT_KNOBS}; {wall:.1f} s for the whole back-test. Each held-out January is "
        "projected from the January `horizon` years before, fitted on the transitions before "
        "that. sendmatch and the trivial forecast start from the same counts (the base "
        "January as the base year's own transitions record it: see `matcher/forecast/model.py`); "
        "truth is the held-out January as witan.send's `ground-truth` has it. Split error: sum "
        "over groups of |projected mean - actual| / actual total. ✓/✗ against the issue's "
        "targets (rows marked ◆). Nothing is tuned on the held-out years: each projection's "
        "recency, drift and prior strength are chosen by the fit from the years before its "
        "base year (tables below; `matcher/forecast/recency.py`).",
        "",
        "| year | horizon | truth | witan.send mean [95%] | sendmatch mean [95%] | "
        "sendmatch total error | trivial total error | settings: sendmatch | settings: trivial "
        "| needs: sendmatch | needs: trivial | groups covered (settings) |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    missed: list[str] = []
    for (year, horizon), rows in table.groupby(["held_out_year", "horizon"], sort=False):
        by_level = rows.set_index("level")
        total, setting, need = by_level.loc["total"], by_level.loc["setting"], by_level.loc["need"]
        target = (year, horizon) in TARGET_CASES
        w = witan.loc[(year, horizon)] if (year, horizon) in witan.index else None
        witan_text = (
            f"{w['mean']:,.1f} [{w['low-95pc-bound']:,.0f}–{w['high-95pc-bound']:,.0f}]"
            if w is not None
            else "–"
        )
        total_ok = abs(total["error_pct"]) <= TARGET_TOTAL_PCT and bool(total["covered"])
        split_ok = setting["split_error_pct"] <= TARGET_SPLIT_PCT.get(int(horizon), 7.0)
        mark = (lambda ok: " ✓" if ok else " ✗") if target else (lambda ok: "")
        if target and not total_ok:
            missed.append(
                f"{year} from {year - horizon}: total {total['error_pct']:+.1f}%"
                f"{'' if total['covered'] else ', interval misses the truth'}"
            )
        if target and not split_ok:
            missed.append(
                f"{year} from {year - horizon}: settings split {setting['split_error_pct']:.1f}% "
                f"(target ≤ {TARGET_SPLIT_PCT[int(horizon)]:.0f}%; trivial "
                f"{setting['trivial_split_error_pct']:.1f}%)"
            )
        lines.append(
            f"| {year}{' ◆' if target else ''} | {horizon} | {total['truth']:,} | {witan_text} "
            f"| {total['projected']:,.1f} [{total['low_95']:,.0f}–{total['high_95']:,.0f}]"
            f"{'' if total['covered'] else ' misses'} "
            f"| {total['error_pct']:+.2f}%{mark(total_ok)} | {total['trivial_error_pct']:+.2f}% "
            f"| {setting['split_error_pct']:.1f}%{mark(split_ok)} "
            f"| {setting['trivial_split_error_pct']:.1f}% "
            f"| {need['split_error_pct']:.1f}% | {need['trivial_split_error_pct']:.1f}% "
            f"| {setting['group_coverage']:.0%} of {setting['groups']} |"
        )
    lines += [
        "",
        _issue_trivial_note(inputs),
        "",
        _largest_split_errors(inputs, config),
        "",
        _choices_block(inputs, config),
        "",
        _oracles_block(inputs, config),
    ]
    return "\n".join(lines), missed


def _choices_block(inputs: ForecastInputs, config: ForecastConfig) -> str:
    """What the fit chose for each base year, from the transition years before it only."""
    lines = [
        "#### What the fit chose, from the years before each base year",
        "",
        "Per part: the decay (weight of a year relative to the year after it), from the "
        "dispersion φ of the part's yearly counts in setting × phase cells (1 = no more spread "
        "than chance; decay 1 = every year alike, as witan.send); the drift concentration "
        "(each simulated future's rates drawn around the cell's rate like a Beta of this "
        "concentration; – = no drift measured). Prior strength: the inner back-test's pick "
        "(one-year settings split error on the years before the base year, mean %).",
        "",
        "| base year | fitted on | "
        + " | ".join(
            f"{c}: φ, decay, drift" for c in COMPONENTS if c not in ("need_change", "steps")
        )
        + " | prior strength (inner score %) |",
        "|---|---|" + "---|" * (len(COMPONENTS) - 2) + "---|",
    ]
    observed = inputs.observed_years
    for base in observed[1:]:
        choices = fit_choices(inputs, base, config)
        parts = []
        for component in COMPONENTS:
            if component in ("need_change", "steps"):
                continue  # no need changes and no held-back or skipped years in this data
            d = choices.drift[component]
            drift = f"{d.concentration:,.0f}" if d.concentration > 0 else "–"
            parts.append(f"{d.dispersion:.2f}, {d.decay:.2f}, {drift}")
        if choices.scores:
            best = choices.scores[choices.prior_strength]
            worst = max(choices.scores.values())
            kappa = f"{choices.prior_strength:g} ({best:.2f}; worst of grid {worst:.2f})"
        else:
            kappa = f"{choices.prior_strength:g} (one year: nothing to test on)"
        fitted = f"{observed[0]}–{base - 1}" if base - 1 > observed[0] else str(observed[0])
        lines.append(f"| {base} | {fitted} | " + " | ".join(parts) + f" | {kappa} |")
    return "\n".join(lines)


def _oracles_block(inputs: ForecastInputs, config: ForecastConfig) -> str:
    """How far the split could get if the model knew part of the held-out year."""
    table = one_year_oracles(inputs, config)
    lines = [
        "#### Could any model of the years before meet the split targets? One-year oracles",
        "",
        "Settings split error (%) one year ahead of the model's expected flows (posterior "
        "means, so within simulation noise of the back-test's), then with one part replaced "
        "by what happened in the held-out year itself (settings and destinations keep the "
        "model's totals), and the trivial forecast told the true total.",
        "",
        "| held-out year | model | "
        + " | ".join(f"told {name}" for name in ORACLES)
        + " | trivial told the total |",
        "|---|---:|" + "---:|" * len(ORACLES) + "---:|",
    ]
    for _, row in table.iterrows():
        cells = " | ".join(f"{row[name]:.1f}" for name in (*ORACLES, "trivial told the total"))
        lines.append(f"| {int(row['held_out_year'])} | {row['model']:.1f} | {cells} |")
    floors = ", ".join(
        f"{year}: {january_disagreement(inputs, year):.1f}%" for year in inputs.observed_years[1:-1]
    )
    lines += [
        "",
        "Only the held-out year's movers bring the one-year split under 5%; told the held-out "
        "year's joiners exactly, the model still misses by 7–8%. Two years ahead, the data "
        "records each middle January twice, as the arrivals of the year before's transitions "
        "and as the departures of its own, and the two disagree across settings by "
        f"{floors} (sum of |difference| over the January's total): a projection of 2017 from "
        "2015 passes through the first record of January 2016 and is scored against the "
        "descendants of the second, so about that much of the 7% budget is lost before any "
        "model error.",
    ]
    return "\n".join(lines)


#: The variants' knobs: the earlier fixed defaults (tuned on the held-out years), and the
#: fit's own choices with one switched off at a time.
VARIANTS: tuple[tuple[str, dict[str, float]], ...] = (
    ("earlier fixed knobs (0.25, 8), no drift", {
        "recency_decay": 0.25, "prior_strength": 8.0, "rate_drift": 0.0,
    }),
    ("chosen by the fit (defaults)", {}),
    ("no drift", {"rate_drift": 0.0}),
    ("every year alike (decay 1)", {"recency_decay": 1.0}),
    ("prior strength fixed at 8", {"prior_strength": 8.0}),
)  # fmt: skip


def _variants_block(inputs: ForecastInputs, config: ForecastConfig) -> str:
    lines = [
        "### Variants of the model on the back-test's target cases",
        "",
        f"{config.n_simulations} simulations each, seed {config.seed}. Settings split error, "
        "total error and the share of settings whose 95% interval holds the truth, for "
        "2016 from 2015, 2017 from 2016 and 2017 from 2015.",
        "",
        "| variant | settings split % | total error % | total covered | settings covered |",
        "|---|---|---|---|---|",
    ]
    for name, extra in VARIANTS:
        variant = ForecastConfig(config.n_simulations, config.seed, extra)
        table = backtest(inputs, (1, 2), variant)
        splits, totals, covered, groups = [], [], [], []
        for year, horizon in TARGET_CASES:
            rows = table[(table["held_out_year"] == year) & (table["horizon"] == horizon)]
            by_level = rows.set_index("level")
            splits.append(f"{by_level.loc['setting', 'split_error_pct']:.1f}")
            totals.append(f"{by_level.loc['total', 'error_pct']:+.1f}")
            covered.append("yes" if by_level.loc["total", "covered"] else "no")
            groups.append(f"{by_level.loc['setting', 'group_coverage']:.0%}")
        lines.append(
            f"| {name} | {', '.join(splits)} | {', '.join(totals)} | {', '.join(covered)} "
            f"| {', '.join(groups)} |"
        )
    return "\n".join(lines)


def _largest_split_errors(inputs: ForecastInputs, config: ForecastConfig) -> str:
    """Which settings make the split error: the three largest |mean - truth| per target case."""
    parts = []
    for year, horizon in TARGET_CASES:
        base = year - horizon
        projection = project(inputs, [year], config, base_year=base)
        labels, grouped = projection.grouped("setting")
        mean = dict(zip(labels, grouped[:, -1].mean(axis=0), strict=True))
        start = dict(zip(labels, grouped[:, 0].mean(axis=0), strict=True))
        truth: dict[str | int, int] = {}
        for state, n in january_counts(inputs, year).items():
            truth[state.setting] = truth.get(state.setting, 0) + n
        settings = set(mean) | set(truth)
        worst = sorted(settings, key=lambda g: -abs(mean.get(g, 0.0) - truth.get(g, 0)))[:3]
        described = ", ".join(
            f"{g} {mean.get(g, 0.0) - truth.get(g, 0):+.0f} (from {start.get(g, 0.0):.0f}: "
            f"projected {mean.get(g, 0.0):.0f}, actual {truth.get(g, 0)})"
            for g in worst
        )
        total = sum(truth.values())
        share = sum(abs(mean.get(g, 0.0) - truth.get(g, 0)) for g in worst) / total
        parts.append(f"{year} from {base}: {described}, {100 * share:.1f} points of the error")
    return (
        "Where the settings split error comes from (the three settings with the largest "
        "|projected mean - actual|): " + "; ".join(parts) + ". Setting S (NC 11-19) grew "
        "from 2 children to 35 and 79 in two years and N from 11 to 40: provision that "
        "opened or widened; a model of rates fitted on the years before projects such a "
        "setting's intake at its past level, not its growth."
    )


def _issue_trivial_note(inputs: ForecastInputs) -> str:
    """The trivial forecast as the issue computed it: from the arrivals of the year before."""
    frame = inputs.transitions.frame
    notes = []
    for year, horizon in TARGET_CASES:
        base = year - horizon
        last = frame[frame["calendar_year"] == base - 1]
        growth = (last["setting_2"] != NONSEND).sum() / (last["setting_1"] != NONSEND).sum()
        start = last[last["setting_2"] != NONSEND].groupby("setting_2").size()
        truth_rows = frame[(frame["calendar_year"] == year - 1) & (frame["setting_2"] != NONSEND)]
        truth = truth_rows.groupby("setting_2").size()
        both = pd.DataFrame({"p": start * growth**horizon, "t": truth}).fillna(0)
        split = 100 * (both["p"] - both["t"]).abs().sum() / both["t"].sum()
        notes.append(f"{year} from {base}: {split:.1f}%")
    return (
        "The issue's trivial-forecast figures start from the base January as the year before's "
        "transitions record it (their arrivals), which in this anonymised data differs from the "
        "same January as the base year's transitions record it by 5–8% across settings; from "
        "there its settings split error is " + ", ".join(notes) + " (the issue's 11.8%, 8.6% "
        "and 13.5%, reproduced)."
    )


def _projection_block(inputs: ForecastInputs, config: ForecastConfig) -> str:
    started = time.perf_counter()
    projection = project(inputs, range(2018, 2023), config)
    wall = time.perf_counter() - started
    ours = summary_table(projection).set_index("calendar-year")
    other_seed = summary_table(
        project(inputs, range(2018, 2023), ForecastConfig(config.n_simulations, config.seed + 1))
    ).set_index("calendar-year")
    witan = pd.read_csv(DEMO / "results_for_checking" / "Output_Count.csv")
    witan = witan.set_index("calendar-year")
    lines = [
        "### Projection 2018–2022 beside witan.send's Output_Count.csv",
        "",
        f"From all of 2013–2017, {config.n_simulations} simulations ({wall:.1f} s); witan.send's "
        "published run has 10 simulations (seed 50). 'Bounds moved' is how far the 95% bounds "
        f"move with seed {config.seed + 1} instead of {config.seed}, as a share of the mean.",
        "",
        "| year | witan.send mean [95%] | sendmatch mean [95%] | sendmatch median | "
        "sendmatch std-dev | bounds moved (low / high) |",
        "|---|---|---|---:|---:|---|",
    ]
    for year, row in ours.iterrows():
        w = witan.loc[year] if year in witan.index else None
        witan_text = (
            f"{w['mean']:,.1f} [{w['low-95pc-bound']:,.0f}–{w['high-95pc-bound']:,.0f}]"
            if w is not None
            else "–"
        )
        other = other_seed.loc[year]
        moved_low = 100 * abs(other["low-95pc-bound"] - row["low-95pc-bound"]) / row["mean"]
        moved_high = 100 * abs(other["high-95pc-bound"] - row["high-95pc-bound"]) / row["mean"]
        lines.append(
            f"| {year} | {witan_text} | {row['mean']:,.1f} "
            f"[{row['low-95pc-bound']:,.0f}–{row['high-95pc-bound']:,.0f}] | {row['median']:,.0f} "
            f"| {row['std-dev']:.1f} | {moved_low:.2f}% / {moved_high:.2f}% |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Speed at a large LA's size


def synthetic_history(children: int, seed: int = 2026) -> ForecastInputs:
    """Four years of transitions of a large LA drawn from a known Markov chain.

    13 SEN2 needs, the 8 kinds of place of :data:`KINDS` with their NC-year ranges, NC years -5
    to 20; about 9% leave a year (more at 11, 13 and 14+) and slightly more join, 8% change
    setting (and all whose setting does not take their next NC year), 1% need, 0.5% are held
    back or skip a year.
    """
    rng = np.random.default_rng(seed)
    kinds = list(KINDS)
    ncy = rng.choice(np.arange(-3, 20), size=children, p=_ncy_weights(np.arange(-3, 20)))
    need = rng.choice(len(SEN2_NEEDS), size=children, p=_need_weights())
    kind = np.array([_valid_kind(rng, a) for a in ncy])
    frames = []
    for year in range(2021, 2025):
        n_now = len(ncy)
        leave_p = np.where(np.isin(ncy, (11, 13)), 0.25, np.where(ncy >= 14, 0.3, 0.04))
        leaves = rng.random(n_now) < leave_p
        step = rng.choice([0, 1, 2], size=n_now, p=[0.004, 0.995, 0.001])
        ncy2 = ncy + step
        moves = (rng.random(n_now) < 0.08) | ~_kind_takes(kind, ncy2)
        kind2 = kind.copy()
        kind2[moves] = [_valid_kind(rng, min(a, 20)) for a in ncy2[moves]]
        need2 = np.where(rng.random(n_now) < 0.01, rng.integers(0, len(SEN2_NEEDS), n_now), need)
        leaves |= ncy2 > 20
        frames.append(
            pd.DataFrame(
                {
                    "calendar_year": year,
                    "setting_1": [kinds[k] for k in kind],
                    "need_1": [SEN2_NEEDS[n] for n in need],
                    "academic_year_1": ncy,
                    "setting_2": np.where(leaves, NONSEND, [kinds[k] for k in kind2]),
                    "need_2": np.where(leaves, NONSEND, [SEN2_NEEDS[n] for n in need2]),
                    "academic_year_2": ncy2,
                }
            )
        )
        joiners = int(1.01 * leaves.sum())  # a steady LA, growing 1% of its leavers a year
        j_ncy = rng.choice(np.arange(-3, 20), size=joiners, p=_ncy_weights(np.arange(-3, 20)))
        j_need = rng.choice(len(SEN2_NEEDS), size=joiners, p=_need_weights())
        j_kind = np.array([_valid_kind(rng, a) for a in j_ncy])
        frames.append(
            pd.DataFrame(
                {
                    "calendar_year": year,
                    "setting_1": NONSEND,
                    "need_1": NONSEND,
                    "academic_year_1": j_ncy - 1,
                    "setting_2": [kinds[k] for k in j_kind],
                    "need_2": [SEN2_NEEDS[n] for n in j_need],
                    "academic_year_2": j_ncy,
                }
            )
        )
        stay = ~leaves
        ncy = np.concatenate([ncy2[stay], j_ncy])
        need = np.concatenate([need2[stay], j_need])
        kind = np.concatenate([kind2[stay], j_kind])
    transitions = pd.concat(frames, ignore_index=True)
    ncys = np.arange(-5, 21)
    population = pd.DataFrame(
        [
            {"calendar_year": y, "academic_year": int(a), "population": 9000 + 40 * (y - 2021)}
            for y in range(2021, 2036)
            for a in ncys
        ]
    )
    rules = {
        kind: SettingRule(kind, low, high, frozenset(SEN2_NEEDS), frozenset(kinds))
        for kind, (low, high) in KINDS.items()
    }
    return ForecastInputs(
        TransitionTable(transitions), PopulationTable(population), valid_states=rules
    )


def _ncy_weights(ncy: np.ndarray) -> np.ndarray:
    weights = np.exp(-(((ncy - 7.0) / 6.0) ** 2))
    return weights / weights.sum()


def _need_weights() -> np.ndarray:
    weights = np.array([30, 2, 8, 0.5, 1, 3, 3, 1, 18, 20, 5, 5, 1.5])
    return weights / weights.sum()


def _valid_kind(rng: np.random.Generator, ncy: int) -> int:
    options = [k for k, (low, high) in enumerate(KINDS.values()) if low <= ncy <= high]
    weights = np.array([{0: 12, 2: 5, 3: 2, 5: 6}.get(k, 1) for k in options], float)
    return int(rng.choice(options, p=weights / weights.sum()))


def _kind_takes(kind: np.ndarray, ncy: np.ndarray) -> np.ndarray:
    ranges = np.array(list(KINDS.values()))
    return (ranges[kind, 0] <= ncy) & (ncy <= ranges[kind, 1])


def _speed_block(children: int, config: ForecastConfig) -> tuple[str, list[str]]:
    inputs = synthetic_history(children)
    frame = inputs.transitions.frame
    last = frame[(frame["calendar_year"] == 2024) & (frame["setting_2"] != NONSEND)]
    rows, missed = [], []
    for assumptions in (None, speed_assumptions()):
        reset = _reset_peak()
        rss_before, _ = _memory_mb()
        started = time.perf_counter()
        projection = project(inputs, range(2026, 2036), config, assumptions=assumptions)
        wall = time.perf_counter() - started
        _, peak = _memory_mb()
        ok = wall < TARGET_SPEED_S
        rows.append(
            f"| {'with the assumptions below' if assumptions else 'none'} | "
            f"{config.n_simulations} | {len(projection.years) - 1} | "
            f"{len(projection.states):,} | {wall:.2f} | < {TARGET_SPEED_S:.0f} s "
            f"{'✓' if ok else '✗'} | {peak:,.0f} | {rss_before:,.0f} |"
        )
        if not ok:
            which = " with assumptions" if assumptions else ""
            missed.append(f"speed{which} {wall:.1f} s (target < {TARGET_SPEED_S:.0f} s)")
    described = "; ".join(what for _, what in speed_assumptions().assumptions.descriptions())
    text = "\n".join(
        [
            "### Speed at a large LA's size",
            "",
            f"Synthetic history (`synthetic_history({children})` in `benchmarks/forecast.py`): "
            f"2021–2024, {len(last):,} children in January 2025, {len(SEN2_NEEDS)} needs × "
            f"{len(KINDS)} kinds of place × 26 NC years (-5 to 20) with valid states; about 9% "
            "leave and as many join, 8% change setting, 1% need, 0.5% are held back or skip a "
            "year.",
            "",
            "| assumptions | simulations | years | states used | wall s (fit + simulate) | "
            "target | peak MB | RSS before MB |",
            "|---|---:|---:|---:|---:|---|---:|---:|",
            *rows,
            "",
            "Peak MB is the process's resident high-water mark (Linux VmHWM"
            + (", reset just before each forecast" if reset else ", not resettable here")
            + ") with Python, numpy, pandas and the inputs resident; the projection's count "
            f"array itself is {projection.counts.nbytes / 2**20:,.0f} MB. The assumptions "
            f"(`speed_assumptions()`): {described}.",
        ]
    )
    return text, missed


def speed_assumptions() -> AssumptionSet:
    """Every kind of knob at once, two new schools among them: what a planner's heaviest
    assumptions file costs at a large LA."""
    school = {"needs": ["ASD", "SEMH"], "first_nc_year": 7, "last_nc_year": 13}
    knobs = parse_assumptions(
        {
            "population": {"rate": 0.005},
            "joiners": [{"need": "ASD", "change_a_year": 0.1, "from_year": 2027}],
            "shifts": [{"share": 0.2, "from_year": 2027}],
            "new_settings": [
                {"name": "Oak", "places": 120, "opening_year": 2027, **school},
                {"name": "Elm", "places": 60, "needs": ["SLD"], "opening_year": 2029},
            ],
        }
    )
    return AssumptionSet("Benchmark", "speed_assumptions()", knobs)


def _memory_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process in MiB (Linux VmRSS, VmHWM)."""
    with contextlib.suppress(OSError):
        status = Path("/proc/self/status").read_text()
        found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        if len(found) == 2:
            return int(found["VmRSS"]) / 1024, int(found["VmHWM"]) / 1024
    return float("nan"), float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# RESULTS.md


def _header(argv: Sequence[str] | None) -> str:
    info = machine()
    command = " ".join(
        ["python", "benchmarks/forecast.py", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]
    )
    return "\n".join(
        [
            SECTION,
            "",
            f"Machine: {info['platform']}, {info['processor']}, {info['cpus']} CPUs (shared with "
            f"other jobs), {info['ram']} RAM, Python {info['python']}. Date: {utc_date()}.",
            f"Command: `{command}`.",
        ]
    )


def _write_section(text: str, path: Path = RESULTS) -> None:
    """Append the section at the end; a re-run replaces only its own section's text."""
    block = text.rstrip() + "\n"
    current = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if not pattern.search(current):
        with path.open("a") as out:
            out.write(("\n" if current.endswith("\n") else "\n\n") + block)
        return
    path.write_text(pattern.sub(lambda _m: block + "\n", current, count=1).rstrip() + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
