"""An independent SIP stack as the caller: SIPp (Debian `sip-tester`) presses 3 by RFC 2833 and hangs up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.sip.conftest import LINE, WANG, free_udp_port, wait_until

SCENARIO = Path(__file__).parent / "sipp" / "key3.xml"
DTMF_3 = Path("/usr/share/sip-tester/dtmf_2833_3.pcap")  # shipped with Debian's sip-tester

pytestmark = pytest.mark.slow  # real SIP calls between processes


def test_sipp_calls_in_presses_3_and_hears_the_points(line, tmp_path):
    if shutil.which("sipp") is None or not DTMF_3.is_file():
        pytest.skip("SIPp is not installed (Debian package sip-tester; make setup installs it)")
    result = subprocess.run(
        ["sipp", "-sf", str(SCENARIO), "-key", "dtmf", str(DTMF_3), "-m", "1", "-i", "127.0.0.1",
         "-p", str(free_udp_port()), "-mp", str(free_udp_port() // 2 * 2), "-s", LINE, "-timeout", "40s",
         "-timeout_error", "-nostdin", f"127.0.0.1:{line.port}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    entry = wait_until(lambda: line.path_has(WANG, "points"), 10, "key 3 from SIPp to read the points")
    assert "key:3" in entry.path
    closed = wait_until(lambda: (e := line.call_log(WANG)) is not None and e.ended_at is not None and e, 10,
                        "SIPp's BYE to close the call log")
    assert closed.status == "completed"
