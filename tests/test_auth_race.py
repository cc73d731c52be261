"""A sign-in whose account changes during the password check (argon2 takes tens of
milliseconds on purpose). The change is a real one, committed to the real store by another
connection at the moment the check runs: the check itself is argon2's, wrapped to make the
other change land inside it."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from dashboard import auth, schema
from dashboard.auth import Users
from dashboard.settings import Settings
from dashboard.store import Store

EMAIL = "race@city.test"
PASSWORD = "the-password-before"
NEW_PASSWORD = "the-password-after"


@pytest.fixture
def users(store: Store, settings: Settings) -> Users:
    users = Users(store, settings)
    users.add(EMAIL, role="executive", password=PASSWORD)
    return users


class _DuringCheck:
    """argon2's own hasher, which runs ``during`` once right after verifying a password (while
    the sign-in has not yet written its result)."""

    def __init__(self, real, during: Callable[[], None]) -> None:
        self.real, self.during, self.calls = real, during, 0

    def verify(self, hashed: str, password: str) -> bool:
        result = self.real.verify(hashed, password)
        self.calls += 1
        if self.calls == 1:
            self.during()
        return result

    def __getattr__(self, name: str):
        return getattr(self.real, name)


def _last_failure(store: Store) -> dict | None:
    a = schema.audit_log.c
    query = sa.select(a.event, a.detail).where(a.email == EMAIL).order_by(a.id.desc()).limit(1)
    with store.connect() as conn:
        row = conn.execute(query).one()
    return row._asdict()


def test_a_reset_that_lands_during_the_check_refuses_the_old_password(
    users: Users, store: Store, monkeypatch: pytest.MonkeyPatch
):
    hasher = _DuringCheck(auth._hasher, lambda: users.reset_password(EMAIL, NEW_PASSWORD))
    monkeypatch.setattr(auth, "_hasher", hasher)
    assert users.authenticate(EMAIL, PASSWORD) is None
    assert hasher.calls == 1
    last = _last_failure(store)
    assert last["event"] == "sign_in_failed"
    assert "changed during the check" in last["detail"]
    # the new password works, and the old one is refused the ordinary way
    assert users.authenticate(EMAIL, NEW_PASSWORD) is not None
    assert users.authenticate(EMAIL, PASSWORD) is None


def test_a_disabling_that_lands_during_the_check_refuses_the_sign_in(
    users: Users, store: Store, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(auth, "_hasher", _DuringCheck(auth._hasher, lambda: users.disable(EMAIL)))
    assert users.authenticate(EMAIL, PASSWORD) is None
    assert "changed during the check" in _last_failure(store)["detail"]


def test_without_a_change_the_sign_in_succeeds_and_is_audited(
    users: Users, store: Store, monkeypatch: pytest.MonkeyPatch
):
    hasher = _DuringCheck(auth._hasher, lambda: None)
    monkeypatch.setattr(auth, "_hasher", hasher)
    before = time.time()
    user = users.authenticate(EMAIL, PASSWORD)
    assert user is not None and hasher.calls == 1
    assert before <= user.checked_at <= time.time()
    assert _last_failure(store)["event"] == "sign_in"
    assert users.session_user(user.id, "sid", user.checked_at) == user


def test_a_reset_after_the_check_but_before_the_cookie_ends_that_session(users: Users):
    """The session of a sign-in is issued at the time of its check (``User.checked_at``), not
    when the cookie is made: a reset that lands in between ends it."""
    user = users.authenticate(EMAIL, PASSWORD)
    assert user is not None and user.checked_at is not None
    users.reset_password(EMAIL, NEW_PASSWORD)
    assert users.session_user(user.id, "sid", user.checked_at) is None
    # had the cookie been stamped when it was made (now), the reset would not have ended it
    assert users.session_user(user.id, "sid", time.time()) == user
    again = users.authenticate(EMAIL, NEW_PASSWORD)
    assert again is not None and users.session_user(again.id, "sid", again.checked_at) == again
