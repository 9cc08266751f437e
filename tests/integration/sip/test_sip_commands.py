"""The SIP provider's queue and call progress on a real database (no SIP stack needed)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.sip import SipCommand
from core.phone import progress, sipcommands
from core.phone.dialler import advance_help_call
from core.phone.helpcalls import start_help_call
from core.phone.telephony.port import TelephonyError
from core.phone.telephony.sip_provider import SipTelephony
from tests.factories import build_world


@pytest.fixture
def sip_services(services, settings):
    services.telephony = SipTelephony(services.session_factory, services.clock, from_number="02346712345",
                                      data_dir=settings.data_dir)
    return services


def test_a_retried_place_call_rings_nobody_twice(sip_services):
    telephony = sip_services.telephony
    first = telephony.place_call("+8613800001111", "", "https://x/voice/twilio/help/answer?leg=1",
                                 "https://x/voice/twilio/help/status?leg=1", 20, idempotency_key="helpcall-leg-1")
    again = telephony.place_call("+8613800001111", "", "https://x/voice/twilio/help/answer?leg=1",
                                 "https://x/voice/twilio/help/status?leg=1", 20, idempotency_key="helpcall-leg-1")
    assert first == again and first.startswith("SIP")
    with sip_services.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SipCommand)) == 1


def test_an_endpoint_claims_only_as_many_dials_as_it_has_free_channels(sip_services, clock):
    for n in range(3):
        sip_services.telephony.place_call(f"+861380000{n:04d}", "", "u", "s", 20)
    with transaction(sip_services.session_factory) as session:
        dials, _ = sipcommands.claim_commands(session, now=clock.now(), endpoint="a", free_channels=2, live_calls=[])
    with transaction(sip_services.session_factory) as session:
        more, _ = sipcommands.claim_commands(session, now=clock.now(), endpoint="b", free_channels=4, live_calls=[])
    assert len(dials) == 2 and len(more) == 1 and {d.call_id for d in dials}.isdisjoint({m.call_id for m in more})


def test_a_dial_queued_while_no_endpoint_ran_is_not_placed_late(sip_services, clock):
    call_id = sip_services.telephony.place_call("+8613800001111", "", "u", "s", 20)
    clock.advance(minutes=5)
    with transaction(sip_services.session_factory) as session:
        dials, _ = sipcommands.claim_commands(session, now=clock.now(), endpoint="a", free_channels=4, live_calls=[])
    assert [(d.kind, d.call_id) for d in dials] == [("expired", call_id)]


def test_hanging_up_a_call_not_yet_placed_cancels_it_and_a_live_one_goes_to_its_endpoint(sip_services, clock):
    telephony = sip_services.telephony
    queued = telephony.place_call("+8613800001111", "", "u", "s", 20)
    telephony.hangup(queued)
    telephony.hangup("SIPlive")
    telephony.update_call("SIPlive", url="https://x/voice/twilio/speech/poll?r=1")
    with pytest.raises(TelephonyError):
        telephony.update_call("SIPlive", twiml="<Response/>")
    with pytest.raises(TelephonyError) as error:
        telephony.send_sms("+8613800001111", "", "hi")
    assert error.value.permanent  # the outbox falls back to the next channel
    with transaction(sip_services.session_factory) as session:
        dials, actions = sipcommands.claim_commands(session, now=clock.now(), endpoint="a", free_channels=4,
                                                    live_calls=["SIPlive"])
    assert dials == [] and [a.kind for a in actions] == ["hangup", "update"]


def test_sip_call_progress_moves_a_help_call_like_twilio_status_callbacks(sip_services, clock):
    with transaction(sip_services.session_factory) as session:
        world = build_world(session, clock.now())
        call = start_help_call(session, now=clock.now(), household_id=world.residents[0].household_id)
        help_call_id = call.id
    advance_help_call(sip_services, help_call_id)
    with sip_services.session_factory() as session:
        command = session.scalar(sa.select(SipCommand))
        status_url = command.status_url
    progress.report_progress(sip_services, status_url, "ringing", call_id=command.call_id)
    progress.report_progress(sip_services, status_url, "busy", call_id=command.call_id)  # the son is busy
    with sip_services.session_factory() as session:
        legs = session.scalars(sa.select(HelpCallLeg).order_by(HelpCallLeg.id)).all()
        assert [leg.status for leg in legs] == ["busy", "ringing"]  # … so the 院长 rings next
        assert session.scalar(sa.select(sa.func.count()).select_from(SipCommand)) == 2
        assert session.get(HelpCall, help_call_id).status == "calling"
