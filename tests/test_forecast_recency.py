"""What the forecast's fit chooses from the history itself: how much recent years count, how far
rates drift, how strongly sparse states borrow; and the back-test's one-year oracles.

Histories are small and hand-checkable (see ``tests/test_forecast_model.py`` for the notation).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from matcher.forecast.backtest import ORACLES, january_disagreement, one_year_oracles
from matcher.forecast.model import fit_choices, project
from matcher.forecast.recency import MIN_DECAY, FitChoices
from matcher.forecast.types import NONSEND, ForecastConfig, ForecastInputs, TransitionTable
from tests.test_forecast_model import Row, inputs, noisy_history


def leaving_history(leavers_by_year: dict[int, int], children: int = 100) -> list[Row]:
    """``children`` in special NC 9 each transition year, of whom the year's leavers leave and
    the rest move up; January of the year after the last holds ``children`` in NC 9 again."""
    rows: list[Row] = []
    for year, leavers in leavers_by_year.items():
        rows += [(year, "special", "ASD", 9, NONSEND, NONSEND, 10)] * leavers
        rows += [(year, "special", "ASD", 9, "special", "ASD", 10)] * (children - leavers)
    last = max(leavers_by_year) + 1
    rows += [(last, "special", "ASD", 9, "special", "ASD", 10)] * children
    return rows


def staying_next_year(leavers_by_year: dict[int, int], extra: dict[str, float]) -> np.ndarray:
    """Children still there a year after the base January, one per simulated future."""
    history = inputs(leaving_history(leavers_by_year))
    base = max(leavers_by_year) + 1
    config = ForecastConfig(n_simulations=4000, extra=extra)
    projection = project(history, [base + 1], config, base_year=base)
    return projection.grouped("total")[1][:, 1, 0]


@pytest.mark.parametrize(
    ("leavers", "rate"),
    [
        # 40 then 10 of 100: far beyond chance (Pearson's chi2 24 on 1 degree of freedom), so
        # the last year leads: the decay bottoms out at MIN_DECAY.
        ({2016: 40, 2017: 10}, (40 * MIN_DECAY + 10) / (100 * MIN_DECAY + 100)),
        # 28 then 22 of 100: within chance (chi2 0.96 on 1), so both years count alike.
        ({2016: 28, 2017: 22}, 0.25),
    ],
    ids=["a jump leans on the last year", "chance weighs the years alike"],
)
def test_how_much_recent_years_count_follows_how_far_the_rate_moved(
    leavers: dict[int, int], rate: float
) -> None:
    """The earlier fixed decay (0.25) projected 16% and 23.2% leavers for these two histories;
    the rate drift seen decides instead."""
    extra = {"prior_strength": 0.0, "parameter_uncertainty": 0.0}
    staying = staying_next_year(leavers, extra)
    assert staying.mean() == pytest.approx(100 * (1 - rate), abs=0.5)


def test_rates_that_drifted_widen_the_futures() -> None:
    """Same pooled leaving rate (a quarter of 200 a year): years of 20, 80 and 50 leavers
    moved far beyond chance, years of 48, 52 and 50 did not. Only the first history's futures
    draw a drifted rate, so its spread is several times the steady one's (binomial noise
    plus parameter uncertainty, about 6.5 children)."""
    extra = {"prior_strength": 8.0}
    history_of = {
        "steady": {2015: 48, 2016: 52, 2017: 50},
        "drifting": {2015: 20, 2016: 80, 2017: 50},
    }
    spread = {}
    for name, leavers in history_of.items():
        history = inputs(leaving_history(leavers, children=200))
        config = ForecastConfig(n_simulations=2000, extra=extra)
        projection = project(history, [2019], config, base_year=2018)
        spread[name] = projection.grouped("total")[1][:, 1, 0].std()
    assert spread["steady"] < 9
    assert spread["drifting"] > 2.5 * spread["steady"]
    # The width is the drift's, not the fewer years the recency leaves to learn from.
    without = ForecastConfig(n_simulations=2000, extra={**extra, "rate_drift": 0.0})
    history = inputs(leaving_history(history_of["drifting"], children=200))
    narrow = project(history, [2019], without, base_year=2018).grouped("total")[1][:, 1, 0]
    assert narrow.std() < spread["drifting"] / 2


def test_the_fits_choices_never_see_the_base_year_or_after() -> None:
    """The recency, drift and prior strength for a base year come from the years before it: the
    base year's own outcomes (all its children leave, here) change nothing, an earlier year's
    do."""
    history = noisy_history()
    frame = history.transitions.frame
    choices = fit_choices(history, 2018)
    assert choices.scores  # two transition years: the inner back-test had a year to test on

    changed = frame.copy()
    outcomes = changed["calendar_year"] == 2018
    changed.loc[outcomes, ["setting_2", "need_2"]] = NONSEND
    assert _same(fit_choices(_with_frame(history, changed), 2018), choices)

    earlier = frame.copy()
    first = (earlier["calendar_year"] == 2016) & (earlier["setting_1"] == "special")
    earlier.loc[first, ["setting_2", "need_2"]] = NONSEND
    assert fit_choices(_with_frame(history, earlier), 2018).scores != choices.scores


def test_one_year_oracles_by_hand() -> None:
    """Ten children stay in 'a' every year; in 2018 alone five join 'b'. Projected from 2018
    (fitted on 2016-2017, where nobody joined), 2019's 'b' is 0 against 5: 5 of 15 children
    misplaced; told the joiners, none; told the leavers or movers, still 5; the trivial
    forecast told the total grows 'a' to 15 and leaves 'b' at 0 (10 misplaced)."""
    rows: list[Row] = []
    for year in (2016, 2017, 2018):
        rows += [(year, "a", "ASD", 3, "a", "ASD", 3)] * 10
    rows += [(2018, NONSEND, NONSEND, -1, "b", "ASD", 0)] * 5
    table = one_year_oracles(inputs(rows)).set_index("held_out_year")
    assert list(table.index) == [2018, 2019]
    assert (table.loc[2018, ["model", *ORACLES]] == 0).all()
    row = table.loc[2019]
    assert row["model"] == pytest.approx(100 * 5 / 15)
    assert row["joiners"] == pytest.approx(0)
    assert row["leavers"] == pytest.approx(100 * 5 / 15)
    assert row["movers"] == pytest.approx(100 * 5 / 15)
    assert row["trivial told the total"] == pytest.approx(100 * 10 / 15)


def test_a_january_recorded_twice_disagrees_by_hand() -> None:
    """January 2017 as the 2016 transitions record it: 10 in 'a'; as its own: 8 in 'a' and 2 in
    'b' (witan.send's anonymised demo data does this; an LA's linked snapshots never do)."""
    rows: list[Row] = [(2016, "a", "ASD", 3, "a", "ASD", 4)] * 10
    rows += [(2017, "a", "ASD", 4, "a", "ASD", 5)] * 8
    rows += [(2017, "b", "ASD", 4, "b", "ASD", 5)] * 2
    assert january_disagreement(inputs(rows), 2017) == pytest.approx(100 * (2 + 2) / 10)


def _with_frame(history: ForecastInputs, frame: pd.DataFrame) -> ForecastInputs:
    return replace(history, transitions=TransitionTable(frame))


def _same(one: FitChoices, other: FitChoices) -> bool:
    drifts = all(
        (a.dispersion, a.cells, a.decay, a.concentration)
        == (b.dispersion, b.cells, b.decay, b.concentration)
        and np.array_equal(a.rates, b.rates)
        for a, b in ((one.drift[c], other.drift[c]) for c in one.drift)
    )
    same_parts = one.drift.keys() == other.drift.keys()
    return (
        same_parts
        and drifts
        and (one.prior_strength, one.scores)
        == (
            other.prior_strength,
            other.scores,
        )
    )
