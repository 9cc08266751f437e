"""What to open after `make run`: printed before the service starts."""

from __future__ import annotations

from core.demo import DEMO_PASSWORD
from core.demo.community import demo_tokens
from core.i18n import N_, bilingual
from core.settings import load_settings
from xiaoyuan.security_checks import demo_exposure_lines


def broker_row(settings) -> tuple[int, str, dict[str, object], str]:
    """Where the wristbands' MQTT broker is: the configured one (password hidden), or the private one."""
    from urllib.parse import urlsplit

    from devices.broker import private_broker_kind

    if settings.mqtt.url:
        parts = urlsplit(settings.mqtt.url)
        user = f"{parts.username}@" if parts.username else ""
        return 2, N_("手环 MQTT 服务器"), {}, f"{parts.scheme}://{user}{parts.hostname}:{parts.port or 1883}"
    address = f"mqtt://127.0.0.1:{settings.broker.port}"
    if private_broker_kind(settings) == "mosquitto":
        return 2, N_("手环 MQTT 服务器（本机私有 Mosquitto，XIAOYUAN_BROKER_PORT 可改端口）"), {}, address
    return 2, N_("手环 MQTT 服务器（未找到 mosquitto，用 amqtt 备用，只适合一个小院）"), {}, address


def banner_lines(settings) -> list[str]:
    """The banner, one line each: catalogued labels in Chinese then English, then the address."""
    local = f"http://{settings.web.host}:{settings.web.port}"
    base = settings.public_base_url
    rows: list[tuple[int, str, dict[str, object], str]] = [
        (2, N_("电视首页（在机顶盒或浏览器里打开）"), {}, f"{local}/tv/"),
        (2, N_("工作台"), {}, f"{local}/console/"),
        (6, N_("演示账号（密码 %(password)s）"), {"password": DEMO_PASSWORD},
         "admin · zhihui (指挥中心) · cun1 (村) · yuanzhang1 (院长) · wangge1 (网格员) · cunyi1 (村医)"),
        (2, N_("电话语音回调（设为号码的 Voice URL）"), {}, f"{base}/voice/twilio/incoming"),
        (2, N_("手环模拟（演示手环 SIM0001 求救，在另一个终端运行）"), {},
         ".venv/bin/xiaoyuan band simulate --scenario sos --count 1"),
        (2, N_("健康检查和指标"), {}, f"{local}/healthz · {local}/metrics"),
        broker_row(settings),
    ]
    tokens = demo_tokens(settings.data_dir)  # random per demo, kept by `xiaoyuan demo` in the data dir
    if tokens.get("paired"):
        rows.insert(1, (6, N_("演示电视，已配对独居户"), {}, f"{local}/tv/?t={tokens['paired']}"))
    if tokens.get("pending"):
        rows.insert(2, (6, N_("待配对的电视，屏幕上显示配对码"), {}, f"{local}/tv/?t={tokens['pending']}"))
    lines = ["", bilingual(N_("小院+ 正在启动"))]
    for warning in demo_exposure_lines(settings):
        lines += ["!" * 72, "!! " + warning, "!" * 72]
    lines += [f"{' ' * indent}{bilingual(label, **params)}: {value}" for indent, label, params, value in rows]
    if settings.telephony.provider == "dryrun":
        lines.append("  " + bilingual(N_("电话为演示模式，不会真的拨打")))
    else:
        lines.append("  " + bilingual(N_("电话服务商：%(provider)s"), provider=settings.telephony.provider))
    lines += [bilingual(N_("按 Ctrl+C 停止")), ""]
    return lines


def main() -> None:
    """Print the TV, console and voice webhook URLs, the demo logins and the wristband simulator command."""
    print("\n".join(banner_lines(load_settings())), flush=True)


if __name__ == "__main__":
    main()
