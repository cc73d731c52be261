"""Department names: what the pages call a department whose cases carry only a code.

Exports name departments by code (Boston ``PWDx``, ``BTDT``; NYC ``DSNY``, ``DOT``), and a stat
meeting should not need a glossary. A names file (YAML, ``code: name``; setting
``STAT311_DEPARTMENT_NAMES``, default the shipped ``dashboard/departments.example.yaml``) gives
each code the name people know. Pages then show "Public Works Department" with the code beside
it; a code the file does not name is shown as the code alone. Names are public (a department is
not personal data) but the Open311 API keeps codes in ``agency_responsible``: scripts rely on them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dashboard import yamlfile
from dashboard.errors import ConfigError

EXAMPLE_NAMES = Path(__file__).with_name("departments.example.yaml")
#: Longer names are refused: they would not fit a card's heading or a dropdown.
MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class DepartmentNames(Mapping[str, str]):
    """``code -> name``; :meth:`name` and :meth:`label` fall back to the code."""

    names: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, code: str) -> str:
        return self.names[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def name(self, code: str | None) -> str:
        """The department's name, else its code (``""`` for no code)."""
        if code is None:
            return ""
        return self.names.get(str(code), str(code))

    def label(self, code: str | None) -> str:
        """``"Public Works Department (PWDx)"``, or the code alone when it has no name."""
        if code is None:
            return ""
        name = self.names.get(str(code))
        return f"{name} ({code})" if name else str(code)

    def options(self, codes: list[str]) -> list[dict[str, str]]:
        """Dropdown options for ``codes``: labelled by :meth:`label`, valued by code, in the
        order given."""
        return [{"label": self.label(c), "value": c} for c in codes]


def parse_names(text: str, *, path: str = "<department names>") -> DepartmentNames:
    """Parse a names file: a YAML mapping of department code to name (both text)."""
    root = yamlfile.compose(text, what="department names", path=path)
    if root is None:
        return DepartmentNames()
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"department names {path}: must be a mapping of code: name")
    names: dict[str, str] = {}
    for key, value in root.value:
        where = f"department names {path}, line {key.start_mark.line + 1}"
        if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
            raise ConfigError(f"{where}: each entry must be code: name")
        code, name = str(key.value).strip(), " ".join(str(value.value).split())
        if not code or not name:
            raise ConfigError(f"{where}: a code and a name are both needed")
        if len(name) > MAX_NAME_LENGTH:
            raise ConfigError(f"{where}: the name of {code} is over {MAX_NAME_LENGTH} characters")
        if code in names:
            raise ConfigError(f"{where}: {code} is named twice")
        names[code] = name
    return DepartmentNames(names)


def load_names(path: str | Path | None) -> DepartmentNames:
    """The names at ``path``; the shipped example when ``path`` is None."""
    path = Path(path) if path else EXAMPLE_NAMES
    return parse_names(yamlfile.read_text(path, what="department names"), path=str(path))
