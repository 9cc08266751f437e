"""The private Mosquitto `xiaoyuan run` starts as a child process, and reloading a Mosquitto whose files changed.

The child runs from `config/mosquitto.conf` (persistence, raised queue limits, `use_username_as_clientid`)
with its listener, password file, ACL, persistence directory, log and pid file under
`{data dir}/broker/`. It is stopped with the service (SIGTERM, which saves the persistence file) and,
on Linux, also when the service dies without stopping it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.i18n import N_
from core.settings import ROOT, Settings
from devices.broker import (
    BandCredential,
    BrokerError,
    broker_dir,
    check_port_free,
    export_broker_files,
    render_mosquitto_conf,
    service_password,
)

log = logging.getLogger(__name__)

SEARCH_PATH = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
START_TIMEOUT_S = 15.0
RELOAD_TIMEOUT_S = 10.0


def find_mosquitto(settings: Settings) -> str | None:
    """The mosquitto binary to run: `broker.mosquitto` (a path; "off" forces the amqtt fallback), else PATH."""
    wanted = settings.broker.mosquitto.strip()
    if wanted.lower() in ("off", "no", "false", "none"):
        return None
    if wanted:
        return wanted if os.access(wanted, os.X_OK) else None
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in SEARCH_PATH if os.access(p, os.X_OK)), None)


def private_dir(settings: Settings) -> Path:
    """Where the private Mosquitto keeps its config, persistence, log and pid file."""
    path = broker_dir(settings) / "mosquitto"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: the kernel sends SIGTERM to the child when the process that started it dies (kill -9 included),
    # so a crashed service never leaves a broker holding its port and persistence file.
    import ctypes
    import resource

    with contextlib.suppress(OSError, AttributeError):  # not Linux: the stale-pid check covers it
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    with contextlib.suppress(OSError, ValueError):  # one descriptor per band: 1,024 would cap a county at ~1,000
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _stop_stale(pid_path: Path, conf: Path) -> None:
    """Stop a private Mosquitto left running by a previous service that died (same config file only)."""
    try:
        pid = int(pid_path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return
    if str(conf) not in cmdline:
        return
    log.warning("stopping the private Mosquitto (pid %s) left running by a previous start", pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


@dataclass
class MosquittoChild:
    """A running private Mosquitto; stop() ends it, refresh() re-exports the files and reloads it."""

    port: int
    host: str
    process: subprocess.Popen
    conf: Path
    files: tuple[Path, Path]
    log_path: Path
    _stopped: bool = field(default=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file), SIGKILL if it does not end in time."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        log.info("private Mosquitto stopped")

    def refresh(self, settings: Settings) -> None:
        """Re-export the password file and ACL (after a band was added) and reload; raise BrokerError if it fails."""
        with self._lock:
            export_broker_files(settings, self.files[0].parent)
            reload_mosquitto(self.process.pid, log_path=self.log_path, login=lambda: try_login(
                self.host, self.port, settings.broker.username, service_password(settings)))


def try_login(host: str, port: int, username: str, password: str, *, timeout: float = 5.0,
              tls: bool = False) -> str | None:
    """Connect once with a clean session and disconnect; None when the broker accepted us, else why not.
    (Never with a listener's account: with `use_username_as_clientid` it would take over its session.)"""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    if tls:
        client.tls_set()
    answered, outcome = threading.Event(), []

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        outcome.append(None if not reason_code.is_failure else str(reason_code))
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        return str(exc)
    client.loop_start()
    try:
        if not answered.wait(timeout):
            return "no answer"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()


def reload_mosquitto(pid: int, *, log_path: Path | None = None, login: Callable[[], str | None] | None = None,
                     timeout: float = RELOAD_TIMEOUT_S) -> None:
    """SIGHUP a Mosquitto and verify the reload: with its log file, wait for "Reloading config."; with
    `login`, log in once afterwards (Mosquitto re-reads its files before it answers another client); then
    look for errors it logged. Raise BrokerError saying what went wrong."""
    def reloads() -> list[str]:
        text = log_path.read_text(errors="replace") if log_path and log_path.exists() else ""
        return text.split("Reloading config.")

    before = len(reloads())
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise BrokerError(N_("MQTT 服务器（进程 %(pid)s）没有在运行，无法重新加载"), pid=pid) from None
    deadline = time.monotonic() + timeout
    while log_path is not None and len(reloads()) <= before:
        if time.monotonic() > deadline:
            raise BrokerError(N_("MQTT 服务器在 %(seconds)s 秒内没有确认重新加载"), seconds=int(timeout))
        time.sleep(0.05)
    refused = login() if login is not None else None
    if log_path is not None:
        errors = [line.strip() for line in reloads()[-1].splitlines() if "Error" in line]
        if errors:
            raise BrokerError(N_("MQTT 服务器重新加载时出错：%(error)s"), error=errors[0])
    if refused:
        raise BrokerError(N_("MQTT 服务器重新加载后拒绝了服务账号：%(error)s"), error=refused)


def reload_private_mosquitto(settings: Settings) -> bool:
    """Reload the private Mosquitto of this data dir if one is running (a band was added from another
    process); False when none runs."""
    directory = private_dir(settings)
    try:
        pid = int((directory / "mosquitto.pid").read_text().strip())
    except (OSError, ValueError):
        return False
    if not _process_alive(pid):
        return False
    port = settings.broker.port
    reload_mosquitto(pid, log_path=directory / "mosquitto.log", login=lambda: try_login(
        "127.0.0.1", port, settings.broker.username, service_password(settings)))
    return True


def start_private_mosquitto(settings: Settings, *, binary: str, port: int | None = None, host: str = "127.0.0.1",
                            bands: list[BandCredential] | None = None) -> MosquittoChild:
    """Start `mosquitto -c {data dir}/broker/mosquitto/mosquitto.conf` on host:port (default broker.port);
    raise BrokerError with a plain message when the port is taken or Mosquitto does not come up."""
    port = settings.broker.port if port is None else port
    directory = private_dir(settings)
    conf, pid_path, log_path = directory / "mosquitto.conf", directory / "mosquitto.pid", directory / "mosquitto.log"
    _stop_stale(pid_path, conf)
    check_port_free(host, port)
    passwd, acl = export_broker_files(settings, bands=bands)
    template = (ROOT / "config" / "mosquitto.conf").read_text()
    text = render_mosquitto_conf(template, port=port, passwd=passwd, acl=acl, data_dir=directory, host=host)
    # "information" adds "Reloading config." to the log, which is how a reload is confirmed.
    conf.write_text(text + f"log_type information\npid_file {pid_path}\n")
    with contextlib.suppress(FileNotFoundError):
        pid_path.unlink()
    stderr = (directory / "stderr.log").open("ab")
    try:
        process = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=stderr,
                                   stderr=stderr, preexec_fn=_die_with_parent if os.name == "posix" else None)
    except OSError as exc:
        raise BrokerError(N_("无法启动 mosquitto（%(binary)s）：%(error)s"), binary=binary, error=exc) from None
    finally:
        stderr.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _listening(host, port):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
                process.wait(5)
            detail = _log_tail(log_path) or _log_tail(directory / "stderr.log")
            raise BrokerError(N_("内置 MQTT 服务器 (mosquitto) 没有启动：%(error)s"),
                              error=detail or f"exit {process.returncode}")
        time.sleep(0.05)
    log.info("private Mosquitto (pid %s) listening on %s:%s, files in %s", process.pid, host, port, directory)
    return MosquittoChild(port=port, host=host, process=process, conf=conf, files=(passwd, acl), log_path=log_path)


# ---- a deployed Mosquitto (a district): files in broker.export_dir, reloaded through its pid file
DEPLOYED_PID_FILES = ("/run/mosquitto/mosquitto.pid", "/var/run/mosquitto/mosquitto.pid", "/var/run/mosquitto.pid")


def deployed_pid(settings: Settings) -> int | None:
    """The deployed Mosquitto's process id from `broker.pid_file` (else the Debian locations), if it runs."""
    candidates = [settings.broker.pid_file] if settings.broker.pid_file else list(DEPLOYED_PID_FILES)
    for candidate in candidates:
        try:
            pid = int(Path(candidate).read_text().strip())
        except (OSError, ValueError):
            continue
        if _process_alive(pid):
            return pid
    return None


def wait_for_login(host: str, port: int, username: str, password: str, timeout: float = RELOAD_TIMEOUT_S) -> str | None:
    """Log in until the broker accepts (None) or `timeout` passes (the last refusal). Mosquitto applies a
    SIGHUP in its next loop turn, so the first attempt may still meet the old files."""
    deadline = time.monotonic() + timeout
    while True:
        refused = try_login(host, port, username, password)
        if refused is None or time.monotonic() > deadline:
            return refused
        time.sleep(0.2)


def update_deployed_broker(settings: Settings, *, band: tuple[str, str] | None = None,
                           out_dir: Path | None = None) -> tuple[Path, int]:
    """Bring a deployed Mosquitto up to date after the registry changed: export the files into
    `broker.export_dir` (atomically, owner, group and mode kept), SIGHUP it, and verify that the service
    account, and `band` (device id, secret) when given, can log in. Return (directory, pid); raise
    BrokerError saying what is wrong."""
    from core.bands.registry import band_username
    from devices.listener import resolve_tool_connection

    directory = out_dir or (Path(settings.broker.export_dir) if settings.broker.export_dir else None)
    if directory is None:
        raise BrokerError(N_("没有设置 XIAOYUAN_BROKER_EXPORT_DIR（Mosquitto 读取 passwd 和 acl 的目录）"))
    if not settings.mqtt.url:  # without it the logins would be checked against the private broker's port
        raise BrokerError(N_("设置了 XIAOYUAN_BROKER_EXPORT_DIR，但没有设置 XIAOYUAN_MQTT_URL："
                             "请把部署的 Mosquitto 的地址（broker export 打印的任一 URL）也写进这台机器的环境"))
    export_broker_files(settings, directory)
    pid = deployed_pid(settings)
    if pid is None:
        raise BrokerError(N_("文件已写入 %(dir)s，但找不到正在运行的 Mosquitto（进程号文件 %(pid_file)s）；"
                             "请设置 XIAOYUAN_BROKER_PID_FILE，或运行 systemctl reload mosquitto"),
                          dir=directory, pid_file=settings.broker.pid_file or DEPLOYED_PID_FILES[0])
    reload_mosquitto(pid)
    conn = resolve_tool_connection(settings)
    checks = [(conn.username or settings.broker.username, conn.password or service_password(settings))]
    if band is not None:
        checks.append((band_username(band[0]), band[1]))
    for username, password in checks:
        refused = wait_for_login(conn.host, conn.port, username, password)
        if refused:
            raise BrokerError(N_("Mosquitto 重新加载后拒绝了 %(user)s（%(error)s）；请检查 %(dir)s 里文件的属主和权限"),
                              user=username, error=refused, dir=directory)
    return directory, pid
