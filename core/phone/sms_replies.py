"""SMS replies: an alert's short code or "1" acknowledges an alert; other codes confirm the message they name."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from core.bands.alerts import acknowledge_by_sms
from core.i18n import DEFAULT_LOCALE, translate
from core.phone import texts
from core.phone.calls import find_message_for_reply, parse_sms_reply
from core.phone.confirmations import confirm, reply_locale
from core.phones import mask_phone

log = logging.getLogger(__name__)


def answer_sms_reply(session: Session, *, now: dt.datetime, phone: str, body: str) -> str | None:
    """Act on an SMS reply from `phone` and return what to text back (None: the reply asked for nothing).

    Alerts come first: "回复6854确认收到" is answered by "6854", and a bare "1" acknowledges the
    sender's one pending alert (or lists the codes when several are pending). Anything else is a
    reply to a reminder or follow-up ("1 0427", or "1" for the newest message).
    """
    digit, code = parse_sms_reply(body)
    if not digit:
        return None
    reply = acknowledge_by_sms(session, now=now, phone=phone, digit=digit, code=code)
    if reply is not None:
        log.info("sms reply from %s: alert", mask_phone(phone))
        return reply
    message = find_message_for_reply(session, now=now, phone=phone, code=code)
    log.info("sms reply from %s: %s", mask_phone(phone), "matched" if message is not None else "no message")
    if message is None:
        return translate(texts.SMS_REPLY_UNKNOWN, DEFAULT_LOCALE)
    answer = confirm(session, now=now, message=message, digits=digit)
    return answer or translate(texts.SMS_REPLY_RECEIVED, reply_locale(session, message))
