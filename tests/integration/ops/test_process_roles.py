"""One composition path: every process role (run, web, wsgi, worker, listener, phone) gets the same services."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from xiaoyuan import bootstrap
from xiaoyuan.bootstrap import ROLES, build_role, close_services


class FakeSpeech:
    """Stands for the TTS service or the vosk recogniser (both start threads or load models)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_speech(monkeypatch):
    """Count how often each role builds TTS and ASR, without espeak or a model."""
    built: list[str] = []

    def make_asr(settings, preload=True):
        built.append("asr" if preload else "asr (loads on first use)")
        return FakeSpeech("asr")

    def make_tts(settings):
        built.append("tts")
        return FakeSpeech("tts")

    monkeypatch.setattr(bootstrap, "make_asr", make_asr)
    monkeypatch.setattr(bootstrap.TtsService, "from_settings", staticmethod(make_tts))
    return built


def _shape(services) -> dict[str, object]:
    return {
        "telephony": type(services.telephony).__name__,
        "tts": getattr(services.tts, "kind", None),
        "asr": getattr(services.asr, "kind", None),
        "extras": sorted(k for k in services.extras if k != "role"),
    }


def test_every_role_gets_the_same_services(settings, fake_speech):
    """run, web, wsgi, worker, listener and phone are wired by one function: same telephony, TTS and ASR."""
    shapes = {}
    for role in ROLES:
        services = build_role(role, settings)
        try:
            assert services.extras["role"] == role
            shapes[role] = _shape(services)
        finally:
            close_services(services)
    assert shapes["wsgi"] == shapes["web"] == shapes["run"]
    assert all(shape == shapes["run"] for shape in shapes.values()), shapes
    assert shapes["run"]["asr"] == "asr" and shapes["run"]["tts"] == "tts"


def test_only_roles_that_take_calls_load_the_speech_model_at_start(settings, fake_speech):
    """Listeners and workers hold the recogniser but do not load a 1.3 GB model they never use."""
    loads = {}
    for role in ROLES:
        fake_speech.clear()
        close_services(build_role(role, settings))
        loads[role] = [b for b in fake_speech if b.startswith("asr")]
    assert loads == {"run": ["asr"], "web": ["asr"], "wsgi": ["asr"], "phone": ["asr"],
                     "worker": ["asr (loads on first use)"], "listener": ["asr (loads on first use)"],
                     "gateway": ["asr (loads on first use)"]}


def test_unknown_role_is_refused(settings):
    """A typo in a role name fails loudly instead of building a partial process."""
    with pytest.raises(ValueError, match="unknown process role"):
        build_role("webb", settings)


def test_gunicorn_entry_builds_the_web_roles_services(monkeypatch, tmp_path, fake_speech):
    """`xiaoyuan.wsgi:create_app()` has speech recognition like `xiaoyuan web` (it once built without ASR)."""
    from xiaoyuan import wsgi

    for key in [k for k in os.environ if k.startswith("XIAOYUAN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("XIAOYUAN_DATA_DIR", str(tmp_path / "var"))
    app = wsgi.create_app()
    services = app.extensions["xiaoyuan"]
    try:
        assert services.extras["role"] == "wsgi"
        assert getattr(services.asr, "kind", None) == "asr"
        assert getattr(services.tts, "kind", None) == "tts"
    finally:
        close_services(services)


@pytest.mark.parametrize("command", ["run", "web", "worker", "listener", "phone"])
def test_cli_process_commands_build_through_build_role(monkeypatch, tmp_path, fake_speech, command):
    """Each process command asks build_role for its services (so none can skip speech recognition)."""
    import xiaoyuan.processes as processes
    from xiaoyuan.cli import _load_command_modules, cli

    seen: list[tuple[str, str, object]] = []
    monkeypatch.setattr(processes, "serve_role",
                        lambda role, services: seen.append((role, services.extras["role"], services.asr)))
    monkeypatch.setattr(processes, "run_phone_process",
                        lambda services: seen.append(("phone", services.extras["role"], services.asr)))
    for key in [k for k in os.environ if k.startswith("XIAOYUAN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("XIAOYUAN_DATA_DIR", str(tmp_path / "var"))
    _load_command_modules()
    result = CliRunner().invoke(cli, [command], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    role, built_role, asr = seen[0]
    assert role == built_role == command
    assert getattr(asr, "kind", None) == "asr"
