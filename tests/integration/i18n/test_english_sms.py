"""Text that leaves the web request (SMS to staff) in the recipient's language, through core.i18n."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.i18n import translate
from core.models.outbox import OutboxMessage
from core.models.staff import User
from core.requests import workorders as request_service
from tests.factories import build_world

NEW_REQUEST_SMS = "新工单 #%(id)s（%(type)s）：%(text)s"
DUE = {"environment": 24, "repair": 24, "help": 2, "find_head": 4, "sell": 48, "job": 72, "other": 48}


def test_new_request_sms_template_has_english():
    """The template core.requests.workorders sends to an assignee reads as English for an English locale."""
    text = translate(NEW_REQUEST_SMS, "en", id=12, type="repair", text="门口的灯坏了")
    assert text == "New request #12 (repair): 门口的灯坏了"
    chinese = translate(NEW_REQUEST_SMS, "zh", id=12, type="维修", text="门口的灯坏了")
    assert chinese == "新工单 #12（维修）：门口的灯坏了"


def test_unknown_locale_falls_back_to_chinese():
    """A user with an unexpected locale still gets a readable (Chinese) message, never an error."""
    assert translate(NEW_REQUEST_SMS, "fr", id=1, type="维修", text="x") == "新工单 #1（维修）：x"


@pytest.mark.parametrize(("locale", "start"), [("en", "New request #"), ("zh", "新工单 #")])
def test_courtyard_head_is_told_in_their_own_language(session_factory, clock, locale, start):
    """A new request's SMS to the 院长 follows their account's language; the elder's words stay as spoken."""
    with transaction(session_factory) as session:
        world = build_world(session, clock.now())
        session.get(User, world.users["head_a"].id).locale = locale
        resident_id, head_id = world.residents[0].id, world.users["head_a"].id
    with transaction(session_factory) as session:
        req = request_service.submit_request(
            session, now=clock.now(), due_hours=DUE, resident_id=resident_id, type="repair", channel="phone",
            text="我家水管爆了", recording_url="https://example.invalid/rec/1.wav",
        )
        request_id = req.id
    with session_factory() as session:
        message = session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.recipient_user_id == head_id)
        ).one()
    assert message.text.startswith(f"{start}{request_id}")
    assert "我家水管爆了" in message.text
    recording_label = "Recording: " if locale == "en" else "录音："
    assert f"{recording_label}https://example.invalid/rec/1.wav" in message.text
