"""Real SIP calls on 127.0.0.1: the service's `xiaoyuan phone` process, test phones in their own processes.

PJSIP allows one endpoint per process, so nothing here loads pjsua2: the service runs as the real
`xiaoyuan phone` command on a SQLite file this process also reads, and each test phone
(tests/sipua.py) is a process driven by JSON lines. Waiting is always for an event or a database
condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.clock import SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.models import Base
from core.models.calls import CallLog
from core.models.sip import SipEndpointStatus
from core.settings import ROOT, load_settings
from tests.factories import build_world
from tests.integration.voice.conftest import korean_model_dir
from tests.sipphone import SipPhone, free_udp_port, wait_until

NO_PJSUA2 = "pjsua2-python is not installed (pip install -r requirements-sip.txt)"

WANG = "13800000000"  # 王奶奶 (+8613800000000), lives alone; her 院长 is 李院长 13900000000
HEAD = "13900000000"
SON = "13800001111"
LINE = "02346712345"


@dataclass
class PhoneLine:
    """The service under test: its `xiaoyuan phone` process and its database."""

    port: int
    gateway: SipPhone
    services: Services
    process: subprocess.Popen
    data_dir: Path
    log: Path

    @property
    def uri(self) -> str:
        """Where to call the village line."""
        return f"{LINE}@127.0.0.1:{self.port}"

    def call_log(self, caller: str) -> CallLog | None:
        """The newest call log from this caller."""
        with self.services.session_factory() as session:
            return session.scalar(sa.select(CallLog).where(CallLog.caller == f"+86{caller}")
                                  .order_by(CallLog.id.desc()))

    def path_has(self, caller: str, step: str) -> CallLog | None:
        """The caller's newest call log once its path contains `step`."""
        entry = self.call_log(caller)
        return entry if entry is not None and step in (entry.path or []) else None

    def endpoint(self) -> SipEndpointStatus | None:
        """The endpoint's heartbeat row."""
        with self.services.session_factory() as session:
            row = session.scalar(sa.select(SipEndpointStatus))
            if row is not None:
                session.expunge(row)
            return row


def _service_env(tmp: Path, db_url: str, port: int, gateway_port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYUAN_")}
    env.update({
        "XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_DATA_DIR": str(tmp / "var"),
        "XIAOYUAN_TELEPHONY_PROVIDER": "sip", "XIAOYUAN_TELEPHONY_RING_TIMEOUT_S": "6",
        "XIAOYUAN_SIP_PORT": str(port), "XIAOYUAN_SIP_GATEWAY": f"127.0.0.1:{gateway_port}",
        "XIAOYUAN_SIP_LINE_NUMBER": LINE, "XIAOYUAN_SIP_COMMAND_POLL_MS": "50",
        "XIAOYUAN_VOSK_MODEL": korean_model_dir(), "XIAOYUAN_VOSK_WORKERS": "2",
        "XIAOYUAN_VOICE_SILENCE_S": "5", "XIAOYUAN_TTS_RATE": "300",  # quicker prompts, same flow
        "XIAOYUAN_VOICE_MESSAGE_MAX_S": "20", "XIAOYUAN_VOICE_RECORD_MAX_S": "10",
        "XIAOYUAN_VOICE_BRIDGE_TIMEOUT_S": "8",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def line(tmp_path_factory) -> Iterator[PhoneLine]:
    """The village line as a real `xiaoyuan phone` process, with a gateway phone that answers every call."""
    if importlib.util.find_spec("pjsua2") is None:
        pytest.skip(NO_PJSUA2)
    tmp = tmp_path_factory.mktemp("sipline")
    db_url = f"sqlite:///{tmp / 'line.db'}"
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp / "var")}, "database": {"url": db_url},
                                                    "telephony": {"provider": "sip", "ring_timeout_s": 6},
                                                    "sip": {"line_number": LINE}})
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    from core.phone.telephony.factory import make_telephony

    services.telephony = make_telephony(settings, services.session_factory, services.clock)
    with transaction(services.session_factory) as session:
        build_world(session, services.clock.now())
    gateway = SipPhone(free_udp_port(), "gateway", answer="answer")
    port = free_udp_port()
    log_path = tmp / "phone.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "xiaoyuan", "--log-level", "DEBUG", "phone"], cwd=ROOT,
                                   stdout=log_file, stderr=subprocess.STDOUT,
                                   env=_service_env(tmp, db_url, port, gateway.port, {}))
    line = PhoneLine(port, gateway, services, process, tmp / "var", log_path)
    try:
        wait_until(lambda: line.endpoint() or process.poll() is not None, 240, "the phone endpoint's heartbeat")
        assert process.poll() is None, log_path.read_text()[-3000:]
        yield line
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        gateway.close()
        engine.dispose()


@pytest.fixture
def phones(line) -> Iterator[Callable[[str], SipPhone]]:
    """Test phones calling as a given number; closed after the test."""
    made: list[SipPhone] = []

    def make(user: str, answer: str = "answer") -> SipPhone:
        phone = SipPhone(free_udp_port(), user, answer=answer)
        made.append(phone)
        return phone

    yield make
    for phone in made:
        phone.close()
