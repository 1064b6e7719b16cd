"""Reading a forecast's inputs: witan.send's files and an LA's yearly snapshots.

Every bad file gives an :class:`InputError` whose problems name the file, the row as Excel
shows it and the column; good files give exactly the transitions a hand count gives. The
witan.send demo data in ../shared/data is read when present (skipped with a message when not).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook

from matcher.forecast.inputs import (
    KINDS_OF_PLACE,
    check_population_years,
    cost_of,
    read_la_history,
    read_witan_inputs,
    uncosted_states,
)
from matcher.forecast.types import NONSEND, TRANSITION_COLUMNS
from matcher.io import InputError, InputProblem

WITAN_DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "witan-send-demo"
needs_witan_demo = pytest.mark.skipif(
    not WITAN_DEMO.is_dir(),
    reason=f"witan.send demo data not found at {WITAN_DEMO} (../shared/data is absent)",
)

TRANSITIONS_HEADER = (
    "calendar-year,setting-1,need-1,academic-year-1,setting-2,need-2,academic-year-2"
)
GOOD_TRANSITIONS = [
    "2015,NONSEND,NONSEND,2,A,T,3",  # row 2: a joiner
    "2015,A,T,5,A,T,6",  # row 3
    "2015,A,T,6,B,U,7",  # row 4: a mover who changes need
    "2015,B,U,10,NONSEND,NONSEND,11",  # row 5: a leaver
    "2016,A,T,3,A,T,4",  # row 6
]


def write(path: Path, header: str, rows: Sequence[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def population_rows(years: Sequence[int], ages: Sequence[int] = range(-2, 21)) -> list[str]:
    return [f"{y},{a},{1000 + a}" for y in years for a in ages]


@pytest.fixture
def witan_files(tmp_path: Path) -> dict[str, Path]:
    return {
        "transitions": write(tmp_path / "transitions.csv", TRANSITIONS_HEADER, GOOD_TRANSITIONS),
        "population": write(
            tmp_path / "population.csv",
            "calendar-year,academic-year,population",
            population_rows([2015, 2016, 2017]),
        ),
        "costs": write(
            tmp_path / "costs.csv", "need,setting,cost", ["T,A,1000.0", 'U,B,"£25,000"']
        ),
        "valid_states": write(
            tmp_path / "valid-states.csv",
            "setting,setting-group,min-academic-year,max-academic-year,needs,setting->setting",
            ['A,group1,-2,10,"T,U","A,B"', 'B,group1,5,14,"T,U","A,B"'],
        ),
    }


def problems_of(exc: pytest.ExceptionInfo[InputError]) -> list[InputProblem]:
    return exc.value.problems


def located(
    problems: Sequence[InputProblem], file: str, row: int | None, field: str | None
) -> InputProblem:
    """The one problem at this place, failing the test with every problem if there is none."""
    found = [p for p in problems if (p.file, p.row, p.field) == (file, row, field)]
    assert len(found) == 1, [str(p) for p in problems]
    return found[0]


# --------------------------------------------------------------------------------------------
# witan.send's files


def test_witan_files_are_read_into_the_shared_tables(witan_files: dict[str, Path]) -> None:
    inputs = read_witan_inputs(**witan_files)

    frame = inputs.transitions.frame
    assert tuple(frame.columns) == TRANSITION_COLUMNS
    assert frame.iloc[0].tolist() == [2015, NONSEND, NONSEND, 2, "A", "T", 3]
    assert frame.iloc[2].tolist() == [2015, "A", "T", 6, "B", "U", 7]
    assert frame["calendar_year"].dtype.kind == frame["academic_year_2"].dtype.kind == "i"
    assert inputs.observed_years == (2015, 2016, 2017)
    assert len(inputs.population.frame) == 3 * 23
    assert inputs.costs is not None
    assert sorted(inputs.costs.frame.itertuples(index=False, name=None)) == [
        ("T", "A", 1000.0),
        ("U", "B", 25000.0),
    ]
    assert inputs.valid_states is not None
    rule = inputs.valid_states["B"]
    assert (rule.group, rule.min_academic_year, rule.max_academic_year) == ("group1", 5, 14)
    assert rule.needs == frozenset({"T", "U"}) and rule.moves_to == frozenset({"A", "B"})
    assert "transitions.csv" in inputs.source


def test_witan_transitions_may_be_a_workbook(witan_files: dict[str, Path], tmp_path: Path) -> None:
    rows = [TRANSITIONS_HEADER.split(","), *(r.split(",") for r in GOOD_TRANSITIONS)]
    book = write_xlsx(tmp_path / "transitions.xlsx", [[_number(c) for c in r] for r in rows])
    inputs = read_witan_inputs(book, witan_files["population"])
    assert len(inputs.transitions.frame) == len(GOOD_TRANSITIONS)
    assert inputs.transitions.frame.iloc[1].tolist() == [2015, "A", "T", 5, "A", "T", 6]


def _number(cell: str) -> object:
    return int(cell) if cell.lstrip("-").isdigit() else cell


def test_a_child_ageing_backwards_is_named_by_file_row_and_column(
    witan_files: dict[str, Path],
) -> None:
    bad = [*GOOD_TRANSITIONS[:2], "2015,A,T,6,A,T,5", *GOOD_TRANSITIONS[3:]]
    write(witan_files["transitions"], TRANSITIONS_HEADER, bad)
    with pytest.raises(InputError) as exc:
        read_witan_inputs(witan_files["transitions"], witan_files["population"])
    problem = located(problems_of(exc), "transitions.csv", 4, "academic-year-2")
    assert "ages backwards" in problem.message and "(5)" in problem.message


def test_nonsend_in_a_setting_but_not_its_need_is_an_error(
    witan_files: dict[str, Path],
) -> None:
    bad = [
        *GOOD_TRANSITIONS,
        "2016,NONSEND,T,3,A,T,4",  # row 7: joiner with a need
        "2016,A,T,3,B,NONSEND,4",  # row 8: leaver with a setting
        "2016,NONSEND,NONSEND,3,NONSEND,NONSEND,4",  # row 9: nobody
    ]
    write(witan_files["transitions"], TRANSITIONS_HEADER, bad)
    with pytest.raises(InputError) as exc:
        read_witan_inputs(witan_files["transitions"], witan_files["population"])
    problems = problems_of(exc)
    assert "both be NONSEND" in located(problems, "transitions.csv", 7, "need-1").message
    assert "both be NONSEND" in located(problems, "transitions.csv", 8, "setting-2").message
    assert "NONSEND in both years" in located(problems, "transitions.csv", 9, "setting-2").message
    assert len(problems) == 3


def test_a_transition_year_without_population_is_named(
    witan_files: dict[str, Path],
) -> None:
    write(
        witan_files["population"],
        "calendar-year,academic-year,population",
        population_rows([2016, 2017]),
    )
    with pytest.raises(InputError) as exc:
        read_witan_inputs(witan_files["transitions"], witan_files["population"])
    problem = located(problems_of(exc), "population.csv", None, "calendar-year")
    assert problem.message.startswith("no rows for 2015")


def test_negative_and_duplicate_populations_are_errors(witan_files: dict[str, Path]) -> None:
    rows = population_rows([2015, 2016])
    rows[3] = "2015,1,-4"  # row 5
    rows.append("2016,5,10")  # row 48: 2016 NC year 5 again
    write(witan_files["population"], "calendar-year,academic-year,population", rows)
    with pytest.raises(InputError) as exc:
        read_witan_inputs(witan_files["transitions"], witan_files["population"])
    problems = problems_of(exc)
    assert "negative" in located(problems, "population.csv", 5, "population").message
    assert "given twice" in located(problems, "population.csv", 48, "academic-year").message


def test_every_files_problems_come_together(witan_files: dict[str, Path]) -> None:
    write(witan_files["transitions"], TRANSITIONS_HEADER, ["2015,A,T,x,A,T,6"])
    write(witan_files["costs"], "need,setting,cost", ["T,A,-5"])
    write(witan_files["population"], "calendar-year,academic-year,population", ["2015,1,-1"])
    with pytest.raises(InputError) as exc:
        read_witan_inputs(
            witan_files["transitions"], witan_files["population"], witan_files["costs"]
        )
    problems = problems_of(exc)
    assert "not an NC year" in located(problems, "transitions.csv", 2, "academic-year-1").message
    assert "negative" in located(problems, "population.csv", 2, "population").message
    assert "negative" in located(problems, "costs.csv", 2, "cost").message


def test_a_misspelt_or_missing_column_is_named_as_witan_spells_it(
    witan_files: dict[str, Path],
) -> None:
    header = TRANSITIONS_HEADER.replace("academic-year-2", "acadmic-year-2")
    write(witan_files["transitions"], header, GOOD_TRANSITIONS)
    with pytest.raises(InputError) as exc:
        read_witan_inputs(witan_files["transitions"], witan_files["population"])
    problems = problems_of(exc)
    missing = located(problems, "transitions.csv", None, "academic-year-2")
    assert "required column 'academic-year-2' is missing" in missing.message
    misspelt = located(problems, "transitions.csv", None, "acadmic_year_2")
    assert "did you mean 'academic-year-2'?" in misspelt.message


def test_transitions_the_valid_states_forbid_are_errors(witan_files: dict[str, Path]) -> None:
    bad = [
        *GOOD_TRANSITIONS,
        "2016,A,T,11,A,T,12",  # row 7: A takes NC years -2 to 10
        "2016,B,T,8,C,T,9",  # row 8: no setting C
        "2016,A,V,4,A,V,5",  # row 9: A does not take need V
    ]
    write(witan_files["transitions"], TRANSITIONS_HEADER, bad)
    write(
        witan_files["valid_states"],
        "setting,setting-group,min-academic-year,max-academic-year,needs,setting->setting",
        ['A,group1,-2,10,"T,U","A,B"', 'B,group1,5,14,"T,U","B"'],  # B may not move to A
    )
    with pytest.raises(InputError) as exc:
        read_witan_inputs(**witan_files)
    problems = problems_of(exc)
    assert (
        "outside setting A's range"
        in located(problems, "transitions.csv", 7, "academic-year-1").message
    )
    assert (
        "setting C is not in valid-states"
        in located(problems, "transitions.csv", 8, "setting-2").message
    )
    assert "need V" in located(problems, "transitions.csv", 9, "need-1").message


def test_a_move_the_valid_states_do_not_list_is_an_error(witan_files: dict[str, Path]) -> None:
    write(
        witan_files["valid_states"],
        "setting,setting-group,min-academic-year,max-academic-year,needs,setting->setting",
        ['A,group1,-2,10,"T,U","A"', 'B,group1,5,14,"T,U","A,B"'],
    )
    with pytest.raises(InputError) as exc:
        read_witan_inputs(**witan_files)
    problem = located(problems_of(exc), "transitions.csv", 4, "setting-2")
    assert "a move from A to B" in problem.message


def test_valid_states_naming_an_unknown_setting_is_an_error(witan_files: dict[str, Path]) -> None:
    write(
        witan_files["valid_states"],
        "setting,setting-group,min-academic-year,max-academic-year,needs,setting->setting",
        ['A,group1,-2,10,"T,U","A,B,Z"', 'B,group1,14,5,"T,U","A,B"'],
    )
    with pytest.raises(InputError) as exc:
        read_witan_inputs(**witan_files)
    problems = problems_of(exc)
    assert "Z" in located(problems, "valid-states.csv", 2, "setting->setting").message
    assert "below" in located(problems, "valid-states.csv", 3, "max-academic-year").message


def test_population_headers_in_any_case_and_nc_years_as_las_write_them(
    witan_files: dict[str, Path],
) -> None:
    rows = [r.replace(",0,", ",R,") for r in population_rows([2015, 2016])]
    write(witan_files["population"], " Calendar Year ,Academic_Year,POPULATION", rows)
    inputs = read_witan_inputs(witan_files["transitions"], witan_files["population"])
    frame = inputs.population.frame
    assert frame.loc[(frame["calendar_year"] == 2015) & (frame["academic_year"] == 0)].shape[0]
    assert 0 in set(frame["academic_year"])


def test_costs_without_a_price_for_a_held_state_are_listed(witan_files: dict[str, Path]) -> None:
    write(witan_files["costs"], "need,setting,cost", ["T,A,1000"])
    inputs = read_witan_inputs(
        witan_files["transitions"], witan_files["population"], witan_files["costs"]
    )
    assert uncosted_states(inputs) == [("U", "B")]


def test_projection_years_must_have_population(witan_files: dict[str, Path]) -> None:
    inputs = read_witan_inputs(witan_files["transitions"], witan_files["population"])
    check_population_years(inputs, [2016, 2017], "population.csv")
    with pytest.raises(InputError) as exc:
        check_population_years(inputs, range(2017, 2020), "population.csv")
    assert [p.message.split(":")[0] for p in problems_of(exc)] == [
        "no rows for 2018",
        "no rows for 2019",
    ]


@needs_witan_demo
def test_witan_demo_files_are_read_as_they_are() -> None:
    data = WITAN_DEMO / "data"
    inputs = read_witan_inputs(
        data / "transitions.csv",
        data / "population.csv",
        data / "costs.csv",
        data / "valid-states.csv",
    )
    frame = inputs.transitions.frame
    assert len(frame) == 8351
    assert inputs.observed_years == (2013, 2014, 2015, 2016, 2017)
    assert frame.iloc[0].tolist() == [2013, NONSEND, NONSEND, -3, "P", "U", -2]
    assert set(inputs.population.frame["calendar_year"]) == set(range(2013, 2023))
    assert inputs.valid_states is not None and len(inputs.valid_states) == 19
    assert inputs.costs is not None and len(inputs.costs.frame) > 0
    # January 2017 as witan.send's back-test gives its ground truth (validation_results_count).
    last = frame[(frame["calendar_year"] == 2016) & (frame["setting_2"] != NONSEND)]
    assert len(last) == 2153


# --------------------------------------------------------------------------------------------
# An LA's own history

HISTORY_HEADER = "child_id,nc_year,primary_need,kind_of_place,name"


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Three Januaries, hand-checkable: see test_history_links_children_year_to_year."""
    folder = tmp_path / "caseloads"
    folder.mkdir()
    write(
        folder / "2021.csv",
        HISTORY_HEADER,
        [
            "c1,Y3,ASD,Mainstream,Ann",  # row 2: moves to special in 2022
            "c2,R,SLCN,mainstream,Bo",  # row 3: leaves after 2021
            "c5,10,SEMH,Special school - independent,Cy",  # row 4: leaves, back in 2023
        ],
    )
    write(
        folder / "2022.csv",
        HISTORY_HEADER,
        [
            "c1,4,ASD,special,Ann",
            "c3,N2,SLD,SEN unit,Di",  # joins in 2022
        ],
    )
    write_xlsx(
        folder / "caseload_2023.xlsx",
        [
            HISTORY_HEADER.split(","),
            ["c1", 5, "ASD", "special", "Ann"],
            ["c3", "R", "SLD", "resourced_provision", "Di"],
            ["c4", 14, "MLD", "FE college", "Ed"],  # joins in 2023
            ["c5", 12, "SEMH", "ISS", "Cy"],  # back in 2023
        ],
    )
    (folder / "~$2022.csv").write_text("Excel's lock file\n")
    (folder / "notes.txt").write_text("not a snapshot\n")
    write(
        tmp_path / "population.csv",
        "calendar-year,academic-year,population",
        population_rows([2021, 2022, 2023, 2024, 2025]),
    )
    return folder


def transitions_of(frame: object) -> list[tuple[object, ...]]:
    return sorted(frame.itertuples(index=False, name=None))  # type: ignore[attr-defined]


def test_history_links_children_year_to_year(history: Path) -> None:
    inputs = read_la_history(history, history.parent / "population.csv")
    assert transitions_of(inputs.transitions.frame) == sorted(
        [
            (2021, "mainstream", "ASD", 3, "special", "ASD", 4),
            (2021, "mainstream", "SLCN", 0, NONSEND, NONSEND, 1),  # leaver
            (2021, "independent", "SEMH", 10, NONSEND, NONSEND, 11),  # leaver
            (2021, NONSEND, NONSEND, -2, "resourced_provision", "SLD", -1),  # joiner
            (2022, "special", "ASD", 4, "special", "ASD", 5),
            (2022, "resourced_provision", "SLD", -1, "resourced_provision", "SLD", 0),
            (2022, NONSEND, NONSEND, 13, "post16", "MLD", 14),  # joiner
            (2022, NONSEND, NONSEND, 11, "independent", "SEMH", 12),  # back: a joiner
        ]
    )
    assert inputs.observed_years == (2021, 2022, 2023)
    assert "2021–2023" in inputs.source
    frame = inputs.transitions.frame
    assert set(frame["setting_2"]) - {NONSEND} <= set(KINDS_OF_PLACE)


def test_history_may_be_one_file_with_a_census_year_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "all years.csv",
        "Census Year,Child ID,NCY,Primary Need,Placement Kind",
        ["2021,a,7,ASD,special", "2022,a,8,ASD,special", "2022,b,1,HI,mainstream"],
    )
    population = write(
        tmp_path / "population.csv",
        "calendar-year,academic-year,population",
        population_rows([2021, 2022]),
    )
    inputs = read_la_history(path, population)
    assert transitions_of(inputs.transitions.frame) == [
        (2021, NONSEND, NONSEND, 0, "mainstream", "HI", 1),
        (2021, "special", "ASD", 7, "special", "ASD", 8),
    ]


def test_history_urns_are_mapped_to_kinds_of_place_by_a_settings_file(tmp_path: Path) -> None:
    for year, rows in ((2021, ["a,7,ASD,100001"]), (2022, ["a,8,ASD,100002", "b,2,HI,100003"])):
        write(tmp_path / f"{year}.csv", "child_id,nc_year,primary_need,setting_urn", rows)
    settings = write(
        tmp_path / "settings.csv",
        "urn,name,setting_type,kind_of_place",
        [
            "100001,Oak Primary,mainstream,",
            "100002,Elm Special,special,",
            "100003,Ash Primary,mainstream,resourced provision",
        ],
    )
    population = write(
        tmp_path / "pop.csv",
        "calendar-year,academic-year,population",
        population_rows([2021, 2022]),
    )
    paths = [tmp_path / "2021.csv", tmp_path / "2022.csv"]
    inputs = read_la_history(paths, population, settings=settings)
    assert transitions_of(inputs.transitions.frame) == [
        (2021, NONSEND, NONSEND, 1, "resourced_provision", "HI", 2),
        (2021, "mainstream", "ASD", 7, "special", "ASD", 8),
    ]
    with pytest.raises(InputError) as exc:
        read_la_history(paths, population)
    assert "--settings" in located(problems_of(exc), "2021.csv", None, "kind_of_place").message


def test_history_duplicate_child_in_a_year_is_an_error(history: Path) -> None:
    write(history / "2022.csv", HISTORY_HEADER, ["c1,4,ASD,special,Ann", "c1,4,ASD,special,A"])
    with pytest.raises(InputError) as exc:
        read_la_history(history, history.parent / "population.csv")
    problem = located(problems_of(exc), "2022.csv", 3, "child_id")
    assert "appears twice in 2022 (row 2)" in problem.message
    assert "c1" not in problem.message  # never a child's id in a message


def test_history_nc_year_going_back_is_an_error(history: Path) -> None:
    write(history / "2022.csv", HISTORY_HEADER, ["c1,2,ASD,special,Ann", "c3,N2,SLD,rp,Di"])
    with pytest.raises(InputError) as exc:
        read_la_history(history, history.parent / "population.csv")
    problem = located(problems_of(exc), "2022.csv", 2, "nc_year")
    assert "goes back from 3 in 2021 (2021.csv row 2) to 2 in 2022" in problem.message


def test_history_with_a_missing_year_is_an_error(history: Path) -> None:
    (history / "2022.csv").unlink()
    with pytest.raises(InputError) as exc:
        read_la_history(history, history.parent / "population.csv")
    problem = located(problems_of(exc), "caseloads", None, None)
    assert problem.message.startswith("no snapshot for January 2022")


def test_history_unknown_need_and_kind_of_place_are_named(history: Path) -> None:
    write(history / "2022.csv", HISTORY_HEADER, ["c1,4,AUT,special,Ann", "c3,N2,SLD,hospital,Di"])
    with pytest.raises(InputError) as exc:
        read_la_history(history, history.parent / "population.csv")
    problems = problems_of(exc)
    assert "unknown need code 'AUT'" in located(problems, "2022.csv", 2, "primary_need").message
    assert "not a kind of place" in located(problems, "2022.csv", 3, "kind_of_place").message


def test_history_file_without_a_year_and_single_year_are_errors(tmp_path: Path) -> None:
    write(tmp_path / "caseload.csv", HISTORY_HEADER, ["c1,4,ASD,special,Ann"])
    write(tmp_path / "2021-22.csv", HISTORY_HEADER, ["c1,4,ASD,special,Ann"])
    population = write(
        tmp_path / "p.csv", "calendar-year,academic-year,population", population_rows([2021])
    )
    with pytest.raises(InputError) as exc:
        read_la_history([tmp_path / "caseload.csv", tmp_path / "2021-22.csv"], population)
    problems = problems_of(exc)
    assert "holds no year" in located(problems, "caseload.csv", 2, "census_year").message
    assert "school year 2021-22" in located(problems, "2021-22.csv", 2, "census_year").message
    write(tmp_path / "2021.csv", HISTORY_HEADER, ["c1,4,ASD,special,Ann"])
    with pytest.raises(InputError) as exc:
        read_la_history([tmp_path / "2021.csv"], population)
    assert (
        "at least two years" in located(problems_of(exc), "the history files", None, None).message
    )


def test_history_years_need_population_rows(history: Path) -> None:
    write(
        history.parent / "population.csv",
        "calendar-year,academic-year,population",
        population_rows([2022, 2023]),
    )
    with pytest.raises(InputError) as exc:
        read_la_history(history, history.parent / "population.csv")
    assert located(problems_of(exc), "population.csv", None, "calendar-year").message.startswith(
        "no rows for 2021"
    )


def test_history_costs_by_kind_of_place_for_every_need(history: Path) -> None:
    costs = write(
        history.parent / "costs.csv",
        "need,setting,cost",
        [',Special school,"£25,000"', "ASD,special,30000", "all,independent,60000"],
    )
    inputs = read_la_history(history, history.parent / "population.csv", costs=costs)
    assert inputs.costs is not None
    needs = ["ASD", "MLD", "SEMH", "SLCN", "SLD"]  # every need in the history
    assert sorted(inputs.costs.frame.itertuples(index=False, name=None)) == sorted(
        [(need, "independent", 60000.0) for need in needs]
        + [(need, "special", 30000.0 if need == "ASD" else 25000.0) for need in needs]
    )
    assert "*" not in set(cost_of(inputs.costs, needs).frame["need"])


def test_history_problems_never_keep_other_columns(history: Path) -> None:
    """A name column is not read at all: it never reaches the tables or the messages."""
    inputs = read_la_history(history, history.parent / "population.csv")
    text = inputs.transitions.frame.to_csv()
    assert "Ann" not in text and "name" not in text
