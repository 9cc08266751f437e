"""Alert calls that end unanswered move the alert on at once; two at a time; the town last; all-clear; silent→urgent.

Issue 10 §3 (bullet 3) and issue 16 item 5, against a real database with the fake clock: nothing here
waits for a level timeout unless the rule is about the timeout.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import sqlalchemy as sa

from core.bands.alerts import raise_alert, resolve_alert
from core.bands.escalation import EscalationConfig, sweep_alerts
from core.bands.registry import add_band
from core.db import transaction
from core.models.alerts import Alert
from core.models.outbox import OutboxMessage
from core.notify.dispatcher import Dispatcher
from core.phone.confirmations import confirm
from core.phone.progress import confirmation_call_progress
from core.settings import load_settings
from tests.integration.devices.helpers import alerts, outbox, seed
from tests.integration.notify.conftest import ScriptedChannel


def _raise(services, *, resident_id=None, band_id=None, alert_type="sos", severity="critical"):
    with transaction(services.session_factory) as s:
        alert, _ = raise_alert(s, now=services.clock.now(), config=EscalationConfig.from_settings(services.settings),
                               alert_type=alert_type, severity=severity, resident_id=resident_id, band_id=band_id,
                               device_id=None)
    return alert.id


def _called(services, alert_id) -> list[str]:
    return [m.recipient_name for m in outbox(services, subject_id=alert_id, subject_type="alert",
                                             channel="voice_call")]


def _call_to(services, alert_id, name) -> OutboxMessage:
    return next(m for m in outbox(services, subject_id=alert_id, subject_type="alert", channel="voice_call")
                if m.recipient_name == name)


def _messaged(services, alert_id, template="alert.alert") -> list[str]:
    return [m.recipient_name for m in outbox(services, subject_id=alert_id, subject_type="alert", template=template)
            if m.channel != "voice_call"]


@pytest.mark.parametrize(("status", "answered_by"), [
    ("no-answer", ""), ("busy", ""), ("failed", ""), ("canceled", ""), ("completed", ""),
    ("in-progress", "machine_start"), ("completed", "machine_end_beep"),
])
def test_an_unanswered_call_moves_to_the_next_level_at_once(services, clock, status, answered_by):
    """No answer, busy, failed, canceled, a machine, or a call that ended without 1: the next level is
    called on the status report itself, not 2 minutes later (the clock does not move)."""
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    assert _called(services, alert_id) == ["王小明"]
    confirmation_call_progress(services, _call_to(services, alert_id, "王小明").id, status, answered_by)
    assert _called(services, alert_id) == ["王小明", "李院长"]
    new_call = _call_to(services, alert_id, "李院长")
    # Due now and critical: the dispatcher is woken by its commit and places it at once.
    assert (new_call.next_attempt_at, new_call.priority) == (clock.now(), 0)
    alert = alerts(services)[0]
    assert alert.level == 2 and alert.next_escalation_at == clock.now() + dt.timedelta(minutes=2)


def test_progress_that_is_not_an_end_and_repeated_reports_change_nothing(services, clock):
    """Ringing and answered (by a person) wait for the keypress; a repeated or late report of an earlier
    level's call never skips a level."""
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    son = _call_to(services, alert_id, "王小明").id
    for status in ("queued", "ringing", "in-progress"):
        confirmation_call_progress(services, son, status)
    assert _called(services, alert_id) == ["王小明"]
    confirmation_call_progress(services, son, "no-answer")
    confirmation_call_progress(services, son, "no-answer")
    confirmation_call_progress(services, son, "completed")
    assert _called(services, alert_id) == ["王小明", "李院长"]


def test_the_level_timeout_covers_a_report_that_never_comes(services, clock):
    """No status callback at all: the level's timeout (2 minutes for critical) still moves the alert on."""
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    clock.advance(seconds=119)
    sweep_alerts(services)
    assert _called(services, alert_id) == ["王小明"]
    clock.advance(seconds=1)
    sweep_alerts(services)
    assert _called(services, alert_id) == ["王小明", "李院长"]


def test_an_acknowledged_alert_does_not_move_when_a_call_ends(services, clock):
    """Once someone pressed 1, the end of the other calls tells nobody new."""
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    son = _call_to(services, alert_id, "王小明")
    with transaction(services.session_factory) as s:
        confirm(s, now=clock.now(), message=s.get(OutboxMessage, son.id), digits="1")
    confirmation_call_progress(services, son.id, "completed")
    assert _called(services, alert_id) == ["王小明"]


@pytest.fixture
def two_at_once(tmp_path, session_factory, clock):
    """Services whose critical alerts ring two chain members at once."""
    from core.container import Services

    settings = load_settings(environ={}, overrides={
        "data": {"dir": str(tmp_path / "var")},
        "devices": {"escalation": {"critical": {"ring_at_once": 2}}},
    })
    return Services(settings=settings, session_factory=session_factory, clock=clock)


def test_critical_alerts_can_ring_two_people_and_the_first_1_hangs_up_the_other(two_at_once, clock):
    """ring_at_once = 2: the son and the 院长 ring together; the 院长 presses 1, the son's call is hung up,
    and the son, pressing 1 a moment later, hears that the 院长 has it."""
    services = two_at_once
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    assert sorted(_called(services, alert_id)) == ["李院长", "王小明"]
    calls = ScriptedChannel("voice_call")
    hangups = ScriptedChannel("call_hangup")
    dispatcher = Dispatcher(services, channels={"voice_call": calls, "call_hangup": hangups,
                                                "dryrun": ScriptedChannel("dryrun")}, concurrency=1)
    try:
        dispatcher.run_once()
        head = _call_to(services, alert_id, "李院长")
        son = _call_to(services, alert_id, "王小明")
        # Both calls were placed (the fake provider answered with call ids); the 院长 presses 1 on that call.
        with transaction(services.session_factory) as s:
            reply = confirm(s, now=clock.now(), message=s.get(OutboxMessage, head.id), digits="1")
        assert "确认" in reply
        dispatcher.run_once()
    finally:
        dispatcher.close()
    assert [m.params["call_id"] for m in hangups.sent] == [f"ref-{son.id}"]
    with transaction(services.session_factory) as s:
        late = confirm(s, now=clock.now(), message=s.get(OutboxMessage, son.id), digits="1")
    assert late.startswith("李院长已确认这条告警")
    assert alerts(services)[0].acknowledged_by == "李院长"


def test_with_two_ringing_one_unanswered_call_waits_for_the_other(two_at_once, clock):
    """The level moves on only when both calls of it ended unanswered."""
    services = two_at_once
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    confirmation_call_progress(services, _call_to(services, alert_id, "王小明").id, "busy")
    assert sorted(_called(services, alert_id)) == ["李院长", "王小明"]
    confirmation_call_progress(services, _call_to(services, alert_id, "李院长").id, "no-answer")
    assert _called(services, alert_id)[-1] == "赵医生"


def test_the_town_centre_is_the_last_level(services, clock):
    """Son, 院长, doctor, village: nobody answers any call; then the town 指挥中心 is called, last."""
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    for name in ("王小明", "李院长", "赵医生", "village_a"):
        confirmation_call_progress(services, _call_to(services, alert_id, name).id, "no-answer")
    assert _called(services, alert_id) == ["王小明", "李院长", "赵医生", "village_a", "town"]
    alert = alerts(services)[0]
    assert alert.level == len(alert.plan) and [c["kind"] for c in alert.plan[-1]["contacts"]] == ["town"]


def test_a_silent_band_warning_turning_urgent_calls_the_family_too(services, clock):
    """S6: 14:15 a warning is messaged to the family; 15:00 it is urgent: the 院长 is told and the family,
    only messaged so far, is now called as well."""
    world, _, _ = seed(services)
    resident_id = world.residents[0].id
    alert_id = _raise(services, resident_id=resident_id, alert_type="silent", severity="warning")
    assert (_messaged(services, alert_id), _called(services, alert_id)) == (["王小明"], [])
    clock.advance(minutes=45)
    again = _raise(services, resident_id=resident_id, alert_type="silent", severity="urgent")
    assert again == alert_id
    assert sorted(_called(services, alert_id)) == ["李院长", "王小明"]
    assert "李院长" in _messaged(services, alert_id)


def test_everyone_told_gets_the_all_clear_on_resolve(services, clock):
    """The doctor resolves the alert: the son and the 院长, who were told, hear it is dealt with; the doctor
    (who resolved it) gets no message about it."""
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    for name in ("王小明", "李院长"):
        confirmation_call_progress(services, _call_to(services, alert_id, name).id, "no-answer")
    with transaction(services.session_factory) as s:
        resolve_alert(s, now=clock.now(), alert_id=alert_id, note="已上门，无大碍", by="赵医生")
    resolved = outbox(services, subject_id=alert_id, template="alert.resolved")
    assert sorted(m.recipient_name for m in resolved) == ["李院长", "王小明"]
    assert all("已处理" in m.text and "赵医生" in m.text for m in resolved)


def test_an_sos_from_a_band_given_to_nobody_goes_to_its_villages_staff(services, clock, caplog):
    """Issue 16 item 5: a band of site hut1 (whose worn bands are in 高瓷村) with no resident: its SOS calls
    高瓷村's cadre and grid worker, then the town; the log says whose band it is, not "every level was told"."""
    world, _, _ = seed(services)
    with transaction(services.session_factory) as s:
        band, _ = add_band(s, now=clock.now(), device_id="864099", site="hut1")
    caplog.set_level(logging.INFO, logger="core.bands")
    alert_id = _raise(services, band_id=band.id)
    alert = alerts(services)[0]
    assert (alert.village_id, alert.town_id) == (world.villages[0].id, world.town.id)
    assert sorted(_called(services, alert_id)) == ["grid_a", "village_a"]
    assert "given to no resident" in caplog.text and "every level" not in caplog.text
    for name in ("grid_a", "village_a"):
        confirmation_call_progress(services, _call_to(services, alert_id, name).id, "no-answer")
    assert _called(services, alert_id)[-1] == "town"


def test_an_unassigned_band_whose_village_is_unknown_goes_to_the_town(services, clock):
    """A new site with no worn band in a two-village town: the town centre takes the alarm."""
    world, _, _ = seed(services)
    with transaction(services.session_factory) as s:
        band, _ = add_band(s, now=clock.now(), device_id="864098", site="newsite")
    alert_id = _raise(services, band_id=band.id)
    assert _called(services, alert_id) == ["town"]


def test_registering_a_band_without_a_resident_warns(services, clock, caplog):
    """Whoever registers a band for nobody is told where its alarms will go."""
    seed(services)
    caplog.set_level(logging.WARNING, logger="core.bands")
    with transaction(services.session_factory) as s:
        add_band(s, now=clock.now(), device_id="864097", site="hut1")
    assert "not given to a resident" in caplog.text


def test_nobody_to_tell_is_logged_as_such(services, clock, caplog):
    """With no staff and no town centre at all, the log says nobody was told (not that everyone was)."""
    from core.models.staff import User

    world, _, _ = seed(services)
    with transaction(services.session_factory) as s:
        s.execute(sa.update(User).values(active=False))
        band, _ = add_band(s, now=clock.now(), device_id="864096", site="newsite")
    caplog.set_level(logging.INFO, logger="core.bands")
    _raise(services, band_id=band.id)
    assert "NOBODY was told" in caplog.text and "every level" not in caplog.text
    with services.session_factory() as s:
        assert s.scalar(sa.select(Alert.exhausted))


def test_band_add_without_a_resident_tells_the_operator_where_its_alarms_go(services, db_url, tmp_path):
    """`xiaoyuan band add` for nobody prints, in Chinese and English, who its alarms will reach."""
    from click.testing import CliRunner

    from xiaoyuan.cli import _load_command_modules, cli

    seed(services)
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url}
    _load_command_modules()
    result = CliRunner().invoke(cli, ["band", "add", "--device-id", "864095", "--site", "hut1"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "手环864095没有登记给居民，它的报警会发给高瓷村的村干部和网格员" in result.output
    assert "band 864095 is given to no resident" in result.output
    assigned = CliRunner().invoke(cli, ["band", "add", "--device-id", "864094", "--site", "hut1", "--resident", "1"],
                                  env=env, catch_exceptions=False)
    assert assigned.exit_code == 0 and "没有登记给居民" not in assigned.output


def test_a_call_placed_while_someone_took_the_alert_is_hung_up(services, clock):
    """The son acknowledges by SMS while the dispatcher is dialling the 院长: the 院长's row was cancelled
    under the dispatcher's feet, so the call it just placed is hung up instead of ringing on."""
    world, _, _ = seed(services)
    alert_id = _raise(services, resident_id=world.residents[0].id)
    confirmation_call_progress(services, _call_to(services, alert_id, "王小明").id, "no-answer")
    head = _call_to(services, alert_id, "李院长")

    class AckWhileDialling(ScriptedChannel):
        def send(self, message):
            if message.id == head.id:
                with transaction(services.session_factory) as s:
                    confirm(s, now=clock.now(), message=s.get(OutboxMessage, _call_to(services, alert_id, "王小明").id),
                            digits="1")
            return super().send(message)

    hangups = ScriptedChannel("call_hangup")
    dispatcher = Dispatcher(services, channels={"voice_call": AckWhileDialling("voice_call"), "call_hangup": hangups,
                                                "dryrun": ScriptedChannel("dryrun")}, concurrency=1)
    try:
        dispatcher.run_once()
        dispatcher.run_once()
    finally:
        dispatcher.close()
    assert alerts(services)[0].status == "acknowledged"
    assert [m.params["call_id"] for m in hangups.sent] == [f"ref-{head.id}"]
