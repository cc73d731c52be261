"""Domain exceptions for the ``geodata`` package."""

from __future__ import annotations

import os

__all__ = ["BoundaryError"]


class BoundaryError(ValueError):
    """A boundary layer cannot be read or used.

    The message is always a single line (embedded newlines and runs of whitespace from
    underlying libraries such as GDAL are collapsed), so the CLI can print it as is.

    Parameters
    ----------
    message
        What is wrong and, where possible, how to fix it.
    path
        The file the problem concerns, if any. Kept on the instance as ``path``.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.path: str | None = None if path is None else os.fspath(path)
        super().__init__(" ".join(str(message).split()))
