"""The public page behind a bin's QR label (/q/<token>): no login, four huge buttons, one tap reports.

Anyone passing may scan, so the page names only the bin and its 小院. The form carries the CSRF token
of the visitor's own (SameSite) session, so another site cannot post reports in a visitor's name.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_wtf.csrf import CSRFError

from console.common import error_text, public_page_language
from console.db import db_session
from core.community import bins as bin_service
from core.container import current_services
from core.errors import InvalidInput, NotFound, RateLimited
from core.models.bins import REPORT_KINDS

qr = Blueprint("qr", __name__, template_folder="templates")


qr.context_processor(public_page_language)  # a passer-by may read English


def _client_address() -> str:
    """The scanning phone's address (ProxyFix has put the real one here when behind nginx)."""
    return request.remote_addr or "unknown"


def _not_found() -> tuple[str, int]:
    return render_template("qr/not_found.html"), 404


@qr.get("/q/<token>")
def scan_page(token: str) -> str | tuple[str, int]:
    """The bin's page: its name, how many reports its open request has, and the four buttons."""
    session = db_session()
    try:
        bin_ = bin_service.bin_for_token(session, token)
    except NotFound:
        return _not_found()
    return render_template("qr/scan.html", bin=bin_, courtyard=bin_.courtyard.name, kinds=REPORT_KINDS,
                           labels=bin_service.KIND_LABELS, reports=bin_service.open_report_count(session, bin_))


@qr.post("/q/<token>")
def scan_report(token: str) -> str | tuple[str, int]:
    """One tap: add a report to the bin's open request (or open one) and thank the reporter."""
    services = current_services()
    try:
        result = bin_service.report_bin(
            services.session_factory, now=services.clock.now(), token=token, kind=request.form.get("kind", ""),
            client=_client_address(), due_hours=services.settings.requests.due_hours,
            limits=bin_service.ScanLimits.from_settings(services.settings))
    except NotFound:
        return _not_found()
    except (RateLimited, InvalidInput) as exc:
        return render_template("qr/message.html", message=error_text(exc)), exc.status
    return render_template("qr/thanks.html", reports=result.reports)


@qr.errorhandler(CSRFError)
def _stale_form(_exc: CSRFError) -> tuple[str, int]:
    """A form from another site, or one left open past its token's life: ask for a fresh scan."""
    return render_template("qr/message.html", message=None), 400
