"""The security part of `xiaoyuan check` and of the start-up banner: demo secrets where others can reach them."""

from __future__ import annotations

import logging

from core.db import make_engine, make_session_factory, read_only
from core.demo.exposure import exposure_warnings, find_demo_traces
from core.i18n import bilingual
from core.settings import Settings

log = logging.getLogger(__name__)


def demo_exposure_lines(settings: Settings) -> list[str]:
    """Loud warnings (Chinese, then English) when demo accounts or boxes exist on an exposed service."""
    try:
        engine = make_engine(settings.database_url)
    except Exception:
        log.debug("no database to look for demo data in", exc_info=True)
        return []
    try:
        with read_only(make_session_factory(engine)) as session:
            traces = find_demo_traces(session)
    except Exception:  # no schema yet, or unreachable: check_database reports that
        log.debug("could not look for demo data", exc_info=True)
        return []
    finally:
        engine.dispose()
    return [bilingual(msgid, **params) for msgid, params in exposure_warnings(settings, traces)]
