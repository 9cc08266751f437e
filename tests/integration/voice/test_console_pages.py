"""Console pages of the phone line: call logs with audio, help calls with legs, scoped to the staff member."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import transaction
from core.models.calls import CallRecording
from core.phone.dialler import advance_help_call
from core.phone.helpcalls import start_help_call
from tests.integration.console.conftest import login_as
from tests.integration.voice.conftest import PUBLIC_BASE, fake_recording_bytes

WANG = "+8613800000000"


def _login(client, user) -> None:
    """Sign in as `user` (the login form has its own tests)."""
    login_as(client, user)


def test_head_sees_the_call_its_recording_and_the_help_call_legs(world, call, fake_twilio, voice_services,
                                                                 voice_app):
    caller = call(WANG)
    caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="1")
    audio = fake_recording_bytes()
    caller.post(f"{PUBLIC_BASE}/voice/twilio/message?type=environment&purpose=report",
                RecordingUrl=fake_twilio.add_recording(audio), RecordingDuration="5")
    with transaction(voice_services.session_factory) as s:
        help_id = start_help_call(s, now=voice_services.clock.now(), household_id=world.households[0].id).id
    advance_help_call(voice_services, help_id)
    client = voice_app.test_client()
    _login(client, world.users["head_a"])
    page = client.get("/console/voice/calls").get_data(as_text=True)
    assert "***0000" in page and WANG not in page  # callers are masked
    with voice_services.session_factory() as s:
        recording = s.scalar(sa.select(CallRecording))
    detail = client.get(f"/console/voice/calls/{recording.call_log_id}").get_data(as_text=True)
    assert f"/console/voice/recordings/{recording.id}" in detail and "<audio" in detail
    sound = client.get(f"/console/voice/recordings/{recording.id}")
    assert sound.status_code == 200 and sound.data == audio and sound.mimetype == "audio/wav"
    helps = client.get("/console/voice/help-calls").get_data(as_text=True)
    assert "王小明" in helps and "振铃中" in helps
    other = voice_app.test_client()
    _login(other, world.users["head_b"])  # another 小院: neither the call nor its audio
    assert other.get(f"/console/voice/calls/{recording.call_log_id}").status_code == 404
    assert other.get(f"/console/voice/recordings/{recording.id}").status_code == 404
    assert "王小明" not in other.get("/console/voice/help-calls").get_data(as_text=True)
