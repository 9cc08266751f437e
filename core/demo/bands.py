"""Demo data for wristbands: a band for every resident living alone, and a few past alerts.

The bands are named like the simulator's (`SIM0001`, `SIM0002`, …, in resident order), each with the
MQTT site of its 小院, so `xiaoyuan band simulate --scenario sos --count 1` re-keys SIM0001 (the
simulator rotates the secret and rewrites the embedded broker's password file) and publishes under
the band's own site: the SOS arrives for a real resident of the demo village. Seeding again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.bands import alerts
from core.bands import registry as devices
from core.bands.escalation import EscalationConfig
from core.container import Services
from core.db import transaction
from core.models.alerts import Alert
from core.models.devices import Band
from core.models.places import Courtyard, Household, Resident, Village

# MQTT site names (letters, digits, - and _ only) of the demo's 小院.
SITES = {"椒香小院": "guihua-jiaoxiang", "竹林小院": "guihua-zhulin", "荷花小院": "hetang-hehua",
         "石榴小院": "hetang-shiliu"}
MODEL = "XY-W2 演示手环"


def band_id_for(index: int) -> str:
    """The device id of the n-th demo band (0-based), as `xiaoyuan band simulate` names its bands."""
    return f"SIM{index + 1:04d}"


def site_for(courtyard_name: str) -> str:
    """The MQTT site of a 小院 (a stable ASCII name; unknown places get "demo")."""
    return SITES.get(courtyard_name, "demo")


def lives_alone_residents(session: Session) -> list[Any]:
    """Residents living alone with their 小院 and village, in resident order."""
    return list(session.execute(
        sa.select(Resident, Courtyard, Village)
        .join(Household, Resident.household_id == Household.id)
        .join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(Resident.lives_alone.is_(True), Resident.erased.is_(False)).order_by(Resident.id)
    ).all())


def seed_bands(session: Session, *, now: dt.datetime) -> list[Band]:
    """Register one band per resident living alone (skipping device ids already registered)."""
    bands = []
    for index, (resident, courtyard, _village) in enumerate(lives_alone_residents(session)):
        device_id = band_id_for(index)
        existing = session.scalar(sa.select(Band).where(Band.device_id == device_id))
        if existing is not None:
            bands.append(existing)
            continue
        band, _secret = devices.add_band(  # the secret is not kept: `band simulate` re-keys the band
            session, now=now - dt.timedelta(days=45), device_id=device_id,
            site=site_for(courtyard.name), model=MODEL, interval_s=60, resident_id=resident.id)
        band.battery = 60 + (index * 7) % 40
        bands.append(band)
    session.flush()
    return bands


def seed_alerts(session: Session, *, now: dt.datetime, config: EscalationConfig, bands: list[Band]) -> int:
    """Past alerts: a resolved SOS at night with the doctor's note, a low battery that cleared itself,
    and a high heart rate the family acknowledged and resolved."""
    if len(bands) < 3:
        return 0
    sos_band, battery_band, hr_band = bands[1], bands[2], bands[3 % len(bands)]
    night = now - dt.timedelta(days=3, hours=7)
    sos, _ = alerts.raise_alert(session, now=night, config=config, alert_type="sos", severity="critical",
                                resident_id=sos_band.resident_id, band_id=sos_band.id, device_id=sos_band.device_id,
                                value={"lat": 29.35, "lon": 106.45})
    alerts.acknowledge_alert(session, now=night + dt.timedelta(minutes=2, seconds=40), alert_id=sos.id,
                             by="村医", via="call")
    alerts.resolve_alert(session, now=night + dt.timedelta(minutes=38), alert_id=sos.id, by="村医",
                         note="上门查看：老人起夜时头晕按了求救键，血压偏高，已服药休息，已告诉儿子明早回来看。")
    low = now - dt.timedelta(days=1, hours=5)
    alerts.raise_alert(session, now=low, config=config, alert_type="battery_low", severity="warning",
                       resident_id=battery_band.resident_id, band_id=battery_band.id,
                       device_id=battery_band.device_id, value={"battery": 12})
    alerts.clear_alert(session, now=low + dt.timedelta(hours=2), alert_type="battery_low",
                       resident_id=battery_band.resident_id, band_id=battery_band.id)
    fast = now - dt.timedelta(days=9, hours=3)
    hr, _ = alerts.raise_alert(session, now=fast, config=config, alert_type="hr_high", severity="urgent",
                               resident_id=hr_band.resident_id, band_id=hr_band.id, device_id=hr_band.device_id,
                               value={"hr": 132})
    alerts.acknowledge_alert(session, now=fast + dt.timedelta(minutes=4), alert_id=hr.id, by="女儿", via="sms")
    alerts.resolve_alert(session, now=fast + dt.timedelta(hours=1), alert_id=hr.id, by="女儿",
                         note="打电话问过，是爬坡回家走急了，休息后心率正常。")
    return 3


def seed_demo(services: Services) -> dict[str, int]:
    """Seed the wristband area's demo data (bands are idempotent; alerts only into an empty alert table)."""
    now = services.clock.now()
    config = EscalationConfig.from_settings(services.settings)
    with transaction(services.session_factory) as session:
        before = session.scalar(sa.select(sa.func.count(Band.id))) or 0
        bands = seed_bands(session, now=now)
        added = (session.scalar(sa.select(sa.func.count(Band.id))) or 0) - before
        seeded_alerts = 0
        if not session.scalar(sa.select(sa.func.count(Alert.id))):
            seeded_alerts = seed_alerts(session, now=now, config=config, bands=bands)
    return {"bands": added, "alerts": seeded_alerts}
