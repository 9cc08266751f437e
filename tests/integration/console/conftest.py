"""Console and API fixtures: the app with the console set up, a small world, logins and tokens."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.people.users import issue_api_token
from tests.factories import build_world

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def console_app(app):
    """The app factory's app; console, Babel and a secret key are set up here if the factory does not yet."""
    if not app.secret_key:
        app.secret_key = "test-secret"
    if "babel" not in app.extensions:
        import flask_babel

        from core.i18n import TRANSLATIONS_DIR

        flask_babel.Babel(app, default_locale="zh", default_translation_directories=str(TRANSLATIONS_DIR))
    if "csrf" not in app.extensions:
        from console.setup import init_console

        init_console(app)
    return app


@pytest.fixture
def world(services, clock):
    """tests.factories.build_world, committed; returns the World (objects stay readable)."""
    with transaction(services.session_factory) as session:
        return build_world(session, clock.now())


@pytest.fixture
def web(console_app):
    """A test client for the console."""
    return console_app.test_client()


def login_as(client, user) -> None:
    """Sign a test client in as `user` without the login form (the form has its own tests).

    The cookie carries the user's current session version, as a sign-in through the form would.
    """
    from core.models.staff import User
    from core.people import sessions

    services = client.application.extensions["xiaoyuan"]
    with services.session_factory() as db:
        version = db.scalar(sa.select(User.session_version).where(User.id == user.id))
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True
        sessions.stamp(sess, version=version or 0, now=services.clock.now())


def csrf_token(client, path: str = "/console/tokens") -> str:
    """A CSRF token taken from a console form, as a browser would."""
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def post_form(client, path: str, data: dict | None = None, **kwargs):
    """POST a console form with a valid CSRF token."""
    payload = dict(data or {})
    payload["csrf_token"] = csrf_token(client)
    return client.post(path, data=payload, **kwargs)


@pytest.fixture
def tokens(services, world, clock):
    """An API token for every world user, by the same short names."""
    with transaction(services.session_factory) as session:
        made = {name: issue_api_token(session, now=clock.now(), user=user, name="test")
                for name, user in world.users.items()}
    return SimpleNamespace(**made)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def requests_by_resident(services, world, clock):
    """One request per world resident (submitted from the TV, auto-assigned to the 院长): {resident index: id}."""
    from core.requests.workorders import submit_request

    ids = {}
    with transaction(services.session_factory) as session:
        for i, resident in enumerate(world.residents):
            req = submit_request(session, now=clock.now(), due_hours=services.settings.requests.due_hours,
                                 resident_id=resident.id, type="repair", channel="tv", text=f"水管漏了 {i}")
            ids[i] = req.id
    return ids


# Which residents (by index in the world) each role may see: A = residents 0–2, B = residents 3–5.
VISIBLE_RESIDENTS = {
    "admin": {0, 1, 2, 3, 4, 5},
    "town": {0, 1, 2, 3, 4, 5},
    "village_a": {0, 1, 2},
    "grid_a": {0, 1, 2},
    "head_a": {0, 1, 2},
    "head_b": {3, 4, 5},
    "carer_a": {0},
}
ROLE_OF = {"admin": "admin", "town": "town", "village_a": "village", "grid_a": "grid_worker",
           "head_a": "courtyard_head", "head_b": "courtyard_head", "carer_a": "caregiver"}
