"""`xiaoyuan check`: every configuration problem in plain words (Chinese first, English second)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import sqlalchemy as sa

from core.db import make_engine
from core.i18n import N_, bilingual
from core.notify.base import channel_modules
from core.notify.channels.call_hangup import NAME as HANGUP_CHANNEL
from core.settings import Settings, variable_name


@dataclass(frozen=True)
class Problem:
    """One finding: level is error (service cannot work as configured), warning or info."""

    level: str
    message: str


DB_SCHEMA_OLD = N_("数据库结构不是最新，请运行 `xiaoyuan db upgrade`")
DB_UNREACHABLE = N_("连不上数据库（%(error)s），检查 XIAOYUAN_DATABASE_URL")
DB_HOST_UNREACHABLE = N_("连不上数据库服务器 %(host)s：地址或端口不对，或数据库没有运行（XIAOYUAN_DATABASE_URL）")
DB_AUTH_FAILED = N_("数据库拒绝登录：用户名或密码不对（XIAOYUAN_DATABASE_URL）")
DB_MISSING = N_("数据库 %(name)s 不存在：请先创建它（XIAOYUAN_DATABASE_URL）")
PORT_BUSY = N_("端口 %(port)s 已被占用（%(setting)s）：另一个程序，或已在运行的小院+，正在使用它")
PORT_FORBIDDEN = N_("没有权限使用端口 %(port)s（%(setting)s）：普通用户只能用 1024 以上的端口")
PORT_ADDRESS = N_("地址 %(host)s 在本机不可用（%(setting)s）")
PORT_SHARED = N_("%(first)s 和 %(second)s 用了同一个端口 %(port)s")
DB_EMBEDDED = N_("使用内置 SQLite 数据库；区县部署请把 XIAOYUAN_DATABASE_URL 设为 PostgreSQL")
TELEPHONY_UNKNOWN = N_("未知电话服务商 XIAOYUAN_TELEPHONY_PROVIDER=%(provider)s（dryrun | twilio | sip）")
TELEPHONY_DRYRUN = N_("电话为演示模式：不会真的打电话或发短信（设置 XIAOYUAN_TELEPHONY_PROVIDER=twilio）")
TWILIO_NO_SID = N_("缺少 Twilio 账号 SID：XIAOYUAN_TWILIO_ACCOUNT_SID 为空或不以 AC 开头")
TWILIO_NO_TOKEN = N_("缺少 Twilio 密钥 XIAOYUAN_TWILIO_AUTH_TOKEN")
TWILIO_NO_NUMBER = N_("缺少主叫号码 XIAOYUAN_TWILIO_FROM_NUMBER（E.164，如 +8623…）")
PUBLIC_URL_NEEDED = N_("电话平台需要能访问本服务：请把 XIAOYUAN_PUBLIC_BASE_URL 设为公网 https 地址")
SPEECH_NO_MODEL = N_("未配置语音识别模型：电话只能按键和留言（把 XIAOYUAN_VOSK_MODEL 设为解压后的 "
                     "vosk-model-small-cn-0.22）")
SPEECH_MODEL_MISSING = N_("找不到语音模型目录 XIAOYUAN_VOSK_MODEL：%(path)s")
SPEECH_NOT_A_MODEL = N_("这个目录不像 vosk 模型：%(path)s")
SPEECH_NO_ESPEAK = N_("未安装 espeak-ng：无法朗读（apt-get install espeak-ng）")
MQTT_EMBEDDED = N_("使用内置 MQTT 服务（127.0.0.1:%(port)s）；区县部署请设置 XIAOYUAN_MQTT_URL")
CHANNEL_UNKNOWN = N_("notify.default_channels 里有未知通知渠道：%(channel)s")
CHANNEL_NOT_FOR_MESSAGES = N_("notify.default_channels 里的 %(channel)s 只用来挂断电话，不能发通知")
CHANNEL_NO_URL = N_("启用了 %(channel)s 但 %(variable)s 为空")
DINGTALK_NO_SECRET = N_("钉钉机器人没有加签密钥 XIAOYUAN_DINGTALK_SECRET")
DATA_DIR_READONLY = N_("数据目录 XIAOYUAN_DATA_DIR 不可写：%(path)s")
SECRET_KEY_SHARED = N_("多台服务器共用数据库时，请给它们设置同一个 XIAOYUAN_WEB_SECRET_KEY")


# What a driver says when it cannot connect, in words a county IT person can act on (psycopg and
# sqlite report these as OperationalError with no SQLSTATE, so the text is all there is).
_HOST_SIGNS = ("connection refused", "could not translate host", "failed to resolve host", "name or service not known",
               "timeout expired", "timed out", "no route to host", "network is unreachable", "could not connect",
               "connection failed")


def database_failure_cause(exc: BaseException) -> str:
    """"auth", "missing", "host" or "other": why connecting failed, from the driver's message (pure)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if ("authentication failed" in text or "no password supplied" in text
            or ('role "' in text and "does not exist" in text)):
        return "auth"
    if ('database "' in text and "does not exist" in text) or "unable to open database file" in text:
        return "missing"
    if any(sign in text for sign in _HOST_SIGNS):
        return "host"
    return "other"


def _database_problem(exc: BaseException, url: str) -> Problem:
    """The plain cause of a failed connection, naming the host or the database."""
    parsed = sa.engine.make_url(url)
    cause = database_failure_cause(exc)
    if cause == "auth":
        return Problem("error", bilingual(DB_AUTH_FAILED))
    if cause == "missing":
        return Problem("error", bilingual(DB_MISSING, name=parsed.database or url))
    if cause == "host":
        where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        return Problem("error", bilingual(DB_HOST_UNREACHABLE, host=where))
    return Problem("error", bilingual(DB_UNREACHABLE, error=type(exc).__name__))


def check_database(settings: Settings) -> list[Problem]:
    """The database answers and its schema is current."""
    problems: list[Problem] = []
    try:
        engine = make_engine(settings.database_url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        from core.migrate import is_up_to_date

        if not is_up_to_date(settings.database_url):
            problems.append(Problem("warning", bilingual(DB_SCHEMA_OLD)))
        engine.dispose()
    except Exception as exc:
        problems.append(_database_problem(exc, settings.database_url))
    if not settings.database.url:
        problems.append(Problem("info", bilingual(DB_EMBEDDED)))
    return problems


def check_telephony(settings: Settings) -> list[Problem]:
    """Telephony provider and its secrets; the public URL Twilio must reach."""
    problems: list[Problem] = []
    provider = settings.telephony.provider
    if provider not in ("dryrun", "twilio", "sip"):
        return [Problem("error", bilingual(TELEPHONY_UNKNOWN, provider=provider))]
    if provider == "sip":
        return check_sip(settings)
    if provider == "dryrun":
        problems.append(Problem("warning", bilingual(TELEPHONY_DRYRUN)))
        return problems
    tw = settings.twilio
    if not tw.account_sid.startswith("AC"):
        problems.append(Problem("error", bilingual(TWILIO_NO_SID)))
    if not tw.auth_token:
        problems.append(Problem("error", bilingual(TWILIO_NO_TOKEN)))
    if not tw.from_number.startswith("+"):
        problems.append(Problem("error", bilingual(TWILIO_NO_NUMBER)))
    base = settings.public_base_url
    host = urlparse(base).hostname or ""
    if not settings.public.base_url or host in ("127.0.0.1", "localhost", "::1"):
        problems.append(Problem("error", bilingual(PUBLIC_URL_NEEDED)))
    return problems


SIP_NO_PJSUA2 = N_("没有安装 pjsua2，电话网关无法工作（pip install -r requirements-sip.txt）")
SIP_NO_GATEWAY = N_("没有设置网关地址 XIAOYUAN_SIP_GATEWAY，无法打出电话")
SIP_LOOPBACK_BIND = N_("XIAOYUAN_SIP_BIND=%(bind)s 只在本机，网关 %(host)s 连不上：请设为局域网地址或 0.0.0.0")
SIP_PASSWORD_ALONE = N_("设置了 XIAOYUAN_SIP_PASSWORD 但没有 XIAOYUAN_SIP_USERNAME")
SIP_REGISTRAR_ALONE = N_("设置了注册服务器 XIAOYUAN_SIP_REGISTRAR 但没有用户名，多数服务器会拒绝")
SIP_NO_NUMBERS = N_("没有设置号码与村的对应（XIAOYUAN_SIP_NUMBERS）：陌生来电不归任何村")


def check_sip(settings: Settings) -> list[Problem]:
    """The own SIP endpoint: its settings, the gateway, and the optional pjsua2 wheel."""
    import importlib.util

    sip = settings.sip  # its values were validated when the settings loaded
    problems: list[Problem] = []
    if importlib.util.find_spec("pjsua2") is None:
        problems.append(Problem("error", bilingual(SIP_NO_PJSUA2)))
    if not sip.gateway:
        problems.append(Problem("error", bilingual(SIP_NO_GATEWAY)))
    else:
        host = sip.gateway_host_port[0]
        if sip.bind.startswith("127.") and not host.startswith("127.") and host != "localhost":
            problems.append(Problem("error", bilingual(SIP_LOOPBACK_BIND, bind=sip.bind, host=host)))
    if sip.password and not sip.username:
        problems.append(Problem("error", bilingual(SIP_PASSWORD_ALONE)))
    if sip.registrar and not sip.username:
        problems.append(Problem("warning", bilingual(SIP_REGISTRAR_ALONE)))
    if not sip.numbers:
        problems.append(Problem("info", bilingual(SIP_NO_NUMBERS)))
    return problems  # a missing speech model: check_speech says so for every provider


def check_speech(settings: Settings) -> list[Problem]:
    """Offline speech (vosk model) and TTS (espeak-ng)."""
    problems: list[Problem] = []
    model = settings.vosk.model
    if not model:
        problems.append(Problem("warning", bilingual(SPEECH_NO_MODEL)))
    else:
        path = Path(model)
        if not path.is_dir():
            problems.append(Problem("error", bilingual(SPEECH_MODEL_MISSING, path=model)))
        elif not any((path / part).exists() for part in ("am", "conf", "graph", "final.mdl")):
            problems.append(Problem("error", bilingual(SPEECH_NOT_A_MODEL, path=model)))
    if shutil.which("espeak-ng") is None:
        problems.append(Problem("warning", bilingual(SPEECH_NO_ESPEAK)))
    return problems


def check_messaging(settings: Settings) -> list[Problem]:
    """MQTT broker and notification channels (their URLs' form was checked when the settings loaded)."""
    problems: list[Problem] = []
    if not settings.mqtt.url:
        problems.append(Problem("info", bilingual(MQTT_EMBEDDED, port=settings.broker.port)))
    known = channel_modules()  # the names the dispatcher finds channels by
    for channel in settings.notify.default_channels:
        if channel == HANGUP_CHANNEL:
            problems.append(Problem("error", bilingual(CHANNEL_NOT_FOR_MESSAGES, channel=channel)))
        elif channel not in known:
            problems.append(Problem("error", bilingual(CHANNEL_UNKNOWN, channel=channel)))
    # The setting each robot channel needs: [channel] key.
    for channel, key in (("wecom", "webhook_url"), ("dingtalk", "webhook_url"), ("webhook", "url")):
        if channel in settings.notify.default_channels and not getattr(getattr(settings, channel), key):
            problems.append(Problem("error", bilingual(CHANNEL_NO_URL, channel=channel,
                                                       variable=variable_name((channel, key)))))
    if settings.dingtalk.webhook_url and not settings.dingtalk.secret:
        problems.append(Problem("warning", bilingual(DINGTALK_NO_SECRET)))
    return problems


def check_files(settings: Settings) -> list[Problem]:
    """The data directory is writable; secrets are set for multi-process deployments."""
    problems: list[Problem] = []
    data = settings.data_dir
    try:
        data.mkdir(parents=True, exist_ok=True)
        if not os.access(data, os.W_OK):
            raise PermissionError(str(data))
    except OSError:
        problems.append(Problem("error", bilingual(DATA_DIR_READONLY, path=str(data))))
    if settings.database.url and not settings.web.secret_key:
        problems.append(Problem("warning", bilingual(SECRET_KEY_SHARED)))
    return problems


def listening_ports(settings: Settings) -> list[tuple[str, str, int, int]]:
    """(setting, host, port, socket type) of every port this configuration listens on."""
    ports: list[tuple[str, str, int, int]] = [
        ("XIAOYUAN_WEB_PORT", settings.web.host, settings.web.port, socket.SOCK_STREAM)]
    if not settings.mqtt.url:
        ports.append(("XIAOYUAN_BROKER_PORT", "127.0.0.1", settings.broker.port, socket.SOCK_STREAM))
    if settings.telephony.provider == "sip":
        ports.append(("XIAOYUAN_SIP_PORT", settings.sip.bind, settings.sip.port, socket.SOCK_DGRAM))
    return ports


def _port_problem(setting: str, host: str, port: int, kind: int) -> Problem | None:
    """Try to bind the port as the server will (SO_REUSEADDR, like waitress); a problem when it cannot."""
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)
    except OSError:
        return Problem("error", bilingual(PORT_ADDRESS, host=host, setting=setting))
    family, _, _, _, address = infos[0]
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return Problem("error", bilingual(PORT_BUSY, port=port, setting=setting))
            if exc.errno == errno.EACCES:
                return Problem("error", bilingual(PORT_FORBIDDEN, port=port, setting=setting))
            return Problem("error", bilingual(PORT_ADDRESS, host=host, setting=setting))
    return None


def check_ports(settings: Settings) -> list[Problem]:
    """Every port the processes will listen on is free, allowed and not shared by two of them."""
    problems: list[Problem] = []
    seen: dict[tuple[int, int], str] = {}
    for setting, host, port, kind in listening_ports(settings):
        if (port, kind) in seen:
            problems.append(Problem("error", bilingual(PORT_SHARED, first=seen[(port, kind)], second=setting,
                                                       port=port)))
            continue
        seen[(port, kind)] = setting
        problem = _port_problem(setting, host, port, kind)
        if problem is not None:
            problems.append(problem)
    return problems


def check_security(settings: Settings) -> list[Problem]:
    """Demo secrets on a service others can reach; personal data readable by others (xiaoyuan.security_checks)."""
    from xiaoyuan.security_checks import demo_exposure_lines, file_mode_lines

    return ([Problem("error", line) for line in demo_exposure_lines(settings)]
            + [Problem("warning", line) for line in file_mode_lines(settings)])


BROKER_REFUSED = N_("MQTT 服务器 %(host)s:%(port)s 拒绝了服务账号 %(user)s（%(error)s）：XIAOYUAN_MQTT_URL 里的密码"
                    "应与 %(secret)s 相同，并且 xiaoyuan broker export 写出的文件已被 Mosquitto 重新加载")
BROKER_UNREACHABLE = N_("连不上 MQTT 服务器 %(host)s:%(port)s（%(error)s）：检查 XIAOYUAN_MQTT_URL 和"
                        " Mosquitto 是否在运行")
BROKER_ACCEPTED = N_("MQTT 服务器 %(host)s:%(port)s 接受了服务账号的密码")
BROKER_NOT_A_LISTENER = N_("XIAOYUAN_MQTT_URL 的用户名 %(user)s 不是监听账号；每个监听进程用自己的账号：%(accounts)s")


def check_broker(settings: Settings) -> list[Problem]:
    """The configured broker answers and accepts the service password; the URL names a listener account.

    The login uses the tools account with the URL's password (all service accounts share it): logging in
    as the listener's own account would take over a running listener's session."""
    if not settings.mqtt.url:
        return []
    from devices.broker import listener_usernames, service_password
    from devices.listener import resolve_connection, resolve_tool_connection
    from devices.mosquitto import try_login

    problems: list[Problem] = []
    listener, tool = resolve_connection(settings), resolve_tool_connection(settings)
    accounts = listener_usernames(settings)
    if listener.username not in accounts:
        problems.append(Problem("warning", bilingual(BROKER_NOT_A_LISTENER, user=listener.username,
                                                     accounts=f"{accounts[0]} … {accounts[-1]}")))
    password = tool.password or service_password(settings)
    refused = try_login(tool.host, tool.port, tool.username or settings.broker.username, password, tls=tool.tls)
    where = {"host": tool.host, "port": tool.port}
    if refused is None:
        problems.append(Problem("info", bilingual(BROKER_ACCEPTED, **where)))
    elif refused in ("Not authorized", "Bad user name or password"):  # the broker's CONNACK said no
        secret = "XIAOYUAN_BROKER_PASSWORD" if settings.broker.password else str(settings.data_dir / "broker" /
                                                                                  "service.secret")
        problems.append(Problem("error", bilingual(BROKER_REFUSED, **where, user=tool.username, error=refused,
                                                   secret=secret)))
    else:
        problems.append(Problem("error", bilingual(BROKER_UNREACHABLE, **where, error=refused)))
    return problems


def run_checks(settings: Settings) -> list[Problem]:
    """Every check, errors first."""
    problems = (
        check_files(settings)
        + check_ports(settings)
        + check_database(settings)
        + check_telephony(settings)
        + check_speech(settings)
        + check_messaging(settings)
        + check_security(settings)
        + check_broker(settings)
    )
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(problems, key=lambda p: order[p.level])
