"""The forecast model, its summary tables and back-test, on small hand-checkable histories.

Histories are written as transitions: (calendar year, setting 1, need 1, NC year 1, setting 2,
need 2, NC year 2), NONSEND for a joiner's first state and a leaver's second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.forecast import model
from matcher.forecast.backtest import BACKTEST_COLUMNS, backtest
from matcher.forecast.model import project
from matcher.forecast.summary import STATISTIC_COLUMNS, summary_table
from matcher.forecast.types import (
    NONSEND,
    TRANSITION_COLUMNS,
    CostTable,
    ForecastConfig,
    ForecastInputs,
    PopulationTable,
    Projection,
    SettingRule,
    State,
    TransitionTable,
)
from matcher.io import InputError

Row = tuple[int, str, str, int, str, str, int]
NO_PRIORS = {"prior_strength": 0.0, "parameter_uncertainty": 0.0, "recency_decay": 1.0}


def inputs(
    rows: Iterable[Row],
    *,
    population: int = 1000,
    years: Sequence[int] = range(2015, 2035),
    rules: dict[str, SettingRule] | None = None,
    population_in: dict[int, int] | None = None,
) -> ForecastInputs:
    frame = pd.DataFrame(list(rows), columns=list(TRANSITION_COLUMNS))
    people = pd.DataFrame(
        [(y, a, (population_in or {}).get(y, population)) for y in years for a in range(-5, 21)],
        columns=["calendar_year", "academic_year", "population"],
    )
    return ForecastInputs(TransitionTable(frame), PopulationTable(people), valid_states=rules)


def ageing_history(children: dict[State, int], years: Sequence[int]) -> list[Row]:
    """Every child moves up one NC year each year in its setting; nobody joins or leaves."""
    rows: list[Row] = []
    for offset, year in enumerate(years):
        for state, n in children.items():
            a = state.academic_year + offset
            rows += [(year, state.setting, state.need, a, state.setting, state.need, a + 1)] * n
    return rows


def counts_by_state(projection: Projection, sim: int, t: int) -> dict[State, int]:
    pairs = zip(projection.states, projection.counts[sim, t], strict=True)
    return {state: int(n) for state, n in pairs if n}


START = {State("ASD", "special", 1): 3, State("SEMH", "mainstream", 4): 5, State("ASD", "ap", 7): 2}


# --------------------------------------------------------------------------------------------
# Exact cases


@pytest.mark.parametrize(
    "extra",
    [{}, NO_PRIORS, {"prior_strength": 50.0, "recency_decay": 0.5}],
    ids=["defaults", "no priors", "strong priors"],
)
def test_every_child_ages_one_year_and_nobody_joins_or_leaves_projects_exactly(
    extra: dict[str, float],
) -> None:
    """Priors are centred on pooled rates, and a pooled rate of exactly 0 (no child ever left,
    moved or joined) stays 0 with any prior strength and with parameter uncertainty on."""
    history = inputs(ageing_history(START, range(2016, 2019)))
    projection = project(history, [2022], ForecastConfig(n_simulations=40, extra=extra))
    assert projection.years == (2019, 2020, 2021, 2022)
    for t in range(4):
        expected = {State(s.need, s.setting, s.academic_year + 3 + t): n for s, n in START.items()}
        for sim in range(40):
            assert counts_by_state(projection, sim, t) == expected


def test_a_child_past_the_last_nc_year_leaves() -> None:
    """An EHCP ends in NC year 20 (the year a young person turns 25)."""
    history = inputs(ageing_history({State("ASD", "post16", 17): 4}, range(2016, 2018)))
    projection = project(history, [2021], ForecastConfig(n_simulations=5))
    total = projection.grouped("total")[1][0, :, 0]
    assert list(total) == [4, 4, 0, 0]  # NC 19 in 2018, 20 in 2019, gone in 2020


def test_starts_from_the_base_year_and_fits_only_on_the_years_before() -> None:
    """A back-test must not see the year it projects: leavers of 2018 do not count in 2018."""
    rows = ageing_history({State("ASD", "special", 3): 10}, range(2016, 2018))
    rows += [(2018, "special", "ASD", 5, NONSEND, NONSEND, 6)] * 10  # everyone leaves in 2018
    history = inputs(rows)
    projection = project(history, [2019], ForecastConfig(n_simulations=10), base_year=2018)
    assert projection.years == (2018, 2019)
    assert counts_by_state(projection, 0, 0) == {State("ASD", "special", 5): 10}
    assert all(
        counts_by_state(projection, sim, 1) == {State("ASD", "special", 6): 10} for sim in range(10)
    )


# --------------------------------------------------------------------------------------------
# Rates


def test_leavers_joiners_and_movers_follow_the_observed_rates() -> None:
    """Without priors or parameter uncertainty the mean over many futures is the arithmetic:
    40 children in special NC 3 each year, 10 of whom leave (25%) and 6 move to mainstream (20% of
    those staying); 8 joiners in NC 0 per 1,000 of the population, and the population doubles
    in the projected year."""
    rows: list[Row] = []
    for year in (2016, 2017):
        rows += [(year, "special", "ASD", 3, "special", "ASD", 4)] * 24
        rows += [(year, "special", "ASD", 3, NONSEND, NONSEND, 4)] * 10
        rows += [(year, "special", "ASD", 3, "mainstream", "ASD", 4)] * 6
        rows += [(year, NONSEND, NONSEND, -1, "mainstream", "SEMH", 0)] * 8
    history = inputs(rows, population=1000, population_in={2019: 2000})
    config = ForecastConfig(n_simulations=4000, extra=NO_PRIORS)
    projection = project(history, [2019], config, base_year=2018)
    mean = dict(zip(projection.states, projection.counts[:, 1].mean(axis=0), strict=True))
    # January 2018: 24 in special NC 4, 6 in mainstream NC 4, 8 in mainstream NC 0 (SEMH).
    # NC 4 has no history of its own: it takes NC 3's rates through the chain (all children ->
    # phase -> NC year), for either setting: leave 25%, and 20% of the rest move to the other.
    assert mean[State("ASD", "special", 5)] == pytest.approx(
        24 * 0.75 * 0.8 + 6 * 0.75 * 0.2, abs=0.15
    )
    assert mean[State("ASD", "mainstream", 5)] == pytest.approx(
        24 * 0.75 * 0.2 + 6 * 0.75 * 0.8, abs=0.15
    )
    assert mean[State("SEMH", "mainstream", 0)] == pytest.approx(16.0, abs=0.2)


def test_need_changes_follow_the_observed_rates() -> None:
    """A quarter of SLCN children in mainstream were reassessed as ASD each year."""
    rows: list[Row] = []
    for year in (2016, 2017):
        rows += [(year, "mainstream", "SLCN", 2, "mainstream", "SLCN", 3)] * 30
        rows += [(year, "mainstream", "SLCN", 2, "mainstream", "ASD", 3)] * 10
    rows += [(2018, "mainstream", "SLCN", 2, "mainstream", "SLCN", 3)] * 40
    history = inputs(rows)
    config = ForecastConfig(n_simulations=3000, extra=NO_PRIORS)
    projection = project(history, [2019], config, base_year=2018)
    labels, by_need = projection.grouped("need")
    assert by_need[:, 1, labels.index("ASD")].mean() == pytest.approx(10, abs=0.2)
    assert by_need[:, 1, labels.index("SLCN")].mean() == pytest.approx(30, abs=0.2)


def test_parameter_uncertainty_widens_the_futures() -> None:
    """Rates learnt from 20 children are uncertain: drawing them per future (as witan.send
    does) spreads the futures wider than year-to-year chance alone."""
    rows: list[Row] = []
    rows += [(2017, "special", "ASD", 9, "special", "ASD", 10)] * 10
    rows += [(2017, "special", "ASD", 9, NONSEND, NONSEND, 10)] * 10
    rows += [(2018, "special", "ASD", 9, "special", "ASD", 10)] * 20
    history = inputs(rows)
    spreads = []
    for uncertainty in (0.0, 1.0):
        extra = {"parameter_uncertainty": uncertainty}
        projection = project(
            history, [2019], ForecastConfig(n_simulations=3000, extra=extra), base_year=2018
        )
        spreads.append(projection.grouped("total")[1][:, 1, 0].std())
    assert spreads[0] == pytest.approx(np.sqrt(20 * 0.25), rel=0.1)  # binomial(20, 1/2)
    assert spreads[1] > 1.2 * spreads[0]


def test_a_sparse_state_borrows_its_rate_from_its_neighbours() -> None:
    """Two children in 'ap' at NC 9 stayed; 100 in NC 9 elsewhere left at 50%. The state's own
    frequency (0) would keep both for ever; pooled, some leave, but fewer than half."""
    rows: list[Row] = []
    for year in (2016, 2017):
        rows += [(year, "ap", "SEMH", 9, "ap", "SEMH", 10)] * 2
        rows += [(year, "special", "SEMH", 9, "special", "SEMH", 10)] * 50
        rows += [(year, "special", "SEMH", 9, NONSEND, NONSEND, 10)] * 50
    rows += [(2018, "ap", "SEMH", 9, "ap", "SEMH", 10)] * 2
    history = inputs(rows)
    projection = project(history, [2019], ForecastConfig(n_simulations=2000), base_year=2018)
    sparse = projection.states.index(State("SEMH", "ap", 10))
    mean = projection.counts[:, 1, sparse].mean()
    assert 1.0 < mean < 1.98
    without_priors = project(
        history, [2019], ForecastConfig(n_simulations=200, extra=NO_PRIORS), base_year=2018
    )
    alone = without_priors.states.index(State("SEMH", "ap", 10))
    assert (without_priors.counts[:, 1, alone] == 2).all()


def test_a_state_whose_survivors_all_moved_under_decaying_weights_projects() -> None:
    """Every survivor of special NC 3 moved, in three years weighted 0.01, 0.1 and 1: the
    movers' weights summed one way exceeded the survivors' summed another by one ulp, a move
    rate past 1, which numpy's binomial refused."""
    rows: list[Row] = []
    for year, settings_to in ((2015, "ccbba"), (2016, "a"), (2017, "dccd")):
        rows += [(year, "special", "ASD", 3, to, "ASD", 4) for to in settings_to]
    rows += [(y, "special", "ASD", 3, NONSEND, NONSEND, 4) for y in (2016, 2016, 2017, 2017)]
    rows.append((2018, "special", "ASD", 3, "special", "ASD", 4))
    extra = {"recency_decay": 0.1, "prior_strength": 0.0}
    for uncertainty in (0.0, 1.0):
        config = ForecastConfig(
            n_simulations=20, extra={**extra, "parameter_uncertainty": uncertainty}
        )
        projection = project(inputs(rows), [2019], config, base_year=2018)
        assert projection.counts[:, 1].sum(axis=1).max() <= 1


def test_valid_states_force_moves_and_forbid_destinations() -> None:
    """'infant' takes NC 0-2 only: its NC 2 children must move on, to 'junior' (the one move its
    rule allows). Junior children moved to 'closed' in the history, but junior's rule does not
    allow it, so none does; 'closed' ends at NC 6 and its children, with nowhere allowed to go,
    leave."""
    rules = {
        "infant": SettingRule("g", 0, 2, frozenset({"ASD"}), frozenset({"junior"})),
        "junior": SettingRule("g", 0, 6, frozenset({"ASD"}), frozenset({"infant"})),
        "closed": SettingRule("g", 0, 6, frozenset({"ASD"}), frozenset({"infant"})),
    }
    rows: list[Row] = []
    for year in (2016, 2017):
        rows += [(year, "infant", "ASD", 1, "infant", "ASD", 2)] * 5
        rows += [(year, "junior", "ASD", 3, "junior", "ASD", 4)] * 5
        rows += [(year, "junior", "ASD", 4, "closed", "ASD", 5)] * 2
    history = inputs(rows, rules=rules)
    projection = project(history, [2020], ForecastConfig(n_simulations=200))
    labels, grouped = projection.grouped("setting")
    assert (grouped[:, 1:, labels.index("infant")] == 0).all()
    assert (grouped[:, :, labels.index("closed")] == [2, 2, 0]).all()
    for state, expected in ((State("ASD", "junior", 3), 5), (State("ASD", "junior", 5), 5)):
        assert (projection.counts[:, 1, projection.states.index(state)] == expected).all()


def test_movers_with_no_destination_seen_go_only_where_the_rules_allow() -> None:
    """'a' NC 5 has no history: it borrows the phase's move rate (half of NC 3's children
    moved), but the only moves seen went into 'a' itself. Its movers go where its rule allows
    ('b'), never to 'z', the last setting, which its rule forbids."""
    rules = {
        "a": SettingRule("g", 0, 20, frozenset({"ASD"}), frozenset({"b"})),
        "b": SettingRule("g", 0, 20, frozenset({"ASD"}), frozenset({"a"})),
        "z": SettingRule("g", 0, 20, frozenset({"ASD"}), frozenset({"a", "b"})),
    }
    rows: list[Row] = []
    for year in (2016, 2017):
        rows += [(year, "b", "ASD", 3, "a", "ASD", 4)] * 10
        rows += [(year, "a", "ASD", 3, "a", "ASD", 4)] * 10
    rows += [(2018, "a", "ASD", 5, "a", "ASD", 6)] * 10  # the start, not fitted on
    history = inputs(rows, rules=rules)
    config = ForecastConfig(n_simulations=200, extra=NO_PRIORS)
    projection = project(history, [2019], config, base_year=2018)
    labels, grouped = projection.grouped("setting")
    assert "z" not in labels
    assert grouped[:, 1, labels.index("b")].mean() == pytest.approx(5, abs=0.5)


def test_a_projected_year_missing_from_the_population_is_an_input_error() -> None:
    history = inputs(ageing_history(START, range(2016, 2019)), years=range(2015, 2021))
    with pytest.raises(InputError) as raised:
        project(history, [2022], ForecastConfig(n_simulations=5))
    problem = raised.value.problems[0]
    assert (problem.field, "2021" in problem.message, "2022" in problem.message) == (
        "calendar-year",
        True,
        True,
    )


def test_unknown_knob_and_bad_years_are_refused() -> None:
    history = inputs(ageing_history(START, range(2016, 2019)))
    with pytest.raises(ValueError, match="unknown forecast settings"):
        project(history, [2021], ForecastConfig(extra={"recency": 0.5}))
    with pytest.raises(ValueError, match="base year"):
        project(history, [2021], base_year=2016)
    with pytest.raises(ValueError, match="past the base year"):
        project(history, [2017])


# --------------------------------------------------------------------------------------------
# Randomness


def noisy_history() -> ForecastInputs:
    rows: list[Row] = []
    for year in (2016, 2017, 2018):
        for a in range(0, 12):
            rows += [(year, "special", "ASD", a, "special", "ASD", a + 1)] * 6
            rows += [(year, "special", "ASD", a, NONSEND, NONSEND, a + 1)]
            rows += [(year, "mainstream", "SEMH", a, "special", "SEMH", a + 1)]
            rows += [(year, "mainstream", "SEMH", a, "mainstream", "SEMH", a + 1)] * 4
            rows += [(year, "mainstream", "SLCN", a, "mainstream", "SEMH", a + 1)]
            rows += [(year, "mainstream", "SEMH", a, "mainstream", "SEMH", a + 2)]
            rows += [(year, NONSEND, NONSEND, a - 1, "mainstream", "SLCN", a)] * 2
    return inputs(rows)


def test_the_same_seed_gives_the_same_futures_and_another_seed_others() -> None:
    history = noisy_history()
    first = project(history, [2024], ForecastConfig(n_simulations=30, seed=7))
    again = project(history, [2024], ForecastConfig(n_simulations=30, seed=7))
    other = project(history, [2024], ForecastConfig(n_simulations=30, seed=8))
    assert first.states == again.states
    assert np.array_equal(first.counts, again.counts)
    assert not np.array_equal(first.grouped("total")[1], other.grouped("total")[1])
    assert len(set(first.counts[:, -1].sum(axis=1))) > 1  # futures differ from each other


def test_the_futures_do_not_depend_on_how_many_threads_simulate_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = noisy_history()
    config = ForecastConfig(n_simulations=model._CHUNK * 2 + 3, seed=3)
    monkeypatch.setattr(model, "_MAX_THREADS", 1)
    alone = project(history, [2021], config)
    monkeypatch.setattr(model, "_MAX_THREADS", 4)
    together = project(history, [2021], config)
    assert np.array_equal(alone.counts, together.counts)
    chunk = model._CHUNK  # and each chunk has a stream of its own
    assert not np.array_equal(together.counts[:3], together.counts[2 * chunk :])


def test_the_ageing_steps_seen_are_the_steps_projected() -> None:
    """Children in NC 5 were always held back, those in NC 8 always skipped a year and those in
    NC 2 moved up one. Without priors NC 5 keeps its children; NC years with no history of their
    own take the pooled steps (a third each), so all three steps appear, and never a fourth."""
    rows: list[Row] = []
    for year in (2016, 2017):
        rows += [(year, "special", "ASD", 5, "special", "ASD", 5)] * 3
        rows += [(year, "special", "ASD", 8, "special", "ASD", 10)] * 3
        rows += [(year, "special", "ASD", 2, "special", "ASD", 3)] * 3
    history = inputs(rows)
    projection = project(history, [2020], ForecastConfig(n_simulations=300, extra=NO_PRIORS))
    labels, by_ncy = projection.grouped("academic_year")
    assert (by_ncy[:, :, labels.index(5)] >= 3).all()  # January 2018: NC 3, 5 and 10
    in_2019 = {label for g, label in enumerate(labels) if by_ncy[:, 1, g].any()}
    assert {3, 4, 5, 10, 11, 12} <= in_2019
    assert max(labels) <= 10 + 2 * 3  # type: ignore[operator]


rows_strategy = st.lists(
    st.tuples(
        st.integers(2016, 2018),
        st.sampled_from(["special", "mainstream", NONSEND]),
        st.sampled_from(["ASD", "SEMH"]),
        st.integers(-2, 18),
        st.sampled_from(["special", "mainstream", "ap", NONSEND]),
        st.sampled_from(["ASD", "SEMH", "SLCN"]),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=rows_strategy,
    seed=st.integers(0, 2**16),
    extra=st.sampled_from([{}, NO_PRIORS, {"recency_decay": 0.1, "prior_strength": 0.0}]),
)
def test_projection_properties(raw: list[tuple[int, str, str, int, str, str, int]], seed: int,
                               extra: dict[str, float]) -> None:  # fmt: skip
    """Counts never negative; every grouping sums to the total; the first year is the start."""
    rows: list[Row] = []
    for year, s1, n1, a, s2, n2, step in raw:
        need1 = NONSEND if s1 == NONSEND else n1
        need2 = NONSEND if s2 == NONSEND else n2
        if s1 == NONSEND and s2 == NONSEND:
            continue
        rows.append((year, s1, need1, a, s2, need2, a + step if s1 != NONSEND else a + 1))
    rows.append((2018, "special", "ASD", 3, "special", "ASD", 4))
    history = inputs(rows)
    projection = project(history, [2022], ForecastConfig(n_simulations=12, seed=seed, extra=extra))
    assert (projection.counts >= 0).all()
    _, total = projection.grouped("total")
    for by in ("need", "setting", "academic_year"):
        _, parts = projection.grouped(by)  # type: ignore[arg-type]
        assert np.array_equal(parts.sum(axis=2), total[:, :, 0])
    start = model.january_counts(history, 2019)
    assert all(counts_by_state(projection, sim, 0) == start for sim in range(12))


# --------------------------------------------------------------------------------------------
# Summary tables


def fixed_projection() -> Projection:
    """Four futures, two years, three states; totals 10, 12, 14, 16 in the second year."""
    states = (State("ASD", "special", 5), State("SEMH", "special", 5), State("ASD", "ap", 6))
    counts = np.array(
        [
            [[4, 4, 2], [5, 3, 2]],
            [[4, 4, 2], [6, 4, 2]],
            [[4, 4, 2], [7, 4, 3]],
            [[4, 4, 2], [8, 5, 3]],
        ],
        np.int32,
    )
    return Projection((2024, 2025), states, counts)


def test_summary_has_witans_columns_in_witans_order() -> None:
    projection = fixed_projection()
    assert list(summary_table(projection).columns) == ["calendar-year", *STATISTIC_COLUMNS]
    witan = "mean,std-dev,iqr,min,low-95pc-bound,q1,median,q3,high-95pc-bound,max,low-ci,high-ci"
    assert ",".join(STATISTIC_COLUMNS) == witan
    for by, column in (
        ("need", "need"),
        ("setting", "setting"),
        ("academic_year", "academic-year"),
    ):
        table = summary_table(projection, by)  # type: ignore[arg-type]
        assert list(table.columns) == ["calendar-year", column, *STATISTIC_COLUMNS]


def test_summary_statistics_by_hand() -> None:
    table = summary_table(fixed_projection()).set_index("calendar-year")
    first, second = table.loc[2024], table.loc[2025]
    assert (first["mean"], first["std-dev"], first["low-ci"], first["max"]) == (10, 0, 10, 10)
    sd = np.sqrt(5.0)  # of 10, 12, 14, 16 (as HdrHistogram: divided by n)
    assert second["mean"] == 13
    assert second["std-dev"] == pytest.approx(sd)
    assert (second["min"], second["q1"], second["median"], second["q3"], second["max"]) == (
        10, 11.5, 13, 14.5, 16
    )  # fmt: skip
    assert second["iqr"] == pytest.approx(3)
    assert second["low-95pc-bound"] == pytest.approx(10.15)  # linear between simulations
    assert second["high-95pc-bound"] == pytest.approx(15.85)
    assert second["low-ci"] == pytest.approx(13 - 1.96 * sd / 2)
    assert second["high-ci"] == pytest.approx(13 + 1.96 * sd / 2)


def test_summary_by_group_and_cost() -> None:
    projection = fixed_projection()
    by_need = summary_table(projection, "need").set_index(["calendar-year", "need"])
    assert by_need.loc[(2025, "ASD"), "mean"] == pytest.approx((7 + 8 + 10 + 11) / 4)
    assert by_need.loc[(2025, "SEMH"), "mean"] == pytest.approx(4)
    costs = CostTable(
        pd.DataFrame(
            {"need": ["ASD", "SEMH"], "setting": ["special", "special"], "cost": [100.0, 10.0]}
        )
    )
    cost = summary_table(projection, "total", costs).set_index("calendar-year")
    assert cost.loc[2024, "mean"] == 4 * 100 + 4 * 10  # 'ap' has no cost: 0, as in witan.send
    by_setting = summary_table(projection, "setting", costs).set_index(["calendar-year", "setting"])
    assert by_setting.loc[(2025, "ap"), "max"] == 0
    assert by_setting.loc[(2025, "special"), "max"] == 8 * 100 + 5 * 10


# --------------------------------------------------------------------------------------------
# Back-test


def test_backtest_rows_columns_and_trivial_forecast() -> None:
    """A steady history (all age, none leave; 4 SEMH join mainstream NC 0 each year) projected
    exactly by the model; the trivial forecast grows every group by the last year's growth."""
    children = {State("ASD", "special", 1): 10, State("SEMH", "mainstream", 4): 10}
    rows = ageing_history(children, range(2015, 2019))
    for year in range(2015, 2019):
        rows += [(year, NONSEND, NONSEND, -1, "mainstream", "SEMH", 0)] * 4
        rows += [  # last years' joiners age on
            (year, "mainstream", "SEMH", a, "mainstream", "SEMH", a + 1)
            for a in range(year - 2015)
            for _ in range(4)
        ]
    history = inputs(rows)
    table = backtest(history, (1, 2), ForecastConfig(n_simulations=50, extra=NO_PRIORS))
    assert list(table.columns) == list(BACKTEST_COLUMNS)
    cases = list(dict.fromkeys(zip(table["held_out_year"], table["horizon"], strict=True)))
    assert cases == [(2018, 1), (2019, 1), (2018, 2), (2019, 2)]
    assert list(table["level"][:3]) == ["total", "need", "setting"]
    row = table[(table["held_out_year"] == 2019) & (table["horizon"] == 1)].set_index("level")
    assert row.loc["total", "truth"] == 20 + 16
    assert row.loc["total", "projected"] == pytest.approx(36, abs=1)  # 4 joiners a year
    assert bool(row.loc["total", "covered"])
    growth = 32 / 28  # the 2017 transitions: 28 children in January 2017, 32 in January 2018
    assert row.loc["total", "trivial_projected"] == pytest.approx(32 * growth)
    # settings in January 2019: special 10, mainstream 26; trivial: 10 g and 22 g
    assert row.loc["setting", "trivial_split_error_pct"] == pytest.approx(
        100 * (abs(10 * growth - 10) + abs(22 * growth - 26)) / 36
    )
    assert row.loc["setting", "split_error_pct"] == pytest.approx(0, abs=3)
    assert row.loc["setting", "group_coverage"] == 1.0


def test_backtest_needs_a_year_to_fit_on() -> None:
    history = inputs(ageing_history(START, range(2016, 2018)))
    with pytest.raises(ValueError, match="too short"):
        backtest(history, (2,))
