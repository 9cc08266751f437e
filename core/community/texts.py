"""What the community area says (check-in reminders, redemptions) as catalogued templates.

Each template is a Chinese msgid with named placeholders; `core.i18n.translate(TEMPLATE, locale, ...)`
renders it in the reader's language (English in core/translations/en). The TV speaks Chinese.
"""

from __future__ import annotations

from core.i18n import N_

CHECKIN_MISSING = N_("%(household)s 的 %(resident)s（独居）今天 %(deadline)s 前还没有在电视上按“我很好”，"
                     "请打个电话或上门看看。")

REDEMPTION_NEW = N_("%(household)s 兑换了「%(reward)s」（%(cost)s 分），取货码 %(code)s，取货地点：%(place)s。")
DEFAULT_PICKUP_PLACE = N_("积分超市")
PICKUP_SPOKEN = N_("兑换成功。您的取货码是：%(digits)s。请到%(place)s领取%(reward)s。")
COLLECTED_SPOKEN = N_("%(reward)s 已经领取了，取货码不用再报了。")
CANCELLED_SPOKEN = N_("这次兑换%(reward)s已经取消，积分已经退还。")

# Stored as the request's text (in Chinese, like everything residents submit).
BIN_REQUEST_TEXT = N_("垃圾桶“%(bin)s”（%(place)s）：%(kind)s")
BIN_SCAN_LIMITED = N_("报告太频繁了，请过一会儿再试。")
BIN_EMPTIED = N_("已清运")

# 帮我卖: a buyer's 我要买 for the 院长, and the notes on the request's timeline.
MARKET_BUYER = N_("我要买：有买家想要挂单 #%(id)s（%(household)s 的%(item)s %(quantity)s%(unit)s）。"
                  "买家：%(buyer)s，电话 %(phone)s，留言：%(note)s。请联系买卖双方。")
MARKET_LISTED_NOTE = N_("已挂到集市（挂单 #%(id)s）")
MARKET_SOLD_NOTE = N_("已卖出（挂单 #%(id)s）")
MARKET_WITHDRAWN_NOTE = N_("已撤下（挂单 #%(id)s）")
# 帮我卖 from the TV: the request's text (Chinese, like the phone line's "帮我卖：二十斤花椒"), its timeline label,
# and what 读给我听 says on the result page.
SELL_ASK_TEXT = N_("帮我卖：%(item)s（在电视上点的，请打电话问卖多少、什么价）")
SELL_ASK_LABEL = N_("电视")
SELL_ASK_SPOKEN = N_("要卖%(item)s，已经告诉%(handler)s了。工单号是%(number)s。%(handler)s会打电话问您卖多少、什么价。")
SELL_ALREADY_SPOKEN = N_("%(item)s已经托给%(handler)s了，工单号是%(number)s。%(handler)s会打电话给您，不用再按了。")
SELL_NOBODY = N_("村里的工作人员")

# 找活干: a household signed up (for the poster and the 院长), and a job read aloud (TV, phone).
JOB_SIGNUP = N_("找活干报名（%(channel)s）：%(household)s 的 %(resident)s（电话 %(phone)s）报名了「%(title)s」，"
                "%(date)s 在%(place)s，已报名 %(count)s/%(workers)s 人。")
JOB_SPOKEN = N_("%(title)s，%(pay)s，%(date)s在%(place)s干活，要%(workers)s个人。")
JOB_SIGNUP_HINT = N_("要报名请按1。")
JOB_SIGNED_UP_SPOKEN = N_("您已经报名了。")
