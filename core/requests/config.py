"""The requests area's typed settings: `[requests]` (types, due hours) and `[ops]` (supervision, follow-up, reports).

Hours are Asia/Shanghai local time. Defaults are defined here once.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from core.settings_types import Section

Hour = Field(ge=0, le=24)


class RequestSettings(Section):
    """Request (工单) types and the hours until a request of each type is due."""

    types: tuple[str, ...] = ("environment", "find_head", "sell", "job", "help", "repair", "other")
    due_hours: dict[str, float] = Field(
        default_factory=lambda: {"environment": 24.0, "find_head": 4.0, "sell": 48.0, "job": 72.0, "help": 2.0,
                                 "repair": 24.0, "other": 48.0},
        description="hours until a request of each type is due; the keys are the request types")

    @model_validator(mode="after")
    def _every_type_has_due_hours(self) -> RequestSettings:
        missing = [t for t in self.types if t not in self.due_hours]
        if missing:
            raise ValueError(f"due_hours has no entry for {', '.join(missing)}")
        return self


class OpsSettings(Section):
    """Scheduled operations: overdue supervision, follow-up, reports, reminders, monthly base points."""

    escalate_village_factor: float = Field(
        2.0, gt=0, description="挂牌督办: past due the assignee is told; at this many due spans the village")
    escalate_town_factor: float = Field(3.0, gt=0, description="…and at this many the town 指挥中心 (marked 挂牌)")
    digest_hour: int = Field(8, ge=0, le=23, description="morning digest for every staff member from this hour")
    digest_until_hour: int = Field(20, ge=0, le=24, description="…and not after this one")
    digest_roles: tuple[str, ...] = ("courtyard_head", "grid_worker", "village", "town")
    followup_delay_minutes: float = Field(30, ge=0, description="闭环回访: ask the resident this long after resolution")
    followup_max_attempts: int = Field(2, ge=1)
    followup_call_start_hour: int = Field(9, ge=0, le=23, description="follow-up calls only within call hours")
    followup_call_end_hour: int = Field(20, ge=0, le=24)
    followup_call_wait_hours: float = Field(4, ge=0)
    followup_tv_wait_hours: float = Field(24, ge=0)
    report_roles: tuple[str, ...] = Field(("village", "town"), description="roles reports are pushed to")
    report_hour: int = Field(7, ge=0, le=23)
    report_until_hour: int = Field(20, ge=0, le=24)
    reminder_call_hour: int = Field(8, ge=0, le=23, description="reminder calls on the day, unless call_at is set")
    reminder_confirm_minutes: float = Field(
        60, ge=0, description="unconfirmed medication / appointment reminders go to the caregiver after this")
    monthly_base_points: int = Field(0, ge=0, description="积分制: points every household gets on the 1st (0 = off)")
    monthly_base_points_villages: tuple[int, ...] = Field((), description="empty = every village")
    monthly_base_points_category: str = "其他"
