"""What the outbox adds to a message or records about its delivery, as catalogued templates.

The SMS reply hint is rendered in the recipient's locale; delivery errors are kept in the outbox row
for staff, in Chinese (`core.i18n.translate(TEMPLATE, locale, ...)` renders either).
"""

from __future__ import annotations

from core.i18n import N_

SMS_WITH_REPLY_HINT = N_("%(text)s 回复1 %(code)s确认")

DELIVERY_GAVE_UP = N_("%(error)s (%(tried)s 次)")
CHANNEL_NOT_CONFIGURED = N_("渠道未配置")
NO_CHANNEL = N_("没有可用渠道")
NO_PHONE_NUMBER = N_("收件人没有电话号码")
