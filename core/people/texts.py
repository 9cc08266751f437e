"""What the roster import (M21) says about a county's file, as catalogued templates.

Each template is a Chinese msgid with named placeholders; `core.i18n.translate(TEMPLATE, locale, ...)`
renders it in the reader's language (English in core/translations/en). Column names stay Chinese in
both languages: they are the words printed in the file's header row.
"""

from __future__ import annotations

from core.i18n import N_

# Whole-file problems.
UNSUPPORTED_FILE = N_("只能导入 .xlsx 或 .csv 文件")
UNREADABLE_FILE = N_("无法读取这个文件：请用模板另存为 .xlsx 或 UTF-8 的 .csv")
EMPTY_FILE = N_("文件是空的：第一行应为表头")
BAD_HEADER = N_("表头不对：第%(index)s列应为“%(expected)s”，文件里是“%(found)s”")
TOO_MANY_ROWS = N_("一次最多导入%(limit)s行，这个文件有%(rows)s行")
NO_TOWN = N_("请指定镇（--town）：村子要建在哪个镇下面？")
ROLE_CANNOT_IMPORT = N_("只有管理员、镇和村的工作人员可以导入名册")

# One row's problems ("第12行，电话：…").
PROBLEM_LINE = N_("第%(row)s行，%(column)s：%(problem)s")
REQUIRED = N_("必填")
TOO_LONG = N_("太长（最多%(limit)s个字）")
BIRTH_YEAR = N_("出生年应为1900到%(year)s之间的四位数")
YES_NO = N_("请填“是”或“否”")
CAREGIVER_NAME_MISSING = N_("填了电话或关系，但没有照护人姓名")
CAREGIVER_PHONE_MISSING = N_("照护人需要电话，出事时才能打给他")
DUPLICATE_ROW = N_("与第%(row)s行是同一个人（同村、同户号、同姓名）")
HOUSEHOLD_TWO_COURTYARDS = N_("同一户号在第%(row)s行写的是另一个小院（%(courtyard)s）")
OTHER_VILLAGE = N_("只能导入本村（%(village)s）的居民")
AMBIGUOUS_VILLAGE = N_("几个镇都有叫这个名字的村，请指定镇（--town）")

# The summary after a run.
SUMMARY_CHECKED = N_("共%(rows)s行，有问题%(bad)s行")
SUMMARY_DRY_RUN = N_("试运行，没有写入：将新建村%(villages)s个、小院%(courtyards)s个、户%(households)s户、"
                     "居民%(residents)s人、照护人%(caregivers)s人；更新居民%(updated)s人；不变%(unchanged)s人")
SUMMARY_WRITTEN = N_("已导入：新建村%(villages)s个、小院%(courtyards)s个、户%(households)s户、居民%(residents)s人、"
                     "照护人%(caregivers)s人；更新居民%(updated)s人；不变%(unchanged)s人")
SUMMARY_REFUSED = N_("有问题的行未改正，什么也没有写入：改正后再导入，或选择跳过有问题的行")
SKIP_BAD_HINT = N_("用 --skip-bad 只导入没问题的行")
SUMMARY_SKIPPED = N_("跳过了%(bad)s行有问题的行")

