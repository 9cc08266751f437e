"""The caregiver console for wristband alerts: the live board, acknowledge / resolve, role scope, the JSON
endpoint behind the board's polling, and the vitals sparklines drawn from stored readings."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.bands.escalation import sweep_alerts
from core.db import transaction
from core.models.alerts import Alert
from core.models.audit import AuditEntry
from devices.ingest import Ingestor
from tests.factories import PASSWORD
from tests.integration.console.conftest import csrf_token, post_form
from tests.integration.devices.helpers import alerts, msg, outbox, seed, ts


def sign_in(client, username: str) -> None:
    """Sign in through the console's login form, CSRF token and all."""
    token = csrf_token(client, "/console/login")
    response = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def sos(services, clock, *, seq: int = 1, device_id: str = "864001", **extra) -> Alert:
    """An SOS from the band, through the same ingest path the listener uses; returns the alert."""
    Ingestor(services).process([msg("event", {"ts": ts(clock.now()), "seq": seq, "type": "sos", **extra},
                                    device_id=device_id, qos=1)])
    return [a for a in alerts(services) if a.type == "sos"][-1]


def voice_calls(services, alert_id: int) -> list[str]:
    return [m.recipient_name for m in outbox(services, subject_id=alert_id, channel="voice_call")]


def board_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-alert-id="(\d+)"', page)]


def test_the_board_shows_an_open_sos_with_resident_local_time_and_location(client, services, clock):
    world, _, _ = seed(services)
    alert = sos(services, clock, lat=29.56301, lon=106.55156)
    sign_in(client, "head_a")
    page = client.get("/console/alerts").get_data(as_text=True)
    assert board_ids(page) == [alert.id]
    card = page[page.index(f'id="alert-{alert.id}"'):]
    assert "紧急" in card and "求救" in card and world.residents[0].name in card
    assert "11-26 09:00" in card  # 01:00 UTC shown in Asia/Shanghai
    assert "29.56301, 106.55156" in card
    assert f'action="/console/alerts/{alert.id}/acknowledge"' in card and 'name="csrf_token"' in card


def test_acknowledge_from_the_console_stops_the_chain_and_resolve_closes_it(client, services, clock):
    world, _, _ = seed(services)
    alert = sos(services, clock)
    assert voice_calls(services, alert.id) == ["王小明"]
    sign_in(client, "head_a")
    response = post_form(client, f"/console/alerts/{alert.id}/acknowledge", {"next": "/console/alerts"})
    assert response.status_code == 302 and response.headers["Location"] == "/console/alerts"
    (acked,) = alerts(services)
    assert (acked.status, acked.acknowledged_via, acked.ack_user_id) == (
        "acknowledged", "console", world.users["head_a"].id)
    clock.advance(minutes=10)  # five critical levels' worth of time
    sweep_alerts(services)
    assert voice_calls(services, alert.id) == ["王小明"]  # nobody else was called
    # The son, who was told, hears that the 院长 took it.
    assert [m.recipient_name for m in outbox(services, subject_id=alert.id, template="alert.acknowledged")] == [
        "王小明"]

    refused = post_form(client, f"/console/alerts/{alert.id}/resolve", {"note": "  "}, follow_redirects=True)
    assert "请写明处理情况" in refused.get_data(as_text=True)
    assert alerts(services)[0].status == "acknowledged"
    post_form(client, f"/console/alerts/{alert.id}/resolve", {"note": "已上门查看，老人摔了一跤，无大碍"})
    (resolved,) = alerts(services)
    assert (resolved.status, resolved.open_key, resolved.resolved_by) == ("resolved", None, "李院长")
    assert resolved.resolution_note == "已上门查看，老人摔了一跤，无大碍"
    clock.advance(hours=2)  # past the ack timeout: a resolved alert is never raised again
    sweep_alerts(services)
    assert voice_calls(services, alert.id) == ["王小明"]
    assert board_ids(client.get("/console/alerts").get_data(as_text=True)) == []
    history = client.get("/console/alerts/history?status=resolved").get_data(as_text=True)
    assert f'id="history-{alert.id}"' in history and "无大碍" in history
    with services.session_factory() as s:
        actions = set(s.scalars(sa.select(AuditEntry.action).where(AuditEntry.entity_type == "alert")))
    assert actions == {"alert.acknowledge", "alert.resolve"}


def test_a_head_of_another_courtyard_gets_404_for_the_alert_and_the_vitals(client, services, clock):
    world, _, _ = seed(services)
    alert = sos(services, clock)
    resident_id = world.residents[0].id
    sign_in(client, "head_b")
    assert client.get(f"/console/alerts/{alert.id}").status_code == 404
    assert client.get(f"/console/vitals/{resident_id}").status_code == 404
    assert post_form(client, f"/console/alerts/{alert.id}/acknowledge").status_code == 404
    assert post_form(client, f"/console/alerts/{alert.id}/resolve", {"note": "不是我的"}).status_code == 404
    assert alerts(services)[0].status == "notified"
    assert board_ids(client.get("/console/alerts").get_data(as_text=True)) == []
    assert client.get("/console/alerts/live.json").get_json()["alerts"] == []
    assert f'id="history-{alert.id}"' not in client.get("/console/alerts/history").get_data(as_text=True)
    assert "864001" not in client.get("/console/wall").get_data(as_text=True)
    # Her own 院长 and the son (a caregiver of this resident only) do see it.
    client.post("/console/logout", data={"csrf_token": csrf_token(client)})
    sign_in(client, "carer_a")
    assert client.get(f"/console/alerts/{alert.id}").status_code == 200
    assert client.get(f"/console/vitals/{resident_id}").status_code == 200
    assert client.get(f"/console/vitals/{world.residents[1].id}").status_code == 404


def test_the_json_endpoint_lists_what_the_board_shows(client, services, clock):
    from core.bands.registry import add_band

    world, _, _ = seed(services)
    with transaction(services.session_factory) as s:
        add_band(s, now=clock.now(), device_id="864002", site="hut1", resident_id=world.residents[1].id)
    first = sos(services, clock)
    clock.advance(minutes=1)
    Ingestor(services).process([msg("event", {"ts": ts(clock.now()), "seq": 1, "type": "fall"},
                                    device_id="864002", qos=1)])
    sign_in(client, "head_a")
    page = client.get("/console/alerts").get_data(as_text=True)
    data = client.get("/console/alerts/live.json").get_json()
    assert [a["id"] for a in data["alerts"]] == board_ids(page) and len(data["alerts"]) == 2
    assert f'data-version="{data["version"]}"' in page
    assert {a["resident_name"] for a in data["alerts"]} == {world.residents[0].name, world.residents[1].name}
    assert data["alerts"][-1]["id"] == first.id  # equally critical: the newest first
    # Acknowledging changes what the board shows, so the version the page polls for changes too.
    post_form(client, f"/console/alerts/{first.id}/acknowledge")
    after = client.get("/console/alerts/live.json").get_json()
    assert after["version"] != data["version"]
    assert {a["id"]: a["status"] for a in after["alerts"]}[first.id] == "acknowledged"
    partial = client.get("/console/alerts?partial=1").get_data(as_text=True)
    assert board_ids(partial) == [a["id"] for a in after["alerts"]] and "<html" not in partial


def test_sparklines_and_the_vitals_chart_draw_the_stored_readings(client, services, clock):
    world, _, _ = seed(services)
    ingest = Ingestor(services)
    ingest.process([msg("telemetry", {"ts": ts(clock.now()), "hr": 70, "spo2": 97})])  # soon older than 24 h
    clock.advance(hours=30)
    for minute in range(12):
        ingest.process([msg("telemetry", {"ts": ts(clock.now()), "hr": 70 + minute, "spo2": 96, "temp_c": 36.6})])
        clock.advance(minutes=1)
    alert = sos(services, clock)
    sign_in(client, "head_a")
    page = client.get("/console/alerts").get_data(as_text=True)
    card = page[page.index(f'id="alert-{alert.id}"'):]
    spark = re.search(r'<svg class="spark"[^>]*data-points="(\d+)".*?points="([^"]*)"', card, re.S)
    assert spark and int(spark.group(1)) == 12 and len(spark.group(2).split()) == 12
    day = client.get(f"/console/vitals/{world.residents[0].id}").get_data(as_text=True)
    hr_chart = day[day.index('id="chart-hr"'):day.index('id="chart-spo2"')]
    assert 'data-points="12"' in hr_chart and "最高 81" in hr_chart
    week = client.get(f"/console/vitals/{world.residents[0].id}?range=7d").get_data(as_text=True)
    assert 'data-points="13"' in week[week.index('id="chart-hr"'):week.index('id="chart-spo2"')]


def test_band_registry_shows_the_secret_once_and_assigns_only_within_scope(client, services, clock):
    from core.bands.registry import verify_secret
    from core.models.devices import Band

    world, band_id, _ = seed(services)
    Ingestor(services).process([msg("telemetry", {"ts": ts(clock.now()), "hr": 77, "spo2": 98, "battery": 12})])
    sign_in(client, "admin")
    added = post_form(client, "/console/bands", {"device_id": "865000", "site": "hut2",
                                                  "resident_id": str(world.residents[3].id)})
    assert added.status_code == 201
    secret = re.search(r"密码：<code>([^<]+)</code>", added.get_data(as_text=True)).group(1)
    with services.session_factory() as s:
        new_band = s.scalar(sa.select(Band).where(Band.device_id == "865000"))
    assert verify_secret(secret, new_band.mqtt_password_hash) and secret not in new_band.mqtt_password_hash
    assert secret not in client.get("/console/bands").get_data(as_text=True)  # shown once only

    client.post("/console/logout", data={"csrf_token": csrf_token(client)})
    sign_in(client, "head_a")
    listing = client.get("/console/bands").get_data(as_text=True)
    assert f'id="band-{band_id}"' in listing and f'id="band-{new_band.id}"' not in listing
    assert post_form(client, "/console/bands", {"device_id": "865001"}).status_code == 403
    assert post_form(client, f"/console/bands/{new_band.id}/assign",
                     {"resident_id": str(world.residents[0].id)}).status_code == 404
    post_form(client, f"/console/bands/{band_id}/assign", {"resident_id": str(world.residents[3].id)})
    post_form(client, f"/console/bands/{band_id}/assign", {"resident_id": str(world.residents[1].id)})
    with services.session_factory() as s:
        assert s.get(Band, band_id).resident_id == world.residents[1].id  # the out-of-scope one was refused
    wall = client.get("/console/wall").get_data(as_text=True)
    tile = wall[wall.index('data-device="864001"'):]
    assert world.residents[1].name in tile and "在线" in tile and "12%" in tile and "77" in tile


def test_the_alert_page_shows_how_each_call_ended(client, services, clock):
    """Staff see that the son did not answer, and that the 院长 was then called at once."""
    from core.phone.progress import confirmation_call_progress

    seed(services)
    alert = sos(services, clock)
    son = outbox(services, subject_id=alert.id, channel="voice_call")[0]
    confirmation_call_progress(services, son.id, "no-answer")
    assert voice_calls(services, alert.id) == ["王小明", "李院长"]
    sign_in(client, "head_a")
    page = client.get(f"/console/alerts/{alert.id}").get_data(as_text=True)
    row = page[page.index("王小明</td>"):]
    assert "没接" in row[:row.index("</tr>")]


def test_registering_a_band_for_nobody_in_the_console_says_where_its_alarms_go(client, services, clock):
    """Issue 16 item 5: the page that shows the new band's password also warns that it is given to nobody."""
    seed(services)
    sign_in(client, "admin")
    added = post_form(client, "/console/bands", {"device_id": "865002", "site": "hut1"})
    assert added.status_code == 201
    page = added.get_data(as_text=True)
    assert "手环865002没有登记给居民，它的报警会发给高瓷村的村干部和网格员" in page
    assigned = post_form(client, "/console/bands", {"device_id": "865003", "site": "hut1",
                                                     "resident_id": "2"}).get_data(as_text=True)
    assert "没有登记给居民" not in assigned


def test_the_wall_never_says_all_is_well_while_a_band_is_offline(client, services, clock):
    """With no alerts but an offline band the wall names the offline count instead of "一切正常"."""
    seed(services)  # the band has not reported yet: offline
    sign_in(client, "head_a")
    wall = client.get("/console/wall").get_data(as_text=True)
    assert "一切正常" not in wall and 'id="wall-offline"' in wall and "1只手环离线" in wall
    Ingestor(services).process([msg("telemetry", {"ts": ts(clock.now()), "hr": 72, "spo2": 98})])
    wall = client.get("/console/wall").get_data(as_text=True)
    assert 'id="wall-ok"' in wall and "一切正常" in wall and 'id="wall-offline"' not in wall


def test_band_form_keeps_what_was_typed_when_refused_and_is_empty_after_success(client, services, clock):
    world, _, _ = seed(services)
    sign_in(client, "admin")
    refused = post_form(client, "/console/bands", {"device_id": "864001", "site": "hut2", "model": "X6",
                                                    "interval_s": "120", "resident_id": str(world.residents[3].id)})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="device_id-error">这个设备号已经登记过' in page
    assert 'name="device_id" required pattern="[A-Za-z0-9_-]{2,64}" value="864001"' in page
    assert 'name="model" value="X6"' in page and 'name="interval_s" value="120"' in page
    assert f'<option value="{world.residents[3].id}" selected>' in page
    added = post_form(client, "/console/bands", {"device_id": "865009", "site": "hut2"})
    assert added.status_code == 201 and 'name="device_id" required pattern="[A-Za-z0-9_-]{2,64}" value=""' in (
        added.get_data(as_text=True))


def test_the_band_list_shows_what_a_watch_confirmed_it_holds(client, services, clock):
    from core.bands.registry import add_band
    from core.bands.watches import record_watch_ack
    from core.db import transaction

    world, _, _ = seed(services)
    with transaction(services.session_factory) as s:
        watch, _ = add_band(s, now=clock.now(), device_id="8800000015", site="hut1", protocol="watch",
                            resident_id=world.residents[0].id)
        watch_id = watch.id
    sign_in(client, "admin")
    row = re.search(rf'<tr id="band-{watch_id}">.*?</tr>', client.get("/console/bands").get_data(as_text=True), re.S)
    assert "手表还没有确认 SOS 号码" in row.group(0)
    with transaction(services.session_factory) as s:
        for command in ("SOS1,+8613800001111", "SOS2,+8613900000000"):
            record_watch_ack(s, device_id="8800000015", command=command, now=clock.now())
    row = re.search(rf'<tr id="band-{watch_id}">.*?</tr>', client.get("/console/bands").get_data(as_text=True), re.S)
    assert "手表里的 SOS 号码：+8613800001111、+8613900000000" in row.group(0)


def test_a_watch_is_registered_in_the_console_without_a_password(client, services, clock):
    from core.models.devices import Band

    world, _, _ = seed(services)
    sign_in(client, "admin")
    added = post_form(client, "/console/bands", {"device_id": "8800000016", "site": "hut1", "protocol": "watch",
                                                  "resident_id": str(world.residents[0].id)})
    assert added.status_code == 201
    page = added.get_data(as_text=True)
    assert 'id="band-secret"' not in page and "5093" in page
    with services.session_factory() as s:
        watch = s.scalar(sa.select(Band).where(Band.device_id == "8800000016"))
        assert (watch.protocol, watch.mqtt_password_hash, watch.resident_id) == ("watch", "", world.residents[0].id)
    refused = post_form(client, "/console/bands", {"device_id": "8800000017", "protocol": "lora"})
    assert refused.status_code == 422 and "未知的设备协议" in refused.get_data(as_text=True)
