"""What the 工单 area says (supervision, digests, follow-up questions, reminders, reports) as templates.

Each template is a Chinese msgid with named placeholders; `core.i18n.translate(TEMPLATE, locale, ...)`
renders it in the reader's language (English in core/translations/en). Calls are spoken in Chinese.
"""

from __future__ import annotations

from core.i18n import N_

# A request named in a message: "#12（维修，椒香小院）".
REQUEST_REF = N_("#%(id)s（%(type)s）")
REQUEST_REF_PLACE = N_("#%(id)s（%(type)s，%(place)s）")
ASSIGNEE_PART = N_("，负责人：%(name)s")

# Overdue supervision (挂牌督办), one text per level.
OVERDUE_ASSIGNEE = N_("工单%(what)s已超期%(hours)s小时未办结，请尽快处理：%(body)s")
OVERDUE_VILLAGE = N_("督办：工单%(what)s已超期%(hours)s小时未办结%(assignee)s。%(body)s")
OVERDUE_TOWN = N_("挂牌督办：工单%(what)s已超期%(hours)s小时未办结%(assignee)s，已挂牌。%(body)s")

# The staff's morning digest.
DIGEST = N_("早上好，%(name)s：待办工单%(open)s张，其中超期%(overdue)s张。")
DIGEST_SUPERVISED = N_("早上好，%(name)s：待办工单%(open)s张，其中超期%(overdue)s张、挂牌督办%(supervised)s张。")
DIGEST_OLDEST = N_("超期最久：%(items)s。")
DIGEST_ITEM = N_("#%(id)s %(type)s超期%(hours)s小时")
DIGEST_ITEM_PLACE = N_("#%(id)s %(type)s（%(place)s）超期%(hours)s小时")
LIST_SEPARATOR = N_("；")

# The follow-up question (call and TV) and the answers to a key.
FOLLOWUP_QUESTION = N_("您反映的“%(body)s”已经处理好了。满意请按1，基本满意请按2，不满意请按3。")
FOLLOWUP_QUESTION_TYPE = N_("您反映的%(type)s的事已经处理好了。满意请按1，基本满意请按2，不满意请按3。")
FOLLOWUP_ALREADY_ANSWERED = N_("这件事已经评价过了，谢谢您。")
FOLLOWUP_REOPENED_REPLY = N_("我们会重新处理，并请上级跟进。谢谢您。")
FOLLOWUP_THANKS = N_("谢谢您的评价。")
FOLLOWUP_DISSATISFIED = N_("回访不满意：工单%(what)s居民表示不满意，已重新打开%(assignee)s。")

# Reminders: the call (spoken), its confirmation, and the message to a caregiver.
REMINDER_CALL = N_("%(kind)s提醒：%(text)s（%(when)s）。听到请按1确认。")
REMINDER_CONFIRMED = N_("好的，已确认。谢谢您。")
REMINDER_UNCONFIRMED = N_("%(resident)s没有确认%(kind)s提醒：%(text)s（%(when)s）。请您提醒一下。")

# The short report text pushed to staff.
REPORT_TITLE = N_("【%(scope)s%(kind)s %(period)s】")
REPORT_REQUESTS = N_("工单：新增%(new)s 解决%(resolved)s 本期新超期%(overdue)s 超期未办结%(overdue_open)s "
                     "挂牌%(supervised)s；"
                     "办结用时中位数%(median)s，P90 %(p90)s")
REPORT_SATISFACTION = N_("满意度：满意%(satisfied)s 基本满意%(basic)s 不满意%(dissatisfied)s "
                         "未评价%(unevaluated)s（满意率%(rate)s）")
REPORT_ALERTS = N_("告警：%(total)s条，确认用时中位数%(median)s")
REPORT_ALERTS_TYPES = N_("告警：%(total)s条（%(types)s），确认用时中位数%(median)s")
REPORT_HELP_CALLS = N_("一键呼叫：%(total)s次，接通%(reached)s次，共拨出%(legs)s通")
REPORT_CHECKINS = N_("每日签到：%(checked_in)s/%(expected)s户次（%(rate)s）")
REPORT_POINTS = N_("积分：发放%(awarded)s，兑换%(redeemed)s")
REPORT_BINS = N_("爱环境垃圾桶：%(reported)s个被报告（扫码%(scans)s次），清运%(emptied)s个，清运用时中位数%(median)s")
REPORT_BOARDS = N_("帮我卖：新挂%(listed)s件，卖出%(sold)s件，撤下%(withdrawn)s件，在卖%(open)s件，买家%(buyers)s人次；"
                   "找活干：新发布%(jobs_posted)s个活，报名%(job_signups)s人次")
HOURS = N_("%(n)s小时")
MINUTES = N_("%(n)s分钟")
ENUMERATION_SEPARATOR = N_("、")

# 读给我听 on the TV home: today's reminders, spoken.
REMINDERS_SPOKEN = N_("今天的提醒。%(items)s。")
REMINDER_SPOKEN = N_("%(time)s，%(kind)s提醒：%(text)s")
NO_REMINDERS_SPOKEN = N_("今天没有提醒。")
SENTENCE_SEPARATOR = N_("。")

# The village duty phone as a message recipient (requests from unknown callers).
DUTY_PHONE_NAME = N_("村值班电话")
REPORT_UNKNOWN_CALLERS = N_("陌生来电诉求%(count)s件（已交村值班人员）")
