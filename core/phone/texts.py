"""What the one-key call says (TV steps, messages when nobody answers) as catalogued templates.

Each template is a Chinese msgid with named placeholders; `core.i18n.translate(TEMPLATE, locale, ...)`
renders it in the reader's language (English in core/translations/en).
"""

from __future__ import annotations

from core.i18n import N_

# The help call's steps on the TV.
# Each says only what is true: who is ringing now, and who really got a message.
STEP_PREPARING = N_("正在准备呼叫 %(name)s")
STEP_RINGING = N_("正在呼叫 %(name)s")
STEP_RINGING_AGAIN = N_("再打一次给 %(name)s")
STEP_PICKED_UP = N_("%(name)s 的电话接起了，正在确认")
STEP_ANSWERED = N_("%(name)s 已接听")
STEP_NO_ANSWER_NEXT = N_("%(name)s 无人接听，正在呼叫下一位")
STEP_NO_ANSWER = N_("%(name)s 无人接听")
STEP_NO_NUMBER = N_("%(name)s 没有登记电话，跳过")
STEP_CONNECTING = N_("%(name)s 已接听，正在为您接通")
STEP_BRIDGED = N_("已接通")
STEP_ROUND_FAILED_TOLD = N_("这一轮没有人接听，已发消息给 %(names)s，稍后再打一次")
STEP_ROUND_FAILED = N_("这一轮没有人接听，稍后再打一次")
STEP_FAILED_TOLD = N_("没有联系上，已发消息给 %(names)s")
STEP_FAILED = N_("没有联系上")
STEP_CANCELLED = N_("已取消呼叫")
STEP_CALLING = N_("正在呼叫")
STEP_TOLD = N_("已经告诉院长和村上值班的人，会有人尽快联系您")
STEP_TALK_ENDED = N_("和 %(name)s 的通话已结束")
NAME_WITH_RELATION = N_("%(name)s（%(relation)s）")
NAMES_SEPARATOR = N_("、")
HEAD = N_("院长")
FAMILY = N_("家人")
DUTY_PHONE = N_("村值班电话")  # the last entry of a help call's chain

# Nobody in the chain answered.
UNANSWERED_MESSAGE = N_("紧急：%(household)s的%(resident)s通过一键呼叫求助，电话没有人接（第%(round)s轮）。"
                        "请尽快联系或上门查看。")
UNANSWERED_REQUEST = N_("一键呼叫无人接听：%(household)s的%(resident)s需要帮助，请马上联系或上门。")
UNANSWERED_REQUEST_LABEL = N_("一键呼叫")
ELDER = N_("老人")
TOO_MANY_STARTS = N_("%(household)s的%(resident)s在%(minutes)s分钟内第%(count)s次按一键呼叫，已不再自动拨打。"
                     "请尽快打电话或上门看看。")

# The answer to an SMS reply ("1 0427") when no handler had anything to say.
SMS_REPLY_UNKNOWN = N_("没有找到要确认的消息。有事请打小院服务电话。")
SMS_REPLY_RECEIVED = N_("已收到，谢谢。")
