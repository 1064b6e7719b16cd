"""SEN2 primary need codes and the kinds of setting a need is usually suitable for.

The codes are the DfE's own (SEN2 return and school census), so that an LA's exports load
without a lookup table. The suitability defaults are a starting point a panel can override per
child (``Child.suitable_setting_types``); they are documented in the README.
"""

from __future__ import annotations

from enum import StrEnum


class PrimaryNeed(StrEnum):
    """SEN2 / school census type-of-need codes."""

    SPLD = "SPLD"
    MLD = "MLD"
    SLD = "SLD"
    PMLD = "PMLD"
    SEMH = "SEMH"
    SLCN = "SLCN"
    HI = "HI"
    VI = "VI"
    MSI = "MSI"
    PD = "PD"
    ASD = "ASD"
    OTH = "OTH"
    NSA = "NSA"


NEED_DESCRIPTIONS: dict[PrimaryNeed, str] = {
    PrimaryNeed.SPLD: "specific learning difficulty",
    PrimaryNeed.MLD: "moderate learning difficulty",
    PrimaryNeed.SLD: "severe learning difficulty",
    PrimaryNeed.PMLD: "profound and multiple learning difficulty",
    PrimaryNeed.SEMH: "social, emotional and mental health",
    PrimaryNeed.SLCN: "speech, language and communication needs",
    PrimaryNeed.HI: "hearing impairment",
    PrimaryNeed.VI: "vision impairment",
    PrimaryNeed.MSI: "multi-sensory impairment",
    PrimaryNeed.PD: "physical disability",
    PrimaryNeed.ASD: "autistic spectrum disorder",
    PrimaryNeed.OTH: "other difficulty or disability",
    PrimaryNeed.NSA: "SEN support, no specialist assessment of type of need",
}

# Common spellings in LA exports and GIAS SEN1..SEN13 columns, mapped to SEN2 codes.
NEED_ALIASES: dict[str, PrimaryNeed] = {
    "SPLD": PrimaryNeed.SPLD,
    "SPECIFIC LEARNING DIFFICULTY": PrimaryNeed.SPLD,
    "MLD": PrimaryNeed.MLD,
    "MODERATE LEARNING DIFFICULTY": PrimaryNeed.MLD,
    "SLD": PrimaryNeed.SLD,
    "SEVERE LEARNING DIFFICULTY": PrimaryNeed.SLD,
    "PMLD": PrimaryNeed.PMLD,
    "PROFOUND AND MULTIPLE LEARNING DIFFICULTY": PrimaryNeed.PMLD,
    "PROFOUND & MULTIPLE LEARNING DIFFICULTY": PrimaryNeed.PMLD,
    "SEMH": PrimaryNeed.SEMH,
    "SOCIAL, EMOTIONAL AND MENTAL HEALTH": PrimaryNeed.SEMH,
    "BESD": PrimaryNeed.SEMH,
    "SLCN": PrimaryNeed.SLCN,
    "SPEECH, LANGUAGE AND COMMUNICATION NEEDS": PrimaryNeed.SLCN,
    "SPEECH, LANGUAGE AND COMMUNICATION": PrimaryNeed.SLCN,
    "HI": PrimaryNeed.HI,
    "HEARING IMPAIRMENT": PrimaryNeed.HI,
    "VI": PrimaryNeed.VI,
    "VISUAL IMPAIRMENT": PrimaryNeed.VI,
    "VISION IMPAIRMENT": PrimaryNeed.VI,
    "MSI": PrimaryNeed.MSI,
    "MULTI-SENSORY IMPAIRMENT": PrimaryNeed.MSI,
    "MULTI- SENSORY IMPAIRMENT": PrimaryNeed.MSI,
    "PD": PrimaryNeed.PD,
    "PHYSICAL DISABILITY": PrimaryNeed.PD,
    "ASD": PrimaryNeed.ASD,
    "AUTISTIC SPECTRUM DISORDER": PrimaryNeed.ASD,
    "AUTISM": PrimaryNeed.ASD,
    "OTH": PrimaryNeed.OTH,
    "OTHER DIFFICULTY/DISABILITY": PrimaryNeed.OTH,
    "OTHER DIFFICULTY OR DISABILITY": PrimaryNeed.OTH,
    "NSA": PrimaryNeed.NSA,
}


def parse_need(text: str) -> PrimaryNeed:
    """Read a need code or its GIAS/SEN2 description; raise ValueError naming the bad value."""
    key = " ".join(text.strip().upper().split())
    if key in NEED_ALIASES:
        return NEED_ALIASES[key]
    raise ValueError(
        f"unknown need code {text!r}; expected one of {', '.join(n.value for n in PrimaryNeed)}"
    )
