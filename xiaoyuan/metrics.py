"""/metrics: Prometheus gauges read from the database at scrape time, every process's status row, and counters.

Listener and worker processes have no HTTP port of their own: each writes its health state and counters
into its `process_status` row (core.health), and any web process exports them labelled with the process
name and role. This process's own counters are read live instead of from its row.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.container import Services
from core.health import age_s, is_fresh, parse_iso, process_statuses, this_process_name
from core.models.outbox import OutboxMessage
from core.models.requests import STATUSES as REQUEST_STATUSES
from core.models.requests import Request

log = logging.getLogger(__name__)
OUTBOX_STATUSES = ("pending", "sent", "not_sent", "failed")
NEVER = float("inf")  # the age of something that never happened: alerts on "age > N" fire


def own_counters(services: Services) -> dict[str, tuple[str, dict[str, float]]]:
    """This process's counters (every `counters:*` source in the services), metric -> (help, {kind: value})."""
    counters: dict[str, tuple[str, dict[str, float]]] = {}
    for name, source in sorted(services.extras.items()):
        if name.startswith("counters:") and hasattr(source, "snapshot"):
            counters.update(source.snapshot())
    return counters


class DatabaseCollector:
    """Collects request, outbox and (when present) alert figures on every scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self):
        """Yield metric families (errors are logged, never raised to the scraper)."""
        requests = GaugeMetricFamily("xiaoyuan_requests", "Requests (工单) by status", labels=["status"])
        outbox = GaugeMetricFamily("xiaoyuan_outbox_messages", "Outbox rows by status", labels=["status"])
        depth = GaugeMetricFamily("xiaoyuan_outbox_depth", "Outbox rows waiting to be sent")
        overdue = GaugeMetricFamily("xiaoyuan_requests_overdue", "Open requests past their due time")
        try:
            with self.services.session_factory() as session:
                # Every known status is exported, 0 included: a series that vanishes cannot be alerted on.
                by_request = dict.fromkeys(REQUEST_STATUSES, 0)
                by_request.update((status, count) for status, count in session.execute(
                    sa.select(Request.status, sa.func.count()).group_by(Request.status)))
                for status, count in by_request.items():
                    requests.add_metric([status], count)
                by_outbox = dict.fromkeys(OUTBOX_STATUSES, 0)
                by_outbox.update((status, count) for status, count in session.execute(
                    sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)))
                for status, count in by_outbox.items():
                    outbox.add_metric([status], count)
                depth.add_metric([], by_outbox["pending"])
                now = self.services.clock.now()
                overdue.add_metric([], session.scalar(
                    sa.select(sa.func.count()).select_from(Request).where(
                        Request.status.in_(("new", "assigned", "in_progress")), Request.due_at < now
                    )
                ) or 0)
        except Exception:
            log.exception("metrics: database unavailable")
        yield from (requests, outbox, depth, overdue)
        yield from self._sip()
        yield from self._processes()

    def _processes(self):
        """Every reporting process: up, report age, listener and worker health figures, and counters."""
        labels = ["process", "role"]
        up = GaugeMetricFamily("xiaoyuan_process_up", "The process reported its status recently", labels=labels)
        report_age = GaugeMetricFamily("xiaoyuan_process_report_age_seconds", "Seconds since the process's last "
                                       "status report", labels=labels)
        connected = GaugeMetricFamily("xiaoyuan_listener_connected", "The listener is connected to the broker",
                                      labels=labels)
        subscribed = GaugeMetricFamily("xiaoyuan_listener_subscribed", "The broker acknowledged the listener's "
                                       "subscriptions (SUBACK)", labels=labels)
        message_age = GaugeMetricFamily("xiaoyuan_listener_last_message_age_seconds", "Seconds since the listener "
                                        "last received a band's message (+Inf: never)", labels=labels)
        heartbeat_age = GaugeMetricFamily("xiaoyuan_listener_heartbeat_age_seconds", "Seconds since the listener's "
                                          "own heartbeat last came back through the broker (+Inf: never)",
                                          labels=labels)
        lease_held = GaugeMetricFamily("xiaoyuan_worker_lease_held", "The worker holds the lease and is active",
                                       labels=labels)
        loop_age = GaugeMetricFamily("xiaoyuan_dispatcher_loop_age_seconds", "Seconds since the outbox "
                                     "dispatcher loop last ran (+Inf: never)", labels=labels)
        counters: dict[str, CounterMetricFamily] = {}

        def count(process: str, role: str, snapshot: dict) -> None:
            for metric, (help_text, values) in snapshot.items():
                family = counters.setdefault(metric, CounterMetricFamily(metric, help_text,
                                                                         labels=[*labels, "kind"]))
                for kind, value in values.items():
                    family.add_metric([process, role, kind], value)

        me = this_process_name()
        now = self.services.clock.now()
        try:
            with self.services.session_factory() as session:
                rows = process_statuses(session)
        except Exception:
            log.exception("metrics: process statuses unavailable")
            rows = []
        for row in rows:
            key = [row.name, row.role]
            up.add_metric(key, 1 if is_fresh(row, now) else 0)
            report_age.add_metric(key, age_s(row.heartbeat_at, now) or 0.0)
            listener = row.state.get("listener")
            if listener is not None:
                connected.add_metric(key, 1 if listener.get("connected") else 0)
                subscribed.add_metric(key, 1 if listener.get("subscribed") else 0)
                for family, field in ((message_age, "last_message_at"), (heartbeat_age, "last_heartbeat_at")):
                    age = age_s(parse_iso(listener.get(field)), now)
                    family.add_metric(key, NEVER if age is None else age)
            worker = row.state.get("worker")
            if worker is not None:
                lease_held.add_metric(key, 1 if worker.get("active") else 0)
                age = age_s(parse_iso(worker.get("dispatcher_loop_at")), now)
                loop_age.add_metric(key, NEVER if age is None else age)
            if row.name != me:
                count(row.name, row.role, {k: tuple(v) for k, v in (row.counters or {}).items()})
        count(me, str(self.services.extras.get("role", "web")), own_counters(self.services))
        yield from (up, report_age, connected, subscribed, message_age, heartbeat_age, lease_held, loop_age)
        yield from counters.values()

    def _sip(self):
        """Counters the SIP endpoint processes (`xiaoyuan phone`) report in their heartbeat rows."""
        from core.phone.sipcommands import endpoint_alive, endpoint_statuses

        up = GaugeMetricFamily("xiaoyuan_sip_endpoint_up", "SIP endpoint heartbeat is recent", labels=["endpoint"])
        active = GaugeMetricFamily("xiaoyuan_sip_active_calls", "Calls holding a channel", labels=["endpoint"])
        calls = CounterMetricFamily("xiaoyuan_sip_calls", "SIP calls since the endpoint started",
                                    labels=["endpoint", "direction"])
        refused = CounterMetricFamily("xiaoyuan_sip_refused", "INVITEs refused (486 busy: every channel in use; "
                                      "403: source not allowed)", labels=["endpoint", "reason"])
        frames = CounterMetricFamily("xiaoyuan_sip_frames", "20 ms audio frames", labels=["endpoint", "kind"])
        try:
            with self.services.session_factory() as session:
                now = self.services.clock.now()
                for row in endpoint_statuses(session):
                    up.add_metric([row.name], 1 if endpoint_alive(row, now) else 0)
                    active.add_metric([row.name], row.active_calls)
                    calls.add_metric([row.name, "inbound"], row.calls_in)
                    calls.add_metric([row.name, "outbound"], row.calls_out)
                    refused.add_metric([row.name, "busy"], row.busy_rejected)
                    refused.add_metric([row.name, "forbidden"], row.forbidden)
                    for kind in ("in", "out", "dropped"):
                        frames.add_metric([row.name, kind], getattr(row, f"frames_{kind}"))
        except Exception:
            log.exception("metrics: SIP endpoint status unavailable")
        yield from (up, active, calls, refused, frames)


def render_metrics(services: Services) -> tuple[bytes, str]:
    """The exposition body and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(services))
    return generate_latest(registry), CONTENT_TYPE_LATEST
