"""/healthz and /metrics: the operations endpoints, in one blueprint so one guard can cover both.

/healthz answers 200 only when an alarm can flow end to end right now (see core.health), else 503 with
a JSON body naming what is wrong. /metrics is Prometheus text for every process, read from the status
rows the listener and worker processes write (and this process's own counters).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from core.container import current_services
from core.health import check_health
from xiaoyuan.operations_guard import operations_allowed, operations_only

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the listener hears the broker, the lease-holding worker's dispatcher turns and the database
    answers; 503 with what is wrong otherwise."""
    services = current_services()
    health = check_health(services.session_factory, services.clock.now())
    body = health.body() if operations_allowed() else {"status": health.body()["status"]}  # up/down is public
    return jsonify(body), (200 if health.ok else 503)


@bp.get("/metrics")
@operations_only
def metrics():
    """Prometheus text exposition."""
    from xiaoyuan.metrics import render_metrics

    body, content_type = render_metrics(current_services())
    return Response(body, content_type=content_type)
