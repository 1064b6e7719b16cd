"""Problems with a structured file (a scenario, an assumptions file), located by field path.

Scenarios (:mod:`matcher.planning`) and forecast assumptions (:mod:`matcher.forecast.knobs`)
are YAML or JSON files that a planner writes by hand and pydantic validates. Both report what
is wrong the same way, "file: edits[2].total_places: must be 0 or more", so both take their
problem type and the turning of a pydantic error into a field path from here. This module
imports nothing of sendmatch's, so that the forecast model never loads the placement engine
to report a typo.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

#: A model validator's problem with one field is located at the model; a message starting
#: "@field: " (or "@edits[2].site: ") is moved to that field by :func:`error_location`.
AT_FIELD = re.compile(r"^@([A-Za-z_][\w.\[\]]*): ")


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a file, located by file name and the path to the field."""

    file: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.field is None else f"{self.file}: {self.field}"
        return f"{where}: {self.message}"


ProblemT = TypeVar("ProblemT", bound=FieldProblem)


class FieldProblems(Exception, Generic[ProblemT]):
    """Raised with every problem found, so that a planner fixes a file in one pass."""

    def __init__(self, problems: Sequence[ProblemT]) -> None:
        self.problems: list[ProblemT] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def plain_message(err: Mapping[str, Any]) -> str:
    """A pydantic error's message without pydantic's "Value error, " prefix."""
    return str(err["msg"]).removeprefix("Value error, ")


def field_path(loc: Sequence[int | str], tags: Collection[str] = ()) -> str | None:
    """``("edits", 2, "new_setting", "total_places")`` → ``edits[2].total_places``.

    ``tags`` are the discriminator tags pydantic puts after a list index: the planner wrote
    ``edits[2]`` and its ``kind``, not a path through the tag, so a tag there is dropped. A
    dictionary's bad key is shown as ``... (key)``.
    """
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif isinstance(previous, int) and item in tags:
            pass
        elif item == "[key]":
            parts.append(" (key)")
        else:
            parts.append(f".{item}" if parts else str(item))
        previous = item
    return "".join(parts) or None


def at_field(path: str | None, message: str) -> tuple[str | None, str]:
    """(path, message), with a message ``"@field: ..."`` moved to ``field`` under ``path``."""
    located = AT_FIELD.match(message)
    if located:
        inner = located.group(1)
        return (f"{path}.{inner}" if path else inner), message[located.end() :]
    return path, message


def error_location(err: Mapping[str, Any], tags: Collection[str] = ()) -> tuple[str | None, str]:
    """(field path, message) of a pydantic error, with an ``@field:`` message moved there."""
    return at_field(field_path(err["loc"], tags), plain_message(err))
