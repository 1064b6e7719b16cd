"""The panel pack: one self-contained, accessible HTML page per child, and ``sendmatch
panel-pack``.

The pack is read by a panel from a projector and holds special-category data, so besides the
content (every child, the proposal marked in words, every exclusion with its reasons) these
tests check what must never be in it: unescaped text, scripts or external resources, names,
coordinates. Road maps use tests/data/tiny_drive.osm (hand-made, in Leeds).
"""

from __future__ import annotations

import csv
import os
import re
import stat
from html import escape
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from geodata.network import RoadNetwork, load_drive_network
from matcher import cli, cli_lists, cli_options, panel_pack
from matcher.models import Child, Location, PlacementKind, PrimaryNeed, Setting
from matcher.panel_pack import html_to_pdf, render_panel_pack, write_panel_pack
from matcher.tailored import (
    ExcludedSetting,
    ListedOption,
    PreferenceStatement,
    TailoredList,
    TailoredListConfig,
    TailoredListModel,
)
from tests.factories import child, matrix, setting

TINY_OSM = Path(__file__).parent / "data" / "tiny_drive.osm"
runner = CliRunner()

# Distinctive coordinates, so that a leak of any of them into the text would be found.
HOME_A = Location(latitude=53.801234, longitude=-1.551234)
HOME_B = Location(latitude=53.797651, longitude=-1.538765)
SCRIPT_NAME = "<script>alert('x')</script> Academy"


def at(lat: float, lon: float) -> Location:
    return Location(latitude=lat, longitude=lon)


def small_round() -> tuple[list[Child], list[Setting], list[TailoredList], TailoredListModel]:
    """Three Year 7 children and five settings around the tiny network's roads in Leeds.

    ``b`` needs a special school, so the mainstream settings are excluded for need; ``c``
    wants the one-place school ``a`` gets, so ``c``'s first preference is not met.
    """
    kids = [
        child("a", home=HOME_A, preferences=("2",), sibling_group="Smith family"),
        child(
            "b",
            home=HOME_B,
            primary_need=PrimaryNeed.SLD,
            secondary_needs=frozenset({PrimaryNeed.PD}),
            requirements=frozenset({"wheelchair_access"}),
        ),
        child("c", home=HOME_B, preferences=("2", "1")),
    ]
    sets = [
        setting("1", name="Main Road School", location=at(53.8, -1.56), total_places=5),
        setting("2", name=SCRIPT_NAME, location=at(53.8, -1.54), total_places=1),
        setting(
            "3",
            name="Linnet Brook Special School",
            setting_type="special",
            designated_needs=frozenset({"SLD"}),
            facilities=frozenset({"wheelchair_access"}),
            location=at(53.805, -1.55),
        ),
        setting("4", name="Far Primary", low_age=4, high_age=11, location=at(53.795, -1.55)),
        setting(
            "5",
            name="Ridge Independent",
            setting_type="independent_special",
            annual_fee=60_000,
            location=at(53.8, -1.53),
        ),
    ]
    minutes = np.array(
        [
            [4.0, 3.0, 5.0, 6.0, 8.0],
            [6.0, 5.0, 4.0, 3.0, 7.0],
            [6.0, 5.0, 4.0, 3.0, 7.0],
        ]
    )
    model = TailoredListModel(kids, sets, matrix(kids, sets, minutes))
    return kids, sets, model.lists(), model


def sections(html: str) -> dict[str, str]:
    """Each child's page, by child id."""
    pages = re.findall(r'<section class="page child".*?</section>', html, re.S)
    out = {}
    for page in pages:
        found = re.search(r"<h2 [^>]*>Child ([^<]+)</h2>", page)
        assert found, "every page has its child's heading"
        out[found.group(1)] = page
    return out


def table(page: str, css: str) -> list[list[str]]:
    """The body rows of one table of a page, as cell texts (tags removed)."""
    found = re.search(rf'<table class="{css}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert found, f"no {css} table"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)
        ]
        for r in rows
    ]


# --------------------------------------------------------------------------------------------
# Rendering


def test_every_child_has_a_page_with_needs_proposal_options_and_preferences() -> None:
    kids, sets, lists, model = small_round()
    html = render_panel_pack(lists, kids, sets, None, "test matrix", plan=model.plan)
    pages = sections(html)
    assert list(pages) == ["a", "b", "c"]
    assert html.count("<h1>") == 1
    b = pages["b"]
    assert "Year 7" in b
    assert "<strong>SLD</strong> severe learning difficulty" in b
    assert "<strong>PD</strong> physical disability" in b
    assert "wheelchair access" in b
    for page in pages.values():
        assert page.count('class="page-foot"') == 1
        assert "Travel times: test matrix" in page
        assert "Generated by sendmatch on " in page
        assert "OFFICIAL-SENSITIVE: contains special-category data about children" in page
    # c's first preference went to a: not met, with its s.39 ground and evidence.
    prefs = table(pages["c"], "preferences")
    assert prefs[0][0] == "1st" and prefs[0][2] == "No"
    assert prefs[0][3].startswith("incompatible with")
    assert prefs[0][4]


def test_the_proposed_option_is_marked_in_words_not_colour_alone() -> None:
    kids, sets, lists, model = small_round()
    html = render_panel_pack(lists, kids, sets, None, "test matrix", plan=model.plan)
    pages = sections(html)
    for tl, placed in zip(lists, model.plan.placements, strict=True):
        rows = table(pages[tl.child_id], "options")
        marked = [r for r in rows if "Proposed" in r[1]]
        assert placed.setting_name is not None
        assert len(marked) == 1, "exactly one row says Proposed"
        number, name = marked[0][0], marked[0][1]
        assert escape(placed.setting_name) in name
        # The proposal box names it too, with its row number and the plan's reason.
        assert f"option {number} on the list" in pages[tl.child_id]
        assert "<strong>Why:</strong>" in pages[tl.child_id]
        # On the map, the proposed marker carries the same number.
        assert re.search(
            rf'<g class="marker proposed"><circle[^>]*/><text[^>]*>{number}</text>',
            pages[tl.child_id],
        )


def test_unplaced_child_page_says_so() -> None:
    kids = [child("u", home=HOME_A)]
    sets = [setting("1", low_age=4, high_age=11, location=at(53.8, -1.56))]
    model = TailoredListModel(kids, sets, matrix(kids, sets, np.array([[5.0]])))
    html = render_panel_pack(model.lists(), kids, sets, None, "test", plan=model.plan)
    page = sections(html)["u"]
    assert "No placement proposed." in page
    assert "outside the setting&#x27;s age range" in page
    assert "Proposed</span>" not in page


def test_every_excluded_setting_shown_has_its_reasons_and_the_rest_are_counted() -> None:
    kids, sets, lists, model = small_round()
    html = render_panel_pack(lists, kids, sets, None, "test", plan=model.plan)
    b = sections(html)["b"]
    rows = table(b, "excluded")
    excluded = next(tl for tl in lists if tl.child_id == "b").excluded
    assert len(rows) == len(excluded) > 0
    for row, e in zip(rows, excluded, strict=True):
        assert row[-1], "every excluded setting shown has its reasons"
        assert row[-1] == "; ".join(e.reasons).replace("'", "&#x27;")

    # A long list: the nearest few, any excluded preference however far, the rest counted.
    far = [
        setting(str(100 + k), name=f"Infant {k}", low_age=4, high_age=7, location=at(53.8, -1.55))
        for k in range(20)
    ]
    kid = child("long", home=HOME_A, preferences=("119",))
    minutes = np.array([[1.0 + k for k in range(20)] + [3.0]])
    all_settings = [*far, setting("1", location=at(53.8, -1.56))]
    model = TailoredListModel([kid], all_settings, matrix([kid], all_settings, minutes))
    tl = model.lists(config=TailoredListConfig(max_excluded=None))
    page = sections(render_panel_pack(tl, [kid], all_settings, None, "t", plan=model.plan))["long"]
    rows = table(page, "excluded")
    assert len(rows) == panel_pack.MAX_EXCLUDED_SHOWN + 1
    assert [r[0] for r in rows][-1].startswith("Infant 19"), "the preference is shown"
    assert rows[-1][2] == "1st"
    assert all(r[-1] == "outside the setting&#x27;s age range" for r in rows)
    rest = 20 - 1 - panel_pack.MAX_EXCLUDED_SHOWN  # 20 excluded, one of them the preference
    assert f"… and {rest} more settings" in page
    assert f"outside the setting&#x27;s age range ({rest})" in page


def test_lists_capped_upstream_count_what_they_left_out() -> None:
    kid = child("k", home=HOME_A)
    sets = [
        *(setting(str(k), low_age=4, high_age=7, location=at(53.8, -1.55)) for k in range(6)),
        setting("9", location=at(53.8, -1.56)),
    ]
    model = TailoredListModel([kid], sets, matrix([kid], sets, np.arange(1.0, 8.0)[None, :]))
    tl = model.lists(config=TailoredListConfig(max_excluded=2))
    assert tl[0].excluded_not_shown == 4
    page = sections(render_panel_pack(tl, [kid], sets, None, "t"))["k"]
    assert len(table(page, "excluded")) == 2
    assert "the nearest 2 of 6" in page
    assert "… and 4 more settings" in page


def test_text_is_escaped_and_there_is_no_script_or_external_resource() -> None:
    kids, sets, lists, model = small_round()
    html = render_panel_pack(lists, kids, sets, None, "model <b>x</b>", plan=model.plan)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Academy" in html
    assert "model &lt;b&gt;x&lt;/b&gt;" in html
    # Self-contained: nothing fetched, nothing run.
    assert re.findall(r"https?://[^\"' )]+", html) == ["http://www.w3.org/2000/svg"] * 3
    for tag in ("<link", "<img", "<iframe", "<object", "@import", "src=", "url(http"):
        assert tag not in html
    assert re.search(r"\son[a-z]+=", html) is None, "no event handlers"


def test_every_free_text_field_is_escaped() -> None:
    """Names, reasons, grounds and evidence come from files and code: none may become markup."""
    bad = "<b>x</b>"
    option = ListedOption(
        urn=bad,
        name=bad,
        setting_type="mainstream",
        placement_kind=PlacementKind.MAINSTREAM,
        provision=None,
        needs_matched=(),
        minutes=3.0,
        places_left=2,
        placement_cost=0,
        transport_cost=1_000,
        preference_rank=1,
        proposed=True,
        marginal=None,
        why_listed=bad,
    )
    tl = TailoredList(
        child_id="k",
        proposed_urn=bad,
        options=(option,),
        excluded=(ExcludedSetting(bad, bad, "special", 4.0, 2, (bad, bad)),),
        preferences=(
            PreferenceStatement(1, bad, bad, True, "named", bad),
            PreferenceStatement(2, bad, bad, False, bad, bad),
        ),
        excluded_not_shown=3,
        excluded_not_shown_reasons=((bad, 3),),
    )
    kids = [child("k", home=HOME_A)]
    sets = [setting(bad, name=bad, location=at(53.8, -1.55))]
    html = render_panel_pack([tl], kids, sets, None, bad)
    assert "<b>" not in html
    assert html.count("&lt;b&gt;x&lt;/b&gt;") >= 15


def test_no_names_labels_or_coordinates_appear() -> None:
    kids, sets, lists, model = small_round()
    for network in (None, load_drive_network(TINY_OSM, use_cache=False)):
        html = render_panel_pack(lists, kids, sets, network, "t", plan=model.plan)
        # A sibling-group label may be a family name: it is never shown.
        assert "Smith" not in html
        # Map coordinates are written with one decimal, so three decimals can only be a leak.
        for loc in [HOME_A, HOME_B] + [s.location for s in sets]:
            for value in (loc.latitude, loc.longitude):
                assert f"{abs(value):.3f}" not in html, value
        # The homes are on the maps only as markers labelled Home.
        assert html.count(">Home</text>") == len(kids)


def test_maps_are_accessible_images_with_a_title_and_a_description() -> None:
    kids, sets, lists, model = small_round()
    html = render_panel_pack(lists, kids, sets, None, "t", plan=model.plan)
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == len(kids)
    for svg in svgs:
        opening = svg[: svg.index(">")]
        assert 'role="img"' in opening
        labelled = re.search(r'aria-labelledby="([^"]+)"', opening)
        assert labelled
        title_id, desc_id = labelled.group(1).split()
        title = re.search(rf'<title id="{title_id}">([^<]+)</title>', svg)
        assert title and "Map of the home of child" in title.group(1)
        desc = re.search(rf'<desc id="{desc_id}">([^<]+)</desc>', svg)
        assert desc and "km" in desc.group(1) and "of home" in desc.group(1)
    # Tables: a caption, and header cells that say what they head.
    for tbl in re.findall(r"<table.*?</table>", html, re.S):
        assert "<caption>" in tbl
        assert "<th>" not in tbl, "every header cell has a scope"
        assert re.search(r'<th scope="col"', tbl)
    # One h1, an h2 per child page (and the index), h3 sections.
    assert html.count("<h1") == 1
    assert html.count("<h2") == len(kids) + 2  # plus "How to read" and the index


def test_map_without_a_network_draws_points_only_and_says_so() -> None:
    kids, sets, lists, model = small_round()
    html = render_panel_pack(lists, kids, sets, None, "straight-line estimate", plan=model.plan)
    assert 'class="road' not in html
    assert html.count("No road network was given (straight-line travel-time estimate)") == 3
    assert "OpenStreetMap contributors" not in html
    assert "km</text>" in html, "a scale bar"


def test_map_with_the_tiny_network_draws_its_roads() -> None:
    kids, sets, lists, model = small_round()
    network = load_drive_network(TINY_OSM, use_cache=False)
    html = render_panel_pack(lists, kids, sets, network, "road network", plan=model.plan)
    for page in sections(html).values():
        roads = re.findall(r'<path class="road[^"]*" d="([^"]+)"', page)
        assert roads, "the map shows roads"
        segments = re.findall(r"M[-\d.]+ [-\d.]+L[-\d.]+ [-\d.]+", "".join(roads))
        assert len(segments) >= 5
        assert "Roads © OpenStreetMap contributors" in page
        assert "only the main roads" not in page


def test_a_map_over_a_dense_network_keeps_the_main_roads(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 30 × 30 grid: every 10th line a fast road, the rest residential.
    n, step = 30, 0.002
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    node = ii * n + jj
    tails, heads, fast = [], [], []
    for a, b, f in (
        (node[:, :-1], node[:, 1:], ii[:, :-1] % 10 == 0),
        (node[:-1, :], node[1:, :], jj[:-1, :] % 10 == 0),
    ):
        tails += [a.ravel(), b.ravel()]
        heads += [b.ravel(), a.ravel()]
        fast += [f.ravel(), f.ravel()]
    is_fast = np.concatenate(fast)
    network = RoadNetwork.from_edges(
        np.arange(n * n),
        (-1.56 + jj * step * 1.7).ravel(),
        (53.79 + ii * step).ravel(),
        np.concatenate(tails),
        np.concatenate(heads),
        np.where(is_fast, 10.0, 40.0),
        ["primary" if f else "residential" for f in is_fast],
        "grid",
    )
    kids = [child("g", home=at(53.80, -1.54))]
    sets = [setting("1", location=at(53.83, -1.50)), setting("2", location=at(53.79, -1.56))]
    model = TailoredListModel(kids, sets, matrix(kids, sets, np.array([[5.0, 6.0]])))
    monkeypatch.setattr(panel_pack, "MAX_ROAD_SEGMENTS", 300)
    html = render_panel_pack(model.lists(), kids, sets, network, "grid", plan=model.plan)
    segments = re.findall(r"M[-\d.]+ [-\d.]+L", html)
    assert 0 < len(segments) <= 300
    assert 'class="road road-main"' in html and 'class="road"' not in html
    assert "only the main roads at this scale" in html


def test_write_panel_pack_replaces_in_one_step(tmp_path: Path) -> None:
    out = tmp_path / "pack.html"
    out.write_text("an earlier pack", encoding="utf-8")
    with pytest.raises(TypeError):
        write_panel_pack(None, out)  # type: ignore[arg-type]  # fails half-way
    assert out.read_text(encoding="utf-8") == "an earlier pack"
    assert [p.name for p in tmp_path.iterdir()] == ["pack.html"], "no temporary file left"
    write_panel_pack("<!DOCTYPE html><p>£ é</p>", out)
    assert out.read_text(encoding="utf-8") == "<!DOCTYPE html><p>£ é</p>"
    assert [p.name for p in tmp_path.iterdir()] == ["pack.html"]


# --------------------------------------------------------------------------------------------
# PDF


def fake_chromium(folder: Path, *, works: bool) -> Path:
    """A stand-in for Chromium on PATH that records its arguments and prints a tiny PDF."""
    folder.mkdir()
    script = folder / "chromium"
    body = (
        f'for a in "$@"; do echo "$a" >> "{folder / "args.txt"}"; case "$a" in '
        "--print-to-pdf=*) printf '%%PDF-1.4 fake' > \"${a#--print-to-pdf=}\";; esac; done"
        if works
        else "exit 1"
    )
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_html_to_pdf_without_chromium_returns_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (tmp_path / "pack.html").write_text("<p>x</p>", encoding="utf-8")
    assert panel_pack.find_chromium() is None
    assert html_to_pdf(tmp_path / "pack.html", tmp_path / "pack.pdf") is False
    assert not (tmp_path / "pack.pdf").exists()


def test_html_to_pdf_runs_chromium_headless_and_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_chromium(tmp_path / "bin", works=True)
    monkeypatch.setenv("PATH", str(bin_dir))
    source = tmp_path / "pack.html"
    source.write_text("<p>x</p>", encoding="utf-8")
    assert html_to_pdf(source, tmp_path / "pack.pdf") is True
    assert (tmp_path / "pack.pdf").read_bytes() == b"%PDF-1.4 fake"
    args = (bin_dir / "args.txt").read_text(encoding="utf-8").split("\n")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        assert flag in args
    assert any(a.startswith("--user-data-dir=") for a in args)
    assert source.resolve().as_uri() in args
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["bin", "pack.html", "pack.pdf"]


def test_html_to_pdf_returns_false_when_chromium_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(fake_chromium(tmp_path / "bin", works=False)))
    (tmp_path / "pack.pdf").write_bytes(b"%PDF- an earlier one")
    (tmp_path / "pack.html").write_text("<p>x</p>", encoding="utf-8")
    assert html_to_pdf(tmp_path / "pack.html", tmp_path / "pack.pdf") is False
    assert (tmp_path / "pack.pdf").read_bytes() == b"%PDF- an earlier one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "pack.html", "pack.pdf"]


# --------------------------------------------------------------------------------------------
# sendmatch panel-pack


def run_pack(folder: Path, *extra: str, out: str = "pack.html") -> tuple[int, str]:
    args = [
        "panel-pack",
        "--children",
        str(folder / "children.csv"),
        "--settings",
        str(folder / "settings.csv"),
        "--tariffs",
        str(folder / "tariffs.csv"),
        "--out",
        str(folder / out),
        "--year-start",
        "2026-09-01",
        "--la-code",
        "935",
        *extra,
    ]
    result = runner.invoke(cli.app, args)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def child_ids(folder: Path) -> list[str]:
    with (folder / "children.csv").open(newline="", encoding="utf-8-sig") as fh:
        return [row["child_id"] for row in csv.DictReader(fh)]


def test_cli_writes_one_page_per_child_atomically(files: Path) -> None:
    (files / "pack.html").write_text("an earlier pack", encoding="utf-8")
    code, output = run_pack(files)
    assert code == 0, output
    html = (files / "pack.html").read_text(encoding="utf-8")
    assert list(sections(html)) == child_ids(files)
    assert "straight-line estimate" in html
    assert "Panel pack for 12 children" in output
    assert [p.name for p in files.iterdir() if p.name.startswith(".")] == []


def test_cli_failed_write_leaves_the_earlier_pack(
    files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (files / "pack.html").write_text("an earlier pack", encoding="utf-8")

    def disk_full(self: Path, data: str, encoding: str | None = None) -> int:
        with self.open("w", encoding=encoding) as fh:
            fh.write(data[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    code, output = run_pack(files)
    assert code == cli_options.EXIT_FAILED
    assert "No space left on device" in output and "pack.html was not written" in output
    assert (files / "pack.html").read_bytes() == b"an earlier pack"
    assert [p.name for p in files.iterdir() if p.name.startswith(".")] == []


def test_cli_pages_for_the_children_asked_for(files: Path) -> None:
    code, output = run_pack(files, "--child", "C003", "--child", "C001", "--child", "C003")
    assert code == 0, output
    html = (files / "pack.html").read_text(encoding="utf-8")
    assert list(sections(html)) == ["C003", "C001"]


def test_cli_unknown_child_exits_2_and_writes_nothing(files: Path) -> None:
    code, output = run_pack(files, "--child", "C001", "--child", "NOBODY", "--child", "X9")
    assert code == cli_options.EXIT_INPUT_PROBLEM
    assert "No child with id 'NOBODY', 'X9' in children.csv" in output
    assert "Nothing was written" in output
    assert not (files / "pack.html").exists()


def test_cli_wrong_output_extension_exits_2(files: Path) -> None:
    code, output = run_pack(files, out="pack.pdf")
    assert code == cli_options.EXIT_INPUT_PROBLEM
    assert "must end in .html or .htm" in output
    assert not (files / "pack.pdf").exists()


def test_cli_warns_of_a_long_pack(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_lists, "PANEL_PACK_PAGES_WARNING", 10)
    code, output = run_pack(files)
    assert code == 0, output
    assert "the pack has 12 pages" in output and "--child ID" in output


def test_cli_pdf_is_made_or_the_user_is_told_why_not(files: Path) -> None:
    code, output = run_pack(files, "--pdf")
    assert code == 0, output
    assert (files / "pack.html").exists()
    if panel_pack.find_chromium() is None:
        assert not (files / "pack.pdf").exists()
        assert "No PDF was made" in output
        assert "no Chromium or Google Chrome was found" in output
        assert html_to_pdf(files / "pack.html", files / "again.pdf") is False
    else:
        assert (files / "pack.pdf").read_bytes().startswith(b"%PDF-")
        assert "PDF written to" in output


def test_cli_pdf_with_a_chromium_on_path(
    files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_chromium(tmp_path / "bin", works=True)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    code, output = run_pack(files, "--pdf", "--child", "C001")
    assert code == 0, output
    assert (files / "pack.pdf").read_bytes() == b"%PDF-1.4 fake"
    assert "PDF written to" in output


def move_to_leeds(folder: Path) -> None:
    """Move the example round from Suffolk onto the tiny network's few streets in Leeds."""
    for name in ("children.csv", "settings.csv"):
        path = folder / name
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header, rows = list(reader.fieldnames or []), list(reader)
        for row in rows:
            if not row["latitude"]:  # given as easting/northing: put it in Leeds too
                row["latitude"], row["longitude"] = "52.25", "0.75"
                row["easting"] = row["northing"] = ""
            lat = 53.7975 + (float(row["latitude"]) - 52.245) * 0.2
            lon = -1.545 + (float(row["longitude"]) - 0.715) * 0.3
            row["latitude"], row["longitude"] = f"{lat:.5f}", f"{lon:.5f}"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)


def test_cli_with_the_tiny_network_draws_roads_on_every_map(files: Path, tmp_path: Path) -> None:
    move_to_leeds(files)
    code, output = run_pack(files, "--osm", str(TINY_OSM), "--cache-dir", str(tmp_path / "c"))
    assert code == 0, output
    assert "Travel-time model: road network: OpenStreetMap extract tiny_drive.osm" in output
    html = (files / "pack.html").read_text(encoding="utf-8")
    pages = sections(html)
    assert list(pages) == child_ids(files)
    for page in pages.values():
        assert re.search(r'<path class="road[^"]*" d="M', page), "roads on the map"
        assert "Travel times: road network: OpenStreetMap extract tiny_drive.osm" in page
