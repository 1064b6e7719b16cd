"""The sheets and lines ``sendmatch sites choose`` writes and prints for a :class:`SiteChoice`."""

from __future__ import annotations

from matcher import io
from matcher.site_choice import SiteChoice


def came_from_text(came_from: dict[str, int], most: int = 3) -> str:
    """Where a new site's children are placed with no new site, the largest few first."""
    parts = [f"{urn} {n}" for urn, n in list(came_from.items())[:most]]
    rest = sum(list(came_from.values())[most:])
    return ", ".join(parts + ([f"others {rest}"] if rest else []))


def site_choice_tables(choice: SiteChoice) -> list[io.Table]:
    """The choice's sheets: the sites chosen, the totals with and without, the solver's levels."""
    chosen_rows: list[dict[str, io.Cell]] = [
        {
            "site_id": c.site.site_id,
            "name": c.site.name,
            "children": c.children,
            "option": c.option.label if c.option else "",
            "by_need": "; ".join(f"{n} {v}" for n, v in sorted(c.by_need.items())),
            "placed_before_at": "; ".join(f"{u} {n}" for u, n in c.came_from.items()),
            "total_minutes": round(c.total_minutes, 1),
        }
        for c in choice.chosen
    ]
    totals = [
        {
            "measure": name,
            "no new site": getattr(choice.without, attr),
            "with the chosen sites": getattr(choice.with_sites, attr),
        }
        for name, attr in (
            ("placed", "placed"),
            ("unplaced", "unplaced"),
            ("placement cost (£ a year)", "placement_cost"),
            ("transport cost (£ a year)", "transport_cost"),
            ("total cost (£ a year)", "total_cost"),
            ("total minutes", "total_minutes"),
            ("independent placements", "independent"),
            ("out-of-area placements", "out_of_area"),
        )
    ]
    solver: list[dict[str, io.Cell]] = [
        {
            "level": level.name,
            "objective": level.objective,
            "best_bound": level.best_bound,
            "gap": round(level.gap, 6),
        }
        for level in choice.levels
    ]
    solver += [
        {"level": f"solver: {choice.solver}, status {choice.status}"},
        {"level": f"site cost: £{choice.site_cost:,} a year per site opened"},
    ]
    solver += [{"level": f"note: {note}"} for note in choice.notes]
    if choice.runner_up is not None:
        r = choice.runner_up
        how = "next best set" if r.proven_second else "best other set tried"
        solver.append({"level": f"runner-up ({how}): {', '.join(r.site_ids)}", "objective": r.cost})
    return [
        io.Table(
            "Chosen sites",
            (
                "site_id",
                "name",
                "option",
                "children",
                "by_need",
                "placed_before_at",
                "total_minutes",
            ),
            chosen_rows,
        ),
        io.Table("Totals", ("measure", "no new site", "with the chosen sites"), totals),
        io.Table("Solver", ("level", "objective", "best_bound", "gap"), solver),
    ]
