"""A placement round, once: road network → files read and checked → journeys → place → write.

Every door into a round goes through here: ``sendmatch place`` and ``sendmatch demo`` run
:func:`run_round`; the tailored lists, panel pack, fair access and planning commands start
from :func:`prepare_round`; the API's run processes use its stages (:func:`placement_config`,
:func:`~matcher.travel_estimate.build_travel_matrix`) on files already stored. So a child's
journey, eligibility and placement are the same whichever door the round came in by.

Nothing here prints or exits. Progress goes to a callback, one short line per stage. What the
user must fix comes out as an exception carrying it: :class:`matcher.io.InputError` with every
problem in the files (file, row, field, reason), or a :class:`RoundProblem` for the road
network, an output file or the side constraints. The command line turns these into its
messages and exit codes, the API into its error responses. CP-SAT and the road-network modules
are imported only when a round asks for side constraints or a road network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from matcher import io, placement
from matcher.costs import Tariffs
from matcher.eligibility import (
    EligibilityConfig,
    EligibleArcs,
    OptionScreen,
    build_arcs,
    option_screen,
)
from matcher.placement import PlacementConfig, PlacementResult, ProgressCallback
from matcher.travel_estimate import TravelEstimate, build_travel_matrix, network_area

if TYPE_CHECKING:
    from geodata.boundaries import AreaReport, LocalArea
    from geodata.network import RoadNetwork
    from matcher.side_constraints import ConstrainedPlacement, SideConstraints

T = TypeVar("T")


class RoundProblem(Exception):
    """Why a round stopped, other than a row of its files (that is :class:`io.InputError`).

    ``str()`` is the reason in plain English, without markup: what the user must change.
    """


class NetworkProblem(RoundProblem):
    """The OpenStreetMap extract cannot be read or built into a road network."""


class OutputProblem(RoundProblem):
    """An output cannot take the result (wrong ending, no such folder, an input's own name).

    Raised before any work is done, so nothing is written.
    """


class BoundaryProblem(RoundProblem):
    """The boundary file cannot be read, or does not hold the LA asked for."""


class SideConstraintsProblem(RoundProblem):
    """The side constraints cannot all be met together (e.g. a budget below any plan's cost)."""


class WriteFailed(RoundProblem):
    """An output could not be written once the round was solved (e.g. it is open in Excel)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class RoundOptions:
    """A round as the user asked for it: their files and every option that changes the plan.

    Attributes
    ----------
    year_start
        First day of the school year planned for, which turns dates of birth into NC years;
        None for the next 1 September.
    primary_limit, secondary_limit
        Longest journey by phase, minutes.
    la_code
        The LA's code, for children whose record has none: decides what is out of area.
    osm
        An OpenStreetMap extract: journeys on its road network; None for the straight-line
        estimate.
    cache_dir
        Where built road networks are kept; None for :func:`resolve_cache_dir`'s default.
    side
        Constraints a flow cannot express (siblings, need shares, a budget), solved by CP-SAT;
        only :func:`run_round` uses them.
    boundary
        A polygon file of LA boundaries: with ``la_code`` (a code or name in it), settings and
        homes are in or out of area by where they are (:mod:`geodata.boundaries`).
    """

    children: Path
    settings: Path
    tariffs: Path | None = None
    year_start: date | None = None
    primary_limit: float = 45.0
    secondary_limit: float = 75.0
    la_code: str | None = None
    osm: Path | None = None
    cache_dir: Path | None = None
    side: SideConstraints | None = None
    boundary: Path | None = None

    @property
    def input_files(self) -> list[Path]:
        return [p for p in (self.children, self.settings, self.tariffs) if p is not None]


@dataclass(frozen=True)
class PreparedRound:
    """A round's checked inputs and journeys: everything a solver needs, nothing solved yet.

    ``network`` is the road network of ``--osm``, for outputs that draw it (maps, the pack);
    ``areas`` what ``--boundary`` decided (settings and homes outside the LA).
    """

    inputs: io.RoundInputs
    config: PlacementConfig
    travel: TravelEstimate
    start: date
    network: RoadNetwork | None = None
    areas: AreaReport | None = None
    screen: OptionScreen | None = None  # the pairs timed, if not every pair within reach


@dataclass(frozen=True)
class RoundResult:
    """A solved and written round.

    ``placement`` is the plan written; with side constraints it is ``constrained.result``, and
    ``constrained`` holds each level's value and proven bound.
    """

    prepared: PreparedRound
    placement: PlacementResult
    constrained: ConstrainedPlacement | None = None
    written: tuple[Path, ...] = ()

    @property
    def inputs(self) -> io.RoundInputs:
        return self.prepared.inputs

    @property
    def travel(self) -> TravelEstimate:
        return self.prepared.travel


def run_round(
    options: RoundOptions, outs: Sequence[Path], progress: ProgressCallback | None = None
) -> RoundResult:
    """Check, time the journeys, place, and write every file in ``outs`` (.csv or .xlsx).

    Raises
    ------
    OutputProblem
        Before any work, if an output cannot take the plan.
    io.InputError, NetworkProblem
        As :func:`prepare_round`; nothing is written.
    SideConstraintsProblem
        If ``options.side`` cannot be met; nothing is written.
    WriteFailed
        If an output cannot be written (outputs before it are).
    """
    report = progress or _silent
    check_outputs(options, outs)
    options_only = options.side is None or not options.side.any
    prepared = prepare_round(options, report, every_exclusion=not options_only)
    result, constrained = solve_round(prepared, options.side, report)
    for out in outs:
        write_output(out, partial(io.write_placements, result, out), report)
    return RoundResult(prepared, result, constrained, tuple(outs))


def prepare_round(
    options: RoundOptions, progress: ProgressCallback | None = None, *, every_exclusion: bool = True
) -> PreparedRound:
    """Load the road network (if any), check every input file, and time every journey.

    With ``osm``, the road network is loaded first, because it decides where points may lie
    (:func:`~matcher.travel_estimate.network_area`); the input files are then checked in full.
    ``every_exclusion=False`` has the straight-line estimate time only the pairs that could be
    options (and the named ones): enough to place and explain the plan (:func:`eligible_arcs`),
    not for tailored lists, which show every setting excluded within reach.

    Raises
    ------
    io.InputError
        With every problem in the files.
    NetworkProblem
        If the extract cannot be used.
    """
    report = progress or _silent
    start = options.year_start or io.next_september()
    area = load_local_area(options, report)
    network: RoadNetwork | None = None
    extra_areas: list[io.Area] = []
    if options.osm is not None:
        report(f"loading the road network from {options.osm.name}")
        network = load_network(options.osm, options.cache_dir)
        extra_areas.append(network_area(network, options.osm.name))
    report("reading and checking the input files")
    inputs = io.load_round(
        options.children,
        options.settings,
        options.tariffs,
        year_start=start,
        extra_areas=extra_areas,
    )
    areas: AreaReport | None = None
    if area is not None:
        children, settings, areas = area.assign(inputs.children, inputs.settings)
        inputs = replace(inputs, children=children, settings=settings)
    config = placement_config(
        inputs, options.primary_limit, options.secondary_limit, options.la_code
    )
    report(
        "estimating travel times on the road network"
        if network is not None
        else "estimating travel times (straight-line estimate: no --osm road network given)"
    )
    # The road network times every pair anyway (a search per setting): there a screen would
    # only drop pairs that explain a child with no option.
    screen = (
        None
        if every_exclusion or network is not None
        else option_screen(inputs.children, inputs.settings, config.eligibility)
    )
    travel = build_travel_matrix(
        inputs.children, inputs.settings, config.eligibility.cutoff_minutes, network, screen
    )
    return PreparedRound(inputs, config, travel, start, network, areas, screen)


def solve_round(
    prepared: PreparedRound,
    side: SideConstraints | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[PlacementResult, ConstrainedPlacement | None]:
    """The optimal plan: the exact flow, or CP-SAT warm-started from it when ``side`` asks.

    Raises :class:`SideConstraintsProblem` if the side constraints cannot all be met.
    """
    inputs, matrix = prepared.inputs, prepared.travel.matrix
    if side is None or not side.any:
        report = progress or _silent
        report("checking eligibility")
        arcs = eligible_arcs(prepared)
        plan = placement.place(
            inputs.children, inputs.settings, matrix, prepared.config, report, arcs=arcs
        )
        return plan, None
    from matcher.side_constraints import place_with_side_constraints

    try:
        constrained = place_with_side_constraints(
            inputs.children, inputs.settings, matrix, side, prepared.config, progress=progress
        )
    except ValueError as exc:
        raise SideConstraintsProblem(str(exc)) from None
    return constrained.result, constrained


def eligible_arcs(prepared: PreparedRound) -> EligibleArcs:
    """Every option of the round, and what explains the plan: the exclusions it names.

    Those are the named settings' and, for a child with no option at all, every setting within
    reach; a round that timed only its possible options times that child's journeys again.
    """
    inputs, config = prepared.inputs, prepared.config.eligibility
    arcs = build_arcs(
        inputs.children, inputs.settings, prepared.travel.matrix, config, prepared.screen
    )
    if prepared.screen is None:
        return arcs
    without = np.setdiff1d(np.arange(len(inputs.children)), arcs.child)
    if not len(without):
        return arcs
    theirs = [inputs.children[i] for i in without.tolist()]
    travel = build_travel_matrix(theirs, inputs.settings, config.cutoff_minutes, prepared.network)
    return arcs.with_exclusions_of(
        without, build_arcs(theirs, inputs.settings, travel.matrix, config)
    )


def placement_config(
    inputs: io.RoundInputs,
    primary_limit: float = 45.0,
    secondary_limit: float = 75.0,
    la_code: str | None = None,
) -> PlacementConfig:
    """The solver's settings for a round: its journey limits, its tariffs and its LA."""
    return PlacementConfig(
        eligibility=EligibilityConfig(
            primary_limit_minutes=primary_limit,
            secondary_limit_minutes=secondary_limit,
        ),
        tariffs=Tariffs.from_bands(inputs.tariffs),
        home_la_code=la_code,
    )


def load_network(osm: Path, cache_dir: Path | None = None) -> RoadNetwork:
    """The drivable road network of an extract, built once and then read from the cache.

    Raises :class:`NetworkProblem` if the extract cannot be used.
    """
    from geodata.network import NetworkError, load_drive_network

    try:
        return load_drive_network(osm, resolve_cache_dir(cache_dir))
    except NetworkError as exc:
        raise NetworkProblem(str(exc)) from None


def load_local_area(options: RoundOptions, progress: ProgressCallback) -> LocalArea | None:
    """The LA of ``options.boundary`` named by ``options.la_code``, or None without a boundary.

    Raises :class:`BoundaryProblem` if the file cannot be read or does not hold that LA.
    """
    if options.boundary is None:
        return None
    from geodata.boundaries import BoundaryError, local_area

    if not options.la_code:
        raise BoundaryProblem("--boundary needs --la-code: the code or name of your LA in it")
    progress(f"reading the LA boundaries from {options.boundary.name}")
    try:
        return local_area(options.boundary, options.la_code)
    except BoundaryError as exc:
        raise BoundaryProblem(str(exc)) from None


def resolve_cache_dir(cache_dir: Path | None) -> Path:
    """``cache_dir``, else ``$SENDMATCH_CACHE_DIR``, else ``~/.cache/sendmatch``."""
    from geodata.network import default_cache_dir

    return default_cache_dir() if cache_dir is None else cache_dir


def check_outputs(
    options: RoundOptions, outs: Sequence[Path], suffixes: Sequence[str] | None = None
) -> None:
    """Raise :class:`OutputProblem` for the first of ``outs`` that cannot take the result.

    ``suffixes`` are the endings allowed (lower case, with the dot); by default a table's.
    """
    for out in outs:
        problem = io.check_output_path(out, options.input_files, suffixes)
        if problem:
            raise OutputProblem(problem)


def write_output(path: Path, write: Callable[[], T], progress: ProgressCallback | None = None) -> T:
    """Run ``write`` (which writes ``path``), turning a refused write into :class:`WriteFailed`."""
    (progress or _silent)(f"writing {path.name}")
    try:
        return write()
    except OSError as exc:
        raise WriteFailed(path, exc.strerror or str(exc)) from None


def _silent(_stage: str) -> None:
    """The progress callback of a caller that does not follow progress."""
