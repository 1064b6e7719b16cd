"""Which (child, setting) pairs may be placed, and for every other pair, why not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EligibilityConfig:
    """Hard rules that are policy, not law: DfE best-practice journey limits by phase."""

    primary_limit_minutes: float = 45.0
    secondary_limit_minutes: float = 75.0
    # A parent may prefer a setting further away and arrange the journey; the limit then does
    # not bar the preference (it still costs transport).
    preferences_exempt_from_travel_limit: bool = True

    @property
    def cutoff_minutes(self) -> float:
        return max(self.primary_limit_minutes, self.secondary_limit_minutes)
