"""爱环境 photo and points tests: per-test `[bins]` settings, a bin, a passer-by's phone and a scan."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from core.community import bins as bin_service
from core.db import transaction
from core.settings import load_settings
from tests.integration.console.conftest import CSRF_RE

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A real (decodable) PNG, made without an imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x2e\x7d\x32" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def bins_config(request) -> dict:
    """`[bins]` overrides for one test (parametrize indirectly), none by default."""
    return getattr(request, "param", {})


@pytest.fixture
def settings(tmp_path, bins_config):
    """The embedded defaults with a private data dir and this test's `[bins]`."""
    return load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}, "bins": bins_config})


def with_bins(**values):
    """Run a test with these `[bins]` settings."""
    return pytest.mark.parametrize("bins_config", [values], indirect=True, ids=["bins"])


@pytest.fixture
def entrance_bin(services, world, clock):
    """村口一号桶 in 椒香小院 (A), emptied by the grid worker of village A."""
    with transaction(services.session_factory) as s:
        bin_ = bin_service.add_bin(s, now=clock.now(), actor=world.users["village_a"],
                                   courtyard_id=world.courtyards[0].id, name="村口一号桶", location="村口",
                                   cleaner_id=world.users["grid_a"].id, via="test")
        return bin_.id, bin_.token


def phone_of(app, address: str = "10.0.0.1"):
    """A passer-by's phone: its own cookies and address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def post_multipart(phone, path: str, fields: dict, photo: tuple[bytes, str, str]):
    """POST a multipart form built in memory (the test client would spool a big body to an unclosed temp file)."""
    values = {**fields, "photo": FileStorage(io.BytesIO(photo[0]), filename=photo[1], content_type=photo[2])}
    boundary, body = encode_multipart(values)
    return phone.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def scan(client, token: str, kind: str = "full", photo: tuple[bytes, str, str] | None = None, **fields):
    """Open the label's page, then tap one button, with a photo (bytes, file name, client content type) if given."""
    page = client.get(f"/q/{token}")
    assert page.status_code == 200
    data: dict = {"csrf_token": CSRF_RE.search(page.get_data(as_text=True)).group(1), "kind": kind, **fields}
    # With no photo chosen a browser still sends the field: an empty part without a file name.
    return post_multipart(client, f"/q/{token}", data, photo or (b"", "", "application/octet-stream"))
