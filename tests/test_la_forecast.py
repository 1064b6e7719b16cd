"""The LA-level cohort-component model, its all-LA back-test, and their commands.

A one-year step and the ageing of plans are checked by hand; the fit on a small synthetic
panel made here (every LA following the same known rates); the back-test and ``sendmatch
forecast --la`` on the DfE's real statistics in ../shared/data (skipped with the reason when
absent; present in CI); the download's cache and offline paths with a file placed in a temp
cache and an opener that fails, never the internet.
"""

from __future__ import annotations

import io as stdio
import urllib.error
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from matcher import cli
from matcher.forecast import dfe_download, la_forecast, la_totals
from matcher.forecast.dfe_statistics import AGE_BANDS, ENGLAND, EhcpStatistics, read_ehcp_statistics
from matcher.forecast.la_backtest import backtest_all_las, naive_forecasts
from tests.test_dfe_statistics import REAL_FILES, needs_dfe_statistics, write_csv

runner = CliRunner()

# --------------------------------------------------------------------------------------------
# By hand


def uniform_ageing() -> np.ndarray:
    """The ageing matrix when every single year of age holds as many plans: a band's top age
    is 1/5, 1/6, 1/5, 1/4 and 1/6 of it."""
    data = la_totals.Cohorts(
        codes=("1",),
        region=np.zeros(1, dtype=int),
        region_codes=("R",),
        years=(2024,),
        plans=np.ones((1, 5, 1)),
        totals=np.ones((1, 1)),
        single_ages={2024: np.ones(26)},
    )
    return la_totals.ageing_matrix(data, 2024, np.ones(5))


def test_ageing_moves_each_bands_top_age_on() -> None:
    ageing = uniform_ageing()
    top = [1 / 5, 1 / 6, 1 / 5, 1 / 4, 1 / 6]
    assert np.allclose(np.diag(ageing), [1 - t for t in top])
    assert np.allclose(np.diag(ageing, k=-1), top[:4])
    # plans are kept but for the 25-year-olds, whose plans end
    assert np.allclose(ageing.sum(axis=0), [1, 1, 1, 1, 1 - 1 / 6])


def fitted_by_hand(start: list[float], national: list[float], effect: list[float]) -> Any:
    zeros = np.zeros((1, 5))
    return la_totals.Fitted(
        origin=2024,
        ageing=uniform_ageing(),
        start=np.array([start]),
        has_start=np.array([True]),
        national=np.array(national),
        national_step=np.zeros((5, 5)),
        effect=np.array([effect]),
        effect_sd=zeros,
        noise_sd=zeros,
        noise_correlation=np.eye(5),
        weight=zeros,
        own_years=np.array([3]),
    )


def test_one_year_of_the_cohort_model_by_hand() -> None:
    """An LA with 10, 60, 50, 40 and 20 plans (180) by age band; England's net new plans a
    year per plan held 0.01, 0.05, 0.02, 0 and -0.01 by band; the LA 0.01 above England in
    the 5-10 band. A year later, before rates: under 5 keeps 4/5 of 10 = 8; 5-10 keeps 5/6
    of 60 = 50 and gains 1/5 of 10 = 2; 11-15 keeps 40 + 10; 16-19 30 + 10; 20-25 keeps 5/6
    of 20 and gains 1/4 of 40. Then each band gains its rate x 180 plans:
    8 + 1.8 = 9.8; 52 + 0.06 x 180 = 62.8; 50 + 3.6 = 53.6; 40 + 0 = 40;
    16.67 + 10 - 1.8 = 24.87."""
    fitted = fitted_by_hand(
        [10, 60, 50, 40, 20], [0.01, 0.05, 0.02, 0.0, -0.01], [0, 0.01, 0, 0, 0]
    )
    plans = la_totals.simulate(fitted, horizon=2, n_simulations=3, seed=1)
    assert np.allclose(plans[:, 0, 0, :], [9.8, 62.8, 53.6, 40.0, 20 * 5 / 6 + 10 - 1.8])
    # the second year starts from the first's 190.97 plans
    first = np.array([9.8, 62.8, 53.6, 40.0, 20 * 5 / 6 + 10 - 1.8])
    rates = np.array([0.01, 0.06, 0.02, 0.0, -0.01])
    assert np.allclose(plans[0, 0, 1, :], uniform_ageing() @ first + rates * first.sum())


# --------------------------------------------------------------------------------------------
# A synthetic panel: every LA follows England's rates


RATES = np.array([0.015, 0.08, 0.03, -0.005, -0.02])
YEARS = tuple(range(2015, 2023))


def synthetic_panel(noise: float = 0.0, seed: int = 3) -> la_totals.Cohorts:
    """Twelve LAs of 200 to 5,000 plans in two regions, each year aged with the uniform
    ageing matrix and given England's net rates (plus noise, if asked: ``noise`` is the
    standard deviation of a rate for an LA of 1,000 plans, and falls with the square root of
    the plans held, as chance does)."""
    rng = np.random.default_rng(seed)
    ageing = uniform_ageing()
    sizes = np.linspace(200, 5000, 12)
    shares = np.array([0.04, 0.33, 0.36, 0.2, 0.07])
    plans = np.empty((12, 5, len(YEARS)))
    plans[:, :, 0] = sizes[:, None] * shares
    for k in range(1, len(YEARS)):
        before = plans[:, :, k - 1]
        held = before.sum(axis=1, keepdims=True)
        rates = RATES + noise * np.sqrt(1000 / held) * rng.standard_normal(before.shape)
        plans[:, :, k] = before @ ageing.T + rates * before.sum(axis=1, keepdims=True)
    return la_totals.Cohorts(
        codes=tuple(f"{900 + n}" for n in range(12)),
        region=np.array([n % 2 for n in range(12)]),
        region_codes=("E12000001", "E12000002"),
        years=YEARS,
        plans=plans,
        totals=plans.sum(axis=1),
        single_ages={2015: np.ones(26)},
    )


def test_fit_finds_englands_rates_and_no_la_differences() -> None:
    data = synthetic_panel()
    fitted = la_totals.fit(data, 2022)
    assert np.allclose(fitted.ageing, uniform_ageing())
    assert np.allclose(fitted.national, RATES)
    assert np.allclose(fitted.effect, 0.0, atol=1e-12)
    # with no noise and no change of rates, next year is the same process, exactly
    plans = la_totals.simulate(fitted, 1, 5, seed=0)[0, :, 0, :]
    expected = data.plans[:, :, -1] @ uniform_ageing().T + RATES * data.totals[:, -1:]
    assert np.allclose(plans, expected)


def test_a_january_with_a_total_but_no_ages_is_aged_on_from_the_year_before() -> None:
    data = synthetic_panel()
    hidden = data.plans.copy()
    hidden[3, :, -1] = np.nan  # the total is known, the ages are not
    blind = la_totals.Cohorts(
        data.codes,
        data.region,
        data.region_codes,
        data.years,
        hidden,
        data.totals,
        data.single_ages,
    )
    filled, totals = la_totals.filled_plans(blind, len(YEARS) - 1, uniform_ageing())
    assert np.allclose(filled[3, :, -1], data.plans[3, :, -1])
    assert np.allclose(totals, data.totals)


def test_noise_has_a_floor_and_a_part_that_falls_with_size() -> None:
    held = np.repeat([100.0, 300, 1000, 2000, 4000, 8000], 4)
    spread = (0.001 + 0.5 / held)[:, None].repeat(5, axis=1)
    noise = la_totals._noise_variance(spread, held)
    assert np.allclose(noise, spread)


def test_a_small_la_is_pooled_more_than_a_large_one() -> None:
    """With noise, the 200-plan LA keeps less of its own difference than the 5,000-plan one."""
    fitted = la_totals.fit(synthetic_panel(noise=0.01), 2022)
    assert (fitted.noise_sd[0] > fitted.noise_sd[-1]).all()
    assert (fitted.weight[0] <= fitted.weight[-1]).all()


def test_a_new_la_with_one_january_takes_its_regions_rates() -> None:
    """An LA formed last January (as North Northamptonshire in 2022) has no rates of its own:
    it grows as the others do, with an interval no wider than theirs."""
    data = synthetic_panel(noise=0.01)
    plans, totals = data.plans.copy(), data.totals.copy()
    plans[5, :, :-1] = np.nan
    totals[5, :-1] = np.nan
    new = la_totals.Cohorts(
        data.codes, data.region, data.region_codes, data.years, plans, totals, data.single_ages
    )
    projection = la_totals.project(new, 2022, 1, la_totals.LaModelConfig(n_simulations=400))
    assert projection.fitted.own_years[5] == 0
    growth = np.median(projection.totals()[:, :, 0], axis=0) / totals[:, -1]
    assert growth[5] == pytest.approx(np.median(growth), abs=0.01)
    low, high = np.quantile(projection.totals()[:, :, 0], [0.025, 0.975], axis=0)
    width = (high - low) / totals[:, -1]
    assert width[5] <= width.max()


def test_projection_intervals_cover_and_widen_with_horizon() -> None:
    data = synthetic_panel(noise=0.01)
    projection = la_totals.project(data, 2022, 3, la_totals.LaModelConfig(n_simulations=400))
    totals = projection.totals()
    low, high = np.quantile(totals, [0.025, 0.975], axis=0)
    width = (high - low) / np.median(totals, axis=0)
    assert (np.diff(width, axis=1) > 0).all()
    assert (projection.scale >= la_totals.CALIBRATION_RANGE[0]).all()


def test_naive_forecasts_by_hand() -> None:
    """An LA with 100, 110, 121, 133 plans (10% a year, then 9.9%); England 1,000 then 1,050."""
    totals = np.array([[100.0, 110.0, 121.0, 133.0]])
    england = np.array([900.0, 950.0, 1000.0, 1050.0])
    naive = naive_forecasts(totals, england, (2020, 2021, 2022, 2023), 2023, 2)
    assert naive["national_growth"][0] == pytest.approx(133 * 1.05**2)
    assert naive["own_growth"][0] == pytest.approx(133 * (133 / 121) ** 2)
    mean_growth = (133 / 121 + 121 / 110 + 110 / 100) / 3
    assert naive["own_growth_3y"][0] == pytest.approx(133 * mean_growth**2)
    assert naive["linear_trend_3y"][0] == pytest.approx((110 + 121 + 133) / 3 + 11.5 * 3)
    assert naive["no_growth"][0] == 133


# --------------------------------------------------------------------------------------------
# The real statistics


@pytest.fixture(scope="module")
def real() -> EhcpStatistics:
    if not all(p.exists() for p in REAL_FILES):
        pytest.skip("the DfE's EHC plan statistics are not in ../shared/data (absent)")
    return read_ehcp_statistics(REAL_FILES)


@needs_dfe_statistics
def test_backtest_reproduces_the_issues_naive_figures_and_beats_national_growth(
    real: EhcpStatistics,
) -> None:
    """Issue 15: January 2024 one year ahead over 149 LAs, national growth 4.4%, own growth
    5.3%, three-year mean growth 4.7%, linear trend 5.1%, no growth 10.6%; two years ahead
    (147 LAs) 6.2%, 7.4%, 7.5%. The model is asserted at what it achieves (below the best
    naive one year ahead in every January, intervals covering at least 80% of LAs), so that
    a regression shows; the issue's targets (3.3%, 4.6%, 90-98%) are not all met: see
    benchmarks/RESULTS.md."""
    result = backtest_all_las(real, config=la_totals.LaModelConfig(n_simulations=300))
    rows = result.summary.set_index(["january", "horizon"])
    one, two = rows.loc[(2024, 1)], rows.loc[(2024, 2)]
    assert (one["las"], two["las"]) == (149, 147)
    naive_one = [one[f"{m}_mape"] for m in ("national_growth", "own_growth", "own_growth_3y")]
    naive_one += [one["linear_trend_3y_mape"], one["no_growth_mape"]]
    # the issue's one-decimal figures (5.05% is its 5.1%)
    assert naive_one == pytest.approx([4.4, 5.3, 4.7, 5.1, 10.6], abs=0.051)
    naive_two = [
        two["national_growth_mape"],
        two["own_growth_3y_mape"],
        two["linear_trend_3y_mape"],
    ]
    assert naive_two == pytest.approx([6.2, 7.4, 7.5], abs=0.06)  # 7.45% is its 7.5%
    for january in (2022, 2023, 2024):
        row = rows.loc[(january, 1)]
        best = min(row[f"{m}_mape"] for m in ("national_growth", "own_growth", "linear_trend_3y"))
        assert row["model_mape"] < best
    assert (result.summary["model_coverage_95"] >= 80).all()
    assert result.seconds < 60


@needs_dfe_statistics
def test_forecast_of_rutland(real: EhcpStatistics) -> None:
    config = la_totals.LaModelConfig(n_simulations=300)
    result = la_forecast.forecast_la(real, "857", 3, config)
    assert (result.name, result.region, result.origin) == ("Rutland", "East Midlands", 2024)
    observed = result.total[result.total["kind"] == "observed"].set_index("january")["mean"]
    assert observed[2024] == 340
    projected = result.total[result.total["kind"] == "projected"].set_index("january")
    assert list(projected.index) == [2025, 2026, 2027]
    assert (projected["low_95"] < projected["median"]).all()
    assert (projected["median"] < projected["high_95"]).all()
    # the age groups and the setting types each add up to the total
    for frame in (result.by_age, result.by_setting):
        future = frame[frame["kind"] == "projected"].groupby("january")["mean"].sum()
        assert np.allclose(future.to_numpy(), projected["mean"].to_numpy())
    ages = result.by_age[result.by_age["kind"] == "observed"]
    assert list(ages["age_band"]) == list(AGE_BANDS) and ages["mean"].sum() == 340
    comparison = result.comparison.set_index("measure")
    assert comparison.loc["EHC plans, January 2024", "england"] == 576_474
    assert comparison.loc["EHC plans, January 2024", "la"] == 340


# --------------------------------------------------------------------------------------------
# Commands


def real_options() -> list[str]:
    return [arg for path in REAL_FILES for arg in ("--ehcp-statistics", str(path))]


@needs_dfe_statistics
def test_cli_forecast_la_on_the_real_statistics(tmp_path: Path) -> None:
    out = tmp_path / "rutland.xlsx"
    result = runner.invoke(
        cli.app,
        [
            "forecast",
            "--la",
            "857",
            *real_options(),
            "--years",
            "2",
            "--simulations",
            "200",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "EHC plans in Rutland (857) each January" in result.stdout
    assert "Rutland beside East Midlands and England" in result.stdout
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == [
        "Total",
        "By age",
        "By setting",
        "Beside region and England",
        "Notes",
    ]
    rows = list(book["Total"].iter_rows(values_only=True))
    assert rows[0][:3] == ("January", "Observed or projected", "Mean")
    assert [r[0] for r in rows[-2:]] == [2025, 2026]


@needs_dfe_statistics
def test_cli_forecast_la_by_name_writes_csv_files(tmp_path: Path) -> None:
    out = tmp_path / "rutland.csv"
    result = runner.invoke(
        cli.app,
        [
            "forecast",
            "--la",
            "rutland",
            *real_options(),
            "--years",
            "2025",
            "--simulations",
            "100",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rutland.csv",
        "rutland_beside_region_and_england.csv",
        "rutland_by_age.csv",
        "rutland_by_setting.csv",
        "rutland_notes.csv",
    ]
    assert pd.read_csv(out)["January"].max() == 2025


@needs_dfe_statistics
@pytest.mark.parametrize(
    ("la", "said"),
    [("Rutlnd", "the closest: Rutland (857)"), ("Northamptonshire", "North Northamptonshire")],
)
def test_cli_forecast_bad_la_is_refused_with_suggestions(
    la: str, said: str, tmp_path: Path
) -> None:
    out = tmp_path / "x.xlsx"
    result = runner.invoke(cli.app, ["forecast", "--la", la, *real_options(), "--out", str(out)])
    assert result.exit_code == 2
    assert said in " ".join(result.stderr.split())
    assert not out.exists()


@needs_dfe_statistics
def test_cli_backtest_all_las_writes_the_table_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "backtest.csv"
    result = runner.invoke(
        cli.app,
        [
            "forecast",
            "backtest",
            "--all-las",
            *real_options(),
            "--simulations",
            "200",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out)
    assert len(summary) == 9 and summary["las"].min() >= 147
    assert (tmp_path / "backtest_by_la.csv").exists()
    assert (tmp_path / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = " ".join(result.stdout.split())
    assert "Target, January 2024 1 year(s) ahead: error at most 3.3%" in text


def test_cli_forecast_la_without_statistics_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDMATCH_CACHE_DIR", str(tmp_path / "empty"))
    result = runner.invoke(cli.app, ["forecast", "--la", "857"])
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert "sendmatch data download ehcp-statistics" in said
    assert "--ehcp-statistics FILE" in said


def test_cli_forecast_la_does_not_mix_with_own_files(tmp_path: Path) -> None:
    """--history now combines with --la (tests/test_la_forecast_inputs.py); witan.send's
    transitions still do not."""
    transitions = tmp_path / "transitions.csv"
    result = runner.invoke(
        cli.app, ["forecast", "--la", "857", "--transitions", str(transitions), "--years", "3"]
    )
    assert result.exit_code == 2
    assert "--transitions" in result.stderr and "does not yet combine" in " ".join(
        result.stderr.split()
    )


def synthetic_zip(path: Path) -> Path:
    """The synthetic panel as the DfE's 2022-release age file, in a release ZIP."""
    data = synthetic_panel(noise=0.01)
    rows: list[dict[str, object]] = []
    bands = ["Under 5", "Age 5 to 10", "Age 11 to 15", "Age 16 to 19", "Age 20 to 25"]
    for n, code in enumerate(data.codes):
        region = data.region_codes[data.region[n]]
        for k, year in enumerate(data.years):
            area = {
                "time_period": year,
                "time_identifier": "Calendar year",
                "geographic_level": "Local authority",
                "country_code": ENGLAND,
                "country_name": "England",
                "region_code": region,
                "region_name": region,
                "old_la_code": code,
                "new_la_code": f"E0900{code}",
                "la_name": f"Shire {code}",
            }
            rows.append(
                area | {"characteristic_age": "Total", "Total_all": round(float(data.totals[n, k]))}
            )
            rows += [
                area | {"characteristic_age": b, "Total_all": round(float(data.plans[n, m, k]))}
                for m, b in enumerate(bands)
            ]
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(path.with_suffix(".csv"), rows)
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(csv_path, "data/sen2_age_caseload.csv")
    csv_path.unlink()
    return path


def test_cli_forecast_la_finds_the_cached_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    (cache / dfe_download.FOLDER).mkdir(parents=True)
    synthetic_zip(cache / dfe_download.FOLDER / dfe_download.ZIP_NAME)
    monkeypatch.setenv("SENDMATCH_CACHE_DIR", str(cache))
    result = runner.invoke(
        cli.app, ["forecast", "--la", "Shire 903", "--years", "2", "--simulations", "100"]
    )
    assert result.exit_code == 0, result.output
    assert "EHC plans in Shire 903 (903) each January" in result.stdout


class _Opener:
    """Stands in for urllib's opener: serves ``body``, or raises ``error``; counts calls."""

    def __init__(self, body: bytes = b"", error: Exception | None = None) -> None:
        self.body, self.error, self.calls = body, error, 0

    def open(self, request: Any, timeout: float) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return stdio.BytesIO(self.body)


def use_opener(monkeypatch: pytest.MonkeyPatch, opener: _Opener) -> None:
    monkeypatch.setattr(dfe_download.urllib.request, "build_opener", lambda *a: opener)


def test_download_is_not_fetched_again_when_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = synthetic_zip(tmp_path / "cache" / dfe_download.FOLDER / dfe_download.ZIP_NAME)
    opener = _Opener(error=AssertionError("went online"))
    use_opener(monkeypatch, opener)
    result = runner.invoke(
        cli.app, ["data", "download", "ehcp-statistics", "--cache-dir", str(tmp_path / "cache")]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(cached)
    assert "Already in the cache" in result.stderr and opener.calls == 0


def test_download_offline_explains_how_to_get_the_file_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_opener(monkeypatch, _Opener(error=urllib.error.URLError("Name or service not known")))
    result = runner.invoke(
        cli.app, ["data", "download", "ehcp-statistics", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert "could not be reached (Name or service not known)" in said
    assert dfe_download.RELEASE_PAGE in said and "--ehcp-statistics FILE.zip" in said
    assert list((tmp_path / dfe_download.FOLDER).iterdir()) == []  # no partial file left


def test_download_server_error_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = urllib.error.HTTPError(
        dfe_download.RELEASE_ZIP_URL, 503, "Service Unavailable", {}, None
    )  # type: ignore[arg-type]
    use_opener(monkeypatch, _Opener(error=error))
    result = runner.invoke(
        cli.app, ["data", "download", "ehcp-statistics", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "503 Service Unavailable" in " ".join(result.stderr.split())


def test_download_keeps_the_release_and_a_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = synthetic_zip(tmp_path / "served.zip").read_bytes()
    use_opener(monkeypatch, _Opener(body=body))
    found = dfe_download.download_statistics(tmp_path / "cache")
    assert found.downloaded and found.path.read_bytes() == body
    manifest = (tmp_path / "cache" / dfe_download.FOLDER / dfe_download.MANIFEST).read_text()
    assert dfe_download.RELEASE_ZIP_URL in manifest
    # something that is not the release (a web page) is refused and not kept
    use_opener(monkeypatch, _Opener(body=b"<html>moved</html>"))
    with pytest.raises(dfe_download.StatisticsDownloadError, match="not a ZIP"):
        dfe_download.download_statistics(tmp_path / "other", update=True)
    assert not (tmp_path / "other" / dfe_download.FOLDER / dfe_download.ZIP_NAME).exists()
