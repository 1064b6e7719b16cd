"""Each simulated future's rates, moved as far as the history's rates moved from year to year.

Drawing each future's rates from their posteriors (parameter uncertainty) allows for the
history being a sample; it does not allow for next year's rates being different from the
history's, and they are: on witan.send's demo data the leavers at NC year 11 fell from 43% to
20% in four years, and the movers into one setting went 2, 1, 28, 40. Without that, the 95%
intervals of single settings held the truth in only 53-79% of them in the back-test.

So each future also draws, once, where each cell's rate has drifted to: a Beta (for a rate)
or Dirichlet (for a split) draw of the drift's concentration around the cell's pooled rate
(:class:`matcher.forecast.recency.Drift`), and every rate of the cell is scaled by the drawn
rate over the pooled one. The scale has mean 1, so the mean forecast barely moves (rates
scaled past 1 are capped; a split is renormalised). The cells are those the drift was
measured on: setting x phase of education for leaving, moving and need changes; phase x
destination for where movers go; phase for joiners per head; phase x setting for joiners'
split. A cell's draw moves a whole setting's children together, which is what widens a
setting's interval (draws per state would average out). The draw is held through the
projected years: one year's drift, not a random walk, so intervals far ahead are still
narrower than a drift that compounds would make them.

Rates of exactly 0 or 1 (never seen, or forced by the valid states) stay so; a part with no
drift measured draws nothing, so its random stream is as without drift.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matcher.forecast.recency import Drift

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def by_setting(
    rates: FloatArray, drift: Drift | None, phase: IntArray, rng: np.random.Generator
) -> FloatArray:
    """``[c, N, S, A]`` rates scaled per simulation x setting x phase (``drift.rates`` is
    ``[S, P]``)."""
    if drift is None:
        return rates
    scale = _rate_scale(drift, rates.shape[0], rng)  # [c, S, P]
    return _scaled_rates(rates, scale[:, None, :, phase])


def by_phase(
    rates: FloatArray, drift: Drift | None, phase: IntArray, rng: np.random.Generator
) -> FloatArray:
    """``[c, A]`` rates (joiners per head) scaled per simulation x phase."""
    if drift is None:
        return rates
    return _scaled_rates(rates, _rate_scale(drift, rates.shape[0], rng)[:, phase])


def destinations(
    probabilities: FloatArray, drift: Drift | None, phase: IntArray, rng: np.random.Generator
) -> FloatArray:
    """``[c, N, S, A, S']`` movers' destinations tilted per simulation x phase (of the NC year
    moved from) x destination (``drift.rates`` is ``[P, S']``)."""
    if drift is None:
        return probabilities
    scale = _share_scale(drift, probabilities.shape[0], rng)  # [c, P, S']
    return _normalised(probabilities * scale[:, None, None, phase, :], axes=1)


def join_split(
    split: FloatArray, settings: int, drift: Drift | None, phase: IntArray, rng: np.random.Generator
) -> FloatArray:
    """``[c, A, N * S]`` joiners' need x setting split tilted per simulation x phase x setting
    (``drift.rates`` is ``[P, S]``)."""
    if drift is None:
        return split
    sims, ncys, cells = split.shape
    scale = _share_scale(drift, sims, rng)  # [c, P, S]
    tilted = split.reshape(sims, ncys, -1, settings) * scale[:, phase, None, :]
    return _normalised(tilted, axes=2).reshape(sims, ncys, cells)


def _rate_scale(drift: Drift, sims: int, rng: np.random.Generator) -> FloatArray:
    """``[c, *cells]`` drawn rate over pooled rate (1 where the pooled rate is 0 or 1)."""
    rates = drift.rates
    moving = (rates > 0) & (rates < 1)
    safe = np.where(moving, rates, 0.5)
    c = drift.concentration
    drawn = rng.beta(c * safe, c * (1.0 - safe), (sims, *rates.shape))
    return np.where(moving, drawn / safe, 1.0)


def _share_scale(drift: Drift, sims: int, rng: np.random.Generator) -> FloatArray:
    """``[c, *rows, K]`` drawn share over pooled share, a Dirichlet per row (1 where the
    pooled share is 0)."""
    shares = drift.rates
    seen = shares > 0
    gamma = rng.standard_gamma(
        np.where(seen, drift.concentration * shares, 1.0), (sims, *shares.shape)
    )
    drawn = _normalised(np.where(seen, gamma, 0.0), axes=1)
    return np.where(seen, drawn / np.where(seen, shares, 1.0), 1.0)


def _scaled_rates(rates: FloatArray, scale: FloatArray) -> FloatArray:
    scaled = np.minimum(rates * scale, 1.0)
    return np.where(rates < 1.0, scaled, rates)


def _normalised(weights: FloatArray, axes: int) -> FloatArray:
    """Rows over the last ``axes`` axes summing to 1 (all-zero rows stay zero)."""
    total = weights.sum(axis=tuple(range(-axes, 0)), keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
