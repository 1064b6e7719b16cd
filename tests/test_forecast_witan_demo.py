"""The forecast's back-test on witan.send's own demo data, beside witan.send's published one.

Needs ``../shared/data/witan-send-demo`` (present in CI; skipped with the reason elsewhere).
The issue's targets for 2016 and 2017 one year ahead and 2017 two years ahead are totals
within 2% with the 95% interval covering the truth (met and asserted) and a weighted absolute
error across settings of at most 5% one year and 7% two years ahead (not met on this data, and
not reachable from the years before: see the one-year oracles in benchmarks/forecast.py). What
is asserted for the split is what the model does achieve: better than the trivial forecast
from the same start where it is clearly better, and no worse than today's level, so a
regression shows. Nothing here is tuned on the held-out years: the fit chooses its recency,
drift and prior strength from the years before each base year.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from matcher.forecast.backtest import backtest
from matcher.forecast.inputs import read_witan_inputs
from matcher.forecast.model import project
from matcher.forecast.summary import summary_table
from matcher.forecast.types import ForecastConfig, ForecastInputs

DEMO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "witan-send-demo"
TARGETS = ((2016, 1), (2017, 1), (2017, 2))

pytestmark = pytest.mark.skipif(
    not (DEMO / "data" / "transitions.csv").exists(),
    reason=f"witan.send's demo data is not at {DEMO} (../shared/data is absent in a fresh clone)",
)


@pytest.fixture(scope="module")
def demo() -> ForecastInputs:
    data = DEMO / "data"
    return read_witan_inputs(
        data / "transitions.csv",
        data / "population.csv",
        data / "costs.csv",
        data / "valid-states.csv",
    )


@pytest.fixture(scope="module")
def table(demo: ForecastInputs) -> pd.DataFrame:
    return backtest(demo, (1, 2, 3), ForecastConfig(n_simulations=300))


def _row(table: pd.DataFrame, year: int, horizon: int, level: str) -> pd.Series:
    rows = table[
        (table["held_out_year"] == year) & (table["horizon"] == horizon) & (table["level"] == level)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_backtest_has_witans_cases(table: pd.DataFrame) -> None:
    """witan.send's validation_results_count.csv has the same six (year, horizon) cases."""
    witan = pd.read_csv(DEMO / "results_for_checking" / "validation_results_count.csv")
    ours = set(zip(table["held_out_year"], table["horizon"], strict=True))
    assert ours == set(zip(witan["calendar-year"], witan["n-transition"], strict=True))
    truth = dict(zip(witan["calendar-year"], witan["ground-truth"], strict=False))
    assert all(table["truth"] == table["held_out_year"].map(truth))


@pytest.mark.parametrize(("year", "horizon"), TARGETS)
def test_totals_within_2_percent_and_covered(table: pd.DataFrame, year: int, horizon: int) -> None:
    total = _row(table, year, horizon, "total")
    assert abs(total["error_pct"]) <= 2.0
    assert bool(total["covered"])


def test_beats_witans_own_backtest_of_2017(table: pd.DataFrame) -> None:
    """witan.send projected 2017 from 2016 at 1,972.5 (95% bounds 1,911-2,098): truth 2,153."""
    total = _row(table, 2017, 1, "total")
    assert abs(total["projected"] - 2153) < abs(1972.5 - 2153) / 5


def test_split_across_settings_and_needs(table: pd.DataFrame) -> None:
    """Two years ahead the model's split is clearly better than the trivial forecast's (11.4%
    against 14.6% at 300 simulations); one year ahead about as good (2016: 8.8% against 9.4%;
    2017: 6.8% against 6.9%)."""
    two_years = _row(table, 2017, 2, "setting")
    assert two_years["split_error_pct"] < two_years["trivial_split_error_pct"] - 2.0
    assert two_years["split_error_pct"] <= 11.5
    for year in (2016, 2017):
        settings = _row(table, year, 1, "setting")
        assert settings["split_error_pct"] <= settings["trivial_split_error_pct"] + 0.5
        assert settings["split_error_pct"] <= 9.5
        needs = _row(table, year, 1, "need")
        assert needs["split_error_pct"] <= 3.0


def test_settings_intervals_allow_for_the_drift_in_rates(table: pd.DataFrame) -> None:
    """Each future's rates drift as far as the history's moved from year to year, so more
    settings' 95% intervals hold the truth than with parameter uncertainty alone (15 of 19 in
    each target case before; now 17, 15 and 16). Settings whose intake jumped in the held-out
    year itself (S: 6 to 35 children) stay out of reach."""
    coverage = [_row(table, year, h, "setting")["group_coverage"] for year, h in TARGETS]
    assert min(coverage) >= 15 / 19 - 1e-9
    assert sum(coverage) / len(coverage) >= 16 / 19 - 1e-9


def test_projection_to_2022_beside_witans(demo: ForecastInputs) -> None:
    """From January 2017 (2,153 children) both project growth; witan.send's mean for 2022 is
    2,539.8 from 10 simulations."""
    projection = project(demo, [2022], ForecastConfig(n_simulations=200))
    table = summary_table(projection).set_index("calendar-year")
    assert table.loc[2017, "mean"] == 2153
    assert table.loc[2017, "std-dev"] == 0
    means = table["mean"].tolist()
    assert means == sorted(means)
    assert 2300 < table.loc[2022, "mean"] < 2800
    assert (
        table.loc[2022, "low-95pc-bound"]
        < table.loc[2022, "mean"]
        < (table.loc[2022, "high-95pc-bound"])
    )
