"""Logging conventions shared by the library and the command line.

A *result record* is the one-line outcome of an operation (a load's counts, a boundary layer's
placement). Library code logs it with ``extra=RESULT`` so that a server's log keeps it. A command
that prints that outcome on standard output itself installs :class:`PrintedResults` on its
standard-error handler, so the line is not shown twice.
"""

from __future__ import annotations

import logging

#: ``extra`` for a record that states an operation's result.
RESULT: dict[str, bool] = {"stat311_result": True}


def is_result(record: logging.LogRecord) -> bool:
    """True for a record logged with ``extra=RESULT``."""
    return bool(getattr(record, "stat311_result", False))


class PrintedResults(logging.Filter):
    """Drop result records while ``active`` (the command prints them on standard output).

    A long-running command (``serve``) sets ``active`` to False once its start-up is done, so
    the results of work it does later (a scheduled pull) are logged as usual."""

    def __init__(self) -> None:
        super().__init__(name="stat311-printed-results")
        self.active = True

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.active and is_result(record))
