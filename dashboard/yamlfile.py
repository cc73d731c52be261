"""Reading the project's YAML configuration files (the SLA policy, department names) with errors
that name the file, the line and the problem."""

from __future__ import annotations

import difflib
from collections.abc import Collection
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


MERGE_TAG = "tag:yaml.org,2002:merge"


def line(node: yaml.Node) -> int:
    """The 1-based line where ``node`` starts."""
    return node.start_mark.line + 1


def unknown_key(name: str, known: Collection[str]) -> str:
    """``"unknown key 'x'"``, with ``" (did you mean 'y'?)"`` when a known key is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {name!r}{hint}"


def check_keys(
    node: yaml.Node,
    known: Collection[str],
    *,
    where: str,
    error: type[ConfigError] = ConfigError,
) -> None:
    """Refuse a key of the mapping ``node`` that is not in ``known``: ``error``
    ``"<where>, line N: unknown key 'x' (did you mean 'y'?)"`` for the first one. Keys merged in
    with ``<<: *anchor`` are checked too. Anything but a mapping is left to the caller."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if key.tag == MERGE_TAG:
            merged = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for item in merged:
                check_keys(item, known, where=where, error=error)
        elif not isinstance(key, yaml.ScalarNode):
            raise error(f"{where}, line {line(key)}: a key must be a single value")
        elif key.value not in known:
            raise error(f"{where}, line {line(key)}: {unknown_key(key.value, known)}")
