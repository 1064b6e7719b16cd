"""Domain types: children, settings, their designated provisions, and tariff bands.

These are validated once, at the boundary (CSV/XLSX, API), so that the solver can trust them.
Children carry only a pseudonymous id: names never enter sendmatch.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from matcher.needs import PrimaryNeed
from matcher.value_limits import MAX_PLACES, MAX_POUNDS

# National curriculum years: N1=-2, N2=-1, R=0, Y1..Y13 = 1..13; young people in post-16 and
# post-19 education up to age 25 are carried on as 14..20.
MIN_NC_YEAR = -2
MAX_NC_YEAR = 20
LAST_PRIMARY_NC_YEAR = 6


class Sex(StrEnum):
    FEMALE = "F"
    MALE = "M"
    UNKNOWN = "U"


class SexAdmitted(StrEnum):
    """GIAS ``Gender (name)``."""

    MIXED = "mixed"
    BOYS = "boys"
    GIRLS = "girls"


class SettingType(StrEnum):
    """The kind of institution, coarser than GIAS ``TypeOfEstablishment`` on purpose."""

    MAINSTREAM = "mainstream"
    SPECIAL = "special"  # community/foundation special, academy special, special free school
    NON_MAINTAINED_SPECIAL = "non_maintained_special"  # NMSS
    INDEPENDENT_SPECIAL = "independent_special"  # ISS, incl. section 41 approved
    ALTERNATIVE_PROVISION = "alternative_provision"  # PRU, AP academy, AP free school
    FURTHER_EDUCATION = "further_education"  # FE and sixth-form colleges
    SPECIALIST_POST16 = "specialist_post16"  # SPI


class PlacementKind(StrEnum):
    """The kind of place a child takes: what a tailored list's mix and a child's EHCP speak of."""

    MAINSTREAM = "mainstream"
    RESOURCED_PROVISION = "resourced_provision"  # incl. SEN units in mainstream schools
    SPECIAL = "special"
    INDEPENDENT = "independent"  # NMSS, ISS and specialist post-16 institutions
    ALTERNATIVE_PROVISION = "alternative_provision"


SETTING_PLACEMENT_KIND: dict[SettingType, PlacementKind] = {
    SettingType.MAINSTREAM: PlacementKind.MAINSTREAM,
    SettingType.SPECIAL: PlacementKind.SPECIAL,
    SettingType.NON_MAINTAINED_SPECIAL: PlacementKind.INDEPENDENT,
    SettingType.INDEPENDENT_SPECIAL: PlacementKind.INDEPENDENT,
    SettingType.ALTERNATIVE_PROVISION: PlacementKind.ALTERNATIVE_PROVISION,
    SettingType.FURTHER_EDUCATION: PlacementKind.MAINSTREAM,
    SettingType.SPECIALIST_POST16: PlacementKind.INDEPENDENT,
}

# Default suitability when a child's record does not say which kinds of place its EHCP allows.
# Alternative provision is never a default: it is named only where the child's record asks.
_SPECIALIST_ONLY = frozenset(
    {PlacementKind.RESOURCED_PROVISION, PlacementKind.SPECIAL, PlacementKind.INDEPENDENT}
)
_ANY_BUT_AP = _SPECIALIST_ONLY | {PlacementKind.MAINSTREAM}
DEFAULT_SUITABLE_KINDS: dict[PrimaryNeed, frozenset[PlacementKind]] = {
    need: (
        _SPECIALIST_ONLY
        if need in {PrimaryNeed.PMLD, PrimaryNeed.SLD, PrimaryNeed.MSI}
        else _ANY_BUT_AP
    )
    for need in PrimaryNeed
}


class Requirement(StrEnum):
    """Physical or care requirements a setting must meet, from the child's EHCP."""

    WHEELCHAIR_ACCESS = "wheelchair_access"
    RESIDENTIAL = "residential"
    NURSING = "nursing"


class ProvisionKind(StrEnum):
    RESOURCED_PROVISION = "resourced_provision"
    SEN_UNIT = "sen_unit"


class Location(BaseModel):
    """A point in WGS84 degrees."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]


NonNegativeInt = Annotated[int, Field(ge=0)]

# Domain ranges for capacities and money. Far beyond any real school or fee (the largest
# English schools have about 4,000 pupils, and the dearest placements cost a small fraction of
# £10m a year), yet small enough that a typo or a hostile file (``total_places`` 1e30) is an
# input problem at upload, not an integer overflow in every later run: with these bounds a
# whole LA's costs stay far inside the solvers' 64-bit integers.
Places = Annotated[int, Field(ge=0, le=MAX_PLACES)]
Pounds = Annotated[int, Field(ge=0, le=MAX_POUNDS)]
NcYear = Annotated[int, Field(ge=MIN_NC_YEAR, le=MAX_NC_YEAR)]


def age_at_start_of_year(nc_year: int) -> int:
    """Age on the 31 August before the school year (R=4, Y7=11, Y12=16)."""
    return nc_year + 4


def nc_year_from_birth(date_of_birth: date, year_start: date) -> int:
    """NC year a child born on ``date_of_birth`` is in during the year starting ``year_start``.

    English cohorts run 1 September to 31 August, so age on the preceding 31 August fixes it.
    """
    cutoff = date(year_start.year if year_start.month >= 9 else year_start.year - 1, 8, 31)
    age = cutoff.year - date_of_birth.year
    if (date_of_birth.month, date_of_birth.day) > (cutoff.month, cutoff.day):
        age -= 1
    return age - 4


#: What an id may hold, in words for error messages.
PRINTABLE = "printable characters only: no control, formatting or bidirectional-override codes"


def printable_id(value: str) -> str:
    """An id as people see it: no NUL or other control character, no right-to-left override
    or other invisible formatting code that would make two different ids look the same, or
    make an id shown in a log or on screen read as something else (``str.isprintable``).

    One rule for every entry point: a caseload file's ids and the API's paths and bodies.
    """
    if not value.isprintable():
        raise ValueError(f"an id may hold {PRINTABLE}")
    return value


class Child(BaseModel):
    """A child or young person in this placement round."""

    model_config = ConfigDict(frozen=True)

    child_id: Annotated[str, Field(min_length=1, max_length=64)]
    nc_year: NcYear
    sex: Sex = Sex.UNKNOWN
    home: Location
    home_la_code: str | None = None
    primary_need: PrimaryNeed
    secondary_needs: frozenset[PrimaryNeed] = frozenset()
    has_ehcp: bool = True
    current_setting: str | None = None
    preferences: tuple[str, ...] = ()
    sibling_group: str | None = None
    requirements: frozenset[Requirement] = frozenset()
    suitable_kinds: frozenset[PlacementKind] | None = None
    top_up_band: str | None = None

    @field_validator("child_id")
    @classmethod
    def _id_has_no_spaces(cls, value: str) -> str:
        if value != value.strip() or not value.strip():
            raise ValueError("child_id must not be blank or have leading/trailing spaces")
        return printable_id(value)

    @field_validator("preferences")
    @classmethod
    def _preferences_distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a setting appears twice in the ranked preferences")
        return value

    @property
    def effective_suitable_kinds(self) -> frozenset[PlacementKind]:
        return self.suitable_kinds or DEFAULT_SUITABLE_KINDS[self.primary_need]

    @property
    def is_primary_phase(self) -> bool:
        return self.nc_year <= LAST_PRIMARY_NC_YEAR


class Provision(BaseModel):
    """A resourced provision or SEN unit inside a mainstream setting, with its own places."""

    model_config = ConfigDict(frozen=True)

    kind: ProvisionKind
    designated_needs: frozenset[PrimaryNeed]
    places: Places
    on_roll: Places = 0

    @field_validator("designated_needs")
    @classmethod
    def _has_needs(cls, value: frozenset[PrimaryNeed]) -> frozenset[PrimaryNeed]:
        if not value:
            raise ValueError("a resourced provision or SEN unit must be designated for a need")
        return value

    @property
    def places_left(self) -> int:
        return max(self.places - self.on_roll, 0)


class Setting(BaseModel):
    """A school, college or other provider that can be named in an EHCP."""

    model_config = ConfigDict(frozen=True)

    urn: Annotated[str, Field(min_length=1, max_length=32)]
    name: Annotated[str, Field(min_length=1)]
    setting_type: SettingType
    la_code: str | None = None
    location: Location
    low_age: Annotated[int, Field(ge=0, le=25)]
    high_age: Annotated[int, Field(ge=1, le=26)]
    sex_admitted: SexAdmitted = SexAdmitted.MIXED
    designated_needs: frozenset[PrimaryNeed] = frozenset()
    facilities: frozenset[Requirement] = frozenset()
    total_places: Places
    on_roll: Places = 0
    year_places: dict[NcYear, Places] = Field(default_factory=dict)
    year_on_roll: dict[NcYear, Places] = Field(default_factory=dict)
    provisions: tuple[Provision, ...] = ()
    annual_fee: Pounds | None = None
    top_up: Pounds | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.low_age >= self.high_age:
            raise ValueError(
                f"age range inverted or empty: low_age {self.low_age} >= high_age {self.high_age}"
            )
        if self.provisions and self.setting_type is not SettingType.MAINSTREAM:
            raise ValueError("resourced provisions and SEN units belong to mainstream settings")
        if self.placement_kind is PlacementKind.INDEPENDENT and self.annual_fee is None:
            raise ValueError("independent and non-maintained settings need an annual_fee")
        unknown = set(self.year_on_roll) - set(self.year_places)
        if unknown:
            raise ValueError(f"year_on_roll names years without year_places: {sorted(unknown)}")
        return self

    @property
    def placement_kind(self) -> PlacementKind:
        return SETTING_PLACEMENT_KIND[self.setting_type]

    @property
    def places_left(self) -> int:
        return max(self.total_places - self.on_roll, 0)

    def year_places_left(self, nc_year: int) -> int | None:
        """Places left in a year group, or None where the setting sets no year group limit."""
        if nc_year not in self.year_places:
            return None
        return max(self.year_places[nc_year] - self.year_on_roll.get(nc_year, 0), 0)

    def admits_age(self, nc_year: int) -> bool:
        """Statutory ages run low_age to high_age: a child aged high_age on 31 August has left."""
        return self.low_age <= age_at_start_of_year(nc_year) < self.high_age


class TariffBand(BaseModel):
    """One row of an LA's banding framework: the annual top-up for a band in a kind of place."""

    model_config = ConfigDict(frozen=True)

    band: Annotated[str, Field(min_length=1)]
    placement_kind: PlacementKind
    annual_top_up: Pounds
