"""What wristband alerts say (board summaries, SMS, calls, replies) as catalogued templates.

Each template is a Chinese msgid with named placeholders; `core.i18n.translate(TEMPLATE, locale, ...)`
renders it in the reader's language (English in core/translations/en).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.i18n import N_, translate

SUMMARIES = {
    "sos": N_("%(who)s按下了手环求救键"),
    "fall": N_("%(who)s的手环检测到跌倒"),
    "hr_high": N_("%(who)s心率持续偏高（%(hr)s次/分）"),
    "hr_low": N_("%(who)s心率持续偏低（%(hr)s次/分）"),
    "spo2_low": N_("%(who)s血氧持续偏低（%(spo2)s%%）"),
    "temp_high": N_("%(who)s体温偏高（%(temp_c)s℃）"),
    "temp_low": N_("%(who)s体温偏低（%(temp_c)s℃）"),
    "removed": N_("%(who)s的手环摘下已超过半小时"),
    "silent": N_("%(who)s的手环已%(minutes)s分钟没有消息（可能没电或关机）"),
    "battery_low": N_("%(who)s的手环电量低（%(battery)s%%），请帮忙充电"),
    "no_activity": N_("%(who)s今天到%(by_hour)s点还没有走动记录"),
}
SUMMARY_OTHER = N_("%(who)s：%(label)s")
# The readings a summary may quote; a missing one reads "?".
SUMMARY_VALUES = ("hr", "spo2", "temp_c", "minutes", "battery", "by_hour")
BAND_NAME = N_("手环%(band)s")

ALERT_PLACE = N_("（%(household)s）")
ALERT_SMS = N_("【小院+%(label)s】%(summary)s%(place)s，%(when)s。请尽快联系或前往查看。回复%(code)s确认收到。")
ALERT_AGAIN_SMS = N_("【小院+再次提醒】%(summary)s%(place)s，%(when)s。请尽快联系或前往查看。回复%(code)s确认收到。")
ALERT_CALL = N_("小院加%(label)s提醒：%(summary)s%(place)s。请尽快联系或前往查看。")
ALERT_ALL_CLEAR = N_("【小院+】已恢复：%(summary)s%(place)s，%(at)s起已恢复正常。")
ALERT_RESOLVED = N_("【小院+】已处理：%(summary)s%(place)s，%(by)s已于%(at)s处理完毕，不用再赶过去了。")
ALERT_ACKNOWLEDGED = N_("【小院+】%(by)s已确认处理：%(summary)s。")

# Said to whoever registers a band for nobody.
UNASSIGNED_BAND_VILLAGE = N_("注意：手环%(band)s没有登记给居民，它的报警会发给%(village)s的村干部和网格员，"
                             "最后是街道指挥中心。请尽快登记给佩戴的居民。")
UNASSIGNED_BAND_TOWN = N_("注意：手环%(band)s没有登记给居民，也查不到它属于哪个村，它的报警只会发给街道指挥中心。"
                          "请尽快登记给佩戴的居民。")

REPLY_ALREADY_CLOSED = N_("这条告警已经处理完毕，谢谢您。")
REPLY_ACKNOWLEDGED = N_("已确认，谢谢您。请尽快联系或前往查看。")
REPLY_SMS_ACKNOWLEDGED = N_("已确认收到：%(summary)s。谢谢您，请尽快联系或前往查看。")
REPLY_SMS_TAKEN = N_("%(by)s已确认这条告警：%(summary)s。谢谢您。")
REPLY_SMS_CLOSED = N_("这条告警已经处理完毕：%(summary)s。谢谢您。")
REPLY_SMS_CHOOSE = N_("您有%(count)s条告警待确认，请回复其中一条的号码：\n%(items)s")
REPLY_SMS_ITEM = N_("%(code)s：%(summary)s")


def alert_summary(alert_type: str, who: str, value: Mapping[str, Any], label: str, locale: str) -> str:
    """The one-line summary of an alert in `locale` (`label` is the type's msgid, used for unknown types)."""
    template = SUMMARIES.get(alert_type)
    if template is None:
        return translate(SUMMARY_OTHER, locale, who=who, label=translate(label, locale))
    return translate(template, locale, who=who, **{name: value.get(name, "?") for name in SUMMARY_VALUES})
