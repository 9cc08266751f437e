"""gunicorn's settings for xiaoyuan: `gunicorn -c python:xiaoyuan.gunicorn_conf -w 4 'xiaoyuan.wsgi:create_app()'`.

gunicorn 25.1 and later serve a control socket (for `gunicornc`) at $XDG_RUNTIME_DIR/gunicorn.ctl, else
~/.gunicorn/gunicorn.ctl: one path per user, so a second gunicorn started by that user on the host (another
deployment, a test run) deletes the first one's socket and takes its place. Here the socket lives in the
deployment's own data directory ([data] dir, XIAOYUAN_DATA_DIR): `gunicornc -s $XIAOYUAN_DATA_DIR/gunicorn.ctl`.
Older gunicorn ignores the setting; options given on the command line override this file.
"""

from __future__ import annotations

from core.settings import load_settings

control_socket = str(load_settings().data_dir / "gunicorn.ctl")
