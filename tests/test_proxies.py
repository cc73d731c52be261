"""``STAT311_TRUSTED_PROXIES``: behind a reverse proxy, the rate limits, the sign-in limit and
the audit log see each client's address (from the proxies' ``X-Forwarded-For``), and a client
cannot choose its own address by sending that header. Real app, real store, Flask test client."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dashboard.app_factory import create_app
from dashboard.auth import Users
from dashboard.errors import ConfigError
from dashboard.settings import Settings
from dashboard.store import Store
from tests.support.signin import client_sign_in, make_user

PROXY = "10.0.0.5"  # the proxy's own address: what the app sees as the peer
API = "/open311/v2/services.json"


def _client(app, *, forwarded: str | None = None):
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = PROXY
    if forwarded is not None:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    return client


def _audit_ips(settings: Settings, email: str, event: str) -> list[str | None]:
    rows = Users(Store(settings.database_url), settings).audit_entries(limit=200)
    return [r["ip"] for r in rows if r["event"] == event and r["email"] == email]


def _api_statuses(app, forwarded_values: list[str | None]) -> list[int]:
    return [_client(app, forwarded=f).get(API).status_code for f in forwarded_values]


def test_the_setting_is_read_and_checked() -> None:
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"STAT311_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(ConfigError, match="STAT311_TRUSTED_PROXIES"):
        Settings.from_env({"STAT311_TRUSTED_PROXIES": "-1"})
    with pytest.raises(ConfigError, match="STAT311_TRUSTED_PROXIES"):
        Settings.from_env({"STAT311_TRUSTED_PROXIES": "one"})


def test_without_trusted_proxies_the_forwarded_header_is_ignored(
    demo, reset_dash_registries
) -> None:
    """The default: a client sending ``X-Forwarded-For`` cannot pick a new address to escape
    the limit, and the audit log records the address that connected."""
    settings = replace(demo[0], rate_limit="3 per minute", trusted_proxies=0)
    app = create_app(settings)
    statuses = _api_statuses(app, ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"])
    assert statuses == [200, 200, 200, 429]
    email = "proxy-default@city.test"
    make_user(settings, email, role="executive")
    client_sign_in(_client(app, forwarded="9.9.9.9"), email, "wrong")
    assert _audit_ips(settings, email, "sign_in_failed")[0] == PROXY


def test_one_trusted_proxy_gives_each_client_its_own_limit(demo, reset_dash_registries) -> None:
    settings = replace(demo[0], rate_limit="3 per minute", trusted_proxies=1)
    app = create_app(settings)
    # Client A uses up its three requests; B, behind the same proxy, is not held back.
    assert _api_statuses(app, ["1.1.1.1"] * 4) == [200, 200, 200, 429]
    assert _api_statuses(app, ["2.2.2.2"]) == [200]
    # A client that sends its own header gets it kept, with the proxy appending the real
    # address: only the proxy's value counts, so A stays limited whatever it claims.
    assert _api_statuses(app, ["7.7.7.7, 1.1.1.1", "8.8.8.8, 1.1.1.1"]) == [429, 429]


def test_one_trusted_proxy_audits_and_limits_sign_ins_per_client(
    demo, reset_dash_registries
) -> None:
    settings = replace(demo[0], sign_in_rate_limit="2 per minute", trusted_proxies=1)
    app = create_app(settings)
    email = "proxy-audit@city.test"
    password = make_user(settings, email, role="executive")
    a = _client(app, forwarded="6.6.6.6, 203.0.113.7")  # a forged first value, then the proxy's
    assert client_sign_in(a, email, "wrong").status_code == 401
    assert client_sign_in(a, email, "wrong").status_code == 401
    assert client_sign_in(a, email, password).status_code == 429  # A's own limit
    ips = _audit_ips(settings, email, "sign_in_failed")
    assert ips and set(ips) == {"203.0.113.7"}
    # Another client behind the same proxy signs in: without the setting it would share A's
    # limit (the test above shows all clients have the proxy's address then).
    b = _client(app, forwarded="198.51.100.4")
    assert client_sign_in(b, email, password).status_code == 302
    assert _audit_ips(settings, email, "sign_in")[:1] == ["198.51.100.4"]


def test_behind_a_proxy_without_the_setting_all_clients_share_one_limit(
    demo, reset_dash_registries
) -> None:
    """Why the setting exists: the same two clients as above, with the default of 0."""
    settings = replace(demo[0], rate_limit="3 per minute", trusted_proxies=0)
    app = create_app(settings)
    assert _api_statuses(app, ["1.1.1.1"] * 3) == [200, 200, 200]
    assert _api_statuses(app, ["2.2.2.2"]) == [429]
