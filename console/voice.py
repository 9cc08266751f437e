"""Console pages of the phone line: call logs with audio, help calls with each leg, dry-run calls."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, abort, render_template
from sqlalchemy.orm import selectinload

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.db import db_session
from console.nav import MANAGERS, register_nav
from core.clock import to_local
from core.container import current_services
from core.errors import NotFound
from core.i18n import N_
from core.models.calls import CallLog, CallRecording, DryRunRecord
from core.models.helpcalls import HelpCall
from core.phone.calls import recording_bytes
from core.phone.telephony.port import TelephonyError
from core.phone.visibility import call_scope, get_call_for, get_recording_for, help_call_scope
from core.phones import mask_phone

LEG_LABELS = {
    "queued": N_("排队"), "ringing": N_("振铃中"), "answered": N_("已接起（未按键）"), "accepted": N_("按1接通"),
    "no_answer": N_("无人接听"), "busy": N_("占线"), "failed": N_("呼叫失败"), "declined": N_("接起未按键"),
    "completed": N_("已结束"),
}
HELP_LABELS = {"pending": N_("准备中"), "calling": N_("呼叫中"), "reached": N_("已联系上"), "bridged": N_("已接通"),
               "failed_round": N_("本轮无人接听，稍后重拨"), "failed": N_("无人接听"), "cancelled": N_("已取消"),
               "told": N_("短时间内多次呼叫，已通知院长和值班电话")}
OUTCOME_LABELS = {"request_created": N_("已登记工单"), "message_left": N_("已留言"), "points_read": N_("查询积分"),
                  "jobs_read": N_("听招工信息"), "talked_to_head": N_("已转院长"), "hung_up": N_("挂机"),
                  "talked_to_staff": N_("已转工作人员"), "callback_requested": N_("没有留言，要求回电"),
                  "help_call": N_("紧急求助：已启动一键呼叫"), "emergency_transfer": N_("紧急求助：已转值班人员")}

register_nav("console.voice_calls", N_("电话记录"), MANAGERS, 60, group="phone")
register_nav("console.voice_help_calls", N_("一键呼叫"), MANAGERS, 61, group="phone")


def _speech_warning() -> bool:
    return current_services().asr is None


@bp.get("/voice/calls")
@staff_required(*MANAGERS)
def voice_calls() -> str:
    """Recent calls to the village line in the user's scope."""
    session = db_session()
    calls = list(session.scalars(sa.select(CallLog).where(call_scope(current_staff()))
                                 .order_by(CallLog.started_at.desc(), CallLog.id.desc()).limit(200)))
    return render_template("console/voice/calls.html", calls=calls, mask=mask_phone, local=to_local,
                           outcomes=OUTCOME_LABELS, speech_off=_speech_warning())


@bp.get("/voice/calls/<int:call_id>")
@staff_required(*MANAGERS)
def voice_call_detail(call_id: int) -> str:
    """One call: the path taken, what was heard, the outcome, the recordings."""
    session = db_session()
    try:
        entry = get_call_for(session, current_staff(), call_id)
    except NotFound:
        abort(404)
    recordings = list(session.scalars(sa.select(CallRecording).where(CallRecording.call_log_id == entry.id)
                                      .order_by(CallRecording.id)))
    return render_template("console/voice/call.html", call=entry, recordings=recordings, mask=mask_phone,
                           local=to_local, outcomes=OUTCOME_LABELS)


@bp.get("/voice/recordings/<int:recording_id>")
@staff_required(*MANAGERS)
def voice_recording(recording_id: int) -> Response:
    """The audio of a recording (kept locally; fetched from the provider once if needed)."""
    try:
        recording = get_recording_for(db_session(), current_staff(), recording_id)
    except NotFound:
        abort(404)
    services = current_services()
    try:
        data = recording_bytes(services.settings, services.telephony, recording)
    except (FileNotFoundError, TelephonyError):
        abort(410)
    return Response(data, mimetype="audio/wav", headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/voice/help-calls")
@staff_required(*MANAGERS)
def voice_help_calls() -> str:
    """Help calls (一键呼叫) with each leg's outcome."""
    session = db_session()
    calls = list(session.scalars(sa.select(HelpCall).where(help_call_scope(current_staff()))
                                 .options(selectinload(HelpCall.legs)).order_by(HelpCall.id.desc()).limit(100)))
    return render_template("console/voice/help_calls.html", calls=calls, local=to_local, leg_labels=LEG_LABELS,
                           help_labels=HELP_LABELS)


@bp.get("/voice/dryrun")
@staff_required("admin")
def voice_dryrun() -> str:
    """Calls and SMS the dry-run provider recorded instead of sending."""
    records = list(db_session().scalars(sa.select(DryRunRecord).order_by(DryRunRecord.id.desc()).limit(200)))
    return render_template("console/voice/dryrun.html", records=records, mask=mask_phone, local=to_local)

