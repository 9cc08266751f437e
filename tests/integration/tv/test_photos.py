"""Notice and reward photos: only uploads served by xiaoyuan (or allowed https hosts), checked by content and
size; TV pages send no Referer, so a box token in their addresses never reaches another site."""

from __future__ import annotations

import io
import os
import stat
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.community import photos
from core.community import rewards as rw
from core.db import transaction
from core.errors import InvalidInput
from core.models.notices import Notice
from core.models.rewards import Reward
from tests.integration.console.conftest import csrf_token, login_as

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "data:image/png;base64,AAAA", "https://evil.example/x.png", "http://evil.example/x.png",
    "//evil.example/x.png", "ftp://evil.example/x.png", "/tv/media/../../secret_key", "/tv/media/abc.png",
    "https://user:pw@photos.example.cn/x.png", "https://photos.example.cn\\@evil.example/",
    "http://photos.example.cn/x.png",  # an allowed host, but not https (as the message says)
])
def test_hostile_or_foreign_photo_addresses_are_refused(url):
    with pytest.raises(InvalidInput):
        photos.check_photo_url(url, allowed_hosts=("photos.example.cn",))


def test_uploads_and_allowed_hosts_are_accepted():
    ours = "/tv/media/" + "a" * 64 + ".png"
    assert photos.check_photo_url(ours) == ours
    assert photos.check_photo_url(" ") == ""
    assert photos.check_photo_url("https://photos.example.cn/oil.jpg", allowed_hosts=("photos.example.cn",))
    with pytest.raises(InvalidInput):  # by default only our own uploads
        photos.check_photo_url("https://photos.example.cn/oil.jpg")


def test_services_refuse_a_third_party_photo(services, world_ids):
    """A 院长 could point a reward photo at any host; every TV showing it told that host its box token."""
    with transaction(services.session_factory) as session, pytest.raises(InvalidInput):
        rw.create_reward(session, now=services.clock.now(), village_id=world_ids.villages[0], name="米", cost=5,
                         stock=1, photo_url="https://tracker.example/pixel.png")


def test_staff_upload_a_photo_that_tv_boxes_load_from_xiaoyuan(app, services, world_ids):
    web = app.test_client()
    login_as(web, SimpleNamespace(id=world_ids.users["head_a"]))
    r = web.post("/console/tv/rewards", data={
        "csrf_token": csrf_token(web, "/console/tv/rewards"), "action": "create", "name": "肥皂", "cost": "5",
        "stock": "3", "village_id": world_ids.villages[0], "photo": (io.BytesIO(PNG), "soap.png")},
        content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200
    with services.session_factory() as session:
        url = session.scalar(sa.select(Reward.photo_url).where(Reward.name == "肥皂"))
    assert url.startswith("/tv/media/") and url.endswith(".png")
    served = web.get(url)
    try:
        assert served.status_code == 200 and served.data == PNG and served.mimetype == "image/png"
    finally:
        served.close()
    stored = services.settings.data_dir / "media" / url.rsplit("/", 1)[1]
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert web.get("/tv/media/" + "0" * 64 + ".png").status_code == 404
    assert web.get("/tv/media/..%2Fsecret_key").status_code == 404


def test_uploads_are_checked_by_content_and_size(app, services, world_ids, monkeypatch):
    monkeypatch.setattr(photos, "MAX_BYTES", 4096)  # small, so the test sends small bodies
    web = app.test_client()
    login_as(web, SimpleNamespace(id=world_ids.users["head_a"]))
    for payload, message in ((b"<svg onload=alert(1)>", "只能上传 JPEG、PNG、GIF 或 WebP 图片"),
                             (JPEG + b"\x00" * photos.MAX_BYTES, "照片太大")):
        r = web.post("/console/tv/notices", data={
            "csrf_token": csrf_token(web, "/console/tv/notices"), "title": "通知", "category": "notice",
            "audience": "courtyard", "courtyard_id": world_ids.courtyards[0],
            "photo": (io.BytesIO(payload), "photo.jpg")}, content_type="multipart/form-data", follow_redirects=True)
        assert message in r.get_data(as_text=True)
    r = web.post("/console/tv/notices", data={
        "csrf_token": csrf_token(web, "/console/tv/notices"), "title": "通知", "category": "notice",
        "audience": "courtyard", "courtyard_id": world_ids.courtyards[0], "photo_url": "https://evil.example/a.png"},
        follow_redirects=True)
    assert "照片地址不能用" in r.get_data(as_text=True)
    with services.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_tv_pages_send_no_referer(tv_client):
    for path in ("/tv/", "/tv/rewards", "/tv/notices"):
        assert tv_client.get(path).headers.get("Referrer-Policy") == "no-referrer", path
