"""Photos on notices and rewards: which addresses staff may store, and uploads served by xiaoyuan itself.

A TV box carries its token in its page URLs (boxes without cookies need that), so an image from a
third-party host would hand that host the token through the Referer header or a crafted page. By
default only photos uploaded to xiaoyuan are accepted; an operator may allow named https hosts.
Uploads are checked by content (JPEG, PNG, GIF, WebP), limited in size, stored under a name that is
the hash of their bytes, and written readable by the service only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import InvalidInput
from core.i18n import N_
from core.private_files import private_dir, write_private

MEDIA_PREFIX = "/tv/media/"
MAX_BYTES = 2 * 1024 * 1024
_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png|gif|webp)$")
_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}


def sniff_image(data: bytes) -> str | None:
    """The extension of an image by its first bytes (jpg, png, gif, webp), or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_photo_url(raw: str | None, *, allowed_hosts: Iterable[str] = ()) -> str:
    """The photo address to store: empty, an upload of ours, or https on an allowed host; else InvalidInput."""
    url = (raw or "").strip()
    if not url:
        return ""
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url) or len(url) > 300:
        raise InvalidInput(N_("照片地址不能用：请上传照片，或用允许的网站的 https 地址"))
    if url.startswith(MEDIA_PREFIX) and _NAME.match(url[len(MEDIA_PREFIX):]):
        return url
    parts = urlsplit(url)
    hosts = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if parts.scheme == "https" and parts.hostname and parts.hostname.lower() in hosts \
            and not parts.username and not parts.password:
        return url
    raise InvalidInput(N_("照片地址不能用：请上传照片，或用允许的网站的 https 地址"))


def media_dir(data_dir: Path) -> Path:
    """Where uploaded photos are kept (created 0700)."""
    return private_dir(data_dir / "media")


def store_photo(data_dir: Path, data: bytes, *, max_bytes: int | None = None) -> str:
    """Keep an uploaded photo (checked by content and size, at most MAX_BYTES); its address under MEDIA_PREFIX."""
    max_bytes = max_bytes or MAX_BYTES
    if not data:
        raise InvalidInput(N_("照片是空的"))
    if len(data) > max_bytes:
        raise InvalidInput(N_("照片太大（最多 %(kb)s KB）"), kb=max_bytes // 1024)
    ext = sniff_image(data)
    if ext is None:
        raise InvalidInput(N_("只能上传 JPEG、PNG、GIF 或 WebP 图片"))
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    path = media_dir(data_dir) / name
    if not path.exists():
        write_private(path, data)
    return MEDIA_PREFIX + name


def photo_file(data_dir: Path, name: str) -> tuple[Path, str] | None:
    """The stored file and its content type for a media name, or None (unknown or malformed name)."""
    if not _NAME.match(name):
        return None
    path = data_dir / "media" / name
    if not path.is_file():
        return None
    return path, _TYPES[name.rsplit(".", 1)[1]]
