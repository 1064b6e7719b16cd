"""Pydantic schemas at the HTTP boundary: what clients send and receive, and nothing more.

Kept apart from the database models so that a column added for bookkeeping never leaks into
a response, and so the OpenAPI schema a client is generated from describes the API, not the
tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from api.db import Role, RunKind, RunStatus

# Database ids are 64-bit integers: anything outside that range names no row, and must be a
# 422 at the boundary rather than an overflow in the database driver.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds until the token expires")


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=12, max_length=1024)
    role: Role


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    active: bool
    created_at: datetime


class Problem(BaseModel):
    """One problem in an uploaded file, located as the user finds it in Excel (header = row 1)."""

    file: str
    row: int | None
    field: str | None
    message: str


class ValidationReport(BaseModel):
    detail: str
    problems: list[Problem]


class CaseloadOut(BaseModel):
    id: int
    children: int
    settings: int
    tariffs: int
    year_start: date
    uploaded_by: str
    created_at: datetime


class RunCreate(BaseModel):
    caseload_id: RowId
    primary_limit_minutes: float = Field(45.0, gt=0, le=300)
    secondary_limit_minutes: float = Field(75.0, gt=0, le=300)
    la_code: str | None = Field(
        None, max_length=10, description="home LA for children whose record has none"
    )


class RunOut(BaseModel):
    id: int
    kind: RunKind
    status: RunStatus
    progress: float = Field(default=0.0, ge=0, le=1, description="fraction of the run's work done")
    stage: str | None = Field(default=None, description="what the run is doing now, in plain words")
    caseload_id: int
    started_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: dict[str, Any] | None = Field(
        None, description="the round's figures (matcher PlacementSummary) once done"
    )
    error: str | None


class ChildPlacementOut(BaseModel):
    """One child's proposed placement and the plain-English reason for it."""

    run_id: int
    child_id: str
    setting_urn: str | None
    setting_name: str | None
    placement_kind: str | None
    provision: str | None
    preference_rank: int | None
    travel_minutes: float | None
    placement_cost: int
    transport_cost: int
    out_of_area: bool
    reason: str
    tailored_list: TailoredListOut | None = Field(
        default=None, description="the options a family is offered, with exclusions and reasons"
    )


class Point(BaseModel):
    """A place on the map, WGS84 degrees (the web page's map and any GIS tool read these)."""

    lat: float
    lon: float


class ChildSummaryOut(BaseModel):
    """One row of a run's child list: enough to pick a child, no more (the read is not audited;
    opening the child's record is)."""

    child_id: str
    setting_urn: str | None
    setting_name: str | None
    placement_kind: str | None
    preference_rank: int | None
    travel_minutes: float | None


class ListedOptionOut(BaseModel):
    """A setting on the child's tailored list (``matcher.tailored.ListedOption``)."""

    urn: str
    name: str
    setting_type: str
    placement_kind: str
    provision: str | None
    needs_matched: list[str]
    minutes: float
    places_left: int
    placement_cost: int
    transport_cost: int
    preference_rank: int | None
    proposed: bool
    marginal_text: str = Field(description="what naming it would cost the LA-wide plan")
    why_listed: str
    location: Point | None


class ExcludedSettingOut(BaseModel):
    urn: str
    name: str
    setting_type: str
    minutes: float | None
    preference_rank: int | None
    reasons: list[str]
    location: Point | None


class PreferenceOut(BaseModel):
    rank: int
    urn: str
    name: str
    met: bool
    ground: str = Field(description="the s.39 Children and Families Act 2014 ground, or 'named'")
    evidence: str


class ReasonCount(BaseModel):
    reason: str
    count: int


class TailoredListOut(BaseModel):
    home: Point | None = Field(default=None, description="the child's home, for the map only")
    options: list[ListedOptionOut]
    excluded: list[ExcludedSettingOut]
    preferences: list[PreferenceOut]
    excluded_not_shown: int
    excluded_not_shown_reasons: list[ReasonCount]


class DecisionCreate(BaseModel):
    child_id: str = Field(min_length=1, max_length=100)
    setting_urn: str | None = Field(
        None, max_length=20, description="the setting named; null records a decision to name none"
    )
    reasons: str = Field(min_length=1, max_length=20_000)


class DecisionOut(BaseModel):
    id: int
    run_id: int
    child_id: str
    setting_urn: str | None
    reasons: str
    decided_by: str
    created_at: datetime


class ChildReadOut(BaseModel):
    id: int
    username: str
    run_id: int
    child_id: str
    at: datetime
