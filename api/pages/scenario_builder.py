"""The scenario builder's form: a planner's changes turned into the scenario file format.

``sendmatch scenario compare`` reads a scenario file (:mod:`matcher.planning`); the builder
writes exactly that file, so a scenario made on the page can be downloaded, kept, edited and
compared again on the command line. Every change is checked by the file format's own parser
(:func:`matcher.planning.parse_scenario`) and against the caseload's settings
(:func:`matcher.planning.apply_scenario`), so the page never accepts a change the file would
refuse.

The changes made so far travel with each form as a hidden field (``draft``: JSON, the edits as
the file writes them), so the builder keeps nothing on the server between requests and a
planner can add several changes before downloading or running; the draft is re-checked on
every request, since it comes back from the browser.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from geodata.postcodes import PostcodeError, PostcodeFile, PostcodeFileError, normalise_postcode
from matcher.io import RoundInputs
from matcher.models import Setting, SettingType
from matcher.needs import PrimaryNeed
from matcher.planning import ScenarioError, ScenarioProblem, apply_scenario, parse_scenario

#: Where the server's postcode file is (the ONS Postcode Directory CSV, or Code-Point Open).
POSTCODES_VARIABLE = "SENDMATCH_POSTCODES"
#: Changes one built scenario may hold: far more than a planning question needs.
MAX_CHANGES = 50
#: The hidden draft's largest size in characters (50 changes are a few kilobytes).
MAX_DRAFT_CHARS = 100_000
#: Kinds of new setting the form offers, in the words a planner uses.
NEW_SETTING_TYPES = {
    SettingType.SPECIAL.value: "Special school",
    SettingType.MAINSTREAM.value: "Mainstream school",
    SettingType.ALTERNATIVE_PROVISION.value: "Alternative provision",
    SettingType.INDEPENDENT_SPECIAL.value: "Independent special school",
}
#: The form's fields of each kind of change, by the file's field name.
NEW_SETTING_FIELDS = {
    "name": "setting-name",
    "setting_type": "setting-type",
    "location": "postcode",
    "location.latitude": "latitude",
    "location.longitude": "longitude",
    "site": "postcode",
    "low_age": "low-age",
    "high_age": "high-age",
    "designated_needs": "needs",
    "total_places": "total-places",
    "opening_year": "opening-year",
    "annual_fee": "annual-fee",
}
CHANGE_FIELDS = {"urn": "change-urn", "total_places": "change-places"}
CLOSURE_FIELDS = {"urn": "close-urn"}
PROVISION_FIELDS = {
    "urn": "provision-urn",
    "designated_needs": "provision-needs",
    "places": "provision-places",
}
FIRST_FIELD = {
    "new_setting": "setting-name",
    "change_places": "change-urn",
    "closure": "close-urn",
    "new_resourced_provision": "provision-urn",
}
FIELDS_OF = {
    "new_setting": NEW_SETTING_FIELDS,
    "change_places": CHANGE_FIELDS,
    "closure": CLOSURE_FIELDS,
    "new_resourced_provision": PROVISION_FIELDS,
}


class DraftError(ValueError):
    """The hidden draft did not come back as the page wrote it."""


@dataclass
class Change:
    """One change of the draft: the edit as the file writes it, and the postcode it was
    placed by (shown on the page and noted in the file, which holds the point)."""

    edit: dict[str, Any]
    postcode: str | None = None


@dataclass
class Checked:
    """The outcome of a form: the changes (with the new one if it passed) and the problems,
    each with the id of the field it belongs to."""

    changes: list[Change]
    field_errors: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"text": text, "href": f"#{f}"} for f, text in self.field_errors.items()]


# --------------------------------------------------------------------------------------------
# The draft


def read_draft(text: str) -> list[Change]:
    """The changes a form sent back; :class:`DraftError` if they are not a list of edits."""
    if not text.strip():
        return []
    if len(text) > MAX_DRAFT_CHARS:
        raise DraftError("the scenario has too many changes")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raise DraftError("the scenario's changes could not be read") from None
    if not isinstance(raw, list) or len(raw) > MAX_CHANGES:
        raise DraftError("the scenario's changes could not be read")
    changes = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("edit"), dict):
            raise DraftError("the scenario's changes could not be read")
        postcode = item.get("postcode")
        changes.append(Change(item["edit"], postcode if isinstance(postcode, str) else None))
    return changes


def write_draft(changes: Sequence[Change]) -> str:
    return json.dumps([{"edit": c.edit, "postcode": c.postcode} for c in changes])


def scenario_document(name: str, description: str, changes: Sequence[Change]) -> dict[str, Any]:
    """The scenario file's mapping: name, description (if any) and the edits in order."""
    document: dict[str, Any] = {"name": name}
    if description:
        document["description"] = description
    document["edits"] = [c.edit for c in changes]
    return document


def scenario_file_text(name: str, description: str, changes: Sequence[Change]) -> str:
    """The scenario file as YAML, with a note of each site placed by postcode."""
    notes = [
        f"# {c.edit.get('name', 'new setting')}: placed at postcode {c.postcode}"
        for c in changes
        if c.postcode
    ]
    head = [
        "# A sendmatch scenario, written by the scenario builder.",
        "# Compare it with: sendmatch scenario compare --scenario THIS_FILE ...",
        *notes,
    ]
    body = yaml.safe_dump(
        scenario_document(name, description, changes),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
    )
    return "\n".join(head) + "\n" + body


def file_name(name: str) -> str:
    """A safe file name from the scenario's name: letters, digits and dashes."""
    stem = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    stem = "-".join(part for part in stem.split("-") if part)[:60]
    return f"{stem or 'scenario'}.yaml"


# --------------------------------------------------------------------------------------------
# Postcodes


@lru_cache(maxsize=2)
def _postcode_file(path: str) -> PostcodeFile:
    return PostcodeFile(path)


_lookup_lock = threading.Lock()


def postcode_source() -> str | None:
    """The server's postcode file, if it has one (``SENDMATCH_POSTCODES``)."""
    path = os.environ.get(POSTCODES_VARIABLE, "").strip()
    return path or None


def locate_postcode(postcode: str) -> tuple[float, float] | str:
    """(latitude, longitude) of a postcode, or what is wrong, in words for the form."""
    try:
        key = normalise_postcode(postcode)
    except PostcodeError:
        return "Enter a real postcode, like SW1A 1AA"
    source = postcode_source()
    if source is None:
        return (
            "This server cannot look postcodes up: click the map or enter the latitude and "
            f"longitude, or ask your administrator to set {POSTCODES_VARIABLE} to the ONS "
            "Postcode Directory or Code-Point Open file"
        )
    try:
        with _lookup_lock:  # one pass over a large file at a time
            point = _postcode_file(source).locate(key)
    except PostcodeError as err:
        return f"{key} cannot be placed: {err}"
    except (PostcodeFileError, OSError):
        return (
            "The server's postcode file cannot be read: click the map or enter the latitude "
            "and longitude"
        )
    return point.latitude, point.longitude


# --------------------------------------------------------------------------------------------
# Forms to edits


def _whole(value: str) -> int | str | None:
    """A typed whole number as an int; blank as None; anything else as typed, for the parser
    to refuse in its own words."""
    text = value.strip().replace(",", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _number(value: str) -> float | str | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def new_setting_edit(
    form: Mapping[str, Any], needs: Sequence[str]
) -> tuple[dict[str, Any], str | None, dict[str, str]]:
    """The ``new_setting`` edit the form describes, the postcode it was placed by, and the
    form's own problems (blank or not-a-number fields, a postcode that cannot be placed)."""
    problems: dict[str, str] = {}
    edit: dict[str, Any] = {"kind": "new_setting"}
    name = str(form.get("setting_name", "")).strip()
    if not name:
        problems["setting-name"] = "Enter the name of the new setting"
    edit["name"] = name
    edit["setting_type"] = str(form.get("setting_type", "")) or SettingType.SPECIAL.value
    postcode = str(form.get("postcode", "")).strip() or None
    lat, lon = _number(str(form.get("latitude", ""))), _number(str(form.get("longitude", "")))
    if postcode:
        found = locate_postcode(postcode)
        if isinstance(found, str):
            problems["postcode"] = found
            lat = lon = None
        else:
            lat, lon = round(found[0], 6), round(found[1], 6)
            postcode = normalise_postcode(postcode)
    elif lat is None or lon is None:
        problems["postcode"] = (
            "Enter the postcode of the site, or click the map, or enter its latitude and longitude"
        )
    if lat is not None and lon is not None:
        edit["location"] = {"latitude": lat, "longitude": lon}
    labels = {"low_age": ("low-age", "youngest age"), "high_age": ("high-age", "oldest age")}
    for key, (field_id, words) in {**labels, "total_places": ("total-places", "")}.items():
        value = _whole(str(form.get(key, "")))
        if value is None:
            problems[field_id] = (
                "Enter the number of places" if key == "total_places" else f"Enter the {words}"
            )
        else:
            edit[key] = value
    edit["designated_needs"] = sorted(set(needs))
    for key in ("opening_year", "annual_fee"):
        value = _whole(str(form.get(key, "")))
        if value is not None:
            edit[key] = value
    return edit, postcode, problems


def change_places_edit(urn: str, places: str) -> tuple[dict[str, Any], dict[str, str]]:
    problems = {}
    if not urn:
        problems["change-urn"] = "Select the setting whose places change"
    value = _whole(places)
    if value is None:
        problems["change-places"] = "Enter the setting's new number of places"
    edit = {"kind": "change_places", "urn": urn, "total_places": value}
    return edit, problems


def closure_edit(urn: str) -> tuple[dict[str, Any], dict[str, str]]:
    problems = {} if urn else {"close-urn": "Select the setting that closes"}
    return {"kind": "closure", "urn": urn}, problems


def provision_edit(
    urn: str, needs: Sequence[str], places: str
) -> tuple[dict[str, Any], dict[str, str]]:
    problems = {}
    if not urn:
        problems["provision-urn"] = "Select the mainstream school that gains the provision"
    if not needs:
        problems["provision-needs"] = "Select the needs the provision is for"
    value = _whole(places)
    if value is None:
        problems["provision-places"] = "Enter the number of places in the provision"
    edit = {
        "kind": "new_resourced_provision",
        "urn": urn,
        "designated_needs": sorted(set(needs)),
        "places": value,
    }
    return edit, problems


# --------------------------------------------------------------------------------------------
# Checking with the file format's parser


def field_of(problem: ScenarioProblem, kind: str) -> tuple[int | None, str | None]:
    """The change a parser problem is about (its index) and the form field it names."""
    path = problem.field or ""
    if not path.startswith("edits["):
        return None, None
    index_text, _, rest = path[len("edits[") :].partition("]")
    if not index_text.isdigit():
        return None, None
    rest = rest.lstrip(".")
    key = rest.split(".")[0].split("[")[0]
    fields = FIELDS_OF.get(kind, {})
    return int(index_text), fields.get(rest, fields.get(key, FIRST_FIELD.get(kind)))


def scenario_problems(
    changes: Sequence[Change], inputs: RoundInputs | None, name: str = "draft"
) -> list[ScenarioProblem]:
    """Every problem the scenario file format finds in these changes: the parser's, then the
    checks against the caseload's settings (URNs that exist, provisions on mainstream
    schools) that ``sendmatch scenario compare`` makes once it has read the round."""
    document = scenario_document(name, "", changes)
    try:
        scenario = parse_scenario(document, "the scenario")
    except ScenarioError as err:
        return list(err.problems)
    if inputs is not None:
        try:
            apply_scenario(inputs.children, inputs.settings, scenario, source="the scenario")
        except ScenarioError as err:
            return list(err.problems)
    return []


def add_change(
    changes: list[Change],
    edit: dict[str, Any],
    form_problems: dict[str, str],
    inputs: RoundInputs | None,
    labels: Mapping[str, str],
    postcode: str | None = None,
) -> Checked:
    """The draft with ``edit`` added if the form and the parser both accept it; otherwise the
    draft unchanged and each problem at its form field (``labels`` names the fields)."""
    kind = str(edit["kind"])
    if len(changes) >= MAX_CHANGES:
        return Checked(
            changes, {FIRST_FIELD[kind]: f"A scenario holds at most {MAX_CHANGES} changes"}
        )
    if form_problems:
        return Checked(changes, form_problems)
    candidate = [*changes, Change(edit, postcode)]
    problems: dict[str, str] = {}
    for problem in scenario_problems(candidate, inputs):
        index, field_id = field_of(problem, kind)
        if index == len(changes) and field_id is not None:
            problems.setdefault(field_id, _at_field(labels.get(field_id, ""), problem.message))
        else:
            problems.setdefault(FIRST_FIELD[kind], _sentence(problem.message))
    if problems:
        return Checked(changes, problems)
    return Checked(candidate)


#: The parser's words for a number out of range, as a form's error message says them.
_PLAIN_NUMBERS = (
    (re.compile(r"^Input should be greater than or equal to (\S+)$"), r"must be \1 or more"),
    (re.compile(r"^Input should be less than or equal to (\S+)$"), r"must be \1 or less"),
    (re.compile(r"^Input should be greater than (\S+)$"), r"must be more than \1"),
    (re.compile(r"^Input should be less than (\S+)$"), r"must be less than \1"),
    (re.compile(r"^Input should be a valid integer.*$"), "must be a whole number"),
    (re.compile(r"^Input should be a valid number.*$"), "must be a number"),
)


def _at_field(label: str, message: str) -> str:
    """A parser problem as a GOV.UK error message naming the field: "Places must be 0 or
    more"; a message the form cannot say better is kept, after the field's name."""
    for pattern, words in _PLAIN_NUMBERS:
        if pattern.match(message):
            return f"{label or 'This'} {pattern.sub(words, message)}"
    return _sentence(f"{label}: {message}" if label else message)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# The map of the LA's settings


MAP_WIDTH, MAP_MARGIN = 800, 30


@dataclass(frozen=True)
class SiteMap:
    """The LA's settings projected for the builder's SVG, and the numbers a click needs to
    turn a point back into latitude and longitude (written on the SVG for our script)."""

    height: int
    west: float
    north: float
    scale: float
    squash: float
    settings: list[tuple[float, float, Setting]]
    new_sites: list[tuple[float, float, str]]

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (
            round(MAP_MARGIN + (lon - self.west) * self.squash * self.scale, 1),
            round(MAP_MARGIN + (self.north - lat) * self.scale, 1),
        )


def home_settings(settings: Sequence[Setting]) -> list[Setting]:
    """The settings of the LA the caseload is for (the commonest LA code), which frame the
    map: an out-of-area independent school 100 km away would shrink the LA to a corner."""
    codes = Counter(s.la_code for s in settings if s.la_code)
    if not codes:
        return list(settings)
    home = codes.most_common(1)[0][0]
    return [s for s in settings if s.la_code == home]


def site_map(settings: Sequence[Setting], changes: Sequence[Change]) -> SiteMap | None:
    """An equirectangular projection at the LA's latitude, framed on its own settings and
    the scenario's new sites with a margin of a tenth each side, so a new site can be clicked
    just beyond the outermost; settings outside the frame are left off (the lists name all)."""
    if not settings:
        return None
    new_sites = [site for c in changes if (site := _new_site(c)) is not None]
    points = [(s.location.latitude, s.location.longitude) for s in home_settings(settings)]
    points += [(lat, lon) for lat, lon, _ in new_sites]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    squash = math.cos(math.radians(sum(lats) / len(lats)))
    pad_lat = max((max(lats) - min(lats)) * 0.1, 0.01)
    pad_lon = max((max(lons) - min(lons)) * 0.1, 0.01 / max(squash, 0.1))
    west, east = min(lons) - pad_lon, max(lons) + pad_lon
    south, north = min(lats) - pad_lat, max(lats) + pad_lat
    span = max((east - west) * squash, north - south, 1e-3)
    scale = (MAP_WIDTH - 2 * MAP_MARGIN) / span
    height = int((north - south) * scale + 2 * MAP_MARGIN)
    drawn = SiteMap(height, west, north, scale, squash, [], [])
    for s in sorted(settings, key=lambda s: s.name):
        if west <= s.location.longitude <= east and south <= s.location.latitude <= north:
            drawn.settings.append((*drawn.xy(s.location.latitude, s.location.longitude), s))
    drawn.new_sites.extend((*drawn.xy(lat, lon), name) for lat, lon, name in new_sites)
    return drawn


def _new_site(change: Change) -> tuple[float, float, str] | None:
    where = change.edit.get("location")
    if change.edit.get("kind") != "new_setting" or not isinstance(where, dict):
        return None
    try:
        lat, lon = float(where["latitude"]), float(where["longitude"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    return lat, lon, str(change.edit.get("name", ""))


# --------------------------------------------------------------------------------------------
# Words for the list of changes


def describe(change: Change, names: Mapping[str, str]) -> str:
    """One change in a sentence, settings by name."""
    edit = change.edit
    kind = edit.get("kind")
    setting = names.get(str(edit.get("urn", "")), str(edit.get("urn", "")))
    needs = ", ".join(str(n) for n in edit.get("designated_needs") or []) or "any need"
    if kind == "new_setting":
        where = edit.get("location") or {}
        place = (
            f"at postcode {change.postcode}"
            if change.postcode
            else f"at {where.get('latitude')}, {where.get('longitude')}"
        )
        kind_name = NEW_SETTING_TYPES.get(str(edit.get("setting_type")), "setting").lower()
        return (
            f"Open {edit.get('name')}, a new {kind_name} {place}: {edit.get('total_places')} "
            f"places for ages {edit.get('low_age')} to {edit.get('high_age')}, for {needs}"
        )
    if kind == "change_places":
        return f"Change {setting} to {edit.get('total_places')} places"
    if kind == "closure":
        return f"Close {setting}"
    if kind == "new_resourced_provision":
        return f"Add a resourced provision of {edit.get('places')} places for {needs} at {setting}"
    return str(kind)


NEED_CODES = [n.value for n in PrimaryNeed]
