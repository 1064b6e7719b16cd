"""``sendmatch scenario compare|sweep`` and ``sendmatch sites choose``: capacity planning.

Each solves the base round as ``place`` does (:func:`matcher.pipeline.prepare_round`), then
the planning models of :mod:`matcher.planning`, :mod:`matcher.sweeps` and
:mod:`matcher.site_choice` on the same journeys and solver settings. Those models (CP-SAT,
Dask, the map renderers) are imported when a command runs, not when ``sendmatch`` starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from matcher.cli_options import (
    EXIT_INPUT_PROBLEM,
    CacheDirOption,
    ChildrenOption,
    LaCodeOption,
    OsmOption,
    PrimaryLimitOption,
    RoundConsole,
    SecondaryLimitOption,
    SettingsOption,
    TariffsOption,
    YearStartOption,
    refuse_outputs,
    round_console,
    round_options,
)
from matcher.value_limits import MAX_PLACES

if TYPE_CHECKING:
    from geodata.postcodes import PostcodeFile
    from matcher.pipeline import PreparedRound
    from matcher.planning import Scenario, ScenarioComparison

SITE_SOLVERS = ("auto", "enumerate", "benders", "cp-sat", "mip")

scenario_app = typer.Typer(
    help="Capacity planning: compare scenarios (new sites, place changes, closures, demand "
    "growth) against the base plan, with the same solver.",
    no_args_is_help=True,
)
sites_app = typer.Typer(
    help="Capacity planning: choose where to open new provision.", no_args_is_help=True
)

PostcodesOption = Annotated[
    Path | None,
    typer.Option(
        "--postcodes",
        metavar="FILE",
        help="Postcode file for sites given by postcode: the ONS Postcode Directory CSV "
        "(ONSPD) or Code-Point Open (a CSV or its Data/CSV folder). Only the postcodes used "
        "are read into memory.",
    ),
]


def _postcode_file(path: Path | None, errors: Console) -> PostcodeFile | None:
    """The ``--postcodes`` file, checked to exist before any work is done."""
    from geodata.postcodes import PostcodeFile

    if path is None:
        return None
    if not path.exists():
        errors.print(
            f"[bold red]--postcodes:[/] {escape(str(path))}: no such file or folder",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    return PostcodeFile(path)


def _refuse_problems(errors: Console, problems: Sequence[object]) -> NoReturn:
    """Every problem of a scenario or candidate file, one a line, then exit 2."""
    for problem in problems:
        errors.print(f"  • {escape(str(problem))}", soft_wrap=True)
    raise typer.Exit(EXIT_INPUT_PROBLEM)


@scenario_app.command("compare")
def scenario_compare_command(
    scenarios: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario files (.yaml, .yml or .json): each a name and a list of edits, and "
            "optionally demand: forecast.xlsx#2029 to place a projected year's children.",
            metavar="SCENARIO...",
        ),
    ],
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Where to write the comparison (.xlsx/.csv)."),
    ],
    map_site: Annotated[
        str | None,
        typer.Option(
            "--map-site",
            metavar="URN",
            help="Draw a map of this setting (e.g. a scenario's new school, urn given in the "
            "scenario file): the children it takes and drive-time bands around it.",
        ),
    ] = None,
    map_out: Annotated[
        list[Path] | None,
        typer.Option(
            "--map",
            metavar="FILE",
            help="Where to write the map: .html (interactive, offline) or .png; repeatable.",
        ),
    ] = None,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    postcodes: PostcodesOption = None,
) -> None:
    """``sendmatch scenario compare``: base and every scenario, solved alike, side by side."""
    from matcher import io
    from matcher.planning import (
        ScenarioError,
        apply_scenario,
        compare_scenarios,
        comparison_tables,
        load_scenarios,
    )
    from matcher.travel_estimate import TravelFor

    console, errors = Console(), Console(stderr=True)
    options = round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    refuse_outputs(options, [out], errors)
    maps = map_out or []
    if bool(maps) != (map_site is not None):
        errors.print("[bold red]--map and --map-site go together[/]: give both, or neither.")
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    for path in maps:
        map_problem = io.check_output_path(path, [], suffixes=(".html", ".png"))
        if map_problem:
            errors.print(
                f"[bold red]Cannot write the map:[/] {escape(map_problem)}", soft_wrap=True
            )
            raise typer.Exit(EXIT_INPUT_PROBLEM)
    try:
        loaded = load_scenarios(scenarios, _postcode_file(postcodes, errors), read_forecasts=True)
    except ScenarioError as exc:
        _refuse_problems(errors, exc.problems)
    with round_console(errors) as run:
        prepared = run.prepare(options)
        inputs, cutoff = prepared.inputs, prepared.config.eligibility.cutoff_minutes
        known = {s.urn for s in inputs.settings}
        try:
            for path, scenario in zip(scenarios, loaded, strict=True):
                _, sites = apply_scenario(
                    inputs.children, inputs.settings, scenario, source=path.name
                )
                known |= {s.urn for s in sites}
        except ScenarioError as exc:
            run.stage.fail("problems found")
            _refuse_problems(errors, exc.problems)
        if map_site is not None and map_site not in known:
            run.fail(
                f"[bold red]--map-site {escape(map_site)}[/] is not a setting of the base or of "
                "any scenario. Nothing was written."
            )
        run.stage(f"solving the base and {len(loaded)} scenario(s)")
        comparison = compare_scenarios(
            inputs.children,
            inputs.settings,
            loaded,
            TravelFor(cutoff, prepared.network),
            prepared.config,
        )
        tables = comparison_tables(comparison)
        run.write(out, partial(io.write_tables, out, tables))
        if map_site is not None:
            _write_scenario_maps(map_site, maps, loaded, comparison, prepared, run)
        run.stage.done()
    main = tables[0]
    view = Table(title="Scenarios against the base plan")
    for column in main.columns:
        view.add_column(str(column), justify="left" if column in ("metric", "unit") else "right")
    for record in main.records:
        view.add_row(*("" if record.get(c) is None else str(record.get(c)) for c in main.columns))
    console.print(view)
    console.print(f"Written: {escape(str(out))}", soft_wrap=True)


@scenario_app.command("sweep")
def scenario_sweep_command(
    candidates: Annotated[
        Path,
        typer.Option(
            "--candidates", metavar="FILE", help="Candidate sites (GeoJSON, each with an `id`)."
        ),
    ],
    designations: Annotated[
        str,
        typer.Option(
            "--designations",
            help="Designation sets to try, comma-separated, needs joined by +: ASD+SEMH,SLD.",
        ),
    ],
    sizes: Annotated[
        str, typer.Option("--sizes", help="Place numbers to try, comma-separated: 60,120.")
    ],
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where to write the sweep table.")
    ],
    setting_type: Annotated[
        str,
        typer.Option(
            "--setting-type", help="special, alternative_provision or resourced_provision."
        ),
    ] = "special",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="A Dask scheduler address (tcp://host:8786) to run on a cluster. Default: a "
            "local cluster on this machine.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Local worker processes.")
    ] = None,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    postcodes: PostcodesOption = None,
) -> None:
    """``sendmatch scenario sweep``: every site × designation × size, in parallel on Dask."""
    from matcher import io
    from matcher.planning import ScenarioError
    from matcher.site_choice import CandidateSiteError, load_candidates
    from matcher.sweeps import run_sweep, sweep_scenarios, sweep_table
    from matcher.travel_estimate import TravelFor

    console, errors = Console(), Console(stderr=True)
    options = round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    refuse_outputs(options, [out], errors)
    try:
        sites = load_candidates(candidates, _postcode_file(postcodes, errors))
        size_list = [int(x) for x in sizes.split(",") if x.strip()]
        designation_sets = [
            [n.strip() for n in group.split("+") if n.strip()]
            for group in designations.split(",")
            if group.strip()
        ]
        scenarios = sweep_scenarios(sites, designation_sets, size_list, setting_type=setting_type)
    except CandidateSiteError as exc:
        _refuse_problems(errors, exc.problems)
    except ValueError as exc:
        errors.print(f"[bold red]Cannot build the sweep:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    with round_console(errors) as run:
        prepared = run.prepare(options)
        inputs, cutoff = prepared.inputs, prepared.config.eligibility.cutoff_minutes
        run.stage(f"running {len(scenarios)} scenarios on Dask")
        task = run.progress.add_task("scenarios solved", total=len(scenarios))
        try:
            result = run_sweep(
                inputs.children,
                inputs.settings,
                scenarios,
                TravelFor(cutoff, prepared.network),
                prepared.config,
                scheduler=scheduler,
                workers=workers,
                progress=lambda done, _total: run.progress.update(task, completed=done),
            )
        except ScenarioError as exc:
            run.fail("; ".join(escape(str(p)) for p in exc.problems))
        table = sweep_table(result)
        run.write(out, partial(io.write_tables, out, [table]))
        run.stage.done()
    view = Table(title=f"Best of {len(scenarios)} scenarios (of {len(sites)} sites)")
    for column in ("Scenario", "Unplaced", "Mean minutes", "Total £ a year"):
        view.add_column(column, justify="left" if column == "Scenario" else "right")
    for row in result.best(n=10):
        m = row.metrics
        view.add_row(
            escape(row.scenario),
            f"{m.unplaced:,}",
            "-" if m.mean_minutes is None else f"{m.mean_minutes:.1f}",
            f"£{m.total_cost:,}",
        )
    console.print(view)
    console.print(f"Written: {escape(str(out))}", soft_wrap=True)


def _write_scenario_maps(
    site: str,
    maps: Sequence[Path],
    scenarios: Sequence[Scenario],
    comparison: ScenarioComparison,
    prepared: PreparedRound,
    run: RoundConsole,
) -> None:
    """The map of ``site`` in the first scenario that has it (the base if none adds it)."""
    from matcher.planning import apply_scenario
    from matcher.scenario_map import (
        MapDependencyError,
        render_scenario_map,
        render_scenario_png,
        write_scenario_map,
    )

    inputs = prepared.inputs
    children, settings, outcome = inputs.children, inputs.settings, comparison.base
    for scenario, candidate in zip(scenarios, comparison.scenarios, strict=True):
        kids, sites = apply_scenario(inputs.children, inputs.settings, scenario)
        if any(s.urn == site for s in sites):
            children, settings, outcome = kids, sites, candidate
            break
    for path in maps:
        run.stage(f"drawing {path.name}")
        try:
            if path.suffix.lower() == ".png":
                render_scenario_png(outcome, children, settings, prepared.network, site, path)
            else:
                html = render_scenario_map(outcome, children, settings, prepared.network, site)
                write_scenario_map(html, path)
        except (MapDependencyError, ValueError) as exc:
            run.fail(f"[bold red]Cannot draw the map:[/] {escape(str(exc))}")


@sites_app.command("choose")
def sites_choose_command(
    candidates: Annotated[
        Path,
        typer.Option(
            "--candidates",
            metavar="FILE",
            help="Candidate sites: a GeoJSON FeatureCollection of points or polygons, each "
            "with an `id` property (and optionally `name` and `options`), or a CSV (a `places` "
            "column makes each row one way to open its site).",
        ),
    ],
    k: Annotated[int, typer.Option("--k", min=1, help="How many sites to open.")],
    designations: Annotated[
        str,
        typer.Option("--designations", help="Needs the new provision is for, e.g. ASD,SEMH."),
    ],
    places: Annotated[
        int, typer.Option("--places", min=1, max=MAX_PLACES, help="Places at each new site.")
    ],
    children: ChildrenOption,
    settings: SettingsOption,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Where to write the choice (.xlsx/.csv)."),
    ],
    setting_type: Annotated[
        str,
        typer.Option(
            "--setting-type",
            help="special, alternative_provision or resourced_provision.",
        ),
    ] = "special",
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=1, help="Seconds for the solver.")
    ] = 60.0,
    at_most: Annotated[
        bool,
        typer.Option(
            "--at-most",
            help="Open up to --k sites: a site that does not pay for itself (see --site-cost) "
            "stays shut.",
        ),
    ] = False,
    site_cost: Annotated[
        int,
        typer.Option(
            "--site-cost",
            min=0,
            metavar="POUNDS",
            help="Annual cost of running each site opened (annualised build plus fixed "
            "costs), added to the cost level.",
        ),
    ] = 0,
    solver_name: Annotated[
        str,
        typer.Option(
            "--solver",
            help="auto (every subset's exact flow when that fits --time-limit, else benders), "
            "enumerate, benders, cp-sat or mip.",
        ),
    ] = "auto",
    gap: Annotated[
        str,
        typer.Option(
            "--gap",
            metavar="PERCENT",
            help="benders: stop once the choice is proven within this of the best possible "
            "(cost level), e.g. 0.1%. Default 0: proven optimal, or the best by --time-limit.",
        ),
    ] = "0",
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            metavar="PLACES[:CAPITAL[:RUNNING]],...",
            help="Sizes each site could open at, e.g. 60:4000000:250000,120:7000000:400000 "
            "(places, capital £, running £ a year); each site opens at one. Sites with their "
            "own options in the candidates file keep theirs.",
        ),
    ] = None,
    capital_budget: Annotated[
        int | None,
        typer.Option(
            "--capital-budget",
            min=0,
            metavar="POUNDS",
            help="The capital cost of the sites opened, together, at most this.",
        ),
    ] = None,
    tariffs: TariffsOption = None,
    year_start: YearStartOption = None,
    primary_limit: PrimaryLimitOption = 45.0,
    secondary_limit: SecondaryLimitOption = 75.0,
    la_code: LaCodeOption = None,
    osm: OsmOption = None,
    cache_dir: CacheDirOption = None,
    postcodes: PostcodesOption = None,
    demand: Annotated[
        str | None,
        typer.Option(
            "--demand",
            metavar="FORECAST#YEAR",
            help="Choose sites for a projected January's children instead of today's, e.g. "
            "forecast.xlsx#2029 (made by `sendmatch forecast --history`); today's children "
            "lend their homes.",
        ),
    ] = None,
) -> None:
    """``sendmatch sites choose``: a capacitated facility-location model, with its gap."""
    from matcher import io
    from matcher.cli_forecast import demand_option
    from matcher.needs import parse_need
    from matcher.planning import ScenarioError, demand_caseload
    from matcher.site_choice import (
        BendersProgress,
        CandidateSiteError,
        SiteChoiceConfig,
        choose_sites,
        load_candidates,
        parse_gap,
        parse_sizes,
    )
    from matcher.site_choice_report import came_from_text, site_choice_tables
    from matcher.travel_estimate import TravelFor

    console, errors = Console(), Console(stderr=True)
    options = round_options(
        children,
        settings,
        tariffs,
        year_start,
        primary_limit,
        secondary_limit,
        la_code,
        osm,
        cache_dir,
    )
    refuse_outputs(options, [out], errors)
    try:
        needs = [parse_need(part) for part in designations.split(",") if part.strip()]
    except ValueError as exc:
        errors.print(f"[bold red]--designations:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    try:
        sites = load_candidates(candidates, _postcode_file(postcodes, errors))
    except CandidateSiteError as exc:
        _refuse_problems(errors, exc.problems)
    if k > len(sites):
        errors.print(f"[bold red]--k {k}[/] is more than the {len(sites)} candidate sites")
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    if solver_name not in SITE_SOLVERS:
        errors.print(
            f"[bold red]--solver {escape(solver_name)}[/]: use one of {', '.join(SITE_SOLVERS)}"
        )
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    try:
        gap_fraction, site_options = parse_gap(gap), parse_sizes(sizes)
    except ValueError as exc:
        errors.print(f"[bold red]{escape(str(exc))}[/]")
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    projected = demand_option(demand, errors)
    with round_console(errors) as run:
        prepared = run.prepare(options)
        inputs, cutoff = prepared.inputs, prepared.config.eligibility.cutoff_minutes
        kids = inputs.children
        if projected is not None:
            run.stage(f"projecting the children of {demand}")
            try:
                kids = demand_caseload(projected, inputs.children, "--demand")
            except ScenarioError as exc:
                run.fail("; ".join(escape(str(p)) for p in exc.problems))
        up_to = "up to " if at_most else ""
        run.stage(f"choosing {up_to}{k} of {len(sites)} sites (up to {time_limit:g} s)")

        def progress(step: BendersProgress) -> None:
            what = "placed and preferences" if step.level == 1 else "£ a year"
            run.stage.note(
                f"{what}: best {step.best:,}, proven bound {step.bound:,}, gap {step.gap:.3%} "
                f"({step.flows} flows, {step.seconds:.0f} s)"
            )

        try:
            choice = choose_sites(
                kids,
                inputs.settings,
                sites,
                TravelFor(cutoff, prepared.network),
                k,
                needs,
                places,
                SiteChoiceConfig(
                    placement=prepared.config,
                    la_code=la_code,
                    solver=solver_name,  # type: ignore[arg-type]  # checked against SITE_SOLVERS
                    at_most=at_most,
                    site_cost=site_cost,
                    gap=gap_fraction,
                    capital_budget=capital_budget,
                ),
                setting_type=setting_type,
                time_limit=time_limit,
                options=site_options,
                on_progress=progress,
            )
        except ValueError as exc:
            run.fail(f"[bold red]{escape(str(exc))}[/]")
        run.write(out, partial(io.write_tables, out, site_choice_tables(choice)))
        run.stage.done()
    view = Table(title=f"Best {'of up to ' if at_most else ''}{k} of {len(sites)} candidate sites")
    for column in ("Site", "Opened as", "Children taken", "By need", "Placed before at"):
        view.add_column(column)
    for c in choice.chosen:
        view.add_row(
            escape(f"{c.site.site_id} {c.site.name or ''}".strip()),
            escape(c.option.label if c.option else f"{places} places"),
            str(c.children),
            escape(", ".join(f"{n} {v}" for n, v in sorted(c.by_need.items()))),
            escape(came_from_text(c.came_from)),
        )
    console.print(view)
    if choice.runner_up is not None:
        r = choice.runner_up
        how = "the next best set" if r.proven_second else "the best other set tried"
        console.print(
            f"Runner-up ({how}): {escape(', '.join(r.site_ids))}, £{r.cost:,} a year.",
            soft_wrap=True,
        )
    console.print(
        f"Placed {choice.with_sites.placed:,} (no new site: {choice.without.placed:,}); total "
        f"cost £{choice.with_sites.total_cost:,} a year (no new site: "
        f"£{choice.without.total_cost:,}). {len(choice.chosen)} site(s) opened. Solver "
        f"{choice.solver} {choice.status}; optimality gap {choice.gap:.2%}. Written: "
        f"{escape(str(out))}",
        soft_wrap=True,
    )
