"""The public page behind a bin's QR label (/q/<token>): no login, four huge buttons, one tap reports.

Anyone passing may scan, so the page names only the bin and its 小院. The form carries the CSRF token
of the visitor's own (SameSite) session, so another site cannot post reports in a visitor's name.
A photo and (when `[bins] report_points` is on) a phone number are optional parts of the same form:
a tap without them reports as before, and whatever is wrong with them is said on the thank-you page
after the report has been saved. Only a body over the web server's limit cannot be read at all: that
page says plainly that nothing was sent.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from console.common import error_text, public_page_language
from console.db import db_session
from core.community import bin_photos
from core.community import bins as bin_service
from core.container import current_services
from core.errors import InvalidInput, NotFound, RateLimited
from core.i18n import N_
from core.models.bins import REPORT_KINDS

qr = Blueprint("qr", __name__, template_folder="templates")


qr.context_processor(public_page_language)  # a passer-by may read English
BODY_TOO_LARGE = N_("照片太大了，这次报告没有发出去。请不带照片再点一次，或者换一张小一点的照片。")


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
    settings = current_services().settings
    return render_template("qr/scan.html", bin=bin_, courtyard=bin_.courtyard.name, kinds=REPORT_KINDS,
                           labels=bin_service.KIND_LABELS, reports=bin_service.open_report_count(session, bin_),
                           photos=settings.bins.photos_per_request > 0, max_mb=settings.bins.photo_max_mb,
                           points=bin_service.ReportPoints.from_settings(settings))


def _uploaded_photo(max_bytes: int) -> bytes | None:
    """The photo part's bytes (at most one past the limit: enough to tell it is too big), or None when no photo
    was chosen. The client's file name and content type are ignored: the service judges the bytes."""
    upload = request.files.get("photo")
    if upload is None:
        return None
    data = upload.stream.read(max_bytes + 1)
    if not data and not upload.filename:
        return None  # the empty part a browser sends for an untouched file field
    return data


@qr.post("/q/<token>")
def scan_report(token: str) -> str | tuple[str, int]:
    """One tap: add a report to the bin's open request (or open one) and thank the reporter, saying what became
    of the photo and the phone number if there were any."""
    services = current_services()
    rules = bin_photos.PhotoRules.from_settings(services.settings)
    try:
        result = bin_service.report_bin(
            services.session_factory, now=services.clock.now(), token=token, kind=request.form.get("kind", ""),
            client=_client_address(), due_hours=services.settings.requests.due_hours,
            limits=bin_service.ScanLimits.from_settings(services.settings), photo=_uploaded_photo(rules.max_bytes),
            photo_rules=rules, phone=request.form.get("phone"),
            points=bin_service.ReportPoints.from_settings(services.settings))
    except NotFound:
        return _not_found()
    except (RateLimited, InvalidInput) as exc:
        return render_template("qr/message.html", message=error_text(exc)), exc.status
    return render_template("qr/thanks.html", reports=result.reports, notes=[error_text(note) for note in result.notes])


@qr.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    """A body over MAX_CONTENT_LENGTH (a huge photo) cannot be read, not even its button: say so, keep the page."""
    back = url_for("qr.scan_page", token=request.view_args["token"]) if request.view_args else None
    return render_template("qr/message.html", message=error_text(InvalidInput(BODY_TOO_LARGE)), back=back), 413


@qr.errorhandler(CSRFError)
def _stale_form(_exc: CSRFError) -> tuple[str, int]:
    """A form from another site, or one left open past its token's life: ask for a fresh scan."""
    return render_template("qr/message.html", message=None), 400
