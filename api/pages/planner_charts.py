"""The planner's charts as inline SVG drawn on the server (the old page drew them in script).

Each chart names every value it draws in its accessible name, and the page shows the same
figures in a table beside it, so a chart is never the only way to read them. Only
presentation attributes are used (``fill=``, ``stroke=``): the pages' CSP allows no inline
style. The drawings follow the old page's ``charts.js`` so planners see the same pictures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

Format = Callable[[float], str]
PALETTE = ("#505a5f", "#1d70b8", "#00703c", "#912b88", "#b58840", "#d4351c")
FONT = 'font-family="arial, sans-serif" fill="#0b0c0c"'


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None


@dataclass(frozen=True)
class YearPoint:
    year: int
    mean: float
    low: float = 0.0
    high: float = 0.0


@dataclass(frozen=True)
class DemandRow:
    label: str
    demand: float
    low: float
    high: float
    places: float


def nice_ceiling(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis (1, 2, 2.5, 5 x 10^n)."""
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _svg(width: float, height: float, label: str, body: str) -> Markup:
    return Markup(
        f'<svg class="sendmatch-chart" viewBox="0 0 {width:g} {height:g}" width="{width:g}" '
        f'height="{height:g}" role="img" aria-label="{escape(label)}" focusable="false" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _text(x: float, y: float, content: str, anchor: str = "start", size: int = 14) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" {FONT}>'
        f"{escape(content)}</text>"
    )


def bar_chart(title: str, bars: Sequence[Bar], fmt: Format) -> Markup:
    """Horizontal bars, one per scenario, the zero line drawn across."""
    values = [b.value if b.value is not None else 0.0 for b in bars]
    top, bottom = max(0.0, *values), min(0.0, *values)
    span = (top - bottom) or 1.0
    label_w, plot_w, value_w, row_h = 190, 380, 130, 30
    width, height = label_w + plot_w + value_w, len(bars) * row_h + 10
    zero_x = label_w + (0 - bottom) / span * plot_w
    parts = []
    for i, (bar, value) in enumerate(zip(bars, values, strict=True)):
        y = 5 + i * row_h
        x1 = label_w + (min(value, 0) - bottom) / span * plot_w
        w = max(abs(value) / span * plot_w, 1)
        name = bar.label if len(bar.label) <= 26 else bar.label[:25] + "…"
        shown = fmt(bar.value) if bar.value is not None else "–"
        parts += [
            _text(label_w - 8, y + row_h * 0.62, name, "end"),
            f'<rect x="{x1:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 10}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>',
            _text(label_w + plot_w + 8, y + row_h * 0.62, shown),
        ]
    parts.append(
        f'<line x1="{zero_x:.1f}" x2="{zero_x:.1f}" y1="0" y2="{height}" stroke="#0b0c0c"/>'
    )
    described = "; ".join(
        f"{b.label}: {fmt(b.value) if b.value is not None else 'no value'}" for b in bars
    )
    return _svg(width, height, f"{title}. {described}.", "".join(parts))


def band_chart(
    title: str, observed: Sequence[YearPoint], projected: Sequence[YearPoint], fmt: Format
) -> Markup:
    """A count over the Januaries: observed years as a dark line with dots, then the
    projection's mean as a blue line in its shaded 95% interval."""
    years = [p.year for p in observed] + [p.year for p in projected]
    first, last = min(years), max(years)
    top = nice_ceiling(max([1.0, *(p.mean for p in observed), *(p.high for p in projected)]))
    left, right, plot_w, plot_h, pad = 70, 20, 600, 260, 12
    width, height = left + plot_w + right, pad + plot_h + 40

    def x(year: float) -> float:
        return left + (plot_w / 2 if last == first else (year - first) / (last - first) * plot_w)

    def y(value: float) -> float:
        return pad + plot_h - value / top * plot_h

    parts = []
    for k in range(5):
        value = top * k / 4
        parts += [
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#b1b4b6"/>',
            _text(left - 8, y(value) + 4, fmt(value), "end", 13),
        ]
    step = max(1, math.ceil((last - first + 1) / 12))
    for year in range(first, last + 1, step):
        parts.append(_text(x(year), pad + plot_h + 20, str(year), "middle", 13))
    if projected:
        band = [f"{x(p.year):.1f},{y(p.high):.1f}" for p in projected] + [
            f"{x(p.year):.1f},{y(p.low):.1f}" for p in reversed(projected)
        ]
        line = " ".join(f"{x(p.year):.1f},{y(p.mean):.1f}" for p in projected)
        parts += [
            f'<polygon points="{" ".join(band)}" fill="#1d70b8" fill-opacity="0.2"/>',
            f'<polyline points="{line}" fill="none" stroke="#1d70b8" stroke-width="3"/>',
        ]
    if observed:
        line = " ".join(f"{x(p.year):.1f},{y(p.mean):.1f}" for p in observed)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#0b0c0c" stroke-width="2"/>')
        parts += [
            f'<circle cx="{x(p.year):.1f}" cy="{y(p.mean):.1f}" r="4" fill="#0b0c0c"/>'
            for p in observed
        ]
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#0b0c0c"/>'
    )
    described = [
        "Observed: " + ", ".join(f"{p.year} {fmt(p.mean)}" for p in observed) if observed else "",
        "projected: "
        + ", ".join(
            f"{p.year} {fmt(p.mean)} (95% interval {fmt(p.low)} to {fmt(p.high)})"
            for p in projected
        )
        if projected
        else "",
    ]
    label = f"{title}. {'; '.join(d for d in described if d)}."
    return _svg(width, height, label, "".join(parts))


def demand_places_chart(title: str, rows: Sequence[DemandRow], fmt: Format) -> Markup:
    """Per need, a blue bar of projected demand with a black line across its 95% interval,
    and under it a grey bar of the places."""
    top = nice_ceiling(max([1.0, *(r.high for r in rows), *(r.places for r in rows)]))
    label_w, plot_w, value_w, row_h = 150, 440, 190, 44
    width, height = label_w + plot_w + value_w, len(rows) * row_h + 10

    def x(value: float) -> float:
        return label_w + value / top * plot_w

    parts = []
    for i, r in enumerate(rows):
        y = 5 + i * row_h
        parts += [
            _text(label_w - 8, y + row_h * 0.5, r.label, "end", 13),
            f'<rect x="{label_w}" y="{y + 4}" width="{max(x(r.demand) - label_w, 1):.1f}" '
            'height="16" fill="#1d70b8"/>',
            f'<line x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{y + 12}" y2="{y + 12}" '
            'stroke="#0b0c0c" stroke-width="2"/>',
            f'<rect x="{label_w}" y="{y + 22}" width="{max(x(r.places) - label_w, 1):.1f}" '
            'height="12" fill="#505a5f"/>',
            _text(label_w + plot_w + 8, y + 17, f"demand {fmt(r.demand)}", size=13),
            _text(label_w + plot_w + 8, y + 33, f"places {fmt(r.places)}", size=13),
        ]
    parts.append(f'<line x1="{label_w}" x2="{label_w}" y1="0" y2="{height}" stroke="#0b0c0c"/>')
    described = "; ".join(
        f"{r.label}: demand {fmt(r.demand)} (95% interval {fmt(r.low)} to {fmt(r.high)}), "
        f"places {fmt(r.places)}"
        for r in rows
    )
    return _svg(width, height, f"{title}. {described}.", "".join(parts))


def legend_swatch(colour: str, opacity: float = 1.0) -> Markup:
    """A small square of a chart's colour for its legend (hidden from screen readers)."""
    return Markup(
        '<svg width="16" height="16" aria-hidden="true" focusable="false">'
        f'<rect width="16" height="16" fill="{escape(colour)}" fill-opacity="{opacity:g}"/></svg>'
    )


# Figures in words


def count(value: float | None) -> str:
    return "–" if value is None else f"{round(value):,}"


def pounds(value: float | None) -> str:
    return "–" if value is None else f"£{round(value):,}"


def minutes(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def millions(value: float | None) -> str:
    return "–" if value is None else f"£{value / 1e6:.2f}m"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


def in_unit(unit: str) -> Format:
    """How a comparison metric's value is written, by its unit."""
    if unit == "pounds":
        return pounds
    if unit == "minutes":
        return minutes
    return count


def signed(fmt: Format) -> Callable[[float | None], str]:
    def write(value: float | None) -> str:
        if value is None:
            return "–"
        return f"+{fmt(value)}" if value > 0 else fmt(value)

    return write
