"""Photos passers-by send with a bin report: checked by content, kept privately under random names, shown to staff.

A photo comes from anyone with a phone, so nothing the client says about it is believed — not its file
name, not its content type. Only JPEG, PNG and WebP by their first bytes, at most `[bins] photo_max_mb`,
at most `[bins] photos_per_request` on one request. Files go to `{data dir}/bin-photos/` (0700) as 0600
files named by 128 random bits, never under a static folder; the console serves them only to staff who
may see the bin or its request. A refused photo never costs the report: the scan is saved and the page
says what became of the photo. `[privacy] bin_photos_days` deletes them (rows and files).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.community.photos import sniff_image
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.bins import Bin, BinPhoto
from core.models.requests import Request
from core.people import access
from core.private_files import write_private
from core.requests.visibility import request_scope

PHOTO_DIR = "bin-photos"
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_FILE = re.compile(r"bin-photos/[0-9a-f]{32}\.(jpg|png|webp)")
MB = 1024 * 1024

PHOTO_SAVED = N_("照片已收到。")
PHOTO_EMPTY = N_("照片没有保存：文件是空的。")
PHOTO_TOO_BIG = N_("照片没有保存：太大了（最多 %(mb)s MB）。")
PHOTO_NOT_AN_IMAGE = N_("照片没有保存：只收 JPEG、PNG 或 WebP 照片。")
PHOTO_REQUEST_FULL = N_("照片没有保存：这个垃圾桶的报告已经有 %(n)s 张照片了。")


@dataclass(frozen=True)
class PhotoRules:
    """Where photos go, how big one may be and how many one request keeps (`[bins]`, `[data] dir`)."""

    data_dir: Path
    max_bytes: int = 5 * MB
    per_request: int = 5

    @classmethod
    def from_settings(cls, settings: Any) -> PhotoRules:
        """The rules of the loaded settings."""
        return cls(data_dir=Path(settings.data_dir), max_bytes=settings.bins.photo_max_mb * MB,
                   per_request=settings.bins.photos_per_request)


def check_photo(data: bytes, max_bytes: int) -> str:
    """The photo's extension judged by its first bytes (jpg, png, webp); InvalidInput when empty, too big or
    anything else (an HTML page named .jpg, a GIF, a "JPEG" with the wrong magic)."""
    if not data:
        raise InvalidInput(PHOTO_EMPTY)
    if len(data) > max_bytes:
        raise InvalidInput(PHOTO_TOO_BIG, mb=max(1, max_bytes // MB))
    ext = sniff_image(data)
    if ext not in CONTENT_TYPES:
        raise InvalidInput(PHOTO_NOT_AN_IMAGE)
    return ext


def store_photo(data_dir: Path, data: bytes, ext: str) -> str:
    """Write a checked photo as a 0600 file with a random name; its path relative to the data dir."""
    if ext not in CONTENT_TYPES:
        raise ValueError(ext)
    rel = f"{PHOTO_DIR}/{secrets.token_hex(16)}.{ext}"
    write_private(Path(data_dir) / rel, data)
    return rel


def photo_path(data_dir: Path, file: str) -> tuple[Path, str] | None:
    """The stored file and its content type for a photo row's `file`, or None (malformed, or gone from disk)."""
    if not _FILE.fullmatch(file or ""):
        return None
    path = Path(data_dir) / file
    if not path.is_file():
        return None
    return path, CONTENT_TYPES[file.rsplit(".", 1)[1]]


def photos_of_requests(session: Session, request_ids: Iterable[int]) -> dict[int, list[BinPhoto]]:
    """The photos of each request, oldest first (requests without any are missing from the map)."""
    ids = list(request_ids)
    found: dict[int, list[BinPhoto]] = {}
    if not ids:
        return found
    for photo in session.scalars(sa.select(BinPhoto).where(BinPhoto.request_id.in_(ids)).order_by(BinPhoto.id)):
        found.setdefault(photo.request_id, []).append(photo)
    return found


def photo_count(session: Session, request_id: int) -> int:
    """How many photos a request keeps."""
    return int(session.scalar(sa.select(sa.func.count(BinPhoto.id)).where(BinPhoto.request_id == request_id)) or 0)


def get_photo_for(session: Session, viewer: access.Viewer, photo_id: int) -> BinPhoto:
    """A photo of a bin's request that the viewer may see: staff covering the request's place, whoever holds the
    request, or the bin's cleaner; NotFound for everyone else (caregivers included) and unknown ids."""
    if viewer.role not in access.MANAGER_ROLES:
        raise NotFound(N_("找不到这张照片"))
    mine: sa.ColumnElement[bool] = request_scope(viewer)
    if viewer.id is not None:
        mine = sa.or_(mine, Bin.cleaner_id == viewer.id)
    photo = session.scalar(
        sa.select(BinPhoto).join(Request, BinPhoto.request_id == Request.id).join(Bin, BinPhoto.bin_id == Bin.id)
        .where(BinPhoto.id == photo_id, mine))
    if photo is None:
        raise NotFound(N_("找不到这张照片"))
    return photo
