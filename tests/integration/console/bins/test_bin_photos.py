"""爱环境 photos (issue 14 §1): an optional photo on the public /q/ page, judged by its bytes, kept privately under a
random name, attached to the bin's open request (capped), shown only to staff who may see it, deleted by retention.
A refused photo never costs the report."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.community import bins as bin_service
from core.db import transaction
from core.models.bins import BinPhoto, BinReport
from core.models.requests import Request
from core.settings import load_settings
from tests.integration.console.bins.conftest import CSRF_RE, JPEG, phone_of, post_multipart, scan, tiny_png, with_bins
from tests.integration.console.conftest import login_as


def stored_photos(services) -> list[BinPhoto]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(BinPhoto).order_by(BinPhoto.id)))


def report_count(services) -> int:
    with services.session_factory() as s:
        return int(s.scalar(sa.select(sa.func.count(BinReport.id))))


def test_the_page_offers_an_optional_camera_photo_in_the_one_form(console_app, entrance_bin):
    """One multipart form: the camera input (not required) and the four buttons, each a submit with its kind."""
    _, token = entrance_bin
    page = phone_of(console_app).get(f"/q/{token}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    camera = re.search(r"<input[^>]*type=\"file\"[^>]*>", page).group(0)
    assert 'accept="image/*"' in camera and 'capture="environment"' in camera and "required" not in camera
    assert page.count('type="submit" name="kind"') == 4
    assert 'name="phone"' not in page, "no phone number is asked for while report_points is 0"


def test_a_tap_without_a_photo_still_reports(console_app, services, entrance_bin):
    """The browser's empty file part is no photo: no note, no photo row, the report counts."""
    _, token = entrance_bin
    reply = scan(phone_of(console_app), token)
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "1 次报告" in text and "照片" not in text
    assert stored_photos(services) == [] and report_count(services) == 1


def test_a_photo_is_kept_privately_under_a_random_name_and_a_second_scan_adds_one(
        console_app, services, settings, clock, entrance_bin):
    """The photo lands in {data dir}/bin-photos/ as a 0600 file named by random hex (not the client's name), on the
    bin's open request; a neighbour's scan with a photo adds a second one to the same request."""
    _, token = entrance_bin
    first = scan(phone_of(console_app), token, photo=(JPEG, "../../console/static/evil.jpg", "image/jpeg"))
    assert first.status_code == 200 and "照片已收到" in first.get_data(as_text=True)
    clock.advance(minutes=5)
    second = scan(phone_of(console_app, "10.0.0.2"), token, photo=(tiny_png(), "IMG_0001.PNG", "image/png"))
    assert "照片已收到" in second.get_data(as_text=True)
    photos = stored_photos(services)
    assert len(photos) == 2 and photos[0].request_id == photos[1].request_id
    with services.session_factory() as s:
        assert s.scalar(sa.select(Request.id)) == photos[0].request_id
    data_dir = Path(settings.data_dir)
    for photo, body, ext in ((photos[0], JPEG, "jpg"), (photos[1], tiny_png(), "png")):
        assert re.fullmatch(rf"bin-photos/[0-9a-f]{{32}}\.{ext}", photo.file)
        path = data_dir / photo.file
        assert path.read_bytes() == body and photo.size == len(body)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "bin-photos").stat().st_mode) == 0o700
    assert not list(Path("console/static").glob("evil*")) and not list(data_dir.rglob("evil*"))
    assert not list(data_dir.rglob("IMG_0001*")), "the client's file name is not used"


@pytest.mark.parametrize(("body", "name", "client_type", "why"), [
    (b"GIF89a" + b"\x00" * 64, "photo.jpg", "image/jpeg", "只收 JPEG、PNG 或 WebP"),
    (b"\xff\xd9\xff" + b"\x00" * 64, "fake.jpg", "image/jpeg", "只收 JPEG、PNG 或 WebP"),  # wrong magic
    (b"<!doctype html><script>alert(1)</script>", "cute.jpg", "image/jpeg", "只收 JPEG、PNG 或 WebP"),
    (b"%PDF-1.4 ...", "scan.png", "image/png", "只收 JPEG、PNG 或 WebP"),
    (b"", "empty.jpg", "image/jpeg", "文件是空的"),
], ids=["gif", "fake-jpeg", "html-named-jpg", "pdf-named-png", "empty"])
def test_a_refused_photo_is_named_and_the_report_is_kept(console_app, services, settings, entrance_bin, body, name,
                                                         client_type, why):
    """Judged by the bytes, not the name or the client's content type; the report counts all the same."""
    _, token = entrance_bin
    reply = scan(phone_of(console_app), token, photo=(body, name, client_type))
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "1 次报告" in text
    assert "照片没有保存" in text and why in text
    assert stored_photos(services) == [] and report_count(services) == 1
    assert not (Path(settings.data_dir) / "bin-photos").exists() or not any((Path(settings.data_dir) /
                                                                             "bin-photos").iterdir())


@with_bins(photo_max_mb=1)
def test_a_photo_over_the_limit_is_dropped_and_the_report_kept(console_app, services, entrance_bin):
    """`[bins] photo_max_mb`: one byte over is refused with the limit named; the report counts."""
    _, token = entrance_bin
    big = JPEG[:3] + b"\x00" * (1024 * 1024 - 2)
    reply = scan(phone_of(console_app), token, photo=(big, "big.jpg", "image/jpeg"))
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "太大了（最多 1 MB）" in text and "1 次报告" in text
    assert stored_photos(services) == [] and report_count(services) == 1
    just_fits = JPEG[:3] + b"\x00" * (1024 * 1024 - 3)
    assert "照片已收到" in scan(phone_of(console_app, "10.0.0.2"), token,
                              photo=(just_fits, "ok.jpg", "image/jpeg")).get_data(as_text=True)


def test_a_body_over_the_servers_limit_gets_a_plain_page_not_a_crash(console_app, services, entrance_bin):
    """Over MAX_CONTENT_LENGTH nothing of the form can be read: a 413 page says so in plain words (and links back)."""
    _, token = entrance_bin
    limit = console_app.config["MAX_CONTENT_LENGTH"]
    assert limit and limit <= 16 * 1024 * 1024
    phone = phone_of(console_app)
    page = phone.get(f"/q/{token}").get_data(as_text=True)
    csrf = CSRF_RE.search(page).group(1)
    huge = JPEG[:3] + b"\x00" * limit
    reply = post_multipart(phone, f"/q/{token}", {"csrf_token": csrf, "kind": "full"},
                           (huge, "huge.jpg", "image/jpeg"))
    text = reply.get_data(as_text=True)
    assert reply.status_code == 413 and "照片太大了" in text and "没有发出去" in text and f"/q/{token}" in text
    assert report_count(services) == 0


@with_bins(photos_per_request=2)
def test_photos_per_request_are_capped_and_the_scan_still_counts(console_app, services, world, clock, entrance_bin):
    """The third photo on one open request is refused (the limit named), the third report counted; once the bin is
    emptied the next request may have photos again."""
    bin_id, token = entrance_bin
    for n in range(2):
        assert "照片已收到" in scan(phone_of(console_app, f"10.0.0.{n}"), token,
                                  photo=(JPEG, "a.jpg", "image/jpeg")).get_data(as_text=True)
    third = scan(phone_of(console_app, "10.0.0.9"), token, photo=(JPEG, "a.jpg", "image/jpeg")).get_data(as_text=True)
    assert "已经有 2 张照片了" in third and "3 次报告" in third
    assert len(stored_photos(services)) == 2 and report_count(services) == 3
    with transaction(services.session_factory) as s:
        bin_service.empty_bin(s, now=clock.now(), actor=s.merge(world.users["grid_a"]), bin_id=bin_id)
    clock.advance(hours=2)
    again = scan(phone_of(console_app, "10.0.0.10"), token, photo=(JPEG, "a.jpg", "image/jpeg"))
    assert "照片已收到" in again.get_data(as_text=True) and len(stored_photos(services)) == 3


@with_bins(photos_per_request=0)
def test_photos_can_be_turned_off(console_app, services, entrance_bin):
    """0 photos per request: no camera field, and a posted photo is ignored without a word."""
    _, token = entrance_bin
    phone = phone_of(console_app)
    assert 'type="file"' not in phone.get(f"/q/{token}").get_data(as_text=True)
    reply = scan(phone, token, photo=(JPEG, "a.jpg", "image/jpeg"))
    assert reply.status_code == 200 and "照片" not in reply.get_data(as_text=True)
    assert stored_photos(services) == [] and report_count(services) == 1


def test_staff_see_photos_on_the_request_the_bin_page_and_the_route(console_app, services, world, entrance_bin):
    """The request page, the bin's page and the cleaner's route show each photo as a thumbnail linking to it."""
    bin_id, token = entrance_bin
    scan(phone_of(console_app), token, photo=(JPEG, "a.jpg", "image/jpeg"))
    photo = stored_photos(services)[0]
    url = f"/console/bins/photos/{photo.id}"
    web = console_app.test_client()
    login_as(web, world.users["grid_a"])
    for page in (f"/console/requests/{photo.request_id}", f"/console/bins/{bin_id}", "/console/bins/route"):
        reply = web.get(page)
        assert reply.status_code == 200, page
        assert f'src="{url}"' in reply.get_data(as_text=True), page
    served = web.get(url)
    assert served.status_code == 200 and served.data == JPEG and served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert "private" in served.headers["Cache-Control"]


def test_the_photo_address_refuses_strangers_and_other_scopes(console_app, services, world, entrance_bin):
    """No login: sent to sign in, no bytes. A caregiver: forbidden. The other 小院's 院长: not found. The 小院's
    own 院长, the village and the bin's cleaner: the photo."""
    _, token = entrance_bin
    scan(phone_of(console_app), token, photo=(JPEG, "a.jpg", "image/jpeg"))
    url = f"/console/bins/photos/{stored_photos(services)[0].id}"
    stranger = phone_of(console_app, "10.0.0.77")
    refused = stranger.get(url)
    assert refused.status_code in (302, 401) and JPEG not in refused.data
    if refused.status_code == 302:
        assert "/console/login" in refused.headers["Location"]
    for name, status in (("carer_a", 403), ("head_b", 404), ("head_a", 200), ("village_a", 200), ("grid_a", 200),
                         ("admin", 200)):
        web = console_app.test_client()
        login_as(web, world.users[name])
        reply = web.get(url)
        assert reply.status_code == status, name
        assert (JPEG in reply.data) == (status == 200), name


def test_path_tricks_on_the_photo_address_find_nothing(console_app, services, settings, world, entrance_bin):
    """Only an id reaches a photo; ids past 2^31, names and dot-dot paths are not found, and a row whose stored path
    was tampered with to point outside the photo folder serves nothing (410), never the file it names."""
    _, token = entrance_bin
    scan(phone_of(console_app), token, photo=(JPEG, "a.jpg", "image/jpeg"))
    photo = stored_photos(services)[0]
    secret = Path(settings.data_dir) / "secret_key"
    secret.write_text("do-not-serve")
    web = console_app.test_client()
    login_as(web, world.users["admin"])
    for path in ("/console/bins/photos/..%2Fsecret_key", "/console/bins/photos/../../secret_key",
                 "/console/bins/photos/%2e%2e%2fsecret_key", "/console/bins/photos/2147483648",
                 "/console/bins/photos/-1", f"/console/bins/photos/{photo.file}", "/console/bins/photos/1.jpg"):
        reply = web.get(path)
        assert reply.status_code == 404 and b"do-not-serve" not in reply.data, path
    for tampered in ("../secret_key", "bin-photos/../secret_key", "/etc/passwd", "bin-photos/" + "0" * 32 + ".html"):
        with transaction(services.session_factory) as s:
            s.get(BinPhoto, photo.id).file = tampered
        reply = web.get(f"/console/bins/photos/{photo.id}")
        assert reply.status_code == 410 and b"do-not-serve" not in reply.data, tampered


def test_retention_deletes_old_photos_and_their_files(console_app, services, settings, clock, entrance_bin):
    """`[privacy] bin_photos_days`: older photos go, rows and files, in the nightly retention job; newer ones stay."""
    from core.privacy.records import retention_job

    _, token = entrance_bin
    scan(phone_of(console_app), token, photo=(JPEG, "old.jpg", "image/jpeg"))
    clock.advance(days=settings.privacy.bin_photos_days - 1)
    scan(phone_of(console_app, "10.0.0.2"), token, photo=(tiny_png(), "new.png", "image/png"))
    old, new = stored_photos(services)
    clock.advance(days=1, minutes=1)
    deleted = retention_job(services)
    assert deleted["bin_photo"] == 1 and deleted["bin_photo_files"] == 1
    assert [p.id for p in stored_photos(services)] == [new.id]
    assert not (Path(settings.data_dir) / old.file).exists() and (Path(settings.data_dir) / new.file).exists()
    assert report_count(services) == 2, "the reports themselves stay (they feed the reports' counts)"


def test_a_failed_report_leaves_no_photo_file_behind(services, settings, clock, entrance_bin, monkeypatch):
    """When the report's transaction fails after the photo was written, the file goes too (no orphans)."""
    from core.community import bin_photos

    _, token = entrance_bin

    def row_fails(**values):
        raise RuntimeError("database went away")

    monkeypatch.setattr(bin_service, "BinPhoto", row_fails)  # the file is written, its row is not
    with pytest.raises(RuntimeError):
        bin_service.report_bin(services.session_factory, now=clock.now(), token=token, kind="full", client="t",
                               due_hours=services.settings.requests.due_hours, photo=JPEG,
                               photo_rules=bin_photos.PhotoRules.from_settings(settings))
    folder = Path(settings.data_dir) / "bin-photos"
    assert not folder.exists() or list(folder.iterdir()) == []
    assert report_count(services) == 0


def test_photo_rules_follow_the_settings():
    """`[bins] photo_max_mb` and `photos_per_request` reach the rules; a limit above what the server reads is a
    configuration error."""
    from core.community.bin_photos import MB, PhotoRules
    from core.settings import SettingsError

    rules = PhotoRules.from_settings(load_settings(environ={"XIAOYUAN_BINS_PHOTO_MAX_MB": "3",
                                                            "XIAOYUAN_BINS_PHOTOS_PER_REQUEST": "2"}))
    assert (rules.max_bytes, rules.per_request) == (3 * MB, 2)
    with pytest.raises(SettingsError):
        load_settings(environ={"XIAOYUAN_BINS_PHOTO_MAX_MB": "16"})


def test_the_bin_page_shows_its_open_report_and_empties_back_to_itself(console_app, services, world, clock,
                                                                       entrance_bin):
    """垃圾桶 → a bin: its scans (time and kind) and photos, 已清运 that comes back to the page, recent requests; the
    other 小院's 院长 does not find it."""
    from tests.integration.console.conftest import post_form

    bin_id, token = entrance_bin
    scan(phone_of(console_app), token, photo=(JPEG, "a.jpg", "image/jpeg"))
    clock.advance(minutes=7)
    scan(phone_of(console_app, "10.0.0.2"), token, "smell")
    web = console_app.test_client()
    login_as(web, world.users["head_a"])
    assert f'href="/console/bins/{bin_id}"' in web.get("/console/bins").get_data(as_text=True)
    page = web.get(f"/console/bins/{bin_id}").get_data(as_text=True)
    assert "村口一号桶" in page and "2 次报告" in page and "满了" in page and "有异味" in page
    assert page.count('<img src="/console/bins/photos/') == 1
    done = post_form(web, f"/console/bins/{bin_id}/emptied", {"back": "bin"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/console/bins/{bin_id}")
    after = web.get(f"/console/bins/{bin_id}").get_data(as_text=True)
    assert "现在没有待清运的报告" in after and "已解决" in after
    other = console_app.test_client()
    login_as(other, world.users["head_b"])
    assert other.get(f"/console/bins/{bin_id}").status_code == 404
