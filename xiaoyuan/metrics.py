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
        for name, source in sorted(self.services.extras.items()):
            if name.startswith("counters:") and hasattr(source, "snapshot"):
                for metric, (help_text, values) in source.snapshot().items():
                    family = CounterMetricFamily(metric, help_text, labels=["kind"])
                    for kind, value in values.items():
                        family.add_metric([kind], value)
                    yield family


def render_metrics(services: Services) -> tuple[bytes, str]:
    """The exposition body and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(services))
    return generate_latest(registry), CONTENT_TYPE_LATEST
