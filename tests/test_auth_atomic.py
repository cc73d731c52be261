"""A user change and its audit row are one transaction, and ending a user's sessions (password
reset, disabling) does not depend on the audit log (``users.sessions_valid_after``, migration
0005). Real SQLite stores (and a PostGIS one for the migration); data built in code. An audit
write that fails is a real failure: a trigger that aborts every insert into ``audit_log``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import DBAPIError

from dashboard import schema
from dashboard.auth import Users, current_user, install
from dashboard.cli import DEMO_USERS, ensure_demo_users
from dashboard.settings import Settings
from dashboard.store import MIGRATIONS_DIR, Store
from tests.conftest import make_settings
from tests.support.signin import client_sign_in

# The throwaway PostGIS cluster of tests/test_postgis.py and its per-test databases.
from tests.test_postgis import cluster, pg_url  # noqa: F401

EMAIL = "atomic@city.test"
PASSWORD = "the-first-password"
AUDIT_FAILS = "the audit log refuses rows"


@pytest.fixture
def users(store: Store, settings: Settings) -> Users:
    users = Users(store, settings)
    users.add(EMAIL, role="executive", password=PASSWORD)
    return users


def _break_audit_log(store: Store) -> None:
    """Every insert into the audit log fails from now on (as a write that cannot get the
    database's lock does), until :func:`_repair_audit_log`."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{AUDIT_FAILS}'); END"
        )


def _repair_audit_log(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_fails")


def _events(store: Store, email: str = EMAIL) -> list[str]:
    a = schema.audit_log.c
    query = sa.select(a.event).where(a.email == email).order_by(a.id)
    with store.connect() as conn:
        return list(conn.execute(query).scalars())


def _user_row(store: Store, email: str = EMAIL) -> sa.Row:
    with store.connect() as conn:
        return conn.execute(sa.select(schema.users).where(schema.users.c.email == email)).one()


def _delete_audit_log(store: Store) -> None:
    """An operator's retention job, at its most thorough."""
    with store.engine.begin() as conn:
        conn.execute(sa.delete(schema.audit_log))


def _valid_after(store: Store, email: str = EMAIL) -> datetime:
    value = _user_row(store, email).sessions_valid_after
    assert value is not None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- 1. a change and its audit row: one transaction ---------------------------------------------
def test_a_password_reset_whose_audit_row_fails_changes_nothing(users: Users, store: Store):
    user = users.by_email(EMAIL)
    issued = time.time()
    _break_audit_log(store)
    with pytest.raises(DBAPIError, match=AUDIT_FAILS):
        users.reset_password(EMAIL, "a-new-password-nobody-knows")
    _repair_audit_log(store)
    # Before: the password was changed (the change was committed, then the audit row failed),
    # unaudited, and the sessions of the old password kept working (they end by audit row).
    assert users.authenticate(EMAIL, PASSWORD) is not None
    assert users.authenticate(EMAIL, "a-new-password-nobody-knows") is None
    assert _user_row(store).sessions_valid_after is None
    assert "password_reset" not in _events(store)
    assert users.session_user(user.id, "sid", issued) == user


def test_disabling_a_user_whose_audit_row_fails_leaves_them_enabled(users: Users, store: Store):
    _break_audit_log(store)
    with pytest.raises(DBAPIError, match=AUDIT_FAILS):
        users.disable(EMAIL)
    _repair_audit_log(store)
    row = _user_row(store)
    assert (row.disabled, row.sessions_valid_after) == (False, None)
    assert users.by_email(EMAIL) is not None
    assert "user_disabled" not in _events(store)


def test_enabling_and_adding_whose_audit_row_fails_change_nothing(users: Users, store: Store):
    users.disable(EMAIL)
    _break_audit_log(store)
    with pytest.raises(DBAPIError, match=AUDIT_FAILS):
        users.enable(EMAIL)
    with pytest.raises(DBAPIError, match=AUDIT_FAILS):
        users.add("second@city.test", role="executive", password="a-good-password")
    _repair_audit_log(store)
    assert _user_row(store).disabled is True
    assert [u["email"] for u in users.list()] == [EMAIL]
    assert _events(store) == ["user_added", "user_disabled"]


def test_a_lockout_whose_audit_row_fails_is_not_applied(
    users: Users, store: Store, settings: Settings
):
    for i in range(settings.lockout_attempts - 1):
        assert users.authenticate(EMAIL, f"wrong guess {i}") is None
    _break_audit_log(store)
    with pytest.raises(DBAPIError, match=AUDIT_FAILS):
        users.authenticate(EMAIL, "the last wrong guess")
    _repair_audit_log(store)
    # Before: the account was locked (committed), and no "locked_out" row said so.
    assert _user_row(store).locked_until is None
    assert "locked_out" not in _events(store)


def test_a_lockout_and_a_sign_in_are_written_with_their_audit_rows(
    users: Users, store: Store, settings: Settings
):
    for i in range(settings.lockout_attempts):
        assert users.authenticate(EMAIL, f"wrong guess {i}", ip="192.0.2.7") is None
    assert _user_row(store).locked_until is not None
    assert _events(store)[-2:] == ["locked_out", "sign_in_failed"]
    users.enable(EMAIL)  # clears the lockout
    assert users.authenticate(EMAIL, PASSWORD) is not None
    assert _events(store)[-1] == "sign_in"
    assert _user_row(store).failed_attempts == 0


def test_demo_users_are_reset_and_enabled_in_one_transaction(tmp_path: Path):
    settings = make_settings(tmp_path)
    first = {email: password for email, _, password in ensure_demo_users(settings)}
    email = DEMO_USERS[0][0]
    store = Store(settings.database_url)
    users = Users(store, settings)
    try:
        users.disable(email)
        _break_audit_log(store)
        with pytest.raises(DBAPIError, match=AUDIT_FAILS):
            ensure_demo_users(settings)
        _repair_audit_log(store)
        assert _user_row(store, email).disabled is True
        users.enable(email)
        assert users.authenticate(email, first[email]) is not None
        users.disable(email)
        again = {e: p for e, _, p in ensure_demo_users(settings)}
        assert users.authenticate(email, again[email]) is not None
        assert _events(store, email)[-3:-1] == ["password_reset", "user_enabled"]
    finally:
        store.dispose()


# -- 2. user-wide ends of sessions do not depend on the audit log -------------------------------
def test_a_reset_ends_earlier_sessions_even_when_the_audit_log_is_deleted(
    users: Users, store: Store
):
    user = users.by_email(EMAIL)
    before = time.time()
    time.sleep(0.002)
    users.reset_password(EMAIL, "a-second-password")
    after = time.time()
    _delete_audit_log(store)
    # Before: the reset was only in the audit log; with its rows gone the session came back.
    assert users.session_user(user.id, "old", before) is None
    assert users.session_user(user.id, "new", after) == user


def test_disabling_ends_sessions_for_good_without_the_audit_log(users: Users, store: Store):
    user = users.by_email(EMAIL)
    before = time.time()
    time.sleep(0.002)
    users.disable(EMAIL)
    users.enable(EMAIL)
    _delete_audit_log(store)
    assert users.session_user(user.id, "old", before) is None  # stays ended once enabled again
    assert users.session_user(user.id, "new", time.time()) == user


def test_a_session_issued_in_the_same_second_just_after_a_reset_is_valid(
    users: Users, store: Store
):
    user = users.by_email(EMAIL)
    users.reset_password(EMAIL, "a-second-password")
    reset_at = _valid_after(store).timestamp()
    # Microseconds apart, in the same second: compared to the microsecond, not the second.
    assert users.session_user(user.id, "sid", reset_at + 0.000_01) == user
    assert users.session_user(user.id, "sid", reset_at - 0.000_01) is None
    assert users.session_user(user.id, "sid", reset_at) is None  # the same instant: ended
    assert users.session_user(user.id, "sid", time.time()) == user


def test_sign_out_still_ends_only_its_own_session(users: Users, store: Store):
    user = users.by_email(EMAIL)
    issued = time.time()
    users.audit("sign_out", email=EMAIL, detail={"session": "mine"})
    assert users.session_user(user.id, "mine", issued) is None
    assert users.session_user(user.id, "other", issued) == user
    assert _user_row(store).sessions_valid_after is None


@pytest.fixture
def web(users: Users, store: Store, settings: Settings) -> flask.Flask:
    """The sign-in routes and the guard on a bare Flask app, with one staff route."""
    server = flask.Flask(__name__)
    install(server, store=store, settings=settings)

    @server.get("/whoami")
    def whoami() -> str:
        return current_user().email

    return server


def test_a_session_cookie_through_a_reset_and_a_deleted_audit_log(
    web: flask.Flask, users: Users, store: Store
):
    client = web.test_client()
    assert client_sign_in(client, EMAIL, PASSWORD).status_code == 302
    old_cookie = client.get_cookie("stat311_session").value
    assert client.get("/whoami").get_data(as_text=True) == EMAIL
    password = users.reset_password(EMAIL)
    _delete_audit_log(store)
    replay = web.test_client()
    replay.set_cookie("stat311_session", old_cookie)
    assert replay.get("/whoami").status_code == 302  # to the sign-in page
    # Signed in again right away (the same second as the reset): valid.
    fresh = web.test_client()
    assert client_sign_in(fresh, EMAIL, password).status_code == 302
    assert fresh.get("/whoami").get_data(as_text=True) == EMAIL


# -- 3. migration 0005 --------------------------------------------------------------------------
def _upgrade(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _check_upgrade_from_0004(store: Store, settings: Settings) -> None:
    """A store at 0004 with users and an audit trail; upgraded, the users are kept, every
    session ended by the audit log stays ended (also once the log is deleted), the others
    keep working."""
    _upgrade(store, "0004")
    assert store.schema_revision() == "0004"
    now = datetime.now(UTC)
    reset_at, disabled_at = now - timedelta(hours=2), now - timedelta(hours=1)
    emails = ("reset@city.test", "disabled@city.test", "plain@city.test")
    with store.engine.begin() as conn:
        for email in emails:
            # Only the columns of 0004 (sessions_valid_after has no default: not in the insert).
            conn.execute(
                sa.insert(schema.users).values(
                    email=email,
                    password_hash="not-a-hash",
                    role="executive",
                    departments="[]",
                    disabled=False,
                    failed_attempts=0,
                    created_at=now - timedelta(days=1),
                    password_changed_at=now - timedelta(days=1),
                )
            )

        def audit(at: datetime, email: str, event: str) -> None:
            conn.execute(
                sa.insert(schema.audit_log).values(at=at, email=email, event=event, detail="{}")
            )

        audit(reset_at - timedelta(hours=1), "reset@city.test", "password_reset")
        audit(reset_at, "reset@city.test", "password_reset")
        audit(reset_at + timedelta(minutes=1), "reset@city.test", "sign_in")
        audit(disabled_at, "disabled@city.test", "user_disabled")
        audit(disabled_at + timedelta(minutes=1), "disabled@city.test", "user_enabled")
        audit(now, "plain@city.test", "sign_in")
    store.migrate()
    assert store.schema_revision() == "0005"
    columns = {c["name"]: c for c in sa.inspect(store.engine).get_columns("users")}
    assert columns["sessions_valid_after"]["nullable"] is True
    users = Users(store, settings)
    assert [u["email"] for u in users.list()] == sorted(emails)
    stamps = {email: _user_row(store, email).sessions_valid_after for email in emails}
    assert stamps["plain@city.test"] is None
    for email, at in (("reset@city.test", reset_at), ("disabled@city.test", disabled_at)):
        assert stamps[email] is not None
        assert abs(_valid_after(store, email) - at) < timedelta(microseconds=2)
    _delete_audit_log(store)
    for email, at in (("reset@city.test", reset_at), ("disabled@city.test", disabled_at)):
        user = users.by_email(email)
        assert users.session_user(user.id, "s", (at - timedelta(seconds=1)).timestamp()) is None
        assert users.session_user(user.id, "s", (at + timedelta(seconds=1)).timestamp()) == user
    plain = users.by_email("plain@city.test")
    assert users.session_user(plain.id, "s", (now - timedelta(hours=7)).timestamp()) == plain
    # And back: 0004 without the column, the users kept; up again.
    _downgrade(store, "0004")
    assert "sessions_valid_after" not in {
        c["name"] for c in sa.inspect(store.engine).get_columns("users")
    }
    with store.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == len(emails)
    store.migrate()
    assert store.schema_revision() == "0005"


def _downgrade(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_migration_0005_on_sqlite_keeps_users_and_ended_sessions(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store(settings.database_url)
    try:
        _check_upgrade_from_0004(store, settings)
    finally:
        store.dispose()


@pytest.mark.postgis
def test_migration_0005_on_postgis_keeps_users_and_ended_sessions(
    pg_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, database_url=pg_url)
    store = Store(pg_url)
    try:
        _check_upgrade_from_0004(store, settings)
    finally:
        store.dispose()
