"""Brokers: the embedded amqtt broker for a single hut, and the Mosquitto password file + ACL export.

Both brokers read the same two files, written by `export_broker_files()`:
- a password file in `mosquitto_passwd` format (`user:$7$…`, PBKDF2-SHA512, as Mosquitto 2.x writes);
- an ACL in Mosquitto format: each band may write only under `{root}/{site}/band/{device_id}/`
  and read its own `cmd`; the service user reads everything under the root.
The embedded broker uses password authentication (never anonymous) so that amqtt keeps the
listener's session and queues events while the listener restarts.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paho.mqtt.client import topic_matches_sub

from core.bands.registry import hash_secret, verify_secret
from core.errors import LocalisedError
from core.i18n import N_
from core.settings import Settings

log = logging.getLogger(__name__)


class BrokerError(LocalisedError, RuntimeError):
    """The embedded broker cannot start; the message says why in plain words."""


def broker_dir(settings: Settings) -> Path:
    """Where the broker files live ({data dir}/broker)."""
    path = settings.data_dir / "broker"
    path.mkdir(parents=True, exist_ok=True)
    return path


def service_password(settings: Settings) -> str:
    """The listener's broker password: `broker.password`, else a random one kept in the data dir."""
    if settings.broker.password:
        return settings.broker.password
    path = broker_dir(settings) / "service.secret"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


@dataclass(frozen=True)
class BandCredential:
    """What the export needs from one band."""

    device_id: str
    site: str
    password_hash: str


def render_password_file(service_user: str, service_hash: str, bands: list[BandCredential]) -> str:
    """`mosquitto_passwd` format: one `user:$7$…` line per account."""
    lines = [f"{service_user}:{service_hash}"]
    lines += [f"{b.device_id}:{b.password_hash}" for b in bands if b.password_hash]
    return "\n".join(lines) + "\n"


def render_acl(root: str, service_user: str, bands: list[BandCredential]) -> str:
    """A Mosquitto ACL: each band publishes only under its own topic; the service reads all."""
    root = root.rstrip("/")
    out = [
        "# Written by `xiaoyuan broker export`; do not edit by hand.",
        f"user {service_user}",
        f"topic read {root}/#",
        f"topic write {root}/+/band/+/cmd",
        f"topic readwrite {root}/_service/#",
        "",
    ]
    for band in bands:
        base = f"{root}/{band.site}/band/{band.device_id}"
        out += [f"user {band.device_id}", f"topic write {base}/telemetry", f"topic write {base}/event",
                f"topic write {base}/status", f"topic read {base}/cmd", ""]
    return "\n".join(out)


def load_band_credentials(settings: Settings) -> list[BandCredential]:
    """Every active band's credential from the database."""
    import sqlalchemy as sa

    from core.db import make_engine
    from core.models.devices import Band

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(Band.device_id, Band.site, Band.mqtt_password_hash)
                                .where(Band.active.is_(True)).order_by(Band.id)).all()
    except sa.exc.OperationalError:
        rows = []  # no schema yet: only the service account
    finally:
        engine.dispose()
    return [BandCredential(*row) for row in rows]


def export_broker_files(
    settings: Settings, out_dir: Path | None = None, bands: list[BandCredential] | None = None
) -> tuple[Path, Path]:
    """Write `passwd` and `acl` (for Mosquitto and for the embedded broker); return their paths."""
    out = out_dir or broker_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    bands = load_band_credentials(settings) if bands is None else bands
    service_user = settings.broker.username
    passwd, acl = out / "passwd", out / "acl"
    for path, text in (
        (passwd, render_password_file(service_user, hash_secret(service_password(settings)), bands)),
        (acl, render_acl(settings.mqtt.topic_root, service_user, bands)),
    ):
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return passwd, acl


# ---- files shared by the embedded broker's plugins (re-read when they change on disk)
class _Reloading:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._mtime = -1.0
        self.data: Any = None

    def get(self) -> Any:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return self.data
        if mtime != self._mtime:
            self.data = self.parse(self.path.read_text(encoding="utf-8"))
            self._mtime = mtime
        return self.data

    def parse(self, text: str) -> Any:
        raise NotImplementedError


class PasswordFile(_Reloading):
    """`user:$7$…` lines."""

    def parse(self, text: str) -> dict[str, str]:
        """Users and hashes."""
        users = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                user, hashed = line.strip().split(":", 1)
                users[user] = hashed
        return users


class AclFile(_Reloading):
    """The Mosquitto ACL subset we write: `user X` followed by `topic read|write|readwrite filter`."""

    def parse(self, text: str) -> dict[str, list[tuple[str, str]]]:
        """User → [(access, filter)]."""
        rules: dict[str, list[tuple[str, str]]] = {}
        current: str | None = None
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "user":
                current = words[1]
                rules.setdefault(current, [])
            elif len(words) == 3 and words[0] == "topic" and current is not None:
                rules[current].append((words[1], words[2]))
        return rules

    def allowed(self, user: str | None, topic: str, write: bool) -> bool:
        """Whether a user may write (publish) or read (subscribe) a topic."""
        if not user:
            return False
        if write:
            needed = ("write", "readwrite")
        else:
            needed = ("read", "readwrite")
            if topic.startswith("$share/"):
                topic = topic.split("/", 2)[2] if topic.count("/") >= 2 else topic
        for access, pattern in (self.get() or {}).get(user, []):
            if access in needed and topic_matches_sub(pattern, topic):
                return True
        return False


try:  # amqtt is only needed when the embedded broker runs
    from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
except ImportError:  # pragma: no cover
    BaseAuthPlugin = BaseTopicPlugin = object


class PasswordAuthPlugin(BaseAuthPlugin):
    """amqtt authentication against the exported password file (anonymous clients are refused)."""

    @dataclass
    class Config:
        """Plugin configuration."""

        password_file: str = ""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.file = PasswordFile(Path(self.config.password_file))

    async def authenticate(self, *, session: Any) -> bool | None:
        """True only for a known user with the right password."""
        if not session or not session.username:
            return False
        hashed = (self.file.get() or {}).get(session.username)
        if not hashed:
            return False
        return verify_secret(session.password or "", hashed)


class AclTopicPlugin(BaseTopicPlugin):
    """amqtt topic filtering with the exported ACL: a band publishes only under its own topic."""

    @dataclass
    class Config:
        """Plugin configuration."""

        acl_file: str = ""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.acl = AclFile(Path(self.config.acl_file))

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None, action: Any = None) -> bool:
        """Publish needs write access, subscribe needs read access; delivery is not re-checked."""
        name = str(getattr(action, "value", action))
        if name == "receive":
            return True
        user = getattr(session, "username", None)
        ok = self.acl.allowed(user, topic or "", write=(name == "publish"))
        if not ok:
            log.info("embedded broker refused %s on a topic for user %s", name, user)
        return ok


@dataclass
class EmbeddedBroker:
    """A running embedded broker (its asyncio loop runs in a thread); call stop() to end it."""

    port: int
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    broker: Any
    files: tuple[Path, Path]
    _stopped: bool = field(default=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and wait for its thread."""
        if self._stopped:
            return
        self._stopped = True
        future = asyncio.run_coroutine_threadsafe(self.broker.shutdown(), self.loop)
        try:
            future.result(timeout)
        except Exception:
            log.exception("embedded broker did not shut down cleanly")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)

    def refresh(self, settings: Settings) -> None:
        """Re-export the password file and ACL (after a band was added); the plugins re-read them."""
        export_broker_files(settings, self.files[0].parent)


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise BrokerError(
                    N_("端口 %(port)s 已被占用，内置 MQTT 服务器无法启动。请停止占用它的程序（例如系统的 mosquitto），"
                       "或设置 XIAOYUAN_BROKER_PORT 换一个端口，或用 XIAOYUAN_MQTT_URL 指向已有的服务器。"), port=port,
                ) from None
            raise BrokerError(N_("内置 MQTT 服务器无法监听端口 %(port)s：%(error)s"), port=port, error=exc) from None


def broker_config(port: int, passwd: Path, acl: Path, host: str = "127.0.0.1") -> dict[str, Any]:
    """The amqtt configuration: one TCP listener on loopback, password auth, ACL, sessions kept a week."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "timeout_disconnect_delay": 0,
        "session_expiry_interval": 7 * 86400,
        "plugins": {
            "devices.broker.PasswordAuthPlugin": {"password_file": str(passwd)},
            "devices.broker.AclTopicPlugin": {"acl_file": str(acl)},
        },
    }


def start_embedded_broker(settings: Settings, *, port: int | None = None, host: str = "127.0.0.1",
                          bands: list[BandCredential] | None = None) -> EmbeddedBroker:
    """Start amqtt on {host}:{broker.port} in a background thread; raise BrokerError with a plain message."""
    port = settings.broker.port if port is None else port
    _check_port_free(host, port)
    passwd, acl = export_broker_files(settings, bands=bands)
    from amqtt.broker import Broker

    for noisy in ("transitions", "transitions.core", "amqtt"):  # state-machine chatter at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            broker = Broker(broker_config(port, passwd, acl, host), loop=loop)
            holder["broker"] = broker
            loop.run_until_complete(broker.start())
        except Exception as exc:
            holder["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="embedded-mqtt-broker", daemon=True)
    thread.start()
    if not started.wait(30):
        raise BrokerError(N_("内置 MQTT 服务器启动超时"))
    if "error" in holder:
        raise BrokerError(N_("内置 MQTT 服务器无法启动：%(error)s"), error=holder["error"])
    log.info("embedded MQTT broker listening on %s:%s (password authentication)", host, port)
    return EmbeddedBroker(port=port, thread=thread, loop=loop, broker=holder["broker"], files=(passwd, acl))


def render_mosquitto_conf(template: str, *, port: int, passwd: Path, acl: Path, data_dir: Path,
                          host: str = "127.0.0.1") -> str:
    """config/mosquitto.conf with its listener, file paths and persistence directory replaced (tests, bench)."""
    out = []
    for line in template.splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener":
            line = f"listener {port} {host}"
        elif key == "password_file":
            line = f"password_file {passwd}"
        elif key == "acl_file":
            line = f"acl_file {acl}"
        elif key == "persistence_location":
            line = f"persistence_location {data_dir}/"
        out.append(line)
    out.append(f"log_dest file {data_dir}/mosquitto.log")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        out.append("user root")  # otherwise Mosquitto drops to `mosquitto`, who cannot write data_dir
    return "\n".join(out) + "\n"
