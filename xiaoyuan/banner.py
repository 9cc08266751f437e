"""What to open after `make run`: printed before the service starts."""

from __future__ import annotations

from core.demo import DEMO_PASSWORD
from core.demo.community import DEMO_PENDING_TV_TOKEN, DEMO_TV_TOKEN
from core.settings import load_settings


def main() -> None:
    """Print the TV, console and voice webhook URLs, the demo logins and the wristband simulator command."""
    settings = load_settings()
    local = f"http://{settings.web.host}:{settings.web.port}"
    base = settings.public_base_url
    telephony = (
        "电话为演示模式，不会真的拨打 / telephony: dry-run, nothing is really dialled"
        if settings.telephony.provider == "dryrun"
        else f"电话服务商 / telephony provider: {settings.telephony.provider}"
    )
    print(f"""
小院+ 正在启动 / xiaoyuan is starting
  电视首页 TV home (open on a set-top box or a browser):   {local}/tv/
      演示电视，已配对独居户 demo TV, paired:                    {local}/tv/?t={DEMO_TV_TOKEN}
      待配对的电视 a box showing its pairing code:          {local}/tv/?t={DEMO_PENDING_TV_TOKEN}
  工作台 Staff console:                                   {local}/console/
      演示账号 demo logins (password {DEMO_PASSWORD}):
      admin · zhihui (指挥中心) · cun1 (村) · yuanzhang1 (院长) · wangge1 (网格员) · cunyi1 (村医)
  电话 Voice webhook (set as the number's Voice URL):      {base}/voice/twilio/incoming
  手环模拟 Wristband simulator (SOS from the demo band SIM0001, in another terminal):
      .venv/bin/xiaoyuan band simulate --scenario sos --count 1
  健康检查 Health / metrics:                              {local}/healthz · {local}/metrics
  {telephony}
按 Ctrl+C 停止 / press Ctrl+C to stop
""", flush=True)


if __name__ == "__main__":
    main()
