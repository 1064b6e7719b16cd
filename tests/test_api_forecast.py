"""Demand forecast runs over HTTP, held to what ``sendmatch forecast`` computes.

TestClient runs background tasks before returning the response, so a forecast started with a
POST is done when the call returns; cancellation is driven by holding the task back and calling
the job directly. Every test runs on SQLite and on PostgreSQL (``tests/api_client.py``).
"""

from __future__ import annotations

import shutil
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import delete, func, insert, inspect, select, text
from typer.testing import CliRunner

from api import forecast_jobs, routes_forecast
from api.db import MIGRATIONS, Database, Run, RunInput, RunOutput, User, utcnow
from api.request_limits import MB, BodyLimits
from matcher import cli
from matcher.forecast import inputs as inputs_module
from matcher.forecast.inputs import read_la_history
from matcher.forecast.knobs import load_assumptions
from matcher.forecast.model import project
from matcher.forecast.sufficiency import demand_and_places_by_need, sufficiency
from matcher.forecast.summary import summary_table
from matcher.forecast.types import ForecastConfig
from matcher.io import load_settings
from tests.api_client import DATA, upload

HEADER = "child_id,nc_year,primary_need,kind_of_place"
FIRST, LAST = 2021, 2023  # the Januaries of the hand-made history
SIMULATIONS, SEED = 200, 7
COSTS = "need,setting,cost\n,special,40000\n,resourced_provision,21000\nSLD,mainstream,9000\n"


def history_rows(year: int) -> list[str]:
    """One January of a small LA, ids ``PSEUDO-…`` so a test can look for them in answers.

    40 ASD children in resourced provision, ten in each of Y1 to Y4 in 2021, moving up a year
    each January (more than the 28 resourced places of the fixture caseload); 12 SLD children
    in special school from Y3; 6 new ASD joiners in reception each later January; one SEMH
    child who leaves independent school after 2022.
    """
    ahead = year - FIRST
    rows = [f"PSEUDO-{k:03d},{1 + k // 10 + ahead},ASD,resourced_provision" for k in range(40)]
    rows += [f"PSEUDO-{k:03d},{3 + k % 6 + ahead},SLD,special" for k in range(40, 52)]
    for joined in range(FIRST + 1, year + 1):
        rows += [f"PSEUDO-J{joined}-{k},{year - joined},ASD,resourced_provision" for k in range(6)]
    if year < FIRST + 2:
        rows.append(f"PSEUDO-999,{9 + ahead},SEMH,independent")
    return rows


def population_text(years: range) -> str:
    rows = [f"{y},{a},{1000 + 10 * a}" for y in years for a in range(-2, 21)]
    return "\n".join(["calendar-year,academic-year,population", *rows]) + "\n"


@pytest.fixture
def history(tmp_path: Path) -> dict[str, Path]:
    """The yearly files, the population (2021–2027) and the costs, as files on disk."""
    files = {}
    for year in range(FIRST, LAST + 1):
        files[f"{year}.csv"] = tmp_path / f"{year}.csv"
        files[f"{year}.csv"].write_text("\n".join([HEADER, *history_rows(year)]) + "\n")
    files["population.csv"] = tmp_path / "population.csv"
    files["population.csv"].write_text(population_text(range(FIRST, 2028)))
    files["costs.csv"] = tmp_path / "costs.csv"
    files["costs.csv"].write_text(COSTS)
    return files


def form_files(history: dict[str, Path], *, costs: bool = True) -> list[tuple[str, Any]]:
    parts = [
        ("history", (name, path.read_bytes(), "text/csv"))
        for name, path in history.items()
        if name[:4].isdigit()
    ]
    parts.append(("population", ("population.csv", history["population.csv"].read_bytes())))
    if costs:
        parts.append(("costs", ("costs.csv", history["costs.csv"].read_bytes(), "text/csv")))
    return parts


def start(
    client: TestClient,
    headers: dict,
    files: list[tuple[str, Any]],
    years: str = "2024-2026",
    **fields: str,
) -> Any:
    data = {"years": years, "simulations": str(SIMULATIONS), "seed": str(SEED), **fields}
    return client.post("/runs/forecast", files=files, data=data, headers=headers)


def count(app: FastAPI, model: type) -> int:
    database: Database = app.state.db
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def direct_projection(history: dict[str, Path], *, costs: bool = True) -> Any:
    """What ``sendmatch forecast --history … --years 2024-2026`` projects from the same files."""
    years = [history[f"{y}.csv"] for y in range(FIRST, LAST + 1)]
    inputs = read_la_history(
        years, history["population.csv"], costs=history["costs.csv"] if costs else None
    )
    config = ForecastConfig(n_simulations=SIMULATIONS, seed=SEED)
    return inputs, project(inputs, [2024, 2025, 2026], config)


def caseload_id(client: TestClient, users: dict) -> int:
    uploaded = upload(client, users["case_officer"])
    assert uploaded["status"] == 201, uploaded
    return int(uploaded["body"]["id"])


# --------------------------------------------------------------------------------------------
# A forecast run


def test_forecast_run_gives_the_cli_projection_and_its_back_test(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    started = start(client, users["planner"], form_files(history))
    assert started.status_code == 202, started.text
    assert (started.json()["kind"], started.json()["caseload_id"]) == ("forecast", None)
    run_id = started.json()["id"]
    run = client.get(f"/runs/{run_id}", headers=users["planner"]).json()
    assert (run["status"], run["progress"], run["stage"]) == ("done", 1.0, "done"), run
    forecast = client.get(f"/runs/{run_id}/forecast", headers=users["planner"]).json()

    inputs, projection = direct_projection(history)
    assert forecast["base_year"] == LAST and forecast["years"] == [2023, 2024, 2025, 2026]
    assert (forecast["simulations"], forecast["seed"]) == (SIMULATIONS, SEED)
    assert forecast["source"] == "LA history: 3 January snapshots, 2021–2023"
    expected = summary_table(projection, "total")
    got = pd.DataFrame(forecast["total"])
    assert got["calendar_year"].tolist() == expected["calendar-year"].tolist()
    for ours, theirs in (
        ("mean", "mean"),
        ("low_95", "low-95pc-bound"),
        ("high_95", "high-95pc-bound"),
    ):
        assert got[ours].tolist() == pytest.approx(expected[theirs].tolist()), ours
    assert got["group"].isna().all()
    # The observed Januaries (the chart's history) and the first year, observed, with no spread.
    assert [o["children"] for o in forecast["observed"]] == [53, 59, 64]
    assert forecast["total"][0]["low_95"] == forecast["total"][0]["high_95"] == 64

    # Groups add up to the total, each year.
    for table in ("by_need", "by_setting", "by_nc_year"):
        by_year = pd.DataFrame(forecast[table]).groupby("calendar_year")["mean"].sum()
        assert by_year.tolist() == pytest.approx(got["mean"].tolist()), table
    assert {row["group"] for row in forecast["by_setting"]} >= {"resourced_provision", "special"}

    # Costs as the cost summary of the same projection; the uncosted children are named.
    cost = summary_table(projection, "total", costs=inputs.costs)
    assert [c["mean"] for c in forecast["cost"]] == pytest.approx(cost["mean"].tolist())
    assert any("no cost for SEMH in independent:" in note for note in forecast["notes"])

    # Three Januaries allow one held out: 2023 from 2022, in total, by need and by setting.
    assert forecast["backtest_note"] is None
    assert [(r["held_out_year"], r["horizon"], r["level"]) for r in forecast["backtest"]] == [
        (2023, 1, "total"),
        (2023, 1, "need"),
        (2023, 1, "setting"),
    ]
    assert forecast["backtest"][0]["truth"] == 64
    assert forecast["sufficiency"] is None


def test_forecast_files_are_kept_with_the_run_and_never_sent_back(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    started = start(client, users["admin"], form_files(history))
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    with app.state.db.sessions() as session:
        stored = session.execute(
            select(RunInput.role, RunInput.name).where(RunInput.run_id == run_id)
        ).all()
    assert sorted(stored) == sorted(
        [("history", f"{y}.csv") for y in range(FIRST, LAST + 1)]
        + [("population", "population.csv"), ("costs", "costs.csv")]
    )
    # Whatever a role reads of the run, no child's id is in it.
    for role, headers in users.items():
        for path in (f"/runs/{run_id}", f"/runs/{run_id}/forecast"):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (role, path, response.text)
            assert "PSEUDO" not in response.text, (role, path)


def test_forecast_set_against_a_caseloads_places(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    caseload = caseload_id(client, users)
    started = start(client, users["planner"], form_files(history), caseload_id=str(caseload))
    assert started.status_code == 202, started.text
    assert started.json()["caseload_id"] == caseload
    forecast = client.get(f"/runs/{started.json()['id']}/forecast", headers=users["panel_member"])
    assert forecast.status_code == 200, forecast.text
    found = forecast.json()["sufficiency"]
    assert found["caseload_id"] == caseload

    # What `sendmatch forecast sufficiency` computes on the same projection and settings file.
    _, projection = direct_projection(history)
    expected = sufficiency(projection, load_settings(DATA / "settings.csv"))
    rows = pd.DataFrame(found["rows"])
    assert sorted(rows["calendar_year"].unique()) == [2023, 2024, 2025, 2026]
    key = ["calendar_year", "kind_of_place", "phase", "need"]
    merged = rows.merge(expected, on=key, suffixes=("", "_cli"), validate="one_to_one")
    assert len(merged) == len(rows) == len(expected)
    assert merged["demand_mean"].tolist() == pytest.approx(merged["demand_mean_cli"].tolist())
    assert merged["sentence"].tolist() == merged["sentence_cli"].tolist()
    compared = merged[merged["places_cli"].notna()]
    assert compared["places"].tolist() == compared["places_cli"].tolist()
    assert merged.loc[merged["places_cli"].isna(), "places"].isna().all()

    # The chart of demand against places by need: the CLI's figures.
    by_need = pd.DataFrame(found["by_need"])
    chart = demand_and_places_by_need(projection, load_settings(DATA / "settings.csv"))
    chart = chart[chart["calendar_year"] >= LAST].reset_index(drop=True)
    assert by_need[["calendar_year", "need", "places"]].values.tolist() == (
        chart[["calendar_year", "need", "places"]].values.tolist()
    )
    assert by_need["demand_mean"].tolist() == pytest.approx(chart["demand_mean"].tolist())

    # 40 ASD children in resourced provision against 12 primary places (Lark Valley's unit).
    shortfalls = found["shortfalls"]
    assert shortfalls and all(s["calendar_year"] in (2023, 2024, 2025, 2026) for s in shortfalls)
    assert any(
        s["sentence"].startswith("In 2024 the LA is short of")
        and "resourced provision places for primary age" in s["sentence"]
        for s in shortfalls
    ), shortfalls
    assert len([s for s in shortfalls if s["calendar_year"] == 2024]) <= 5


def test_yearly_files_naming_setting_urns_take_kinds_from_the_caseloads_settings(
    client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    """``setting_urn`` instead of ``kind_of_place``, as ``--history … --settings``: the named
    caseload's settings file gives each URN's kind (990005 special, 990001 mainstream)."""
    by_urn = {"special": "990005", "resourced_provision": "990001", "independent": "990007"}
    files = {**history}
    for year in range(FIRST, LAST + 1):
        rows = [row.rsplit(",", 1) for row in history_rows(year)]
        files = replaced(files, f"{year}.csv", [f"{head},{by_urn[kind]}" for head, kind in rows])
        files[f"{year}.csv"].write_text(
            files[f"{year}.csv"].read_text().replace("kind_of_place", "setting_urn", 1)
        )
    refused = start(client, users["planner"], form_files(files, costs=False))
    assert problems_of(refused)[0] == ("2021.csv", None, "kind_of_place")
    caseload = caseload_id(client, users)
    started = start(
        client, users["planner"], form_files(files, costs=False), caseload_id=str(caseload)
    )
    assert started.status_code == 202, started.text
    forecast = client.get(f"/runs/{started.json()['id']}/forecast", headers=users["planner"])
    kinds = {row["group"] for row in forecast.json()["by_setting"]}
    assert kinds == {"special", "mainstream"}  # the independent school's child left in 2022


def test_a_history_of_two_januaries_has_no_back_test_and_says_why(
    client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    del history["2021.csv"]
    started = start(client, users["planner"], form_files(history, costs=False))
    assert started.status_code == 202, started.text
    forecast = client.get(f"/runs/{started.json()['id']}/forecast", headers=users["planner"])
    body = forecast.json()
    assert body["backtest"] == [] and body["cost"] is None
    assert "observe 2 Januaries (2022–2023)" in body["backtest_note"]


# --------------------------------------------------------------------------------------------
# Downloads: the command line's spreadsheet and witan.send's CSV files

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WITAN_FILES = ["Output_AY.csv", "Output_Cost.csv", "Output_Count.csv", "Output_Need.csv"]
WITAN_FILES += ["Output_Setting.csv"]


def cli_forecast(history: dict[str, Path], out: Path) -> Path:
    """``sendmatch forecast --out DIR`` on the same files, simulations and seed."""
    folder = out.parent / "history"
    folder.mkdir()
    for name, path in history.items():
        if name[:4].isdigit():
            shutil.copy(path, folder / name)
    args = ["--history", str(folder), "--population", str(history["population.csv"])]
    args += ["--costs", str(history["costs.csv"]), "--years", "2024-2026"]
    args += ["--simulations", str(SIMULATIONS), "--seed", str(SEED), "--out", str(out)]
    result = CliRunner().invoke(cli.app, ["forecast", *args])
    assert result.exit_code == 0, result.output
    return out


def sheets(data: bytes) -> dict[str, pd.DataFrame]:
    """Every sheet of a workbook, the Inputs sheet without the day it was made on."""
    book = pd.read_excel(BytesIO(data), sheet_name=None)
    book["Inputs"] = book["Inputs"][book["Inputs"]["What"] != "Made on"]
    return book


def download(client: TestClient, headers: dict, run_id: int, name: str) -> Any:
    return client.get(f"/runs/{run_id}/{name}", headers=headers)


def test_a_forecast_downloads_as_the_command_lines_spreadsheet_and_csv_files(
    client: TestClient, users: dict, history: dict[str, Path], tmp_path: Path
) -> None:
    started = start(client, users["planner"], form_files(history))
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    written = cli_forecast(history, tmp_path / "cli-out")

    workbook = download(client, users["planner"], run_id, "forecast.xlsx")
    assert workbook.status_code == 200, workbook.text
    assert workbook.headers["content-type"] == XLSX
    disposition = f'attachment; filename="forecast-{run_id}.xlsx"'
    assert workbook.headers["content-disposition"] == disposition
    ours, theirs = sheets(workbook.content), sheets((written / "forecast.xlsx").read_bytes())
    assert (
        list(ours)
        == list(theirs)
        == [*("Total", "Need", "Setting", "NC year", "Cost", "Need x setting x NC year", "Inputs")]
    )
    for name, sheet in theirs.items():
        pd.testing.assert_frame_equal(ours[name], sheet, obj=name)
    assert len(ours["Need x setting x NC year"]) > 0

    zipped = download(client, users["planner"], run_id, "forecast-csv.zip")
    assert zipped.status_code == 200, zipped.text
    assert zipped.headers["content-type"] == "application/zip"
    disposition = f'attachment; filename="forecast-{run_id}-csv.zip"'
    assert zipped.headers["content-disposition"] == disposition
    with zipfile.ZipFile(BytesIO(zipped.content)) as archive:
        assert sorted(archive.namelist()) == WITAN_FILES
        for name in WITAN_FILES:
            assert archive.read(name) == (written / name).read_bytes(), name
            assert b"PSEUDO" not in archive.read(name)
    assert b"PSEUDO" not in b"".join(
        str(v).encode() for sheet in ours.values() for v in sheet.to_numpy().ravel()
    )


def transitions_text(setting: str) -> str:
    """witan.send's transitions for three Januaries of a small LA, one setting's name given."""
    rows = ["calendar-year,setting-1,need-1,academic-year-1,setting-2,need-2,academic-year-2"]
    for year in (2021, 2022):
        rows += [f"{year},{setting},ASD,{3 + k % 4},{setting},ASD,{4 + k % 4}" for k in range(12)]
        rows += [f"{year},NONSEND,NONSEND,0,{setting},ASD,1" for _ in range(3)]
        rows += [f"{year},SP,SLD,{5 + k % 3},SP,SLD,{6 + k % 3}" for k in range(8)]
    return "\n".join(rows) + "\n"


def test_downloaded_csv_files_neutralise_a_formula_and_the_spreadsheet_keeps_it_text(
    client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    """A setting named like a formula (witan.send's files take any name) is text in both, as
    the command line writes it: a leading ' in the CSV, a text cell in the spreadsheet."""
    formula = "=HYPERLINK(1)"
    files = [
        ("transitions", ("transitions.csv", transitions_text(formula).encode(), "text/csv")),
        ("population", ("population.csv", history["population.csv"].read_bytes(), "text/csv")),
    ]
    started = start(client, users["planner"], files)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    zipped = download(client, users["planner"], run_id, "forecast-csv.zip")
    with zipfile.ZipFile(BytesIO(zipped.content)) as archive:
        by_setting = archive.read("Output_Setting.csv").decode()
    assert f",'{formula}," in by_setting and f",{formula}," not in by_setting
    workbook = download(client, users["planner"], run_id, "forecast.xlsx")
    cells = [
        c
        for row in load_workbook(BytesIO(workbook.content))["Setting"].iter_rows()
        for c in row
        if c.value == formula
    ]
    assert cells and all(c.data_type == "s" for c in cells)


def test_every_role_downloads_a_forecast_and_nobody_signed_out(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path], run: dict
) -> None:
    started = start(client, users["planner"], form_files(history, costs=False))
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    for name in ("forecast.xlsx", "forecast-csv.zip"):
        for role, headers in users.items():
            assert download(client, headers, run_id, name).status_code == 200, (role, name)
        assert download(client, {}, run_id, name).status_code == 401, name
        # A placement run has no forecast to download, and a run that does not exist neither.
        assert download(client, users["planner"], run["id"], name).status_code == 404, name
        assert download(client, users["planner"], 9999, name).status_code == 404, name
    with zipfile.ZipFile(BytesIO(download(client, users["admin"], run_id, name).content)) as z:
        assert "Output_Cost.csv" not in z.namelist()  # no costs given, no cost file

    # A forecast made before its files were kept: it says so and how to get them.
    with app.state.db.sessions() as session, session.begin():
        session.execute(delete(RunOutput).where(RunOutput.run_id == run_id))
    response = download(client, users["planner"], run_id, "forecast.xlsx")
    assert response.status_code == 404
    assert "start it again" in response.json()["detail"]


def replaced(history: dict[str, Path], name: str, rows: list[str]) -> dict[str, Path]:
    """The files with ``name`` (sent under that name) holding ``rows`` instead."""
    path = history[name].with_name(f"changed-{name}")
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return {**history, name: path}


def problems_of(response: Any) -> list[tuple[str, int | None, str | None]]:
    assert response.status_code == 422, response.text
    assert response.json()["detail"].endswith("nothing was stored")
    return [(p["file"], p["row"], p["field"]) for p in response.json()["problems"]]


def test_upload_problems_name_file_row_and_field_and_store_nothing(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    planner = users["planner"]
    rows = history_rows(2022)
    rows[2] = rows[2].replace("ASD", "XYZ")  # row 4 as Excel counts: an unknown need code
    rows[45] = rows[45].replace(",special", ",spaceship")  # row 47: not a kind of place
    response = start(client, planner, form_files(replaced(history, "2022.csv", rows)))
    assert problems_of(response) == [
        ("2022.csv", 4, "primary_need"),
        ("2022.csv", 47, "kind_of_place"),
    ]
    assert "XYZ" in response.json()["problems"][0]["message"]

    # A child whose NC year goes back: the later file, its row, its NC year column.
    rows = history_rows(2023)
    rows[0] = "PSEUDO-000,1,ASD,resourced_provision"  # Y2 in 2022
    backwards = form_files(replaced(history, "2023.csv", rows))
    assert problems_of(start(client, planner, backwards)) == [("2023.csv", 2, "nc_year")]

    # A year projected without population: the population file's calendar-year.
    response = start(client, planner, form_files(history), years="2024-2028")
    assert problems_of(response) == [("population.csv", None, "calendar-year")]
    assert "2028" in response.json()["problems"][0]["message"]

    # The form's own fields: an empty file name and the field.
    assert problems_of(start(client, planner, form_files(history), years="soon")) == [
        ("", None, "years")
    ]
    response = start(client, planner, form_files(history), years="2020-2023")
    assert problems_of(response) == [("", None, "years")]
    assert "must reach past 2023" in response.json()["problems"][0]["message"]
    far = start(client, planner, form_files(history), years="2100-2100")
    assert problems_of(far) == [("", None, "years")]
    assert "at most 50 years after 2023" in far.json()["problems"][0]["message"]
    transitions = ("transitions", ("transitions.csv", b"calendar-year\n", "text/csv"))
    both = start(client, planner, [*form_files(history), transitions])
    assert problems_of(both) == [("", None, "history")]
    assert "not both" in both.json()["problems"][0]["message"]
    neither = start(client, planner, [p for p in form_files(history) if p[0] != "history"])
    assert problems_of(neither) == [("", None, "history")]

    # witan.send's setting codes cannot be set against a caseload's places.
    witan = "\n".join(
        [
            "calendar-year,setting-1,need-1,academic-year-1,setting-2,need-2,academic-year-2",
            *(f"{y},MMSIB,ASD,{a},MMSIB,ASD,{a + 1}" for y in (2021, 2022) for a in (3, 4)),
        ]
    )
    parts = [
        ("transitions", ("transitions.csv", witan.encode(), "text/csv")),
        ("population", ("population.csv", history["population.csv"].read_bytes())),
    ]
    caseload = caseload_id(client, users)
    response = start(client, planner, parts, caseload_id=str(caseload))
    assert problems_of(response) == [("", None, "caseload_id")]
    assert "'MMSIB'" in response.json()["problems"][0]["message"]
    # Without the caseload the same files are a forecast.
    assert start(client, planner, parts).status_code == 202

    with app.state.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 1
        assert session.scalar(select(func.count()).select_from(RunInput)) == 2


def test_forecast_limits(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    planner = users["planner"]
    too_many = start(client, planner, form_files(history), simulations="2001")
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "simulations"]
    unknown = start(client, planner, form_files(history), caseload_id="999")
    assert unknown.status_code == 404
    big = [p for p in form_files(history) if p[0] != "population"]
    big.append(
        ("population", ("population.csv", b"x" * (routes_forecast.MAX_POPULATION_BYTES + 1)))
    )
    assert start(client, planner, big).status_code == 413
    huge = "#" * routes_forecast.MAX_ASSUMPTIONS_BYTES + "\nname: big\n"
    too_big = start(client, planner, [*form_files(history), assumptions_part("big.yaml", huge)])
    assert too_big.status_code == 413
    assert count(app, Run) == 0
    # The request's own limit: every file at its largest, and the form around them.
    limit = BodyLimits().for_request("POST", "/runs/forecast")
    assert limit == routes_forecast.MAX_FORECAST_FILES_BYTES + MB
    assert limit > routes_forecast.MAX_HISTORY_FILES * routes_forecast.MAX_HISTORY_FILE_BYTES


# --------------------------------------------------------------------------------------------
# Assumptions files (``sendmatch forecast --assume``)

ASSUMED = """\
name: ASD rising
population:
  rate: 0.01
joiners:
  - need: ASD
    change_a_year: 0.5
    from_year: 2025
"""


def assumptions_part(name: str, text: str) -> tuple[str, Any]:
    return ("assumptions", (name, text.encode(), "application/yaml"))


def test_a_forecast_applies_an_assumptions_file_as_the_cli_does(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path], tmp_path: Path
) -> None:
    files = [*form_files(history), assumptions_part("asd.yaml", ASSUMED)]
    started = start(client, users["planner"], files)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    forecast = client.get(f"/runs/{run_id}/forecast", headers=users["planner"]).json()

    # `project` called directly with the same files, assumptions and seed.
    (tmp_path / "asd.yaml").write_text(ASSUMED)
    inputs, plain = direct_projection(history)
    config = ForecastConfig(n_simulations=SIMULATIONS, seed=SEED)
    assumed = project(
        inputs, [2024, 2025, 2026], config, assumptions=load_assumptions(tmp_path / "asd.yaml")
    )
    means = [row["mean"] for row in forecast["total"]]
    assert means == pytest.approx(summary_table(assumed, "total")["mean"].tolist())
    lows = [row["low_95"] for row in forecast["total"]]
    assert lows == pytest.approx(summary_table(assumed, "total")["low-95pc-bound"].tolist())
    assert means[-1] > summary_table(plain, "total")["mean"].iloc[-1]  # the ASD joiners rose

    assert forecast["assumptions"] == [
        "Assumptions: ASD rising (asd.yaml)",
        "Assumed population: the last observed January's general population, +1% a year "
        "(compounding), in every projected year",
        "Assumed joiners: ASD joiners +50% a year (compounding) from January 2025",
    ]
    with app.state.db.sessions() as session:
        roles = session.scalars(select(RunInput.role).where(RunInput.run_id == run_id)).all()
    assert "assumptions" in roles
    # A forecast without one records none.
    started = start(client, users["planner"], form_files(history))
    plain_out = client.get(f"/runs/{started.json()['id']}/forecast", headers=users["planner"])
    assert plain_out.json()["assumptions"] == []


def test_assumptions_problems_name_the_file_and_field_and_store_nothing(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path]
) -> None:
    planner = users["planner"]
    wrong = ASSUMED.replace("need: ASD", "need: ASDD").replace("2025", "2031")
    response = start(client, planner, [*form_files(history), assumptions_part("asd.yaml", wrong)])
    assert problems_of(response) == [
        ("asd.yaml", None, "joiners[0].need"),
        ("asd.yaml", None, "joiners[0].from_year"),
    ]
    assert "'ASDD' is not a need of this forecast" in response.json()["problems"][0]["message"]
    assert "2031 is not a projected January (2024 to 2026)" in response.text

    # The file on its own, as JSON, and a file of another kind.
    bad = '{"joiners": [{"need": "ASD", "from_year": 2025, "change": 0}]}'
    response = start(client, planner, [*form_files(history), assumptions_part("a.json", bad)])
    assert problems_of(response) == [("a.json", None, "joiners[0]")]
    response = start(client, planner, [*form_files(history), assumptions_part("a.txt", ASSUMED)])
    assert problems_of(response) == [("a.txt", None, None)]
    assert "use .yaml, .yml or .json" in response.text
    assert count(app, Run) == 0 and count(app, RunInput) == 0


@pytest.mark.parametrize("named", ["/etc/passwd", "../../population.csv", "ABSOLUTE"])
def test_an_uploaded_assumptions_file_never_opens_a_population_file_it_names(
    app: FastAPI,
    client: TestClient,
    users: dict,
    history: dict[str, Path],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command line reads ``population.file``; the server must not read its own paths on
    an upload's say-so: ``ABSOLUTE`` is a good population file that, read, would be accepted."""
    if named == "ABSOLUTE":
        named = str(history["population.csv"])

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a population file named in an upload was opened")

    read = inputs_module.read_population
    opened: list[Path] = []

    def recorded(path: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(Path(path))
        return read(path, *args, **kwargs)

    monkeypatch.setattr("matcher.forecast.knobs._read_population", never)
    monkeypatch.setattr(inputs_module, "read_population", recorded)
    text = f"population:\n  file: {named}\n"
    files = [*form_files(history), assumptions_part("ons.yaml", text)]
    response = start(client, users["planner"], files)
    assert problems_of(response) == [("ons.yaml", None, "population.file")]
    message = response.json()["problems"][0]["message"]
    assert "name the population change as a rate, or upload" in message
    assert "root:" not in response.text
    assert [path.name for path in opened] == ["population.csv"]  # the uploaded one, in a temp dir
    assert history["population.csv"] not in opened
    assert count(app, Run) == 0 and count(app, RunInput) == 0


# --------------------------------------------------------------------------------------------
# Roles and cancelling


def test_planners_and_admins_start_forecasts_and_every_role_reads_them(
    app: FastAPI, client: TestClient, users: dict, history: dict[str, Path], run: dict
) -> None:
    for role in ("case_officer", "panel_member"):
        assert start(client, users[role], form_files(history)).status_code == 403, role
    assert count(app, RunInput) == 0
    started = start(client, users["admin"], form_files(history))
    assert started.status_code == 202
    for role, headers in users.items():
        response = client.get(f"/runs/{started.json()['id']}/forecast", headers=headers)
        assert response.status_code == 200, role
    # A placement run is not a forecast, nor a forecast a comparison.
    assert client.get(f"/runs/{run['id']}/forecast", headers=users["planner"]).status_code == 404
    response = client.get(f"/runs/{started.json()['id']}/comparison", headers=users["planner"])
    assert response.status_code == 404


@pytest.fixture
def queued_forecast(
    client: TestClient, users: dict, history: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> int:
    """A forecast left queued: the background task the endpoint would start is held back."""
    monkeypatch.setattr(routes_forecast, "execute_forecast_run", lambda *_args: None)
    started = start(client, users["planner"], form_files(history))
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    return int(started.json()["id"])


def test_a_planner_cancels_a_queued_forecast(
    app: FastAPI, client: TestClient, users: dict, queued_forecast: int
) -> None:
    url = f"/runs/{queued_forecast}/cancel"
    assert client.post(url, headers=users["panel_member"]).status_code == 403
    response = client.post(url, headers=users["planner"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    forecast_jobs.execute_forecast_run(app.state.db, queued_forecast)  # the task, arriving late
    run = client.get(f"/runs/{queued_forecast}", headers=users["planner"]).json()
    assert (run["status"], run["summary"]) == ("cancelled", None)
    response = client.get(f"/runs/{queued_forecast}/forecast", headers=users["planner"])
    assert response.status_code == 409
    for name in ("forecast.xlsx", "forecast-csv.zip"):
        assert download(client, users["planner"], queued_forecast, name).status_code == 409


def test_a_forecast_cancelled_while_simulating_keeps_nothing(
    app: FastAPI,
    client: TestClient,
    users: dict,
    queued_forecast: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, float, str | None]] = []

    def cancelled_while_projecting(*args: Any, **kwargs: Any) -> Any:
        run = client.get(f"/runs/{queued_forecast}", headers=users["planner"]).json()
        seen.append((run["status"], run["progress"], run["stage"]))  # as a poller sees it
        response = client.post(f"/runs/{queued_forecast}/cancel", headers=users["planner"])
        assert response.json()["cancel_requested"] is True
        return project(*args, **kwargs)

    monkeypatch.setattr(forecast_jobs, "project", cancelled_while_projecting)
    forecast_jobs.execute_forecast_run(app.state.db, queued_forecast)
    assert seen == [("running", 0.05, f"simulating {SIMULATIONS} futures to 2026")]
    run = client.get(f"/runs/{queued_forecast}", headers=users["planner"]).json()
    assert (run["status"], run["summary"], run["error"]) == ("cancelled", None, None)


def test_a_forecast_cancelled_as_its_files_are_kept_keeps_nothing(
    app: FastAPI,
    client: TestClient,
    users: dict,
    queued_forecast: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The files are stored before the run is marked done; a cancel landing in between still
    leaves nothing of the run behind."""
    keep = forecast_jobs.keep_downloads

    def kept_then_cancelled(*args: Any) -> None:
        keep(*args)
        assert count(app, RunOutput) == 2
        client.post(f"/runs/{queued_forecast}/cancel", headers=users["planner"])

    monkeypatch.setattr(forecast_jobs, "keep_downloads", kept_then_cancelled)
    forecast_jobs.execute_forecast_run(app.state.db, queued_forecast)
    run = client.get(f"/runs/{queued_forecast}", headers=users["planner"]).json()
    assert (run["status"], run["summary"]) == ("cancelled", None)
    assert count(app, RunOutput) == 0


def test_a_failed_forecast_keeps_nothing_and_quotes_no_input(
    app: FastAPI,
    client: TestClient,
    users: dict,
    queued_forecast: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("PSEUDO-001 exploded")

    monkeypatch.setattr(forecast_jobs, "project", broken)
    forecast_jobs.execute_forecast_run(app.state.db, queued_forecast)
    run = client.get(f"/runs/{queued_forecast}", headers=users["planner"]).json()
    assert (run["status"], run["summary"]) == ("failed", None)
    assert "(RuntimeError)" in run["error"] and "PSEUDO" not in run["error"]


# --------------------------------------------------------------------------------------------
# The migration


def test_migration_0006_lets_a_run_have_no_caseload_and_back(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    database.migrate()
    with database.engine.begin() as connection:
        user = connection.execute(
            insert(User).values(username="p", password_hash="x", role="planner").returning(User.id)
        ).scalar_one()
        forecast = connection.execute(
            insert(Run)
            .values(kind="forecast", options={}, started_by=user, created_at=utcnow())
            .returning(Run.id)
        ).scalar_one()
        connection.execute(
            insert(RunInput).values(run_id=forecast, role="population", name="p.csv", data=b"")
        )
    previous = ScriptDirectory(str(MIGRATIONS)).get_revision("0006").down_revision
    database.downgrade(str(previous))
    columns = {c["name"]: c for c in inspect(database.engine).get_columns("runs")}
    assert columns["caseload_id"]["nullable"] is False
    assert "run_inputs" not in inspect(database.engine).get_table_names()
    with database.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM runs")) == 0  # the forecast went
    database.migrate()
    columns = {c["name"]: c for c in inspect(database.engine).get_columns("runs")}
    assert columns["caseload_id"]["nullable"] is True
    database.dispose()


def test_migration_0007_adds_run_outputs_and_back_keeping_the_forecasts(
    empty_database_url: str,
) -> None:
    database = Database(empty_database_url)
    database.migrate()
    with database.engine.begin() as connection:
        user = connection.execute(
            insert(User).values(username="p", password_hash="x", role="planner").returning(User.id)
        ).scalar_one()
        forecast = connection.execute(
            insert(Run)
            .values(kind="forecast", options={}, started_by=user, created_at=utcnow())
            .returning(Run.id)
        ).scalar_one()
        connection.execute(
            insert(RunOutput).values(run_id=forecast, name="forecast.xlsx", data=b"PK")
        )
    database.downgrade("0006")
    assert "run_outputs" not in inspect(database.engine).get_table_names()
    with database.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM runs")) == 1  # the forecast stays
    database.migrate()
    assert "run_outputs" in inspect(database.engine).get_table_names()
    with database.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM run_outputs")) == 0
    database.dispose()
