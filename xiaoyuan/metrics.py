"""/metrics: Prometheus gauges read from the database at scrape time, plus in-process counters."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.container import Services
from core.models.outbox import OutboxMessage
from core.models.requests import Request

log = logging.getLogger(__name__)


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
                for status, count in session.execute(
                    sa.select(Request.status, sa.func.count()).group_by(Request.status)
                ):
                    requests.add_metric([status], count)
                for status, count in session.execute(
                    sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
                ):
                    outbox.add_metric([status], count)
                    if status == "pending":
                        depth.add_metric([], count)
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
        for name, source in sorted(self.services.extras.items()):
            if name.startswith("counters:") and hasattr(source, "snapshot"):
                for metric, (help_text, values) in source.snapshot().items():
                    family = CounterMetricFamily(metric, help_text, labels=["kind"])
                    for kind, value in values.items():
                        family.add_metric([kind], value)
                    yield family


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
