"""Seeded synthetic settings and SEND caseloads, calibrated to published national shares.

Why this exists: real caseloads are personal data and never leave an LA, yet the demo, the tests
and the benchmarks need caseloads that behave like an LA's: the national mix of needs, ages and
sexes, parents' preferences that cluster near home and are sometimes unsuitable or full,
sibling pairs, access requirements, and settings whose vacancies are tight the way an admissions
round is tight. Every function here is pure: the same arguments and seed give the same output,
on any machine with the same numpy.

Vacancies are set from the *expected demand* (``expected_children``), using the same shares
the caseload generator draws from, so "tight but mostly placeable" holds at any scale:
mainstream year groups get ~1.1× the expected mainstream demand (and at least 2 places in an
entry year), specialist settings ~1.05× the expected demand for specialist-only places *for
each need they are designated for*, and geography, age ranges, single-sex settings, access
requirements and preferences do the rest. Measured with the project's eligibility rules, a
greedy placement places ~95-99% of a round, and ~25-30% of first preferences are for a setting
and year already oversubscribed (tests/test_synthetic.py checks both).

Calibration sources (figures marked ~ are approximate; see each constant):

- Primary need: DfE, "Special educational needs in England", January 2024 (school census),
  pupils with an EHC plan by primary type of need (~).
- Sex: same publication, ~73% of pupils with an EHC plan are boys.
- Age (whole caseload): DfE, "Education, health and care plans", January 2024 (SEN2), plans by
  age band (~).
- Where pupils with EHC plans are taught (the specialist-only share, ~42%): "Special educational
  needs in England", January 2024: ~40% in state special schools plus NMSS/independent special.
Everything else (transfer-round composition, preference counts, sibling and wheelchair rates,
setting mix) is a stated modelling assumption, chosen to be plausible, not published.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from matcher.models import (
    DEFAULT_SUITABLE_KINDS,
    Child,
    Location,
    PlacementKind,
    Provision,
    ProvisionKind,
    Requirement,
    Setting,
    SettingType,
    Sex,
    SexAdmitted,
)
from matcher.needs import PrimaryNeed

N = PrimaryNeed

# --- Children ---------------------------------------------------------------------------------

# Primary need of EHC plans, England, SEN2 January 2025, all 638,745 plans aged 0-25
# (DfE explore-education-statistics, "Education, health and care plans as at January each
# year, by primary type of need"): ASD 31.5, SLCN 21.3, SEMH 20.7, MLD 10.6, SLD 3.9, PD 3.9,
# SPLD 2.4, HI 1.4, PMLD 1.3, OTH 1.2, VI 0.8, MSI 0.3 (%), closed to 1 on ASD. NSA is a
# SEN-support-only category, so it has no share among EHC plans.
PRIMARY_NEED_SHARES: Mapping[PrimaryNeed, float] = {
    N.ASD: 0.322,
    N.SLCN: 0.213,
    N.SEMH: 0.207,
    N.MLD: 0.106,
    N.SLD: 0.039,
    N.PD: 0.039,
    N.SPLD: 0.024,
    N.HI: 0.014,
    N.PMLD: 0.013,
    N.OTH: 0.012,
    N.VI: 0.008,
    N.MSI: 0.003,
}

# ~73% of pupils with an EHC plan are boys (SEN in England, January 2024).
MALE_SHARE = 0.73

# A phase-transfer round (assumption): reception entry, Y3 (junior schools, where an area has
# infant/junior schools), Y7 and post-16 (Y12), plus a tail of in-year moves and re-placements.
# Y7 outweighs R because plans accumulate with age; Y12 is large because every Y11 with a plan
# is reviewed for post-16.
_TRANSFER_YEARS = {0: 0.20, 3: 0.06, 7: 0.38, 12: 0.26}
_TRANSFER_TAIL_YEARS = (1, 2, 4, 5, 6, 8, 9, 10, 11, 13, 14)
PHASE_TRANSFER_YEAR_SHARES: Mapping[int, float] = {
    **_TRANSFER_YEARS,
    **{
        y: (1.0 - sum(_TRANSFER_YEARS.values())) / len(_TRANSFER_TAIL_YEARS)
        for y in _TRANSFER_TAIL_YEARS
    },
}

# Whole caseload by age (SEN2, January 2024, ~): under 5 ~4.5%, 5-10 ~34%, 11-15 ~35.5%,
# 16-19 ~21%, 20-25 ~5%. Spread evenly within a band, except under-5s, most of whom are 4
# (reception age) when their plan names a school. 25-year-olds fold into 24 (NC year 20 is the
# model's last).
_AGE_BANDS: tuple[tuple[float, tuple[int, ...], tuple[float, ...] | None], ...] = (
    (0.045, (-2, -1, 0), (0.1, 0.3, 0.6)),
    (0.340, (1, 2, 3, 4, 5, 6), None),
    (0.355, (7, 8, 9, 10, 11), None),
    (0.210, (12, 13, 14, 15), None),
    (0.050, (16, 17, 18, 19, 20), None),
)


def _whole_caseload_shares() -> dict[int, float]:
    shares: dict[int, float] = {}
    for band_share, years, weights in _AGE_BANDS:
        w = weights or tuple(1.0 / len(years) for _ in years)
        for year, wy in zip(years, w, strict=True):
            shares[year] = band_share * wy
    return shares


WHOLE_CASELOAD_YEAR_SHARES: Mapping[int, float] = _whole_caseload_shares()

# Share of each need whose EHCP allows only specialist places (resourced provision, special,
# independent). SLD, PMLD and MSI are specialist-only by default (DEFAULT_SUITABLE_KINDS). The
# rates (assumption) give ~42% specialist-only overall, close to the share of pupils with EHC
# plans taught in state special, NMSS and independent special schools (~, DfE SEN in England).
SPECIALIST_ONLY_RATE: Mapping[PrimaryNeed, float] = {
    N.ASD: 0.50,
    N.SLCN: 0.20,
    N.SEMH: 0.40,
    N.MLD: 0.50,
    N.PD: 0.40,
    N.OTH: 0.30,
    N.SPLD: 0.05,
    N.HI: 0.25,
    N.VI: 0.25,
    N.SLD: 1.0,
    N.PMLD: 1.0,
    N.MSI: 1.0,
}
# Share whose EHCP also allows alternative provision (assumption): AP is named only where asked.
AP_ALLOWED_RATE: Mapping[PrimaryNeed, float] = {N.SEMH: 0.10}

# Wheelchair users (assumption, ~8% overall): most common with PMLD and PD.
_WHEELCHAIR_BY_NEED = {N.PD: 0.55, N.PMLD: 0.70, N.MSI: 0.25, N.SLD: 0.12}
_WHEELCHAIR_OTHERWISE = 0.0485
WHEELCHAIR_RATE: Mapping[PrimaryNeed, float] = {
    need: _WHEELCHAIR_BY_NEED.get(need, _WHEELCHAIR_OTHERWISE) for need in PRIMARY_NEED_SHARES
}
# Residential (52-week or weekly boarding) and nursing needs are rare (assumption).
RESIDENTIAL_RATE: Mapping[PrimaryNeed, float] = {
    need: {N.PMLD: 0.03, N.MSI: 0.05, N.SEMH: 0.015, N.SLD: 0.01}.get(need, 0.004)
    for need in PRIMARY_NEED_SHARES
}
NURSING_RATE: Mapping[PrimaryNeed, float] = {
    need: {N.PMLD: 0.15, N.PD: 0.03, N.SLD: 0.02, N.MSI: 0.05}.get(need, 0.0)
    for need in PRIMARY_NEED_SHARES
}

# Secondary needs (assumption): ~30% of plans record one, ~6% two, drawn from needs that
# commonly co-occur with the primary need.
SECONDARY_NEED_RATES = (0.30, 0.06)
_CO_OCCURRING: Mapping[PrimaryNeed, tuple[PrimaryNeed, ...]] = {
    N.ASD: (N.SLCN, N.SEMH, N.MLD, N.SLD),
    N.SLCN: (N.ASD, N.MLD, N.SEMH),
    N.SEMH: (N.ASD, N.SLCN, N.SPLD),
    N.SLD: (N.ASD, N.PD, N.SLCN),
    N.MLD: (N.SLCN, N.ASD, N.SEMH),
    N.PD: (N.MLD, N.SLCN, N.VI),
    N.OTH: (N.SEMH, N.PD, N.SLCN),
    N.SPLD: (N.SEMH, N.SLCN),
    N.PMLD: (N.PD, N.VI, N.HI, N.MSI),
    N.HI: (N.SLCN, N.VI),
    N.VI: (N.PD, N.MLD),
    N.MSI: (N.PD, N.SLD),
}

# Children in sibling pairs (assumption ~5%); a third of pairs are twins in the same year.
SIBLING_SHARE = 0.05
TWIN_SHARE = 0.30
# Number of ranked parental preferences 0, 1, 2, 3 (assumption).
PREFERENCE_COUNT_SHARES = (0.15, 0.40, 0.25, 0.20)
# Homes sit within this distance of a residential street node.
HOME_JITTER_M = 50.0

# --- Settings ---------------------------------------------------------------------------------

# Mix of the settings that matter to a placement round (assumption): ~68% mainstream incl. FE,
# ~18% state special, ~7% independent special, ~3% NMSS, ~1% specialist post-16, ~3% AP.
SETTING_MIX: Mapping[str, float] = {
    "primary": 0.46,
    "secondary": 0.20,
    "fe": 0.02,
    "special": 0.18,
    "iss": 0.07,
    "nmss": 0.03,
    "spi": 0.01,
    "ap": 0.03,
}
# Share of each group placed in a neighbouring LA (~11% overall): out-of-area independent
# placements are common, out-of-area mainstream ones near the boundary only.
OUT_OF_AREA_RATE: Mapping[str, float] = {
    "primary": 0.07,
    "secondary": 0.07,
    "fe": 0.10,
    "special": 0.10,
    "iss": 0.40,
    "nmss": 0.50,
    "spi": 0.30,
    "ap": 0.03,
}
RESOURCED_PROVISION_SHARE = 0.15  # of mainstream schools
# Vacancies per expected child needing that kind of place (see the module docstring): little
# more than one, so placement is a real allocation problem, not a formality.
MAINSTREAM_SLACK = 1.10
SPECIALIST_SLACK = 1.05
AP_SLACK = 1.5
# Entry-year floor for mainstream vacancies: an admissions round never leaves a school with none.
ENTRY_YEAR_MIN_VACANCIES = 2
# Children per setting when ``expected_children`` is not given: an admissions round, or a full
# re-plan of the caseload (~25,000 plans over ~600 settings in the largest LAs).
CHILDREN_PER_SETTING_ROUND = 5
CHILDREN_PER_SETTING_WHOLE = 40

_TYPE_OF = {
    "primary": SettingType.MAINSTREAM,
    "secondary": SettingType.MAINSTREAM,
    "fe": SettingType.FURTHER_EDUCATION,
    "special": SettingType.SPECIAL,
    "iss": SettingType.INDEPENDENT_SPECIAL,
    "nmss": SettingType.NON_MAINTAINED_SPECIAL,
    "spi": SettingType.SPECIALIST_POST16,
    "ap": SettingType.ALTERNATIVE_PROVISION,
}
_SPECIALIST_GROUPS = ("special", "iss", "nmss", "spi")
# How readily an LA fills each kind of specialist place (the independent sector takes overflow).
_SPECIALIST_WEIGHT = {"special": 1.0, "iss": 0.5, "nmss": 0.5, "spi": 1.0, "rp": 0.8}

# Designation archetypes: (core needs always designated, optional needs added to reach the
# drawn count). Special schools in England cluster like this: complex learning needs, autism,
# SEMH, generic learning difficulties, and sensory/physical.
_ARCHETYPES: Mapping[str, tuple[tuple[PrimaryNeed, ...], tuple[PrimaryNeed, ...]]] = {
    "complex": ((N.SLD, N.PMLD), (N.PD, N.MSI, N.ASD, N.OTH)),
    "autism": ((N.ASD,), (N.SLCN, N.MLD, N.SEMH)),
    "semh": ((N.SEMH,), (N.ASD, N.SLCN)),
    "learning": ((N.MLD,), (N.ASD, N.SLCN, N.SPLD, N.SLD, N.OTH)),
    "sensory": ((N.PD,), (N.HI, N.VI, N.MSI, N.OTH)),
}
_ARCHETYPE_MIX: Mapping[str, Mapping[str, float]] = {
    "special": {"complex": 0.26, "autism": 0.30, "semh": 0.18, "learning": 0.16, "sensory": 0.10},
    "iss": {"complex": 0.08, "autism": 0.45, "semh": 0.35, "learning": 0.07, "sensory": 0.05},
    "nmss": {"complex": 0.30, "autism": 0.20, "sensory": 0.50},
    "spi": {"complex": 0.40, "autism": 0.40, "learning": 0.20},
}
_NEED_COUNT_RANGE = {"special": (2, 4), "iss": (1, 3), "nmss": (2, 4), "spi": (2, 3)}
# Needs resourced provisions and SEN units are designated for (assumption, ASD-led as in GIAS).
_RP_NEEDS: Mapping[PrimaryNeed, float] = {
    N.ASD: 0.40,
    N.SLCN: 0.20,
    N.SEMH: 0.10,
    N.MLD: 0.10,
    N.HI: 0.08,
    N.PD: 0.05,
    N.SPLD: 0.04,
    N.VI: 0.03,
}
_AGE_RANGES: Mapping[str, tuple[tuple[tuple[int, int], float], ...]] = {
    "special": (
        ((2, 19), 0.30), ((4, 11), 0.20), ((11, 19), 0.30), ((11, 16), 0.10), ((5, 16), 0.10)
    ),
    "iss": (((7, 19), 0.30), ((11, 19), 0.35), ((5, 19), 0.20), ((8, 18), 0.15)),
    "nmss": (((5, 19), 0.50), ((2, 19), 0.30), ((11, 19), 0.20)),
    "ap": (((11, 16), 0.70), ((5, 11), 0.15), ((5, 16), 0.15)),
    "fe": (((16, 26), 1.0),),
    "spi": (((16, 26), 1.0),),
}  # fmt: skip
_SIZE_RANGE = {
    "special": (60, 250),
    "iss": (20, 120),
    "nmss": (30, 120),
    "spi": (20, 80),
    "ap": (30, 100),
    "fe": (1500, 4000),
}
_FEE_RANGE = {"iss": (45_000, 110_000), "nmss": (50_000, 110_000), "spi": (35_000, 80_000)}
_WHEELCHAIR_SHARE = {
    "primary": 0.6,
    "secondary": 0.6,
    "fe": 0.9,
    "special": 0.9,
    "iss": 0.5,
    "nmss": 0.95,
    "spi": 0.8,
    "ap": 0.4,
}
_RESIDENTIAL_SHARE = {"special": 0.05, "iss": 0.25, "nmss": 0.5, "spi": 0.3}
# An FE college's intake in one year, relative to its size, for sharing out post-16 demand.
_FE_YEAR_WEIGHT = 0.15

_NAME_STEMS = (
    "Ashfield", "Beechwood", "Brookside", "Castle", "Cedars", "Chestnut", "Church Lane",
    "Coppice", "Elmhurst", "Fairfield", "Foxhill", "Glebe", "Greenway", "Hawthorn", "Heathfield",
    "Highgate", "Hillside", "Hollybank", "Kingsmead", "Lakeside", "Larkrise", "Linden", "Maple",
    "Meadowbank", "Millbrook", "Northgate", "Oakfield", "Orchard", "Park View", "Priory",
    "Queensway", "Ridgeway", "Riverside", "Rosewood", "St Anne's", "St John's", "St Mary's",
    "Springfield", "Stonebridge", "Sycamore", "Thornbury", "Valley", "Westfield", "Willow",
    "Windmill", "Woodlands", "Yew Tree",
)  # fmt: skip
_NAME_QUALIFIERS = ("", " Park", " Green", " Vale", " Hill", " Fields", " Grange", " Lodge")
_SUFFIX = {
    "primary": "Primary School",
    "infant": "Infant School",
    "junior": "Junior School",
    "secondary": "Academy",
    "fe": "College",
    "special": "School",
    "iss": "Independent School",
    "nmss": "School (NMSS)",
    "spi": "Specialist College",
    "ap": "Learning Centre",
}

_SETTINGS_STREAM = 1
_CASELOAD_STREAM = 2
_METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180.0


def year_shares(phase_transfer: bool) -> dict[int, float]:
    """NC-year distribution the caseload generator draws from (and vacancies are sized for)."""
    return dict(PHASE_TRANSFER_YEAR_SHARES if phase_transfer else WHOLE_CASELOAD_YEAR_SHARES)


def _specialist_only_rate(need: PrimaryNeed) -> float:
    if PlacementKind.MAINSTREAM not in DEFAULT_SUITABLE_KINDS[need]:
        return 1.0
    return SPECIALIST_ONLY_RATE.get(need, 0.0)


def _points(
    points_lat: npt.ArrayLike, points_lon: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    lat = np.asarray(points_lat, dtype=np.float64).ravel()
    lon = np.asarray(points_lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape or len(lat) == 0:
        raise ValueError("points_lat and points_lon must be non-empty and of equal length")
    if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
        raise ValueError("candidate points must be finite")
    if np.any(np.abs(lat) > 90) or np.any(np.abs(lon) > 180):
        raise ValueError("candidate points must be WGS84 degrees (|lat| <= 90, |lon| <= 180)")
    return lat, lon


def _km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Equirectangular distance in km (broadcasting): exact enough within one LA."""
    la1, lo1, la2, lo2 = (np.asarray(a, dtype=np.float64) for a in (lat1, lon1, lat2, lon2))
    x = (lo2 - lo1) * np.cos(np.radians((la1 + la2) / 2))
    y = la2 - la1
    return np.asarray(np.hypot(x, y) * _METRES_PER_DEGREE / 1000.0)


def _apportion(n: int, shares: Mapping[str, float], at_least_one: Sequence[str]) -> dict[str, int]:
    """Largest-remainder counts summing to ``n``; ``at_least_one`` groups get one when n allows.

    Exact apportionment (rather than sampling) keeps small demos sensible and makes the mix a
    property of ``n``, not of luck.
    """
    total = sum(shares.values())
    quotas = {k: n * v / total for k, v in shares.items()}
    counts = {k: math.floor(q) for k, q in quotas.items()}
    by_remainder = sorted(shares, key=lambda k: (-(quotas[k] - counts[k]), k))
    for k in by_remainder[: n - sum(counts.values())]:
        counts[k] += 1
    for k in at_least_one:
        if n >= len(at_least_one) and counts[k] == 0:
            spare = [d for d in counts if counts[d] > (1 if d in at_least_one else 0)]
            donor = max(spare, key=lambda d: (counts[d], d))
            counts[donor] -= 1
            counts[k] += 1
    return counts


def _round_random(x: float, rng: np.random.Generator) -> int:
    """Unbiased integer rounding: E[result] = x, so fractional demand is not lost at small n."""
    base = math.floor(x)
    return int(base + (rng.random() < x - base))


def _pick(rng: np.random.Generator, options: Mapping[str, float]) -> str:
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


@dataclass
class _Draft:
    """A setting being built: vacancies are filled in before it becomes a ``Setting``."""

    group: str  # key of SETTING_MIX, with "primary" refined to infant/junior in ``phase``
    phase: str
    urn: str
    name: str
    la_code: str
    point: int
    low: int
    high: int
    sex: SexAdmitted = SexAdmitted.MIXED
    needs: frozenset[PrimaryNeed] = frozenset()
    facilities: set[Requirement] = field(default_factory=set)
    size: int = 0  # total places for settings without year groups
    pan: dict[int, int] = field(default_factory=dict)  # year → places, for year-group settings
    entry_years: tuple[int, ...] = ()
    vacancies: dict[int, int] = field(default_factory=dict)  # year → vacancies (year groups)
    vacant: int = 0  # vacancies for settings without year groups
    provision: tuple[ProvisionKind, frozenset[PrimaryNeed], int] | None = None
    provision_vacant: int = 0
    fee: int | None = None

    def admits(self, year: int) -> bool:
        return self.low <= year + 4 < self.high


def _location_pools(
    lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64], rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """Shuffled candidate points for in-area (inner 85%) and out-of-area (outer 30%) settings.

    Out-of-area settings sit in a neighbouring LA, so they are drawn from the edge of the area.
    """
    d = _km(lat.mean(), lon.mean(), lat, lon)
    rank = np.argsort(np.argsort(d, kind="stable"), kind="stable") / max(len(d) - 1, 1)
    inner = np.nonzero(rank <= 0.85)[0]
    outer = np.nonzero(rank >= 0.70)[0]
    return list(rng.permutation(inner)), list(rng.permutation(outer))


def _take_point(pool: list[int], used: set[int], n_points: int, rng: np.random.Generator) -> int:
    while pool:
        candidate = int(pool.pop())
        if candidate not in used:
            used.add(candidate)
            return candidate
    return int(rng.integers(n_points))  # more settings than points: share a node


def _unique_name(used: set[str], suffix: str, rng: np.random.Generator) -> str:
    """A plausible English school name, never repeated: names are how panels talk."""
    for _ in range(50):
        stem = _NAME_STEMS[int(rng.integers(len(_NAME_STEMS)))]
        qualifier = _NAME_QUALIFIERS[int(rng.integers(len(_NAME_QUALIFIERS)))]
        name = f"{stem}{qualifier} {suffix}"
        if name not in used:
            used.add(name)
            return name
    number = len(used)
    while (name := f"{_NAME_STEMS[0]} {suffix} {number}") in used:
        number += 1
    used.add(name)
    return name


def _draw_needs(group: str, rng: np.random.Generator) -> frozenset[PrimaryNeed]:
    core, optional = _ARCHETYPES[_pick(rng, _ARCHETYPE_MIX[group])]
    low, high = _NEED_COUNT_RANGE[group]
    count = int(rng.integers(low, high + 1))
    extra = max(0, min(count - len(core), len(optional)))
    chosen = rng.choice(len(optional), size=extra, replace=False)
    return frozenset(core) | {optional[int(i)] for i in chosen}


def _draft_mainstream(d: _Draft, rng: np.random.Generator) -> None:
    entry: tuple[int, ...]
    if d.group == "primary":
        u = rng.random()
        if u < 0.10:
            d.phase, d.low, d.high, entry = "infant", 4, 7, (0,)
        elif u < 0.20:
            d.phase, d.low, d.high, entry = "junior", 7, 11, (3,)
        elif u < 0.35:
            d.phase, d.low, d.high, entry = "primary", 3, 11, (-1, 0)
        else:
            d.phase, d.low, d.high, entry = "primary", 4, 11, (0,)
        pan = int(rng.choice([15, 30, 45, 60, 90], p=[0.08, 0.45, 0.12, 0.28, 0.07]))
        d.pan = {y: pan for y in range(d.low - 4, d.high - 4)}
    else:
        sixth_form = rng.random() < 0.6
        d.low, d.high = (11, 18) if sixth_form else (11, 16)
        entry = (7, 12) if sixth_form else (7,)
        pan = int(rng.choice([120, 150, 180, 210, 240, 270]))
        d.pan = {y: pan for y in range(7, 12)}
        if sixth_form:
            d.pan |= {y: round(pan * rng.uniform(0.4, 0.6)) for y in (12, 13)}
        u = rng.random()
        d.sex = SexAdmitted.GIRLS if u < 0.06 else SexAdmitted.BOYS if u < 0.10 else d.sex
    d.entry_years = entry
    d.vacancies = {y: 0 for y in d.pan}
    if rng.random() < RESOURCED_PROVISION_SHARE:
        kind = ProvisionKind.RESOURCED_PROVISION if rng.random() < 0.65 else ProvisionKind.SEN_UNIT
        keys = list(_RP_NEEDS)
        p = np.array([_RP_NEEDS[k] for k in keys])
        n_needs = 1 if rng.random() < 0.6 else 2
        picked = rng.choice(len(keys), size=n_needs, replace=False, p=p / p.sum())
        d.provision = (kind, frozenset(keys[int(i)] for i in picked), int(rng.integers(8, 21)))


def _draft_other(d: _Draft, rng: np.random.Generator) -> None:
    ranges = _AGE_RANGES[d.group]
    k = int(rng.choice(len(ranges), p=[w for _, w in ranges]))
    d.low, d.high = ranges[k][0]
    low, high = _SIZE_RANGE[d.group]
    d.size = int(rng.integers(low, high + 1))
    if d.group in _ARCHETYPE_MIX:
        d.needs = _draw_needs(d.group, rng)
        # Complex-needs schools are where nursing care is found.
        if {N.PMLD, N.SLD} <= d.needs and d.group in ("special", "nmss") and rng.random() < 0.6:
            d.facilities.add(Requirement.NURSING)
        if d.needs & {N.PMLD, N.PD}:
            d.facilities.add(Requirement.WHEELCHAIR_ACCESS)
        # A few SEMH schools are boys-only.
        if N.SEMH in d.needs and d.group in ("special", "iss") and rng.random() < 0.10:
            d.sex = SexAdmitted.BOYS
    if d.group in _FEE_RANGE:
        low_fee, high_fee = _FEE_RANGE[d.group]
        d.fee = round(rng.uniform(low_fee, high_fee) / 500.0) * 500
    if rng.random() < _RESIDENTIAL_SHARE.get(d.group, 0.0):
        d.facilities.add(Requirement.RESIDENTIAL)


def _allocate(
    total: float,
    candidates: list[tuple[_Draft, float, str]],
    rng: np.random.Generator,
    year: int,
) -> None:
    """Share ``total`` vacancies among candidates in proportion to their weights (multinomial)."""
    count = _round_random(total, rng)
    weights = np.array([w for _, w, _ in candidates], dtype=np.float64)
    if count == 0 or len(candidates) == 0 or weights.sum() <= 0:
        return
    for (draft, _, slot), got in zip(
        candidates, rng.multinomial(count, weights / weights.sum()), strict=True
    ):
        if got == 0:
            continue
        if slot == "year":
            draft.vacancies[year] += int(got)
        elif slot == "provision":
            draft.provision_vacant += int(got)
            draft.vacancies[year] += int(got)  # a provision place is also a year-group place
        else:
            draft.vacant += int(got)


def _set_vacancies(
    drafts: list[_Draft],
    expected_children: int,
    years: Mapping[int, float],
    rng: np.random.Generator,
) -> None:
    """Size vacancies from expected demand, need by need and year by year (module docstring)."""
    mainstream_share = sum(
        q * (1.0 - _specialist_only_rate(n)) for n, q in PRIMARY_NEED_SHARES.items()
    )
    ap_share = sum(q * AP_ALLOWED_RATE.get(n, 0.0) for n, q in PRIMARY_NEED_SHARES.items())
    for year, p in sorted(years.items()):
        demand = expected_children * p
        mainstream: list[tuple[_Draft, float, str]] = []
        for d in drafts:
            if d.group in ("primary", "secondary") and d.admits(year):
                mainstream.append((d, float(d.pan[year]), "year"))
            elif d.group == "fe" and d.admits(year):
                mainstream.append((d, d.size * _FE_YEAR_WEIGHT, "total"))
        _allocate(MAINSTREAM_SLACK * demand * mainstream_share, mainstream, rng, year)

        for need, q in PRIMARY_NEED_SHARES.items():
            specialist: list[tuple[_Draft, float, str]] = []
            for d in drafts:
                if not d.admits(year):
                    continue
                if d.group in _SPECIALIST_GROUPS and need in d.needs:
                    specialist.append((d, d.size * _SPECIALIST_WEIGHT[d.group], "total"))
                elif d.provision is not None and need in d.provision[1]:
                    specialist.append((d, d.provision[2] * _SPECIALIST_WEIGHT["rp"], "provision"))
            demand_n = SPECIALIST_SLACK * demand * q * _specialist_only_rate(need)
            _allocate(demand_n, specialist, rng, year)

        ap = [(d, float(d.size), "total") for d in drafts if d.group == "ap" and d.admits(year)]
        _allocate(AP_SLACK * demand * ap_share, ap, rng, year)

    for d in drafts:
        for year in d.entry_years:
            d.vacancies[year] = max(d.vacancies[year], ENTRY_YEAR_MIN_VACANCIES)


def _to_setting(d: _Draft, lat: float, lon: float) -> Setting:
    provisions: tuple[Provision, ...] = ()
    if d.provision is not None:
        kind, needs, places = d.provision
        places = max(places, d.provision_vacant)
        provisions = (
            Provision(
                kind=kind,
                designated_needs=needs,
                places=places,
                on_roll=places - d.provision_vacant,
            ),
        )
    if d.pan:
        year_places = {y: max(d.pan[y], d.vacancies[y]) for y in d.pan}
        year_on_roll = {y: year_places[y] - d.vacancies[y] for y in d.pan}
        total, on_roll = sum(year_places.values()), sum(year_on_roll.values())
    else:
        year_places, year_on_roll = {}, {}
        total = max(d.size, d.vacant)
        on_roll = total - d.vacant
    return Setting(
        urn=d.urn,
        name=d.name,
        setting_type=_TYPE_OF[d.group],
        la_code=d.la_code,
        location=Location(latitude=lat, longitude=lon),
        low_age=d.low,
        high_age=d.high,
        sex_admitted=d.sex,
        designated_needs=d.needs,
        facilities=frozenset(d.facilities),
        total_places=total,
        on_roll=on_roll,
        year_places=year_places,
        year_on_roll=year_on_roll,
        provisions=provisions,
        annual_fee=d.fee,
    )


def _neighbours(la_code: str) -> tuple[str, ...]:
    if la_code.isdigit():
        return tuple(f"{(int(la_code) - k) % 1000:03d}" for k in (1, 2))
    return (f"{la_code}-N1", f"{la_code}-N2")


def synthetic_settings(
    n_settings: int,
    points_lat: npt.ArrayLike,
    points_lon: npt.ArrayLike,
    seed: int,
    la_code: str = "999",
    *,
    expected_children: int | None = None,
    phase_transfer: bool = True,
    neighbour_la_codes: Sequence[str] | None = None,
) -> list[Setting]:
    """A realistic mix of ``n_settings`` settings on the given points, vacancies sized to demand.

    Parameters
    ----------
    n_settings
        How many settings; the mix (``SETTING_MIX``) is apportioned exactly, with at least one
        primary, secondary and special school when ``n_settings >= 3``.
    points_lat, points_lon
        Candidate locations in WGS84 degrees, e.g. road-network nodes, so that every setting
        sits on a routable road. Settings take distinct points while there are enough.
    seed
        Random seed; the same arguments give the same settings.
    la_code
        The home LA; ~11% of settings (``OUT_OF_AREA_RATE``) belong to ``neighbour_la_codes``
        and sit at the edge of the area.
    expected_children
        The caseload the vacancies are sized for (default 5 per setting for a phase-transfer
        round, 40 per setting for a whole-caseload re-plan). Pass the ``n_children`` given to
        ``synthetic_caseload`` to keep the round tight but mostly placeable at any scale.
    phase_transfer
        Size vacancies for a phase-transfer round (R, Y3, Y7, Y12) or a whole caseload.
    neighbour_la_codes
        Codes for out-of-area settings (default: the two codes below ``la_code``).

    Returns
    -------
    list[Setting]
        Ordered by group (primary, secondary, FE, special, ISS, NMSS, SPI, AP); URNs are unique
        6-digit strings.
    """
    if n_settings < 0:
        raise ValueError("n_settings must be >= 0")
    lat, lon = _points(points_lat, points_lon)
    rng = np.random.default_rng([seed, _SETTINGS_STREAM])
    neighbours = tuple(neighbour_la_codes or _neighbours(la_code))
    if expected_children is None:
        per = CHILDREN_PER_SETTING_ROUND if phase_transfer else CHILDREN_PER_SETTING_WHOLE
        expected_children = per * n_settings

    counts = _apportion(n_settings, SETTING_MIX, ("primary", "secondary", "special"))
    urns = rng.choice(900_000, size=n_settings, replace=False) + 100_000
    inner, outer = _location_pools(lat, lon, rng)
    used_points: set[int] = set()
    used_names: set[str] = set()
    drafts: list[_Draft] = []
    for group in SETTING_MIX:
        for _ in range(counts[group]):
            out_of_area = rng.random() < OUT_OF_AREA_RATE[group]
            code = neighbours[int(rng.integers(len(neighbours)))] if out_of_area else la_code
            point = _take_point(outer if out_of_area else inner, used_points, len(lat), rng)
            d = _Draft(group, group, str(urns[len(drafts)]), "", code, point, 0, 1)
            if group in ("primary", "secondary"):
                _draft_mainstream(d, rng)
            else:
                _draft_other(d, rng)
            if rng.random() < _WHEELCHAIR_SHARE[group]:
                d.facilities.add(Requirement.WHEELCHAIR_ACCESS)
            d.name = _unique_name(used_names, _SUFFIX[d.phase], rng)
            drafts.append(d)

    _set_vacancies(drafts, expected_children, year_shares(phase_transfer), rng)
    return [_to_setting(d, float(lat[d.point]), float(lon[d.point])) for d in drafts]


# --- Caseload ---------------------------------------------------------------------------------

_NEED_ORDER = tuple(PRIMARY_NEED_SHARES)
_NEED_BIT = {need: 1 << i for i, need in enumerate(PrimaryNeed)}
_KIND_ORDER = tuple(PlacementKind)
_KIND_BIT = {kind: 1 << i for i, kind in enumerate(_KIND_ORDER)}
_SPECIALIST_KINDS = frozenset(
    {PlacementKind.RESOURCED_PROVISION, PlacementKind.SPECIAL, PlacementKind.INDEPENDENT}
)
_ADMITS_CODE = {SexAdmitted.MIXED: 0, SexAdmitted.BOYS: 1, SexAdmitted.GIRLS: 2}
# How far families look (km, e-folding distance of preference) by phase; ×3 for specialist.
_PREFERENCE_RANGE_KM = {"primary": 1.5, "secondary": 2.5, "post16": 4.0}
_SPECIALIST_RANGE_FACTOR = 3.0


@dataclass(frozen=True)
class _SettingArrays:
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    low: npt.NDArray[np.int64]
    high: npt.NDArray[np.int64]
    admits: npt.NDArray[np.int64]
    kind_bit: npt.NDArray[np.int64]
    designated: npt.NDArray[np.int64]
    provision_needs: npt.NDArray[np.int64]

    @classmethod
    def of(cls, settings: Sequence[Setting]) -> _SettingArrays:
        def mask(needs: frozenset[PrimaryNeed]) -> int:
            return sum(_NEED_BIT[n] for n in needs)

        return cls(
            lat=np.array([s.location.latitude for s in settings], dtype=np.float64),
            lon=np.array([s.location.longitude for s in settings], dtype=np.float64),
            low=np.array([s.low_age for s in settings], dtype=np.int64),
            high=np.array([s.high_age for s in settings], dtype=np.int64),
            admits=np.array([_ADMITS_CODE[s.sex_admitted] for s in settings], dtype=np.int64),
            kind_bit=np.array([_KIND_BIT[s.placement_kind] for s in settings], dtype=np.int64),
            designated=np.array([mask(s.designated_needs) for s in settings], dtype=np.int64),
            provision_needs=np.array(
                [
                    mask(frozenset().union(*(p.designated_needs for p in s.provisions)))
                    for s in settings
                ],
                dtype=np.int64,
            ),
        )


def _preference_weights(
    s: _SettingArrays,
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
    age: npt.NDArray[np.int64],
    sex_code: npt.NDArray[np.int64],
    need_bit: npt.NDArray[np.int64],
    kinds: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Children × settings weights: near, right age and sex, and mostly but not always suitable.

    Parents choose among what they know: nearby settings that take their child's age, a
    designated specialist setting if the EHCP points there. Some choose a setting that cannot
    meet the need or does not take the age (the solver must then say why not), so unsuitable
    options keep a small weight rather than none.
    """
    d_km = _km(lat[:, None], lon[:, None], s.lat[None, :], s.lon[None, :])
    scale = np.where(age < 11, _PREFERENCE_RANGE_KM["primary"], _PREFERENCE_RANGE_KM["secondary"])
    scale = np.where(age >= 16, _PREFERENCE_RANGE_KM["post16"], scale)[:, None]
    mainstream = s.kind_bit[None, :] == _KIND_BIT[PlacementKind.MAINSTREAM]
    ap = s.kind_bit[None, :] == _KIND_BIT[PlacementKind.ALTERNATIVE_PROVISION]
    specialist = ~mainstream & ~ap
    scale = np.where(specialist, scale * _SPECIALIST_RANGE_FACTOR, scale)

    kinds_c = kinds[:, None]
    need_c = need_bit[:, None]
    allows = (kinds_c & s.kind_bit[None, :]) != 0
    allows_rp = (kinds_c & _KIND_BIT[PlacementKind.RESOURCED_PROVISION]) != 0
    specialist_only = (kinds_c & _KIND_BIT[PlacementKind.MAINSTREAM]) == 0
    designated = (s.designated[None, :] == 0) | ((s.designated[None, :] & need_c) != 0)
    rp_match = (s.provision_needs[None, :] & need_c) != 0

    affinity = np.where(allows, 1.0, 0.15)  # mainstream or AP that the EHCP allows, or not
    affinity = np.where(mainstream & rp_match & allows_rp, 2.0, affinity)
    affinity = np.where(ap, np.where(allows, 0.8, 0.02), affinity)
    good_specialist = allows & designated
    affinity = np.where(
        specialist,
        np.where(good_specialist, np.where(specialist_only, 3.0, 1.2), 0.1),
        affinity,
    )
    independent = s.kind_bit[None, :] == _KIND_BIT[PlacementKind.INDEPENDENT]
    affinity = np.where(independent, affinity * 0.6, affinity)

    age_ok = (s.low[None, :] <= age[:, None]) & (age[:, None] < s.high[None, :])
    sex_ok = (s.admits[None, :] == 0) | (s.admits[None, :] == sex_code[:, None])
    weight = affinity * np.exp(-d_km / scale) * np.where(age_ok, 1.0, 0.01)
    return np.asarray(np.where(sex_ok, weight, 0.0))


def _draw_preferences(
    settings: Sequence[Setting],
    lat: npt.NDArray[np.float64],
    lon: npt.NDArray[np.float64],
    age: npt.NDArray[np.int64],
    sex_code: npt.NDArray[np.int64],
    need_bit: npt.NDArray[np.int64],
    kinds: npt.NDArray[np.int64],
    n_wanted: npt.NDArray[np.int64],
    rng: np.random.Generator,
    chunk: int = 1024,
) -> list[list[int]]:
    """Ranked preferences by weighted sampling without replacement (Gumbel top-k), in chunks.

    Adding Gumbel noise to log-weights and taking the k largest is exactly sequential sampling
    without replacement in proportion to weight, and vectorises over a whole chunk of children.
    """
    n = len(lat)
    if not settings:
        return [[] for _ in range(n)]
    arrays = _SettingArrays.of(settings)
    top = min(max(len(PREFERENCE_COUNT_SHARES) - 1, 1), len(settings))
    out: list[list[int]] = []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        w = _preference_weights(
            arrays,
            lat[start:stop],
            lon[start:stop],
            age[start:stop],
            sex_code[start:stop],
            need_bit[start:stop],
            kinds[start:stop],
        )
        gumbel = -np.log(-np.log(rng.uniform(1e-300, 1.0, size=w.shape)))
        with np.errstate(divide="ignore"):
            keys = np.log(w) + gumbel
        if top < w.shape[1]:
            best = np.argpartition(-keys, top - 1, axis=1)[:, :top]
        else:
            best = np.tile(np.arange(w.shape[1]), (stop - start, 1))
        best_keys = np.take_along_axis(keys, best, axis=1)
        order = np.argsort(-best_keys, axis=1, kind="stable")
        ranked = np.take_along_axis(best, order, axis=1)
        ranked_keys = np.take_along_axis(best_keys, order, axis=1)
        for i in range(stop - start):
            k = int(n_wanted[start + i])
            chosen = ranked[i, :k][np.isfinite(ranked_keys[i, :k])]
            out.append([int(j) for j in chosen])
    return out


def synthetic_caseload(
    n_children: int,
    settings: Sequence[Setting],
    points_lat: npt.ArrayLike,
    points_lon: npt.ArrayLike,
    seed: int,
    la_code: str = "999",
    phase_transfer: bool = True,
) -> list[Child]:
    """A caseload of ``n_children`` with national need, sex and age mixes, homes on the points.

    Parameters
    ----------
    n_children
        How many children and young people.
    settings
        The settings preferences are drawn from (usually ``synthetic_settings`` or a GIAS
        import); may be empty, in which case nobody states a preference.
    points_lat, points_lon
        Candidate home locations in WGS84 degrees, e.g. residential street nodes; each home is
        a point moved by at most ``HOME_JITTER_M`` metres, so it snaps back to the same street.
    seed
        Random seed; the same arguments give the same caseload. Settings and caseload draw from
        separate streams, so one seed can serve both.
    la_code
        Every child's home LA.
    phase_transfer
        A phase-transfer round (mostly R, Y3, Y7, Y12; ``PHASE_TRANSFER_YEAR_SHARES``) or a
        whole caseload spread over ages 2-24 (``WHOLE_CASELOAD_YEAR_SHARES``).

    Returns
    -------
    list[Child]
        Ids ``C000001``, ``C000002``, ... in order; pseudonymous by construction.
    """
    if n_children < 0:
        raise ValueError("n_children must be >= 0")
    lat_pts, lon_pts = _points(points_lat, points_lon)
    rng = np.random.default_rng([seed, _CASELOAD_STREAM])
    n = n_children

    need_p = np.array([PRIMARY_NEED_SHARES[k] for k in _NEED_ORDER])
    need_idx = rng.choice(len(_NEED_ORDER), size=n, p=need_p / need_p.sum())
    needs = [_NEED_ORDER[int(i)] for i in need_idx]
    shares = year_shares(phase_transfer)
    year_keys = np.array(sorted(shares), dtype=np.int64)
    year_p = np.array([shares[int(y)] for y in year_keys])
    years = year_keys[rng.choice(len(year_keys), size=n, p=year_p / year_p.sum())]
    male = rng.random(n) < MALE_SHARE

    point = rng.integers(len(lat_pts), size=n)
    radius = HOME_JITTER_M * np.sqrt(rng.random(n))
    bearing = rng.uniform(0.0, 2.0 * math.pi, size=n)
    home_lat = lat_pts[point] + radius * np.cos(bearing) / _METRES_PER_DEGREE
    home_lon = lon_pts[point] + radius * np.sin(bearing) / (
        _METRES_PER_DEGREE * np.cos(np.radians(lat_pts[point]))
    )

    def rate(table: Mapping[PrimaryNeed, float]) -> npt.NDArray[np.bool_]:
        return rng.random(n) < np.array([table.get(nd, 0.0) for nd in needs])

    wheelchair = rate(WHEELCHAIR_RATE)
    residential = rate(RESIDENTIAL_RATE)
    nursing = rate(NURSING_RATE)
    specialist_only = rate({nd: SPECIALIST_ONLY_RATE.get(nd, 0.0) for nd in PRIMARY_NEED_SHARES})
    ap_allowed = rate(AP_ALLOWED_RATE)
    u_secondary = rng.random(n)
    secondary: list[frozenset[PrimaryNeed]] = []
    one, two = SECONDARY_NEED_RATES
    for i, need in enumerate(needs):
        k = 2 if u_secondary[i] < two else 1 if u_secondary[i] < one + two else 0
        pool = _CO_OCCURRING[need]
        picked = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
        secondary.append(frozenset(pool[int(j)] for j in picked))

    kinds: list[frozenset[PlacementKind] | None] = []
    for i, need in enumerate(needs):
        default = DEFAULT_SUITABLE_KINDS[need]
        chosen = default
        if specialist_only[i] and PlacementKind.MAINSTREAM in default:
            chosen = _SPECIALIST_KINDS
        if ap_allowed[i]:
            chosen = chosen | {PlacementKind.ALTERNATIVE_PROVISION}
        kinds.append(None if chosen == default else frozenset(chosen))

    # Sibling pairs share a home; some are twins in the same year.
    n_pairs = round(n * SIBLING_SHARE / 2)
    members = rng.permutation(n)[: 2 * n_pairs].reshape(-1, 2) if n_pairs else np.empty((0, 2))
    twins = rng.random(len(members)) < TWIN_SHARE
    group_of: dict[int, str] = {}
    for g, (a, b) in enumerate(members.astype(np.int64)):
        home_lat[b], home_lon[b] = home_lat[a], home_lon[a]
        if twins[g]:
            years[b] = years[a]
        group_of[int(a)] = group_of[int(b)] = f"S{g + 1:05d}"

    counts = rng.choice(
        len(PREFERENCE_COUNT_SHARES), size=n, p=np.array(PREFERENCE_COUNT_SHARES)
    ).astype(np.int64)
    kind_mask = np.array(
        [
            sum(_KIND_BIT[k] for k in (kinds[i] or DEFAULT_SUITABLE_KINDS[needs[i]]))
            for i in range(n)
        ],
        dtype=np.int64,
    )
    prefs = _draw_preferences(
        settings,
        home_lat,
        home_lon,
        years.astype(np.int64) + 4,
        np.where(male, 1, 2).astype(np.int64),
        np.array([_NEED_BIT[nd] for nd in needs], dtype=np.int64),
        kind_mask,
        counts,
        rng,
    )
    # A younger sibling's family often asks first for the elder's setting, where it fits.
    for a, b in members.astype(np.int64):
        if prefs[a] and prefs[b] and prefs[a][0] not in prefs[b]:
            first = settings[prefs[a][0]]
            admits_sex = first.sex_admitted is SexAdmitted.MIXED or (
                first.sex_admitted is (SexAdmitted.BOYS if male[b] else SexAdmitted.GIRLS)
            )
            if first.admits_age(int(years[b])) and admits_sex:
                prefs[b] = [prefs[a][0], *prefs[b][:-1]]

    children: list[Child] = []
    for i in range(n):
        requirements = {
            r
            for r, flag in (
                (Requirement.WHEELCHAIR_ACCESS, wheelchair[i]),
                (Requirement.RESIDENTIAL, residential[i]),
                (Requirement.NURSING, nursing[i]),
            )
            if flag
        }
        children.append(
            Child(
                child_id=f"C{i + 1:06d}",
                nc_year=int(years[i]),
                sex=Sex.MALE if male[i] else Sex.FEMALE,
                home=Location(latitude=float(home_lat[i]), longitude=float(home_lon[i])),
                home_la_code=la_code,
                primary_need=needs[i],
                secondary_needs=secondary[i],
                preferences=tuple(settings[j].urn for j in prefs[i]),
                sibling_group=group_of.get(i),
                requirements=frozenset(requirements),
                suitable_kinds=kinds[i],
            )
        )
    return children
