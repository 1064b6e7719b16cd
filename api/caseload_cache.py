"""The last few caseloads read, for the pages that read the same caseload again and again.

Reading a caseload's files takes seconds at a large LA's size (60,000 children), and a
scenario builder, a panel pack or an older run's child page asks for the same caseload many
times in a row. A caseload never changes once stored, so its reading is kept in memory, for
the last :data:`CACHED_CASELOADS` caseloads, shared by every page of the process.

The key is the database as well as the caseload's number and upload time (one process may
serve several databases, as the tests do, and a deleted caseload's number may be given to a
new one), and the road network the reading checked locations against.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, object_session

from api.db import Caseload

if TYPE_CHECKING:
    from geodata.network import RoadNetwork
    from matcher.io import RoundInputs

#: Caseloads kept in memory (each a few tens of MB at 60,000 children).
CACHED_CASELOADS = 2

_inputs: OrderedDict[tuple[Any, ...], RoundInputs] = OrderedDict()
_lock = threading.Lock()


def database_of(session: Session) -> str:
    """Which database a session is on (password hidden), to key what is kept per database."""
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def caseload_key(caseload: Caseload) -> tuple[str, int, Any] | None:
    """Which database, caseload and upload this is; None for a caseload in no session."""
    session = object_session(caseload)
    if session is None:
        return None
    return (database_of(session), caseload.id, caseload.created_at)


def recent_caseload_inputs(caseload: Caseload, network: RoadNetwork | None) -> RoundInputs:
    """The caseload as a run reads it (:func:`api.jobs.caseload_inputs`), from memory when
    read recently."""
    from api.jobs import caseload_inputs  # api.jobs imports api.child_details, which imports us

    where = caseload_key(caseload)
    if where is None:
        return caseload_inputs(caseload, network)
    key = (*where, id(network))
    with _lock:
        if key in _inputs:
            _inputs.move_to_end(key)
            return _inputs[key]
    inputs = caseload_inputs(caseload, network)
    with _lock:
        _inputs[key] = inputs
        while len(_inputs) > CACHED_CASELOADS:
            _inputs.popitem(last=False)
    return inputs
