"""Sign a browser page or a Flask test client in through the real sign-in form."""

from __future__ import annotations

import re
from typing import Any

from dashboard.auth import Users
from dashboard.settings import Settings
from dashboard.store import Store


def make_user(
    settings: Settings, email: str, *, role: str, departments: tuple[str, ...] = ()
) -> str:
    """Create (or reset) a user; returns its password."""
    store = Store(settings.database_url)
    store.migrate()
    users = Users(store, settings)
    if users.by_email(email) is not None:
        password = users.reset_password(email)
        users.enable(email)
        return password
    return users.add(email, role=role, departments=departments)


def browser_sign_in(
    page: Any, base_url: str, email: str, password: str, next_path: str = "/"
) -> None:
    page.goto(f"{base_url}/sign-in?next={next_path}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    # Back once the page it was sent to has started to arrive (the cookie is set by then): the
    # caller goes on to its own page, or waits on what it expects of this one.
    page.wait_for_url(
        re.compile(re.escape(base_url) + r"/(?!sign-in)"), timeout=15_000, wait_until="commit"
    )


def client_sign_in(client: Any, email: str, password: str) -> Any:
    """Sign a Flask test client in; returns the response of the form post."""
    form = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post(
        "/sign-in",
        data={"csrf_token": token, "email": email, "password": password, "next": "/"},
    )


#: The executive user of the ``served_demo`` fixture (tests/conftest.py).
A11Y_USER = "a11y@team.test"


def signed_in_staff_app(settings: Settings, email: str) -> tuple[Any, Any]:
    """The staff app built on ``settings`` and a test client signed in as an executive."""
    from dashboard.app_factory import create_app

    app = create_app(settings)
    client = app.server.test_client()
    client.get("/healthz")
    password = make_user(settings, email, role="executive")
    assert client_sign_in(client, email, password).status_code == 302
    return app, client
