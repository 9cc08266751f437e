"""The privacy area's typed settings: `[privacy]`, how long sensitive records are kept (defaults defined once)."""

from __future__ import annotations

from pydantic import Field

from core.settings_types import Section


class PrivacySettings(Section):
    """Retention of sensitive records, in days."""

    telemetry_raw_days: int = Field(30, ge=1)
    telemetry_aggregate_days: int = Field(365, ge=1)
    recordings_days: int = Field(90, ge=1)
    call_logs_days: int = Field(365, ge=1)
    bin_photos_days: int = Field(90, ge=1, description="photos passers-by sent with 爱环境 bin reports")
