"""The gateway's MQTT publisher: an alarm counts as taken only on its own broker acknowledgement, however early
or late that arrives (paho may call on_publish before publish() has returned)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import paho.mqtt.client as mqtt

from devices.listener import Connection
from devices.watch.publisher import MqttPublisher


class FakeClient:
    """Stands in for paho: numbers messages and lets the test decide when each is acknowledged."""

    def __init__(self, publisher: MqttPublisher, *, ack_at_once: bool) -> None:
        self.publisher, self.ack_at_once = publisher, ack_at_once
        self.mid = 0
        self.sent: list[tuple[str, str, int, bool]] = []

    def publish(self, topic, payload, qos=0, retain=False):
        self.mid += 1
        self.sent.append((topic, payload, qos, retain))
        if self.ack_at_once:  # the network thread acknowledged before publish() returned
            self.publisher._on_publish(self, None, self.mid, None, None)
        return SimpleNamespace(mid=self.mid, rc=mqtt.MQTT_ERR_SUCCESS)

    def ack(self, mid: int) -> None:
        self.publisher._on_publish(self, None, mid, None, None)


def publisher(ack_at_once: bool) -> tuple[MqttPublisher, FakeClient]:
    pub = MqttPublisher(Connection("127.0.0.1", 1, "gw", "pw", 4), root="xiaoyuan/v1", client_id="gw")
    fake = FakeClient(pub, ack_at_once=ack_at_once)
    pub.client = fake
    return pub, fake


def test_an_acknowledgement_that_comes_before_publish_returns_is_not_lost():
    pub, fake = publisher(ack_at_once=True)
    taken = asyncio.run(pub.publish_event("hut1", "8800000015", {"seq": 1}, timeout=0.5))
    assert taken is True and pub._done == set() and pub._waiting == {}
    assert fake.sent[0][0] == "xiaoyuan/v1/hut1/band/8800000015/event" and fake.sent[0][2] == 1


def test_an_alarm_waits_for_its_own_acknowledgement_not_an_earlier_message_s():
    pub, fake = publisher(ack_at_once=False)

    async def scenario():
        pub.publish_json("hut1", "8800000015", "telemetry", {"ts": 1})  # mid 1
        pub.publish_status("hut1", "8800000015", True)  # mid 2
        alarm = asyncio.ensure_future(pub.publish_event("hut1", "8800000015", {"seq": 1}, timeout=5))  # mid 3
        await asyncio.sleep(0.01)
        fake.ack(1)
        fake.ack(2)
        await asyncio.sleep(0.01)
        assert not alarm.done()
        fake.ack(3)
        return await alarm

    assert asyncio.run(scenario()) is True
    assert pub._waiting == {} and pub._done == set()


def test_an_alarm_the_broker_acknowledges_too_late_times_out_and_its_late_ack_leaves_nothing_behind():
    pub, fake = publisher(ack_at_once=False)
    assert asyncio.run(pub.publish_event("hut1", "8800000015", {"seq": 1}, timeout=0.05)) is False
    assert pub._waiting == {1: None}
    fake.ack(1)  # after a reconnect paho delivers it after all
    assert pub._waiting == {} and pub._done == set()
