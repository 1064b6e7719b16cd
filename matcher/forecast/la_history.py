"""An LA's forecast from the DfE's statistics, split by need and setting with its own history.

``sendmatch forecast --la CODE --history FOLDER`` combines the two sources this way:

* **Totals and age groups** are the statistics' forecast, exactly as without ``--history``: the
  pooled model of every LA, back-tested on every LA (:mod:`matcher.forecast.la_totals`). The
  LA's own snapshots are one LA's history and are not used for them.
* **The split by primary need and type of setting** is the LA's own: each age group's projected
  plans are shared across primary need x kind of place as the children of that age group are
  in the LA's snapshot of the statistics' latest January (or its latest snapshot, if it has
  none for that January). The DfE publishes no split by need for an LA's age groups, and the
  LA's own file has settings the DfE's rows do not (its awaiting-provision and EOTAS children).
* **Drift**: the types of setting drift as the DfE's figures for the LA have (the same fading
  trend as without ``--history``, :mod:`matcher.forecast.la_settings`); within a type of
  setting the needs keep the snapshot's proportions.

The snapshot files are those ``sendmatch forecast --history`` reads (one per January,
``child_id``, ``nc_year``, ``primary_need``, ``kind_of_place`` or ``setting_urn`` with
``--settings``), checked by the same reader; one January is enough, since no child is linked
from one year to the next here. An age group with no child in the snapshot takes the split of
all the snapshot's children.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher import io
from matcher.forecast import inputs
from matcher.forecast.dfe_statistics import (
    AGE_BAND_RANGES,
    AGE_BANDS,
    ALTERNATIVE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    OTHER,
    POST_16,
    RESOURCED,
    SETTING_TYPES,
    SPECIAL,
)
from matcher.forecast.la_settings import drifted_shares
from matcher.io import InputProblem
from matcher.models import PlacementKind
from matcher.read_limits import ReadLimits

#: The history's kinds of place as the statistics' types of setting.
KIND_SETTING: dict[str, str] = {
    PlacementKind.MAINSTREAM.value: MAINSTREAM,
    PlacementKind.RESOURCED_PROVISION.value: RESOURCED,
    PlacementKind.SPECIAL.value: SPECIAL,
    PlacementKind.INDEPENDENT.value: INDEPENDENT_SPECIAL,
    PlacementKind.ALTERNATIVE_PROVISION.value: ALTERNATIVE,
    inputs.POST16: POST_16,
    inputs.OTHER: OTHER,
}
#: An NC year's age on the 31 August before January, as the DfE counts ages (Reception: 4).
NC_YEAR_AGE = 4


@dataclass(frozen=True)
class HistorySplit:
    """Each age band's split across primary need x type of setting in one January of the
    LA's own history: ``shares`` is bands x ``needs`` x :data:`SETTING_TYPES`, each band
    adding up to 1."""

    source: str
    january: int
    needs: tuple[str, ...]
    shares: np.ndarray
    children_by_year: dict[int, int]
    bands_without_children: tuple[str, ...]
    counts: np.ndarray  # the January's children: bands x needs x types

    def observed(self, axis: str) -> np.ndarray:
        """The January's children by ``"need"`` or by ``"setting"`` (type of setting)."""
        return self.counts.sum(axis=(0, 2) if axis == "need" else (0, 1))


def age_band(nc_year: int) -> int:
    """The index in :data:`AGE_BANDS` of an NC year's children."""
    age = nc_year + NC_YEAR_AGE
    for band, (_, last) in enumerate(AGE_BAND_RANGES):
        if age <= last:
            return band
    return len(AGE_BANDS) - 1


def read_history_split(
    folder_or_files: Path | str | Sequence[Path | str],
    origin: int,
    *,
    settings: Path | str | None = None,
    limits: ReadLimits | None = None,
) -> HistorySplit:
    """The split of the LA's snapshot of January ``origin`` (else its latest).

    Raises
    ------
    matcher.io.InputError
        Every problem in the snapshot files, as ``sendmatch forecast --history`` reports them
        (file, row, column): a duplicate child in a year, an unknown need or kind of place, a
        file whose year cannot be told.
    """
    problems: list[InputProblem] = []
    paths = inputs._snapshot_paths(folder_or_files)
    kinds = inputs._read_setting_kinds(settings, limits) if settings is not None else None
    snapshots = inputs._read_snapshots(paths, kinds, settings, limits, problems)
    if not problems and not snapshots:
        label = inputs._label(folder_or_files)
        problems.append(InputProblem(label, None, None, "no children in the history files"))
    io.raise_if(problems)
    january = origin if origin in snapshots else max(snapshots)
    children = snapshots[january].values()
    needs = tuple(sorted({child.state.need for child in children}))
    counts = np.zeros((len(AGE_BANDS), len(needs), len(SETTING_TYPES)))
    for child in children:
        state = child.state
        setting = SETTING_TYPES.index(KIND_SETTING[state.setting])
        counts[age_band(state.academic_year), needs.index(state.need), setting] += 1
    held = counts.sum(axis=(1, 2), keepdims=True)
    every_age = counts.sum(axis=0) / counts.sum()
    shares = np.where(held > 0, counts / np.where(held > 0, held, 1.0), every_age[None])
    years = sorted(snapshots)
    return HistorySplit(
        source=f"{len(years)} January snapshot(s), {years[0]}-{years[-1]}",
        january=january,
        needs=needs,
        shares=shares,
        children_by_year={year: len(snapshots[year]) for year in years},
        bands_without_children=tuple(
            AGE_BANDS[b] for b in range(len(AGE_BANDS)) if held[b, 0, 0] == 0
        ),
        counts=counts,
    )


def split_simulations(split: HistorySplit, band_sims: np.ndarray, drift: np.ndarray) -> np.ndarray:
    """Simulated plans by need and type of setting (simulations x years x needs x types)
    from simulated plans by age band (simulations x years x bands); ``drift`` is the yearly
    change of the log share of each type of setting."""
    _, needs, types = split.shares.shape
    flat = split.shares.transpose(0, 2, 1)  # bands x types x needs
    out = np.empty((*band_sims.shape[:2], needs, types))
    type_shares = flat.sum(axis=2)  # bands x types
    with np.errstate(divide="ignore", invalid="ignore"):
        within = np.where(type_shares[..., None] > 0, flat / type_shares[..., None], 0.0)
    for step in range(band_sims.shape[1]):
        moved = drifted_shares(type_shares, drift, step + 1)  # bands x types
        cells = moved[..., None] * within  # bands x types x needs
        out[:, step] = np.einsum("sb,btn->snt", band_sims[:, step, :], cells)
    return out
