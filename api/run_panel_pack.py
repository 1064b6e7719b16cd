"""The panel pack of a stored placement run: the same pages as ``sendmatch panel-pack``.

``matcher.panel_pack.render_panel_pack`` lays out tailored lists; the command line computes
them, a run has stored them (``run_results``, one JSON document per child). Here the stored
documents become the same objects again (:func:`stored_list`, :func:`stored_placement`), and
the children's and settings' records come from the run's caseload, re-read with the reader
the run used, so every page (needs, current setting, map) is what the command line prints for
the same round. Nothing is recomputed: the pack shows what the run proposed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.caseload_cache import recent_caseload_inputs
from api.db import Caseload, Run, RunResult
from matcher.eligibility import EXCLUSION_TEXT
from matcher.models import PlacementKind, ProvisionKind
from matcher.panel_pack import (
    MAX_EXCLUDED_SHOWN,
    find_chromium,
    html_to_pdf,
    render_panel_pack,
    write_panel_pack,
)
from matcher.placement import ChildPlacement, PlacementResult, PlacementSummary
from matcher.system_prices import MarginalCost
from matcher.tailored import ExcludedSetting, ListedOption, PreferenceStatement, TailoredList

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

#: Children one pack from the page may hold: a long panel meeting's agenda. The command line
#: warns above 200 pages; a browser download waits for the whole pack, so the page asks less.
MAX_PACK_CHILDREN = 100


@dataclass(frozen=True)
class PanelPack:
    html: str
    children: int


def stored_list(child_id: str, stored: Mapping[str, Any]) -> TailoredList:
    """A stored tailored list (``api.jobs.tailored_list_record``) as the matcher's object."""
    return TailoredList(
        child_id=child_id,
        proposed_urn=next((o["urn"] for o in stored["options"] if o["proposed"]), None),
        options=tuple(
            ListedOption(
                urn=o["urn"],
                name=o["name"],
                setting_type=o["setting_type"],
                placement_kind=PlacementKind(o["placement_kind"]),
                provision=o["provision"],
                needs_matched=tuple(o["needs_matched"]),
                minutes=o["minutes"],
                places_left=o["places_left"],
                placement_cost=o["placement_cost"],
                transport_cost=o["transport_cost"],
                preference_rank=o["preference_rank"],
                proposed=o["proposed"],
                marginal=None if o["marginal"] is None else MarginalCost(**o["marginal"]),
                why_listed=o["why_listed"],
            )
            for o in stored["options"]
        ),
        excluded=tuple(
            ExcludedSetting(
                urn=e["urn"],
                name=e["name"],
                setting_type=e["setting_type"],
                minutes=e["minutes"],
                preference_rank=e["preference_rank"],
                reasons=tuple(e["reasons"]),
            )
            for e in stored["excluded"]
        ),
        preferences=tuple(
            PreferenceStatement(
                rank=p["rank"],
                urn=p["urn"],
                name=p["name"],
                met=p["met"],
                ground=p["ground"],
                evidence=p["evidence"],
            )
            for p in stored["preferences"]
        ),
        excluded_not_shown=stored.get("excluded_not_shown", 0),
        excluded_not_shown_reasons=tuple(
            (r["reason"], r["count"]) for r in stored.get("excluded_not_shown_reasons", [])
        ),
    )


def stored_placement(result: Mapping[str, Any]) -> ChildPlacement:
    """A stored placement record (``matcher.io.placement_records``) as the matcher's object."""
    kind, provision = result.get("placement_kind"), result.get("provision")
    return ChildPlacement(
        child_id=result["child_id"],
        setting_urn=result["setting_urn"],
        setting_name=result["setting_name"],
        placement_kind=None if kind is None else PlacementKind(kind),
        provision=None if provision is None else ProvisionKind(provision),
        preference_rank=result["preference_rank"],
        minutes=result["travel_minutes"],
        placement_cost=result["placement_cost"],
        transport_cost=result["transport_cost"],
        out_of_area=result["out_of_area"] == "yes",
        reason=result["reason"],
    )


def stored_panel_pack(
    session: Session,
    run: Run,
    child_ids: Sequence[str],
    network: RoadNetwork | None,
    generated: date | None = None,
) -> PanelPack:
    """The pack of ``child_ids`` (in that order; ids not in the run are skipped)."""
    rows = session.execute(
        select(RunResult.child_id, RunResult.result).where(
            RunResult.run_id == run.id, RunResult.child_id.in_(list(child_ids))
        )
    )
    results = {child_id: result for child_id, result in rows}
    wanted = [c for c in dict.fromkeys(child_ids) if c in results]
    lists = [
        as_the_command_line_lists(stored_list(c, results[c].get("tailored_list") or _empty_list()))
        for c in wanted
    ]
    inputs = recent_caseload_inputs(session.get_one(Caseload, run.caseload_id), network)
    summary: dict[str, Any] = dict(run.summary or {})
    plan = PlacementResult(
        placements=tuple(stored_placement(results[c]) for c in wanted),
        # The pages read the placements only; the summary is the run's, as stored.
        summary=PlacementSummary(**{f.name: summary.get(f.name) for f in fields(PlacementSummary)}),  # type: ignore[arg-type]
    )
    html = render_panel_pack(
        lists,
        inputs.children,
        inputs.settings,
        network,
        str(summary.get("travel_model", "")),
        plan=plan,
        generated=generated,
    )
    return PanelPack(html=html, children=len(lists))


def as_the_command_line_lists(tailored: TailoredList) -> TailoredList:
    """The list as ``sendmatch panel-pack`` makes it: exclusions cut to the pack's
    :data:`~matcher.panel_pack.MAX_EXCLUDED_SHOWN` (a run stores more), the rest counted by
    reason in the matcher's order of reasons."""
    keep = [
        k < MAX_EXCLUDED_SHOWN or e.preference_rank is not None
        for k, e in enumerate(tailored.excluded)
    ]
    if all(keep):
        return tailored
    counts = dict(tailored.excluded_not_shown_reasons)
    for e, kept in zip(tailored.excluded, keep, strict=True):
        if not kept:
            for reason in e.reasons:
                counts[reason] = counts.get(reason, 0) + 1
    order = {text: n for n, text in enumerate(EXCLUSION_TEXT.values())}
    return replace(
        tailored,
        excluded=tuple(e for e, kept in zip(tailored.excluded, keep, strict=True) if kept),
        excluded_not_shown=tailored.excluded_not_shown + keep.count(False),
        excluded_not_shown_reasons=tuple(
            sorted(counts.items(), key=lambda item: order.get(item[0], len(order)))
        ),
    )


def _empty_list() -> dict[str, Any]:
    return {"options": [], "excluded": [], "preferences": []}


def pack_pdf(html: str) -> bytes | None:
    """The pack printed by headless Chromium, or None where none is installed (or it failed)."""
    if find_chromium() is None:
        return None
    with tempfile.TemporaryDirectory(prefix="sendmatch-pack-") as folder:
        source, target = Path(folder) / "panel-pack.html", Path(folder) / "panel-pack.pdf"
        write_panel_pack(html, source)
        if not html_to_pdf(source, target, timeout=300.0):
            return None
        return target.read_bytes()
