"""What callbacks may use: the read model, the SLA engine and settings, from the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.auth import current_scope
from dashboard.departments import DepartmentNames, load_names
from dashboard.queries import ReadModel
from dashboard.settings import Settings
from dashboard.sla import SlaEngine, SlaPolicy, load_policy


@dataclass(frozen=True)
class Services:
    settings: Settings
    read_model: ReadModel
    policy: SlaPolicy
    #: Department code -> name, for headings and dropdowns (codes without a name show as codes).
    departments: DepartmentNames = field(default_factory=DepartmentNames)

    @property
    def sla(self) -> SlaEngine:
        return SlaEngine(self.read_model, self.policy, self.settings.timezone)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            # Every query is limited to what the signed-in user may see (no limit outside a web
            # request, e.g. on the CLI).
            read_model=ReadModel(settings.snapshot_dir, scope=current_scope),
            policy=load_policy(settings.sla_policy),
            departments=load_names(settings.department_names),
        )
