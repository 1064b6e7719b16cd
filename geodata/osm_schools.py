"""Settings for an area's real schools and colleges, from an OpenStreetMap extract.

Why: an LA without a GIAS file to hand (or a demo on a real English area) still wants its real
schools, where they really are. OpenStreetMap maps most English schools (``amenity=school``
and ``amenity=college``, as a point or as the school grounds), many with their DfE URN as
``ref:edubase``. It does not hold what a placement needs beyond name and place, so everything
else is either *guessed* or *assumed*, and each written row says which:

* The **phase** (primary, secondary, further education, special, ...) is guessed from the tags
  (``isced:level``, ``school:type``, ``school``, ``amenity=college``) and then from words in the
  name, alternative names and notes ("Infant", "Junior", "Primary", "College", "High School",
  "Special", ...). The ``phase_guess`` column says what the guess rests on. In England a school
  "College" (``amenity=school``) is nearly always a secondary school (e.g. "Catmose College");
  an "Academy" with no other phase word is left to the default, primary, as most English
  schools are primary (about 16,800 of 20,000).
* **Places, pupils on roll, designations, facilities** are assumptions per phase
  (:data:`PHASE_DEFAULTS`), listed in :attr:`OsmSchools.assumptions` and in the ``assumed``
  column: edit them, or give a GIAS import (:func:`merge_gias`), which takes precedence.
* The **URN** is ``ref:edubase`` where tagged; otherwise an ``OSM-N…``/``OSM-W…``/``OSM-R…``
  id that can never be mistaken for a DfE URN.

Left out, with their reason (:attr:`OsmSchools.skipped`): features with no name, fee-paying
independent schools (``fee=yes``: not named in an EHCP as a mainstream place), and a school
mapped twice (a point and its grounds) after the first.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from matcher.models import Location, Setting, SettingType

SCHOOL_AMENITIES = ("school", "college")

#: Extra columns beside the settings format (:data:`matcher.input_writers.SETTING_WRITE_COLUMNS`):
#: the reader ignores them, an officer reads them.
EXTRA_COLUMNS = ("phase_guess", "source", "assumed")


@dataclass(frozen=True)
class PhaseDefaults:
    """What a setting of one guessed phase is assumed to be, where OSM says nothing."""

    setting_type: SettingType
    low_age: int
    high_age: int
    places: int


# Places: a one-form-entry primary is 7 year groups of 30 (210); an infant or junior school
# is 3 or 4 of them; a secondary of 6 forms of entry over 5 years is 900; special schools
# in England average ~120 pupils; an FE college is counted in thousands. Assumptions, not data.
PHASE_DEFAULTS: Mapping[str, PhaseDefaults] = {
    "nursery": PhaseDefaults(SettingType.MAINSTREAM, 2, 5, 60),
    "infant": PhaseDefaults(SettingType.MAINSTREAM, 4, 7, 90),
    "junior": PhaseDefaults(SettingType.MAINSTREAM, 7, 11, 120),
    "primary": PhaseDefaults(SettingType.MAINSTREAM, 4, 11, 210),
    "middle": PhaseDefaults(SettingType.MAINSTREAM, 9, 13, 400),
    "secondary": PhaseDefaults(SettingType.MAINSTREAM, 11, 16, 900),
    "secondary with sixth form": PhaseDefaults(SettingType.MAINSTREAM, 11, 18, 1100),
    "all-through": PhaseDefaults(SettingType.MAINSTREAM, 4, 18, 1300),
    "sixth form": PhaseDefaults(SettingType.FURTHER_EDUCATION, 16, 19, 600),
    "further education": PhaseDefaults(SettingType.FURTHER_EDUCATION, 16, 26, 2000),
    "special": PhaseDefaults(SettingType.SPECIAL, 4, 19, 120),
    "alternative provision": PhaseDefaults(SettingType.ALTERNATIVE_PROVISION, 11, 16, 40),
}
#: Share of assumed places taken before the round: schools are near full, a few places free.
ASSUMED_FULL_SHARE = 0.95
#: Used when neither tags nor name say anything: most English schools are primary.
DEFAULT_PHASE = "primary"

# Words in a name (or alternative name, note, description), most telling first. Whole words,
# case ignored; "College" only for amenity=school (an English secondary school's usual name).
_NAME_PHASES: tuple[tuple[str, str], ...] = (
    # Whole word: "Specialist Sports College" is a secondary school, "Send" a Surrey village.
    (r"\bspecial\b|\bsen (?:unit|school)\b", "special"),
    (r"pupil referral|\bpru\b|alternative provision|\bap academy", "alternative provision"),
    (r"sixth form college|sixth form centre", "sixth form"),
    (r"nursery|pre-?school|playgroup|kindergarten", "nursery"),
    (r"infant", "infant"),
    (r"junior", "junior"),
    (r"primary|first school|\bc\.?\s?of\s?e\.? school\b|\bcofe school\b", "primary"),
    (r"middle school", "middle"),
    (r"all[- ]through", "all-through"),
    (
        r"secondary|high school|grammar|upper school|comprehensive|community college|"
        r"\bcollege\b|studio school|\butc\b|university technical college",
        "secondary",
    ),
)
_NAME_RULES = tuple((re.compile(pattern, re.IGNORECASE), phase) for pattern, phase in _NAME_PHASES)
_TEXT_TAGS = ("name", "alt_name", "official_name", "old_name", "short_name", "note", "description")
_SCHOOL_TAG_PHASES = {
    "primary": "primary",
    "infant": "infant",
    "junior": "junior",
    "secondary": "secondary",
    "middle": "middle",
    "special": "special",
    "special_education_needs": "special",
    "sixth_form": "sixth form",
    "nursery": "nursery",
    "pupil_referral_unit": "alternative provision",
}
_FEE_PAYING = {"yes", "private", "independent"}
#: A school mapped as a point and as its grounds is one school if the names match this close.
DUPLICATE_METRES = 500.0


class OsmSchoolsError(ValueError):
    """The extract cannot be read; the message names the file and what to do."""


@dataclass(frozen=True)
class SchoolFeature:
    """One ``amenity=school``/``college`` feature of the extract, reduced to a point."""

    osm_id: str  # "node 123", "way 456", "relation 789"
    tags: Mapping[str, str]
    latitude: float
    longitude: float

    @property
    def name(self) -> str:
        return self.tags.get("name", "").strip()

    @property
    def urn(self) -> str | None:
        """``ref:edubase`` if it is a DfE URN (digits), else None."""
        value = self.tags.get("ref:edubase", "").strip()
        return value if value.isdigit() else None

    @property
    def stand_in_urn(self) -> str:
        kind, number = self.osm_id.split()
        return f"OSM-{kind[0].upper()}{number}"


@dataclass
class OsmSchools:
    """Settings built from an extract, what each rests on, and what was left out and why.

    ``phase_guess``, ``source`` and ``assumed`` are keyed by URN (the written URN, tagged or
    stand-in), so that a merge with GIAS keeps them for the OSM rows it keeps.
    """

    file: str
    settings: list[Setting] = field(default_factory=list)
    phase_guess: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    assumed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    tagged_urns: int = 0

    def summary(self) -> str:
        """Counts first, then every assumption: what an officer must check."""
        lines = [
            f"{self.file}: {len(self.settings)} schools and colleges, {self.tagged_urns} with "
            f"their DfE URN (ref:edubase), {len(self.skipped)} left out."
        ]
        lines += [f"Left out: {reason}" for reason in self.skipped]
        lines += [f"Assumed: {text}" for text in self.assumptions]
        return "\n".join(lines)


# --- Reading the extract ----------------------------------------------------------------------


def read_school_features(path: Path) -> list[SchoolFeature]:
    """Every ``amenity=school``/``college`` node, way and relation of an ``.osm.pbf`` extract.

    Areas become a point inside them (``representative_point``: unlike a centroid, never
    outside an L-shaped site).

    Raises
    ------
    OsmSchoolsError
        If the file is missing, is not an ``.osm.pbf`` extract, or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise OsmSchoolsError(f"OpenStreetMap file not found: {path}")
    if not path.name.lower().endswith(".pbf"):
        raise OsmSchoolsError(
            f"{path}: schools are read from .osm.pbf extracts (e.g. from `sendmatch osm "
            "download AREA`); convert other OpenStreetMap files with osmium first"
        )
    import pyrosm
    from pyrosm.exceptions import PBFException

    try:
        frame = pyrosm.OSM(str(path)).get_pois(custom_filter={"amenity": list(SCHOOL_AMENITIES)})
    except (PBFException, ValueError, OSError, KeyError) as exc:
        raise OsmSchoolsError(f"{path}: not a readable OpenStreetMap extract ({exc})") from None
    if frame is None or frame.empty:
        return []
    columns = [c for c in frame.columns if c not in ("geometry", "tags", "lon", "lat")]
    features: list[SchoolFeature] = []
    for record in frame.to_dict("records"):
        if record.get("amenity") not in SCHOOL_AMENITIES:
            continue  # pyrosm's filter also keeps kindergartens and other amenities at times
        geometry = record["geometry"]
        if geometry is None or geometry.is_empty:
            continue
        point = geometry if geometry.geom_type == "Point" else geometry.representative_point()
        features.append(
            SchoolFeature(
                osm_id=f"{record['osm_type']} {int(record['id'])}",
                tags=_tags(record, columns),
                latitude=float(point.y),
                longitude=float(point.x),
            )
        )
    return features


def _tags(record: Mapping[str, Any], columns: Iterable[str]) -> dict[str, str]:
    """pyrosm spreads common tags over columns and keeps the rest as JSON in ``tags``."""
    tags: dict[str, str] = {}
    extra = record.get("tags")
    if isinstance(extra, str) and extra:
        try:
            parsed = json.loads(extra)
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            tags.update({str(k): str(v) for k, v in parsed.items() if isinstance(v, str)})
    elif isinstance(extra, dict):
        tags.update({str(k): str(v) for k, v in extra.items() if isinstance(v, str)})
    for column in columns:
        value = record.get(column)
        if isinstance(value, str) and value:
            tags[column] = value
    return tags


# --- Guessing -------------------------------------------------------------------------------


def guess_phase(tags: Mapping[str, str]) -> tuple[str, str]:
    """(phase, what the guess rests on), from tags first, then words in names and notes."""
    if tags.get("amenity") == "college":
        return "further education", "amenity=college"
    for key in ("school:type", "school"):
        value = tags.get(key, "").strip().lower()
        if value in _SCHOOL_TAG_PHASES:
            return _SCHOOL_TAG_PHASES[value], f"{key}={value}"
    isced = _isced_levels(tags.get("isced:level", ""))
    if isced:
        phase = _phase_of_isced(isced)
        if phase:
            return phase, f"isced:level={tags['isced:level']}"
    for key in _TEXT_TAGS:
        text = tags.get(key, "")
        for rule, phase in _NAME_RULES:
            found = rule.search(text)
            if found:
                return phase, f"{key} has '{found.group(0)}'"
    return DEFAULT_PHASE, "no phase in the tags or name: most English schools are primary"


def _isced_levels(value: str) -> set[int]:
    levels: set[int] = set()
    for part in re.split(r"[;,]", value):
        bounds = [p.strip() for p in part.split("-")]
        if all(b.isdigit() for b in bounds) and bounds:
            low, high = int(bounds[0]), int(bounds[-1])
            levels.update(range(low, high + 1))
    return levels


def _phase_of_isced(levels: set[int]) -> str | None:
    school = levels & {1, 2, 3}
    if {1, 2} <= school or {1, 3} <= school:
        return "all-through"
    if school == {1}:
        return "primary"
    if school == {2}:
        return "secondary"
    if {2, 3} <= school:
        return "secondary with sixth form"
    if school == {3}:
        return "sixth form"
    return "nursery" if 0 in levels else None


def _skip_reason(feature: SchoolFeature) -> str | None:
    if not feature.name:
        return f"{feature.osm_id}: no name in OpenStreetMap"
    fee = feature.tags.get("fee", "").strip().lower()
    operator = feature.tags.get("operator:type", "").strip().lower()
    if fee in _FEE_PAYING or operator in {"private", "independent"}:
        return (
            f"{feature.osm_id} ({feature.name}): a fee-paying independent school; add it by "
            "hand as independent_special if it is a special school the LA can name"
        )
    return None


# --- Building settings ----------------------------------------------------------------------


def settings_from_features(features: Sequence[SchoolFeature], file: str) -> OsmSchools:
    """Settings for the features, each with its phase guess, source and assumptions."""
    result = OsmSchools(file=file)
    kept: list[SchoolFeature] = []
    for feature in _areas_first(features):
        reason = _skip_reason(feature) or _duplicate_reason(feature, kept)
        if reason:
            result.skipped.append(reason)
            continue
        urn = feature.urn or feature.stand_in_urn
        if urn in result.source:
            result.skipped.append(
                f"{feature.osm_id} ({feature.name}): URN {urn} already used by {result.source[urn]}"
            )
            continue
        kept.append(feature)
        phase, because = guess_phase(feature.tags)
        defaults = PHASE_DEFAULTS[phase]
        places = _tagged_capacity(feature.tags) or defaults.places
        result.settings.append(
            Setting(
                urn=urn,
                name=feature.name,
                setting_type=defaults.setting_type,
                location=Location(
                    latitude=round(feature.latitude, 6), longitude=round(feature.longitude, 6)
                ),
                low_age=defaults.low_age,
                high_age=defaults.high_age,
                total_places=places,
                on_roll=math.floor(places * ASSUMED_FULL_SHARE),
            )
        )
        result.phase_guess[urn] = f"{phase} (guess: {because})"
        result.source[urn] = f"OpenStreetMap {feature.osm_id}"
        result.assumed[urn] = _assumed_text(feature, phase)
        result.tagged_urns += feature.urn is not None
    result.assumptions = _assumptions(result)
    return result


def _areas_first(features: Sequence[SchoolFeature]) -> list[SchoolFeature]:
    """Grounds (ways, relations) before points, so a school mapped twice keeps its grounds."""
    return sorted(features, key=lambda f: (f.osm_id.startswith("node"), f.osm_id))


def _duplicate_reason(feature: SchoolFeature, kept: Sequence[SchoolFeature]) -> str | None:
    key = _name_key(feature.name)
    for other in kept:
        if _name_key(other.name) == key and _metres(feature, other) <= DUPLICATE_METRES:
            return f"{feature.osm_id} ({feature.name}): the same school as {other.osm_id}"
    return None


def _name_key(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", name.casefold()).split())


def _metres(a: SchoolFeature, b: SchoolFeature) -> float:
    km_per_degree = 6_371.0088 * math.pi / 180.0
    dy = (a.latitude - b.latitude) * km_per_degree
    dx = (a.longitude - b.longitude) * km_per_degree * math.cos(math.radians(a.latitude))
    return 1000.0 * math.hypot(dx, dy)


def _tagged_capacity(tags: Mapping[str, str]) -> int | None:
    value = tags.get("capacity", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) <= 10_000 else None


def _assumed_text(feature: SchoolFeature, phase: str) -> str:
    parts = [] if _tagged_capacity(feature.tags) else ["total_places"]
    parts += ["on_roll", "age range", "no resourced provision", "no wheelchair access"]
    if phase == "special":
        parts.append("designated for every need")
    return "; ".join(parts)


def _assumptions(result: OsmSchools) -> list[str]:
    used = sorted({text.split(" (")[0] for text in result.phase_guess.values()})
    table = ", ".join(
        f"{phase} {PHASE_DEFAULTS[phase].low_age}-{PHASE_DEFAULTS[phase].high_age} "
        f"({PHASE_DEFAULTS[phase].places} places)"
        for phase in used
    )
    return [
        "phase guessed from tags and names (column phase_guess); age ranges and places by phase "
        f"where OSM has no capacity tag: {table}",
        f"pupils on roll = {ASSUMED_FULL_SHARE:.0%} of places (OpenStreetMap has no rolls)",
        "no resourced provisions or SEN units, no wheelchair access, special schools designated "
        "for every need: OpenStreetMap does not say; edit the file or give --gias",
        "URNs from ref:edubase where tagged; OSM-… stand-ins otherwise (not DfE URNs)",
    ]


def read_osm_schools(path: Path) -> OsmSchools:
    """:func:`read_school_features` then :func:`settings_from_features`."""
    return settings_from_features(read_school_features(path), Path(path).name)


# --- GIAS takes precedence --------------------------------------------------------------------


@dataclass(frozen=True)
class GiasMatch:
    """How an OSM read and a GIAS import met: which schools were in one and not the other."""

    matched_by_urn: tuple[str, ...]
    matched_by_name: tuple[tuple[str, str], ...]  # (OSM stand-in URN, GIAS URN)
    only_in_gias: tuple[Setting, ...]
    only_in_osm: tuple[Setting, ...]

    def summary(self) -> list[str]:
        """Lines for the command's report: counts, then the schools in one source only."""
        lines = [
            f"GIAS and OpenStreetMap: {len(self.matched_by_urn)} schools matched by URN, "
            f"{len(self.matched_by_name)} by name; {len(self.only_in_gias)} only in GIAS, "
            f"{len(self.only_in_osm)} only in OpenStreetMap."
        ]
        lines += [f"Only in GIAS: {s.urn} {s.name}" for s in self.only_in_gias]
        lines += [
            f"Only in OpenStreetMap (kept, with guesses): {s.urn} {s.name}"
            for s in self.only_in_osm
        ]
        return lines


def merge_gias(osm: OsmSchools, gias: Sequence[Setting]) -> tuple[OsmSchools, GiasMatch]:
    """GIAS's settings, plus the OSM schools GIAS lacks; GIAS wins wherever both have a school.

    Matched by URN (``ref:edubase``); an OSM school with no URN is matched by its name
    (case, punctuation and spacing ignored), so that it is not written twice.
    """
    by_urn = {s.urn: s for s in gias}
    by_name = {_name_key(s.name): s for s in gias}
    matched_urn: list[str] = []
    matched_name: list[tuple[str, str]] = []
    only_osm: list[Setting] = []
    for setting in osm.settings:
        if setting.urn in by_urn:
            matched_urn.append(setting.urn)
        elif setting.urn.startswith("OSM-") and _name_key(setting.name) in by_name:
            matched_name.append((setting.urn, by_name[_name_key(setting.name)].urn))
        else:
            only_osm.append(setting)
    found = set(matched_urn) | {g for _, g in matched_name}
    only_gias = [s for s in gias if s.urn not in found]
    merged = replace(
        osm,
        settings=[*gias, *only_osm],
        phase_guess={s.urn: osm.phase_guess[s.urn] for s in only_osm},
        source={
            **{s.urn: "GIAS" for s in gias},
            **{s.urn: osm.source[s.urn] for s in only_osm},
        },
        assumed={s.urn: osm.assumed[s.urn] for s in only_osm},
    )
    match = GiasMatch(tuple(matched_urn), tuple(matched_name), tuple(only_gias), tuple(only_osm))
    return merged, match


# --- Writing ----------------------------------------------------------------------------------


def write_osm_settings(result: OsmSchools, path: Path) -> None:
    """The settings file ``sendmatch place`` reads, plus ``phase_guess``, ``source``, ``assumed``.

    Written in one step (a failed write leaves no half file), UTF-8 with a byte-order mark for
    Excel, formula-like text neutralised, as every CSV sendmatch writes.
    """
    from matcher.input_writers import SETTING_WRITE_COLUMNS, setting_row
    from matcher.io import atomic_path, neutralise_formula

    target = Path(path)
    if target.suffix.lower() != ".csv":
        raise ValueError(f"{target.name}: the settings file is written as .csv")
    columns = [*SETTING_WRITE_COLUMNS, *EXTRA_COLUMNS]
    rows = []
    for setting in result.settings:
        row = setting_row(setting)
        row["phase_guess"] = result.phase_guess.get(setting.urn, "")
        row["source"] = result.source.get(setting.urn, "")
        row["assumed"] = result.assumed.get(setting.urn, "")
        rows.append(row)
    with atomic_path(target) as tmp, tmp.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: neutralise_formula(v) for k, v in row.items()} for row in rows)
