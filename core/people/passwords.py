"""Rules for new passwords: a minimum length and not one of the passwords every attacker tries first."""

from __future__ import annotations

from core.errors import InvalidInput
from core.i18n import N_

MIN_LENGTH = 8

# The most common passwords in leaked lists (international and Chinese sites: 123456, 5201314, woaini…)
# and the obvious ones for this product; compared case-insensitively.
COMMON_PASSWORDS = frozenset("""
00000000 11111111 12121212 11223344 12341234 12344321 12345678 123456789 1234567890 0123456789 87654321
88888888 66666666 99999999 55555555 22222222 33333333 44444444 77777777 98765432 147258369 123123123
password password1 password123 passw0rd p@ssw0rd p@ssword qwertyui qwerty123 qwertyuiop 1q2w3e4r
1qaz2wsx qazwsxedc zaq12wsx asdfghjk asdf1234 zxcvbnm1 abcd1234 abc12345 abc123456 a1234567 a12345678
aa123456 iloveyou iloveyou1 woaini520 woaini1314 5201314520 52013145 13145200 1314520520 woaini123
admin123 admin1234 admin12345 administrator root1234 welcome1 welcome123 letmein1 changeme sunshine
princess football baseball superman trustno1 dragon12 monkey12 master12 shadow12 computer internet
xiaoyuan xiaoyuan1 xiaoyuan123 xiaoyuan-demo xiaoyuan2026 yuanzhang wangge123 zhangsan lisi1234
""".split())  # noqa: SIM905 (a word list reads better as text)


def check_new_password(password: str, *, username: str = "") -> None:
    """Raise InvalidInput when a new password is too short, too common or the username itself."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(N_("密码至少 8 位"))
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or (username and lowered == username.strip().lower()) or len(set(password)) < 3:
        raise InvalidInput(N_("这个密码太常见，容易被猜到，请换一个"))
