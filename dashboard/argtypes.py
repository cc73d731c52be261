"""Argument types shared by every ``stat311`` sub-command (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse
from datetime import date


def positive_count(text: str) -> int:
    """A positive whole number; ``1_000_000`` and ``1,000,000`` are accepted."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 1 to 65535: {text!r}")
    return value


def iso_date(text: str) -> date:
    """A date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def source_name(text: str) -> str:
    """A ``--source`` name: not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty (leave --source out for the default)")
    return text.strip()
