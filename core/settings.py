"""Layered settings: the models' defaults < TOML file in XIAOYUAN_CONFIG < XIAOYUAN_<SECTION>_<KEY>.

Every section is a typed model (the area's own in core/<area>/config.py, the service's here); its
defaults are defined once, in the model. An unknown section or key — in the file or as a XIAOYUAN_*
variable — is an error that names where it came from. `load_settings()` returns a frozen object
and has no side effects. config/defaults.toml documents the defaults and is generated from the
models (`python -m core.settings > config/defaults.toml`).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from core.bands.config import DevicesSettings, WatchSettings
from core.community.config import BinSettings, MarketSettings, TvSettings
from core.i18n import N_, bilingual
from core.notify.config import DingtalkSettings, NotifySettings, WebhookSettings, WecomSettings
from core.phone.config import SipSettings, TelephonySettings, TtsSettings, TwilioSettings, VoiceSettings, VoskSettings
from core.privacy.config import PrivacySettings
from core.requests.config import OpsSettings, RequestSettings
from core.settings_types import DatabaseUrlOrEmpty, HttpUrlOrEmpty, MqttUrlOrEmpty, NonEmptyPath, Port, Section

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = ROOT / "config" / "defaults.toml"
ENV_PREFIX = "XIAOYUAN_"
# XIAOYUAN_* variables that are not settings: the config file itself and the test suite's switches.
NOT_SETTINGS = frozenset({"XIAOYUAN_CONFIG", "XIAOYUAN_TEST_DATABASE_URL", "XIAOYUAN_REQUIRE_POSTGRES"})

CONFIG_FILE_MISSING = N_("找不到配置文件 %(path)s（XIAOYUAN_CONFIG）")
CONFIG_FILE_NOT_TOML = N_("配置文件 %(path)s 格式错误：%(error)s")
UNKNOWN_SETTING = N_("%(source)s：没有这项设置 %(key)s")
UNKNOWN_VARIABLE = N_("环境变量 %(name)s 不对应任何设置")
BAD_VARIABLE = N_("环境变量 %(name)s 的值无法识别：%(value)s")
BAD_SETTING = N_("%(source)s：设置 %(key)s 有误：%(error)s")
BUILT_IN = N_("内置默认值")


class SettingsError(ValueError):
    """The configuration cannot be used; each of `problems` says what and where in plain words."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class WebSettings(Section):
    """The web server (console, TV pages, phone webhooks)."""

    host: str = Field("127.0.0.1", min_length=1)
    port: Port = 8000
    secret_key: str = Field(
        "", description="empty: a random key kept in the data dir (set one for several web processes)")
    secure_cookies: bool = False
    login_rate_limit: str = Field("10 per minute", description="sign-in attempts per client address (counted in the "
                                  "database, shared by every web process; a successful sign-in is not counted)")
    login_account_limit: str = Field("10 per 15 minutes", description="sign-in attempts per username")
    proxies: int = Field(
        0, ge=0, description="reverse proxies in front (nginx → 1): client address and https from X-Forwarded-*")
    session_idle_minutes: int = Field(120, ge=1, description="a console session ends after this long without a request")
    session_max_hours: int = Field(12, ge=1, description="and in any case this long after sign-in")
    ops_allow_from: tuple[str, ...] = Field(
        ("127.0.0.0/8", "::1/128"), description="addresses that may read /metrics and the detailed /healthz (the "
        "plain up/down answer is public)")
    ops_token: str = Field("", description="or any client sending `Authorization: Bearer <this>` (a secret)")

    @field_validator("login_rate_limit", "login_account_limit")
    @classmethod
    def _readable_rate(cls, value: str) -> str:
        from core.throttle import parse_rate

        parse_rate(value)  # "10 per minute", "10 per 15 minutes": a typo is a config error, not a 500
        return value


class PublicSettings(Section):
    """What Twilio and TV boxes reach."""

    base_url: HttpUrlOrEmpty = Field("", description="empty: http://{web.host}:{web.port}")


class DataSettings(Section):
    """Where files are kept (relative paths are relative to the repository)."""

    dir: NonEmptyPath = "var"


class DatabaseSettings(Section):
    """The database (SQLAlchemy URL)."""

    url: DatabaseUrlOrEmpty = Field("", description="empty: SQLite file {data.dir}/xiaoyuan.db")


class MqttSettings(Section):
    """The MQTT broker the wristband listener uses."""

    url: MqttUrlOrEmpty = Field("", description="empty: the private broker on 127.0.0.1:{broker.port}; each "
                                "listener has its own account (`xiaoyuan broker export` prints the URLs)")
    client_id: str = Field("", description="empty: the username (Mosquitto enforces it with use_username_as_clientid)")
    topic_root: str = Field("xiaoyuan/v1", min_length=1)
    shared_group: str = ""


class BrokerSettings(Section):
    """The broker accounts, and the private broker that `xiaoyuan run` starts when mqtt.url is empty."""

    port: Port = Field(18830, description="not 1883: the system Mosquitto that make setup starts holds that")
    username: str = Field("xiaoyuan", min_length=1, description="the tools account; the listeners are "
                          "{username}-listener-1 … -{listeners}; bands are band-{device_id}")
    password: str = ""
    listeners: int = Field(4, ge=1, le=100, description="listener accounts written by `broker export`")
    mosquitto: str = Field("", description="the mosquitto binary for the private broker: \"\" finds it on PATH, "
                           "\"off\" uses the amqtt fallback")
    export_dir: str = Field("", description="a deployed Mosquitto reads passwd and acl here; when set, "
                            "`xiaoyuan band add` updates them and reloads that Mosquitto")
    pid_file: str = Field("", description="the deployed Mosquitto's pid file (\"\": /run/mosquitto/mosquitto.pid)")

    @field_validator("username")
    @classmethod
    def _not_a_band(cls, value: str) -> str:
        if value.startswith("band-"):  # core.bands.registry.BAND_USER_PREFIX: the namespaces must stay apart
            raise ValueError("must not start with band-, the wristbands' namespace")
        return value


class WorkerSettings(Section):
    """The background worker (jobs and the outbox dispatcher)."""

    lease_seconds: int = Field(
        6, ge=1, description="a standby takes over within lease_seconds + tick_seconds of the holder's death "
                             "(pending alarm calls are placed within 10 s); the holder renews every lease_seconds / 3")
    tick_seconds: float = Field(1, gt=0)
    id: str = Field("", description="the worker's stable identity (\"\" = the host name): restarted with the same "
                                    "identity on the same host, it finds the holder's pid gone and reclaims the lease")
    dispatch_batch: int = Field(50, ge=1)


class LogSettings(Section):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"


class Settings(Section):
    """Every setting of the service, one typed section each; a new key is one field in its area's model."""

    web: WebSettings = WebSettings()
    public: PublicSettings = PublicSettings()
    data: DataSettings = DataSettings()
    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    broker: BrokerSettings = BrokerSettings()
    telephony: TelephonySettings = TelephonySettings()
    twilio: TwilioSettings = TwilioSettings()
    sip: SipSettings = SipSettings()
    voice: VoiceSettings = VoiceSettings()
    vosk: VoskSettings = VoskSettings()
    tts: TtsSettings = TtsSettings()
    notify: NotifySettings = NotifySettings()
    wecom: WecomSettings = WecomSettings()
    dingtalk: DingtalkSettings = DingtalkSettings()
    webhook: WebhookSettings = WebhookSettings()
    worker: WorkerSettings = WorkerSettings()
    requests: RequestSettings = RequestSettings()
    ops: OpsSettings = OpsSettings()
    devices: DevicesSettings = DevicesSettings()
    watch: WatchSettings = WatchSettings()
    tv: TvSettings = TvSettings()
    bins: BinSettings = BinSettings()
    market: MarketSettings = MarketSettings()
    privacy: PrivacySettings = PrivacySettings()
    log: LogSettings = LogSettings()

    @property
    def data_dir(self) -> Path:
        """The data directory as an absolute path (relative paths are relative to the repo)."""
        path = Path(self.data.dir)
        return path if path.is_absolute() else ROOT / path

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or the SQLite file in the data dir."""
        return self.database.url or f"sqlite:///{self.data_dir / 'xiaoyuan.db'}"

    @property
    def public_base_url(self) -> str:
        """The base URL that phones and TV boxes reach, without a trailing slash."""
        if self.public.base_url:
            return self.public.base_url.rstrip("/")
        return f"http://{self.web.host}:{self.web.port}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds (a nested section such as devices.thresholds), else None."""
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def setting_fields(model: type[BaseModel] = Settings,
                   path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf setting as (path, annotation), nested sections walked (pure)."""
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        if nested is not None:
            yield from setting_fields(nested, (*path, name))
        else:
            yield (*path, name), field.annotation


def variable_name(path: tuple[str, ...]) -> str:
    """The environment variable of a setting: ("web", "port") → XIAOYUAN_WEB_PORT."""
    return ENV_PREFIX + "_".join(path).upper()


def _kind(annotation: Any) -> str:
    """"list", "dict" or "scalar": how an environment string is read for a field of this type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin in (list, tuple, set, frozenset):
        return "list"
    if origin is dict:
        return "dict"
    if origin in (typing.Union, types.UnionType):
        kinds = {_kind(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "scalar"
    return "scalar"


def _from_environment(raw: str, annotation: Any, name: str) -> Any:
    """An environment string as the field wants it: lists comma-separated or JSON, objects JSON."""
    kind = _kind(annotation)
    if kind == "scalar":
        if annotation is bool and not raw.strip():
            return False  # VAR= switches a flag off
        return raw  # pydantic converts "8000", "true", "0.5" and rejects what does not fit
    text = raw.strip()
    if kind == "list" and not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SettingsError([bilingual(BAD_VARIABLE, name=name, value=raw)]) from exc


def _environment_tree(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str], list[str]]:
    """The settings XIAOYUAN_* variables set, where each came from, and the variables that match no setting."""
    known = {variable_name(path): (path, annotation) for path, annotation in setting_fields()}
    tree: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    unknown = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        if name not in known:
            unknown.append(bilingual(UNKNOWN_VARIABLE, name=name))
            continue
        path, annotation = known[name]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _from_environment(environ[name], annotation, name)
        origins[path] = name
    return tree, origins, unknown


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _record(origins: dict[tuple[str, ...], str], tree: Mapping[str, Any], source: str,
            path: tuple[str, ...] = ()) -> None:
    """Remember `source` as the origin of every section and key in `tree`."""
    for key, value in tree.items():
        origins[(*path, key)] = source
        if isinstance(value, Mapping):
            _record(origins, value, source, (*path, key))


def _origin(origins: Mapping[tuple[str, ...], str], loc: tuple[str, ...]) -> str:
    """Where the value at `loc` came from: the longest known prefix's source, else the built-in defaults."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return bilingual(BUILT_IN)


def _problems(exc: ValidationError, origins: Mapping[tuple[str, ...], str]) -> list[str]:
    """One plain line per validation error, naming the source (file or variable) and the dotted key."""
    found = []
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"] if not isinstance(part, int))
        key = ".".join(loc)
        source = _origin(origins, loc)
        if err["type"] == "extra_forbidden":
            found.append(bilingual(UNKNOWN_SETTING, source=source, key=key))
        else:
            found.append(bilingual(BAD_SETTING, source=source, key=key, error=err["msg"]))
    return found


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError([bilingual(CONFIG_FILE_MISSING, path=str(path))])
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([bilingual(CONFIG_FILE_NOT_TOML, path=str(path), error=str(exc))]) from exc


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build the settings from the layered sources; raise SettingsError naming every problem and its source."""
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = Settings().model_dump()
    origins: dict[tuple[str, ...], str] = {}
    config_file = environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        path = Path(config_file)
        from_file = _read_file(path)
        _record(origins, from_file, str(path))
        tree = _deep_merge(tree, from_file)
    from_env, env_origins, unknown = _environment_tree(environ)
    origins.update(env_origins)
    tree = _deep_merge(tree, from_env)
    if overrides:
        _record(origins, overrides, "overrides")
        tree = _deep_merge(tree, overrides)
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise SettingsError(unknown + _problems(exc, origins)) from exc
    if unknown:
        raise SettingsError(unknown)
    return settings


def _toml_value(value: Any) -> str:
    """One value in TOML syntax (the types settings use: text, numbers, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key, ensure_ascii=False)


def _comment(text: str) -> list[str]:
    lines = []
    for line in text.strip().splitlines():
        lines += textwrap.wrap(line, width=108) or [""]
    return [f"# {line}".rstrip() for line in lines]


def _render_section(model: BaseModel, path: tuple[str, ...], lines: list[str]) -> None:
    lines += ["", *_comment(type(model).__doc__ or ""), f"[{'.'.join(path)}]"]
    nested = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            nested.append((name, value))
            continue
        if field.description:
            lines += _comment(field.description)
        lines.append(f"{_toml_key(name)} = {_toml_value(value if not isinstance(value, tuple) else list(value))}")
    for name, value in nested:
        _render_section(value, (*path, name), lines)


def render_defaults() -> str:
    """config/defaults.toml: every section and key with its default and its description (pure)."""
    lines = ["# The built-in defaults, generated from the settings models:",
             "#   python -m core.settings > config/defaults.toml",
             "# Do not edit: override in a file named in XIAOYUAN_CONFIG, or with XIAOYUAN_<SECTION>_<KEY> variables."]
    defaults = Settings()
    for name in Settings.model_fields:
        _render_section(getattr(defaults, name), (name,), lines)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_defaults())
