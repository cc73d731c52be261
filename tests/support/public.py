"""The public side's data object for a store, as the web app builds it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dashboard.public import PublicConfig, PublicData
from dashboard.settings import Settings
from dashboard.sla import load_policy
from dashboard.store import Store


@contextmanager
def public_data(settings: Settings) -> Iterator[PublicData]:
    data = PublicData(
        settings=settings,
        store=Store(settings.database_url),
        policy=load_policy(settings.sla_policy),
        config=PublicConfig.from_settings(settings),
    )
    try:
        yield data
    finally:
        data.store.dispose()
