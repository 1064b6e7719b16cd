"""Panel pack: one page per child, ready to project or print in a placement panel meeting.

A placement panel decides which setting to name with the options, the reasons and the costs side
by side. The tailored lists (:mod:`matcher.tailored`) hold all of that as spreadsheet rows; this
module lays each child's list out as one page a panel can read from a projector: the child's
needs, the proposed setting and why, the listed options with what each would cost the LA-wide
plan, the parents' preferences with their section 39 grounds, the settings ruled out and why,
and a map of home and options on the roads the journeys were timed on.

The pack is one self-contained HTML file (inline CSS and SVG; no script, font, tile or style
sheet fetched from anywhere) so that it opens on a locked-down council laptop, travels as one
attachment in secure mail, and tells no third-party server anything about the children. It
holds special-category data, so every page carries the OFFICIAL-SENSITIVE marking. Children
appear only by pseudonymous id; a home appears only as a marker on the map, never as
coordinates in text. :func:`html_to_pdf` prints it to PDF with headless Chromium where one is
installed; nothing is installed or downloaded to do it.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matcher.io import atomic_path
from matcher.models import Child, Location, PlacementKind, PrimaryNeed, Setting, SettingType
from matcher.needs import NEED_DESCRIPTIONS
from matcher.tailored import ListedOption, PreferenceStatement, TailoredList

if TYPE_CHECKING:
    from geodata.network import RoadNetwork
    from matcher.placement import ChildPlacement, PlacementResult

FloatArray = npt.NDArray[np.float64]

#: Excluded settings shown per child, nearest first; the rest are counted (parental
#: preferences among them are always shown, since the panel must answer for them).
MAX_EXCLUDED_SHOWN = 5
#: Road segments drawn per map. Beyond it only the faster bands of road are drawn: a map
#: spanning a county is read by its main roads, and every street would make the file huge.
MAX_ROAD_SEGMENTS = 3000
#: Roads at least this fast (km/h) are drawn a little heavier, as main roads.
MAIN_ROAD_KMH = 45.0
#: Speed bands (km/h, straight length over time) dropped slowest first when a map has too many
#: roads: about residential, unclassified, tertiary and secondary, primary and trunk roads.
_ROAD_BANDS_KMH = (28.0, 40.0, 55.0, 80.0)
#: Browsers Chromium ships as, looked for on PATH in this order.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
MARKING = "OFFICIAL-SENSITIVE"
MARKING_TEXT = "OFFICIAL-SENSITIVE: contains special-category data about children"

_KM_PER_DEGREE = 111.195
_MAP_W, _MAP_H = 640.0, 440.0
_MAP_PAD = 36.0  # map units kept clear around the outermost point, for its marker
_MIN_MAP_KM = 1.5  # the narrowest map: a home next door to its only option still shows streets
_PLACES_UNLIMITED = 10**12  # places_left at or above this means no capacity limit applies

_KIND_TEXT = {
    PlacementKind.MAINSTREAM: "Mainstream",
    PlacementKind.RESOURCED_PROVISION: "Resourced provision",
    PlacementKind.SPECIAL: "Special",
    PlacementKind.INDEPENDENT: "Independent",
    PlacementKind.ALTERNATIVE_PROVISION: "Alternative provision",
}
_PROVISION_TEXT = {"resourced_provision": "Resourced provision", "sen_unit": "SEN unit"}
_SETTING_TYPE_TEXT = {
    SettingType.MAINSTREAM: "mainstream school",
    SettingType.SPECIAL: "special school",
    SettingType.NON_MAINTAINED_SPECIAL: "non-maintained special school",
    SettingType.INDEPENDENT_SPECIAL: "independent special school",
    SettingType.ALTERNATIVE_PROVISION: "alternative provision",
    SettingType.FURTHER_EDUCATION: "further education college",
    SettingType.SPECIALIST_POST16: "specialist post-16 institution",
}
_COMPASS = (
    "north",
    "north-east",
    "east",
    "south-east",
    "south",
    "south-west",
    "west",
    "north-west",
)


# --------------------------------------------------------------------------------------------
# The whole pack


def render_panel_pack(
    lists: Sequence[TailoredList],
    children: Sequence[Child],
    settings: Sequence[Setting],
    network: RoadNetwork | None,
    travel_model: str,
    *,
    plan: PlacementResult | None = None,
    generated: date | None = None,
) -> str:
    """One HTML document: a cover with an index, then one page per child in ``lists``.

    Parameters
    ----------
    lists
        The children's tailored lists, in the order their pages should come.
    children, settings
        The round's records, for each child's needs and each setting's location.
    network
        The road network the journeys were timed on, drawn under each map; None for the
        straight-line estimate (the maps then show the points alone, and say so).
    travel_model
        The travel matrix's ``model`` label, repeated on every page: a panel must know whether
        journeys are road times or a straight-line estimate.
    plan
        The LA-wide plan the lists were priced on (``TailoredListModel.plan``): gives each
        page the plain-words reason for the proposal, or why a child could not be placed.
    generated
        The date printed on every page; default today.
    """
    day = generated or date.today()
    by_child = {c.child_id: c for c in children}
    by_urn = {s.urn: s for s in settings}
    placements = {p.child_id: p for p in plan.placements} if plan is not None else {}
    roads = RoadSegments.from_network(network) if network is not None else None
    footer = _page_footer(travel_model, day)
    pages = [
        _child_page(
            n,
            len(lists),
            tl,
            by_child[tl.child_id],
            by_urn,
            placements.get(tl.child_id),
            roads,
            footer,
        )
        for n, tl in enumerate(lists, start=1)
    ]
    count = f"{len(lists):,} {'child' if len(lists) == 1 else 'children'}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en-GB">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Placement panel pack: {count}, {escape(_day_text(day))}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            _cover(lists, placements, by_urn, travel_model, day, footer, roads is not None),
            "<main>",
            *pages,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_panel_pack(html_text: str, path: Path | str) -> None:
    """Write the pack in one step: a half-written pack must never reach a panel."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html_text, encoding="utf-8")


def find_chromium() -> str | None:
    """The first of :data:`CHROMIUM_NAMES` on PATH, or None: the only PDF printer used."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html_path: Path | str, pdf_path: Path | str, timeout: float = 600.0) -> bool:
    """Print the pack to PDF with headless Chromium; False if none is installed or it failed.

    Chromium lays out the print CSS exactly as a browser's "Print to PDF" would, so the PDF
    matches what a panel member prints themselves. It runs with a throwaway profile and with
    background networking, updates and sync off: the pack is special-category data and the
    browser has no business calling out. The PDF is written beside ``pdf_path`` and moved into
    place only when complete; on failure nothing is left behind.
    """
    chromium = find_chromium()
    if chromium is None:
        return False
    source = Path(html_path).resolve()
    target = Path(pdf_path)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="sendmatch-chromium-") as profile,
            atomic_path(target) as tmp,
        ):
            command = [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                "--print-to-pdf-no-header",
                f"--print-to-pdf={tmp}",
                source.as_uri(),
            ]
            subprocess.run(
                command,
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
            )
            with tmp.open("rb") as fh:
                if fh.read(5) != b"%PDF-":
                    raise _NoPdf
    except (OSError, subprocess.SubprocessError, _NoPdf):
        return False
    return True


class _NoPdf(Exception):
    """Chromium exited cleanly but wrote no PDF."""


# --------------------------------------------------------------------------------------------
# Pages


def _cover(
    lists: Sequence[TailoredList],
    placements: Mapping[str, ChildPlacement],
    by_urn: Mapping[str, Setting],
    travel_model: str,
    day: date,
    footer: str,
    has_roads: bool,
) -> str:
    index = []
    for n, tl in enumerate(lists, start=1):
        setting = by_urn.get(tl.proposed_urn) if tl.proposed_urn is not None else None
        proposed = escape(setting.name) if setting is not None else "no placement proposed"
        index.append(
            f'<li><a href="#child-{n}">{escape(tl.child_id)}</a> '
            f'<span class="muted">{proposed}</span></li>'
        )
    placed = sum(1 for tl in lists if tl.proposed_urn is not None)
    unmet = sum(1 for tl in lists for p in tl.preferences if not p.met and p.ground != "not needed")
    map_note = (
        "Maps show the roads the journeys were timed on."
        if has_roads
        else "No road network was given: journeys are a straight-line estimate and the maps "
        "show locations only."
    )
    return f"""<header class="page cover">
<p class="marking">{MARKING}</p>
<h1>Placement panel pack</h1>
<p class="lead">{len(lists):,} {"child" if len(lists) == 1 else "children"}, one page each.
{placed:,} with a proposed placement; {unmet:,} parental preferences not met, each with its
ground and evidence. Generated by sendmatch on {escape(_day_text(day))}.</p>
<p>Travel times: {escape(travel_model)}. {map_note}</p>
<h2>How to read a page</h2>
<ul class="howto">
<li>Children are known by their pseudonymous id only. Homes are shown on the map, never as an
address or coordinates.</li>
<li>The <strong>proposed placement</strong> is the setting the LA-wide optimal plan names: it
places as many children as possible, then meets as many families' preferences as possible,
then better-ranked preferences, then shortens journeys, then lowers cost. Its row in the
table is marked <strong>Proposed</strong>.</li>
<li><strong>Cost to the LA-wide plan</strong> is what naming that option instead would do to
the whole round: children left unplaced, children with none of their parents' preferences
met, preference ranks, minutes of travel and pounds a year.</li>
<li>Numbers on the map match the numbered rows of the options table.</li>
</ul>
<nav aria-labelledby="index-heading">
<h2 id="index-heading">Children in this pack</h2>
<ol class="index">
{"".join(index)}
</ol>
</nav>
{footer}
</header>"""


def _page_footer(travel_model: str, day: date) -> str:
    return (
        '<footer class="page-foot">'
        f"<p>Travel times: {escape(travel_model)}</p>"
        f"<p>Generated by sendmatch on {escape(_day_text(day))}</p>"
        f'<p class="marking">{escape(MARKING_TEXT)}</p>'
        "</footer>"
    )


def _child_page(
    n: int,
    total: int,
    tl: TailoredList,
    child: Child,
    by_urn: Mapping[str, Setting],
    placement: ChildPlacement | None,
    roads: RoadSegments | None,
    footer: str,
) -> str:
    cid = escape(tl.child_id)
    return f"""<section class="page child" id="child-{n}" aria-labelledby="child-{n}-h">
<p class="marking">{MARKING}</p>
<div class="child-head">
<h2 id="child-{n}-h">Child {cid}</h2>
<p class="muted">Page {n} of {total}</p>
</div>
<div class="top">
<div class="about">
<h3>About the child</h3>
{_facts(child, by_urn)}
<h3>Proposed placement</h3>
{_proposal(tl, placement)}
<h3>Parental preferences</h3>
{_preferences(tl.preferences, tl.options)}
</div>
<div class="map">
<h3>Map of home and options</h3>
{_map(n, tl, child.home, by_urn, roads)}
</div>
</div>
<h3>Options on the tailored list</h3>
{_options_table(tl)}
<h3>Settings within reach that cannot be named</h3>
{_excluded(tl)}
{footer}
</section>"""


def _facts(child: Child, by_urn: Mapping[str, Setting]) -> str:
    secondary = sorted(child.secondary_needs, key=list(PrimaryNeed).index)
    kinds = [k for k in PlacementKind if k in child.effective_suitable_kinds]
    kinds_text = ", ".join(_KIND_TEXT[k].lower() for k in kinds)
    if child.suitable_kinds is None:
        kinds_text += " (the default for the primary need)"
    rows = [
        ("NC year", _year_text(child.nc_year)),
        ("Primary need", _need(child.primary_need)),
        ("Secondary needs", ", ".join(_need(s) for s in secondary) or "none recorded"),
        (
            "Requirements",
            escape(", ".join(sorted(r.value.replace("_", " ") for r in child.requirements)))
            or "none recorded",
        ),
        ("Suitable kinds of place", escape(kinds_text)),
        ("EHC plan", "yes" if child.has_ehcp else "no (SEN support)"),
    ]
    if child.current_setting is not None:
        current = by_urn.get(child.current_setting)
        rows.append(
            (
                "Current setting",
                _setting_name(current.name, current.urn)
                if current is not None
                else f"URN {escape(child.current_setting)}",
            )
        )
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in rows)
    return f'<dl class="facts">{items}</dl>'


def _proposal(tl: TailoredList, placement: ChildPlacement | None) -> str:
    reason = (
        f'<p class="reason"><strong>Why:</strong> {escape(placement.reason)}</p>'
        if placement is not None and placement.reason
        else ""
    )
    numbered = [(k, o) for k, o in enumerate(tl.options, start=1) if o.proposed]
    if tl.proposed_urn is None or not numbered:
        return (
            '<div class="proposal none"><p class="headline"><strong>No placement proposed.'
            "</strong> No setting can take this child in the LA-wide plan this round.</p>"
            f"{reason}</div>"
        )
    k, o = numbered[0]
    preference = (
        f"the parents' {_ordinal(o.preference_rank)} preference"
        if o.preference_rank
        else "not one of the parents' preferences"
    )
    details = [
        _kind_text(o),
        f"{_minutes(o.minutes)} minutes' journey",
        f"£{o.placement_cost + o.transport_cost:,} a year",
        preference,
    ]
    if placement is not None and placement.out_of_area:
        details.append("out of area")
    return (
        '<div class="proposal">'
        f'<p class="headline"><span class="badge">Proposed</span> '
        f"<strong>{escape(o.name)}</strong> (URN {escape(o.urn)}), option {k} on the list</p>"
        f"<p>{escape('; '.join(details))}.</p>{reason}</div>"
    )


def _options_table(tl: TailoredList) -> str:
    if not tl.options:
        return (
            '<p class="empty">No setting is open to this child: every setting within reach is '
            "ruled out below.</p>"
        )
    head = (
        '<th scope="col">No.</th><th scope="col">Setting</th><th scope="col">Kind of place</th>'
        '<th scope="col">Needs matched</th><th scope="col" class="num">Journey (min)</th>'
        '<th scope="col" class="num">Places left</th><th scope="col" class="num">Annual cost</th>'
        '<th scope="col">Parents\' preference</th><th scope="col">Cost to the LA-wide plan</th>'
        '<th scope="col">Why listed</th>'
    )
    rows = []
    for k, o in enumerate(tl.options, start=1):
        badge = '<span class="badge">Proposed</span> ' if o.proposed else ""
        needs = (
            ", ".join(_need_code(code) for code in o.needs_matched)
            if o.needs_matched
            else '<span aria-hidden="true">–</span><span class="visually-hidden">none</span>'
        )
        places = "no limit" if o.places_left >= _PLACES_UNLIMITED else f"{o.places_left:,}"
        row_class = ' class="proposed"' if o.proposed else ""
        rows.append(
            f"<tr{row_class}>"
            f'<th scope="row" class="num">{k}</th>'
            f"<td>{badge}{_setting_name(o.name, o.urn)}</td>"
            f"<td>{escape(_kind_text(o))}</td>"
            f"<td>{needs}</td>"
            f'<td class="num">{_minutes(o.minutes)}</td>'
            f'<td class="num">{places}</td>'
            f'<td class="num">£{o.placement_cost + o.transport_cost:,}'
            f'<span class="sub cost-split">placement £{o.placement_cost:,}<br>'
            f"transport £{o.transport_cost:,}</span></td>"
            f"<td>{_ordinal(o.preference_rank) if o.preference_rank else '–'}</td>"
            f"<td>{escape(o.marginal_text)}</td>"
            f"<td>{escape(o.why_listed)}</td>"
            "</tr>"
        )
    caption = (
        f"{len(tl.options)} options for child {escape(tl.child_id)}, in order of their cost to "
        "the LA-wide plan. The proposed placement is marked Proposed."
    )
    return (
        f'<table class="options"><caption>{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _preferences(
    preferences: Sequence[PreferenceStatement], options: Sequence[ListedOption]
) -> str:
    if not preferences:
        return '<p class="empty">No parental preferences recorded.</p>'
    row_of: dict[str, int] = {}
    for k, o in enumerate(options, start=1):
        row_of.setdefault(o.urn, k)
    rows = []
    for p in preferences:
        if p.met:
            met, ground = '<span class="met">Yes</span>', "–"
        elif p.ground == "not needed":
            met, ground = '<span class="not-needed">Not needed</span>', "–"
        else:
            met, ground = "No", escape(p.ground)
        listed = f" (option {row_of[p.urn]})" if p.urn in row_of else ""
        rows.append(
            f'<tr><th scope="row">{_ordinal(p.rank)}</th>'
            f"<td>{_setting_name(p.name, p.urn)}{listed}</td>"
            f"<td>{met}</td><td>{ground}</td><td>{escape(p.evidence)}</td></tr>"
        )
    return (
        '<table class="preferences"><caption>Parents\' preferences, in their order, with the '
        "Children and Families Act 2014 section 39 ground for any not met.</caption>"
        '<thead><tr><th scope="col">Rank</th><th scope="col">Setting</th><th scope="col">Met'
        '</th><th scope="col">Ground</th><th scope="col">Evidence</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _excluded(tl: TailoredList) -> str:
    """The nearest exclusions with every reason, every excluded preference, the rest counted.

    The list may arrive capped already (``TailoredListConfig.max_excluded``), with the rest
    counted by reason; a longer one is capped here to :data:`MAX_EXCLUDED_SHOWN`, so a page
    stays one page, and what is cut is counted the same way.
    """
    excluded = tl.excluded
    total = len(excluded) + tl.excluded_not_shown
    if not total:
        return '<p class="empty">None: every setting within reach is open to this child.</p>'
    keep = [k < MAX_EXCLUDED_SHOWN or e.preference_rank is not None for k, e in enumerate(excluded)]
    shown = [e for e, kept in zip(excluded, keep, strict=True) if kept]
    cut = [e for e, kept in zip(excluded, keep, strict=True) if not kept]
    counts = dict(tl.excluded_not_shown_reasons)
    for e in cut:
        for reason in e.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    rest = total - len(shown)
    rows = [
        f'<tr><th scope="row">{_setting_name(e.name, e.urn)}</th>'
        f'<td class="num">{"no route" if e.minutes is None else _minutes(e.minutes)}</td>'
        f"<td>{_ordinal(e.preference_rank) if e.preference_rank else '–'}</td>"
        f"<td>{escape('; '.join(e.reasons))}</td></tr>"
        for e in shown
    ]
    more = ""
    if rest:
        why = "; ".join(f"{escape(reason)} ({n:,})" for reason, n in counts.items())
        more = (
            f'<p class="more">… and {rest:,} more {"setting" if rest == 1 else "settings"} '
            "further away that cannot be named"
            + (f". Their reasons: {why}" if why else "")
            + ". <code>sendmatch tailored-lists --child "
            f"{escape(tl.child_id)}</code> lists every one.</p>"
        )
    nearest = f"the nearest {len(shown)} of {total}" if rest else f"all {total}"
    table = (
        f'<table class="excluded"><caption>Settings within reach that cannot be named, '
        f"{nearest}, nearest first, with every reason.</caption>"
        '<thead><tr><th scope="col">Setting</th><th scope="col" class="num">Journey (min)</th>'
        '<th scope="col">Parents\' preference</th><th scope="col">Why it cannot be named</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if shown
        else ""
    )
    return table + more


# --------------------------------------------------------------------------------------------
# The map


@dataclass(frozen=True)
class RoadSegments:
    """A road network's edges as undirected straight segments, made once per pack.

    Both directions of a two-way road are one segment, drawn once. ``kmh`` is each segment's
    speed (straight length over its fastest travel time), used to keep the main roads when a
    map is too big to draw every street.
    """

    lon: FloatArray  # (n, 2): the two ends
    lat: FloatArray
    kmh: FloatArray

    @classmethod
    def from_network(cls, network: RoadNetwork) -> RoadSegments:
        coo = network.seconds.tocoo()
        n = np.int64(max(network.n_nodes, 1))
        u, v = coo.row.astype(np.int64), coo.col.astype(np.int64)
        a, b = np.minimum(u, v), np.maximum(u, v)
        keep = a != b
        key = a[keep] * n + b[keep]
        seconds = np.asarray(coo.data, np.float64)[keep]
        order = np.lexsort((seconds, key))  # by pair, fastest direction first
        key, seconds = key[order], seconds[order]
        first = np.ones(len(key), bool)
        first[1:] = key[1:] != key[:-1]
        key, seconds = key[first], seconds[first]
        a, b = key // n, key % n
        lon = np.column_stack([network.lon[a], network.lon[b]]).astype(np.float64)
        lat = np.column_stack([network.lat[a], network.lat[b]]).astype(np.float64)
        mid = np.radians(lat.mean(axis=1))
        km = _KM_PER_DEGREE * np.hypot((lon[:, 1] - lon[:, 0]) * np.cos(mid), lat[:, 1] - lat[:, 0])
        kmh = km / np.maximum(seconds, 1e-3) * 3600.0
        return cls(lon, lat, kmh)

    def within(self, frame: _Frame) -> tuple[npt.NDArray[np.int64], bool]:
        """Segments touching the frame, only the faster bands if too many; and if thinned."""
        lon_min, lon_max, lat_min, lat_max = frame.bounds
        inside = (
            (self.lon.max(axis=1) >= lon_min)
            & (self.lon.min(axis=1) <= lon_max)
            & (self.lat.max(axis=1) >= lat_min)
            & (self.lat.min(axis=1) <= lat_max)
        )
        found = np.flatnonzero(inside)
        if len(found) <= MAX_ROAD_SEGMENTS:
            return found, False
        # Whole bands of speed (roughly road classes), fastest kept: cutting at an exact speed
        # would draw an arbitrary patch of a class's streets and none of the rest.
        kmh = self.kmh[found]
        kept = found
        for cut in _ROAD_BANDS_KMH:
            faster = found[kmh >= cut]
            if not len(faster):
                break
            kept = faster
            if len(kept) <= MAX_ROAD_SEGMENTS:
                return kept, True
        return kept[:: -(-len(kept) // MAX_ROAD_SEGMENTS)], True  # still too many: a sample


@dataclass(frozen=True)
class _Frame:
    """An equirectangular view: x east and y south in map units, scaled by cos(latitude)."""

    lon0: float
    lat0: float
    units_per_km: float

    @property
    def _x_per_degree(self) -> float:
        return _KM_PER_DEGREE * math.cos(math.radians(self.lat0)) * self.units_per_km

    @property
    def _y_per_degree(self) -> float:
        return _KM_PER_DEGREE * self.units_per_km

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            _MAP_W / 2 + (lon - self.lon0) * self._x_per_degree,
            _MAP_H / 2 - (lat - self.lat0) * self._y_per_degree,
        )

    def project(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        """:meth:`xy` for arrays."""
        return (
            _MAP_W / 2 + (lon - self.lon0) * self._x_per_degree,
            _MAP_H / 2 - (lat - self.lat0) * self._y_per_degree,
        )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        half_lon = _MAP_W / 2 / self._x_per_degree
        half_lat = _MAP_H / 2 / self._y_per_degree
        return (
            self.lon0 - half_lon,
            self.lon0 + half_lon,
            self.lat0 - half_lat,
            self.lat0 + half_lat,
        )

    @classmethod
    def around(cls, points: Sequence[tuple[float, float]]) -> _Frame:
        """The view that shows every (lon, lat) point with room for its marker."""
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        lon0 = (min(lons) + max(lons)) / 2
        lat0 = (min(lats) + max(lats)) / 2
        width_km = (max(lons) - min(lons)) * _KM_PER_DEGREE * math.cos(math.radians(lat0))
        height_km = (max(lats) - min(lats)) * _KM_PER_DEGREE
        inner_w, inner_h = _MAP_W - 2 * _MAP_PAD, _MAP_H - 2 * _MAP_PAD
        scale = min(
            inner_w / max(width_km, 1e-9),
            inner_h / max(height_km, 1e-9),
            inner_w / _MIN_MAP_KM,
        )
        return cls(lon0, lat0, scale)


@dataclass
class _Marker:
    label: str
    rows: list[int]
    anchor: tuple[float, float]
    x: float
    y: float
    proposed: bool
    fixed: bool = False

    @property
    def radius(self) -> float:
        return max(15.0, 4.5 * len(self.label) + 8.0) + (5.0 if self.proposed else 0.0)


def _map(
    n: int,
    tl: TailoredList,
    home_location: Location,
    by_urn: Mapping[str, Setting],
    roads: RoadSegments | None,
) -> str:
    """The inline SVG map and its legend: home, numbered options, roads, scale bar.

    Coordinates only ever become map units here; none is written as text.
    """
    home = (home_location.longitude, home_location.latitude)
    located = [
        (k, o, by_urn[o.urn].location) for k, o in enumerate(tl.options, start=1) if o.urn in by_urn
    ]
    points = [(home[0], home[1])] + [(loc.longitude, loc.latitude) for _, _, loc in located]
    frame = _Frame.around(points)

    road_svg, thinned = "", False
    if roads is not None:
        road_svg, thinned = _road_paths(roads, frame)

    # One marker per place: a school's mainstream and resourced-provision rows share a point.
    groups: dict[tuple[float, float], _Marker] = {}
    for k, o, loc in located:
        x, y = frame.xy(loc.longitude, loc.latitude)
        key = (round(x), round(y))
        marker = groups.get(key)
        if marker is None:
            groups[key] = _Marker(str(k), [k], (x, y), x, y, o.proposed)
        else:
            marker.rows.append(k)
            marker.label = ",".join(str(r) for r in marker.rows)
            marker.proposed = marker.proposed or o.proposed
    hx, hy = frame.xy(*home)
    home_marker = _Marker("Home", [], (hx, hy), hx, hy, False, fixed=True)
    markers = list(groups.values())
    _spread([home_marker, *markers])

    title = (
        f"Map of the home of child {tl.child_id} and the {len(located)} listed "
        f"{'option' if len(located) == 1 else 'options'}"
    )
    proposed_row = next((k for k, o, _ in located if o.proposed), None)
    names = {k: o.name for k, o, _ in located}
    parts = [
        f"{'Option' if len(m.rows) == 1 else 'Options'} {m.label}"
        f"{' (proposed)' if m.proposed else ''}, "
        f"{' and '.join(dict.fromkeys(names[r] for r in m.rows))}: "
        f"{_direction(frame, (hx, hy), m.anchor)}"
        for m in markers
    ]
    desc = (". ".join(parts) + ". " if parts else "No listed option has a location. ") + (
        "Grey lines are roads from OpenStreetMap."
        if roads is not None
        else "No road network was given, so no roads are drawn."
    )
    scale_svg = _scale_bar(frame)
    marker_svg = "".join(_marker_svg(m) for m in sorted(markers, key=lambda m: m.proposed))
    svg = (
        f'<svg class="map-svg" viewBox="0 0 {_MAP_W:g} {_MAP_H:g}" role="img" '
        f'aria-labelledby="map-{n}-title map-{n}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="map-{n}-title">{escape(title)}</title>'
        f'<desc id="map-{n}-desc">{escape(desc)}</desc>'
        f'<defs><clipPath id="map-{n}-clip"><rect width="{_MAP_W:g}" height="{_MAP_H:g}"/>'
        "</clipPath></defs>"
        f'<rect class="map-bg" width="{_MAP_W:g}" height="{_MAP_H:g}"/>'
        f'<g clip-path="url(#map-{n}-clip)">{road_svg}</g>'
        f"{_home_svg(home_marker, markers)}{marker_svg}{scale_svg}{_north_arrow()}"
        f'<rect class="map-frame" width="{_MAP_W:g}" height="{_MAP_H:g}"/>'
        "</svg>"
    )
    legend = [
        '<li><span class="key key-home" aria-hidden="true"></span>Home (the child\'s address is '
        "not shown in words)</li>"
    ]
    if located:
        legend.append(
            '<li><span class="key key-option" aria-hidden="true">2</span>Listed option, '
            "numbered as in the options table; a line leads from a marker moved apart from "
            "another to its place</li>"
        )
    if proposed_row is not None:
        legend.append(
            '<li><span class="key key-proposed" aria-hidden="true">'
            f"{proposed_row}</span>Proposed placement (filled, with a double ring)</li>"
        )
    if roads is not None:
        legend.append(
            '<li><span class="key key-road" aria-hidden="true"></span>Roads the journeys were '
            "timed on, drawn straight between junctions"
            + ("; only the main roads at this scale" if thinned else "")
            + ". Roads © OpenStreetMap contributors.</li>"
        )
    else:
        legend.append(
            "<li>No road network was given (straight-line travel-time estimate): the map shows "
            "the locations only.</li>"
        )
    return (
        f'<figure class="map-figure">{svg}<figcaption><ul class="legend">{"".join(legend)}</ul>'
        "</figcaption></figure>"
    )


def _road_paths(roads: RoadSegments, frame: _Frame) -> tuple[str, bool]:
    """Two SVG paths (main roads heavier), coordinates rounded and duplicates dropped."""
    found, thinned = roads.within(frame)
    x, y = frame.project(roads.lon[found], roads.lat[found])
    ends = np.round(np.column_stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]]), 1)
    main = roads.kmh[found] >= MAIN_ROAD_KMH
    drawn = np.any(ends[:, :2] != ends[:, 2:], axis=1)  # a segment shorter than 0.05 units
    out = []
    for css, rows in (("road", drawn & ~main), ("road road-main", drawn & main)):
        segments = dict.fromkeys(map(tuple, ends[rows].tolist()))
        if segments:
            d = "".join(f"M{a:g} {b:g}L{c:g} {e:g}" for a, b, c, e in segments)
            out.append(f'<path class="{css}" d="{d}"/>')
    return "".join(out), thinned


def _spread(markers: list[_Marker]) -> None:
    """Nudge overlapping markers apart so every number stays readable; home never moves."""
    radii = [m.radius for m in markers]
    pairs = [(i, j) for i in range(len(markers)) for j in range(i + 1, len(markers))]
    for _ in range(60):
        moved = False
        for i, j in pairs:
            a, b = markers[i], markers[j]
            dx, dy = b.x - a.x, b.y - a.y
            gap = radii[i] + radii[j] + 3.0
            if abs(dx) >= gap or abs(dy) >= gap:
                continue
            dist = math.hypot(dx, dy)
            if dist >= gap:
                continue
            if dist < 1e-6:
                dx, dy, dist = 0.6, -0.8, 1.0  # same point: move apart up and to the right
            push = (gap - dist) / dist
            share_a = 0.0 if a.fixed else (1.0 if b.fixed else 0.5)
            share_b = 0.0 if b.fixed else 1.0 - share_a
            a.x, a.y = a.x - dx * push * share_a, a.y - dy * push * share_a
            b.x, b.y = b.x + dx * push * share_b, b.y + dy * push * share_b
            moved = True
        for m, r in zip(markers, radii, strict=True):
            m.x = min(max(m.x, r + 2), _MAP_W - r - 2)
            m.y = min(max(m.y, r + 2), _MAP_H - r - 2)
        if not moved:
            return


def _marker_svg(m: _Marker) -> str:
    out = []
    ax, ay = m.anchor
    if math.hypot(m.x - ax, m.y - ay) > 3.0:
        # Nudged away from its place: a leader line and a dot show where it really is.
        out.append(
            f'<line class="leader" x1="{ax:.1f}" y1="{ay:.1f}" x2="{m.x:.1f}" y2="{m.y:.1f}"/>'
            f'<circle class="anchor" cx="{ax:.1f}" cy="{ay:.1f}" r="3.5"/>'
        )
    half = max(15.0, 4.5 * len(m.label) + 8.0)
    shape = (
        f'<circle cx="{m.x:.1f}" cy="{m.y:.1f}" r="{half:.1f}"'
        if len(m.label) <= 2
        else f'<rect x="{m.x - half:.1f}" y="{m.y - 15:.1f}" width="{2 * half:.1f}" height="30" '
        'rx="15"'
    )
    css = "marker proposed" if m.proposed else "marker"
    if m.proposed:
        ring = half + 5.0
        out.append(
            f'<circle class="ring" cx="{m.x:.1f}" cy="{m.y:.1f}" r="{ring:.1f}"/>'
            if len(m.label) <= 2
            else f'<rect class="ring" x="{m.x - ring:.1f}" y="{m.y - 20:.1f}" '
            f'width="{2 * ring:.1f}" height="40" rx="20"/>'
        )
    out.append(
        f'<g class="{css}">{shape}/>'
        f'<text x="{m.x:.1f}" y="{m.y:.1f}" dy="0.35em">{escape(m.label)}</text></g>'
    )
    return "".join(out)


def _home_svg(m: _Marker, others: Sequence[_Marker]) -> str:
    """The house marker, labelled "Home" on whichever side is clearest of the options."""
    x, y = m.x, m.y
    house = (
        f"{x - 12:.1f},{y + 11:.1f} {x + 12:.1f},{y + 11:.1f} {x + 12:.1f},{y - 3:.1f} "
        f"{x:.1f},{y - 15:.1f} {x - 12:.1f},{y - 3:.1f}"
    )
    # (text x, baseline y, anchor) below, above, right, left; the label is about 44 × 17.
    candidates = [
        (x, y + 32, "middle"),
        (x, y - 21, "middle"),
        (x + 17, y + 6, "start"),
        (x - 17, y + 6, "end"),
    ]

    def clearance(candidate: tuple[float, float, str]) -> float:
        tx, ty, anchor = candidate
        left = tx - 22 if anchor == "middle" else (tx if anchor == "start" else tx - 44)
        box = (left, ty - 14, left + 44, ty + 3)
        if box[0] < 0 or box[2] > _MAP_W or box[1] < 0 or box[3] > _MAP_H:
            return -math.inf
        return min((_box_distance(box, (o.x, o.y)) - o.radius for o in others), default=math.inf)

    tx, ty, anchor = max(candidates, key=clearance)  # the first of equals: below
    return (
        f'<g class="home"><polygon points="{house}"/>'
        f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}">Home</text></g>'
    )


def _box_distance(box: tuple[float, float, float, float], point: tuple[float, float]) -> float:
    dx = max(box[0] - point[0], 0.0, point[0] - box[2])
    dy = max(box[1] - point[1], 0.0, point[1] - box[3])
    return math.hypot(dx, dy)


def _scale_bar(frame: _Frame) -> str:
    """A bar of a round number of km, about a fifth of the map's width, bottom left."""
    most = 0.25 * _MAP_W / frame.units_per_km
    step = 10.0 ** math.floor(math.log10(most))
    km = max((m * step for m in (1.0, 2.0, 5.0) if m * step <= most), default=step)
    length = km * frame.units_per_km
    x0, y0 = 16.0, _MAP_H - 18.0
    label = f"{km:g} km"
    return (
        f'<g class="scale"><rect class="scale-bg" x="{x0 - 8:.1f}" y="{y0 - 30:.1f}" '
        f'width="{length + 16:.1f}" height="40" rx="4"/>'
        f'<path d="M{x0:.1f} {y0 - 7:.1f}V{y0:.1f}H{x0 + length:.1f}V{y0 - 7:.1f}"/>'
        f'<text x="{x0 + length / 2:.1f}" y="{y0 - 12:.1f}">{escape(label)}</text></g>'
    )


def _north_arrow() -> str:
    x, y = _MAP_W - 26.0, 18.0
    return (
        f'<g class="north"><path d="M{x:.1f} {y:.1f}l9 24l-9 -6l-9 6z"/>'
        f'<text x="{x:.1f}" y="{y + 40:.1f}">N</text></g>'
    )


def _direction(frame: _Frame, home: tuple[float, float], at: tuple[float, float]) -> str:
    """ "2.3 km north-east of home": the map's content in words, for screen readers."""
    dx = (at[0] - home[0]) / frame.units_per_km
    dy = (home[1] - at[1]) / frame.units_per_km
    km = math.hypot(dx, dy)
    if km < 0.05:
        return "at the home's location"
    bearing = math.degrees(math.atan2(dx, dy)) % 360
    return f"{km:.1f} km {_COMPASS[round(bearing / 45) % 8]} of home"


# --------------------------------------------------------------------------------------------
# Words


def _day_text(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _year_text(nc_year: int) -> str:
    names = {-2: "Nursery 1", -1: "Nursery 2", 0: "Reception"}
    name = names.get(nc_year, f"Year {nc_year}")
    return f"{name} (age {nc_year + 4} on the 31 August before the year)"


def _need(need: PrimaryNeed) -> str:
    return f"<strong>{escape(need.value)}</strong> {escape(NEED_DESCRIPTIONS[need])}"


def _need_code(code: str) -> str:
    try:
        words = NEED_DESCRIPTIONS[PrimaryNeed(code)]
    except ValueError:
        return escape(code)
    return f'<abbr title="{escape(words)}">{escape(code)}</abbr>'


def _kind_text(o: ListedOption) -> str:
    kind = _PROVISION_TEXT.get(o.provision or "", _KIND_TEXT[o.placement_kind])
    setting_type = SettingType(o.setting_type)
    if o.placement_kind is PlacementKind.INDEPENDENT or setting_type in {
        SettingType.FURTHER_EDUCATION,
        SettingType.SPECIALIST_POST16,
    }:
        return f"{kind} ({_SETTING_TYPE_TEXT[setting_type]})"
    return kind


def _setting_name(name: str, urn: str) -> str:
    return f'{escape(name)} <span class="sub">URN {escape(urn)}</span>'


def _minutes(minutes: float) -> str:
    return f"{minutes:.1f}"


def _ordinal(n: int | None) -> str:
    if n is None:
        return ""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# --------------------------------------------------------------------------------------------
# Style: GOV.UK Design System colours (WCAG 2.2 AA contrast on white), large type for a
# projector, and an A4 landscape print layout with one child per page.

_CSS = """
:root { --text: #0b0c0c; --muted: #505a5f; --line: #b1b4b6; --light: #f3f2f1;
  --blue: #1d70b8; --dark-blue: #003078; --green: #00703c; --pale-green: #e5f1ea; }
* { box-sizing: border-box; }
html { font-size: 19px; }
body { margin: 0; color: var(--text); background: #fff;
  font-family: Arial, "Helvetica Neue", Helvetica, sans-serif; line-height: 1.35; }
.page { max-width: 1600px; margin: 0 auto; padding: 1.2rem 2rem 1.5rem;
  border-bottom: 6px solid var(--light); }
h1 { font-size: 2.2rem; margin: 0.3rem 0 0.8rem; }
h2 { font-size: 1.8rem; margin: 0; }
h3 { font-size: 1.2rem; margin: 1.1rem 0 0.4rem; }
.cover h2 { font-size: 1.4rem; margin: 1.4rem 0 0.5rem; }
.lead { font-size: 1.2rem; max-width: 60em; }
.howto { max-width: 60em; }
.marking { margin: 0; font-weight: bold; letter-spacing: 0.04em; font-size: 0.85rem; }
.muted, .sub { color: var(--muted); }
.sub { display: block; font-size: 0.8em; }
.child-head { display: flex; justify-content: space-between; align-items: baseline;
  border-bottom: 4px solid var(--blue); padding-bottom: 0.3rem; margin-top: 0.3rem; }
.child-head p { margin: 0; }
.top { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 0 2rem; }
.facts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0.3rem 1.2rem;
  margin: 0; }
.facts dt { font-weight: bold; font-size: 0.8rem; color: var(--muted); }
.facts dd { margin: 0; }
.proposal { border-left: 8px solid var(--green); background: var(--pale-green);
  padding: 0.5rem 0.9rem; }
.proposal.none { border-left-color: #d4351c; background: var(--light); }
.proposal p { margin: 0.2rem 0; }
.proposal .headline { font-size: 1.1rem; }
.badge { display: inline-block; background: var(--green); color: #fff; font-weight: bold;
  font-size: 0.8rem; padding: 0.05rem 0.45rem; border-radius: 3px; letter-spacing: 0.02em; }
.badge::before { content: "\\2605\\00a0"; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
caption { text-align: left; color: var(--muted); font-size: 0.85rem; padding-bottom: 0.25rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.45rem; text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid var(--text); font-size: 0.8rem; }
tbody th { font-weight: normal; }
.options tbody th { font-weight: bold; }
.num { text-align: right; }
tr.proposed td, tr.proposed th { background: var(--pale-green); }
tr.proposed th { box-shadow: inset 6px 0 0 var(--green); }
tr.proposed td:nth-child(2) { font-weight: bold; }
.met { color: var(--green); font-weight: bold; }
.met::before { content: "\\2713\\00a0"; }
.not-needed { color: var(--muted); }
.empty, .more { color: var(--muted); }
.map h3 { margin-bottom: 0.4rem; }
.map-figure { margin: 0; }
.map-svg { display: block; width: 100%; height: auto; }
.map-bg { fill: #fbfbfa; }
.map-frame { fill: none; stroke: var(--line); stroke-width: 2; }
.road { fill: none; stroke: #c4c7c9; stroke-width: 1.3; stroke-linecap: round; }
.road-main { stroke: #9ea3a6; stroke-width: 2.6; }
.marker circle, .marker rect { fill: #fff; stroke: var(--blue); stroke-width: 3.5; }
.marker text, .home text, .scale text, .north text { font-family: Arial, sans-serif;
  font-weight: bold; }
.marker text, .scale text, .north text { text-anchor: middle; }
.marker text { font-size: 16px; fill: var(--text); }
.marker.proposed circle, .marker.proposed rect { fill: var(--green); stroke: #fff;
  stroke-width: 2.5; }
.marker.proposed text { fill: #fff; font-size: 18px; }
.ring { fill: none; stroke: var(--green); stroke-width: 4; }
.leader { stroke: var(--dark-blue); stroke-width: 1.5; }
.anchor { fill: var(--dark-blue); }
.home polygon { fill: var(--text); stroke: #fff; stroke-width: 2.5; }
.home text { font-size: 17px; fill: var(--text); stroke: #fff; stroke-width: 5px;
  paint-order: stroke; stroke-linejoin: round; }
.scale-bg { fill: #fff; fill-opacity: 0.85; }
.scale path { fill: none; stroke: var(--text); stroke-width: 3; }
.scale text { font-size: 14px; fill: var(--text); }
.north path { fill: var(--text); }
.north text { font-size: 15px; fill: var(--text); }
.legend { list-style: none; padding: 0; margin: 0.4rem 0 0; font-size: 0.8rem;
  color: var(--text); }
.legend li { margin: 0.15rem 0; display: flex; align-items: center; gap: 0.5rem; }
.key { display: inline-flex; align-items: center; justify-content: center; flex: none;
  width: 1.4rem; height: 1.4rem; border-radius: 50%; font-weight: bold; font-size: 0.75rem; }
.key-home { border-radius: 0; width: 1rem; height: 1rem; background: var(--text);
  clip-path: polygon(50% 0, 100% 45%, 100% 100%, 0 100%, 0 45%); }
.key-option { border: 3px solid var(--blue); background: #fff; }
.key-proposed { background: var(--green); color: #fff; box-shadow: 0 0 0 2px #fff,
  0 0 0 4px var(--green); }
.key-road { border-radius: 0; height: 0; border-top: 3px solid #9ea3a6; }
.index { columns: 4 14rem; padding-left: 1.6rem; font-size: 0.85rem; }
.index li { break-inside: avoid; }
.page-foot { margin-top: 1rem; padding-top: 0.4rem; border-top: 1px solid var(--line);
  font-size: 0.75rem; color: var(--muted); display: flex; flex-wrap: wrap;
  gap: 0.2rem 1.5rem; }
.page-foot p { margin: 0; }
.page-foot .marking { color: var(--text); }
a { color: var(--blue); }
a:focus { outline: 3px solid #ffdd00; background: #ffdd00; color: var(--text); }
abbr { text-decoration: none; }
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0;
  overflow: hidden; clip: rect(0 0 0 0); border: 0; white-space: nowrap; }
@media (max-width: 1000px) { .top, .facts { grid-template-columns: minmax(0, 1fr); } }
@page { size: A4 landscape; margin: 7mm 9mm; }
@media print {
  html { font-size: 6.9pt; }
  body { line-height: 1.22; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  .page { max-width: none; padding: 0; border: 0; page-break-after: always;
    break-after: page; }
  main > .page:last-child { page-break-after: auto; break-after: auto; }
  h1 { font-size: 2rem; }
  h2 { font-size: 1.6rem; }
  h3 { margin: 0.4rem 0 0.15rem; }
  .top { grid-template-columns: minmax(0, 1.15fr) minmax(0, 0.85fr); gap: 0 1.2rem; }
  .facts { grid-template-columns: repeat(3, minmax(0, 1fr)); }
  .map-svg { max-height: 62mm; }
  th, td { padding: 0.1rem 0.3rem; }
  .sub { display: inline; }
  .cost-split { display: none; }
  .legend li { margin: 0; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  .index { columns: 5; }
  a { color: var(--text); text-decoration: none; }
  .page-foot { margin-top: 0.2rem; font-size: 0.85em; line-height: 1.1; }
  .map-svg { max-height: 56mm; }
}
"""


# --------------------------------------------------------------------------------------------
# Public names for the map helpers, shared with :mod:`matcher.scenario_map` so both draw roads,
# scale and north the same way.

MapFrame = _Frame
road_paths = _road_paths
scale_bar = _scale_bar
north_arrow = _north_arrow
MAP_W, MAP_H = _MAP_W, _MAP_H
