"""gunicorn's control socket goes to the deployment's data directory, not the one path per user it defaults to."""

from __future__ import annotations

import importlib
import sys

from gunicorn.app.base import Application


class _Gunicorn(Application):
    """gunicorn's own loading of a `-c python:…` configuration, without serving anything."""

    def load_config(self) -> None:
        self.load_config_from_module_name_or_filename("python:xiaoyuan.gunicorn_conf")

    def init(self, parser, opts, args):  # pragma: no cover - no command line here
        raise AssertionError

    def load(self):  # pragma: no cover - never served
        raise AssertionError


def test_the_control_socket_is_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XIAOYUAN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delitem(sys.modules, "xiaoyuan.gunicorn_conf", raising=False)
    config = _Gunicorn().cfg
    assert config.control_socket == str(tmp_path / "var" / "gunicorn.ctl")  # a name gunicorn knows, with our path
    assert not config.control_socket_disable


def test_two_deployments_get_two_sockets(monkeypatch, tmp_path):
    paths = set()
    for name in ("a", "b"):
        monkeypatch.setenv("XIAOYUAN_DATA_DIR", str(tmp_path / name))
        monkeypatch.delitem(sys.modules, "xiaoyuan.gunicorn_conf", raising=False)
        paths.add(importlib.import_module("xiaoyuan.gunicorn_conf").control_socket)
    assert len(paths) == 2
