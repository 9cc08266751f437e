"""Console page 导入名册: upload a county's XLSX/CSV roster (check first, then import) and download the template.

The page only reads the upload and renders; core.people.roster checks every row, keeps the import
within the user's scope, writes in one transaction and audits it.
"""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import render_template, request

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import error_text
from console.db import db_session
from console.i18n_pages import current_language
from console.nav import register_nav
from core.container import current_services
from core.errors import ServiceError
from core.i18n import N_, translate
from core.people import roster

IMPORTERS = roster.IMPORT_ROLES
register_nav("console.roster_import", N_("导入名册"), IMPORTERS, 36, group="people")

TEMPLATES = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", roster.template_xlsx),
    "csv": ("text/csv; charset=utf-8", roster.template_csv),
}


def _render(status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template("console/people/roster.html", columns=roster.COLUMNS, max_rows=roster.MAX_ROWS,
                           is_admin=current_staff().role == "admin", **context), status


@bp.get("/roster")
@staff_required(*IMPORTERS)
def roster_import() -> tuple[str, int]:
    """The upload form, the column list and the template links."""
    return _render()


@bp.post("/roster")
@staff_required(*IMPORTERS)
def roster_upload() -> tuple[str, int]:
    """Check (button 检查) or import (button 导入) the uploaded file; list every problem by row and column."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render(422, error=translate(N_("请选择要导入的文件"), current_language()))
    dry_run = request.form.get("action") != "import"
    skip_bad = request.form.get("skip_bad") == "on"
    session = db_session()
    try:
        result = roster.import_roster(
            session, now=current_services().clock.now(), actor=current_staff(), data=upload.read(),
            filename=upload.filename, dry_run=dry_run, skip_bad=skip_bad,
            town_name=(request.form.get("town") or "").strip() or None,
        )
    except ServiceError as exc:
        session.rollback()
        return _render(exc.status, error=error_text(exc))
    if result.written:
        session.commit()
    else:
        session.rollback()
    locale = current_language()
    problems = [{"row": p.row, "column": p.column, "text": translate(p.message, locale, **p.params)}
                for p in result.problems]
    summary = [translate(message, locale, **params) for message, params in result.summary_lines()]
    return _render(422 if result.refused and not dry_run else 200, result=result, problems=problems,
                   summary=summary, filename=upload.filename, skip_bad=skip_bad)


@bp.get("/roster/template.<any(xlsx, csv):kind>")
@staff_required(*IMPORTERS)
def roster_template(kind: str) -> FlaskResponse:
    """The empty roster (header row only) to fill in, as 名册模板.xlsx or .csv."""
    mimetype, build = TEMPLATES[kind]
    response = FlaskResponse(build(), mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=roster-template.{kind}; filename*=UTF-8''%E5%90%8D%E5%86%8C%E6%A8%A1%E6%9D%BF.{kind}")
    return response
