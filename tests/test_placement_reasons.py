"""Reasons found for a whole LA at once (matcher.placement_reasons) are those a panel officer
would find child by child, among that child's own options and excluded settings."""

from __future__ import annotations

import numpy as np

from geodata.straight_line import straight_line_matrix
from geodata.synthetic import synthetic_caseload, synthetic_settings
from matcher.eligibility import EXCLUSION_TEXT, build_arcs
from matcher.lexicographic_flow import solve_lexicographic
from matcher.models import Location
from matcher.placement import PlacementConfig, PlacementNetwork, build_network, level_costs
from matcher.placement_reasons import ground, placement_reasons


def _reason_child_by_child(
    network: PlacementNetwork,
    full: np.ndarray,
    preferences: tuple[str, ...],
    column: dict[str, int],
    i: int,
    chosen: int,
) -> str:
    arcs, n = network.arcs, len(network.has_preferences)
    if chosen < 0:
        mine = np.flatnonzero(arcs.child == i)
        if len(mine):
            within = len(set(arcs.setting[mine].tolist()))
            return (
                f"no capacity: all places at the {within} suitable setting(s) within reach are "
                "taken in the optimal plan"
            )
        reasons = arcs.excluded_reasons[arcs.excluded_child == i]
        if not len(reasons):
            return "no setting within the travel-time cutoff of home"
        counts = [
            (text, int(np.count_nonzero(reasons & int(flag))))
            for flag, text in EXCLUSION_TEXT.items()
        ]
        ranked = sorted((kv for kv in counts if kv[1]), key=lambda kv: (-kv[1], kv[0]))
        detail = "; ".join(f"{text} ({count})" for text, count in ranked)
        return f"no suitable setting: of {len(reasons)} setting(s) considered, {detail}"
    rank = int(arcs.preference_rank[chosen])
    if rank == 1:
        return "first parental preference"
    if not preferences:
        return "no parental preference; best suitable setting by travel time then cost"
    parts = [f"parental preference {rank}" if rank else "no parental preference met"]
    for r, urn in enumerate(preferences[: rank - 1 if rank else None], start=1):
        j = column.get(urn)
        hit = [] if j is None else np.flatnonzero((arcs.child == i) & (arcs.setting == j))
        if j is None:
            why = "not a known setting"
        elif len(hit):
            head = int(network.option_head[hit[0]])
            own = head != j + n and full[head]
            level = network.node_label[head] if own else "places"
            why = f"no capacity: {level} all taken in the optimal plan"
        else:
            miss = np.flatnonzero((arcs.excluded_child == i) & (arcs.excluded_setting == j))
            why = ground(int(arcs.excluded_reasons[miss[0]]) if len(miss) else 256)
        parts.append(f"preference {r} ({urn}) not met: {why}")
    return "; ".join(parts)


def test_every_childs_reason_is_the_one_found_child_by_child() -> None:
    """A crowded synthetic LA (few places, so many preferences unmet and some children
    unplaced), with homes far from every setting and preferences for unknown settings."""
    rng = np.random.default_rng(11)
    n_children, n_settings = 500, 25
    lat, lon = rng.uniform(52.0, 52.3, 4 * n_settings), rng.uniform(-1.4, -0.9, 4 * n_settings)
    sets = synthetic_settings(n_settings, lat, lon, 3, expected_children=n_children // 3)
    kids = synthetic_caseload(
        n_children, sets, rng.uniform(52.0, 52.3, n_children), rng.uniform(-1.4, -0.9, 500), 3
    )
    for i in range(0, n_children, 25):  # out of reach of everything
        kids[i] = kids[i].model_copy(update={"home": Location(latitude=53.6, longitude=-1.1)})
    for i in range(3, n_children, 30):
        kids[i] = kids[i].model_copy(update={"preferences": ("nowhere", *kids[i].preferences)})
    travel = straight_line_matrix(
        [c.child_id for c in kids],
        [c.home for c in kids],
        [s.urn for s in sets],
        [s.location for s in sets],
        30.0,
    )
    config = PlacementConfig()
    network = build_network(kids, sets, build_arcs(kids, sets, travel), config)
    flows = solve_lexicographic(network.flow, level_costs(network, len(kids))).flows
    arcs = network.arcs
    chosen = np.full(len(kids), -1, np.int64)
    used = np.flatnonzero(flows[: len(arcs)] > 0)
    chosen[arcs.child[used]] = used
    capacity = slice(len(arcs) + len(kids), None)
    node_flow = np.zeros(network.flow.n_nodes, np.int64)
    np.add.at(node_flow, network.flow.tails[capacity], flows[capacity])
    node_cap = np.zeros(network.flow.n_nodes, np.int64)
    node_cap[network.flow.tails[capacity]] = network.flow.capacities[capacity]
    full = node_flow >= node_cap

    preferences = [c.preferences for c in kids]
    got = placement_reasons(preferences, sets, network, chosen, full)

    column = {s.urn: j for j, s in enumerate(sets)}
    expected = [
        _reason_child_by_child(network, full, preferences[i], column, i, int(chosen[i]))
        for i in range(len(kids))
    ]
    assert got == expected
    kinds = {reason.split(":")[0].split(";")[0] for reason in got}
    assert {
        "first parental preference",
        "no parental preference met",
        "no capacity",
        "no suitable setting",
        "no setting within the travel-time cutoff of home",
    } <= kinds
    assert any(reason.startswith("parental preference 2; ") for reason in got)
    assert any("(nowhere) not met: not a known setting" in reason for reason in got)
