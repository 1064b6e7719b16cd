"""``sendmatch tailored-lists`` and ``sendmatch panel-pack``: what a placement panel reads.

Both solve the round as ``place`` does (:func:`matcher.pipeline.prepare_round`), then price
every child's options against the LA-wide plan (:mod:`matcher.tailored`); the pack lays the
lists out one child a page (:mod:`matcher.panel_pack`). The solver and the readers are
imported when a command runs, not when ``sendmatch`` starts.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from matcher.cli_options import (
    CacheDirOption,
    ChildrenOption,
    LaCodeOption,
    OsmOption,
    PrimaryLimitOption,
    SecondaryLimitOption,
    SettingsOption,
    TariffsOption,
    YearStartOption,
    refuse_outputs,
    round_console,
    round_options,
)

LISTS_HELP = (
    "Write each child's tailored list: the suitable settings across mainstream, resourced "
    "provision, special, independent and AP, each with its journey, places left, annual cost "
    "and its marginal system cost (what naming it would do to the LA-wide optimal plan: "
    "children left unplaced, other children's preferences, minutes, pounds); every excluded "
    "setting within reach with its reasons; and, for each parental preference the plan does "
    "not meet, its section 39 ground and the evidence.\n\n"
    "XLSX: sheets Options, Excluded, Preferences. CSV: three files (FILE, FILE_excluded.csv, "
    "FILE_preferences.csv)."
)


def tailored_lists_command(
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Where to write the lists.")],
    child: Annotated[
        str | None,
        typer.Option("--child", metavar="ID", help="Only this child's list (pseudonymous id)."),
    ] = None,
    max_options: Annotated[
        int,
        typer.Option(
            "--max-options",
            min=1,
            help="Settings listed besides the proposed one and every parental preference.",
        ),
    ] = 8,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            "--max-minutes",
            min=1,
            help="Only list settings within this journey (preferences are always listed).",
        ),
    ] = None,
    max_excluded: Annotated[
        int | None,
        typer.Option(
            "--max-excluded",
            min=0,
            help="Excluded settings listed per child, nearest first (the rest are counted by "
            "reason). Default: 10 for a whole caseload, all with --child.",
            show_default=False,
        ),
    ] = None,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """``sendmatch tailored-lists``: solve the round, price every option, write the lists."""
    from matcher import io
    from matcher.tailored import TailoredListConfig, TailoredListModel

    console, errors = Console(), Console(stderr=True)
    options = round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    refuse_outputs(options, [out], errors)
    if max_excluded is None:
        max_excluded = None if child is not None else 10
    list_config = TailoredListConfig(
        max_options=max_options,
        max_minutes=max_minutes,
        max_excluded=max_excluded,
    )
    with round_console(errors) as run, _records_kept_uncollected():
        prepared = run.prepare(options)
        inputs = prepared.inputs
        model = TailoredListModel(
            inputs.children, inputs.settings, prepared.travel.matrix, prepared.config, run.stage
        )
        if child is not None and child not in model.index:
            run.fail(
                f"[bold red]No child with id {escape(child)!r}[/] in "
                f"{escape(children.name)}. Nothing was written."
            )
        wanted = [model.index[child]] if child is not None else None
        lists = model.lists(wanted, list_config, progress=run.stage)
        written = run.write(out, lambda: io.write_tailored_lists(lists, out))
        run.stage.done()
    options_listed = sum(len(tl.options) for tl in lists)
    unmet = sum(1 for tl in lists for p in tl.preferences if not p.met and p.ground != "not needed")
    console.print(
        f"Tailored lists for {len(lists):,} children: {options_listed:,} options listed, "
        f"{unmet:,} parental preferences not met, each with its ground. "
        f"Travel-time model: {escape(prepared.travel.matrix.model)}.",
        soft_wrap=True,
    )
    console.print("Written: " + ", ".join(escape(str(p)) for p in written), soft_wrap=True)


PACK_HELP = (
    "Write the panel pack: one page per child, ready to project or print in a placement panel "
    "meeting. Each page has the child's needs, the proposed setting and why, the tailored "
    "list of options with their costs, the parents' preferences with their section 39 "
    "grounds, the settings ruled out and why, and a map of home and options on the road "
    "network.\n\n"
    "One self-contained HTML file (FILE.html): it opens in any browser, offline, and prints "
    "one child per A4 landscape page. With --pdf, also FILE.pdf, if Chromium or Google Chrome "
    "is installed. The pack holds special-category data: every page is marked "
    "OFFICIAL-SENSITIVE."
)
#: A pack longer than this is more than a panel meets on: the command suggests --child.
PANEL_PACK_PAGES_WARNING = 200


def panel_pack_command(
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where to write the pack (.html).")
    ],
    child: Annotated[
        list[str] | None,
        typer.Option(
            "--child",
            metavar="ID",
            help="Only this child (pseudonymous id); repeat for each child on the panel's "
            "agenda. Default: every child in the file.",
            show_default=False,
        ),
    ] = None,
    pdf: Annotated[
        bool,
        typer.Option(
            "--pdf",
            help="Also print the pack to FILE.pdf with Chromium or Google Chrome, if one is "
            "installed (nothing is installed or downloaded).",
        ),
    ] = False,
    max_options: Annotated[
        int,
        typer.Option(
            "--max-options",
            min=1,
            help="Settings listed besides the proposed one and every parental preference.",
        ),
    ] = 8,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """``sendmatch panel-pack``: solve the round, list each child's options, lay out pages."""
    from matcher.panel_pack import (
        CHROMIUM_NAMES,
        MAX_EXCLUDED_SHOWN,
        find_chromium,
        html_to_pdf,
        render_panel_pack,
        write_panel_pack,
    )
    from matcher.tailored import TailoredListConfig, TailoredListModel

    console, errors = Console(), Console(stderr=True)
    options = round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    pdf_out = out.with_suffix(".pdf")
    # The pack is HTML (and PDF), not a table file.
    refuse_outputs(options, [out], errors, (".html", ".htm"))
    if pdf:
        refuse_outputs(options, [pdf_out], errors, (".pdf",))
    wanted_ids = list(dict.fromkeys(child or []))
    list_config = TailoredListConfig(
        max_options=max_options,
        max_excluded=MAX_EXCLUDED_SHOWN,
    )
    with round_console(errors) as run, _records_kept_uncollected():
        prepared = run.prepare(options)
        inputs = prepared.inputs
        known = {c.child_id for c in inputs.children}
        unknown = [c for c in wanted_ids if c not in known]
        if unknown:
            run.fail(
                f"[bold red]No child with id {escape(', '.join(map(repr, unknown)))}[/] in "
                f"{escape(children.name)}. Give ids from its child_id column. Nothing was "
                "written."
            )
        model = TailoredListModel(
            inputs.children, inputs.settings, prepared.travel.matrix, prepared.config, run.stage
        )
        wanted = [model.index[c] for c in wanted_ids] if wanted_ids else None
        lists = model.lists(wanted, list_config, progress=run.stage)
        run.stage(f"laying out {len(lists):,} pages")
        page_text = render_panel_pack(
            lists,
            inputs.children,
            inputs.settings,
            prepared.network,
            prepared.travel.matrix.model,
            plan=model.plan,
        )
        run.write(out, partial(write_panel_pack, page_text, out))
        chromium = find_chromium() if pdf else None
        pdf_made = False
        if chromium is not None:
            run.stage(f"printing {pdf_out.name} with {Path(chromium).name}")
            pdf_made = html_to_pdf(out, pdf_out)
        run.stage.done()

    unmet = sum(1 for tl in lists for p in tl.preferences if not p.met and p.ground != "not needed")
    console.print(
        f"Panel pack for {len(lists):,} children ({unmet:,} parental preferences not met, each "
        f"with its ground) written to [bold]{escape(str(out))}[/]. Open it in a browser; it "
        f"prints one child per page. Travel-time model: {escape(prepared.travel.matrix.model)}.",
        soft_wrap=True,
    )
    if pdf and pdf_made:
        console.print(f"PDF written to [bold]{escape(str(pdf_out))}[/].", soft_wrap=True)
    elif pdf:
        why = (
            f"{Path(chromium).name} could not print it"
            if chromium is not None
            else "no Chromium or Google Chrome was found on this computer (looked for "
            + ", ".join(CHROMIUM_NAMES)
            + ")"
        )
        errors.print(
            f"[bold yellow]No PDF was made:[/] {escape(why)}. Open {escape(out.name)} in a "
            "browser and print it to PDF (landscape) instead.",
            soft_wrap=True,
        )
    if len(lists) > PANEL_PACK_PAGES_WARNING:
        errors.print(
            f"[bold yellow]Warning:[/] the pack has {len(lists):,} pages, one per child. For a "
            "panel meeting, give the children on its agenda with --child ID (repeat it for "
            "each child).",
            soft_wrap=True,
        )


@contextmanager
def _records_kept_uncollected() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a whole round, and what the round made
    then moved to its oldest generation without being walked.

    Why: a whole LA's lists are a million small records, none in a reference cycle. Each
    step that makes them pauses the collector (:mod:`matcher.garbage_collection`), but at a
    pause's end the collector walks everything made in it, a fifth of a second for nothing.
    Frozen at the end instead, they are not walked; unfrozen, they are collected as usual
    when a later command (a test, say) drops them.
    """
    from matcher.garbage_collection import paused_garbage_collection

    try:
        with paused_garbage_collection():
            try:
                yield
            finally:
                gc.freeze()
    finally:
        gc.unfreeze()
