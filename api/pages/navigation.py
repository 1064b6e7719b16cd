"""The service navigation: each role is offered only the pages it may use.

A page module registers its entry once, at import, with the roles its route admits
(:func:`register`); the layout shows a user the entries of their role, in registration order,
so no link ever ends in "your role does not allow this".
"""

from __future__ import annotations

from dataclasses import dataclass

from api.db import Role


@dataclass(frozen=True)
class NavEntry:
    """One link of the service navigation."""

    text: str
    href: str
    roles: frozenset[Role]
    #: One sentence for the home page's list of what the user can do.
    description: str = ""
    #: Sorts the entries (lower first); entries of equal order keep registration order.
    order: int = 50


_ENTRIES: list[NavEntry] = []


def register(
    text: str, href: str, roles: tuple[Role, ...], description: str = "", order: int = 50
) -> NavEntry:
    """Add a navigation entry (once per href: registering again replaces it)."""
    entry = NavEntry(
        text=text, href=href, roles=frozenset(roles), description=description, order=order
    )
    _ENTRIES[:] = [e for e in _ENTRIES if e.href != href]
    _ENTRIES.append(entry)
    _ENTRIES.sort(key=lambda e: e.order)
    return entry


def entries_for(role: Role) -> list[NavEntry]:
    return [e for e in _ENTRIES if role in e.roles]


def navigation_items(role: Role, path: str) -> list[dict[str, object]]:
    """The service navigation component's ``navigation`` items for ``role`` on ``path``: the
    entry with the longest href that starts the path is the current one."""
    entries = entries_for(role)
    matches = [e for e in entries if path == e.href or path.startswith(e.href.rstrip("/") + "/")]
    current = max(matches, key=lambda e: len(e.href), default=None)
    return [
        {
            "text": e.text,
            "href": e.href,
            "active": e is current and path != e.href,
            "current": e is current and path == e.href,
        }
        for e in entries
    ]
