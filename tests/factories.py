"""Small hand-made and random instances for the matcher's tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from matcher.models import (
    Child,
    Location,
    PrimaryNeed,
    Provision,
    ProvisionKind,
    Setting,
    SettingType,
)
from matcher.travel import TravelTimeMatrix

HOME = Location(latitude=52.2, longitude=-1.1)
# A cluster of children out of reach of every setting, and a point halfway to it.
CLUSTER = Location(latitude=52.5, longitude=-1.1)
MIDWAY = Location(latitude=52.35, longitude=-1.1)


def child(child_id: str = "C1", **kw: Any) -> Child:
    base: dict[str, Any] = {
        "child_id": child_id,
        "nc_year": 7,
        "home": HOME,
        "primary_need": PrimaryNeed.ASD,
        "sex": "M",
    }
    base.update(kw)
    return Child(**base)


def setting(urn: str = "100001", **kw: Any) -> Setting:
    base: dict[str, Any] = {
        "urn": urn,
        "name": f"Setting {urn}",
        "setting_type": SettingType.MAINSTREAM,
        "location": HOME,
        "low_age": 11,
        "high_age": 16,
        "total_places": 10,
    }
    base.update(kw)
    return Setting(**base)


def matrix(children: list[Child], settings: list[Setting], minutes: Any) -> TravelTimeMatrix:
    return TravelTimeMatrix.from_dense(
        [c.child_id for c in children], [s.urn for s in settings], minutes, "test matrix"
    )


@st.composite
def placement_instances(
    draw: st.DrawFn, max_children: int = 5, max_settings: int = 3
) -> tuple[list[Child], list[Setting], TravelTimeMatrix]:
    """Tiny instances with every capacity level in play: year groups, provisions, totals."""
    needs = [PrimaryNeed.ASD, PrimaryNeed.SEMH, PrimaryNeed.SLD]
    n_settings = draw(st.integers(1, max_settings))
    settings = []
    for j in range(n_settings):
        kind = draw(st.sampled_from(["mainstream", "special", "independent_special"]))
        kw: dict[str, Any] = {"setting_type": kind, "low_age": 4, "high_age": 19}
        kw["total_places"] = draw(st.integers(0, 3))
        if kind != "mainstream":
            kw["designated_needs"] = frozenset(draw(st.sets(st.sampled_from(needs), max_size=2)))
        if kind == "independent_special":
            kw["annual_fee"] = draw(st.integers(40_000, 90_000))
        if draw(st.booleans()):
            kw["year_places"] = {7: draw(st.integers(0, 2))}
        if kind == "mainstream" and draw(st.booleans()):
            kw["provisions"] = (
                Provision(
                    kind=ProvisionKind.RESOURCED_PROVISION,
                    designated_needs=frozenset({draw(st.sampled_from(needs))}),
                    places=draw(st.integers(0, 2)),
                ),
            )
        kw["top_up"] = draw(st.integers(0, 20_000))
        settings.append(setting(str(200000 + j), **kw))
    n_children = draw(st.integers(1, max_children))
    urns = [s.urn for s in settings]
    children = []
    for i in range(n_children):
        prefs = draw(st.lists(st.sampled_from(urns), unique=True, max_size=2))
        children.append(
            child(
                f"C{i}",
                nc_year=draw(st.sampled_from([6, 7])),
                primary_need=draw(st.sampled_from(needs)),
                preferences=tuple(prefs),
            )
        )
    minutes = np.array(
        draw(
            st.lists(
                st.one_of(st.integers(1, 90).map(float), st.just(float("nan"))),
                min_size=n_children * n_settings,
                max_size=n_children * n_settings,
            )
        )
    ).reshape(n_children, n_settings)
    return children, settings, matrix(children, settings, minutes)


def planning_instance() -> tuple[list[Child], list[Setting]]:
    """Three children near two special schools and four in an unserved cluster: a new site at
    the cluster should place them; planning and sweep tests share it."""
    special = {"setting_type": SettingType.SPECIAL, "designated_needs": frozenset({"ASD"})}
    settings = [
        setting("S1", location=HOME, total_places=10, **special),
        setting("S2", location=MIDWAY, total_places=3, **special),
        setting("M1", location=HOME, total_places=30),
    ]
    near = [child(f"N{i}", home=HOME, suitable_kinds=frozenset({"special"})) for i in range(3)]
    cluster = [
        child(f"K{i}", home=CLUSTER, suitable_kinds=frozenset({"special"})) for i in range(4)
    ]
    return near + cluster, settings
