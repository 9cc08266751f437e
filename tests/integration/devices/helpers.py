"""Shared helpers for the wristband integration tests."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from core.bands.registry import add_band
from core.db import transaction
from core.models.alerts import Alert
from core.models.outbox import OutboxMessage
from devices.ingest import Inbound
from tests.factories import build_world

ROOT = "xiaoyuan/v1"


def seed(services, *, site: str = "hut1", device_id: str = "864001"):
    """The test world plus one band on 王奶奶 (lives alone); returns (world, band id, secret)."""
    with transaction(services.session_factory) as s:
        world = build_world(s, services.clock.now())
        band, secret = add_band(s, now=services.clock.now(), device_id=device_id, site=site,
                                resident_id=world.residents[0].id)
    return world, band.id, secret


def msg(kind: str, payload, *, device_id: str = "864001", site: str = "hut1", qos: int = 0, mid: int = 0) -> Inbound:
    """An inbound message as the listener's network thread would queue it."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Inbound(f"{ROOT}/{site}/band/{device_id}/{kind}", raw, qos, mid)


def ts(when: dt.datetime) -> float:
    return when.timestamp()


def alerts(services) -> list[Alert]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(Alert).order_by(Alert.id)))


def outbox(services, **filters) -> list[OutboxMessage]:
    with services.session_factory() as s:
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in filters.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list(s.scalars(query))
