"""Choose the telephony provider named in the settings."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.i18n import N_, bilingual
from core.phone.telephony.dryrun import DryRunTelephony
from core.phone.telephony.port import Telephony
from core.settings import Settings, SettingsError

PROVIDERS = ("dryrun", "twilio", "sip")


def make_telephony(settings: Settings, session_factory: sessionmaker[Session], clock: Clock) -> Telephony:
    """The configured provider: dry-run, Twilio (or TwiML-compatible), or the own SIP endpoint."""
    provider = settings.telephony.provider
    if provider == "dryrun":
        return DryRunTelephony(session_factory, clock, from_number=settings.twilio.from_number,
                               demo_answer=settings.telephony.demo_answer)
    if provider == "twilio":
        missing = [name for name in ("account_sid", "auth_token", "from_number") if not getattr(settings.twilio, name)]
        if missing:
            names = ", ".join(f"XIAOYUAN_TWILIO_{m.upper()}" for m in missing)
            raise SettingsError(bilingual(N_("电话服务选择了 twilio，但缺少设置：%(names)s"), names=names))
        from core.phone.telephony.twilio_provider import TwilioTelephony

        return TwilioTelephony(settings.twilio.account_sid, settings.twilio.auth_token, settings.twilio.from_number,
                               settings.twilio.api_base)
    if provider == "sip":
        from core.phone.telephony.sip_provider import SipTelephony

        return SipTelephony(session_factory, clock, from_number=settings.sip.line_number,
                            data_dir=settings.data_dir)
    raise SettingsError(bilingual(N_("未知的电话服务 %(provider)r（可选：%(choices)s）"), provider=provider,
                                  choices=", ".join(PROVIDERS)))
