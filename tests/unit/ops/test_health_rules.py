"""The /healthz rules: 200 only when a listener hears itself through the broker, the lease holder's dispatcher turns
and the database answers; otherwise each failing part is named."""

from __future__ import annotations

import datetime as dt

from core.health import assess
from core.models.processes import ProcessStatus

NOW = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
HOLDER = "w1@host:42:abc123"


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).isoformat()


def listener_row(name: str = "host:1", *, reported_s: float = 1, connected: bool = True, subscribed: bool = True,
                 heartbeat_s: float | None = 5) -> ProcessStatus:
    state = {"connected": connected, "subscribed": subscribed, "last_message_at": None,
             "last_heartbeat_at": None if heartbeat_s is None else ago(heartbeat_s)}
    return ProcessStatus(name=name, role="listener", started_at=NOW,
                         heartbeat_at=NOW - dt.timedelta(seconds=reported_s), state={"listener": state}, counters={})


def worker_row(name: str = "host:42", *, holder: str = HOLDER, reported_s: float = 1, active: bool = True,
               loop_s: float | None = 1) -> ProcessStatus:
    state = {"holder": holder, "active": active, "dispatcher_loop_at": None if loop_s is None else ago(loop_s)}
    return ProcessStatus(name=name, role="worker", started_at=NOW,
                         heartbeat_at=NOW - dt.timedelta(seconds=reported_s), state={"worker": state}, counters={})


def test_everything_running_is_healthy():
    health = assess([listener_row(), worker_row()], HOLDER, NOW)
    assert health.ok and health.checks == {"database": "ok", "listener": "ok", "worker": "ok"}
    assert health.body()["status"] == "ok"


def test_a_disconnected_listener_fails_and_is_named():
    health = assess([listener_row(connected=False), worker_row()], HOLDER, NOW)
    assert not health.ok
    assert health.problems == {"listener": "listener host:1: not connected to the broker"}


def test_connected_but_not_subscribed_fails():
    health = assess([listener_row(subscribed=False), worker_row()], HOLDER, NOW)
    assert health.problems["listener"].endswith("connected but not subscribed (no SUBACK)")


def test_heartbeat_must_have_come_back_within_30_seconds():
    assert assess([listener_row(heartbeat_s=29), worker_row()], HOLDER, NOW).ok
    health = assess([listener_row(heartbeat_s=31), worker_row()], HOLDER, NOW)
    assert "heartbeat last came back through the broker 31 s ago" in health.problems["listener"]
    never = assess([listener_row(heartbeat_s=None), worker_row()], HOLDER, NOW)
    assert "has not come back" in never.problems["listener"]


def test_a_listener_that_stopped_reporting_is_not_believed():
    health = assess([listener_row(reported_s=20), worker_row()], HOLDER, NOW)
    assert health.problems["listener"] == "no listener process has reported in the last 15 s"


def test_no_listener_at_all_fails():
    assert assess([worker_row()], HOLDER, NOW).problems["listener"] == "no listener process is running"


def test_one_healthy_listener_of_two_is_enough():
    rows = [listener_row("a:1", connected=False), listener_row("b:2"), worker_row()]
    assert assess(rows, HOLDER, NOW).ok


def test_nobody_holding_the_lease_fails():
    assert assess([listener_row(), worker_row()], None, NOW).problems["worker"] == "no worker holds the lease"


def test_a_lease_holder_that_does_not_report_fails():
    health = assess([listener_row(), worker_row(reported_s=40)], HOLDER, NOW)
    assert health.problems["worker"] == f"the lease is held by {HOLDER}, which is not reporting"


def test_a_standby_does_not_stand_in_for_the_holder():
    health = assess([listener_row(), worker_row(holder="w2@host:43:def456", active=False)], HOLDER, NOW)
    assert "not reporting" in health.problems["worker"]


def test_a_stalled_dispatcher_loop_fails():
    health = assess([listener_row(), worker_row(loop_s=45)], HOLDER, NOW)
    assert health.problems["worker"] == f"worker {HOLDER}: the outbox dispatcher loop last ran 45 s ago"
    assert "has not run yet" in assess([listener_row(), worker_row(loop_s=None)], HOLDER, NOW).problems["worker"]


def test_the_body_lists_every_process_with_its_state():
    body = assess([listener_row(), worker_row(reported_s=40)], HOLDER, NOW).body()
    assert body["status"] == "failing"
    assert [(p["name"], p["reporting"]) for p in body["processes"]] == [("host:1", True), ("host:42", False)]


def gateway_row(*, reported_s: float = 1, listening: bool = True, mqtt_connected: bool = True) -> ProcessStatus:
    state = {"listening": listening, "port": 5093, "mqtt_connected": mqtt_connected, "watches_connected": 3}
    return ProcessStatus(name="host:77", role="gateway", started_at=NOW,
                         heartbeat_at=NOW - dt.timedelta(seconds=reported_s), state={"gateway": state}, counters={})


def test_the_watch_gateway_is_judged_once_one_runs():
    assert "gateway" not in assess([listener_row(), worker_row()], HOLDER, NOW).checks  # none configured
    health = assess([listener_row(), worker_row(), gateway_row()], HOLDER, NOW)
    assert health.ok and health.checks["gateway"] == "ok"
    cut_off = assess([listener_row(), worker_row(), gateway_row(mqtt_connected=False)], HOLDER, NOW)
    assert cut_off.problems == {"gateway": "gateway host:77: not connected to the broker"}
    gone = assess([listener_row(), worker_row(), gateway_row(reported_s=60)], HOLDER, NOW)
    assert "no watch gateway has reported" in gone.problems["gateway"]
