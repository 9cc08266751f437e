"""Photos uploaded by staff, served to TV boxes by xiaoyuan itself (/tv/media/<name>); no Referer from TV pages."""

from __future__ import annotations

from flask import abort, send_file
from werkzeug.wrappers import Response

from core.community.photos import photo_file
from tvportal.views import bp, services


@bp.get("/media/<name>")
def media(name: str) -> Response:
    """One uploaded photo; names are content hashes, so it may be cached for a long time."""
    found = photo_file(services().settings.data_dir, name)
    if found is None:
        abort(404)
    path, content_type = found
    response = send_file(path, mimetype=content_type, max_age=30 * 86400, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.after_request
def no_referrer(response: Response) -> Response:
    """TV page addresses may carry the box token: never send them to another site as a Referer."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
