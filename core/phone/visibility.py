"""Who sees which calls of the village line and which help calls, by the place rules of core.people.access."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.i18n import N_
from core.models.calls import CallLog, CallRecording
from core.models.helpcalls import HelpCall
from core.models.places import Village
from core.people.access import Viewer, place_clause


def call_scope(user: Viewer):
    """A clause on CallLog: calls from residents of the user's places (unknown callers: admins only)."""
    town = sa.select(Village.town_id).where(Village.id == CallLog.village_id).scalar_subquery()
    return place_clause(user, courtyard_col=CallLog.courtyard_id, village_col=CallLog.village_id, town_col=town)


def get_call_for(session: Session, user: Viewer, call_id: int) -> CallLog:
    """A call log the user may see; NotFound otherwise."""
    entry = session.scalar(sa.select(CallLog).where(CallLog.id == call_id, call_scope(user)))
    if entry is None:
        raise NotFound(N_("找不到这个电话记录"))
    return entry


def get_recording_for(session: Session, user: Viewer, recording_id: int) -> CallRecording:
    """A call recording whose call the user may see; NotFound otherwise."""
    recording = session.scalar(
        sa.select(CallRecording).join(CallLog, CallRecording.call_log_id == CallLog.id)
        .where(CallRecording.id == recording_id, call_scope(user)))
    if recording is None:
        raise NotFound(N_("找不到这段录音"))
    return recording


def help_call_scope(user: Viewer):
    """A clause on HelpCall: 一键呼叫 from households of the user's places."""
    return place_clause(user, courtyard_col=HelpCall.courtyard_id, village_col=HelpCall.village_id,
                        town_col=HelpCall.town_id)
