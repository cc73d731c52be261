"""What callbacks may use: the read model and settings, handed over by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.queries import ReadModel
from dashboard.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    read_model: ReadModel

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(settings=settings, read_model=ReadModel(settings.snapshot_dir))
