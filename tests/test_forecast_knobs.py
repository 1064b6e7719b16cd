"""A planner's assumptions (``sendmatch forecast --assume FILE``): the file's problems with
the path to each field, and each knob's effect on small histories where it can be checked by
hand (most exactly: rates of 0 or 1 leave nothing to chance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher.forecast.knobs import (
    AssumptionsError,
    AssumptionSet,
    load_assumptions,
    parse_assumptions,
    resolve,
    with_population,
)
from matcher.forecast.model import forecast_axes, project
from matcher.forecast.outputs import assumption_rows
from matcher.forecast.types import (
    NONSEND,
    ForecastConfig,
    ForecastInputs,
    PopulationTable,
    Projection,
    SettingRule,
    State,
)
from tests.test_forecast_model import (
    NO_PRIORS,
    Row,
    ageing_history,
    counts_by_state,
    inputs,
    noisy_history,
)

HISTORY_YEARS = range(2016, 2019)  # transitions 2016-2018: Januaries 2016-2019, base 2019
#: A child in special with a need of its own, so that the histories have a special setting
#: (an assumption may only name settings the forecast has); :func:`counts` leaves it out.
SPECIAL_TOO = {State("PMLD", "special", 1): 1}


def assumed(data: dict[str, object], population: PopulationTable | None = None) -> AssumptionSet:
    return AssumptionSet("test", "test.yaml", parse_assumptions(data, "test.yaml"), population)


def forecast(
    history: ForecastInputs,
    data: dict[str, object] | None,
    *,
    last: int = 2022,
    sims: int = 20,
    extra: dict[str, float] | None = None,
    base_year: int | None = None,
) -> Projection:
    config = ForecastConfig(n_simulations=sims, extra=NO_PRIORS if extra is None else extra)
    knobs = None if data is None else assumed(data)
    return project(history, [last], config, assumptions=knobs, base_year=base_year)


def in_state(projection: Projection, year: int, state: State) -> np.ndarray:
    """Children in ``state`` in January ``year``, one count per simulation."""
    t = projection.years.index(year)
    if state not in projection.states:
        return np.zeros(projection.counts.shape[0], np.int64)
    return projection.counts[:, t, projection.states.index(state)].astype(np.int64)


def counts(projection: Projection, sim: int, t: int) -> dict[State, int]:
    return {k: n for k, n in counts_by_state(projection, sim, t).items() if k.need != "PMLD"}


def joiners(year: int, setting: str, need: str, ncy: int, n: int) -> list[Row]:
    return [(year, NONSEND, NONSEND, ncy - 1, setting, need, ncy)] * n


def problems_of(data: object) -> set[str]:
    with pytest.raises(AssumptionsError) as caught:
        parse_assumptions(data, "knobs.yaml")
    return {f"{p.field}: {p.message}" for p in caught.value.problems}


# --------------------------------------------------------------------------------------------
# The file


def test_a_good_file_reads_with_defaults_and_says_what_it_assumes(tmp_path: Path) -> None:
    path = tmp_path / "asd_rising.yaml"
    path.write_text(
        "joiners:\n"
        "  - {need: ASD, change_a_year: 0.1, from_year: 2027}\n"
        "shifts:\n"
        "  - {share: 0.2, from_year: 2027}\n"
        "new_settings:\n"
        "  - {name: Oakfield, places: 120, needs: [ASD, SEMH], opening_year: 2027,\n"
        "     first_nc_year: 7, last_nc_year: 13, intake_a_year: 30}\n"
        "population: {rate: 0.005}\n",
        encoding="utf-8",
    )
    knobs = load_assumptions(path)
    assert knobs.name == "asd_rising"  # the file's name when it gives none
    shift = knobs.assumptions.shifts[0]
    assert (shift.from_setting, shift.to_setting, shift.children_already_there) == (
        "independent",
        "special",
        True,
    )
    school = knobs.assumptions.new_settings[0]
    assert (school.setting, school.takes_from, school.first_year) == (
        "special",
        ("independent",),
        2028,
    )
    described = dict(knobs.descriptions())
    assert described["Assumptions"] == "asd_rising (asd_rising.yaml)"
    assert described["Assumed joiners"] == (
        "ASD joiners +10% a year (compounding) from January 2027"
    )
    assert (
        "from January 2028 it takes children of those needs who would otherwise be in "
        in (described["Assumed new setting"])
    )
    assert "+0.5% a year" in described["Assumed population"]


def test_every_problem_of_a_file_is_reported_with_the_path_to_its_field() -> None:
    found = problems_of(
        {
            "colour": "blue",
            "population": {"rate": 0.01, "file": "ons.csv"},
            "joiners": [
                {"need": "ASD", "from_year": 2027},
                {"need": "SEMH", "change": "lots", "from_year": 2027},
            ],
            "shifts": [
                {"share": 1.5, "from_year": 2027},
                {"share": 0.5, "from_year": 2027, "to_setting": "Independent"},
            ],
            "new_settings": [
                {"name": "Oak", "places": 0, "needs": [], "opening_year": 2027},
                {
                    "name": "Elm",
                    "places": 10,
                    "needs": ["ASD"],
                    "opening_year": 2027,
                    "first_nc_year": 9,
                    "last_nc_year": 7,
                },
            ],
        }
    )
    fields = {problem.split(": ")[0] for problem in found}
    assert fields == {
        "colour",
        "population",
        "joiners[0]",
        "joiners[1].change",
        "shifts[0].share",
        "shifts[1].to_setting",
        "new_settings[0].places",
        "new_settings[0].needs",
        "new_settings[1].last_nc_year",
    }
    assert "population: give either rate (a change a year" in " ".join(found)
    assert "shifts[1].to_setting: must differ from from_setting" in found


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("knobs.txt", "name: x", "unknown file type '.txt'"),
        ("knobs.yaml", "joiners: [", "not valid YAML"),
        ("knobs.json", "{", "not valid JSON"),
        ("knobs.yaml", "- a list", "must hold a mapping"),
        ("knobs.yaml", "population: {file: ons.csv}", "population.file: no such file 'ons.csv'"),
    ],
)
def test_unreadable_files_are_refused_naming_the_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AssumptionsError) as caught:
        load_assumptions(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(name)


def test_a_population_file_is_read_beside_it_and_its_problems_name_the_field(
    tmp_path: Path,
) -> None:
    (tmp_path / "ons.csv").write_text(
        "calendar-year,academic-year,population\n2020,1,25\n2020,2,-4\n", encoding="utf-8"
    )
    path = tmp_path / "knobs.yaml"
    path.write_text("population: {file: ons.csv}\n", encoding="utf-8")
    with pytest.raises(AssumptionsError) as caught:
        load_assumptions(path)
    assert [p.field for p in caught.value.problems] == ["population.file"]
    assert "row 3" in str(caught.value) and "negative" in str(caught.value)
    (tmp_path / "ons.csv").write_text(
        "calendar-year,academic-year,population\n2020,1,25\n", encoding="utf-8"
    )
    population = load_assumptions(path).population
    assert population is not None
    assert population.frame.to_dict("records") == [
        {"calendar_year": 2020, "academic_year": 1, "population": 25}
    ]


def test_labels_and_years_are_checked_against_the_forecast() -> None:
    history = inputs(ageing_history({State("ASD", "independent", 5): 4}, HISTORY_YEARS))
    needs, settings, ages = forecast_axes(history)
    knobs = assumed(
        {
            "population": {"file": "ons.csv"},  # parsed, not read (as a server would)
            "joiners": [{"need": "ASDD", "change": 1, "from_year": 2019}],
            "shifts": [{"share": 0.5, "from_year": 2040, "to_setting": "residential"}],
            "new_settings": [
                {"name": "Oak", "places": 5, "needs": ["SEMH"], "opening_year": 2020,
                 "takes_from": ["independent", "college"]}
            ],
        }
    )  # fmt: skip
    with pytest.raises(AssumptionsError) as caught:
        resolve(knobs, needs, settings, ages, range(2020, 2023))
    found = {f"{p.field}: {p.message}" for p in caught.value.problems}
    assert found == {
        "population.file: the population file was not read: give the assumptions file on the "
        "command line (sendmatch forecast --assume), or a rate instead",
        "joiners[0].need: 'ASDD' is not a need of this forecast (its needs: ASD)",
        "joiners[0].from_year: 2019 is not a projected January (2020 to 2022)",
        "shifts[0].to_setting: 'residential' is not a setting of this forecast "
        "(its settings: independent)",
        "shifts[0].from_year: 2040 is not a projected January (2020 to 2022)",
        "new_settings[0].setting: 'special' is not a setting of this forecast "
        "(its settings: independent)",
        "new_settings[0].needs[0]: 'SEMH' is not a need of this forecast (its needs: ASD)",
        "new_settings[0].takes_from[1]: 'college' is not a setting of this forecast "
        "(its settings: independent)",
    }


def test_labels_match_ignoring_case_and_in_any_usual_spelling() -> None:
    knobs = assumed(
        {
            "joiners": [{"need": "autism", "change": 1, "from_year": 2020}],
            "shifts": [
                {"share": 1, "from_year": 2020, "from_setting": "Special school - independent",
                 "to_setting": "SPECIAL"}
            ],
        }
    )  # fmt: skip
    plan = resolve(knobs, ("ASD", "SEMH"), ("independent", "special"), (0, 1), (2020, 2021))
    assert plan.join_factor.tolist() == [[2.0, 1.0], [2.0, 1.0]]
    assert (plan.shifts[0].source, plan.shifts[0].target) == (0, 1)


def test_joiner_factors_compound_from_their_first_january() -> None:
    knobs = assumed(
        {
            "joiners": [
                {"need": "ASD", "change_a_year": 0.1, "from_year": 2027},
                {"need": "SEMH", "change": 0.25, "change_a_year": 0.1, "from_year": 2028},
                {"need": "SEMH", "change": -0.5, "from_year": 2029},  # several multiply
            ]
        }
    )
    plan = resolve(knobs, ("ASD", "SEMH"), ("special",), (0,), range(2026, 2030))
    assert plan.join_factor[:, 0] == pytest.approx([1.0, 1.1, 1.21, 1.331])
    assert plan.join_factor[:, 1] == pytest.approx([1.0, 1.0, 1.25 * 1.1, 1.25 * 1.21 * 0.5])


# --------------------------------------------------------------------------------------------
# Each knob, by hand


def test_a_joiner_rate_change_doubles_that_needs_joiners_only() -> None:
    """ASD joiners are half of NC year 1's population of 20, SEMH half of NC year 3's: doubled,
    ASD's rate is 1, so exactly 20 join each year; SEMH's stay about 10."""
    rows: list[Row] = []
    for year in HISTORY_YEARS:
        rows += joiners(year, "special", "ASD", 1, 10) + joiners(year, "mainstream", "SEMH", 3, 10)
    history = inputs(rows, population=20)
    knobs = {"joiners": [{"need": "ASD", "change": 1.0, "from_year": 2020}]}
    changed = forecast(history, knobs, sims=200)
    unchanged = forecast(history, None, sims=200)
    for year in (2020, 2021, 2022):
        assert (in_state(changed, year, State("ASD", "special", 1)) == 20).all()
        assert in_state(unchanged, year, State("ASD", "special", 1)).mean() == pytest.approx(
            10, abs=1
        )
        assert in_state(changed, year, State("SEMH", "mainstream", 3)).mean() == pytest.approx(
            10, abs=1
        )


def test_population_change_scales_joiners() -> None:
    """Every head of NC year 1 joined in the history (20 of 20): joiners are the population."""
    rows: list[Row] = []
    for year in HISTORY_YEARS:
        rows += joiners(year, "special", "ASD", 1, 20)
    history = inputs(rows, population=20)
    growing = forecast(history, {"population": {"rate": 0.1}})
    # 20 * 1.1 = 22, 20 * 1.21 = 24.2, 20 * 1.331 = 26.62, rounded to whole people
    assert [in_state(growing, y, State("ASD", "special", 1))[0] for y in (2020, 2021, 2022)] == [
        22,
        24,
        27,
    ]
    ons = pd.DataFrame(
        [(y, a, 30) for y in (2020, 2021, 2022) for a in range(-5, 21)],
        columns=["calendar_year", "academic_year", "population"],
    )
    knobs = assumed({"population": {"file": "ons.csv"}}, PopulationTable(ons))
    projected = project(
        history, [2022], ForecastConfig(n_simulations=5, extra=NO_PRIORS), assumptions=knobs
    )
    assert (projected.counts[:, 1:, projected.states.index(State("ASD", "special", 1))] == 30).all()
    # The history's years keep the population file's figures: the rates are learnt from them.
    kept = with_population(history, knobs, 2019, range(2020, 2023)).population.frame
    assert set(kept[kept["calendar_year"] == 2019]["population"]) == {20}


def test_a_shift_moves_the_children_already_there_in_its_first_year() -> None:
    history = inputs(
        ageing_history({State("ASD", "independent", 5): 100} | SPECIAL_TOO, HISTORY_YEARS)
    )
    everyone = forecast(history, {"shifts": [{"share": 1.0, "from_year": 2021}]})
    assert counts(everyone, 0, 1) == {State("ASD", "independent", 9): 100}  # 2020
    for sim in range(20):
        assert counts(everyone, sim, 2) == {State("ASD", "special", 10): 100}  # 2021
        assert counts(everyone, sim, 3) == {State("ASD", "special", 11): 100}
    some = forecast(history, {"shifts": [{"share": 0.3, "from_year": 2021}]}, sims=400)
    assert in_state(some, 2021, State("ASD", "special", 10)).mean() == pytest.approx(30, abs=1.5)
    assert (
        in_state(some, 2022, State("ASD", "special", 11))
        == in_state(some, 2021, State("ASD", "special", 10))
    ).all()  # once: the rest stay where they are


def test_a_shift_of_new_placements_diverts_joiners_and_movers_only() -> None:
    """Without the children already there: those in independent stay; joiners and movers who
    would go to independent go to special."""
    rows = ageing_history(SPECIAL_TOO, range(2016, 2020))
    for year in range(2016, 2020):
        rows += [(year, "independent", "ASD", 5, "independent", "ASD", 6)] * 50
        rows += joiners(year, "independent", "ASD", 1, 20)
        rows += [(year, "mainstream", "SEMH", 4, "independent", "SEMH", 5)] * 10
    history = inputs(rows, population=20)
    # Base 2019 as its own transitions record it: 10 SEMH children in mainstream at NC year 4.
    shift = {"share": 1.0, "from_year": 2020, "children_already_there": False}
    projected = forecast(history, {"shifts": [shift]}, base_year=2019, last=2021)
    for sim in range(20):
        assert counts(projected, sim, 1) == {
            State("ASD", "independent", 6): 50,  # already there: stay
            State("ASD", "special", 1): 20,  # joiners
            State("SEMH", "special", 5): 10,  # movers
        }


def test_a_shift_sends_no_child_where_the_valid_states_forbid() -> None:
    rules = {
        "independent": SettingRule("independent", 0, 20, frozenset({"ASD", "SEMH"}), frozenset()),
        "special": SettingRule("special", 0, 20, frozenset({"SEMH"}), frozenset()),
    }
    children = {State("ASD", "independent", 5): 10, State("SEMH", "independent", 5): 10}
    history = inputs(ageing_history(children, HISTORY_YEARS), rules=rules)
    projected = forecast(history, {"shifts": [{"share": 1.0, "from_year": 2020}]})
    assert counts(projected, 0, 1) == {
        State("ASD", "independent", 9): 10,
        State("SEMH", "special", 9): 10,
    }


def test_a_new_setting_takes_children_of_its_needs_up_to_its_places() -> None:
    children = {State("ASD", "independent", 5): 50, State("SEMH", "independent", 5): 20}
    history = inputs(ageing_history(children | SPECIAL_TOO, HISTORY_YEARS))
    school = {"name": "Oak", "places": 30, "needs": ["ASD"], "opening_year": 2019}
    projected = forecast(history, {"new_settings": [school]})
    for sim in range(20):
        assert counts(projected, sim, 1) == {  # January 2020: open since September
            State("ASD", "special", 9): 30,
            State("ASD", "independent", 9): 20,
            State("SEMH", "independent", 9): 20,
        }
    assert all("new" not in state.setting for state in projected.states)  # counted as special
    phased = forecast(history, {"new_settings": [{**school, "intake_a_year": 12}]})
    taken = [in_state(phased, y, State("ASD", "special", y - 2011)) for y in range(2020, 2023)]
    assert [int(n[0]) for n in taken] == [12, 24, 30]
    assert all((n == n[0]).all() for n in taken)


def test_a_new_settings_places_free_up_when_its_children_age_past_its_nc_years() -> None:
    """NC years 7-10, 30 places: 2020 takes 30 of cohort A (NC 9); 2021 is full; in 2022 A is
    in NC 11, past its years (still counted in special), so it takes 30 of cohort B (NC 8)."""
    children = {State("ASD", "independent", 5): 50, State("ASD", "independent", 2): 40}
    history = inputs(ageing_history(children | SPECIAL_TOO, HISTORY_YEARS))
    school = {
        "name": "Oak",
        "places": 30,
        "needs": ["ASD"],
        "opening_year": 2019,
        "first_nc_year": 7,
        "last_nc_year": 10,
    }
    projected = forecast(history, {"new_settings": [school]})
    for sim in range(20):
        assert counts(projected, sim, 2) == {  # 2021
            State("ASD", "special", 10): 30,
            State("ASD", "independent", 10): 20,
            State("ASD", "independent", 7): 40,
        }
        assert counts(projected, sim, 3) == {  # 2022
            State("ASD", "special", 11): 30,
            State("ASD", "independent", 11): 20,
            State("ASD", "special", 8): 30,
            State("ASD", "independent", 8): 10,
        }


def test_a_new_settings_children_leave_and_age_as_its_kinds_children() -> None:
    """In the history, special's children of NC year 9 all leave and independent's never do:
    the school's children leave too, freeing its places for the next year's intake."""
    cohorts = {State("ASD", "independent", 5): 40, State("ASD", "independent", 7): 10}
    rows = ageing_history(cohorts, HISTORY_YEARS)  # independent at NC 9 seen staying
    for year in HISTORY_YEARS:
        rows += [(year, "special", "ASD", 9, NONSEND, NONSEND, 10)] * 5
    history = inputs(rows)
    school = {
        "name": "Oak",
        "places": 15,
        "needs": ["ASD"],
        "opening_year": 2019,
        "first_nc_year": 7,
        "last_nc_year": 10,
    }
    projected = forecast(history, {"new_settings": [school]})
    expected = {  # the cohort of 40, in NC 9 in 2020: 15 taken; in 2021 they left, 15 more
        (2020, State("ASD", "special", 9)): 15,
        (2020, State("ASD", "independent", 9)): 25,
        (2021, State("ASD", "special", 10)): 15,
        (2021, State("ASD", "independent", 10)): 10,
    }
    for (year, state), n in expected.items():
        assert (in_state(projected, year, state) == n).all(), (year, state)


# --------------------------------------------------------------------------------------------
# Reproducible, and nothing changes before an assumption's year


def dense(projection: Projection, states: list[State]) -> np.ndarray:
    out = np.zeros((*projection.counts.shape[:2], len(states)), np.int64)
    for k, state in enumerate(projection.states):
        out[:, :, states.index(state)] = projection.counts[:, :, k]
    return out


def test_the_same_seed_gives_the_same_futures_and_the_years_before_are_untouched() -> None:
    history = noisy_history()
    knobs = {
        "joiners": [{"need": "SLCN", "change_a_year": 0.2, "from_year": 2022}],
        "shifts": [{"from_setting": "mainstream", "share": 0.1, "from_year": 2022}],
        "new_settings": [
            {"name": "Oak", "places": 20, "needs": ["SEMH"], "opening_year": 2021,
             "takes_from": ["mainstream"]}
        ],
    }  # fmt: skip
    defaults: dict[str, float] = {}
    once = forecast(history, knobs, last=2024, sims=150, extra=defaults)
    again = forecast(history, knobs, last=2024, sims=150, extra=defaults)
    plain = forecast(history, None, last=2024, sims=150, extra=defaults)
    assert once.states == again.states and np.array_equal(once.counts, again.counts)
    states = sorted(set(once.states) | set(plain.states))
    assumed_counts, plain_counts = dense(once, states), dense(plain, states)
    assert once.years == plain.years == (2019, 2020, 2021, 2022, 2023, 2024)
    assert np.array_equal(assumed_counts[:, :3], plain_counts[:, :3])  # to January 2021
    assert not np.array_equal(assumed_counts[:, 3], plain_counts[:, 3])
    assert (once.counts >= 0).all()


def test_the_inputs_sheet_records_the_assumptions() -> None:
    history = inputs(
        ageing_history({State("ASD", "independent", 5): 4} | SPECIAL_TOO, HISTORY_YEARS)
    )
    knobs = assumed({"shifts": [{"share": 0.2, "from_year": 2020}]})
    config = ForecastConfig(n_simulations=2)
    projection = project(history, [2021], config, assumptions=knobs)
    rows = dict(assumption_rows(projection, history, config, knobs))
    assert rows["Assumptions"] == "test (test.yaml)"
    assert rows["Assumed shift"] == (
        "20% of the children who would join or move into independent go to special instead, "
        "from January 2020; so do 20% of those in independent that January"
    )
    plain = dict(assumption_rows(projection, history, config))
    assert plain["Assumptions"].startswith("none")
