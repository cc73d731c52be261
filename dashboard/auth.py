"""Staff sign-in, roles and the enforcement of both on every request.

Roles: ``public`` (nobody signed in: only ``/public/...``, ``/open311/v2/...``, the sign-in page
and static files), ``department`` (signed in, scoped to some department codes), ``executive``
(everything staff can see, all departments) and ``admin`` (executive, plus user management on the
CLI). Enforcement is on the server:

- a ``before_request`` hook refuses every staff URL to anonymous requests: pages redirect to the
  sign-in page, Dash's JSON endpoints (``/_dash-layout``, ``/_dash-dependencies``,
  ``/_dash-update-component``) and downloads answer 403;
- every query of a department user is restricted to their departments in the query layer
  (``ReadModel``'s scope), whatever a URL or a callback's inputs ask for.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import flask
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from markupsafe import escape
from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.exc import OperationalError

from dashboard import schema
from dashboard.errors import ConfigError, Stat311Error
from dashboard.settings import Settings
from dashboard.store import Store

log = logging.getLogger(__name__)

_hasher = PasswordHasher()

#: Folders anyone may reach (everything under them). Everything else needs a signed-in staff
#: user, except :data:`PUBLIC_PATHS`.
PUBLIC_PREFIXES = (
    "/public/",
    "/open311/",
    "/assets/",
    "/_dash-component-suites/",
)
#: Single paths anyone may reach (exact match: ``/sign-inX`` or ``/healthz.json`` is not one of
#: them, and would otherwise be answered with the staff app's page and its layout).
PUBLIC_PATHS = frozenset(
    {"/public", "/open311", "/sign-in", "/sign-out", "/_favicon.ico", "/healthz"}
)
#: Dash endpoints answered with 403 (not a redirect) when not signed in.
JSON_PREFIXES = ("/_dash-", "/download", "/api/")
#: The staff app's page routes (Dash's own endpoint names): a path under a public folder that
#: only these match (``/_dash-component-suites/x``) is a staff page, not a public file.
STAFF_PAGE_ENDPOINTS = frozenset({"/", "/<path:path>"})


class AuthError(Stat311Error):
    exit_code = 2


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    departments: tuple[str, ...]
    #: From :meth:`Users.authenticate`: the ``time.time()`` just before the account was read
    #: for the password check; a session made from this sign-in is issued at it (so a reset
    #: that lands after the check, before the cookie is made, still ends the session).
    checked_at: float | None = field(default=None, compare=False)

    @property
    def all_departments(self) -> bool:
        return self.role in {"executive", "admin"}

    def scope(self) -> tuple[str, ...] | None:
        """Department codes this user may see; None means all."""
        return None if self.all_departments else self.departments


# -- users (CLI and sign-in) ----------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise AuthError(f"{email!r} is not an e-mail address")
    return email


def generate_password() -> str:
    return secrets.token_urlsafe(12)


class Users:
    """User accounts and the audit log, in the store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def add(
        self,
        email: str,
        *,
        role: str,
        departments: Iterable[str] = (),
        password: str | None = None,
    ) -> str:
        """Create a user; returns the password (generated when not given)."""
        email = normalise_email(email)
        if role not in schema.ROLES:
            raise AuthError(f"role must be one of {', '.join(schema.ROLES)}")
        departments = tuple(dict.fromkeys(d.strip() for d in departments if d.strip()))
        if role == "department" and not departments:
            raise AuthError("a department user needs at least one --department CODE")
        if role != "department" and departments:  # they see every department: it would mislead
            raise AuthError(
                f"an {role} sees every department: --department is for the department role"
            )
        password = password or generate_password()
        if len(password) < 10:
            raise AuthError("a password needs at least 10 characters")
        password_hash = _hasher.hash(password)  # before the transaction: no lock held meanwhile
        # The user and its audit row in one transaction: no user without its "user_added".
        with self.store.transaction() as conn:
            exists = conn.execute(
                select(schema.users.c.id).where(schema.users.c.email == email)
            ).first()
            if exists:
                raise AuthError(f"user {email} exists already (use reset-password)")
            now = _now()
            conn.execute(
                insert(schema.users).values(
                    email=email,
                    password_hash=password_hash,
                    role=role,
                    departments=json.dumps(list(departments)),
                    disabled=False,
                    failed_attempts=0,
                    created_at=now,
                    password_changed_at=now,
                )
            )
            self._audit_row(
                conn,
                "user_added",
                email=email,
                detail={"role": role, "departments": departments},
                at=now,
            )
        return password

    def list(self) -> list[dict[str, Any]]:
        u = schema.users.c
        query = select(u.email, u.role, u.departments, u.disabled, u.locked_until).order_by(u.email)
        with self.store.connect() as conn:
            return [
                {**r._asdict(), "departments": json.loads(r.departments)}
                for r in conn.execute(query)
            ]

    def _set(
        self,
        email: str,
        events: tuple[str, ...],
        *,
        stamp: tuple[str, ...] = (),
        **values: Any,
    ) -> None:
        """Change one user and write the audit rows of the change (``events``), in one
        transaction: if an audit row cannot be written (e.g. SQLite busy past its timeout),
        nothing is changed. The columns named in ``stamp`` are set to the time of the change
        (taken once the write lock is held)."""
        email = normalise_email(email)
        with self.store.transaction() as conn:
            now = _now()
            result = conn.execute(
                update(schema.users)
                .where(schema.users.c.email == email)
                .values(**values, **dict.fromkeys(stamp, now))
            )
            if result.rowcount == 0:
                raise AuthError(f"no user {email}")
            for event in events:
                self._audit_row(conn, event, email=email, at=now)

    def disable(self, email: str) -> None:
        """Disable a user and end every session they have (also if enabled again later)."""
        self._set(email, ("user_disabled",), stamp=("sessions_valid_after",), disabled=True)

    def enable(self, email: str) -> None:
        self._set(email, ("user_enabled",), disabled=False, failed_attempts=0, locked_until=None)

    def has_department(self, code: str) -> bool:
        """Whether some stored case has this department code (stops at the first one)."""
        c = schema.cases.c
        with self.store.connect() as conn:
            return (
                conn.execute(select(c.id).where(c.department == code).limit(1)).first() is not None
            )

    def known_departments(self) -> list[str]:
        """The department codes of the stored cases (empty when no case is loaded)."""
        c = schema.cases.c
        query = select(c.department).where(c.department.is_not(None)).distinct()
        with self.store.connect() as conn:
            return sorted(str(d) for d in conn.execute(query).scalars() if str(d).strip())

    def reset_password(
        self, email: str, password: str | None = None, *, enable: bool = False
    ) -> str:
        """Set a new password (generated when not given; returned) and end every session the
        user has. ``enable``: also enable the user, in the same transaction (audited as
        ``user_enabled`` too)."""
        password = password or generate_password()
        if len(password) < 10:
            raise AuthError("a password needs at least 10 characters")
        values: dict[str, Any] = {"disabled": False} if enable else {}
        self._set(
            email,
            ("password_reset", "user_enabled") if enable else ("password_reset",),
            stamp=("password_changed_at", "sessions_valid_after"),
            password_hash=_hasher.hash(password),
            failed_attempts=0,
            locked_until=None,
            **values,
        )
        return password

    def get(self, user_id: int) -> User | None:
        u = schema.users.c
        with self.store.connect() as conn:
            row = conn.execute(
                select(u.id, u.email, u.role, u.departments, u.disabled).where(u.id == user_id)
            ).first()
        if row is None or row.disabled:
            return None
        return User(row.id, row.email, row.role, tuple(json.loads(row.departments)))

    def by_email(self, email: str) -> User | None:
        u = schema.users.c
        with self.store.connect() as conn:
            row = conn.execute(select(u.id).where(u.email == email.strip().lower())).first()
        return self.get(row.id) if row else None

    def authenticate(self, email: str, password: str, *, ip: str | None = None) -> User | None:
        """The user, or None (wrong e-mail or password, disabled, or locked out). Failures count;
        ``lockout_attempts`` failures lock the account for ``lockout_minutes``."""
        u = schema.users.c
        email = email.strip().lower()[:320]
        checked_at = time.time()  # before the read: a reset stamped later ends the session
        with self.store.connect() as conn:
            row = conn.execute(select(schema.users).where(u.email == email)).mappings().first()
        if row is None:
            _hasher.hash(password or "x")  # same work as a real check: no user enumeration by time
            self.audit("sign_in_failed", email=email, ip=ip, detail={"reason": "unknown user"})
            return None
        # The attempt is counted before the password is checked, in one statement: attempts
        # made at the same time each get their own number, and those past the limit are not
        # checked (20 at once were all checked when each read the count, then wrote it + 1).
        attempts = None if row["disabled"] else self._count_attempt(row["id"])
        if attempts is None or attempts > self.settings.lockout_attempts:
            _hasher.hash(password or "x")  # the same work: no telling disabled/locked by time
            reason = "disabled" if row["disabled"] else "locked"
            self.audit("sign_in_failed", email=email, ip=ip, detail={"reason": reason})
            return None
        try:
            _hasher.verify(row["password_hash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            # The lockout and its audit rows in one transaction: no unaudited lockout.
            with self.store.transaction() as conn:
                if attempts >= self.settings.lockout_attempts:
                    conn.execute(
                        update(schema.users)
                        .where(u.id == row["id"])
                        .values(
                            failed_attempts=0,
                            locked_until=_now() + timedelta(minutes=self.settings.lockout_minutes),
                        )
                    )
                    self._audit_row(conn, "locked_out", email=email, ip=ip)
                self._audit_row(
                    conn, "sign_in_failed", email=email, ip=ip, detail={"reason": "password"}
                )
            return None
        with self.store.transaction() as conn:
            # Only if the account is as it was read: a password reset or a disabling that
            # committed during the (slow, on purpose) password check refuses this sign-in.
            done = conn.execute(
                update(schema.users)
                .where(
                    u.id == row["id"],
                    u.password_hash == row["password_hash"],
                    u.disabled.is_(False),
                )
                .values(failed_attempts=0, locked_until=None)
            ).rowcount
            if done:
                self._audit_row(conn, "sign_in", email=email, ip=ip)
            else:
                self._audit_row(
                    conn,
                    "sign_in_failed",
                    email=email,
                    ip=ip,
                    detail={"reason": "changed during the check"},
                )
        if not done:
            return None
        return User(
            row["id"],
            row["email"],
            row["role"],
            tuple(json.loads(row["departments"])),
            checked_at=checked_at,
        )

    def _count_attempt(self, user_id: int) -> int | None:
        """Add one to the user's attempts in a row and return the count; None while locked."""
        u = schema.users.c
        now = _now()
        with self.store.transaction() as conn:
            return conn.execute(
                update(schema.users)
                .where(u.id == user_id, or_(u.locked_until.is_(None), u.locked_until <= now))
                .values(failed_attempts=u.failed_attempts + 1)
                .returning(u.failed_attempts)
            ).scalar()

    def session_user(self, user_id: int, session_id: str, issued: float) -> User | None:
        """The user of a sign-in session, or None: the user is unknown or disabled, or the
        session was ended on the server after it was issued (signed out, the password reset,
        the user disabled, even if enabled again since). The session cookie is signed but kept
        by the browser: without this a copy of it kept working after sign-out.

        A password reset or disabling ends all of a user's sessions through the user's
        ``sessions_valid_after`` (not through the audit log, whose rows an operator may prune);
        a sign-out ends its one session through its audit row. ``issued`` is the cookie's
        ``time.time()``: compared to the microsecond, so a session issued a moment after a
        reset (in the same second) is valid, one issued before it is not."""
        u, a = schema.users.c, schema.audit_log.c
        issued_at = datetime.fromtimestamp(float(issued), UTC)
        query = select(
            u.id, u.email, u.role, u.departments, u.disabled, u.sessions_valid_after
        ).where(u.id == user_id)
        signed_out = (
            select(a.id)
            .where(
                a.at >= issued_at,
                a.event == "sign_out",
                a.detail == _session_detail(session_id),
            )
            .limit(1)
        )
        with self.store.connect() as conn:
            row = conn.execute(query).first()
            if row is None or row.disabled or not session_id:
                return None
            valid_after = _utc(row.sessions_valid_after)
            if valid_after is not None and issued_at <= valid_after:
                return None  # the password was reset or the user disabled since
            if conn.execute(signed_out).first() is not None:
                return None
        return User(row.id, row.email, row.role, tuple(json.loads(row.departments)))

    def audit(
        self,
        event: str,
        *,
        email: str | None = None,
        ip: str | None = None,
        detail: dict[str, Any] | None = None,
        wait_s: float | None = None,
    ) -> None:
        """Write one audit row, in its own transaction. ``wait_s``: on SQLite, how long to wait
        for a load's write lock (default the store's :data:`~dashboard.store.BUSY_TIMEOUT_S`),
        then ``OperationalError``. A change and its audit row go in one transaction instead
        (:meth:`_audit_row` on the change's connection)."""
        with self.store.transaction(busy_timeout_s=wait_s) as conn:
            self._audit_row(conn, event, email=email, ip=ip, detail=detail)

    @staticmethod
    def _audit_row(
        conn: Connection,
        event: str,
        *,
        email: str | None = None,
        ip: str | None = None,
        detail: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Insert one audit row on ``conn``, inside the caller's transaction (committed or
        rolled back with it)."""
        conn.execute(
            insert(schema.audit_log).values(
                at=at or _now(),
                email=email,
                event=event,
                detail=json.dumps(detail or {}, default=list),
                ip=ip,
            )
        )

    def audit_entries(self, *, limit: int = 50) -> list[dict[str, Any]]:
        a = schema.audit_log.c
        query = select(schema.audit_log).order_by(a.id.desc()).limit(limit)
        with self.store.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def count(self) -> int:
        with self.store.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.users)).scalar_one())


# -- the web side -------------------------------------------------------------------------------
def current_user() -> User | None:
    """The signed-in user of this request (None outside a request or when anonymous)."""
    if not flask.has_request_context():
        return None
    return getattr(flask.g, "stat311_user", None)


def current_scope() -> tuple[str, ...] | None:
    """Departments the current request may see. Outside a web request (CLI, tests of the query
    layer) there is no restriction; inside one, an anonymous request sees nothing."""
    if not flask.has_request_context():
        return None
    user = current_user()
    if user is None:
        return ()
    return user.scope()


def csrf_token() -> str:
    token = flask.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        flask.session["csrf"] = token
    return token


def _check_csrf() -> bool:
    sent = flask.request.form.get("csrf_token", "")
    expected = flask.session.get("csrf", "")
    return bool(expected) and hmac.compare_digest(sent, expected)


class _SignInLimit:
    """``STAT311_SIGN_IN_RATE_LIMIT``: sign-in attempts per client address, in a moving window
    (in memory per worker, or in Redis shared by all of them). A Redis outage does not stop
    sign-ins: attempts are counted in memory meanwhile."""

    def __init__(self, items: list[Any], storage_uri: str) -> None:
        from limits import storage, strategies

        self.items = items
        self.limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))
        self.fallback = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> _SignInLimit:
        from limits import parse_many

        try:
            items = parse_many(settings.sign_in_rate_limit)
        except ValueError as exc:
            raise ConfigError(
                f"STAT311_SIGN_IN_RATE_LIMIT={settings.sign_in_rate_limit!r} is invalid: {exc} "
                "(e.g. '10 per minute' or '10/minute;100/day')"
            ) from exc
        return cls(items, settings.redis_url or "memory://")

    def hit(self, address: str) -> int | None:
        """Count one attempt from ``address``: None when allowed, else the seconds to wait."""
        try:
            return self._hit(self.limiter, address)
        except Exception:  # noqa: BLE001 - Redis unreachable: count in memory, never fail
            log.warning("sign-in rate limit: storage unreachable, counting in memory")
            return self._hit(self.fallback, address)

    def _hit(self, limiter: Any, address: str) -> int | None:
        for item in self.items:
            if not limiter.hit(item, "stat311-sign-in", address):
                reset = limiter.get_window_stats(item, "stat311-sign-in", address).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None


#: What a sign-in or sign-out says while a load holds SQLite's write lock longer than
#: :data:`dashboard.store.BUSY_TIMEOUT_S` (a load is one transaction: minutes at 10M cases).
BUSY_MESSAGE = "The dashboard is busy loading new data: please try again in a minute."
BUSY_RETRY_S = 60


def _store_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked" (or "busy"): another connection holds the write lock."""
    text = str(exc.orig or exc).lower()
    return "database is locked" in text or "database is busy" in text


def _utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives back naive UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _session_detail(session_id: str) -> str:
    """The audit detail of a sign-out, as stored (compared as text to find a session's end)."""
    return json.dumps({"session": session_id})


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        # browsers read a backslash as a slash (``/\\evil.example``) and drop tabs and newlines
        or any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return "/"
    return target


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · stat311</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css">
<link rel="stylesheet" href="/assets/stat311.css"></head>
<body class="bg-light"><main class="container" style="max-width: 28rem">
<h1 class="h3 mt-5 mb-3">stat311 — {title}</h1>{body}
<p class="mt-4 small text-muted">The public portal needs no sign-in:
<a href="/public/">track a request</a>.</p></main></body></html>"""


def _sign_in_page(
    message: str = "", next_url: str = "/", status: int = 200, email: str = ""
) -> flask.Response:
    """The sign-in form; ``email``: what was typed before a refused attempt, kept (and the
    password box focused) so that only the password is typed again."""
    alert = (
        f'<div class="alert alert-danger" role="alert">{escape(message)}</div>' if message else ""
    )
    user = current_user()
    if user is not None and not message:
        # Already signed in (a bookmark, Back): say so, and offer the way on.
        alert = (
            f'<div class="alert alert-info" role="status">You are signed in as '
            f'{escape(user.email)}. <a href="{escape(next_url)}">Continue</a>, or sign in as '
            "someone else below.</div>"
        )
    email = email[:320]
    typed = f' value="{escape(email)}"' if email else " autofocus"
    again = " autofocus" if email else ""
    body = f"""{alert}
<form method="post" action="/sign-in">
<input type="hidden" name="csrf_token" value="{escape(csrf_token())}">
<input type="hidden" name="next" value="{escape(next_url)}">
<div class="mb-3"><label class="form-label" for="email">E-mail</label>
<input class="form-control" id="email" name="email" type="email" autocomplete="username"
 required{typed}></div>
<div class="mb-3"><label class="form-label" for="password">Password</label>
<input class="form-control" id="password" name="password" type="password"
 autocomplete="current-password" required{again}></div>
<button class="btn btn-primary" type="submit">Sign in</button></form>"""
    html = _PAGE.format(title="Sign in", body=body)
    return flask.Response(html, status=status, mimetype="text/html")


def _sign_out_page(message: str = "", status: int = 200) -> flask.Response:
    alert = (
        f'<div class="alert alert-warning" role="alert">{escape(message)}</div>' if message else ""
    )
    body = f"""{alert}<form method="post" action="/sign-out">
<input type="hidden" name="csrf_token" value="{escape(csrf_token())}">
<p>Signed in as {escape(current_user().email if current_user() else "nobody")}. Sign out of
stat311 on this device?</p>
<button class="btn btn-primary" type="submit">Sign out</button>
<a class="btn btn-link" href="/">Cancel</a></form>"""
    return flask.Response(
        _PAGE.format(title="Sign out", body=body), status=status, mimetype="text/html"
    )


#: The shortest ``STAT311_SECRET_KEY`` production mode accepts (``secrets.token_hex(32)`` gives 64).
MIN_SECRET_KEY_CHARS = 32


def health_problem(store: Store, settings: Settings) -> str:
    """Why this worker cannot serve data (the store does not answer, no read-model snapshot
    yet), or "" when it can."""
    from dashboard.snapshot import current_snapshot

    try:
        store.ping()
    except Exception as exc:  # a database down, a wrong password, a missing file...
        log.debug("health check: the store does not answer", exc_info=exc)
        return "the store does not answer"
    if current_snapshot(settings.snapshot_dir) is None:
        return "no read-model snapshot yet: run `stat311 snapshot` or load an export"
    return ""


def install(server: flask.Flask, *, store: Store, settings: Settings) -> Users:
    """Sessions, the sign-in/out routes and the guard on every request."""
    secret = settings.secret_key
    if secret and settings.production and len(secret.strip()) < MIN_SECRET_KEY_CHARS:
        # A key of "x" or " " signs sessions anyone could forge.
        raise ConfigError(
            f"STAT311_SECRET_KEY is too short for production: {len(secret.strip())} characters, "
            f"at least {MIN_SECRET_KEY_CHARS} (e.g. python -c 'import secrets; "
            "print(secrets.token_hex(32))')"
        )
    if not secret:
        if settings.production:
            raise ConfigError(
                "STAT311_SECRET_KEY is required when STAT311_PRODUCTION=true "
                "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        secret = secrets.token_hex(32)
        log.warning(
            "STAT311_SECRET_KEY is not set: using a random key, so sign-ins end when the "
            "server restarts (set it for gunicorn with several workers)"
        )
    server.secret_key = secret
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        SESSION_COOKIE_NAME="stat311_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )
    users = Users(store, settings)
    max_age = settings.session_hours * 3600
    attempts_allowed = _SignInLimit.from_settings(settings)

    def _ip() -> str | None:
        return flask.request.remote_addr

    def load_user() -> User | None:
        if settings.auth_header:
            email = flask.request.headers.get(settings.auth_header, "").strip()
            return users.by_email(email) if email else None
        user_id = flask.session.get("user_id")
        issued = flask.session.get("issued", 0)
        if not user_id:
            return None
        if time.time() - float(issued) > max_age:
            flask.session.clear()
            return None
        user = users.session_user(int(user_id), str(flask.session.get("sid", "")), issued)
        if user is None:
            flask.session.clear()
        return user

    @server.before_request
    def guard() -> flask.Response | None:
        path = flask.request.path
        flask.g.stat311_user = load_user()
        rule = flask.request.url_rule
        staff_page = rule is not None and rule.endpoint in STAFF_PAGE_ENDPOINTS
        if (path.startswith(PUBLIC_PREFIXES) and not staff_page) or path in PUBLIC_PATHS:
            return None
        if flask.g.stat311_user is not None:
            return None
        if path.startswith(JSON_PREFIXES):
            return flask.Response(
                json.dumps({"error": "sign in required"}), status=403, mimetype="application/json"
            )
        target = flask.request.full_path.rstrip("?")
        return flask.redirect("/sign-in?" + _urlencode({"next": target}))

    @server.get("/sign-in")
    def sign_in_form() -> flask.Response:
        return _sign_in_page(next_url=_safe_next(flask.request.args.get("next")))

    @server.post("/sign-in")
    def sign_in() -> flask.Response:
        next_url = _safe_next(flask.request.form.get("next"))
        try:
            return _sign_in(next_url)
        except OperationalError as exc:
            if not _store_busy(exc):
                raise
            log.warning("sign-in refused: the store is busy (%s)", exc.orig)
            page = _sign_in_page(BUSY_MESSAGE, next_url, status=503)
            page.headers["Retry-After"] = str(BUSY_RETRY_S)
            return page

    def _sign_in(next_url: str) -> flask.Response:
        wait = attempts_allowed.hit(_ip() or "unknown")
        if wait is not None:
            users.audit(
                "sign_in_failed",
                email=flask.request.form.get("email", "")[:320],
                ip=_ip(),
                detail={"reason": "rate limited"},
            )
            page = _sign_in_page(
                "Too many sign-in attempts from your address: wait a minute and try again.",
                next_url,
                status=429,
            )
            page.headers["Retry-After"] = str(wait)
            return page
        if not _check_csrf():
            return _sign_in_page("The form expired; please try again.", next_url, status=400)
        user = users.authenticate(
            flask.request.form.get("email", ""),
            flask.request.form.get("password", ""),
            ip=_ip(),
        )
        if user is None:
            return _sign_in_page(
                "Wrong e-mail or password, or the account is locked after too many attempts.",
                next_url,
                status=401,
                email=flask.request.form.get("email", ""),
            )
        flask.session.clear()
        flask.session.permanent = True
        flask.session["user_id"] = user.id
        flask.session["issued"] = user.checked_at or time.time()
        flask.session["sid"] = secrets.token_urlsafe(16)
        flask.session["csrf"] = secrets.token_urlsafe(32)
        return flask.redirect(next_url)

    @server.get("/sign-out")
    def sign_out_form() -> flask.Response:
        return _sign_out_page()

    @server.post("/sign-out")
    def sign_out() -> flask.Response:
        if not _check_csrf():
            return flask.Response("Missing or wrong form token.", status=400)
        user = current_user()
        if user is not None:
            # Recorded with the session's id: the same cookie, replayed, is refused from now on.
            detail = {"session": str(flask.session.get("sid", ""))}
            try:
                users.audit("sign_out", email=user.email, ip=_ip(), detail=detail)
            except OperationalError as exc:
                if not _store_busy(exc):
                    raise
                # Not recorded, so not ended on the server: keep the session and say so.
                log.warning("sign-out refused: the store is busy (%s)", exc.orig)
                response = _sign_out_page(BUSY_MESSAGE, status=503)
                response.headers["Retry-After"] = str(BUSY_RETRY_S)
                return response
        flask.session.clear()
        return flask.redirect("/sign-in")

    @server.get("/healthz")
    def healthz() -> flask.Response:
        # For a load balancer: "ok" only when this worker can answer from the store and the
        # snapshot; else 503 and what is wrong (no details of the database: anyone may ask).
        problem = health_problem(store, settings)
        if problem:
            log.warning("health check failed: %s", problem)
            return flask.Response(problem, status=503, mimetype="text/plain")
        return flask.Response("ok", mimetype="text/plain")

    server.extensions["stat311_users"] = users
    return users


def _urlencode(values: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


#: Seconds an export's audit row waits for SQLite's write lock before the export is refused
#: with :data:`BUSY_MESSAGE` (:class:`StoreBusy`). Set on that one statement's connection (and put
#: back after it), not on the store: sign-ins and loads keep :data:`dashboard.store.BUSY_TIMEOUT_S`.
#: Other writes hold the lock for milliseconds; a load holds it for minutes (one transaction), so
#: waiting the full 30 s would only delay the same refusal for someone waiting on a download.
EXPORT_BUSY_TIMEOUT_S = 3


class StoreBusy(Stat311Error):
    """An export refused because its audit row could not be written: a load holds SQLite's
    write lock. Nothing is handed out unaudited; the page says :data:`BUSY_MESSAGE`."""

    def __init__(self, message: str = BUSY_MESSAGE) -> None:
        super().__init__(message)


def audit_export(what: str, **detail: Any) -> None:
    """Record an export (CSV/GeoJSON download) by the current user: call it before the data is
    handed out. Raises :class:`StoreBusy` when a load holds SQLite's write lock for longer than
    :data:`EXPORT_BUSY_TIMEOUT_S` (the export must then be refused); other errors raise as
    they are."""
    if not flask.has_request_context():
        return
    users: Users | None = flask.current_app.extensions.get("stat311_users")
    user = current_user()
    if users is None:
        return
    try:
        users.audit(
            "export",
            email=user.email if user else None,
            ip=flask.request.remote_addr,
            detail={"what": what, **detail},
            wait_s=EXPORT_BUSY_TIMEOUT_S,
        )
    except OperationalError as exc:
        if not _store_busy(exc):
            raise
        log.warning("export %s refused: the store is busy (%s)", what, exc.orig)
        raise StoreBusy from exc


ScopeProvider = Callable[[], tuple[str, ...] | None]
