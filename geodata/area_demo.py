"""A demo round on a real English area: its roads, its real schools, a generated caseload.

Why: the built-in demo (:mod:`geodata.default_la`) is offline but is central Helsinki, where
every journey is a few minutes. On an English county's extract (``sendmatch demo --area
rutland``) journeys are tens of minutes, so the 45/75-minute limits and transport costs show,
and an LA can see the round on its own geography before it has exported a caseload.

What is real and what is made up, said wherever the demo is shown (:func:`area_label`):

* Roads: the OpenStreetMap extract (© OpenStreetMap contributors, ODbL).
* Mainstream schools and colleges: the ones mapped in the extract
  (:mod:`geodata.osm_schools`), phase guessed, places assumed.
* Specialist settings (special schools, independent and non-maintained special schools,
  specialist post-16, AP, FE when OSM has no college): **generated**
  (:func:`geodata.synthetic.synthetic_settings`), since OpenStreetMap does not say which
  schools are special or have a resourced provision. Their names end "(generated)" and
  their URNs start "GEN-".
* Children: **generated** (:func:`geodata.synthetic.synthetic_caseload`), homes within 50 m of
  residential roads, inside the LA's boundary when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from geodata.boundaries import LocalArea
from geodata.network import RoadNetwork, load_drive_network
from geodata.osm_schools import OsmSchools, read_osm_schools, write_osm_settings
from geodata.synthetic import HOME_JITTER_M, synthetic_caseload, synthetic_settings
from matcher.input_writers import write_children
from matcher.models import Child, Location, Setting, SettingType

#: A phase-transfer round the size of a small LA's (Rutland had 340 EHC plans in January 2024).
AREA_DEMO_CHILDREN = 500
AREA_DEMO_SEED = 2025
#: Drawn as a full synthetic mix, of which only the non-mainstream settings are kept (~1/3).
GENERATED_MIX_SIZE = 40
#: The code of the demo's LA when no boundary names it: not a real LA code.
UNNAMED_LA_CODE = "area"
GENERATED_SUFFIX = " (generated)"
#: A generated setting must never pass for a real school's DfE URN.
GENERATED_URN_PREFIX = "GEN-"


class AreaDemoError(ValueError):
    """The area demo cannot be built (no schools or no residential roads in the area)."""


@dataclass
class AreaDemo:
    """The area demo's inputs and what each part rests on."""

    children: list[Child]
    settings: list[Setting]
    osm_path: Path
    network: RoadNetwork
    schools: OsmSchools
    area: LocalArea | None
    generated: int = 0
    notes: list[str] = field(default_factory=list)


def area_label(osm_path: Path, area: LocalArea | None) -> str:
    """What the demo area is, in one line for every place it is shown."""
    where = f"{area.name} ({area.code})" if area is not None else f"the area of {osm_path.name}"
    return (
        f"{where}: real roads and schools from OpenStreetMap, generated specialist settings "
        "and a generated caseload (not real children)"
    )


def build_area_demo(
    osm_path: Path,
    cache_dir: Path | None = None,
    *,
    area: LocalArea | None = None,
    n_children: int = AREA_DEMO_CHILDREN,
    seed: int = AREA_DEMO_SEED,
) -> AreaDemo:
    """Settings and a caseload for the area of ``osm_path``; the same on every call.

    Raises
    ------
    geodata.osm_schools.OsmSchoolsError, geodata.network.NetworkError
        If the extract cannot be read.
    AreaDemoError
        If the extract has no named schools, or no residential road inside ``area``.
    """
    network = load_drive_network(osm_path, cache_dir, simplify=False)
    schools = read_osm_schools(osm_path)
    if not schools.settings:
        raise AreaDemoError(f"{osm_path.name} has no named schools or colleges mapped")
    code = area.code if area is not None else UNNAMED_LA_CODE
    generated = _generated_settings(network, code, n_children, seed, schools)
    homes = _home_points(network, area)
    settings = [*schools.settings, *generated]
    if area is not None:  # written with their LA, so the files say it without --boundary too
        _, settings, _ = area.assign([], settings)
    children = synthetic_caseload(
        n_children, settings, network.lat[homes], network.lon[homes], seed, la_code=code
    )
    children = [_rounded_home(c) for c in children]
    demo = AreaDemo(children, settings, Path(osm_path), network, schools, area, len(generated))
    if area is None:
        demo.notes.append(
            "No --boundary: every setting in the extract counts as in area, so no placement is "
            "out of area. Give --boundary FILE --la-code CODE to decide it by the LA's polygon."
        )
    return demo


def _generated_settings(
    network: RoadNetwork, code: str, n_children: int, seed: int, schools: OsmSchools
) -> list[Setting]:
    """The non-mainstream part of a synthetic mix, on road points, named as generated."""
    road = np.flatnonzero(network.snappable)
    mix = synthetic_settings(
        GENERATED_MIX_SIZE,
        network.lat[road],
        network.lon[road],
        seed,
        la_code=code,
        expected_children=n_children,
        phase_transfer=True,
        neighbour_la_codes=[code],
    )
    has_college = any(s.setting_type is SettingType.FURTHER_EDUCATION for s in schools.settings)
    kept = [
        s
        for s in mix
        if s.setting_type is not SettingType.MAINSTREAM
        and not (has_college and s.setting_type is SettingType.FURTHER_EDUCATION)
    ]
    return [
        s.model_copy(
            update={
                "urn": GENERATED_URN_PREFIX + s.urn,
                "name": s.name + GENERATED_SUFFIX,
                "la_code": None,
                "location": _rounded(s),
            }
        )
        for s in kept
    ]


def _rounded(setting: Setting) -> Location:
    return setting.location.model_copy(
        update={
            "latitude": round(setting.location.latitude, 6),
            "longitude": round(setting.location.longitude, 6),
        }
    )


def _rounded_home(child: Child) -> Child:
    home = child.home.model_copy(
        update={
            "latitude": round(child.home.latitude, 6),
            "longitude": round(child.home.longitude, 6),
        }
    )
    return child.model_copy(update={"home": home})


def _home_points(network: RoadNetwork, area: LocalArea | None) -> npt.NDArray[np.int32]:
    """Residential road nodes, inside the LA's boundary when one is given (far enough inside
    that a home moved up to :data:`~geodata.synthetic.HOME_JITTER_M` stays in)."""
    homes = network.residential_nodes
    if area is not None:
        inside = area.contains(network.lat[homes], network.lon[homes], inset_m=HOME_JITTER_M)
        homes = homes[inside]
    if not len(homes):
        where = f"inside {area.name}" if area is not None else "in the extract"
        raise AreaDemoError(f"no residential road {where} to put the generated homes on")
    return homes


def write_area_demo(demo: AreaDemo, folder: Path) -> tuple[Path, Path]:
    """``children.csv`` and ``settings.csv`` (with phase_guess, source, assumed) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    children_file, settings_file = folder / "children.csv", folder / "settings.csv"
    write_children(demo.children, children_file)
    real = demo.schools
    generated = [s for s in demo.settings if s.urn not in real.source]
    everything = OsmSchools(
        file=real.file,
        settings=demo.settings,
        phase_guess={
            **real.phase_guess,
            **{s.urn: f"{s.setting_type.value} (generated)" for s in generated},
        },
        source={**real.source, **{s.urn: "generated: not a real school" for s in generated}},
        assumed={**real.assumed, **{s.urn: "everything: a generated setting" for s in generated}},
    )
    write_osm_settings(everything, settings_file)
    return children_file, settings_file
