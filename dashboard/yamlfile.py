"""Reading the project's YAML configuration files (the SLA policy, department names) with errors
that name the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import yaml

from dashboard.errors import ConfigError


def read_text(path: Path, *, what: str) -> str:
    """The file's text, or :class:`ConfigError` ``"<what> <path>: cannot be read (...)"``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot be read ({exc.strerror})") from None


def compose(
    text: str, *, what: str, path: str, error: type[ConfigError] = ConfigError
) -> yaml.Node | None:
    """The YAML node tree of ``text`` (line numbers kept for messages), or ``error``
    ``"<what> <path>, line N: not valid YAML (problem)"``; ``None`` for an empty file."""
    try:
        return yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{what} {path}{line}: not valid YAML ({problem})") from None
