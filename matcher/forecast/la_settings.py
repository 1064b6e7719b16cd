"""The split of an LA's projected EHC plans across types of setting, from the DfE's statistics.

Each age band's plans are shared across setting types as in the latest January that crosses
age and setting (else the LA's shares of all plans, for every band), and the shares drift as
they have over the last three years, pooled with England's drift, the drift fading by
:data:`DRIFT_DAMPING` a year (a trend of shares does not last for ever: special schools fill
up). The split carries no uncertainty of its own: its intervals are those of the age bands.

:class:`SettingPanel` reads the statistics' setting types once, so that a region's or every
LA's split (and its back-test, :func:`projected_shares`) does not re-read the tables LA by LA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher.forecast.dfe_statistics import (
    AGE_BANDS,
    ENGLAND,
    INDEPENDENT_SPECIAL,
    SETTING_TYPES,
    SPECIAL_SCHOOLS,
    EhcpStatistics,
)

BANDS = len(AGE_BANDS)
#: Shares of setting types drift as they have, the drift fading by this factor a year, and
#: never faster than MAX_DRIFT a year (as a change of the log share).
DRIFT_DAMPING = 0.7
MAX_DRIFT = 0.10
#: Januaries behind a drift.
DRIFT_YEARS = 3


@dataclass(frozen=True)
class SettingPanel:
    """Every area's plans by setting type, by January: ``wide[code]`` has a row per January
    whose every type is known and whose plans are more than none, a column per type of
    :data:`SETTING_TYPES`; ``cross[code]`` the latest January crossing age and setting."""

    wide: dict[str, pd.DataFrame]
    cross: dict[str, pd.DataFrame]

    @classmethod
    def of(cls, statistics: EhcpStatistics) -> SettingPanel:
        rows = statistics.by_setting
        every = rows.pivot_table(
            index=["code", "year"], columns="setting_type", values="plans", aggfunc="first"
        )
        every = every.reindex(columns=list(SETTING_TYPES)).dropna().sort_index()
        every = every[every.sum(axis=1) > 0]
        wide = {
            str(code): table.droplevel("code")
            for code, table in every.groupby(level="code", sort=False)
        }
        cross = {
            str(code): rows.dropna(subset=["plans"])
            for code, rows in statistics.by_age_setting.groupby("code")
        }
        return cls(wide, cross)

    def table(self, code: str, origin: int) -> pd.DataFrame:
        """The area's Januaries up to ``origin`` (empty when it has none)."""
        wide = self.wide.get(code)
        if wide is None:
            return pd.DataFrame(columns=list(SETTING_TYPES), dtype=float)
        return wide[wide.index <= origin]

    def has_settings(self, code: str, origin: int) -> bool:
        """Whether a split is possible: the LA's or England's setting types are known."""
        return any(not self.table(area, origin).empty for area in (code, ENGLAND))

    def observed(self, code: str, year: int) -> np.ndarray | None:
        """The LA's plans by setting type in ``year``, if known."""
        wide = self.wide.get(code)
        if wide is None or year not in wide.index:
            return None
        return wide.loc[year].to_numpy(dtype=float)

    def latest_shares(self, code: str, origin: int) -> np.ndarray:
        """The LA's shares of setting types in its latest January with them (England's if
        none)."""
        for area in (code, ENGLAND):
            wide = self.table(area, origin)
            if not wide.empty:
                counts = wide.iloc[-1].to_numpy(dtype=float)
                return counts / counts.sum()
        return np.full(len(SETTING_TYPES), 1.0 / len(SETTING_TYPES))

    def band_shares(self, code: str, origin: int) -> np.ndarray:
        """Bands x types: each age band's shares in the latest January crossing the two (up
        to ``origin``), else the LA's latest shares of all plans for every band."""
        shares = np.tile(self.latest_shares(code, origin), (BANDS, 1))
        cross = self.cross.get(code)
        if cross is None:
            return shares
        cross = cross[cross["year"] <= origin]
        if cross.empty:
            return shares
        latest = cross[cross["year"] == cross["year"].max()]
        table = (
            latest.pivot_table(
                index="age_band", columns="setting_type", values="plans", aggfunc="sum"
            )
            .reindex(index=list(AGE_BANDS), columns=list(SETTING_TYPES))
            .fillna(0.0)
        )
        counts = table.to_numpy()
        held = counts.sum(axis=1, keepdims=True)
        return np.where(held > 0, counts / np.where(held > 0, held, 1.0), shares)

    def drift(self, code: str, origin: int) -> np.ndarray:
        """The yearly change of the log share of each setting type: England's, plus half
        the LA's own difference from it (its shares are noisier: a setting type of 10 plans
        moves by 10% with one child), at most :data:`MAX_DRIFT` a year."""
        england = self._own_drift(ENGLAND, origin)
        own = self._own_drift(code, origin)
        return np.clip(england + 0.5 * (own - england), -MAX_DRIFT, MAX_DRIFT)

    def _own_drift(self, area: str, origin: int) -> np.ndarray:
        wide = self.table(area, origin).tail(DRIFT_YEARS + 1)
        if len(wide) < 2:
            return np.zeros(len(SETTING_TYPES))
        shares = wide.to_numpy(dtype=float) / wide.sum(axis=1).to_numpy(dtype=float)[:, None]
        first, last = shares[0], shares[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.log(last / first) / (len(wide) - 1)
        return np.where(np.isfinite(change), change, 0.0)

    def special_shares(self, code: str, origin: int) -> tuple[float, float]:
        """The area's share in special schools and in independent or non-maintained special
        schools in ``origin`` (NaN when not known)."""
        wide = self.table(code, origin)
        if wide.empty or int(wide.index[-1]) != origin:
            return np.nan, np.nan
        counts = wide.iloc[-1]
        whole = counts.sum()
        return (
            float(counts[list(SPECIAL_SCHOOLS)].sum() / whole),
            float(counts[INDEPENDENT_SPECIAL] / whole),
        )


def drifted_shares(shares: np.ndarray, drift: np.ndarray, step: int) -> np.ndarray:
    """``shares`` (groups x types, rows adding up to 1) ``step`` years on (1 for the first
    projected January), moved by the fading drift and made to add up to 1 again."""
    years_of_drift = sum(DRIFT_DAMPING**k for k in range(step))
    moved = shares * np.exp(drift * years_of_drift)
    return moved / np.maximum(moved.sum(axis=-1, keepdims=True), 1e-12)


def setting_simulations(
    panel: SettingPanel, code: str, origin: int, band_sims: np.ndarray
) -> np.ndarray:
    """Simulated plans by setting type (simulations x years x types) from simulated plans by
    age band (simulations x years x bands)."""
    shares = panel.band_shares(code, origin)
    drift = panel.drift(code, origin)
    out = np.empty((*band_sims.shape[:2], len(SETTING_TYPES)))
    for step in range(band_sims.shape[1]):
        out[:, step, :] = band_sims[:, step, :] @ drifted_shares(shares, drift, step + 1)
    return out


def projected_shares(
    panel: SettingPanel, code: str, origin: int, step: int, bands: np.ndarray
) -> np.ndarray:
    """The LA's shares of setting types ``step`` years after ``origin`` for plans by age
    band ``bands`` (the mean projection): the split the forecast gives, as shares."""
    moved = drifted_shares(panel.band_shares(code, origin), panel.drift(code, origin), step)
    counts = bands @ moved
    return counts / max(float(counts.sum()), 1e-12)
