"""Brokers: the embedded amqtt broker for a single hut, and the Mosquitto password file + ACL export.

Both brokers read the same two files, written by `export_broker_files()`:
- a password file in `mosquitto_passwd` format (`user:$7$…`, PBKDF2-SHA512, as Mosquitto 2.x writes);
- an ACL in Mosquitto format: each band (user `band-{device_id}`) may write only under
  `{root}/{site}/band/{device_id}/` and read its own `cmd`; the service users read everything under the root.
Service users: the tools account (`broker.username`, e.g. `xiaoyuan`) and one account per listener
instance (`xiaoyuan-listener-1` … `-N`). Mosquitto runs with `use_username_as_clientid`, so a client's
id is its username: nobody without a listener's password can take over a listener's session.
The embedded broker uses password authentication (never anonymous) so that amqtt keeps the
listener's session and queues events while the listener restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paho.mqtt.client import topic_matches_sub

from core.bands.registry import BAND_USER_PREFIX, band_username, hash_secret, verify_secret
from core.errors import LocalisedError
from core.i18n import N_
from core.private_files import kept_secret
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
    return kept_secret(broker_dir(settings) / "service.secret", lambda: secrets.token_urlsafe(24))


def listener_usernames(settings: Settings) -> list[str]:
    """One broker account per listener instance: `{broker.username}-listener-{n}`, n = 1 … broker.listeners."""
    return [f"{settings.broker.username}-listener-{n}" for n in range(1, max(1, settings.broker.listeners) + 1)]


def share_username(listener: str) -> str:
    """The account of a listener's second, short-lived session for its share of telemetry (mqtt.shared_group)."""
    return f"{listener}-share"


def service_usernames(settings: Settings) -> list[str]:
    """Every service account: the tools account first, then the listener instances."""
    return [settings.broker.username, *listener_usernames(settings)]


def gateway_account(settings: Settings) -> tuple[str, str]:
    """The watch gateway's broker account: `[watch] mqtt_username` and `mqtt_password`, else a random
    password kept in the data dir. It may publish on band topics and read their `cmd`, nothing else."""
    username = settings.watch.mqtt_username or "xiaoyuan-gateway"
    if settings.watch.mqtt_password:
        return username, settings.watch.mqtt_password
    return username, kept_secret(broker_dir(settings) / "gateway.secret", lambda: secrets.token_urlsafe(24))


def gateway_acl(root: str, gateway_user: str) -> str:
    """The gateway's ACL block: publish telemetry, events and status of any band; read any band's cmd."""
    base = f"{root.rstrip('/')}/+/band/+"
    return "\n".join([f"user {gateway_user}", f"topic write {base}/telemetry", f"topic write {base}/event",
                      f"topic write {base}/status", f"topic read {base}/cmd", ""]) + "\n"


@dataclass(frozen=True)
class BandCredential:
    """What the export needs from one band."""

    device_id: str
    site: str
    password_hash: str


def _check_service_names(service_users: list[str]) -> None:
    for name in service_users:
        if name.startswith(BAND_USER_PREFIX):  # the namespaces must stay apart (see core.bands.registry)
            raise ValueError(f"service username {name!r} uses the band prefix {BAND_USER_PREFIX!r}")


def render_password_file(service_users: list[str], service_hash: str, bands: list[BandCredential]) -> str:
    """`mosquitto_passwd` format: one `user:$7$…` line per service account, then one per band (`band-{id}`)."""
    _check_service_names(service_users)
    lines = [f"{user}:{service_hash}" for user in service_users]
    lines += [f"{share_username(user)}:{service_hash}" for user in service_users[1:]]
    lines += [f"{band_username(b.device_id)}:{b.password_hash}" for b in bands if b.password_hash]
    return "\n".join(lines) + "\n"


def render_acl(root: str, service_users: list[str], bands: list[BandCredential]) -> str:
    """A Mosquitto ACL: each band publishes only under its own topic and reads only its own `cmd`;
    the service accounts read all and command bands."""
    root = root.rstrip("/")
    _check_service_names(service_users)
    out = ["# Written by `xiaoyuan broker export`; do not edit by hand.", ""]
    for user in service_users:
        out += [f"user {user}", f"topic read {root}/#", f"topic write {root}/+/band/+/cmd",
                f"topic readwrite {root}/_service/#", ""]
    for user in service_users[1:]:  # the listeners' telemetry-share sessions read telemetry only
        out += [f"user {share_username(user)}", f"topic read {root}/+/band/+/telemetry", ""]
    for band in bands:
        base = f"{root}/{band.site}/band/{band.device_id}"
        out += [f"user {band_username(band.device_id)}", f"topic write {base}/telemetry",
                f"topic write {base}/event", f"topic write {base}/status", f"topic read {base}/cmd", ""]
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


@dataclass(frozen=True)
class FileOwnership:
    """Who owns the exported files and their mode (None: keep what the file had, else the default)."""

    uid: int | None = None
    gid: int | None = None
    mode: int | None = None


def resolve_ownership(owner: str | None = None, group: str | None = None, mode: str | None = None) -> FileOwnership:
    """Names (or numbers) to ids; raise BrokerError for an unknown user or group."""
    import grp
    import pwd

    def lookup(name: str | None, db: Any, what: str) -> int | None:
        if not name:
            return None
        if name.isdigit():
            return int(name)
        try:
            return db.getpwnam(name).pw_uid if what == "user" else db.getgrnam(name).gr_gid
        except KeyError:
            raise BrokerError(N_("找不到系统账号或组：%(name)s"), name=name) from None

    return FileOwnership(lookup(owner, pwd, "user"), lookup(group, grp, "group"), int(mode, 8) if mode else None)


def default_broker_group() -> str | None:
    """The group Mosquitto runs as when it drops privileges (`mosquitto`), if it exists here."""
    import grp

    try:
        grp.getgrnam("mosquitto")
        return "mosquitto"
    except KeyError:
        return None


def write_atomically(path: Path, text: str, ownership: FileOwnership, default_mode: int,
                     default_gid: int | None = None) -> None:
    """Write a file the broker can read: same directory temp file, owner/group/mode set BEFORE it is renamed
    into place (a reload never sees a half-written or root-only file). An existing file's owner, group and
    mode are kept unless `ownership` says otherwise, so a re-export never undoes a deployment's fix."""
    import tempfile

    try:
        old = path.stat()
        uid: int | None = old.st_uid
        gid: int | None = old.st_gid
        mode = old.st_mode & 0o777
    except FileNotFoundError:
        uid, gid, mode = None, default_gid, default_mode
    uid = ownership.uid if ownership.uid is not None else uid
    gid = ownership.gid if ownership.gid is not None else gid
    mode = ownership.mode if ownership.mode is not None else mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), mode)
            if uid is not None or gid is not None:
                try:
                    os.fchown(fh.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
                except PermissionError:
                    raise BrokerError(N_("没有权限把 %(path)s 交给指定的账号或组（需要 root）"), path=path) from None
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def export_broker_files(
    settings: Settings, out_dir: Path | None = None, bands: list[BandCredential] | None = None,
    ownership: FileOwnership | None = None,
) -> tuple[Path, Path]:
    """Write `passwd` and `acl` (for Mosquitto and for the embedded broker) atomically; return their paths.

    In the data dir the files are private (0600, the service runs the broker); elsewhere (a deployed
    Mosquitto's directory) new files are 0640 and, when run as root, in the `mosquitto` group, so that the
    broker can read them after it dropped its privileges."""
    out = out_dir or broker_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    bands = load_band_credentials(settings) if bands is None else bands
    service_users = service_usernames(settings)
    gateway_user, gateway_secret = gateway_account(settings)
    passwd, acl = out / "passwd", out / "acl"
    private = out_dir is None or out.resolve() == broker_dir(settings).resolve()
    default_mode, default_gid = 0o600, None
    if not private:
        default_mode = 0o640
        group = default_broker_group() if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        default_gid = resolve_ownership(group=group).gid
    for path, text in (
        (passwd, render_password_file(service_users, hash_secret(service_password(settings)), bands)
         + f"{gateway_user}:{hash_secret(gateway_secret)}\n"),
        (acl, render_acl(settings.mqtt.topic_root, service_users, bands)
         + gateway_acl(settings.mqtt.topic_root, gateway_user)),
    ):
        write_atomically(path, text, ownership or FileOwnership(), default_mode, default_gid)
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


def _guarded_broker_class() -> type:
    """amqtt's Broker, made to behave like Mosquitto with `use_username_as_clientid`.

    amqtt 0.12 looks up the CONNECT's client id, deletes (clean session) or takes over (persistent session)
    the existing session, and only then asks the auth plugins: one refused CONNECT with the listener's id
    wipes the listener's subscriptions and every later SOS is dropped. This subclass checks the password
    first, refuses before any session is touched, and then makes the client id the username, so nobody
    without a listener's password can even name its session.
    """
    from amqtt.broker import Broker
    from amqtt.errors import AMQTTError, MQTTError, NoDataError
    from amqtt.mqtt.connack import BAD_USERNAME_PASSWORD, ConnackPacket
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler

    class GuardedBroker(Broker):
        """amqtt that authenticates before session handling and binds the client id to the username."""

        async def _initialize_client_session(self, reader, writer, remote_address, remote_port):
            try:
                handler, session = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
            except MQTTError as exc:
                await writer.close()
                raise MQTTError(exc) from exc
            except (AMQTTError, NoDataError) as exc:
                raise AMQTTError(exc) from exc
            if not session.username or not await self._authenticate(session, None):
                connack = ConnackPacket.build(0, BAD_USERNAME_PASSWORD)
                await connack.to_stream(writer)
                await writer.close()
                raise MQTTError(f"refused {remote_address}:{remote_port} before session handling")
            session.client_id = session.username
            # From here on amqtt's own logic (0.12.1), for an authenticated client only.
            if session.clean_session:
                await self._delete_session(session.client_id)
                session.parent = 0
            elif session.client_id in self._sessions:
                existing, _ = self._sessions[session.client_id]
                for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive", "username",
                             "password"):
                    setattr(existing, name, getattr(session, name))
                session = existing
                session.parent = 1
            else:
                session.parent = 0
            delay = self.config.get("timeout-disconnect-delay", 0)
            if session.keep_alive > 0 and isinstance(delay, int):
                session.keep_alive += delay
            return handler, session

    return GuardedBroker


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


def check_port_free(host: str, port: int) -> None:
    """Raise BrokerError with a plain message when host:port cannot be listened on."""
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
    check_port_free(host, port)
    passwd, acl = export_broker_files(settings, bands=bands)
    broker_class = _guarded_broker_class()

    for noisy in ("transitions", "transitions.core", "amqtt"):  # state-machine chatter at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            broker = broker_class(broker_config(port, passwd, acl, host), loop=loop)
            holder["broker"] = broker
            loop.run_until_complete(broker.start())
        except Exception as exc:
            holder["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        # amqtt leaves the streams of refused clients half-closed; collect them while their loop still exists
        # (not later, in whatever code runs next, as "unclosed transport" noise).
        gc.collect()
        loop.close()

    thread = threading.Thread(target=run, name="embedded-mqtt-broker", daemon=True)
    thread.start()
    if not started.wait(30):
        raise BrokerError(N_("内置 MQTT 服务器启动超时"))
    if "error" in holder:
        raise BrokerError(N_("内置 MQTT 服务器无法启动：%(error)s"), error=holder["error"])
    log.info("embedded MQTT broker listening on %s:%s (password authentication)", host, port)
    return EmbeddedBroker(port=port, thread=thread, loop=loop, broker=holder["broker"], files=(passwd, acl))


AMQTT_FALLBACK_WARNING = (
    "NO MOSQUITTO BINARY FOUND: falling back to the pure-Python amqtt broker on 127.0.0.1:%s. It speaks MQTT "
    "3.1.1 only, uses ~13x Mosquitto's CPU and suits one hut at most. Install mosquitto (make setup does) "
    "or set XIAOYUAN_MQTT_URL."
)


def private_broker_kind(settings: Settings) -> str:
    """Which broker `xiaoyuan run` starts when no broker is configured: "mosquitto", or "amqtt" as the fallback."""
    from devices.mosquitto import find_mosquitto

    return "mosquitto" if find_mosquitto(settings) else "amqtt"


def start_private_broker(settings: Settings) -> Any:
    """Start the service's own broker: a Mosquitto child process, or amqtt (with a loud warning) where no
    mosquitto binary exists. Both have stop() and refresh(settings); raise BrokerError in plain words."""
    from devices.mosquitto import find_mosquitto, start_private_mosquitto

    binary = find_mosquitto(settings)
    if binary:
        return start_private_mosquitto(settings, binary=binary)
    log.warning(AMQTT_FALLBACK_WARNING, settings.broker.port)
    return start_embedded_broker(settings)


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
