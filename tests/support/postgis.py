"""Throwaway PostgreSQL + PostGIS servers for tests.

The implementation is :mod:`dashboard.pgcluster` (``stat311 bench`` uses it too); this module
re-exports it and adds :func:`postgis_url_from_env`, which lets the tests use an existing server.
Missing binaries or PostGIS raise ``RuntimeError`` pointing to ``.ci/install-system-deps.sh``;
tests are never skipped for that.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from dashboard.pgcluster import (
    DBNAME,
    INSTALL_HINT,
    PG_MAJOR,
    SUPERUSER,
    PostgisUnavailable,
    throwaway_postgis,
)

__all__ = [
    "DBNAME",
    "ENV_URL",
    "INSTALL_HINT",
    "PG_MAJOR",
    "SUPERUSER",
    "PostgisUnavailable",
    "postgis_url_from_env",
    "throwaway_postgis",
]

ENV_URL = "STAT311_TEST_DATABASE_URL"


def _normalize_url(url: str) -> str:
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


@contextlib.contextmanager
def postgis_url_from_env() -> Iterator[str]:
    """Yield a PostGIS SQLAlchemy URL: ``$STAT311_TEST_DATABASE_URL`` or a throwaway server.

    If the environment variable ``STAT311_TEST_DATABASE_URL`` is set (non-empty), it is
    yielded as-is (a ``postgresql://`` / ``postgres://`` URL is rewritten to
    ``postgresql+psycopg://``) and nothing is started or cleaned up: that database must
    already have the ``postgis`` extension, and it is *not* guaranteed to be empty.
    Otherwise this is ``throwaway_postgis()``.
    """
    env_url = os.environ.get(ENV_URL, "").strip()
    if env_url:
        yield _normalize_url(env_url)
        return
    with throwaway_postgis() as url:
        yield url
