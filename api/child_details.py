"""Who a child is, kept with the run's result: needs, NC year, EHCP, requirements, current setting.

The child page must say who the child is so a panel can check a setting's suitability. A run's
stored result held only the outcome and the tailored list, so these facts are copied from the
caseload into each result as the run is saved (:func:`add_child_details`: about 200 bytes of
JSON a child, beside kilobytes of tailored list). Re-reading the caseload for each page instead
costs seconds and hundreds of megabytes for a 60,000-child LA (measured in the report of the
change that added this module), per run and per server process.

Runs saved before this existed have no ``child`` entry; :func:`details_of` then reads the
run's caseload once (kept for a few caseloads) and answers from that.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from api.caseload_cache import database_of
from api.db import Caseload, Run
from matcher.caseload_files import load_settings
from matcher.garbage_collection import paused_garbage_collection
from matcher.input_tables import InputError
from matcher.models import Child, Setting

#: Caseloads whose details (and setting names) are kept in memory for runs saved without them.
CACHED_CASELOADS = 2
#: Caseloads whose settings' names are kept in memory (a few hundred names each).
CACHED_NAME_LISTS = 16


def child_details(child: Child, setting_names: Mapping[str, str]) -> dict[str, Any]:
    """The facts about a child a panel reads, as plain JSON (codes; the page words them)."""
    current = child.current_setting
    return {
        "primary_need": child.primary_need.value,
        "secondary_needs": _codes(child.secondary_needs),
        "nc_year": child.nc_year,
        "has_ehcp": child.has_ehcp,
        "requirements": _codes(child.requirements),
        "suitable_kinds": None if child.suitable_kinds is None else _codes(child.suitable_kinds),
        "default_kinds": _codes(child.effective_suitable_kinds),
        "current_setting": current,
        "current_setting_name": None if current is None else setting_names.get(current),
        "preferences": list(child.preferences),
    }


@cache
def _codes(values: frozenset[StrEnum]) -> list[str]:
    """Sorted codes of a set of needs, requirements or kinds: a whole LA's children share a
    few hundred such sets, so each is sorted once (the lists are only read, then stored)."""
    return sorted(v.value for v in values)


def add_child_details(
    rows: Iterable[dict[str, Any]], children: Sequence[Child], settings: Sequence[Setting]
) -> None:
    """Store each child's :func:`child_details` in its result row (``result["child"]``).

    Tens of thousands of small dicts, none of them garbage: with the collector running, its
    passes over the run's large heap took 90% of the time (2 s of 2.2 s for 60,000 children).
    """
    names = {s.urn: s.name for s in settings}
    by_id = {c.child_id: c for c in children}
    with paused_garbage_collection():
        for row in rows:
            row["result"]["child"] = child_details(by_id[row["child_id"]], names)


class CaseloadFacts:
    """A caseload's children's details and its settings' names, read once from its files."""

    def __init__(self, caseload: Caseload) -> None:
        from api.jobs import caseload_inputs  # the run machinery, only for old runs

        inputs = caseload_inputs(caseload)
        self.setting_names = {s.urn: s.name for s in inputs.settings}
        self.children = {c.child_id: c for c in inputs.children}

    def details(self, child_id: str) -> dict[str, Any] | None:
        child = self.children.get(child_id)
        return None if child is None else child_details(child, self.setting_names)


_cache: OrderedDict[tuple[str, int], CaseloadFacts] = OrderedDict()
_lock = threading.Lock()


def caseload_facts(session: Session, caseload_id: int) -> CaseloadFacts:
    """The caseload's facts, from memory when read recently (a caseload never changes)."""
    key = (database_of(session), caseload_id)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    facts = CaseloadFacts(session.get_one(Caseload, caseload_id))
    with _lock:
        _cache[key] = facts
        while len(_cache) > CACHED_CASELOADS:
            _cache.popitem(last=False)
    return facts


def details_of(session: Session, run: Run, result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The child's details: stored with the result, or (older runs) from the run's caseload."""
    stored = result.get("child")
    if isinstance(stored, dict):
        return stored
    if run.caseload_id is None:
        return None
    return caseload_facts(session, run.caseload_id).details(str(result["child_id"]))


_names: OrderedDict[tuple[str, int], dict[str, str]] = OrderedDict()


def setting_names(session: Session, caseload_id: int | None) -> dict[str, str]:
    """Every setting's name by URN in a caseload, so decisions and the audit name settings.

    Only the settings file is read (hundreds of rows, not the children), once per caseload
    while it is among the last :data:`CACHED_NAME_LISTS` used. A file that no longer reads
    (it read at upload, so only a change of rules could do this) gives no names: the pages
    then show the URN.
    """
    if caseload_id is None:
        return {}
    key = (database_of(session), caseload_id)
    with _lock:
        if key in _names:
            _names.move_to_end(key)
            return _names[key]
    caseload = session.get_one(Caseload, caseload_id)
    with tempfile.TemporaryDirectory(prefix="sendmatch-names-") as tmp:
        path = Path(tmp) / (Path(caseload.settings_name).name or "settings.csv")
        path.write_bytes(caseload.settings_data)
        try:
            names = {s.urn: s.name for s in load_settings(path)}
        except InputError:
            names = {}
    with _lock:
        _names[key] = names
        while len(_names) > CACHED_NAME_LISTS:
            _names.popitem(last=False)
    return names
