"""Layered settings: config/defaults.toml < file in XIAOYUAN_CONFIG < XIAOYUAN_<SECTION>_<KEY>.

`load_settings()` returns a frozen, typed object and has no side effects.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = ROOT / "config" / "defaults.toml"
# Each surface keeps the defaults of its own sections in a file here (merged in name order).
DEFAULTS_DIR = ROOT / "config" / "defaults.d"
ENV_PREFIX = "XIAOYUAN_"


class SettingsError(ValueError):
    """The configuration cannot be used; the message says why in plain words."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WebSettings(_Section):
    host: str
    port: int
    secret_key: str
    secure_cookies: bool
    login_rate_limit: str
    proxies: int


class PublicSettings(_Section):
    base_url: str


class DataSettings(_Section):
    dir: str


class DatabaseSettings(_Section):
    url: str


class MqttSettings(_Section):
    url: str
    client_id: str
    topic_root: str
    shared_group: str


class BrokerSettings(_Section):
    port: int
    username: str
    password: str


class TelephonySettings(_Section):
    provider: str
    ring_timeout_s: int
    demo_answer: bool


class TwilioSettings(_Section):
    account_sid: str
    auth_token: str
    from_number: str
    api_base: str


class VoskSettings(_Section):
    model: str
    workers: int
    timeout_s: int


class TtsSettings(_Section):
    voice: str
    rate: int
    prompts_dir: str


class NotifySettings(_Section):
    default_channels: tuple[str, ...]
    concurrency: int
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float


class WecomSettings(_Section):
    webhook_url: str


class DingtalkSettings(_Section):
    webhook_url: str
    secret: str


class WebhookSettings(_Section):
    url: str
    secret: str


class WorkerSettings(_Section):
    lease_seconds: int
    tick_seconds: float
    dispatch_batch: int
    id: str


class RequestSettings(_Section):
    types: tuple[str, ...]
    due_hours: dict[str, float]


class PrivacySettings(_Section):
    telemetry_raw_days: int
    telemetry_aggregate_days: int
    recordings_days: int
    call_logs_days: int


class LogSettings(_Section):
    level: str


class Settings(BaseModel):
    """Every setting of the service. Sections are added by later issues as the product grows;
    a section the model does not know is kept in `extra` so surfaces can own their config."""

    model_config = ConfigDict(frozen=True, extra="allow")

    web: WebSettings
    public: PublicSettings
    data: DataSettings
    database: DatabaseSettings
    mqtt: MqttSettings
    broker: BrokerSettings
    telephony: TelephonySettings
    twilio: TwilioSettings
    vosk: VoskSettings
    tts: TtsSettings
    notify: NotifySettings
    wecom: WecomSettings
    dingtalk: DingtalkSettings
    webhook: WebhookSettings
    worker: WorkerSettings
    requests: RequestSettings
    privacy: PrivacySettings
    log: LogSettings

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

    def section(self, name: str) -> dict[str, Any]:
        """A section that has no typed model (owned by a surface), as a plain dict."""
        value = (self.model_extra or {}).get(name, {})
        return dict(value) if isinstance(value, Mapping) else {}


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce(raw: str, like: Any, name: str) -> Any:
    """Turn an environment string into the type of the default it overrides."""
    try:
        if isinstance(like, bool):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(like, int):
            # An integer default still accepts a fraction (tick_seconds = 5 → "0.1").
            return int(raw) if raw.strip().lstrip("+-").isdigit() else float(raw)
        if isinstance(like, float):
            return float(raw)
        if isinstance(like, (list, dict)):
            if isinstance(like, list) and not raw.strip().startswith("["):
                return [part.strip() for part in raw.split(",") if part.strip()]
            return json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"环境变量 {name} 的值无法识别 / {name} has an unusable value") from exc
    return raw


def _env_overrides(tree: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for section, values in tree.items():
        if not isinstance(values, dict):
            continue
        for key, default in values.items():
            name = f"{ENV_PREFIX}{section}_{key}".upper()
            if name in environ:
                overrides.setdefault(section, {})[key] = _coerce(environ[name], default, name)
    return overrides


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build the settings from the layered sources; raise SettingsError with a plain message."""
    environ = os.environ if environ is None else environ
    with DEFAULTS_FILE.open("rb") as fh:
        tree: dict[str, Any] = tomllib.load(fh)
    for extra in sorted(DEFAULTS_DIR.glob("*.toml")):
        with extra.open("rb") as fh:
            tree = _deep_merge(tree, tomllib.load(fh))
    config_file = environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise SettingsError(f"找不到配置文件 {path} / XIAOYUAN_CONFIG names a missing file: {path}")
        try:
            with path.open("rb") as fh:
                tree = _deep_merge(tree, tomllib.load(fh))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"配置文件格式错误 / {path} is not valid TOML: {exc}") from exc
    tree = _deep_merge(tree, _env_overrides(tree, environ))
    if overrides:
        tree = _deep_merge(tree, overrides)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"配置有误 / invalid settings: {problems}") from exc
