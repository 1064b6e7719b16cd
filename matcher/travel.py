"""The one interface through which travel times reach the matcher.

Whatever produced them (a road network, a straight-line estimate, an LA's own transport
system), travel times arrive as a sparse child × setting matrix of minutes with a label saying
which model made them, so every output can say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class TravelTimeMatrix:
    """Sparse door-to-door travel minutes; a pair that is absent is unreachable or too far.

    ``child_ids`` and ``setting_urns`` fix the row and column order. ``rows``/``cols``/``minutes``
    are parallel arrays (COO form); pairs are unique.
    """

    child_ids: tuple[str, ...]
    setting_urns: tuple[str, ...]
    rows: npt.NDArray[np.int32]
    cols: npt.NDArray[np.int32]
    minutes: npt.NDArray[np.float32]
    model: str

    def __post_init__(self) -> None:
        if not (len(self.rows) == len(self.cols) == len(self.minutes)):
            raise ValueError("rows, cols and minutes must have the same length")
        if len(self.rows) and (
            self.rows.min() < 0
            or self.rows.max() >= len(self.child_ids)
            or self.cols.min() < 0
            or self.cols.max() >= len(self.setting_urns)
        ):
            raise ValueError("travel matrix index out of range")
        if len(self.minutes) and (not np.all(np.isfinite(self.minutes)) or self.minutes.min() < 0):
            raise ValueError("travel minutes must be finite and non-negative")

    @classmethod
    def from_dense(
        cls,
        child_ids: Sequence[str],
        setting_urns: Sequence[str],
        minutes: npt.ArrayLike,
        model: str,
        cutoff_minutes: float | None = None,
    ) -> TravelTimeMatrix:
        """Build from a full matrix; NaN/inf, and anything over ``cutoff_minutes``, is dropped."""
        dense = np.asarray(minutes, dtype=np.float64)
        if dense.shape != (len(child_ids), len(setting_urns)):
            raise ValueError(
                f"matrix shape {dense.shape} does not match "
                f"{len(child_ids)} children × {len(setting_urns)} settings"
            )
        keep = np.isfinite(dense)
        if cutoff_minutes is not None:
            keep &= dense <= cutoff_minutes
        rows, cols = np.nonzero(keep)
        return cls(
            tuple(child_ids),
            tuple(setting_urns),
            rows.astype(np.int32),
            cols.astype(np.int32),
            dense[rows, cols].astype(np.float32),
            model,
        )

    def lookup(self) -> dict[tuple[int, int], float]:
        """A (row, col) → minutes mapping, for explanations of single pairs."""
        return {
            (int(r), int(c)): float(m)
            for r, c, m in zip(self.rows, self.cols, self.minutes, strict=True)
        }

    def reindexed(self, child_ids: Sequence[str], setting_urns: Sequence[str]) -> TravelTimeMatrix:
        """The same times in another row/column order (e.g. the order of loaded input files).

        Children or settings this matrix does not know get no pairs (so: unreachable).
        """
        row_map = {cid: i for i, cid in enumerate(child_ids)}
        col_map = {urn: j for j, urn in enumerate(setting_urns)}
        new_rows = np.array([row_map.get(c, -1) for c in self.child_ids], dtype=np.int64)
        new_cols = np.array([col_map.get(u, -1) for u in self.setting_urns], dtype=np.int64)
        r = new_rows[self.rows] if len(self.rows) else np.empty(0, np.int64)
        c = new_cols[self.cols] if len(self.cols) else np.empty(0, np.int64)
        keep = (r >= 0) & (c >= 0)
        return TravelTimeMatrix(
            tuple(child_ids),
            tuple(setting_urns),
            r[keep].astype(np.int32),
            c[keep].astype(np.int32),
            self.minutes[keep],
            self.model,
        )


def required_pair_array(
    required_pairs: Iterable[tuple[int, int]] | npt.NDArray[np.int64], n_rows: int, n_cols: int
) -> npt.NDArray[np.int64]:
    """(child row, setting column) pairs a matrix must time however far apart (parental
    preferences), checked against the matrix's shape and deduplicated."""
    given = required_pairs if isinstance(required_pairs, np.ndarray) else list(required_pairs)
    pairs = np.asarray(given, dtype=np.int64).reshape(-1, 2)
    if len(pairs) and (
        pairs[:, 0].min() < 0
        or pairs[:, 0].max() >= n_rows
        or pairs[:, 1].min() < 0
        or pairs[:, 1].max() >= n_cols
    ):
        raise ValueError("required_pairs has a (child_row, setting_col) out of range")
    # Sorted by row then column, each once: as np.unique(pairs, axis=0), on one key a pair.
    keys = np.unique(pairs[:, 0] * n_cols + pairs[:, 1])
    return np.stack(np.divmod(keys, max(n_cols, 1)), axis=1)
