"""``sendmatch forecast --region NAME``: every LA of a region, printed and written.

The forecasts come from :func:`matcher.forecast.la_forecast.forecast_region` (one run of the
model of every LA); this module shows them: a line per LA (its latest January, the last
projected January's median and 95% interval, the growth a year), the region's total, and
writes every LA's tables stacked, an LA's code and name on each row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from matcher.cli_la_forecast import plain_table

if TYPE_CHECKING:
    import pandas as pd

    from matcher.forecast.la_forecast import RegionForecast


def region_summary(result: RegionForecast) -> pd.DataFrame:
    """One row per LA, then the region: the latest January's plans, the last projected
    January's median and 95% interval, and the growth a year to it."""
    import pandas as pd

    end = int(result.las[0].total["january"].max()) if result.las else result.origin
    rows = [_summary_row(f.code, f.name, f.total, result.origin, end) for f in result.las]
    rows.append(
        _summary_row(
            result.code, f"{result.name} (sum of its LAs)", result.total, result.origin, end
        )
    )
    return pd.DataFrame(rows)


def _summary_row(
    code: str, name: str, total: pd.DataFrame, origin: int, end: int
) -> dict[str, object]:
    observed = total[total["january"] == origin]["mean"].to_numpy(dtype=float)
    now = float(observed[0]) if len(observed) else float("nan")
    last = total[total["january"] == end].iloc[-1]
    median, low, high = (float(last[c]) for c in ("median", "low_95", "high_95"))
    years = end - origin
    growth = (median / now) ** (1 / years) - 1 if now > 0 and years else float("nan")
    return {
        "LA code": code,
        "LA": name,
        f"EHC plans, January {origin}": round(now),
        f"Median, January {end}": round(median),
        f"Low (95%), January {end}": round(low),
        f"High (95%), January {end}": round(high),
        "Growth a year (%)": round(growth * 100, 1),
    }


def region_tables(result: RegionForecast) -> list[tuple[str, pd.DataFrame]]:
    """The tables as written: the summary, the region's total, and every LA's tables
    stacked (an LA's code and name on each row)."""
    import pandas as pd

    def stacked(part: str) -> pd.DataFrame:
        frames = [getattr(f, part).assign(la_code=f.code, la_name=f.name) for f in result.las]
        frame = pd.concat(frames, ignore_index=True)
        first = ["la_code", "la_name"]
        return plain_table(frame[first + [c for c in frame.columns if c not in first]])

    notes = pd.DataFrame(
        [{"LA": "", "What": what, "Value": value} for what, value in _shared_method(result)]
        + [{"LA": f.name, "What": "Note", "Value": n} for f in result.las for n in f.notes]
    )
    return [
        ("Region", region_summary(result)),
        ("Region total", plain_table(result.total)),
        ("Total", stacked("total")),
        ("By age", stacked("by_age")),
        ("By setting", stacked("by_setting")),
        ("Notes", notes),
    ]


def _shared_method(result: RegionForecast) -> list[tuple[str, str]]:
    first = result.las[0].method if result.las else ()
    shared = [(w, v) for w, v in first if w != "LA's own years behind its rates"]
    return [
        *shared,
        (
            "Region total",
            "the sum of its LAs' simulations; its interval is less sure than an LA's: a year "
            "that moves every LA alike (as January 2024 did) moves the sum, and the intervals "
            "are calibrated on single LAs",
        ),
    ]


def write_region_forecast(result: RegionForecast, out: Path) -> list[Path]:
    """Every table: sheets of one .xlsx, or a .csv each beside ``out``."""
    from matcher import io
    from matcher.forecast.outputs import _sheet

    tables = [_sheet(name, frame) for name, frame in region_tables(result)]
    io.write_tables(out, tables)
    return io.csv_companions(out, [t.name for t in tables])


def print_region_forecast(console: Console, result: RegionForecast) -> None:
    summary = region_summary(result)
    end = int(result.total["january"].max())
    view = Table(title=f"EHC plans in the LAs of {escape(result.name)}", box=box.SIMPLE_HEAD)
    view.add_column("LA")
    for header in (str(result.origin), f"{end} median", f"{end} 95% interval", "A year"):
        view.add_column(header, justify="right")
    for record in summary.to_dict("records"):
        view.add_row(
            escape(f"{record['LA']} ({record['LA code']})"),
            f"{record[f'EHC plans, January {result.origin}']:,}",
            f"{record[f'Median, January {end}']:,}",
            f"{record[f'Low (95%), January {end}']:,}–{record[f'High (95%), January {end}']:,}",
            f"{record['Growth a year (%)']:+.1f}%",
        )
    console.print(view)
    shared = {n for f in result.las[:1] for n in f.notes if not n.startswith(f.name)}
    for note in sorted(shared):
        console.print(f"Note: {escape(note)}", soft_wrap=True)
    console.print(
        "Each LA's tables (by age group and type of setting) and notes are in the file "
        "--out writes.",
        soft_wrap=True,
    )
