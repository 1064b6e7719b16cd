"""``sendmatch forecast`` and its writers: witan.send's columns, whole files or none, exit 2.

The writers are tested on hand-made tables; the commands end to end on witan.send's demo
data (skipped with a message when ../shared/data is absent) and on a small LA history made
here, with few simulations so that each test takes seconds.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from matcher import cli
from matcher.forecast import outputs
from matcher.forecast.outputs import (
    SETTING_CHART,
    SIMULATIONS_NAME,
    TOTAL_CHART,
    WORKBOOK_NAME,
    ForecastTables,
    observed_counts,
    read_projection,
    state_table,
    write_forecast,
    write_projection,
)
from matcher.forecast.sufficiency import SUFFICIENCY_COLUMNS, sufficiency
from matcher.forecast.types import Projection, State
from matcher.io import InputError, load_settings
from tests.test_forecast_inputs import (
    GOOD_TRANSITIONS,
    HISTORY_HEADER,
    TRANSITIONS_HEADER,
    WITAN_DEMO,
    needs_witan_demo,
    population_rows,
    write,
)
from tests.test_forecast_sufficiency import projection as hand_checked_projection

runner = CliRunner()

# witan.send's headers, as its published results_for_checking/Output_*.csv files have them
# (Output_AY.csv is not among them; its header is witan.send's academic-year output's).
STATISTICS = "mean,std-dev,iqr,min,low-95pc-bound,q1,median,q3,high-95pc-bound,max,low-ci,high-ci"
WITAN_HEADERS = {
    "Output_Count.csv": f"calendar-year,{STATISTICS}",
    "Output_Need.csv": f"calendar-year,need,{STATISTICS}",
    "Output_Setting.csv": f"calendar-year,setting,{STATISTICS}",
    "Output_AY.csv": f"calendar-year,academic-year,{STATISTICS}",
    "Output_Cost.csv": f"calendar-year,{STATISTICS}",
}


def header(path: Path) -> str:
    with path.open(newline="", encoding="utf-8") as fh:
        return ",".join(next(csv.reader(fh)))


def summary(group: str | None, labels: list[object], years: list[int]) -> pd.DataFrame:
    """A witan-shaped summary with made-up numbers: what summary_table returns."""
    rows = []
    for year in years:
        for n, label in enumerate(labels or [None]):
            mean = 100.0 + 10 * n + (year - years[0])
            stats = [mean, 2.5, 3.0, mean - 5, mean - 4, mean - 1, mean, mean + 1, mean + 4]
            stats += [mean + 5, mean - 1.5, mean + 1.5]
            rows.append([year, *([label] if group else []), *stats])
    columns = ["calendar-year", *([group] if group else []), *STATISTICS.split(",")]
    return pd.DataFrame(rows, columns=columns)


def made_tables(setting_label: str = "A") -> ForecastTables:
    years = [2017, 2018, 2019]
    witan = {
        "Output_Count.csv": summary(None, [], years),
        "Output_Need.csv": summary("need", ["T", "U"], years),
        "Output_Setting.csv": summary("setting", [setting_label, "B"], years),
        "Output_AY.csv": summary("academic-year", [0, 1, 2], years),
        "Output_Cost.csv": summary(None, [], years),
    }
    projection = Projection(
        (2017, 2018),
        (State("T", "A", 1), State("U", "B", 2)),
        np.array([[[3, 0], [4, 1]], [[3, 0], [6, 1]]], dtype=np.int32),
    )
    return ForecastTables(
        witan,
        state_table(projection),
        [("Inputs", "made in a test")],
        {2016: 95, 2017: 100},
        {"A": {2016: 50, 2017: 52}},
    )


# --------------------------------------------------------------------------------------------
# Writers


def test_a_folder_gets_witan_files_with_witans_columns_a_workbook_and_charts(
    tmp_path: Path,
) -> None:
    out = tmp_path / "results"
    written = write_forecast(made_tables(), out)

    assert {p.name for p in written} == {
        *WITAN_HEADERS,
        WORKBOOK_NAME,
        TOTAL_CHART,
        SETTING_CHART,
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)  # no temps
    for name, expected in WITAN_HEADERS.items():
        assert header(out / name) == expected, name
    assert (out / "Output_Count.csv").read_bytes().startswith(b"calendar-year,")  # no BOM
    with (out / "Output_Need.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1] == [
        *("2017", "T", "100.0", "2.5", "3.0", "95.0", "96.0", "99.0", "100.0", "101.0"),
        *("104.0", "105.0", "98.5", "101.5"),
    ]
    for chart in (TOTAL_CHART, SETTING_CHART):
        assert (out / chart).read_bytes().startswith(b"\x89PNG")
    book = load_workbook(out / WORKBOOK_NAME, read_only=True)
    assert book.sheetnames == [
        "Total",
        "Need",
        "Setting",
        "NC year",
        "Cost",
        outputs.STATES_SHEET,
        "Inputs",
    ]


@needs_witan_demo
def test_witan_file_headers_are_witans_own(tmp_path: Path) -> None:
    write_forecast(made_tables(), tmp_path)
    published = WITAN_DEMO / "results_for_checking"
    for name in ("Output_Count.csv", "Output_Need.csv", "Output_Setting.csv", "Output_Cost.csv"):
        assert header(tmp_path / name) == header(published / name), name


def test_an_xlsx_out_is_the_spreadsheet_only(tmp_path: Path) -> None:
    written = write_forecast(made_tables(), tmp_path / "forecast.xlsx")
    assert written == [tmp_path / "forecast.xlsx"]
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.xlsx"]
    sheet = load_workbook(tmp_path / "forecast.xlsx", read_only=True)["Total"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("calendar-year", *STATISTICS.split(","))
    assert rows[1][:2] == (2017, 100.0)


def test_a_failed_write_leaves_no_file_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_tables: ForecastTables) -> None:
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(outputs, "_setting_chart", broken)  # the last file written
    out = tmp_path / "results"
    with pytest.raises(OSError, match="disk full"):
        write_forecast(made_tables(), out)
    assert not out.exists()  # made for the forecast, so removed again
    out.mkdir()
    (out / "Output_Count.csv").write_text("last year's\n")
    with pytest.raises(OSError, match="disk full"):
        write_forecast(made_tables(), out)
    assert [p.name for p in out.iterdir()] == ["Output_Count.csv"]
    assert (out / "Output_Count.csv").read_text() == "last year's\n"  # left as it was


def test_text_cells_are_neutralised_in_csv(tmp_path: Path) -> None:
    write_forecast(made_tables(setting_label="=HYPERLINK(1)"), tmp_path)
    text = (tmp_path / "Output_Setting.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(1)" in text and "\n2017,=HYP" not in text


def test_state_table_gives_each_states_mean_and_bounds() -> None:
    projection = Projection(
        (2017, 2018),
        (State("T", "A", 1), State("U", "B", 2), State("V", "C", 3)),
        np.array([[[3, 0, 0], [4, 1, 0]], [[3, 0, 0], [6, 1, 0]]], dtype=np.int32),
    )
    table = state_table(projection)
    assert list(table.columns) == list(outputs.STATE_COLUMNS)
    assert len(table) == 4  # V in C holds nobody in any year or simulation: left out
    row = table[(table["calendar-year"] == 2018) & (table["need"] == "T")].iloc[0]
    assert (row["setting"], row["academic-year"], row["mean"], row["median"]) == ("A", 1, 5, 5)


def test_observed_counts_are_each_januarys_children() -> None:
    from matcher.forecast.types import ForecastInputs, PopulationTable, TransitionTable

    rows = [line.split(",") for line in GOOD_TRANSITIONS]
    frame = pd.DataFrame(rows, columns=TRANSITIONS_HEADER.replace("-", "_").split(","))
    for column in ("calendar_year", "academic_year_1", "academic_year_2"):
        frame[column] = frame[column].astype(int)
    inputs = ForecastInputs(TransitionTable(frame), PopulationTable(pd.DataFrame()))
    total, by_setting = observed_counts(inputs)
    assert total == {2015: 3, 2016: 3, 2017: 1}
    assert by_setting == {"A": {2015: 2, 2016: 2, 2017: 1}, "B": {2015: 1, 2016: 1}}


# --------------------------------------------------------------------------------------------
# The command: mistakes


@pytest.fixture
def witan_files(tmp_path: Path) -> dict[str, Path]:
    return {
        "transitions": write(tmp_path / "transitions.csv", TRANSITIONS_HEADER, GOOD_TRANSITIONS),
        "population": write(
            tmp_path / "population.csv",
            "calendar-year,academic-year,population",
            population_rows([2015, 2016, 2017, 2018, 2019]),
        ),
    }


def forecast(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli.app, ["forecast", *args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def test_bad_input_exits_2_lists_every_problem_and_writes_nothing(
    witan_files: dict[str, Path], tmp_path: Path
) -> None:
    write(witan_files["transitions"], TRANSITIONS_HEADER, ["2015,A,T,6,A,T,5", "2015,A,X,1,A,T,2"])
    write(witan_files["population"], "calendar-year,academic-year,population", ["2016,1,-3"])
    out = tmp_path / "results"
    code, output = forecast(
        "--transitions",
        str(witan_files["transitions"]),
        "--population",
        str(witan_files["population"]),
        "--years",
        "2016-2018",
        "--out",
        str(out),
    )
    assert code == 2
    assert "2 problems in the input files" in output
    assert "transitions.csv, row 2, academic-year-2: the child ages backwards" in output
    assert "population.csv, row 2, population:" in output
    assert not out.exists()


def test_bad_history_exits_2_naming_file_row_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "caseloads"
    folder.mkdir()
    write(folder / "2023.csv", HISTORY_HEADER, ["a,7,ASD,special,x", "b,3,HI,mainstream,y"])
    write(folder / "2024.csv", HISTORY_HEADER, ["a,6,ASD,special,x", "b,4,AUT,mainstream,y"])
    population = write(
        tmp_path / "population.csv",
        "calendar-year,academic-year,population",
        population_rows([2023, 2024, 2025]),
    )
    out = tmp_path / "forecast.xlsx"
    code, output = forecast(
        *("--history", str(folder), "--population", str(population)),
        *("--years", "2025", "--out", str(out)),
    )
    assert code == 2
    assert "2 problems in the input files" in output
    assert "2024.csv, row 2, nc_year: the child's NC year goes back from 7" in output
    assert "2024.csv, row 3, primary_need: unknown need code 'AUT'" in output
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--years", "2018"], "either --history FOLDER"),
        (["--transitions", "T", "--history", "H", "--years", "2018"], "not both"),
        (["--transitions", "T", "--years", "2018"], "--population FILE is required"),
        (["--transitions", "T", "--population", "P", "--out", "o"], "--years is required"),
        (
            ["--transitions", "T", "--population", "P", "--years", "soon", "--out", "o"],
            "give FIRST-LAST",
        ),
        (
            ["--transitions", "T", "--population", "P", "--years", "2020-2018", "--out", "o"],
            "2018 is before 2020",
        ),
        (
            ["--transitions", "T", "--population", "P", "--years", "2018", "--out", "x.csv"],
            "give a folder",
        ),
        (["--history", "H", "--population", "P", "--valid-states", "V"], "--transitions"),
    ],
)
def test_option_mistakes_exit_2(options: list[str], message: str, tmp_path: Path) -> None:
    code, output = forecast(*options)
    assert code == 2
    assert message in output and "Nothing was written" in output


def test_years_must_reach_past_the_last_observed_january(
    witan_files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "results"
    code, output = forecast(
        "--transitions",
        str(witan_files["transitions"]),
        "--population",
        str(witan_files["population"]),
        "--years",
        "2015-2017",
        "--out",
        str(out),
    )
    assert code == 2
    assert "must reach past 2017" in output
    assert not out.exists()


def test_projection_years_without_population_exit_2(
    witan_files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "forecast.xlsx"
    code, output = forecast(
        "--transitions",
        str(witan_files["transitions"]),
        "--population",
        str(witan_files["population"]),
        "--years",
        "2018-2021",
        "--out",
        str(out),
    )
    assert code == 2
    assert "population.csv, column calendar-year: no rows for 2020" in output
    assert "no rows for 2021" in output
    assert not out.exists()


def test_group_options_before_backtest_are_refused() -> None:
    code, output = forecast("--simulations", "5", "backtest")
    assert code == 2 and "after `backtest`" in output


def test_backtest_horizons_beyond_the_history_exit_2(witan_files: dict[str, Path]) -> None:
    code, output = forecast(
        "backtest",
        "--transitions",
        str(witan_files["transitions"]),
        "--population",
        str(witan_files["population"]),
        "--horizons",
        "2",
    )
    assert code == 2
    assert "holds out too many years" in output


# --------------------------------------------------------------------------------------------
# The command end to end (needs the model)


@needs_witan_demo
def test_witan_demo_end_to_end(tmp_path: Path) -> None:
    data = WITAN_DEMO / "data"
    out = tmp_path / "results"
    code, output = forecast(
        "--transitions",
        str(data / "transitions.csv"),
        "--population",
        str(data / "population.csv"),
        "--costs",
        str(data / "costs.csv"),
        "--valid-states",
        str(data / "valid-states.csv"),
        "--years",
        "2017-2022",
        "--out",
        str(out),
        "--simulations",
        "20",
    )
    assert code == 0, output
    published = WITAN_DEMO / "results_for_checking"
    for name in ("Output_Count.csv", "Output_Need.csv", "Output_Setting.csv", "Output_Cost.csv"):
        assert header(out / name) == header(published / name), name
    counts = pd.read_csv(out / "Output_Count.csv")
    assert counts["calendar-year"].tolist() == list(range(2017, 2023))
    assert counts["mean"].iloc[0] == 2153  # the observed January 2017
    assert (counts["low-95pc-bound"] <= counts["high-95pc-bound"]).all()
    ay = pd.read_csv(out / "Output_AY.csv")
    assert ay.groupby("calendar-year")["mean"].sum().tolist() == pytest.approx(
        counts["mean"].tolist(),
        abs=0.5,  # each mean is written to 2 decimals
    )
    assert "20 simulations" in output and "2022" in output
    assert (out / WORKBOOK_NAME).exists() and (out / TOTAL_CHART).exists()
    assert read_projection(out).counts.shape[:2] == (20, 6)  # every simulation, kept
    # witan.send's setting codes are not kinds of place: no sufficiency from this forecast.
    settings = Path(__file__).parent / "data" / "io" / "settings.csv"
    code, output = forecast("sufficiency", "--forecast", str(out), "--settings", str(settings))
    assert code == 2
    assert "this forecast's settings are witan.send codes" in output
    assert "Sufficiency needs a forecast made from --history with kinds of place" in output


@needs_witan_demo
def test_witan_demo_backtest_prints_and_writes_its_table(tmp_path: Path) -> None:
    data = WITAN_DEMO / "data"
    out = tmp_path / "backtest.csv"
    code, output = forecast(
        "backtest",
        "--transitions",
        str(data / "transitions.csv"),
        "--population",
        str(data / "population.csv"),
        "--horizons",
        "1",
        "--simulations",
        "20",
        "--out",
        str(out),
    )
    assert code == 0, output
    table = pd.read_csv(out)
    assert set(table["held_out_year"]) == {2017}
    assert set(table["level"]) == {"total", "need", "setting"}
    assert "Back-test" in output and "2017" in output


def test_la_history_end_to_end_writes_the_spreadsheet(tmp_path: Path) -> None:
    folder = tmp_path / "caseloads"
    folder.mkdir()
    rng = np.random.default_rng(7)
    kinds = ["mainstream", "special", "resourced provision", "independent"]
    children = {
        f"c{n}": (int(rng.integers(0, 12)), str(rng.choice(["ASD", "SEMH", "SLCN"])))
        for n in range(80)
    }
    for offset, year in enumerate(range(2021, 2025)):
        rows = []
        for n, (child, (ncy, need)) in enumerate(children.items()):
            if (n + offset) % 9 == 0:  # some leave, some join, every year
                continue
            rows.append(f"{child},{ncy + offset},{need},{kinds[n % 4]},x")
        write(folder / f"{year}.csv", HISTORY_HEADER, rows)
    population = write(
        tmp_path / "population.csv",
        "calendar-year,academic-year,population",
        population_rows(range(2021, 2028), ages=range(-2, 21)),
    )
    costs = write(tmp_path / "costs.csv", "need,setting,cost", [",special,25000"])
    out = tmp_path / "forecast.xlsx"
    code, output = forecast(
        "--history",
        str(folder),
        "--population",
        str(population),
        "--costs",
        str(costs),
        "--years",
        "2025-2027",
        "--out",
        str(out),
        "--simulations",
        "10",
    )
    assert code == 0, output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "caseloads",
        "costs.csv",
        "forecast.xlsx",
        "forecast_simulations.npz",
        "population.csv",
    ]
    saved = read_projection(out)  # every simulated future, beside the spreadsheet
    assert saved.years == (2024, 2025, 2026, 2027)
    assert saved.counts.shape[:2] == (10, 4)
    book = load_workbook(out, read_only=True)
    setting = list(book["Setting"].iter_rows(values_only=True))
    assert {row[1] for row in setting[1:]} <= {
        "mainstream",
        "special",
        "resourced_provision",
        "independent",
    }
    assert [row[0] for row in book["Total"].iter_rows(min_row=2, values_only=True)] == [
        2024,
        2025,
        2026,
        2027,
    ]
    assert "no cost for" in output  # mainstream and others are not priced

    # The saved forecast, set against the places of a settings file.
    settings = tmp_path / "settings.csv"
    shutil.copy(Path(__file__).parent / "data" / "io" / "settings.csv", settings)
    table_out = tmp_path / "sufficiency.xlsx"
    code, output = forecast(
        *("sufficiency", "--forecast", str(out), "--settings", str(settings)),
        *("--out", str(table_out)),
    )
    assert code == 0, output
    rows = list(load_workbook(table_out, read_only=True)["Sufficiency"].iter_rows(values_only=True))
    assert rows[0] == SUFFICIENCY_COLUMNS
    assert {row[0] for row in rows[1:]} == {2024, 2025, 2026, 2027}
    assert {row[1] for row in rows[1:]} >= {"special", "resourced_provision", "mainstream"}


# --------------------------------------------------------------------------------------------
# Every simulated future, saved beside the spreadsheet


def made_projection() -> Projection:
    return Projection(
        (2017, 2018, 2019),
        (State("ASD", "special", 7), State("SEMH", "resourced_provision", -1)),
        np.arange(3 * 3 * 2, dtype=np.int32).reshape(3, 3, 2),
    )


def same_projection(a: Projection, b: Projection) -> bool:
    return (
        a.years == b.years
        and a.states == b.states
        and a.counts.dtype == b.counts.dtype
        and np.array_equal(a.counts, b.counts)
    )


def test_a_projection_round_trips_and_is_found_from_the_spreadsheet(tmp_path: Path) -> None:
    projection = made_projection()
    write_projection(projection, tmp_path / "plan_simulations.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["plan_simulations.npz"]  # no temporary file
    for named in ("plan_simulations.npz", "plan.xlsx"):  # the .npz, or the spreadsheet beside it
        assert same_projection(read_projection(tmp_path / named), projection), named
    write_projection(projection, tmp_path / SIMULATIONS_NAME)
    assert same_projection(read_projection(tmp_path), projection)  # an --out folder


def test_write_forecast_saves_the_simulations_beside_the_spreadsheet(tmp_path: Path) -> None:
    projection = made_projection()
    written = write_forecast(made_tables(), tmp_path / "plan.xlsx", projection)
    assert sorted(p.name for p in written) == ["plan.xlsx", "plan_simulations.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.xlsx", "plan_simulations.npz"]
    folder = tmp_path / "results"
    write_forecast(made_tables(), folder, projection)
    assert (folder / "forecast_simulations.npz").is_file()
    assert same_projection(read_projection(folder / WORKBOOK_NAME), projection)


def test_a_failed_forecast_write_leaves_no_simulations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_tables: ForecastTables) -> None:
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(outputs, "_workbook_writer", lambda _t: broken)
    with pytest.raises(OSError, match="disk full"):
        write_forecast(made_tables(), tmp_path / "plan.xlsx", made_projection())
    assert list(tmp_path.iterdir()) == []


def _saved(tmp_path: Path, **arrays: object) -> Path:
    """A .npz as sendmatch saves one, with some arrays replaced (or left out, for None)."""
    projection = made_projection()
    fields = {
        "format": np.array(outputs.PROJECTION_FORMAT),
        "version": np.array(outputs.PROJECTION_VERSION),
        "years": np.array(projection.years),
        "need": np.array([s.need for s in projection.states]),
        "setting": np.array([s.setting for s in projection.states]),
        "academic_year": np.array([s.academic_year for s in projection.states]),
        "counts": projection.counts,
    }
    fields |= arrays
    path = tmp_path / "odd_simulations.npz"
    np.savez(path, **{k: v for k, v in fields.items() if v is not None})
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "gone.npz", "gone.npz: no such file"),
        (lambda d: d / "gone.xlsx", "gone.xlsx: no such file"),
        (
            lambda d: write(d / "forecast.xlsx", "not really", []),
            "forecast.xlsx: the simulations behind this forecast are not beside it "
            "(forecast_simulations.npz is missing)",
        ),
        (lambda d: d, f"no {SIMULATIONS_NAME} in this folder"),
        (
            lambda d: write(d / "x.npz", "calendar-year,need", ["2020,ASD"]),
            "x.npz: not a forecast saved by sendmatch, or damaged",
        ),
        (
            lambda d: _truncated(_saved(d)),
            "odd_simulations.npz: not a forecast saved by sendmatch, or damaged",
        ),
        (lambda d: _saved(d, format=None), "odd_simulations.npz: not a forecast saved by"),
        (lambda d: _saved(d, format=np.array("witan")), "not a forecast saved by sendmatch"),
        (
            lambda d: _saved(d, version=np.array(2)),
            "saved by another version of sendmatch (layout 2",
        ),
        (
            lambda d: _saved(d, need=np.array([{"pickled": "object"}], dtype=object)),
            "not a forecast saved by sendmatch, or damaged",
        ),
        (
            lambda d: _saved(d, counts=np.zeros((3, 2, 2), np.int32)),
            "damaged: its arrays do not fit together",
        ),
        (
            lambda d: _saved(d, counts=-np.ones((3, 3, 2), np.int32)),
            "damaged: its arrays do not fit together",
        ),
    ],
)
def test_read_projection_refuses_missing_foreign_and_damaged_files(
    tmp_path: Path, make: object, message: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InputError) as caught:
        read_projection(path)
    assert message in str(caught.value)
    assert len(caught.value.problems) == 1 and caught.value.problems[0].row is None


def _truncated(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    return path


def test_a_projection_claiming_to_unpack_past_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _saved(tmp_path)
    monkeypatch.setattr(outputs, "MAX_PROJECTION_BYTES", 100)
    with pytest.raises(InputError, match="holds more than sendmatch reads"):
        read_projection(path)


# --------------------------------------------------------------------------------------------
# sendmatch forecast sufficiency

# The settings of tests/test_forecast_sufficiency.py as a settings file: 16 special places for
# ASD alone (NC 7-11), 24 for ASD and SEMH (NC 0-11), a 6-place SEMH resourced provision at a
# mainstream school, and a college.
SETTINGS_HEADER = (
    "urn,name,setting_type,latitude,longitude,low_age,high_age,designated_needs,total_places,"
    "rp_needs,rp_places"
)
SETTINGS_ROWS = [
    "A,School A,special,52.2,-1.1,11,16,ASD,16,,",
    "B,School B,special,52.2,-1.1,4,16,ASD;SEMH,24,,",
    "C,School C,mainstream,52.2,-1.1,11,16,,900,SEMH,6",
    "D,College D,further_education,52.2,-1.1,16,19,,10,,",
]
NEW_ASD_SCHOOL = """name: ASD free school
edits:
  - kind: new_setting
    urn: "150001"
    name: ASD Free School
    location: {latitude: 52.3, longitude: -1.1}
    low_age: 11
    high_age: 16
    designated_needs: [ASD]
    total_places: 50
    opening_year: 2028
"""


@pytest.fixture
def saved_forecast(tmp_path: Path) -> Path:
    """tests/test_forecast_sufficiency.py's projection, saved as `sendmatch forecast --out
    forecast.xlsx` saves it, with a settings file beside it."""
    write_projection(hand_checked_projection(), tmp_path / "forecast_simulations.npz")
    write(tmp_path / "forecast.xlsx", "a spreadsheet", [])
    write(tmp_path / "settings.csv", SETTINGS_HEADER, SETTINGS_ROWS)
    return tmp_path / "forecast.xlsx"


def sufficiency_of(forecast: Path, *args: str) -> tuple[int, str]:
    settings = forecast.parent / "settings.csv"
    return _forecast_output(
        "sufficiency", "--forecast", str(forecast), "--settings", str(settings), *args
    )


def _forecast_output(*args: str) -> tuple[int, str]:
    """Exit code and output with spaces and line breaks closed up: tables wrap sentences."""
    result = runner.invoke(cli.app, ["forecast", *args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, " ".join(result.output.split())


def test_sufficiency_prints_each_years_biggest_shortfalls_and_writes_every_row(
    saved_forecast: Path,
) -> None:
    out = saved_forecast.parent / "sufficiency.csv"
    code, output = sufficiency_of(saved_forecast, "--out", str(out))
    assert code == 0, output
    biggest = (
        "In 2029 the LA is short of 64 ASD special places for secondary age (95% interval "
        "35–93): projected demand 80 against 16 places; 10 more places are shared with other "
        "needs."
    )
    assert biggest in output
    # Biggest first within the year: ASD secondary (64), then special secondary (54).
    assert output.index("short of 64") < output.index("short of 54 special places for")
    assert output.index("In 2028") < output.index("In 2029")
    written = pd.read_csv(out)
    expected = sufficiency(
        hand_checked_projection(), load_settings(saved_forecast.parent / "settings.csv")
    )
    assert tuple(written.columns) == SUFFICIENCY_COLUMNS
    assert len(written) == len(expected)  # every row, spare places and demand only too
    assert biggest in set(written["sentence"])
    chart = saved_forecast.parent / "sufficiency_by_need.png"  # demand against places by need
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "Written:" in output and "sufficiency_by_need.png" in output


def test_sufficiency_counts_a_scenarios_new_places_from_its_opening(
    saved_forecast: Path,
) -> None:
    plan = saved_forecast.parent / "plan.yaml"
    plan.write_text(NEW_ASD_SCHOOL)
    code, output = sufficiency_of(saved_forecast, "--scenario", str(plan))
    assert code == 0, output
    assert "with the places of 'ASD free school'" in output
    assert "projected demand 80 against 16 places and 50 planned" in output
    assert "In 2028 the LA is short of 44 ASD special places for secondary age" in output


def test_sufficiency_refuses_a_scenario_that_closes_or_changes_places(
    saved_forecast: Path,
) -> None:
    plan = saved_forecast.parent / "plan.yaml"
    plan.write_text("name: closure\nedits:\n  - kind: closure\n    urn: A\n")
    code, output = sufficiency_of(saved_forecast, "--scenario", str(plan))
    assert code == 2
    assert "plan.yaml: scenario 'closure': edits[0] is a closure" in output
    plan.write_text("name: odd\nedits:\n  - kind: new_setting\n    name: X\n")
    code, output = sufficiency_of(saved_forecast, "--scenario", str(plan))
    assert code == 2 and "plan.yaml: edits[0].location" in output


def test_sufficiency_of_a_witan_coded_forecast_says_what_forecast_it_needs(
    tmp_path: Path,
) -> None:
    witan = Projection((2018,), (State("T", "MMSIB", 8),), np.ones((3, 1, 1), np.int32))
    write_projection(witan, tmp_path / "forecast_simulations.npz")
    write(tmp_path / "settings.csv", SETTINGS_HEADER, SETTINGS_ROWS)
    out = tmp_path / "sufficiency.xlsx"
    code, output = sufficiency_of(tmp_path / "forecast_simulations.npz", "--out", str(out))
    assert code == 2
    assert "this forecast's settings are witan.send codes or other labels ('MMSIB')" in output
    assert "its needs 'T' are not SEN2 primary need codes" in output
    assert "Sufficiency needs a forecast made from --history with kinds of place" in output
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--forecast and --settings are required"),
        (["--forecast", "F.xlsx"], "--settings is required"),
    ],
)
def test_sufficiency_option_mistakes_exit_2(args: list[str], message: str) -> None:
    code, output = _forecast_output("sufficiency", *args)
    assert code == 2 and message in output


def test_sufficiency_bad_files_exit_2_naming_them(saved_forecast: Path) -> None:
    folder = saved_forecast.parent
    code, output = sufficiency_of(folder / "other.xlsx")
    assert code == 2 and "other.xlsx: no such file" in output
    (folder / "forecast_simulations.npz").write_bytes(b"PK\x03\x04 and then nothing")
    code, output = sufficiency_of(saved_forecast)
    assert code == 2
    assert "forecast_simulations.npz: not a forecast saved by sendmatch, or damaged" in output
    code, output = sufficiency_of(saved_forecast, "--out", str(folder / "settings.csv"))
    assert code == 2 and "settings.csv is also an input file" in output


def test_sufficiency_settings_problems_exit_2(saved_forecast: Path) -> None:
    write(saved_forecast.parent / "settings.csv", SETTINGS_HEADER, ["A,School A,special"])
    code, output = sufficiency_of(saved_forecast)
    assert code == 2 and "settings.csv, row 2" in output


# --------------------------------------------------------------------------------------------
# A forecast's year placed: scenario compare and sites choose


def _demand_files(files: Path) -> None:
    """A forecast whose 2029 is 5 SLD special children in NC 3 and 4 ASD special children in
    NC 8 (the rounded mean), beside the caseload and settings of tests/data/io."""
    states = (State("SLD", "special", 3), State("ASD", "special", 8))
    counts = np.array([[[4, 3], [5, 4]], [[4, 3], [5, 4]]], np.int32)
    write_projection(Projection((2028, 2029), states, counts), files / SIMULATIONS_NAME)
    write(files / WORKBOOK_NAME, "a spreadsheet", [])


def test_scenario_compare_places_a_forecast_years_children(files: Path) -> None:
    _demand_files(files)
    plans = files / "plans"
    plans.mkdir()
    (plans / "demand.yaml").write_text("name: 2029 demand\ndemand: ../forecast.xlsx#2029\n")
    result = runner.invoke(
        cli.app,
        [
            *("scenario", "compare", str(plans / "demand.yaml")),
            *("--children", str(files / "children.csv")),
            *("--settings", str(files / "settings.csv")),
            *("--out", str(files / "compare.xlsx"), "--year-start", "2026-09-01"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(files / "compare.xlsx")["Comparison"].iter_rows(values_only=True))
    children = next(r for r in rows if r[0] == "Children")
    assert children[2:4] == (12, 9)  # today's 12 children; 2029's projected 9


def test_scenario_compare_demand_problems_exit_2(files: Path) -> None:
    _demand_files(files)
    (files / "late.yaml").write_text("name: late\ndemand: forecast.xlsx#2031\n")
    (files / "grown.yaml").write_text(
        "name: grown\ndemand: forecast.xlsx#2029\nedits:\n  - kind: demand_growth\n"
    )
    result = runner.invoke(
        cli.app,
        [
            *("scenario", "compare", str(files / "late.yaml"), str(files / "grown.yaml")),
            *("--children", str(files / "children.csv")),
            *("--settings", str(files / "settings.csv"), "--out", str(files / "c.xlsx")),
        ],
    )
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "late.yaml: demand: 2031 is not a year of this forecast: it runs from 2028" in output
    assert "grown.yaml: edits[0]: a scenario with demand takes its children" in output
    assert not (files / "c.xlsx").exists()


def test_sites_choose_for_a_forecast_year(files: Path) -> None:
    _demand_files(files)
    sites = files / "sites.geojson"
    sites.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"id": "near"}, "geometry": {"type": "Point", "coordinates": [0.70, 52.25]}}]}'
    )
    args = [
        *("sites", "choose", "--candidates", str(sites), "--k", "1"),
        *("--designations", "ASD,SLD", "--places", "20"),
        *("--children", str(files / "children.csv"), "--settings", str(files / "settings.csv")),
        *("--out", str(files / "sites.xlsx"), "--year-start", "2026-09-01"),
        *("--time-limit", "20"),
    ]
    result = runner.invoke(cli.app, [*args, "--demand", str(files / "forecast.xlsx#2029")])
    assert result.exit_code == 0, result.output
    book = load_workbook(files / "sites.xlsx")
    totals = {r[0]: r[1:] for r in book["Totals"].iter_rows(min_row=2, values_only=True)}
    placed, unplaced = totals["placed"][1], totals["unplaced"][1]
    assert placed + unplaced == 9  # the projected children, not today's 12
    result = runner.invoke(cli.app, [*args, "--demand", str(files / "forecast.xlsx#2040")])
    assert result.exit_code == 2
    assert "--demand: 2040 is not a year of this forecast" in " ".join(result.output.split())


# --------------------------------------------------------------------------------------------
# A planner's assumptions: --assume


def la_history(tmp_path: Path) -> tuple[Path, Path]:
    """Four Januaries (2021-2024) of 80 children in four kinds of place, some leaving and
    joining every year, and the population to 2027."""
    folder = tmp_path / "caseloads"
    folder.mkdir()
    kinds = ["mainstream", "special", "resourced provision", "independent"]
    rng = np.random.default_rng(7)
    children = {
        f"c{n}": (int(rng.integers(0, 12)), str(rng.choice(["ASD", "SEMH", "SLCN"])))
        for n in range(80)
    }
    for offset, year in enumerate(range(2021, 2025)):
        rows = [
            f"{child},{ncy + offset},{need},{kinds[n % 4]},x"
            for n, (child, (ncy, need)) in enumerate(children.items())
            if (n + offset) % 9
        ]
        write(folder / f"{year}.csv", HISTORY_HEADER, rows)
    population = write(
        tmp_path / "population.csv",
        "calendar-year,academic-year,population",
        population_rows(range(2021, 2028), ages=range(-2, 21)),
    )
    return folder, population


def forecast_la(tmp_path: Path, *args: str) -> tuple[int, str]:
    folder, population = la_history(tmp_path)
    return _forecast_output(
        *("--history", str(folder), "--population", str(population), "--years", "2025-2027"),
        *("--simulations", "10", *args),
    )


def test_assumptions_change_the_forecast_and_are_recorded_in_the_inputs_sheet(
    tmp_path: Path,
) -> None:
    """Every child who would be in independent is in special from January 2026 on."""
    knobs = tmp_path / "no_independent.yaml"
    knobs.write_text("name: No independent\nshifts:\n  - {share: 1, from_year: 2026}\n")
    out = tmp_path / "forecast.xlsx"
    code, output = forecast_la(tmp_path, "--assume", str(knobs), "--out", str(out))
    assert code == 0, output
    book = load_workbook(out, read_only=True)
    inputs = dict(book["Inputs"].iter_rows(min_row=2, values_only=True))
    assert inputs["Assumptions"] == "No independent (no_independent.yaml)"
    assert inputs["Assumed shift"].startswith("100% of the children who would join or move")
    setting = pd.DataFrame(
        list(book["Setting"].iter_rows(min_row=2, values_only=True)),
        columns=WITAN_HEADERS["Output_Setting.csv"].split(","),
    )
    independent = setting[setting["setting"] == "independent"].set_index("calendar-year")
    assert independent.loc[2025, "mean"] > 0
    assert (independent.loc[[2026, 2027], "max"] == 0).all()
    assert read_projection(out).years == (2024, 2025, 2026, 2027)


def test_several_assumptions_files_make_one_forecast_each_and_compare_totals(
    tmp_path: Path,
) -> None:
    (tmp_path / "baseline.yaml").write_text("name: Baseline\n")
    (tmp_path / "more_asd.json").write_text(
        '{"name": "More ASD", "joiners": [{"need": "ASD", "change": 2, "from_year": 2025}]}'
    )
    out = tmp_path / "forecast.xlsx"
    code, output = forecast_la(
        tmp_path,
        *("--assume", str(tmp_path / "baseline.yaml")),
        *("--assume", str(tmp_path / "more_asd.json"), "--out", str(out)),
    )
    assert code == 0, output
    assert not out.exists()
    for stem in ("baseline", "more_asd"):
        assert (tmp_path / f"forecast_{stem}.xlsx").exists()
        assert (tmp_path / f"forecast_{stem}_simulations.npz").exists()
    assert "by assumptions" in output and "Baseline" in output and "More ASD" in output
    totals = {
        stem: read_projection(tmp_path / f"forecast_{stem}.xlsx").counts.sum(axis=2).mean(axis=0)
        for stem in ("baseline", "more_asd")
    }
    assert totals["more_asd"][0] == totals["baseline"][0]  # January 2024, observed
    assert totals["more_asd"][-1] > totals["baseline"][-1]


def test_assumptions_problems_exit_2_with_the_path_to_each_field_and_write_nothing(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("shifts:\n  - {share: 1.5, from_year: 2026}\nwhat: x\n")
    out = tmp_path / "forecast.xlsx"
    code, output = forecast_la(tmp_path, "--assume", str(bad), "--out", str(out))
    assert code == 2
    assert "bad.yaml: shifts[0].share: Input should be less than or equal to 1" in output
    assert "bad.yaml: what: Extra inputs are not permitted" in output
    # Sound on its own, wrong for this forecast: checked before anything is simulated.
    bad.write_text("joiners:\n  - {need: PMLD, change: 1, from_year: 2031}\n")
    code, output = _forecast_output(
        *("--history", str(tmp_path / "caseloads"), "--population"),
        *(str(tmp_path / "population.csv"), "--years", "2025-2027", "--assume", str(bad)),
        *("--out", str(out)),
    )
    assert code == 2
    assert "bad.yaml: joiners[0].need: 'PMLD' is not a need of this forecast" in output
    assert "bad.yaml: joiners[0].from_year: 2031 is not a projected January (2025 to 2027)" in (
        output
    )
    assert not out.exists()
    assert not (tmp_path / "forecast_simulations.npz").exists()


def test_a_population_rate_needs_no_population_rows_for_the_projected_years(
    tmp_path: Path,
) -> None:
    folder, population = la_history(tmp_path)
    write(
        population,
        "calendar-year,academic-year,population",
        population_rows(range(2021, 2025), ages=range(-2, 21)),
    )
    out = tmp_path / "forecast.xlsx"
    args = ("--history", str(folder), "--population", str(population), "--years", "2025-2026")
    code, output = _forecast_output(*args, "--simulations", "5", "--out", str(out))
    assert code == 2 and "no rows for 2025" in output
    knobs = tmp_path / "growth.yaml"
    knobs.write_text("population: {rate: 0.01}\n")
    code, output = _forecast_output(
        *args, "--simulations", "5", "--assume", str(knobs), "--out", str(out)
    )
    assert code == 0, output
